//! Committing verified downloads in batches: one sync of the filesystem for many files instead
//! of one `fdatasync` (one journal commit) each.
//!
//! A job hands every verified temp file to its [`Committer`]. A worker thread gathers what is
//! waiting into a batch (at most [`BATCH_FILES`] files or [`BATCH_BYTES`] bytes, waiting at most
//! [`BATCH_GAP`] for a next file and [`BATCH_WAIT`] in all), then, in this order:
//!
//! 1. checks each file's size on its handle (a short file fails alone, its temp removed);
//! 2. makes every file of the batch durable with one `syncfs(2)` per filesystem touched (the
//!    files are on disk, data and size, before any of them gets its final name; a sync that
//!    fails fails the whole batch, and every temp of it is removed);
//! 3. renames them onto their final names, one folder lock per folder (the two-way-sync
//!    condition, `WriteIf`, checked per file under the lock), and answers each file.
//!
//! The renames of one batch are made durable by the next batch's sync (it commits the
//! filesystem's journal, which holds them), and those of the last batch by the job's folder
//! fsync at the end ([`Folders::sync_all`](super::Folders::sync_all)).
//!
//! **Why this keeps "complete or absent" across a crash.** A final name is only ever given to a
//! file whose bytes and size were durable before the rename was issued (step 2 returns before
//! step 3 starts), so whatever subset of renames a crash keeps, each name it keeps points at a
//! complete, verified file; each it loses still holds what it held before (the old file, or
//! nothing), with the complete temp file next to it. That is the same argument as with one
//! `fdatasync` per file — the order "data durable, then rename" holds for every file — only
//! the moment of durability is shared. What a crash can lose is at most the batches not yet
//! answered (their temp files, `.<16 hex>.trainctl-part`, stay behind, as with per-file commits,
//! and the next run downloads those objects again) plus the renames of the last synced batch;
//! nothing answered as done by a job that finished is lost, because the job fsyncs its folders
//! before it reports the end.
//!
//! `syncfs` also writes out other processes' dirty data on the same filesystem (bounded by the
//! kernel's dirty limits, and work the kernel would do within 30 s anyway) — and waits for it.
//! That is worth it for many small files, not for a few large ones: a batch of at most
//! [`OWN_SYNC_FILES`] files syncs each file alone (`fdatasync`), so a 2 GiB checkpoint that is
//! already on the disk (written direct, `super::direct`) does not wait for a training job's
//! or a compiler's unwritten output on the same disk (up to the kernel's dirty limit — 20 % of
//! memory by default, gigabytes on a training box). Downloads start the writeback of each
//! file as it arrives (`start_writeback`), so by the time a batch is synced little of its own
//! data is left to write. Where `syncfs` does not exist, each file gets its own `fdatasync`.

use super::{io, FolderLock, TempFile};
use crate::error::{Error, Result};
use crate::transfer::WriteIf;
use std::ffi::OsString;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Most files in one batch.
pub const BATCH_FILES: usize = 128;
/// Most bytes in one batch (once reached, no further file joins it).
pub const BATCH_BYTES: u64 = 256 * 1024 * 1024;
/// Batches of at most this many files are made durable file by file (`fdatasync`), not with a
/// `syncfs` that would also wait for other processes' dirty data.
pub const OWN_SYNC_FILES: usize = 4;
/// How long the worker waits for a next file before it syncs what it has.
const BATCH_GAP: Duration = Duration::from_millis(10);
/// How long a batch waits for files in all, from its first one.
const BATCH_WAIT: Duration = Duration::from_millis(100);

/// One verified temp file waiting for its final name.
struct Pending {
    temp: TempFile,
    name: OsString,
    size: u64,
    write_if: Option<WriteIf>,
    reply: tokio::sync::oneshot::Sender<Result<()>>,
}

/// A job's batch committer: a worker thread that commits what [`commit`](Committer::commit)
/// hands it, in batches (see the module documentation). [`close`](Committer::close) it before
/// fsyncing the job's folders.
pub struct Committer {
    queue: Mutex<Option<Sender<Pending>>>,
    worker: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Default for Committer {
    fn default() -> Self {
        Self::start()
    }
}

impl std::fmt::Debug for Committer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Committer")
    }
}

impl Committer {
    /// Starts the worker thread.
    pub fn start() -> Committer {
        let (tx, rx) = std::sync::mpsc::channel();
        let worker = std::thread::Builder::new().name("trainctl-commit".into()).spawn(move || work(rx)).ok();
        Committer { queue: Mutex::new(worker.is_some().then_some(tx)), worker: Mutex::new(worker) }
    }

