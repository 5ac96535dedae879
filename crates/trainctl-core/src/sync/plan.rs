//! From the changed paths to the plan of a pass: copies, deletes, conflict renames, records —
//! with checkpoint folders as units and the delete guard counted. Pure (the content
//! comparisons it needs are made beforehand by [`super::compare`]), so every rule is tested
//! without a server.
//!
//! The rules, per path, each side against its own snapshot:
//! - changed (or new) on one side, unchanged (or absent) on the other → copy it over, the write
//!   conditional on the other side still being what the snapshot says;
//! - deleted on one side, unchanged on the other → delete it there (conditionally);
//! - changed on one side, deleted on the other → the changed file wins, always;
//! - changed on both sides: the same content → recorded, nothing copied; else a conflict for the
//!   policy. On a first pass (no snapshot) "both sides have it" is "changed on both".
//! - a checkpoint folder is one unit: while it is incomplete on a side, nothing from that side
//!   inside it is propagated; changed on both sides, the folder conflicts as a whole.

use super::conflict::{conflict_name, Conflict, ConflictPolicy, Version};
use super::diff::{Change, Kind};
use super::journal::Record;
use super::scan::Skipped;
use super::snapshot::{LocalEntry, RemoteEntry};
use crate::error::{Error, Result};
use crate::transfer::WriteIf;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// `--max-delete`: how many deletions one pass may make on one side.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MaxDelete {
    Count(u64),
    /// Percent of the files that side had after the last pass.
    Percent(f64),
}

impl Default for MaxDelete {
    fn default() -> Self {
        MaxDelete::Percent(50.0)
    }
}

impl MaxDelete {
    /// `N` or `P%`.
    pub fn parse(s: &str) -> Result<MaxDelete> {
        let bad = || Error::Usage(format!("--max-delete takes a count (`100`) or a percent of a side (`25%`), not `{s}`"));
        match s.strip_suffix('%') {
            Some(p) => match p.trim().parse::<f64>() {
                Ok(v) if v.is_finite() && (0.0..=100.0).contains(&v) => Ok(MaxDelete::Percent(v)),
                _ => Err(bad()),
            },
            None => s.trim().parse::<u64>().map(MaxDelete::Count).map_err(|_| bad()),
        }
    }

    fn allows(self, deletes: u64, of: u64) -> bool {
        match self {
            MaxDelete::Count(n) => deletes <= n,
            MaxDelete::Percent(p) => of == 0 || (deletes as f64) <= (of as f64) * p / 100.0,
        }
    }

    fn describe(self) -> String {
        match self {
            MaxDelete::Count(n) => format!("{n}"),
            MaxDelete::Percent(p) => format!("{p}%"),
        }
    }
}

/// One step of a pass.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "ts", ts(rename = "SyncAction"))]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Action {
    /// Local → S3 (a folder path: its marker).
    Upload {
        path: String,
        bytes: u64,
        reason: String,
        write_if: WriteIf,
        #[serde(skip)]
        #[cfg_attr(feature = "ts", ts(skip))]
        src: LocalEntry,
    },
    /// S3 → local (a folder path: `mkdir`).
    Download {
        path: String,
        bytes: u64,
        reason: String,
        write_if: WriteIf,
        #[serde(skip)]
        #[cfg_attr(feature = "ts", ts(skip))]
        src: RemoteEntry,
    },
    /// Delete the object, only if its ETag is still `etag`.
    DeleteRemote { path: String, bytes: u64, reason: String, etag: String },
    /// Delete the local file, only if it is still the one seen.
    DeleteLocal {
        path: String,
        bytes: u64,
        reason: String,
        #[serde(skip)]
        #[cfg_attr(feature = "ts", ts(skip))]
        expect: LocalEntry,
    },
    /// Rename a local file or folder (a conflict's local copy, kept under a new name).
    RenameLocal { from: String, to: String, reason: String },
}

impl Action {
    pub fn path(&self) -> &str {
        match self {
            Action::Upload { path, .. } | Action::Download { path, .. } | Action::DeleteRemote { path, .. } | Action::DeleteLocal { path, .. } => path,
            Action::RenameLocal { from, .. } => from,
        }
    }
}

