//! The native engine: transfers through aws-sdk-s3, without a child process.
//!
//! Used when s5cmd is missing or unsuitable, and the one engine that can resume an interrupted
//! multipart upload. Objects run in parallel, and so do the parts of a large object; one
//! semaphore of `opts.concurrency` permits is shared by every request (PutObject, UploadPart,
//! ranged GET), so the number of requests in flight stays bounded however objects and parts mix.
//!
//! Nothing half-done is ever visible: uploads complete a multipart upload only when every part
//! is there, downloads write to a private temp file that is verified before it is renamed
//! (`transfer::local_write`).

mod body;
mod download;
mod resume;
mod sdk;
mod upload;

use crate::error::{Error, Result};
use crate::event::{Direction, Event, Sink};
use crate::s3::Connection;
use crate::transfer::progress::Tracker;
use crate::transfer::{Engine, Outcome, TransferItem, TransferJob, TransferOptions};
use futures::StreamExt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

pub use resume::state_dir;

/// S3's minimum size of every part but the last.
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
/// S3's maximum number of parts of one upload.
pub const MAX_PARTS: u64 = 10_000;
/// How often byte counts are turned into progress events.
const PUMP_INTERVAL: Duration = Duration::from_millis(50);

/// The aws-sdk-s3 transfer engine. Cheap to clone; counters are shared between clones.
#[derive(Clone)]
pub struct NativeEngine {
    conn: Connection,
    stats: Arc<EngineStats>,
}

/// Request counters, so callers (benchmarks, tests) can see what the engine actually did —
/// e.g. that a resumed upload sent only the missing parts.
#[derive(Debug, Default)]
pub struct EngineStats {
    /// `UploadPart` requests that succeeded.
    pub parts_uploaded: AtomicU64,
    /// Parts found already on the server when resuming, and not sent again.
    pub parts_resumed: AtomicU64,
    /// `PutObject` requests that succeeded.
    pub objects_put: AtomicU64,
    /// `GetObject` requests (whole or ranged) that succeeded.
    pub gets: AtomicU64,
    /// Download bodies that broke and were continued with a ranged GET for the missing bytes.
    pub range_retries: AtomicU64,
    /// Multipart uploads aborted after a failure that resume could not use (the file changed,
    /// the server refused a part).
    pub uploads_aborted: AtomicU64,
}

impl NativeEngine {
    pub fn new(conn: Connection) -> Self {
        NativeEngine { conn, stats: Arc::default() }
    }

    /// Counters of requests made by this engine (all jobs, all clones).
    pub fn stats(&self) -> &EngineStats {
        &self.stats
    }
}

/// Everything one job's transfers share.
struct Ctx<'a> {
    conn: &'a Connection,
    job: &'a TransferJob,
    opts: &'a TransferOptions,
    permits: Arc<Semaphore>,
    /// Bytes moved since the last pump; turned into progress by [`pump_progress`].
    moved: body::Counter,
    cancel: CancellationToken,
    sink: &'a dyn Sink,
    stats: &'a EngineStats,
    /// Whether the job already said that some download could only be checked by size.
    size_only_noticed: std::sync::atomic::AtomicBool,
    /// Download folders of this job (opened once each, fsynced once at the end).
    folders: Arc<crate::transfer::local_write::Folders>,
    /// Commits this job's verified downloads, in batches.
    committer: crate::transfer::local_write::Committer,
    /// Memory (MiB) compressed uploads may hold at once (`upload::compressed::JOB_MEMORY_MIB`).
    compress_memory: Semaphore,
    /// Compressed uploads done: original and compressed bytes.
    compressed: [AtomicU64; 2],
    /// `--compress auto`: the link as the job's compressed uploads measured it and the share of
    /// fast blocks the last one ended with — where the next file starts (`codec::pace`).
    pace_carry: std::sync::Mutex<(crate::codec::pace::Link, f64)>,
    /// What each compressed upload measured and chose (`Outcome::compression`).
    compression: std::sync::Mutex<Vec<crate::transfer::compress::CompressionReport>>,
    /// The aligned blocks of the job's direct writes (`local_write::direct`).
    blocks: Arc<crate::transfer::local_write::direct::Blocks>,
}

