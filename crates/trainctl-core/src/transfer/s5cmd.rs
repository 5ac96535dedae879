//! The s5cmd engine: runs a planned [`TransferJob`] through one `s5cmd run <batchfile>` child
//! process — the fastest mover of many objects — while keeping trainctl's guarantees:
//!
//! - **exactly the plan**: one `cp --raw` line per item ([`batch`]), no wildcards, no walking;
//! - **credentials only in the environment** (never argv); the user's `AWS_PROFILE`, config
//!   and credential files are hidden from the child so it cannot pick up something else.
//!   Addressing: s5cmd uses path-style for every custom endpoint and virtual-host style for AWS,
//!   which is what the provider quirks want anyway. s5cmd cannot renew credentials, so a job on
//!   temporary credentials (a session token) that could outlast them at a deliberately low
//!   assumed rate runs in the native engine instead, with a notice — never an ExpiredToken
//!   failure halfway;
//! - **retries**: `--retry-count` from the connection's network policy (`s3::network`);
//! - **complete or absent**: each download goes to a private temp file created exclusively in
//!   its folder ([`local_write`]: `.<16 hex>.trainctl-part`, reached without following links);
//!   once s5cmd reports it, the file is re-opened through the folder handle without following
//!   links, verified through that handle (size, and checksum through [`verify::verify_handle`]:
//!   the stored CRC when the object has one, else its MD5/ETag, hashed on every core while
//!   s5cmd still downloads the next files) and committed (in batches: one sync per batch, then
//!   the renames under the folder lock; `local_write::Committer`). Failures and cancellation remove the
//!   temp files — only ours and s5cmd's own temps derived from our unique names, never another
//!   process's. (s5cmd itself resolves the temp path by name; the folders on the way were made
//!   and checked by us just before, and nothing it wrote is committed unless it is found through
//!   our handles.) Uploads that s5cmd does not finish never become visible objects (a multipart
//!   upload is only visible once completed);
//! - **byte-level progress**: the child's `/proc/<pid>/io` `wchar` (bytes written: to sockets
//!   while uploading, to files while downloading) is sampled every 200 ms. (`rchar` counts an
//!   upload's file twice, because s5cmd reads each part once to sign it and once to send it.)
//!   Where `/proc` is unavailable, progress advances per completed object;
//! - **stdout and stderr are data**: `--json` success lines and error lines are matched to items
//!   ([`output`]); s5cmd can exit 0 after an error, so an item is complete only when s5cmd
//!   said so *and* (downloads) the file verified.

mod batch;
mod locate;
mod output;

pub use locate::{locate, locate_with, Search, ENV_VAR};

use crate::error::{Error, ErrorInfo, Result};
use crate::event::{Direction, Event, Sink};
use crate::s3::Connection;
use crate::transfer::progress::Tracker;
use crate::transfer::local_write::{Committer, DestDir, Folders, TempFile};
use crate::transfer::{verify, Engine, Outcome, TransferItem, TransferJob, TransferOptions};
use futures::stream::{FuturesUnordered, StreamExt};
use std::collections::HashMap;
use std::sync::Arc;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio_util::sync::CancellationToken;

/// How often the child's I/O counters are sampled.
const SAMPLE_EVERY: Duration = Duration::from_millis(200);
/// Objects from this size on are verified by their stored checksum when they have one, which
/// costs one `HeadObject` (s5cmd cannot report response headers): a CRC is ~15× cheaper to
/// compute than MD5, which pays for the request on anything but small files. Smaller files are
/// checked by their ETag (a plain MD5 needs no request).
const STORED_LOOKUP_MIN: u64 = 4 * 1024 * 1024;
/// How long s5cmd gets to stop after SIGTERM before SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(3);

/// Environment variables that would make s5cmd act with other credentials, another endpoint or
/// another profile than the connection's. Removed from the child's environment.
const SCRUBBED_ENV: &[&str] = &[
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "S3_ENDPOINT_URL",
];

/// Runs jobs through s5cmd with the credentials and endpoint of `conn`.
pub struct S5cmdEngine {
    binary: PathBuf,
    conn: Connection,
}

impl S5cmdEngine {
    /// An engine using `binary` (found by [`locate`]).
    pub fn new(binary: PathBuf, conn: Connection) -> Self {
        S5cmdEngine { binary, conn }
    }