/// The delete guard's count of a pass.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "ts", ts(rename = "SyncGuard"))]
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Guard {
    pub local_deletes: u64,
    pub remote_deletes: u64,
    /// Deletions that are one half of a rename (the same file under a new name): not counted.
    pub renames: u64,
    /// Files each side had after the last pass (the base of a percent limit).
    pub local_before: u64,
    pub remote_before: u64,
    /// Every file of the side is gone (an unmounted disk, a wrong prefix).
    pub local_emptied: bool,
    pub remote_emptied: bool,
    /// Why the pass is refused (`None`: it is not).
    pub refused: Option<String>,
}

/// Everything a pass will do, shown by `--dry-run` and applied as it is.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub actions: Vec<Action>,
    /// Paths that need no copy, only a new snapshot entry (same content on both sides, deleted on
    /// both sides, a file touched without a change).
    pub records: Vec<Record>,
    pub conflicts: Vec<Conflict>,
    /// Changes held back this pass (an incomplete checkpoint), with why.
    pub deferred: Vec<Skipped>,
    /// Paths left alone (file-vs-folder, names that collide on a case-insensitive disk).
    pub skipped: Vec<Skipped>,
    pub guard: Guard,
}

/// What a checkpoint looks like on each side, from the checkpoint detectors.
#[derive(Debug, Clone, PartialEq)]
pub struct Unit {
    /// The checkpoint's id: a folder (`run/checkpoint-500/`) or a file.
    pub id: String,
    pub local_incomplete: Option<String>,
    pub remote_incomplete: Option<String>,
}

/// The content comparisons made for [`Step::Compare`] and [`Step::Touched`] paths: equal or
/// not, and the local MD5 when it was computed. Keyed by the changes' own paths (borrowed: a
/// first pass compares every file).
#[derive(Debug, Clone, Default)]
pub struct Compared<'a> {
    pub equal: HashMap<&'a str, bool>,
    pub local_md5: HashMap<&'a str, String>,
}

/// What a path needs before units and conflicts are considered.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Upload(WriteIf),
    Download(WriteIf),
    DeleteRemote,
    DeleteLocal,
    /// Deleted on both sides: forget it.
    Forget,
    /// Changed on both sides (or on both at a first pass): same content?
    Compare,
    /// The local file's time changed, not its size, and its MD5 is known: same content?
    Touched,
    Nothing,
}

/// The step of one changed path.
pub fn step(c: &Change) -> Step {
    use Kind::*;
    if c.emptied {
        // A folder left empty by deletions since the last pass: S3 keeps no empty folders, so
        // neither side keeps this one (it is not a new empty folder to mirror).
        return if c.local.is_some() { Step::DeleteLocal } else { Step::DeleteRemote };
    }
    let base_etag = || WriteIf::ObjectIs { etag: c.base.map(|b| b.1.etag.clone()).unwrap_or_default() };
    let base_file = || c.base.map(|b| file_is(b.0)).unwrap_or(WriteIf::Absent);
    match (c.local_kind(), c.remote_kind()) {
        (Changed, Same) if touched(c) => Step::Touched,
        (Changed, Same) => Step::Upload(base_etag()),
        (Same, Changed) => Step::Download(base_file()),
        (Gone, Same) => Step::DeleteRemote,
        (Same, Gone) => Step::DeleteLocal,
        (Gone, Gone) => Step::Forget,
        (Changed, Gone) | (New, Absent) => Step::Upload(WriteIf::Absent),
        (Gone, Changed) | (Absent, New) => Step::Download(WriteIf::Absent),
        (Changed, Changed) | (New, New) => Step::Compare,
        _ => Step::Nothing,
    }
}

fn touched(c: &Change) -> bool {
    match (c.base, c.local) {
        (Some((b, _)), Some(l)) => !l.is_dir() && b.size == l.size && b.md5.is_some(),
        _ => false,
    }
}

/// A download may replace this local file only while it is still this one.
pub fn file_is(e: &LocalEntry) -> WriteIf {
    WriteIf::FileIs { size: e.size, mtime_ns: e.mtime_ns, ino: e.ino }
}

/// Which side a step takes its content from (for incomplete checkpoints): local, remote, both.
fn origin(s: &Step) -> (bool, bool) {
    match s {
        Step::Upload(_) | Step::DeleteRemote | Step::Touched => (true, false),
        Step::Download(_) | Step::DeleteLocal => (false, true),
        Step::Compare => (true, true),
        Step::Forget | Step::Nothing => (false, false),
    }
}