    /// A committer without a worker (for jobs that write no files): a file handed to it is
    /// committed alone ([`TempFile::commit_if`]).
    pub fn closed() -> Committer {
        Committer { queue: Mutex::new(None), worker: Mutex::new(None) }
    }

    /// Commits `temp` as `name` in its folder once its batch is durable: `Ok` when the final
    /// name holds the complete file. On error the temp file is removed. `write_if`: what the
    /// destination must still be, checked right before the rename ([`TempFile::commit_if`]).
    pub async fn commit(&self, temp: TempFile, name: OsString, size: u64, write_if: Option<WriteIf>) -> Result<()> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let pending = Pending { temp, name, size, write_if, reply };
        let sent = match self.queue.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            Some(queue) => queue.send(pending).map_err(|e| e.0),
            None => Err(pending),
        };
        if let Err(p) = sent {
            // No worker (it could not be started, or the committer is closed): commit alone.
            let Pending { temp, name, size, write_if, .. } = p;
            return tokio::task::spawn_blocking(move || temp.commit_if(&name, size, write_if.as_ref())).await.map_err(|e| Error::Internal(format!("commit task: {e}")))?;
        }
        answer.await.map_err(|_| Error::Internal("the commit worker stopped".into()))?
    }

    /// Stops taking files and waits until every file handed over is committed or refused.
    pub async fn close(&self) {
        drop(self.queue.lock().unwrap_or_else(|p| p.into_inner()).take());
        let worker = self.worker.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(worker) = worker {
            let _ = tokio::task::spawn_blocking(move || worker.join()).await;
        }
    }
}

impl Drop for Committer {
    fn drop(&mut self) {
        // The worker ends on its own once the queue is closed and what is in it is committed.
        drop(self.queue.lock().unwrap_or_else(|p| p.into_inner()).take());
    }
}

fn work(queue: Receiver<Pending>) {
    while let Ok(first) = queue.recv() {
        commit_batch(gather(first, &queue));
    }
}

/// The batch that starts with `first`: whatever else arrives within the limits.
fn gather(first: Pending, queue: &Receiver<Pending>) -> Vec<Pending> {
    let started = Instant::now();
    let mut bytes = first.size;
    let mut batch = vec![first];
    while batch.len() < BATCH_FILES && bytes < BATCH_BYTES {
        let left = BATCH_WAIT.saturating_sub(started.elapsed());
        match queue.recv_timeout(left.min(BATCH_GAP)) {
            Ok(p) => {
                bytes += p.size;
                batch.push(p);
            }
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
        }
    }
    batch
}

/// Size check, one sync per filesystem, renames (see the module documentation). Every pending
/// file is answered; the ones that fail drop their temp file, which removes it.
fn commit_batch(batch: Vec<Pending>) {
    let mut sized = Vec::with_capacity(batch.len());
    for p in batch {
        match p.temp.check_size(&p.name, p.size) {
            Ok(()) => sized.push(p),
            Err(e) => answer(p, Err(e)),
        }
    }
    if let Err((path, e)) = make_durable(&sized) {
        for p in sized {
            answer(p, Err(io(&path, e)));
        }
        return;
    }
    // One lock per folder, held while that folder's files are renamed.
    let mut by_folder: Vec<(Arc<super::DestDir>, Vec<Pending>)> = Vec::new();
    for p in sized {
        match by_folder.iter_mut().find(|(d, _)| Arc::ptr_eq(d, p.temp.dir())) {
            Some((_, v)) => v.push(p),
            None => by_folder.push((p.temp.dir().clone(), vec![p])),
        }
    }
    for (dir, files) in by_folder {
        match FolderLock::acquire_raw(&dir) {
            Ok(lock) => {
                for p in files {
                    let Pending { temp, name, write_if, reply, .. } = p;
                    let _ = reply.send(temp.rename_locked(&name, write_if.as_ref(), &lock));
                }
            }
            Err(e) => files.into_iter().for_each(|p| answer(p, Err(io(dir.path(), e)))),
        }
    }
}

fn answer(p: Pending, result: Result<()>) {
    // The temp file goes with `p` (removed unless renamed); a job that stopped waiting for the
    // answer does not need it.
    let _ = p.reply.send(result);
}

