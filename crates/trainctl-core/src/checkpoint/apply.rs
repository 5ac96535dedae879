//! Executing a retention plan: exactly its `Delete` items, after checking that what the plan was
//! made from has not changed.
//!
//! Why the re-check: a training job may finish a checkpoint, start a new one or be resumed
//! between the plan the user approved and the deletion; deleting from a stale plan could remove
//! the newest complete checkpoint. Locally nothing is ever reached through a symlink; on S3 keys
//! go in DeleteObjects batches of 1000, several at once, and per-key failures are reported
//! without skipping anything else.

use super::detect::{now_secs, DetectOptions};
use super::model::Checkpoint;
use super::policy::{plan_within, Plan, Policy, Scope};
use super::source::{discover, fingerprint, Fingerprint, Location};
use crate::error::{Error, ErrorInfo, Result};
use crate::event::{next_job_id, Event, JobId, Sink};
use crate::s3::{Connection, S3Url};
use crate::transfer::safe_path::ensure_no_symlink_escape;
use futures::StreamExt;
use serde::Serialize;
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Instant;

/// DeleteObjects calls in flight at once.
pub const DELETE_PARALLELISM: usize = 4;

/// What an apply did. `failed` lists every object (or path) that could not be deleted.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ApplyOutcome {
    pub checkpoints_deleted: u64,
    pub objects_deleted: u64,
    pub bytes_reclaimed: u64,
    pub failed: Vec<(String, ErrorInfo)>,
    pub seconds: f64,
}

/// Re-detects `loc`, refuses with [`Error::PlanStale`] if its checkpoints differ from those the
/// plans were made from, then deletes the plans' `Delete` items.
pub async fn apply(plans: &[Plan], loc: &Location, conn: Option<&Connection>, opts: &DetectOptions, sink: &dyn Sink) -> Result<ApplyOutcome> {
    ensure_current(plans, loc, conn, opts).await?;
    match loc {
        Location::Local(root) => Ok(apply_local(root, plans, sink)),
        Location::S3(url) => {
            let conn = conn.ok_or_else(|| Error::Internal("S3 apply without a connection".into()))?;
            Ok(apply_s3(conn, url, plans, sink).await)
        }
    }
}

/// Fails with [`Error::PlanStale`] when a fresh detection differs from the plans' checkpoints.
pub async fn ensure_current(plans: &[Plan], loc: &Location, conn: Option<&Connection>, opts: &DetectOptions) -> Result<()> {
    let fresh = DetectOptions { now: now_secs(), ..opts.clone() };
    let found = discover(loc, conn, &fresh).await?;
    let now = fingerprint(found.runs.iter().flat_map(|r| &r.checkpoints));
    let planned = fingerprint(plans.iter().flat_map(|p| p.items.iter().map(|i| &i.checkpoint)));
    match describe_change(&planned, &now) {
        None => Ok(()),
        Some(change) => Err(Error::PlanStale(change)),
    }
}

/// A short description of the first differences, or `None` when equal.
fn describe_change(planned: &Fingerprint, now: &Fingerprint) -> Option<String> {
    let mut changes: Vec<String> = Vec::new();
    for (id, v) in now {
        match planned.get(id) {
            None => changes.push(format!("{id} appeared")),
            Some(p) if p.0 != v.0 => changes.push(format!("{id} is now {}", v.0)),
            Some(p) if p != v => changes.push(format!("{id} changed")),
            _ => {}
        }
    }
    changes.extend(planned.keys().filter(|id| !now.contains_key(*id)).map(|id| format!("{id} disappeared")));
    if changes.is_empty() {
        return None;
    }
    let more = changes.len().saturating_sub(3);
    changes.truncate(3);
    Some(if more > 0 { format!("{} (and {more} more)", changes.join(", ")) } else { changes.join(", ") })
}

/// What one unattended round did: the plans it followed and, if anything was to be deleted, the
/// outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Enforced {
    pub plans: Vec<Plan>,
    pub outcome: Option<ApplyOutcome>,
}

/// Discover → plan → apply without asking, re-planning (up to 3 times) when the listing changes
/// underneath. Why: `cleanup --watch` and the after-training hook of local runs need the same
/// safe sequence as an interactive cleanup, minus the prompt. Pins stored at `loc` are honoured.
pub async fn enforce(loc: &Location, conn: Option<&Connection>, policy: &Policy, opts: &DetectOptions, sink: &dyn Sink) -> Result<Enforced> {
    enforce_within(loc, conn, policy, opts, &|_: &Checkpoint| true, "", sink).await
}

