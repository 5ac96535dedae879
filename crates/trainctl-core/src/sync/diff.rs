//! Each side compared with its own previous snapshot, path by path: what changed where.
//!
//! Pure: the four sorted lists (each side's snapshot and each side now) are merged in one pass,
//! and only paths where something differs come out, so a no-change pass over 100,000 files
//! allocates nothing per file.
//!
//! A [`Change`] borrows its entries from the snapshots and the scans instead of copying them: a
//! first pass makes every path a change, and copies would hold a second set of both sides'
//! paths, ETags and MD5s beside the scans (at 100,000 files two thirds of that pass's heap).
//! Nothing keeps a change beyond the plan's making: the [`super::plan::Plan`] (stored by id
//! for a confirmation) owns what it copies out of them.

use super::scan::{filtered_in, is_out_of_scope, Scan};
use super::snapshot::{LocalEntry, RemoteEntry};
use crate::transfer::plan::PathFilter;
use std::cmp::Ordering;

/// What one side did to a path since the last pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Present before and now, unchanged.
    Same,
    /// Present before and now, changed.
    Changed,
    /// Present before, gone now.
    Gone,
    /// Not in the snapshot (a first pass, or never synced), present now.
    New,
    /// Neither before nor now.
    Absent,
}

/// One path where the sides differ from their snapshots, borrowed from the lists [`diff`] merged.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Change<'a> {
    pub path: &'a str,
    /// Both sides' entries of the last pass (they agree), when the path was synced before.
    pub base: Option<(&'a LocalEntry, &'a RemoteEntry)>,
    pub local: Option<&'a LocalEntry>,
    pub remote: Option<&'a RemoteEntry>,
    /// A folder that is empty now because what was in it at the last pass was deleted (on
    /// either side): not a new empty folder to mirror.
    pub emptied: bool,
}

impl Change<'_> {
    pub fn local_kind(&self) -> Kind {
        kind(self.base.map(|b| b.0), self.local, |a, b| a.same_as(b))
    }

    pub fn remote_kind(&self) -> Kind {
        kind(self.base.map(|b| b.1), self.remote, |a, b| a.same_as(b))
    }

    pub fn is_dir(&self) -> bool {
        self.path.ends_with('/')
    }
}

/// True when the snapshot held something below folder `dir`.
fn had_below(prev: &[LocalEntry], dir: &str) -> bool {
    let i = prev.partition_point(|e| e.path.as_str() <= dir);
    prev.get(i).is_some_and(|e| e.path.starts_with(dir))
}

fn kind<E>(base: Option<&E>, now: Option<&E>, same: impl Fn(&E, &E) -> bool) -> Kind {
    match (base, now) {
        (Some(b), Some(n)) if same(b, n) => Kind::Same,
        (Some(_), Some(_)) => Kind::Changed,
        (Some(_), None) => Kind::Gone,
        (None, Some(_)) => Kind::New,
        (None, None) => Kind::Absent,
    }
}

/// The result of a diff: the changed paths, and how many paths were in sync.
#[derive(Debug, Default)]
pub struct Diff<'a> {
    pub changes: Vec<Change<'a>>,
    pub unchanged: u64,
}

/// Merges the snapshots with the scans. Paths out of scope on either side, or outside the
/// filter, are left out (their snapshot entries are kept by the caller as they are).
pub fn diff<'a>(prev_local: &'a [LocalEntry], prev_remote: &'a [RemoteEntry], local: &'a Scan<LocalEntry>, remote: &'a Scan<RemoteEntry>, filter: &PathFilter) -> Diff<'a> {
    let mut out = Diff::default();
    let (mut a, mut b, mut c, mut d) = (0, 0, 0, 0);
    loop {
        let heads: [Option<&'a str>; 4] =
            [prev_local.get(a).map(|e| e.path.as_str()), prev_remote.get(b).map(|e| e.path.as_str()), local.entries.get(c).map(|e| e.path.as_str()), remote.entries.get(d).map(|e| e.path.as_str())];
        let Some(path) = heads.iter().flatten().copied().min() else { break };
        let take = |i: &mut usize, head: Option<&str>| -> bool {
            if head.is_some_and(|h| h.cmp(path) == Ordering::Equal) {
                *i += 1;
                true
            } else {
                false
            }
        };
        let pl = take(&mut a, heads[0]).then(|| &prev_local[a - 1]);
        let pr = take(&mut b, heads[1]).then(|| &prev_remote[b - 1]);
        let nl = take(&mut c, heads[2]).then(|| &local.entries[c - 1]);
        let nr = take(&mut d, heads[3]).then(|| &remote.entries[d - 1]);
        if is_out_of_scope(&local.out_of_scope, path) || is_out_of_scope(&remote.out_of_scope, path) || !filtered_in(filter, path) {
            continue;
        }
        // A path synced before has both entries; one alone (never written so) counts as new.
        let base = match (pl, pr) {
            (Some(l), Some(r)) => Some((l, r)),
            _ => None,
        };
        if let (Some((bl, br)), Some(l), Some(r)) = (base, nl, nr) {
            if bl.same_as(l) && br.same_as(r) {
                out.unchanged += 1;
                continue;
            }
        }
        if base.is_none() && nl.is_none() && nr.is_none() {
            continue;
        }
        let emptied = base.is_none() && path.ends_with('/') && nl.is_some() != nr.is_some() && had_below(prev_local, path);
        out.changes.push(Change { path, base, local: nl, remote: nr, emptied });
    }
    out
}