/// Makes the data and size of every file durable: one `syncfs` per filesystem among their
/// folders; `fdatasync` of each file for a batch of at most [`OWN_SYNC_FILES`] or where
/// `syncfs` is not available. The error names a path.
fn make_durable(files: &[Pending]) -> std::result::Result<(), (std::path::PathBuf, rustix::io::Errno)> {
    if files.len() <= OWN_SYNC_FILES {
        return each_fdatasync(files);
    }
    let mut synced: Vec<u64> = Vec::new();
    for p in files {
        let dir = p.temp.dir();
        if synced.contains(&dir.dev) {
            continue;
        }
        match syncfs(dir) {
            Ok(()) => synced.push(dir.dev),
            Err(rustix::io::Errno::NOSYS) => return each_fdatasync(files),
            Err(e) => return Err((dir.path().to_path_buf(), e)),
        }
    }
    Ok(())
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn syncfs(dir: &super::DestDir) -> rustix::io::Result<()> {
    rustix::fs::syncfs(&dir.fd)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn syncfs(_dir: &super::DestDir) -> rustix::io::Result<()> {
    Err(rustix::io::Errno::NOSYS)
}

fn each_fdatasync(files: &[Pending]) -> std::result::Result<(), (std::path::PathBuf, rustix::io::Errno)> {
    for p in files {
        rustix::fs::fdatasync(p.temp.file().as_ref()).map_err(|e| (p.temp.path(), e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transfer::local_write::DestDir;
    use std::os::unix::fs::FileExt;

    fn temp_with(dir: &Arc<DestDir>, bytes: &[u8]) -> TempFile {
        let t = dir.create_temp().unwrap();
        t.file().write_all_at(bytes, 0).unwrap();
        t
    }

    #[tokio::test]
    async fn a_failure_mid_batch_leaves_only_complete_files_under_final_names() {
        let root = tempfile::tempdir().unwrap();
        let a = Arc::new(DestDir::open(root.path(), &root.path().join("a")).unwrap());
        let b = Arc::new(DestDir::open(root.path(), &root.path().join("b")).unwrap());
        std::fs::write(root.path().join("b/taken"), b"someone else's").unwrap();
        let committer = Committer::start();
        // One batch (handed over together): good files in two folders, a short one, and one
        // whose destination appeared since the plan (two-way sync's `WriteIf::Absent`).
        let jobs = vec![
            (temp_with(&a, b"one"), "one", 3, None),
            (temp_with(&a, b"tw"), "two", 3, None),
            (temp_with(&b, b"three"), "three", 5, None),
            (temp_with(&b, b"mine"), "taken", 4, Some(WriteIf::Absent)),
            (temp_with(&a, b"four"), "four", 4, Some(WriteIf::Absent)),
        ];
        let results = futures::future::join_all(jobs.into_iter().map(|(t, n, size, cond)| committer.commit(t, n.into(), size, cond))).await;
        committer.close().await;
        assert!(results[0].is_ok() && results[2].is_ok() && results[4].is_ok(), "{results:?}");
        assert!(matches!(results[1], Err(Error::Integrity { .. })), "{:?}", results[1]);
        assert!(matches!(results[3], Err(Error::LocalChanged { .. })), "{:?}", results[3]);
        let listing = |d: &str| {
            let mut v: Vec<String> = std::fs::read_dir(root.path().join(d)).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
            v.sort();
            v
        };
        assert_eq!(listing("a"), ["four", "one"], "no temp file left, nothing under the short file's name");
        assert_eq!(listing("b"), ["taken", "three"]);
        assert_eq!(std::fs::read(root.path().join("a/one")).unwrap(), b"one");
        assert_eq!(std::fs::read(root.path().join("a/four")).unwrap(), b"four");
        assert_eq!(std::fs::read(root.path().join("b/three")).unwrap(), b"three");
        assert_eq!(std::fs::read(root.path().join("b/taken")).unwrap(), b"someone else's", "a changed destination is left alone");
    }

    #[tokio::test]
    async fn files_are_batched_and_a_closed_committer_commits_alone() {
        let root = tempfile::tempdir().unwrap();
        let dir = Arc::new(DestDir::open(root.path(), root.path()).unwrap());
        let (tx, rx) = std::sync::mpsc::channel();
        let mut answers = Vec::new();
        for i in 0..BATCH_FILES + 3 {
            let (reply, answer) = tokio::sync::oneshot::channel();
            tx.send(Pending { temp: temp_with(&dir, b"x"), name: format!("f{i}").into(), size: 1, write_if: None, reply }).unwrap();
            answers.push(answer);
        }
        drop(tx);
        let first = rx.recv().unwrap();
        let batch = gather(first, &rx);
        assert_eq!(batch.len(), BATCH_FILES, "a batch stops at its file limit");
        commit_batch(batch);
        commit_batch(gather(rx.recv().unwrap(), &rx));
        for a in answers {
            a.await.unwrap().unwrap();
        }
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), BATCH_FILES + 3);

        let closed = Committer::closed();
        closed.commit(temp_with(&dir, b"yz"), "alone".into(), 2, None).await.unwrap();
        assert_eq!(std::fs::read(root.path().join("alone")).unwrap(), b"yz");
    }
}
