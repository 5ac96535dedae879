//! Two-way sync of a local folder and an S3 prefix (`trainctl s3 sync --direction both`, the
//! desktop's Sync view). One-way sync is `transfer::plan::plan_sync`.
//!
//! A pass: take the pair's [`lock`], finish what an interrupted pass left in its [`journal`],
//! look at both sides ([`scan`]: one walk, one listing), compare each side with its own
//! [`snapshot`] ([`diff`]), compare contents where both changed ([`compare`]), make the
//! [`plan`] (checkpoint folders as units, [`conflict`] policies, the delete guard), then
//! [`apply`] it — journalling every completed item — and write the new snapshots.
//!
//! Why snapshots per side and not timestamps across sides: a laptop's clock and S3's
//! LastModified are two clocks; "changed" is decided by each side against what that same side
//! looked like after the last pass. Why a journal: a pass killed half-way must lose nothing and
//! must not need a forced resync; the next pass finishes it. Why conditional writes: a writer
//! on another machine must become a conflict, never a silent overwrite.

pub mod apply;
pub mod compare;
pub mod conflict;
pub mod diff;
pub mod journal;
pub mod lock;
pub mod pair;
pub mod plan;
pub mod scan;
pub mod snapshot;
pub mod watch;

pub use apply::{Done, SyncFailure};
pub use conflict::{Conflict, ConflictPolicy};
pub use pair::Pair;
pub use plan::{Action, Guard, MaxDelete};
pub use scan::Skipped;

use crate::checkpoint::detect::{self, DetectOptions};
use crate::checkpoint::FileEntry;
use crate::error::{Error, Result};
use crate::event::{Event, Sink};
use crate::s3::Connection;
use crate::transfer::plan::PathFilter;
use crate::transfer::TransferOptions;
use serde::Serialize;
use snapshot::{LocalEntry, RemoteEntry};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// How a pass is made.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    pub conflict: ConflictPolicy,
    /// Decisions for single conflicts (path or checkpoint folder), over `conflict`.
    pub resolve: BTreeMap<String, ConflictPolicy>,
    pub max_delete: MaxDelete,
    /// Go on although the delete guard refuses the pass.
    pub force: bool,
    /// Forget the snapshots: a first pass (union, nothing deleted).
    pub resync: bool,
    /// Create the local folder when it does not exist.
    pub create_local: bool,
    pub dry_run: bool,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    /// A checkpoint whose newest file is younger than this counts as still being written.
    pub grace: Duration,
    /// Apply only if the pass deletes exactly these paths (a confirmed delete-guard prompt).
    pub expect_deletes: Option<Vec<String>>,
    pub transfer: TransferOptions,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            conflict: ConflictPolicy::KeepBoth,
            resolve: BTreeMap::new(),
            max_delete: MaxDelete::default(),
            force: false,
            resync: false,
            create_local: false,
            dry_run: false,
            include: Vec::new(),
            exclude: Vec::new(),
            grace: detect::DEFAULT_GRACE,
            expect_deletes: None,
            transfer: TransferOptions::default(),
        }
    }
}

/// Planned totals of a pass.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "ts", ts(rename = "SyncTotals"))]
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Totals {
    pub uploads: u64,
    pub downloads: u64,
    pub local_deletes: u64,
    pub remote_deletes: u64,
    pub renames: u64,
    pub bytes_up: u64,
    pub bytes_down: u64,
}

/// One pass: its plan, and (unless a dry run or refused) what it did.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PassReport {
    pub pair: String,
    pub local: String,
    pub remote: String,
    /// No snapshot yet (or `--resync`): a union, nothing deleted.
    pub first_pass: bool,
    pub dry_run: bool,
    /// Paths in sync, untouched.
    pub unchanged: u64,
    pub actions: Vec<Action>,
    pub totals: Totals,
    pub conflicts: Vec<Conflict>,
    pub deferred: Vec<Skipped>,
    pub skipped: Vec<Skipped>,
    pub guard: Guard,
    /// What was done (`None`: a dry run, or the pass was refused).
    pub done: Option<Done>,
    pub seconds: f64,
}

impl PassReport {
    /// Planned deletions (both sides), sorted: what a delete-guard prompt shows and confirms.
    pub fn deletions(&self) -> Vec<String> {
        deletions(&self.actions)
    }

