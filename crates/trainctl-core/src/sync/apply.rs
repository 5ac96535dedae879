//! Applying a plan: records first (no I/O), then the local conflict renames, then copies both
//! ways at once through the native engine (the only one that makes writes conditional), then
//! deletions — last, so an interrupted pass never deleted a file whose copy had not landed.
//! Every completed item is journalled as it completes.

use super::journal::{Journal, Record};
use super::plan::{Action, Plan};
use super::scan::local_entry;
use super::snapshot::{LocalEntry, RemoteEntry};
use crate::error::{Error, ErrorInfo, Result};
use crate::event::{Direction, Event, JobId, Sink};
use crate::s3::Connection;
use crate::transfer::local_write::DestDir;
use crate::transfer::native::NativeEngine;
use crate::transfer::safe_path::{ensure_no_symlink_escape, local_path_for_key};
use crate::transfer::{Engine, TransferItem, TransferJob, TransferOptions, WriteIf};
use futures::StreamExt;
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use tokio_util::sync::CancellationToken;

/// Deletions in flight at once.
const DELETE_PARALLEL: usize = 16;

/// One item of a pass that did not complete.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SyncFailure {
    pub path: String,
    pub error: ErrorInfo,
}

/// What a pass did.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "ts", ts(rename = "SyncDone"))]
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Done {
    pub uploaded: u64,
    pub downloaded: u64,
    pub deleted_local: u64,
    pub deleted_remote: u64,
    pub renamed: u64,
    pub recorded: u64,
    pub bytes_up: u64,
    pub bytes_down: u64,
    pub failed: Vec<SyncFailure>,
    /// Items refused because their destination changed during the pass (another writer, a file
    /// being written): decided by the next pass.
    pub changed_during: u64,
}

/// Where a pass writes.
pub struct Target<'a> {
    pub conn: &'a Connection,
    pub bucket: &'a str,
    pub prefix: &'a str,
    pub root: &'a Path,
    pub transfer: TransferOptions,
}

impl Target<'_> {
    fn key(&self, path: &str) -> String {
        format!("{}{path}", self.prefix)
    }

    fn local(&self, path: &str) -> Result<PathBuf> {
        let p = local_path_for_key(self.root, "", path.trim_end_matches('/'))?;
        if let Some(parent) = p.parent() {
            ensure_no_symlink_escape(self.root, parent)?;
        }
        Ok(p)
    }
}

/// Applies `plan`; returns what was done (failures are per item, in `Done::failed`). Only a
/// job-wide failure (cancelled, the endpoint gone) is an `Err`, after what completed was journalled.
/// The plan's `records` are moved into the journal (taken out of the plan, not copied: a first
/// pass over 100,000 identical files records 100,000 of them).
pub async fn apply(t: &Target<'_>, plan: &mut Plan, journal: &Journal, sink: &dyn Sink, cancel: &CancellationToken) -> Result<Done> {
    let done = Mutex::new(Done::default());
    for r in std::mem::take(&mut plan.records) {
        journal.append(r)?;
        done.lock().unwrap().recorded += 1;
    }
    let plan = &*plan;
    for a in &plan.actions {
        if let Action::RenameLocal { from, to, .. } = a {
            match rename_local(t, from, to) {
                Ok(()) => done.lock().unwrap().renamed += 1,
                Err(e) => fail(&done, from, &e),
            }
        }
    }
    let fatal = copy(t, plan, journal, sink, cancel, &done).await.err();
    if fatal.is_none() && !cancel.is_cancelled() {
        delete(t, plan, journal, &done, cancel).await;
    }
    match fatal {
        Some(e) => Err(e),
        None if cancel.is_cancelled() => Err(Error::Cancelled),
        None => Ok(done.into_inner().unwrap()),
    }
}

fn fail(done: &Mutex<Done>, path: &str, e: &Error) {
    let mut d = done.lock().unwrap();
    if matches!(e, Error::RemoteChanged { .. } | Error::LocalChanged { .. } | Error::SourceChanged { .. }) {
        d.changed_during += 1;
    }
    d.failed.push(SyncFailure { path: path.to_string(), error: e.info() });
}