    /// Finds s5cmd ([`locate`]) and builds the engine, or [`Error::S5cmdMissing`].
    pub fn locate(conn: Connection) -> Result<Self> {
        Ok(S5cmdEngine::new(locate()?, conn))
    }

    /// The binary this engine runs.
    pub fn binary(&self) -> &Path {
        &self.binary
    }

    fn engine_conn(&self) -> Connection {
        self.conn.clone()
    }

    /// Why `job` should not run in s5cmd, if it should not: s5cmd gets one copy of the
    /// credentials at start and cannot renew them, so temporary credentials (STS, SSO: a session
    /// token) that may expire before the job ends would fail it halfway with ExpiredToken.
    async fn credentials_may_expire_during(&self, job: &TransferJob) -> Result<Option<String>> {
        let Some(provider) = &self.conn.credentials else { return Ok(None) };
        use aws_credential_types::provider::ProvideCredentials;
        let creds = provider.provide_credentials().await.map_err(|e| Error::NoCredentials(format!(": {}", crate::s3::errors::chain_text(&e))))?;
        if creds.session_token().is_none() {
            return Ok(None);
        }
        let lifetime = creds.expiry().map(|e| e.duration_since(std::time::SystemTime::now()).unwrap_or_default());
        Ok(outlasts_credentials(job.bytes_total(), job.items.len() as u64, lifetime).then(|| {
            let left = lifetime.map_or("an unknown time".to_string(), |l| format!("{} s", l.as_secs()));
            format!("the credentials are temporary (valid for {left}) and this transfer may take longer")
        }))
    }
}

/// Throughput assumed when judging whether a job could outlast temporary credentials: low on
/// purpose (a slow link must not be the case that fails).
const TEMP_CREDENTIALS_FLOOR_RATE: u64 = 8 * 1024 * 1024;
/// Lifetime assumed for temporary credentials that do not say when they expire (STS's minimum).
const TEMP_CREDENTIALS_MIN_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// Whether a job of `bytes` in `items` objects could take more than half of `lifetime` (unknown:
/// [`TEMP_CREDENTIALS_MIN_LIFETIME`]) at [`TEMP_CREDENTIALS_FLOOR_RATE`] plus 20 ms per object.
fn outlasts_credentials(bytes: u64, items: u64, lifetime: Option<Duration>) -> bool {
    let estimate = Duration::from_secs_f64(bytes as f64 / TEMP_CREDENTIALS_FLOOR_RATE as f64) + Duration::from_millis(20).saturating_mul(items.min(u32::MAX as u64) as u32);
    estimate.saturating_mul(2) > lifetime.unwrap_or(TEMP_CREDENTIALS_MIN_LIFETIME)
}

#[async_trait::async_trait]
impl Engine for S5cmdEngine {
    fn name(&self) -> &'static str {
        "s5cmd"
    }

    async fn run(&self, job: &TransferJob, opts: &TransferOptions, sink: &dyn Sink, cancel: CancellationToken) -> Result<Outcome> {
        if let Some(why) = self.credentials_may_expire_during(job).await? {
            sink.send(Event::Notice { message: format!("{why}; using the native engine, which renews them as it goes") });
            return super::native::NativeEngine::new(self.engine_conn()).run(job, opts, sink, cancel).await;
        }
        if job.items.iter().any(|i| i.write_if.is_some()) || !job.version_ids.is_empty() || !job.expected_crc64.is_empty() || !job.expected_original.is_empty() {
            // s5cmd cannot make a write conditional; ignoring the condition could overwrite a
            // concurrent writer's change, so such jobs always go through the native engine.
            // (Object metadata it carries: `cp --metadata`, see `batch::cp_line`.) The content of
            // references must match their CRC64NVME, which only the native engine checks.
            return super::native::NativeEngine::new(self.engine_conn()).run(job, opts, sink, cancel).await;
        }
        let tracker = Tracker::new(job.id, job.bytes_total(), job.items.len() as u64);
        super::announce(job, sink, self.name());
        let mut results: Vec<Option<std::result::Result<(), Error>>> = (0..job.items.len()).map(|_| None).collect();
        let prepared = prepare(job, opts, &mut results)?;
        let mut unattributed = Vec::new();
        let mut cancelled = false;
        if !prepared.lines.is_empty() {
            let run = Run { engine: self, job, opts, sink, tracker: &tracker, prepared: &prepared, done_bytes: AtomicU64::new(0) };
            let r = run.execute(cancel.clone(), &mut results).await;
            prepared.committer.close().await;
            cleanup_temps(&prepared);
            if let Err(e) = prepared.folders.sync_all_async().await {
                sink.send(Event::Notice { message: format!("the downloaded files are in place, but flushing their folder to disk failed: {e}") });
            }
            let r = r?;
            unattributed = r.unattributed;
            cancelled = r.cancelled;
        }
        let (outcome, job_wide) = settle(job, &self.conn, results, &unattributed, sink);
        tracker.finish(sink);
        let outcome = Outcome { bytes_done: tracker.bytes_done(), seconds: tracker.elapsed().as_secs_f64(), ..outcome };
        super::announce_finished(job, &outcome, sink);
        if cancelled || cancel.is_cancelled() {
            return Err(Error::Cancelled);
        }
        job_wide.map_or(Ok(outcome), Err)
    }
}