/// Inputs of [`build`] besides the changes.
pub struct Context<'a, 'c> {
    pub local_now: &'a [LocalEntry],
    pub remote_now: &'a [RemoteEntry],
    /// Files each side had after the last pass.
    pub local_before: u64,
    pub remote_before: u64,
    pub units: &'a [Unit],
    pub compared: &'a Compared<'c>,
    pub policy: ConflictPolicy,
    /// Per-path decisions (the desktop's conflict list) over `policy`.
    pub resolve: &'a BTreeMap<String, ConflictPolicy>,
    pub max_delete: MaxDelete,
    /// `YYYYMMDD-HHMMSS` for conflict names.
    pub stamp: &'a str,
}

/// Builds the plan of a pass. Everything it keeps is copied out of `changes` (which borrow the
/// scans): the plan outlives them.
pub fn build(changes: &[Change], cx: &Context) -> Plan {
    let mut plan = Plan::default();
    let mut steps: Vec<Step> = changes.iter().map(|c| resolve_compare(c, step(c), cx, &mut plan)).collect();
    defer_incomplete(changes, &mut steps, cx, &mut plan);
    let handled = unit_conflicts(changes, &mut steps, cx, &mut plan);
    for (c, s) in changes.iter().zip(&steps) {
        if !handled.contains(c.path) {
            plan_step(c, s, cx, &mut plan);
        }
    }
    refuse_clashes(&mut plan, cx);
    refuse_case_collisions(&mut plan, cx);
    plan.guard = guard(&plan, cx, changes);
    plan
}

/// Turns `Compare`/`Touched` into what the comparison found.
fn resolve_compare(c: &Change, s: Step, cx: &Context, plan: &mut Plan) -> Step {
    let equal = cx.compared.equal.get(c.path).copied();
    match s {
        Step::Compare if c.is_dir() || equal == Some(true) => {
            let md5 = cx.compared.local_md5.get(c.path).cloned().or_else(|| c.remote.and_then(|r| r.md5()));
            plan.records.push(Record { path: c.path.into(), local: c.local.map(|l| LocalEntry { md5, ..l.clone() }), remote: c.remote.cloned() });
            Step::Nothing
        }
        Step::Touched if equal == Some(true) => {
            let md5 = c.base.and_then(|b| b.0.md5.clone());
            plan.records.push(Record { path: c.path.into(), local: c.local.map(|l| LocalEntry { md5, ..l.clone() }), remote: c.remote.cloned() });
            Step::Nothing
        }
        Step::Touched => Step::Upload(WriteIf::ObjectIs { etag: c.base.map(|b| b.1.etag.clone()).unwrap_or_default() }),
        s => s,
    }
}

fn unit_of<'a>(units: &'a [Unit], path: &str) -> Option<&'a Unit> {
    units.iter().find(|u| if u.id.ends_with('/') { path.starts_with(&u.id) } else { path == u.id })
}

/// Holds back what an incomplete checkpoint would propagate from its incomplete side.
fn defer_incomplete(changes: &[Change], steps: &mut [Step], cx: &Context, plan: &mut Plan) {
    let mut told: BTreeSet<(String, &str)> = BTreeSet::new();
    for (c, s) in changes.iter().zip(steps.iter_mut()) {
        let Some(u) = unit_of(cx.units, c.path) else { continue };
        let (from_local, from_remote) = origin(s);
        let why = match (&u.local_incomplete, &u.remote_incomplete) {
            (Some(r), _) if from_local => Some(("local", r)),
            (_, Some(r)) if from_remote => Some(("remote", r)),
            _ => None,
        };
        if let Some((side, reason)) = why {
            if told.insert((u.id.clone(), side)) {
                plan.deferred.push(Skipped { path: u.id.clone(), side: side.into(), reason: format!("checkpoint incomplete on the {side} side ({reason}): synced once it is complete"), error: None });
            }
            *s = Step::Nothing;
        }
    }
}