/// A conflict's local version moves aside, never over anything (`RENAME_NOREPLACE`).
fn rename_local(t: &Target<'_>, from: &str, to: &str) -> Result<()> {
    let (src, dst) = (t.local(from)?, t.local(to)?);
    match rustix::fs::renameat_with(rustix::fs::CWD, &src, rustix::fs::CWD, &dst, rustix::fs::RenameFlags::NOREPLACE) {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::EXIST) => Err(Error::LocalChanged { path: dst }),
        Err(e) => Err(Error::io(&src, std::io::Error::from(e))),
    }
}

fn now_secs() -> Option<i64> {
    Some(crate::checkpoint::detect::now_secs())
}

/// Copies both ways at once: folders directly, files through two native-engine jobs.
async fn copy(t: &Target<'_>, plan: &Plan, journal: &Journal, sink: &dyn Sink, cancel: &CancellationToken, done: &Mutex<Done>) -> Result<()> {
    let mut up = TransferJob::new(Direction::Upload, t.bucket, t.root);
    let mut down = TransferJob::new(Direction::Download, t.bucket, t.root);
    let mut uploads: HashMap<String, &LocalEntry> = HashMap::new();
    let mut downloads: HashMap<String, &RemoteEntry> = HashMap::new();
    for a in &plan.actions {
        match a {
            Action::Upload { path, src, write_if, .. } if path.ends_with('/') => match put_marker(t, path, write_if).await {
                Ok(etag) => {
                    journal.append(Record { path: path.clone(), local: Some(src.clone()), remote: Some(RemoteEntry { path: path.clone(), size: 0, etag, mtime: now_secs() }) })?;
                    done.lock().unwrap().uploaded += 1;
                }
                Err(e) => fail(done, path, &e),
            },
            Action::Download { path, src, .. } if path.ends_with('/') => match make_dir(t, path) {
                Ok(local) => {
                    journal.append(Record { path: path.clone(), local: Some(local), remote: Some(src.clone()) })?;
                    done.lock().unwrap().downloaded += 1;
                }
                Err(e) => fail(done, path, &e),
            },
            Action::Upload { path, src, write_if, .. } => match t.local(path) {
                Ok(local) => {
                    up.items.push(TransferItem { local, key: t.key(path), size: src.size, etag: None, write_if: Some(write_if.clone()) });
                    uploads.insert(t.key(path), src);
                }
                Err(e) => fail(done, path, &e),
            },
            Action::Download { path, src, write_if, .. } => match t.local(path) {
                Ok(local) => {
                    let etag = Some(format!("\"{}\"", src.etag));
                    down.items.push(TransferItem { local, key: t.key(path), size: src.size, etag, write_if: Some(write_if.clone()) });
                    downloads.insert(t.key(path), src);
                }
                Err(e) => fail(done, path, &e),
            },
            _ => {}
        }
    }
    let js = JournalSink { inner: sink, journal, prefix: t.prefix, root: t.root, up: up.id, uploads, downloads, done, error: Mutex::new(None) };
    let engine = NativeEngine::new(t.conn.clone());
    let run = |job: TransferJob| {
        let (engine, js, opts) = (&engine, &js, &t.transfer);
        async move {
            if job.items.is_empty() {
                return Ok(());
            }
            engine.run(&job, opts, js, cancel.child_token()).await.map(|_| ())
        }
    };
    let (a, b) = tokio::join!(run(up), run(down));
    if let Some(e) = js.error.lock().unwrap().take() {
        return Err(e);
    }
    a.and(b)
}