    /// The pass as a whole: refused by the guard → [`Error::DeleteGuard`]; conflicts left
    /// undecided → [`Error::SyncConflicts`]; items failed → [`Error::Partial`].
    pub fn into_result(self) -> Result<PassReport> {
        if let Some(detail) = self.guard.refused.clone().filter(|_| self.done.is_none() && !self.dry_run) {
            return Err(Error::DeleteGuard { detail });
        }
        let undecided: Vec<&Conflict> = self.conflicts.iter().filter(|c| c.policy == ConflictPolicy::Fail).collect();
        if let Some(first) = undecided.first() {
            return Err(Error::SyncConflicts { count: undecided.len() as u64, first: first.path.clone() });
        }
        if let Some(done) = &self.done {
            if !done.failed.is_empty() {
                let total = done.uploaded + done.downloaded + done.deleted_local + done.deleted_remote + done.failed.len() as u64;
                return Err(Error::Partial { failed: done.failed.len() as u64, total });
            }
        }
        Ok(self)
    }
}

/// Planned deletions of `actions` (both sides), sorted.
fn deletions(actions: &[Action]) -> Vec<String> {
    let mut v: Vec<String> = actions
        .iter()
        .filter_map(|a| match a {
            Action::DeleteLocal { path, .. } => Some(format!("local:{path}")),
            Action::DeleteRemote { path, .. } => Some(format!("remote:{path}")),
            _ => None,
        })
        .collect();
    v.sort();
    v
}

/// Runs passes until nothing changed underneath (at most three): a write refused because the
/// other side changed during the pass is decided as a conflict by the next one, at once.
pub async fn run(conn: &Connection, pair: &Pair, opts: &SyncOptions, sink: &dyn Sink, cancel: &CancellationToken) -> Result<PassReport> {
    let mut report = pass(conn, pair, opts, sink, cancel).await?;
    for _ in 0..2 {
        let again = report.done.as_ref().is_some_and(|d| d.changed_during > 0);
        if !again || cancel.is_cancelled() {
            break;
        }
        sink.send(Event::Notice { message: "something changed during the pass: one more pass decides it".into() });
        // Nothing further may be deleted unseen: a confirmed pass's follow-ups delete nothing new.
        let expect_deletes = opts.expect_deletes.as_ref().map(|_| Vec::new());
        let next = pass(conn, pair, &SyncOptions { resync: false, expect_deletes, ..opts.clone() }, sink, cancel).await?;
        report = merge(report, next);
    }
    Ok(report)
}

fn merge(first: PassReport, next: PassReport) -> PassReport {
    let (Some(a), Some(b)) = (first.done.clone(), next.done.clone()) else { return next };
    let failed: Vec<SyncFailure> = b.failed.clone();
    let done = Done {
        uploaded: a.uploaded + b.uploaded,
        downloaded: a.downloaded + b.downloaded,
        deleted_local: a.deleted_local + b.deleted_local,
        deleted_remote: a.deleted_remote + b.deleted_remote,
        renamed: a.renamed + b.renamed,
        recorded: a.recorded + b.recorded,
        bytes_up: a.bytes_up + b.bytes_up,
        bytes_down: a.bytes_down + b.bytes_down,
        failed,
        changed_during: b.changed_during,
    };
    let mut actions = first.actions;
    actions.extend(next.actions);
    let mut conflicts = first.conflicts;
    conflicts.extend(next.conflicts);
    PassReport { actions, conflicts, done: Some(done), seconds: first.seconds + next.seconds, first_pass: first.first_pass, ..next }
}