/// Checkpoint folders changed on both sides conflict as one unit. Returns the paths handled.
fn unit_conflicts<'a>(changes: &[Change<'a>], steps: &mut [Step], cx: &Context, plan: &mut Plan) -> HashSet<&'a str> {
    let mut handled = HashSet::new();
    for u in cx.units.iter().filter(|u| u.id.ends_with('/')) {
        let inside: Vec<usize> = changes.iter().enumerate().filter(|(_, c)| c.path.starts_with(&u.id)).map(|(i, _)| i).collect();
        let (mut l, mut r) = (false, false);
        for &i in &inside {
            let (a, b) = origin(&steps[i]);
            l |= a;
            r |= b;
        }
        if !(l && r) {
            continue;
        }
        for &i in &inside {
            handled.insert(changes[i].path);
        }
        let base_paths: Vec<&str> = inside.iter().map(|&i| changes[i].path).collect();
        resolve_folder(&u.id, &base_paths, cx, plan);
    }
    handled
}

fn under<'a, E>(list: &'a [E], dir: &str, path: impl Fn(&E) -> &str) -> &'a [E] {
    let start = list.partition_point(|e| path(e) < dir);
    let len = list[start..].iter().take_while(|e| path(e).starts_with(dir)).count();
    &list[start..start + len]
}

fn version_of_local(files: &[LocalEntry]) -> Version {
    Version { bytes: files.iter().map(|f| f.size).sum(), modified: files.iter().map(|f| f.mtime_ns.div_euclid(1_000_000_000)).max(), files: files.len() as u64 }
}

fn version_of_remote(files: &[RemoteEntry]) -> Version {
    Version { bytes: files.iter().map(|f| f.size).sum(), modified: files.iter().filter_map(|f| f.mtime).max(), files: files.len() as u64 }
}

/// Decides `newer` into `local` or `remote` from each side's own newest time.
fn decide(policy: ConflictPolicy, local: &Version, remote: &Version) -> ConflictPolicy {
    match policy {
        ConflictPolicy::Newer if local.modified > remote.modified => ConflictPolicy::Local,
        ConflictPolicy::Newer => ConflictPolicy::Remote,
        p => p,
    }
}

/// A checkpoint folder changed on both sides, resolved as a whole.
fn resolve_folder(dir: &str, changed: &[&str], cx: &Context, plan: &mut Plan) {
    let local = under(cx.local_now, dir, |e| &e.path);
    let remote = under(cx.remote_now, dir, |e| &e.path);
    let (lv, rv) = (version_of_local(local), version_of_remote(remote));
    let policy = cx.resolve.get(dir).copied().unwrap_or(cx.policy);
    let decided = decide(policy, &lv, &rv);
    let remote_paths: HashSet<&str> = remote.iter().map(|r| r.path.as_str()).collect();
    let local_paths: HashSet<&str> = local.iter().map(|l| l.path.as_str()).collect();
    let forget_gone = |plan: &mut Plan| {
        for p in changed.iter().filter(|p| !remote_paths.contains(**p) && !local_paths.contains(**p)) {
            plan.records.push(Record { path: p.to_string(), local: None, remote: None });
        }
    };
    let resolution = match decided {
        ConflictPolicy::Fail => "left as it is on both sides".to_string(),
        ConflictPolicy::KeepBoth => {
            let to = conflict_name(dir, "local", cx.stamp);
            plan.actions.push(Action::RenameLocal { from: dir.into(), to: to.clone(), reason: "conflict: the local checkpoint is kept under a new name".into() });
            for l in local {
                let path = format!("{to}{}", &l.path[dir.len()..]);
                let src = LocalEntry { path: path.clone(), ..l.clone() };
                plan.actions.push(Action::Upload { path, bytes: l.size, reason: "conflict: local checkpoint copy".into(), write_if: WriteIf::Absent, src });
            }
            for r in remote {
                plan.actions.push(Action::Download { path: r.path.clone(), bytes: r.size, reason: "conflict: remote checkpoint keeps the name".into(), write_if: WriteIf::Absent, src: r.clone() });
            }
            forget_gone(plan);
            format!("local checkpoint kept as {to}; the remote one keeps the name")
        }
        ConflictPolicy::Local | ConflictPolicy::Newer => {
            let by_path: HashMap<&str, &RemoteEntry> = remote.iter().map(|r| (r.path.as_str(), r)).collect();
            for l in local {
                let write_if = by_path.get(l.path.as_str()).map(|r| WriteIf::ObjectIs { etag: r.etag.clone() }).unwrap_or(WriteIf::Absent);
                plan.actions.push(Action::Upload { path: l.path.clone(), bytes: l.size, reason: "conflict: local checkpoint wins".into(), write_if, src: l.clone() });
            }
            for r in remote.iter().filter(|r| !local_paths.contains(r.path.as_str())) {
                plan.actions.push(Action::DeleteRemote { path: r.path.clone(), bytes: r.size, reason: "conflict: not in the local checkpoint, which wins".into(), etag: r.etag.clone() });
            }
            forget_gone(plan);
            "the local checkpoint replaces the remote one".to_string()
        }
        ConflictPolicy::Remote => {
            let by_path: HashMap<&str, &LocalEntry> = local.iter().map(|l| (l.path.as_str(), l)).collect();
            for r in remote {
                let write_if = by_path.get(r.path.as_str()).map(|l| file_is(l)).unwrap_or(WriteIf::Absent);
                plan.actions.push(Action::Download { path: r.path.clone(), bytes: r.size, reason: "conflict: remote checkpoint wins".into(), write_if, src: r.clone() });
            }
            for l in local.iter().filter(|l| !remote_paths.contains(l.path.as_str())) {
                plan.actions.push(Action::DeleteLocal { path: l.path.clone(), bytes: l.size, reason: "conflict: not in the remote checkpoint, which wins".into(), expect: l.clone() });
            }
            forget_gone(plan);
            "the remote checkpoint replaces the local one".to_string()
        }
    };
    plan.conflicts.push(Conflict { path: dir.into(), local: lv, remote: rv, policy: decided, resolution });
}