/// Folds engine events into the journal, and passes them on.
struct JournalSink<'a> {
    inner: &'a dyn Sink,
    journal: &'a Journal,
    prefix: &'a str,
    root: &'a Path,
    up: JobId,
    uploads: HashMap<String, &'a LocalEntry>,
    downloads: HashMap<String, &'a RemoteEntry>,
    done: &'a Mutex<Done>,
    /// A journal write that failed (the pass must stop: what completes would not be recorded).
    error: Mutex<Option<Error>>,
}

impl Sink for JournalSink<'_> {
    fn send(&self, event: Event) {
        match &event {
            Event::ObjectDone { job, key, etag, bytes, .. } => {
                let path = key.strip_prefix(self.prefix).unwrap_or(key).to_string();
                let record = if *job == self.up { self.uploaded(&path, key, etag.as_deref(), *bytes) } else { self.downloaded(&path, key, *bytes) };
                if let Some(r) = record {
                    if let Err(e) = self.journal.append(r) {
                        self.error.lock().unwrap().get_or_insert(e);
                    }
                }
            }
            Event::ObjectFailed { key, error, .. } | Event::ObjectRejected { key, error, .. } => {
                let path = key.strip_prefix(self.prefix).unwrap_or(key).to_string();
                let mut d = self.done.lock().unwrap();
                if ["remote_changed", "local_changed", "source_changed"].contains(&error.code.as_str()) {
                    d.changed_during += 1;
                }
                d.failed.push(SyncFailure { path, error: error.clone() });
            }
            _ => {}
        }
        self.inner.send(event);
    }
}

impl JournalSink<'_> {
    fn uploaded(&self, path: &str, key: &str, etag: Option<&str>, bytes: u64) -> Option<Record> {
        let src = *self.uploads.get(key)?;
        let etag = etag?.trim_matches('"').to_string();
        let remote = RemoteEntry { path: path.into(), size: src.size, etag, mtime: now_secs() };
        let local = LocalEntry { path: path.into(), md5: remote.md5(), ..src.clone() };
        let mut d = self.done.lock().unwrap();
        (d.uploaded, d.bytes_up) = (d.uploaded + 1, d.bytes_up + bytes);
        Some(Record { path: path.into(), local: Some(local), remote: Some(remote) })
    }

    /// The file as it landed (read right after its rename) with the object it came from.
    fn downloaded(&self, path: &str, key: &str, bytes: u64) -> Option<Record> {
        let src = *self.downloads.get(key)?;
        let file = local_path_for_key(self.root, "", path).ok()?;
        let m = std::fs::symlink_metadata(&file).ok().filter(|m| m.is_file() && m.len() == src.size)?;
        let local = LocalEntry { md5: src.md5(), ..local_entry(path.into(), &m) };
        let mut d = self.done.lock().unwrap();
        (d.downloaded, d.bytes_down) = (d.downloaded + 1, d.bytes_down + bytes);
        Some(Record { path: path.into(), local: Some(local), remote: Some(src.clone()) })
    }
}

/// An empty folder's marker object (`x/`), created only if still absent.
async fn put_marker(t: &Target<'_>, path: &str, write_if: &WriteIf) -> Result<String> {
    let key = t.key(path);
    let q = crate::config::quirks::get_or_other(&t.conn.profile.provider);
    let cond = matches!(write_if, WriteIf::Absent);
    if cond && !q.conditional_put && head_etag(t, &key).await?.is_some() {
        return Err(Error::RemoteChanged { bucket: t.bucket.into(), key });
    }
    let req = t.conn.client.put_object().bucket(t.bucket).key(&key).set_if_none_match(cond.then(|| "*".to_string())).body(Vec::new().into());
    match req.send().await {
        Ok(out) => Ok(out.e_tag().unwrap_or_default().trim_matches('"').to_string()),
        Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 412) => Err(Error::RemoteChanged { bucket: t.bucket.into(), key }),
        Err(e) => Err(crate::s3::errors::map_sdk_error(e, &t.conn.ctx().bucket(t.bucket).key(&key))),
    }
}