/// [`enforce`] limited to the checkpoints `in_scope` accepts (see [`plan_within`]); the others
/// are kept with the reason `outside`.
pub async fn enforce_within(loc: &Location, conn: Option<&Connection>, policy: &Policy, opts: &DetectOptions, in_scope: Scope<'_>, outside: &str, sink: &dyn Sink) -> Result<Enforced> {
    policy.validate()?;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let opts = DetectOptions { now: now_secs(), ..opts.clone() };
        let found = discover(loc, conn, &opts).await?;
        let policy = Policy { pins: policy.pins.union(&found.pins).cloned().collect(), ..policy.clone() };
        let plans = plan_within(&found.runs, &policy, opts.now, in_scope, outside)?;
        if plans.iter().all(|p| p.deletions().next().is_none()) {
            return Ok(Enforced { plans, outcome: None });
        }
        match apply(&plans, loc, conn, &opts, sink).await {
            Err(Error::PlanStale(_)) if attempt < 3 => continue,
            Err(e) => return Err(e),
            Ok(out) => return Ok(Enforced { plans, outcome: Some(out) }),
        }
    }
}

fn to_delete(plans: &[Plan]) -> Vec<&Checkpoint> {
    plans.iter().flat_map(|p| p.deletions().map(|i| &i.checkpoint)).collect()
}

// ---------------------------------------------------------------------------------------------
// Local

/// Deletes the `Delete` checkpoints of `plans` under `root` (no staleness check: see [`apply`]).
pub fn apply_local(root: &Path, plans: &[Plan], sink: &dyn Sink) -> ApplyOutcome {
    let (job, started) = (next_job_id(), Instant::now());
    let mut out = ApplyOutcome::default();
    for c in to_delete(plans) {
        delete_local_checkpoint(root, c, job, sink, &mut out);
    }
    finish(out, started, sink)
}

fn delete_local_checkpoint(root: &Path, c: &Checkpoint, job: JobId, sink: &dyn Sink, out: &mut ApplyOutcome) {
    let mut all_ok = true;
    for f in &c.files {
        match delete_local_file(root, &f.path) {
            Ok(()) => out.objects_deleted += 1,
            Err(e) => all_ok &= fail(out, sink, job, &f.path, e),
        }
    }
    if all_ok && c.is_dir() {
        if let Err(e) = remove_empty_dirs(root, &c.id) {
            all_ok = fail(out, sink, job, &c.id, e);
        }
    }
    if all_ok {
        deleted(out, sink, c);
    }
}

/// Removes one listed file (a symlink is removed as a link, never followed), refusing any path
/// whose directories are not real directories inside `root`.
fn delete_local_file(root: &Path, rel: &str) -> Result<()> {
    let path = safe_join(root, rel)?;
    ensure_no_symlink_escape(root, path.parent().unwrap_or(root))?;
    match std::fs::symlink_metadata(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(&path, e)),
        Ok(m) if m.is_dir() => Err(Error::LocalKind { path, expected: "file (a directory appeared in its place)" }),
        Ok(_) => std::fs::remove_file(&path).map_err(|e| Error::io(&path, e)),
    }
}

/// `root` + a listing path, refusing anything that could climb out (`..`, absolute, empty parts).
fn safe_join(root: &Path, rel: &str) -> Result<std::path::PathBuf> {
    let bad = rel.is_empty() || rel.starts_with('/') || rel.contains('\\') || rel.trim_end_matches('/').split('/').any(|s| s.is_empty() || s == "." || s == "..");
    if bad {
        return Err(Error::UnsafeKey { key: rel.to_string(), reason: "not a plain relative path inside the directory".into() });
    }
    Ok(root.join(rel.trim_end_matches('/')))
}