/// The plan of one path outside any conflicting checkpoint folder.
fn plan_step(c: &Change, s: &Step, cx: &Context, plan: &mut Plan) {
    let (local, remote) = (c.local, c.remote);
    let why = |side: &str, k: Kind| match k {
        Kind::New => format!("new {side}"),
        _ => format!("changed {side}"),
    };
    match s {
        Step::Upload(w) => {
            if let Some(l) = local {
                let reason = if c.remote_kind() == Kind::Gone { "changed locally, deleted on S3: the change wins".into() } else { why("locally", c.local_kind()) };
                plan.actions.push(Action::Upload { path: c.path.into(), bytes: l.size, reason, write_if: w.clone(), src: l.clone() });
            }
        }
        Step::Download(w) => {
            if let Some(r) = remote {
                let reason = if c.local_kind() == Kind::Gone { "changed on S3, deleted locally: the change wins".into() } else { why("on S3", c.remote_kind()) };
                plan.actions.push(Action::Download { path: c.path.into(), bytes: r.size, reason, write_if: w.clone(), src: r.clone() });
            }
        }
        Step::DeleteRemote if c.emptied => {
            if let Some(r) = remote {
                plan.actions.push(Action::DeleteRemote { path: c.path.into(), bytes: 0, reason: "folder marker left empty by deletions".into(), etag: r.etag.clone() });
            }
        }
        Step::DeleteLocal if c.emptied => {
            if let Some(l) = local {
                plan.actions.push(Action::DeleteLocal { path: c.path.into(), bytes: 0, reason: "folder left empty by deletions".into(), expect: l.clone() });
            }
        }
        Step::DeleteRemote => {
            if let Some((_, b)) = c.base {
                plan.actions.push(Action::DeleteRemote { path: c.path.into(), bytes: b.size, reason: "deleted locally".into(), etag: b.etag.clone() });
            }
        }
        Step::DeleteLocal => {
            if let Some((b, _)) = c.base {
                plan.actions.push(Action::DeleteLocal { path: c.path.into(), bytes: b.size, reason: "deleted on S3".into(), expect: b.clone() });
            }
        }
        Step::Forget => plan.records.push(Record { path: c.path.into(), local: None, remote: None }),
        Step::Compare => {
            if let (Some(l), Some(r)) = (local, remote) {
                file_conflict(c, l, r, cx, plan);
            }
        }
        Step::Touched | Step::Nothing => {}
    }
}