/// One pass (see the module documentation).
pub async fn pass(conn: &Connection, pair: &Pair, opts: &SyncOptions, sink: &dyn Sink, cancel: &CancellationToken) -> Result<PassReport> {
    let started = Instant::now();
    let filter = PathFilter::new(&opts.include, &opts.exclude)?;
    let root = pair.local.clone();
    let local_exists = check_local(&root, opts)?;
    let dir = pair.state_dir();
    let lock = lock::PairLock::acquire(&dir)?;
    if let Some(h) = &lock.took_over {
        sink.send(Event::Notice { message: format!("took over the lock of an earlier pass that is gone ({h})") });
    }
    let id = pair.id();
    write_pair_file(&dir, pair);
    let (prev_local, prev_remote, first_pass) = load_state(&dir, &id, opts, sink)?;
    let (local, remote) = tokio::join!(
        async {
            let (root, filter) = (root.clone(), PathFilter::new(&opts.include, &opts.exclude));
            match (local_exists, filter) {
                (false, _) => Ok(scan::Scan::default()),
                (true, Ok(f)) => tokio::task::spawn_blocking(move || scan::scan_local(&root, &f)).await.map_err(|e| Error::Internal(e.to_string())),
                (true, Err(e)) => Err(e),
            }
        },
        scan::scan_remote(conn, &pair.bucket, &pair.prefix, &filter)
    );
    let (local, remote) = (local?, remote?);
    if first_pass && local.entries.is_empty() && remote.entries.is_empty() && local.skipped.is_empty() && remote.skipped.is_empty() {
        return Err(Error::NothingToSync { local: root.display().to_string(), remote: pair.remote_url() });
    }
    let d = diff::diff(&prev_local, &prev_remote, &local, &remote, &filter);
    let compared = if d.changes.is_empty() { plan::Compared::default() } else { compare::compare(conn, &pair.bucket, &pair.prefix, &root, &d.changes).await };
    let units = if d.changes.is_empty() { Vec::new() } else { units(conn, pair, &root, &local.entries, &remote.entries, &d.changes, opts.grace).await };
    let stamp = conflict::stamp_now();
    let cx = plan::Context {
        local_now: &local.entries,
        remote_now: &remote.entries,
        local_before: prev_local.iter().filter(|e| !e.is_dir()).count() as u64,
        remote_before: prev_remote.iter().filter(|e| !e.is_dir()).count() as u64,
        units: &units,
        compared: &compared,
        policy: opts.conflict,
        resolve: &opts.resolve,
        max_delete: opts.max_delete,
        stamp: &stamp,
    };
    let mut plan = plan::build(&d.changes, &cx);
    // What the plan was built from is not needed any more: free it before the copies start.
    let unchanged = d.unchanged;
    drop((d, units, compared));
    plan.skipped.splice(0..0, local.skipped.into_iter().chain(remote.skipped));
    drop((local.entries, remote.entries));
    let mut report = PassReport {
        pair: id.clone(),
        local: root.display().to_string(),
        remote: pair.remote_url(),
        first_pass,
        dry_run: opts.dry_run,
        unchanged,
        totals: totals(&plan.actions),
        // Moved in once the plan is applied: at a first pass it holds one action per file.
        actions: Vec::new(),
        conflicts: plan.conflicts.clone(),
        deferred: plan.deferred.clone(),
        skipped: plan.skipped.clone(),
        guard: plan.guard.clone(),
        done: None,
        seconds: 0.0,
    };
    if let Some(expected) = &opts.expect_deletes {
        if *expected != deletions(&plan.actions) {
            return Err(Error::PlanStale("the deletions of this pass are not the ones shown: look at the new list".into()));
        }
    }
    let refused = plan.guard.refused.is_some() && !opts.force;
    if opts.dry_run || refused {
        report.actions = plan.actions;
        report.seconds = started.elapsed().as_secs_f64();
        return Ok(report);
    }
    if !local_exists {
        std::fs::create_dir_all(&root).map_err(|e| Error::io(&root, e))?;
    }
    let journal = journal::Journal::create(&dir.join("journal"), &id)?;
    let target = apply::Target { conn, bucket: &pair.bucket, prefix: &pair.prefix, root: &root, transfer: opts.transfer.clone() };
    let applied = apply::apply(&target, &mut plan, &journal, sink, cancel).await;
    report.actions = plan.actions;
    let (new_local, new_remote) = journal::replay(prev_local, prev_remote, journal.take_records());
    snapshot::save(&dir.join("local.snap"), &id, &new_local)?;
    snapshot::save(&dir.join("remote.snap"), &id, &new_remote)?;
    let _ = std::fs::remove_file(journal.path());
    drop(lock);
    report.done = Some(applied?);
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// The local folder exists (true), may be created (false), or the pass cannot start.
fn check_local(root: &Path, opts: &SyncOptions) -> Result<bool> {
    match std::fs::metadata(root) {
        Ok(m) if m.is_dir() => Ok(true),
        Ok(_) => Err(Error::LocalKind { path: root.to_path_buf(), expected: "folder" }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && opts.create_local => Ok(false),
        Err(e) => Err(Error::io(root, e)),
    }
}

/// `pair.json`: which folder and prefix a state folder belongs to (for people and the app).
fn write_pair_file(dir: &Path, pair: &Pair) {
    if let Ok(body) = serde_json::to_vec_pretty(pair) {
        let path = dir.join("pair.json");
        if std::fs::read(&path).ok().as_deref() != Some(body.as_slice()) {
            let _ = crate::config::file::write_private(&path, &body);
        }
    }
}

/// The snapshots of the last pass, with an interrupted pass's journal replayed into them.
fn load_state(dir: &Path, id: &str, opts: &SyncOptions, sink: &dyn Sink) -> Result<(Vec<LocalEntry>, Vec<RemoteEntry>, bool)> {
    let journal_path = dir.join("journal");
    if opts.resync {
        if !opts.dry_run {
            let _ = std::fs::remove_file(&journal_path);
        }
        return Ok((Vec::new(), Vec::new(), true));
    }
    let (lp, rp) = (dir.join("local.snap"), dir.join("remote.snap"));
    let local = snapshot::load::<LocalEntry>(&lp, id)?;
    let remote = snapshot::load::<RemoteEntry>(&rp, id)?;
    let records = journal::load(&journal_path, id)?;
    let (local, remote, first) = match (local, remote) {
        (Some(l), Some(r)) => (l, r, false),
        (None, None) => (Vec::new(), Vec::new(), true),
        (Some(_), None) => return Err(Error::SnapshotCorrupt { path: rp, reason: "it is missing while the local side's snapshot exists".into() }),
        (None, Some(_)) => return Err(Error::SnapshotCorrupt { path: lp, reason: "it is missing while the remote side's snapshot exists".into() }),
    };
    let Some(records) = records else { return Ok((local, remote, first)) };
    sink.send(Event::Notice { message: format!("finishing an interrupted pass: {} item(s) it completed are recorded", records.len()) });
    let replayed_none = records.is_empty();
    let (local, remote) = journal::replay(local, remote, records);
    if !opts.dry_run {
        snapshot::save(&lp, id, &local)?;
        snapshot::save(&rp, id, &remote)?;
        let _ = std::fs::remove_file(&journal_path);
    }
    Ok((local, remote, first && replayed_none))
}

fn totals(actions: &[Action]) -> Totals {
    let mut t = Totals::default();
    for a in actions {
        match a {
            Action::Upload { bytes, .. } => (t.uploads, t.bytes_up) = (t.uploads + 1, t.bytes_up + bytes),
            Action::Download { bytes, .. } => (t.downloads, t.bytes_down) = (t.downloads + 1, t.bytes_down + bytes),
            Action::DeleteLocal { .. } => t.local_deletes += 1,
            Action::DeleteRemote { .. } => t.remote_deletes += 1,
            Action::RenameLocal { .. } => t.renames += 1,
        }
    }
    t
}

/// The checkpoints around the changed paths, judged on each side by the checkpoint detectors
/// (the same rules as cleanup and watches). Small marker files (`trainer_state.json`, `latest`)
/// are read locally, and fetched from S3 only in folders where something changed.
async fn units(conn: &Connection, pair: &Pair, root: &Path, local: &[LocalEntry], remote: &[RemoteEntry], changes: &[diff::Change<'_>], grace: Duration) -> Vec<plan::Unit> {
    let changed_dirs: HashSet<&str> = changes.iter().map(|c| c.path.rfind('/').map(|i| &c.path[..=i]).unwrap_or("")).collect();
    let in_changed = |p: &str| {
        let parent = p.rfind('/').map(|i| &p[..=i]).unwrap_or("");
        changed_dirs.iter().any(|d| parent.starts_with(d) || d.starts_with(parent))
    };
    let lf: Vec<FileEntry> = local.iter().filter(|e| !e.is_dir()).map(|e| FileEntry { path: e.path.clone(), size: e.size, mtime: Some(e.mtime_ns.div_euclid(1_000_000_000)) }).collect();
    let rf: Vec<FileEntry> = remote.iter().filter(|e| !e.is_dir()).map(|e| FileEntry { path: e.path.clone(), size: e.size, mtime: e.mtime }).collect();
    let wanted: Vec<String> = detect::wanted_contents(&rf).into_iter().filter(|p| in_changed(p)).collect();
    let fetched: HashMap<String, Vec<u8>> = futures::future::join_all(wanted.into_iter().map(|p| async move {
        let key = format!("{}{p}", pair.prefix);
        let body = match conn.client.get_object().bucket(&pair.bucket).key(&key).send().await {
            Ok(o) => o.body.collect().await.ok().map(|b| b.into_bytes().to_vec()),
            Err(_) => None,
        };
        (p, body)
    }))
    .await
    .into_iter()
    .filter_map(|(p, b)| b.map(|b| (p, b)))
    .collect();
    let opts = DetectOptions { pattern: None, grace, ..DetectOptions::new() };
    let root = root.to_path_buf();
    let local_read = move |p: &str| std::fs::read(root.join(p)).ok();
    let remote_read = |p: &str| fetched.get(p).cloned();
    let mut by_id: BTreeMap<String, plan::Unit> = BTreeMap::new();
    for (side, runs) in [("local", detect::detect(&lf, &opts, &local_read)), ("remote", detect::detect(&rf, &opts, &remote_read))] {
        for c in runs.into_iter().flat_map(|r| r.checkpoints) {
            let u = by_id.entry(c.id.clone()).or_insert_with(|| plan::Unit { id: c.id.clone(), local_incomplete: None, remote_incomplete: None });
            let reason = c.complete_reason().map(str::to_string);
            if side == "local" {
                u.local_incomplete = reason;
            } else {
                u.remote_incomplete = reason;
            }
        }
    }
    by_id.into_values().collect()
}