impl Ctx<'_> {
    /// Waits for a request slot, or for cancellation.
    async fn permit(&self) -> Result<OwnedSemaphorePermit> {
        tokio::select! {
            biased;
            _ = self.cancel.cancelled() => Err(Error::Cancelled),
            p = self.permits.clone().acquire_owned() => p.map_err(|_| Error::Internal("request semaphore closed".into())),
        }
    }

    /// Runs `fut` unless cancelled first (dropping it aborts the request).
    async fn cancellable<T>(&self, fut: impl Future<Output = Result<T>>) -> Result<T> {
        tokio::select! {
            biased;
            _ = self.cancel.cancelled() => Err(Error::Cancelled),
            r = fut => r,
        }
    }

    fn add_bytes(&self, n: u64) {
        self.moved.fetch_add(n, Ordering::Relaxed);
    }

    fn endpoint(&self) -> String {
        sdk::endpoint_name(self.conn)
    }

    /// Says once per job that downloads fell back to a size-only check, and why.
    fn notice_size_only(&self, key: &str, reason: &str) {
        if !self.size_only_noticed.swap(true, Ordering::Relaxed) {
            self.notice(format!("s3://{}/{key} (and possibly others) verified by size only: {reason}", self.job.bucket));
        }
    }

    fn notice(&self, message: String) {
        self.sink.send(Event::Notice { message });
    }
}

#[async_trait::async_trait]
impl Engine for NativeEngine {
    fn name(&self) -> &'static str {
        "native"
    }

    /// Compressed items are compressed as their parts are sent (`upload::compressed`).
    fn compresses_uploads(&self, _job: &TransferJob) -> bool {
        true
    }

    async fn run(&self, job: &TransferJob, opts: &TransferOptions, sink: &dyn Sink, cancel: CancellationToken) -> Result<Outcome> {
        let tracker = Tracker::new(job.id, job.bytes_total(), job.items.len() as u64);
        super::announce(job, sink, self.name());
        let ctx = Ctx {
            conn: &self.conn,
            job,
            opts,
            permits: Arc::new(Semaphore::new(opts.concurrency.max(1))),
            moved: body::Counter::default(),
            cancel: cancel.child_token(),
            sink,
            stats: &self.stats,
            size_only_noticed: Default::default(),
            folders: Arc::default(),
            committer: crate::transfer::local_write::Committer::start(),
            compress_memory: Semaphore::new(upload::compressed::JOB_MEMORY_MIB as usize),
            compressed: Default::default(),
            pace_carry: Default::default(),
            compression: Default::default(),
            blocks: Arc::default(),
        };
        let (outcome, fatal) = tokio::select! {
            r = run_items(&ctx, &tracker) => r,
            _ = pump_progress(&ctx, &tracker) => unreachable!("the pump never ends"),
        };
        flush_progress(&ctx, &tracker);
        notice_compressed(&ctx);
        ctx.committer.close().await;
        if let Err(e) = ctx.folders.sync_all_async().await {
            sink.send(Event::Notice { message: format!("the downloaded files are in place, but flushing their folder to disk failed: {e}") });
        }
        tracker.finish(sink);
        let compression = std::mem::take(&mut *ctx.compression.lock().unwrap_or_else(|p| p.into_inner()));
        let outcome = Outcome { bytes_done: tracker.bytes_done(), seconds: tracker.elapsed().as_secs_f64(), compression, ..outcome };
        super::announce_finished(job, &outcome, sink);
        match fatal {
            Some(e) => Err(e),
            None if cancel.is_cancelled() => Err(Error::Cancelled),
            None => Ok(outcome),
        }
    }
}

/// Says what compressed uploads saved (the staged path of other engines says the same).
fn notice_compressed(ctx: &Ctx<'_>) {
    let [before, after] = [0, 1].map(|i| ctx.compressed[i].load(Ordering::Relaxed));
    if before > 0 {
        let (b, a) = (humansize::format_size(before, humansize::BINARY), humansize::format_size(after, humansize::BINARY));
        ctx.notice(format!("compressed {b} to {a} ({:.2}x smaller) as it was uploaded", before as f64 / after.max(1) as f64));
    }
}

/// Verified downloads waiting for their commit at most, per job. Commits run outside the
/// request slots — a slot is free for the next GET as soon as a file is verified — in batches
/// of up to [`BATCH_FILES`](crate::transfer::local_write::BATCH_FILES) sharing one sync
/// (`local_write::Committer`); twice that many may wait, so the next batch fills while one is
/// synced. The bound keeps open files and unflushed bytes in check when the disk is slower than
/// the network.
const MAX_COMMITTING: usize = 2 * crate::transfer::local_write::BATCH_FILES;