fn file_conflict(c: &Change, l: &LocalEntry, r: &RemoteEntry, cx: &Context, plan: &mut Plan) {
    let lv = version_of_local(std::slice::from_ref(l));
    let rv = version_of_remote(std::slice::from_ref(r));
    let policy = decide(cx.resolve.get(c.path).copied().unwrap_or(cx.policy), &lv, &rv);
    let resolution = match policy {
        ConflictPolicy::Fail => "left as it is on both sides".to_string(),
        ConflictPolicy::KeepBoth => {
            let to = conflict_name(c.path, "local", cx.stamp);
            plan.actions.push(Action::RenameLocal { from: c.path.into(), to: to.clone(), reason: "conflict: the local version is kept under a new name".into() });
            let src = LocalEntry { path: to.clone(), ..l.clone() };
            plan.actions.push(Action::Upload { path: to.clone(), bytes: l.size, reason: "conflict: local copy".into(), write_if: WriteIf::Absent, src });
            plan.actions.push(Action::Download { path: c.path.into(), bytes: r.size, reason: "conflict: the remote version keeps the name".into(), write_if: WriteIf::Absent, src: r.clone() });
            format!("local copy kept as {to}; the remote version keeps the name")
        }
        ConflictPolicy::Local | ConflictPolicy::Newer => {
            let write_if = WriteIf::ObjectIs { etag: r.etag.clone() };
            plan.actions.push(Action::Upload { path: c.path.into(), bytes: l.size, reason: "conflict: the local version wins".into(), write_if, src: l.clone() });
            "the local version replaces the remote one".to_string()
        }
        ConflictPolicy::Remote => {
            plan.actions.push(Action::Download { path: c.path.into(), bytes: r.size, reason: "conflict: the remote version wins".into(), write_if: file_is(l), src: r.clone() });
            "the remote version replaces the local one".to_string()
        }
    };
    plan.conflicts.push(Conflict { path: c.path.into(), local: lv, remote: rv, policy, resolution });
}

/// A file where the other side (or the bucket itself) has a folder of the same name: S3 can
/// hold `a` and `a/b`, a disk cannot. The file is left alone on both sides; if it is a local
/// file, what is under the S3 folder cannot be written either.
fn refuse_clashes(plan: &mut Plan, cx: &Context) {
    let mut folders: HashSet<&str> = HashSet::new();
    let paths = cx.local_now.iter().map(|e| e.path.as_str()).chain(cx.remote_now.iter().map(|e| e.path.as_str()));
    for p in paths {
        for (i, _) in p.match_indices('/') {
            folders.insert(&p[..i]);
        }
    }
    let local_files: HashSet<&str> = cx.local_now.iter().filter(|e| !e.is_dir()).map(|e| e.path.as_str()).collect();
    let clashing: BTreeSet<String> =
        cx.local_now.iter().map(|e| e.path.as_str()).chain(cx.remote_now.iter().map(|e| e.path.as_str())).filter(|p| !p.ends_with('/') && folders.contains(p)).map(str::to_string).collect();
    if clashing.is_empty() {
        return;
    }
    let blocked = |p: &str| clashing.contains(p) || clashing.iter().any(|c| local_files.contains(c.as_str()) && p.starts_with(&format!("{c}/")));
    let mut refused = Vec::new();
    plan.actions.retain(|a| {
        let keep = !blocked(a.path());
        if !keep {
            refused.push(a.path().to_string());
        }
        keep
    });
    plan.records.retain(|r| !blocked(&r.path));
    let shown: BTreeSet<&str> = clashing.iter().map(String::as_str).chain(refused.iter().map(String::as_str)).collect();
    for p in shown {
        let owner = clashing.iter().find(|c| p == c.as_str() || p.starts_with(&format!("{c}/"))).map(String::as_str).unwrap_or(p);
        let other = if p == owner { format!("{owner}/ (a folder of the same name)") } else { format!("{owner} (a file named like its folder)") };
        let err = Error::NameCollision { key: p.to_string(), other };
        plan.skipped.push(Skipped { path: p.to_string(), side: "both".into(), reason: "a file and a folder of the same name: left alone on both sides".into(), error: Some(err.info()) });
    }
}