/// A folder created below the root without following links.
fn make_dir(t: &Target<'_>, path: &str) -> Result<LocalEntry> {
    let dir = t.local(path)?;
    DestDir::open(t.root, &dir)?;
    let m = std::fs::symlink_metadata(&dir).map_err(|e| Error::io(&dir, e))?;
    Ok(LocalEntry { path: path.into(), size: 0, mtime_ns: 0, ino: std::os::unix::fs::MetadataExt::ino(&m), md5: None })
}

async fn head_etag(t: &Target<'_>, key: &str) -> Result<Option<String>> {
    match t.conn.client.head_object().bucket(t.bucket).key(key).send().await {
        Ok(h) => Ok(Some(h.e_tag().unwrap_or_default().trim_matches('"').to_string())),
        Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => Ok(None),
        Err(e) => Err(crate::s3::errors::map_sdk_error(e, &t.conn.ctx().bucket(t.bucket).key(key))),
    }
}

/// Deletions, each only if its target is still what the plan saw.
async fn delete(t: &Target<'_>, plan: &Plan, journal: &Journal, done: &Mutex<Done>, cancel: &CancellationToken) {
    let remote: Vec<(&str, &str)> = plan.actions.iter().filter_map(|a| match a {
        Action::DeleteRemote { path, etag, .. } => Some((path.as_str(), etag.as_str())),
        _ => None,
    }).collect();
    // By index: a closure over borrowed tuples trips the `Send` check of spawned passes.
    let remote = &remote;
    let results: Vec<(&str, Result<()>)> = futures::stream::iter(0..remote.len())
        .map(|i| async move {
            let (path, etag) = remote[i];
            (path, if cancel.is_cancelled() { Err(Error::Cancelled) } else { delete_remote(t, path, etag).await })
        })
        .buffer_unordered(DELETE_PARALLEL)
        .collect()
        .await;
    for (path, r) in results {
        match r.and_then(|_| journal.append(Record { path: path.into(), local: None, remote: None })) {
            Ok(()) => done.lock().unwrap().deleted_remote += 1,
            Err(Error::Cancelled) => {}
            Err(e) => fail(done, path, &e),
        }
    }
    for a in &plan.actions {
        if let Action::DeleteLocal { path, expect, .. } = a {
            match delete_local(t, path, expect).and_then(|_| journal.append(Record { path: path.clone(), local: None, remote: None })) {
                Ok(()) => done.lock().unwrap().deleted_local += 1,
                Err(e) => fail(done, path, &e),
            }
        }
    }
}

/// Deletes the object if its ETag is still `etag` (a HEAD right before; an object already gone
/// counts as deleted).
async fn delete_remote(t: &Target<'_>, path: &str, etag: &str) -> Result<()> {
    let key = t.key(path);
    match head_etag(t, &key).await? {
        None => return Ok(()),
        Some(now) if now != etag => return Err(Error::RemoteChanged { bucket: t.bucket.into(), key }),
        Some(_) => {}
    }
    t.conn.client.delete_object().bucket(t.bucket).key(&key).send().await.map_err(|e| crate::s3::errors::map_sdk_error(e, &t.conn.ctx().bucket(t.bucket).key(&key)))?;
    Ok(())
}

/// Deletes the local file if it is still the one the plan saw, then the folders it leaves empty
/// (S3 has no empty folders to mirror).
fn delete_local(t: &Target<'_>, path: &str, expect: &LocalEntry) -> Result<()> {
    let p = t.local(path)?;
    if path.ends_with('/') {
        let _ = std::fs::remove_dir(&p);
    } else {
        match std::fs::symlink_metadata(&p) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::io(&p, e)),
            Ok(m) if !m.is_file() || !local_entry(path.into(), &m).same_as(expect) => return Err(Error::LocalChanged { path: p }),
            Ok(_) => std::fs::remove_file(&p).map_err(|e| Error::io(&p, e))?,
        }
    }
    let mut dir = p.parent();
    while let Some(d) = dir.filter(|d| *d != t.root && d.starts_with(t.root)) {
        if std::fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
    Ok(())
}