// ---------------------------------------------------------------------------------------------
// Preparing the batch file

/// One batch line and the item it moves.
struct Line {
    item: usize,
    /// Source and destination exactly as written (s5cmd echoes them in its JSON).
    src: String,
    dst: String,
    /// Downloads: the temp file s5cmd writes, committed as `item.local` once verified (taken
    /// out when committed; whatever is left is removed by [`cleanup_temps`]).
    temp: Option<std::sync::Mutex<Option<TempFile>>>,
    /// Downloads: the temp file's folder and name, to find s5cmd's own temps derived from it.
    temp_name: Option<(Arc<DestDir>, std::ffi::OsString)>,
}

struct Prepared {
    batch: tempfile::NamedTempFile,
    lines: Vec<Line>,
    /// Download folders (opened once each, fsynced once at the end).
    folders: Arc<Folders>,
    /// Commits the verified downloads, in batches.
    committer: Committer,
}

/// Writes the batch file. Items that cannot be expressed or written (a line break in a key, a
/// symlink in the way, an uncreatable directory) fail here, before s5cmd starts.
fn prepare(job: &TransferJob, opts: &TransferOptions, results: &mut [Option<std::result::Result<(), Error>>]) -> Result<Prepared> {
    let batch = tempfile::Builder::new().prefix("trainctl-s5cmd-").suffix(".txt").tempfile().map_err(|e| Error::io(std::env::temp_dir(), e))?;
    let path = batch.path().to_path_buf();
    let large = job.items.iter().filter(|i| i.size > opts.part_size).count();
    let folders = Arc::new(Folders::default());
    let mut lines = Vec::with_capacity(job.items.len());
    let mut out = std::io::BufWriter::new(batch.as_file());
    for (idx, item) in job.items.iter().enumerate() {
        match prepare_item(job, opts, item, large, &folders) {
            Ok((line, cp)) => {
                writeln!(out, "{cp}").map_err(|e| Error::io(&path, e))?;
                lines.push(Line { item: idx, ..line });
            }
            Err(e) => results[idx] = Some(Err(e)),
        }
    }
    out.flush().map_err(|e| Error::io(&path, e))?;
    drop(out);
    let committer = if job.direction == Direction::Download { Committer::start() } else { Committer::closed() };
    Ok(Prepared { batch, lines, folders, committer })
}

fn prepare_item(job: &TransferJob, opts: &TransferOptions, item: &TransferItem, large: usize, folders: &Folders) -> Result<(Line, String)> {
    let local = std::path::absolute(&item.local).map_err(|e| Error::io(&item.local, e))?;
    let remote = format!("s3://{}/{}", job.bucket, item.key);
    let mut flags = batch::CpFlags::default();
    if item.size > opts.part_size {
        flags.parts = Some((batch::part_concurrency(opts.concurrency, large), opts.part_size));
    }
    let (src, dst) = match job.direction {
        Direction::Upload => {
            flags.storage_class = job.storage_class.clone();
            if let Some(m) = job.metadata.get(&item.key) {
                flags.metadata = m.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                flags.metadata.sort();
            }
            (path_str(&local)?, remote)
        }
        Direction::Download => {
            let temp = prepare_download_target(job, &local, folders)?;
            let dst = path_str(&temp.path())?;
            let name = Some((temp.dir().clone(), temp.name().to_os_string()));
            let cp = batch::cp_line(&remote, &dst, &flags)?;
            return Ok((Line { item: 0, src: remote, dst, temp: Some(std::sync::Mutex::new(Some(temp))), temp_name: name }, cp));
        }
    };
    let cp = batch::cp_line(&src, &dst, &flags)?;
    Ok((Line { item: 0, src, dst, temp: None, temp_name: None }, cp))
}