/// Downloads that may be finishing their last write beyond the `concurrency` fetching: a file
/// fetched in one GET gives its request slot back once its body has arrived
/// (`download::BlockWriter`), so the next GET starts while its last block goes to disk. Also
/// bounds the direct-write blocks of a job: one per request slot and one per settling file.
const SETTLING: usize = 4;

/// What became of one item's transfer.
enum Step {
    /// Complete (uploads), with the new object's ETag when known.
    Done(Option<String>),
    /// Downloaded and verified; complete once committed.
    Fetched(download::Fetched),
}

/// Transfers every item, at most `concurrency` objects at a time (their commits aside, see
/// [`MAX_COMMITTING`]). Returns the outcome and the first fatal error, if any (which also stops
/// the remaining items).
async fn run_items(ctx: &Ctx<'_>, tracker: &Tracker) -> (Outcome, Option<Error>) {
    let mut outcome = Outcome::planned(ctx.job);
    let mut fatal = None;
    // By index: a closure over `&TransferItem` trips the `Send` check of `async_trait`.
    let mut results = futures::stream::iter(0..ctx.job.items.len())
        .map(|i| async move { (&ctx.job.items[i], transfer_one(ctx, &ctx.job.items[i]).await) })
        .buffer_unordered(ctx.opts.concurrency.max(1) + if ctx.job.direction == Direction::Download { SETTLING } else { 0 });
    let mut committing = futures::stream::FuturesUnordered::new();
    let mut fetching = true;
    loop {
        let (item, result) = tokio::select! {
            next = results.next(), if fetching && committing.len() < MAX_COMMITTING => match next {
                Some((item, Ok(Step::Fetched(f)))) => {
                    committing.push(async move { (item, f.commit(&ctx.committer).await) });
                    continue;
                }
                Some((item, Ok(Step::Done(etag)))) => (item, Ok(etag)),
                Some((item, Err(e))) => (item, Err(e)),
                None => {
                    fetching = false;
                    continue;
                }
            },
            Some(done) = committing.next(), if !committing.is_empty() => done,
            else => break,
        };
        match result {
            Ok(etag) => {
                outcome.done += 1;
                tracker.object_done(ctx.sink);
                let local = item.local.display().to_string();
                ctx.sink.send(Event::ObjectDone { job: ctx.job.id, key: item.key.clone(), local, bytes: item.size, etag });
            }
            Err(e) if e.scope().ends_job() => {
                if fatal.is_none() && !matches!(e, Error::Cancelled) {
                    fatal = Some(e);
                }
                ctx.cancel.cancel();
            }
            Err(e) => {
                ctx.sink.send(Event::ObjectFailed { job: ctx.job.id, key: item.key.clone(), error: e.info() });
                outcome.failed.push((item.key.clone(), e.info()));
            }
        }
    }
    (outcome, fatal)
}

/// Moves one item: an upload is done (with the new object's ETag when known, see
/// `Event::ObjectDone`); a download is fetched and verified, waiting for its commit.
async fn transfer_one(ctx: &Ctx<'_>, item: &TransferItem) -> Result<Step> {
    if ctx.cancel.is_cancelled() {
        return Err(Error::Cancelled);
    }
    match ctx.job.direction {
        Direction::Upload => upload::upload(ctx, item).await.map(Step::Done),
        Direction::Download => download::download(ctx, item).await.map(Step::Fetched),
    }
}

async fn pump_progress(ctx: &Ctx<'_>, tracker: &Tracker) {
    loop {
        tokio::time::sleep(PUMP_INTERVAL).await;
        flush_progress(ctx, tracker);
    }
}

fn flush_progress(ctx: &Ctx<'_>, tracker: &Tracker) {
    let n = ctx.moved.swap(0, Ordering::Relaxed);
    if n > 0 {
        tracker.add_bytes(n, ctx.sink);
    }
}

/// The part size actually used for an object of `size` bytes: the requested one, raised to
/// S3's minimum and to what keeps the object within [`MAX_PARTS`] parts.
pub fn effective_part_size(requested: u64, size: u64) -> u64 {
    requested.max(MIN_PART_SIZE).max(size.div_ceil(MAX_PARTS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_size_respects_s3_limits() {
        assert_eq!(effective_part_size(1024, 100), MIN_PART_SIZE);
        assert_eq!(effective_part_size(8 << 20, 100 << 20), 8 << 20);
        let huge = 1u64 << 40; // 1 TiB
        assert!(huge.div_ceil(effective_part_size(8 << 20, huge)) <= MAX_PARTS);
    }
}