/// Names that one case-insensitive or normalising disk would make one file (`Model.pt` and
/// `model.pt`): a download that would land on another name is refused, both ways.
fn refuse_case_collisions(plan: &mut Plan, cx: &Context) {
    use unicode_normalization::UnicodeNormalization;
    let fold = |p: &str| -> String {
        let nfc: String = p.nfc().collect();
        nfc.to_lowercase().nfc().collect()
    };
    let mut by_fold: HashMap<String, BTreeSet<&str>> = HashMap::new();
    let downloads: Vec<&str> = plan.actions.iter().filter_map(|a| match a {
        Action::Download { path, .. } => Some(path.as_str()),
        _ => None,
    }).collect();
    if downloads.is_empty() {
        return;
    }
    for p in cx.local_now.iter().map(|e| e.path.as_str()).chain(downloads.iter().copied()) {
        by_fold.entry(fold(p)).or_default().insert(p);
    }
    let colliding: HashMap<String, String> = by_fold
        .values()
        .filter(|s| s.len() > 1)
        .flat_map(|s| s.iter().map(move |p| (p.to_string(), s.iter().find(|o| *o != p).unwrap_or(p).to_string())))
        .collect();
    let mut refused = Vec::new();
    plan.actions.retain(|a| match a {
        Action::Download { path, .. } if colliding.contains_key(path) => {
            refused.push(path.clone());
            false
        }
        _ => true,
    });
    for p in refused {
        let other = colliding[&p].clone();
        let err = Error::NameCollision { key: p.clone(), other };
        plan.skipped.push(Skipped { path: p, side: "remote".into(), reason: "its name differs from another only by case or Unicode form: not downloaded".into(), error: Some(err.info()) });
    }
}

/// Counts deletions per side (folders and the halves of renames aside) against the limit.
fn guard(plan: &Plan, cx: &Context, changes: &[Change]) -> Guard {
    // A rename keeps the inode and the mtime; a new file that merely reuses a freed inode does not.
    let new_local: HashSet<(u64, u64, i64)> = changes.iter().filter(|c| c.local_kind() == Kind::New || c.local_kind() == Kind::Changed).filter_map(|c| c.local).map(|l| (l.ino, l.size, l.mtime_ns)).collect();
    let new_remote: HashSet<(&str, u64)> = changes.iter().filter(|c| c.remote_kind() == Kind::New || c.remote_kind() == Kind::Changed).filter_map(|c| c.remote).map(|r| (r.etag.as_str(), r.size)).collect();
    let base: HashMap<&str, (&LocalEntry, &RemoteEntry)> = changes.iter().filter_map(|c| c.base.map(|b| (c.path, b))).collect();
    let mut g = Guard { local_before: cx.local_before, remote_before: cx.remote_before, ..Guard::default() };
    for a in &plan.actions {
        match a {
            Action::DeleteRemote { path, .. } if !path.ends_with('/') => {
                if base.get(path.as_str()).is_some_and(|b| new_local.contains(&(b.0.ino, b.0.size, b.0.mtime_ns))) {
                    g.renames += 1;
                } else {
                    g.remote_deletes += 1;
                }
            }
            Action::DeleteLocal { path, .. } if !path.ends_with('/') => {
                if base.get(path.as_str()).is_some_and(|b| new_remote.contains(&(b.1.etag.as_str(), b.1.size))) {
                    g.renames += 1;
                } else {
                    g.local_deletes += 1;
                }
            }
            _ => {}
        }
    }
    let files = |n: usize| n as u64;
    g.local_emptied = cx.local_before > 0 && files(cx.local_now.iter().filter(|e| !e.is_dir()).count()) == 0;
    g.remote_emptied = cx.remote_before > 0 && files(cx.remote_now.iter().filter(|e| !e.is_dir()).count()) == 0;
    g.refused = if g.local_emptied {
        Some(format!("every file of the local folder is gone ({} before): is the disk mounted?", cx.local_before))
    } else if g.remote_emptied {
        Some(format!("every object under the prefix is gone ({} before): is it the right prefix?", cx.remote_before))
    } else if !cx.max_delete.allows(g.remote_deletes, cx.remote_before) {
        Some(format!("it would delete {} of {} objects on S3 (--max-delete {})", g.remote_deletes, cx.remote_before, cx.max_delete.describe()))
    } else if !cx.max_delete.allows(g.local_deletes, cx.local_before) {
        Some(format!("it would delete {} of {} local files (--max-delete {})", g.local_deletes, cx.local_before, cx.max_delete.describe()))
    } else {
        None
    };
    g
}