/// Removes a checkpoint directory once its files are gone: deepest first, only empty real
/// directories; a file that appeared meanwhile leaves the directory in place, reported.
fn remove_empty_dirs(root: &Path, rel: &str) -> Result<()> {
    let dir = safe_join(root, rel)?;
    ensure_no_symlink_escape(root, &dir)?;
    let mut dirs: Vec<std::path::PathBuf> = Vec::new();
    for entry in walkdir::WalkDir::new(&dir).follow_links(false) {
        let entry = entry.map_err(|e| Error::LocalIo { path: dir.clone(), source: std::io::Error::other(e.to_string()) })?;
        if entry.file_type().is_dir() {
            dirs.push(entry.into_path());
        }
    }
    for d in dirs.iter().rev() {
        std::fs::remove_dir(d).map_err(|e| match e.kind() {
            std::io::ErrorKind::DirectoryNotEmpty => Error::LocalIo { path: d.clone(), source: std::io::Error::other("new files appeared in it; left in place") },
            _ => Error::io(d, e),
        })?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// S3

/// Deletes the `Delete` checkpoints of `plans` under `url` with DeleteObjects (batches of 1000,
/// [`DELETE_PARALLELISM`] at once). A failing batch or key is reported and the rest goes on.
pub async fn apply_s3(conn: &Connection, url: &S3Url, plans: &[Plan], sink: &dyn Sink) -> ApplyOutcome {
    let (job, started) = (next_job_id(), Instant::now());
    let prefix = url.dir_prefix();
    let doomed = to_delete(plans);
    let keys: Vec<String> = doomed.iter().flat_map(|c| c.files.iter().map(|f| format!("{prefix}{}", f.path))).collect();
    // Batches by start index, not over `keys.chunks(..)`: a closure taking a borrowed slice makes
    // the future not provably `Send` (rustc's higher-ranked lifetime limitation), and commands run
    // as spawned tasks.
    let batch = crate::s3::delete::BATCH;
    let failures: Vec<(String, ErrorInfo)> = futures::stream::iter((0..keys.len()).step_by(batch))
        .map(|start| delete_batch(conn, &url.bucket, &keys[start..(start + batch).min(keys.len())]))
        .buffer_unordered(DELETE_PARALLELISM)
        .flat_map(futures::stream::iter)
        .collect()
        .await;
    let mut out = ApplyOutcome { objects_deleted: (keys.len() - failures.len()) as u64, ..Default::default() };
    let failed_keys: BTreeSet<&str> = failures.iter().map(|(k, _)| k.as_str()).collect();
    for c in &doomed {
        if c.files.iter().all(|f| !failed_keys.contains(format!("{prefix}{}", f.path).as_str())) {
            deleted(&mut out, sink, c);
        }
    }
    let refs = keys.iter().filter(|k| crate::refs::logical_key(k).is_some() && !failed_keys.contains(k.as_str())).count();
    if refs > 0 {
        // Cleanup deletes references, never content objects (another reference may use them).
        let message = format!(
            "{refs} of the deleted objects were content references (--dedup=refs): their content stays in the run's .trainctl/content/; what no reference uses any more is listed by `trainctl s3 materialize s3://{}/{} --dry-run`",
            url.bucket, prefix
        );
        sink.send(Event::Notice { message });
    }
    for (key, error) in failures {
        sink.send(Event::ObjectFailed { job, key: key.clone(), error: error.clone() });
        out.failed.push((key, error));
    }
    finish(out, started, sink)
}

/// One DeleteObjects call; returns the keys that failed (all of them if the call itself did).
async fn delete_batch(conn: &Connection, bucket: &str, keys: &[String]) -> Vec<(String, ErrorInfo)> {
    match try_delete_batch(conn, bucket, keys).await {
        Ok(failed) => failed,
        Err(e) => {
            let info = e.info();
            keys.iter().map(|k| (k.clone(), info.clone())).collect()
        }
    }
}

async fn try_delete_batch(conn: &Connection, bucket: &str, keys: &[String]) -> Result<Vec<(String, ErrorInfo)>> {
    let failed = crate::s3::delete::delete_batch(conn, bucket, keys).await?;
    Ok(failed.into_iter().map(|(k, e)| (k, e.info())).collect())
}

// ---------------------------------------------------------------------------------------------
// Shared bookkeeping

/// Records a failure; returns false so callers can write `ok &= fail(…)`.
fn fail(out: &mut ApplyOutcome, sink: &dyn Sink, job: JobId, what: &str, e: Error) -> bool {
    let info = e.info();
    sink.send(Event::ObjectFailed { job, key: what.to_string(), error: info.clone() });
    out.failed.push((what.to_string(), info));
    false
}

fn deleted(out: &mut ApplyOutcome, sink: &dyn Sink, c: &Checkpoint) {
    out.checkpoints_deleted += 1;
    out.bytes_reclaimed += c.bytes;
    sink.send(Event::CheckpointDeleted { id: c.id.clone(), objects: c.files.len() as u64, bytes: c.bytes });
}

fn finish(mut out: ApplyOutcome, started: Instant, sink: &dyn Sink) -> ApplyOutcome {
    out.seconds = started.elapsed().as_secs_f64();
    sink.send(Event::CleanupFinished {
        checkpoints_deleted: out.checkpoints_deleted,
        objects_deleted: out.objects_deleted,
        objects_failed: out.failed.len() as u64,
        bytes_reclaimed: out.bytes_reclaimed,
        seconds: out.seconds,
    });
    out
}