/// Opens the destination folder without following links (creating it) and reserves a unique
/// temp file in it for s5cmd to write.
fn prepare_download_target(job: &TransferJob, local: &Path, folders: &Folders) -> Result<TempFile> {
    let parent = local.parent().ok_or_else(|| Error::LocalKind { path: local.to_path_buf(), expected: "file path" })?;
    let root = match job.local_root.as_deref() {
        Some(r) => std::path::absolute(r).map_err(|e| Error::io(r, e))?,
        None => parent.to_path_buf(),
    };
    folders.open(&root, parent)?.create_temp()
}

fn path_str(p: &Path) -> Result<String> {
    p.to_str().map(str::to_string).ok_or_else(|| Error::S5cmd(format!("{} is not valid UTF-8; use --engine native", p.display())))
}

/// Removes what is left of this job's temp files: ours (dropping an uncommitted [`TempFile`]
/// removes it) and s5cmd's own, whose names start with one of ours (`<ours><random digits>`).
/// Our names are unique, so another process's temp files are never touched.
fn cleanup_temps(prepared: &Prepared) {
    for line in &prepared.lines {
        if let Some(slot) = &line.temp {
            drop(slot.lock().unwrap_or_else(|p| p.into_inner()).take());
        }
        if let Some((dir, name)) = &line.temp_name {
            for leftover in dir.names_starting_with(name) {
                dir.remove_quietly(&leftover);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Running the child

/// Everything one execution needs, borrowed for its duration.
struct Run<'a> {
    engine: &'a S5cmdEngine,
    job: &'a TransferJob,
    opts: &'a TransferOptions,
    sink: &'a dyn Sink,
    tracker: &'a Tracker,
    prepared: &'a Prepared,
    /// Bytes of items reported complete (progress floor when `/proc` is unavailable).
    done_bytes: AtomicU64,
}

struct RunResult {
    unattributed: Vec<String>,
    cancelled: bool,
}

type ItemResult = (usize, std::result::Result<(), Error>);

impl Run<'_> {
    async fn execute(&self, cancel: CancellationToken, results: &mut [Option<std::result::Result<(), Error>>]) -> Result<RunResult> {
        let mut child = self.spawn().await?;
        let pid = child.id().unwrap_or(0);
        let stdout = child.stdout.take().ok_or_else(|| Error::Internal("s5cmd stdout not captured".into()))?;
        let stderr = child.stderr.take().ok_or_else(|| Error::Internal("s5cmd stderr not captured".into()))?;
        let stop = CancellationToken::new();
        let by_dst: HashMap<&str, usize> = self.prepared.lines.iter().enumerate().map(|(i, l)| (l.dst.as_str(), i)).collect();
        let waited = async {
            let status = tokio::select! {
                s = child.wait() => s.ok(),
                _ = cancel.cancelled() => terminate(&mut child).await,
            };
            stop.cancel();
            status
        };
        let (status, done, errors, ()) =
            tokio::join!(waited, self.read_stdout(stdout, &by_dst), read_stderr(stderr), self.sample(pid, &stop));
        let mut unattributed = Vec::new();
        for (line_idx, res) in done {
            results[self.prepared.lines[line_idx].item] = Some(res);
        }
        for (command, error) in errors {
            let pairs = self.prepared.lines.iter().enumerate().map(|(i, l)| (i, l.src.as_str(), l.dst.as_str()));
            match command.as_deref().and_then(|c| output::attribute(c, pairs)) {
                Some(i) => {
                    let line = &self.prepared.lines[i];
                    let slot = &mut results[line.item];
                    if slot.is_none() {
                        let local = &self.job.items[line.item].local;
                        *slot = Some(Err(output::map_error(&error, &self.job.bucket, &self.engine.conn.endpoint_display(), Some(local))));
                    }
                }
                None => unattributed.push(error),
            }
        }
        if let Some(status) = status.filter(|s| !s.success()) {
            if unattributed.is_empty() && results.iter().any(Option::is_none) {
                unattributed.push(format!("s5cmd exited with {status}"));
            }
        }
        Ok(RunResult { unattributed, cancelled: cancel.is_cancelled() })
    }

    async fn spawn(&self) -> Result<tokio::process::Child> {
        let env = self.engine.conn.credentials_env().await?;
        let numworkers = self.opts.concurrency.max(1);
        let retries = crate::s3::NetworkPolicy::of_s3_client(&self.engine.conn.client).max_attempts.saturating_sub(1);
        let args = batch::global_args(numworkers, retries, self.engine.conn.profile.endpoint_url.as_deref(), self.prepared.batch.path());
        let mut cmd = tokio::process::Command::new(&self.engine.binary);
        cmd.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
        // Its own process group: Ctrl-C reaches trainctl, which stops s5cmd and cleans up.
        cmd.process_group(0);
        // If trainctl itself is killed (SIGKILL, OOM), take s5cmd down too instead of leaving an
        // orphan transfer running.
        crate::platform::die_with_parent(&mut cmd);
        for k in SCRUBBED_ENV {
            cmd.env_remove(k);
        }
        cmd.env("AWS_SDK_LOAD_CONFIG", "0").env("AWS_CONFIG_FILE", "/dev/null").env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null");
        cmd.envs(env);
        cmd.spawn().map_err(|e| Error::S5cmdMissing(format!("{}: {e}", self.engine.binary.display())))
    }

    /// Reads success lines; verifies and renames downloads as they complete.
    async fn read_stdout(&self, stdout: tokio::process::ChildStdout, by_dst: &HashMap<&str, usize>) -> Vec<ItemResult> {
        let mut lines = BufReader::new(stdout).lines();
        let mut verifying = FuturesUnordered::new();
        let mut out = Vec::new();
        loop {
            tokio::select! {
                line = lines.next_line() => match line {
                    Ok(Some(l)) => {
                        if let output::Line::Done { destination, .. } = output::parse_line(&l) {
                            if let Some(&i) = by_dst.get(destination.as_str()) {
                                verifying.push(self.complete(i));
                            }
                        }
                    }
                    _ => break,
                },
                Some(r) = verifying.next(), if !verifying.is_empty() => out.push(r),
            }
        }
        while let Some(r) = verifying.next().await {
            out.push(r);
        }
        out
    }

    /// One line reported done: uploads are complete; downloads are verified and renamed.
    async fn complete(&self, line_idx: usize) -> ItemResult {
        let line = &self.prepared.lines[line_idx];
        let item = &self.job.items[line.item];
        let temp = line.temp.as_ref().map(|slot| slot.lock().unwrap_or_else(|p| p.into_inner()).take());
        let res = match temp {
            None => Ok(()),
            Some(Some(temp)) => self.finish_download(item, temp).await,
            Some(None) => Err(Error::Internal("download reported twice".into())),
        };
        if res.is_ok() {
            self.done_bytes.fetch_add(item.size, Ordering::Relaxed);
            self.tracker.set_bytes(self.done_bytes.load(Ordering::Relaxed), self.sink);
            self.tracker.object_done(self.sink);
            let local = item.local.display().to_string();
            self.sink.send(Event::ObjectDone { job: self.job.id, key: item.key.clone(), local, bytes: item.size, etag: None });
        }
        (line_idx, res)
    }

    /// Re-opens what s5cmd wrote through the folder handle (no link followed), verifies it
    /// through that handle and commits it; on any failure the temp file is removed (dropped).
    async fn finish_download(&self, item: &TransferItem, mut temp: TempFile) -> std::result::Result<(), Error> {
        temp.reopen()?;
        let shown = temp.path();
        // The disk starts writing the file while it is hashed; the commit's fdatasync then
        // waits only for what is left.
        crate::transfer::local_write::start_writeback(temp.file(), 0, item.size);
        if self.opts.verify_checksum {
            let (conn, bucket) = (&self.engine.conn, &self.job.bucket);
            let ask_stored = item.size >= STORED_LOOKUP_MIN;
            verify::verify_handle(conn, bucket, &item.key, temp.file().clone(), &shown, item.size, item.etag.as_deref(), ask_stored).await?;
        }
        let name = item.local.file_name().map(|n| n.to_os_string()).ok_or_else(|| Error::LocalKind { path: item.local.clone(), expected: "file path" })?;
        self.prepared.committer.commit(temp, name, item.size, None).await
    }

    /// Feeds the tracker from the child's I/O counters until `stop`.
    async fn sample(&self, pid: u32, stop: &CancellationToken) {
        let mut tick = tokio::time::interval(SAMPLE_EVERY);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            let floor = self.done_bytes.load(Ordering::Relaxed);
            let io = crate::platform::process_bytes_written(pid).unwrap_or(0);
            self.tracker.set_bytes(io.max(floor), self.sink);
        }
    }
}

/// Collects error lines from stderr as `(command, error)`.
async fn read_stderr(stderr: tokio::process::ChildStderr) -> Vec<(Option<String>, String)> {
    let mut lines = BufReader::new(stderr).lines();
    let mut out = Vec::new();
    while let Ok(Some(l)) = lines.next_line().await {
        if let output::Line::Failed { command, error } = output::parse_line(&l) {
            out.push((command, error));
        }
    }
    out
}

/// SIGTERM, then SIGKILL after [`TERM_GRACE`].
async fn terminate(child: &mut tokio::process::Child) -> Option<std::process::ExitStatus> {
    if let Some(pid) = child.id() {
        crate::platform::terminate(pid);
    }
    match tokio::time::timeout(TERM_GRACE, child.wait()).await {
        Ok(s) => s.ok(),
        Err(_) => {
            let _ = child.kill().await;
            child.wait().await.ok()
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Results

/// Turns per-item results into the outcome, reporting each failure once. Also returns the
/// error of the whole job when nothing succeeded and every item failed the same job-wide way
/// (bad credentials, missing bucket, endpoint down).
fn settle(
    job: &TransferJob,
    conn: &Connection,
    results: Vec<Option<std::result::Result<(), Error>>>,
    unattributed: &[String],
    sink: &dyn Sink,
) -> (Outcome, Option<Error>) {
    let mut outcome = Outcome::planned(job);
    // The first failure s5cmd reported, if it ends the job; kept only when every other item
    // s5cmd tried failed with the same code (the plan's rejected items do not count).
    let mut job_wide: Option<Error> = None;
    let mut first_code: Option<String> = None;
    let mut all_same = true;
    for (item, res) in job.items.iter().zip(results) {
        let err = match res {
            Some(Ok(())) => {
                outcome.done += 1;
                continue;
            }
            Some(Err(e)) => e,
            None => match unattributed.first() {
                Some(text) => output::map_error(text, &job.bucket, &conn.endpoint_display(), Some(&item.local)),
                None => Error::S5cmd("s5cmd did not report this item as done".into()),
            },
        };
        let info: ErrorInfo = err.info();
        sink.send(Event::ObjectFailed { job: job.id, key: item.key.clone(), error: info.clone() });
        match &first_code {
            Some(code) => all_same &= *code == info.code,
            None => {
                first_code = Some(info.code.clone());
                job_wide = err.scope().ends_job().then_some(err);
            }
        }
        outcome.failed.push((item.key.clone(), info));
    }
    let job_wide = job_wide.filter(|_| outcome.done == 0 && all_same);
    (outcome, job_wide)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_jobs_on_short_lived_credentials_leave_s5cmd() {
        let gib = 1024 * 1024 * 1024;
        assert!(!outlasts_credentials(100 * 1024 * 1024, 10, Some(Duration::from_secs(3600))));
        assert!(outlasts_credentials(20 * gib, 10, Some(Duration::from_secs(3600))), "20 GiB at 8 MiB/s is 43 min, more than half an hour");
        assert!(outlasts_credentials(10, 1, Some(Duration::ZERO)), "already expired");
        assert!(!outlasts_credentials(gib, 1, None), "unknown expiry: 15 min assumed, 1 GiB takes ~2 min");
        assert!(outlasts_credentials(10 * gib, 1, None));
    }
}
