//! `trainctl local`: run a training script as it is, and take care of its checkpoints.
//!
//! Why: a researcher on one GPU box wants three things their script does not do — its output
//! kept in a log file, every checkpoint copied to S3 once it is complete (never a half-written
//! one, never twice), and old checkpoints pruned here and there — without changing the script.
//! The script runs in the user's environment (`.py` through `$PYTHON` or `python3`, anything
//! else executed directly) and its exit code is the run's exit code.
//!
//! Shape: the child's stdout/stderr are pumped to the caller's [`RunOutput`], the log file and a
//! metrics [`LineParser`]; an uploader task polls the checkpoint directory (checkpoint
//! detectors + completeness), uploads what became complete through a transfer engine, then
//! applies `--keep-last-n` locally and on S3 through [`checkpoint::enforce`]. A checkpoint not
//! yet uploaded is pinned for the local enforcement, so pruning can never lose data.
//!
//! Interrupts: the script runs in its own process group, so a terminal Ctrl-C reaches trainctl
//! only, which forwards exactly one SIGINT per interrupt to the script. After the first, uploads
//! in flight finish and no new ones start; after the second, they are cancelled (engines leave
//! every object complete or absent).

use super::metrics::{LineParser, ParsedMetrics};
use crate::checkpoint::{self, Checkpoint, DetectOptions, Location, Policy};
use crate::error::{Error, ErrorInfo, Result};
use crate::event::{Direction, Event, Sink};
use crate::s3::{Connection, S3Url};
use crate::transfer::{self, EnginePref, TransferItem, TransferJob, TransferOptions};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

/// What to run and what to do with its checkpoints.
#[derive(Debug, Clone)]
pub struct LocalSpec {
    pub script: PathBuf,
    pub args: Vec<String>,
    /// Where the script writes checkpoints (watched; created by the script, or waited for).
    pub checkpoints: Option<PathBuf>,
    /// Where complete checkpoints are uploaded (`<prefix>/<checkpoint id>`).
    pub upload_to: Option<S3Url>,
    pub keep_last_n: Option<usize>,
    /// The log file (the script's stdout and stderr, as written).
    pub log: PathBuf,
    /// How often the checkpoint directory is looked at.
    pub poll: Duration,
    /// A checkpoint whose newest file is younger than this is still being written.
    pub grace: Duration,
    pub engine: EnginePref,
    /// Extra environment for the script (`TRAINCTL_DATASET_DIR` from the dataset gate).
    pub env: Vec<(String, String)>,
    /// `--compress`: uploads are compressed (`transfer::compress`).
    pub compress: Option<crate::codec::Compress>,
    /// `--dedup`: a file whose content is already under the destination prefix (another
    /// checkpoint's tokenizer, a frozen component) is copied on the server, not sent
    /// (`transfer::dedup`); with `Refs`, stored once and referenced (`crate::refs`).
    pub dedup: Option<crate::transfer::dedup::DedupMode>,
}

/// Which output stream of the script a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Where the script's output goes (the CLI writes it to the terminal as is).
pub trait RunOutput: Send + Sync {
    fn output(&self, stream: Stream, bytes: &[u8]);
}

/// What a local run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LocalSummary {
    /// The script's exit code (128 + signal number when a signal ended it).
    pub exit_code: i32,
    pub interrupted: bool,
    pub seconds: f64,
    pub last_step: Option<u64>,
    pub total_steps: Option<u64>,
    /// Complete checkpoints seen (ids relative to the checkpoint directory).
    pub checkpoints: Vec<String>,
    pub uploaded: Vec<String>,
    /// Bytes sent.
    pub uploaded_bytes: u64,
    /// `--dedup`: files copied on the server instead of sent, and the bytes not sent.
    pub copied: u64,
    pub bytes_not_sent: u64,
    /// `--dedup=refs`: references written, and the bytes not stored twice.
    pub referenced: u64,
    pub bytes_not_stored: u64,
    pub upload_failures: Vec<(String, ErrorInfo)>,
    /// Complete checkpoints left without an upload (interrupted, or failing uploads).
    pub not_uploaded: Vec<String>,
    pub deleted_local: Vec<String>,
    pub deleted_remote: Vec<String>,
    /// Last value of each metric parsed from the output.
    pub final_metrics: BTreeMap<String, f64>,
    pub metric_lines: u64,
    pub skipped_lines: u64,
    pub log: PathBuf,
    /// Where the log file was uploaded, if it was.
    pub log_uploaded_to: Option<String>,
}

/// The program and leading arguments that run `script`: `.py` through `$PYTHON` or `python3`,
/// anything else directly (it must then be executable). A missing script is
/// [`Error::ScriptMissing`], one that cannot be run [`Error::ScriptNotRunnable`].
pub fn command_for(script: &Path) -> Result<(PathBuf, Vec<PathBuf>)> {
    let meta = std::fs::metadata(script).map_err(|_| Error::ScriptMissing(script.to_path_buf()))?;
    if meta.is_dir() {
        return Err(Error::ScriptNotRunnable { script: script.to_path_buf(), reason: "it is a directory".into() });
    }
    if script.extension().is_some_and(|e| e == "py") {
        let python = std::env::var_os("PYTHON").filter(|p| !p.is_empty()).map(PathBuf::from).unwrap_or_else(|| PathBuf::from("python3"));
        return Ok((python, vec![script.to_path_buf()]));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o111 == 0 {
            return Err(Error::ScriptNotRunnable { script: script.to_path_buf(), reason: "it is not executable (chmod +x, or name the interpreter)".into() });
        }
    }
    // A bare name would be looked up in PATH; a script argument means a file here.
    let program = if script.components().count() == 1 { Path::new(".").join(script) } else { script.to_path_buf() };
    Ok((program, Vec::new()))
}

/// Checks the flags fit together before anything starts.
pub fn validate(spec: &LocalSpec, has_conn: bool) -> Result<()> {
    command_for(&spec.script)?;
    if spec.checkpoints.is_none() && (spec.upload_to.is_some() || spec.keep_last_n.is_some()) {
        return Err(Error::Usage("--upload-to and --keep-last-n need --checkpoints DIR (where the script writes its checkpoints)".into()));
    }
    if spec.upload_to.is_some() && !has_conn {
        return Err(Error::Internal("--upload-to without a connection".into()));
    }
    if let Some(n) = spec.keep_last_n {
        Policy { keep_last_n: Some(n), ..Default::default() }.validate()?;
    }
    if let Some(parent) = spec.log.parent().filter(|p| !p.as_os_str().is_empty()) {
        if !parent.is_dir() {
            return Err(Error::LocalMissing(parent.to_path_buf()));
        }
    }
    Ok(())
}

/// What the uploader should do next, sent by the main loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Running,
    /// The script ended on its own: one last round, with no grace window.
    Finishing,
    /// The user interrupted: finish what is in flight, start nothing new.
    Interrupted,
}

/// Runs the script to its end. Returns the summary (with the script's exit code) unless the
/// script could not be started at all.
pub async fn run_local(spec: &LocalSpec, conn: Option<Connection>, sink: Arc<dyn Sink>, out: Arc<dyn RunOutput>, mut interrupts: mpsc::UnboundedReceiver<()>) -> Result<LocalSummary> {
    validate(spec, conn.is_some())?;
    let started = Instant::now();
    let mut log = std::fs::File::create(&spec.log).map_err(|e| Error::io(&spec.log, e))?;
    let mut child = spawn(spec)?;
    let pid = child.id();

    let (tx, mut rx) = mpsc::unbounded_channel::<(Stream, Vec<u8>)>();
    pump(child.stdout.take(), Stream::Stdout, tx.clone());
    pump(child.stderr.take(), Stream::Stderr, tx);

    let (phase_tx, phase_rx) = watch::channel(Phase::Running);
    let cancel = CancellationToken::new();
    let uploader = Uploader::new(spec, conn, sink.clone(), cancel.clone())?;
    // Polled in this task rather than spawned: discovery futures are not `Send` for every
    // lifetime, and nothing is gained by another thread for work that mostly waits.
    let uploader_task = uploader.run(phase_rx);
    tokio::pin!(uploader_task);
    let mut uploads: Option<UploadStats> = None;

    let mut lines = OutputLines::default();
    let mut status: Option<std::process::ExitStatus> = None;
    let mut output_open = true;
    let mut interrupt_count = 0u32;
    while status.is_none() || output_open {
        tokio::select! {
            chunk = rx.recv(), if output_open => match chunk {
                Some((stream, bytes)) => {
                    out.output(stream, &bytes);
                    let _ = log.write_all(&bytes);
                    lines.feed(stream, &bytes);
                }
                None => output_open = false,
            },
            st = child.wait(), if status.is_none() => {
                status = Some(st.map_err(|e| Error::Internal(format!("waiting for the script: {e}")))?);
            }
            Some(()) = interrupts.recv() => {
                interrupt_count += 1;
                on_interrupt(interrupt_count, pid, &phase_tx, &cancel, sink.as_ref());
            }
            r = &mut uploader_task, if uploads.is_none() => uploads = Some(r),
        }
    }
    let _ = log.flush();
    if interrupt_count == 0 {
        let _ = phase_tx.send(Phase::Finishing);
    }
    let uploads = loop {
        if let Some(u) = uploads.take() {
            break u;
        }
        tokio::select! {
            r = &mut uploader_task => break r,
            Some(()) = interrupts.recv() => {
                interrupt_count += 1;
                on_interrupt(interrupt_count.max(2), None, &phase_tx, &cancel, sink.as_ref());
            }
        }
    };
    let metrics = lines.finish();
    let status = status.expect("loop ends after the exit");
    Ok(summarize(spec, status, interrupt_count > 0, started, uploads, &metrics))
}

fn on_interrupt(count: u32, pid: Option<u32>, phase: &watch::Sender<Phase>, cancel: &CancellationToken, sink: &dyn Sink) {
    if let Some(pid) = pid {
        forward_sigint(pid);
    }
    if count == 1 {
        let _ = phase.send(Phase::Interrupted);
        sink.send(Event::Notice { message: "interrupt forwarded to the script; uploads in flight will finish (Ctrl-C again cancels them)".into() });
    } else {
        cancel.cancel();
        sink.send(Event::Notice { message: "cancelling uploads in flight (nothing partial is left visible)".into() });
    }
}

/// The child leads its own process group: signal the group, so its workers hear it too.
fn forward_sigint(pid: u32) {
    crate::platform::interrupt_group(pid);
}

fn spawn(spec: &LocalSpec) -> Result<tokio::process::Child> {
    let (program, lead) = command_for(&spec.script)?;
    let mut cmd = tokio::process::Command::new(&program);
    cmd.args(&lead)
        .args(&spec.args)
        .env("PYTHONUNBUFFERED", "1")
        .envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(std::process::Stdio::inherit())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    #[cfg(unix)]
    cmd.process_group(0);
    cmd.spawn().map_err(|e| Error::ScriptNotRunnable {
        script: spec.script.clone(),
        reason: match e.kind() {
            std::io::ErrorKind::NotFound => format!("{} was not found", program.display()),
            _ => e.to_string(),
        },
    })
}

fn pump<R: tokio::io::AsyncRead + Unpin + Send + 'static>(reader: Option<R>, stream: Stream, tx: mpsc::UnboundedSender<(Stream, Vec<u8>)>) {
    let Some(mut reader) = reader else { return };
    tokio::spawn(async move {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.send((stream, buf[..n].to_vec())).is_err() {
                        break;
                    }
                }
            }
        }
    });
}

/// Splits each stream into lines separately (chunks of stdout and stderr interleave) and feeds
/// one metrics parser, so a step seen on stderr (tqdm) applies to metrics printed on stdout.
#[derive(Default)]
struct OutputLines {
    partial: HashMap<&'static str, Vec<u8>>,
    parser: LineParser,
}

impl OutputLines {
    fn feed(&mut self, stream: Stream, bytes: &[u8]) {
        let key = if stream == Stream::Stdout { "out" } else { "err" };
        let buf = self.partial.entry(key).or_default();
        buf.extend_from_slice(bytes);
        let mut start = 0;
        let mut complete = Vec::new();
        for (i, b) in buf.iter().enumerate() {
            if *b == b'\n' || *b == b'\r' {
                complete.push(String::from_utf8_lossy(&buf[start..i]).into_owned());
                start = i + 1;
            }
        }
        buf.drain(..start);
        for line in complete {
            self.parser.line(&line);
        }
    }

    fn finish(mut self) -> ParsedMetrics {
        for (_, rest) in std::mem::take(&mut self.partial) {
            self.parser.line(&String::from_utf8_lossy(&rest));
        }
        self.parser.finish()
    }
}

fn summarize(spec: &LocalSpec, status: std::process::ExitStatus, interrupted: bool, started: Instant, up: UploadStats, metrics: &ParsedMetrics) -> LocalSummary {
    let exit_code = exit_code_of(status);
    let checkpoint_step = up.steps.values().filter_map(|s| *s).max();
    LocalSummary {
        exit_code,
        interrupted,
        seconds: started.elapsed().as_secs_f64(),
        last_step: metrics.last_step.max(checkpoint_step),
        total_steps: metrics.total_steps,
        checkpoints: up.seen.into_iter().collect(),
        not_uploaded: up.not_uploaded,
        uploaded: up.uploaded,
        uploaded_bytes: up.uploaded_bytes,
        copied: up.copied,
        bytes_not_sent: up.bytes_not_sent,
        referenced: up.referenced,
        bytes_not_stored: up.bytes_not_stored,
        upload_failures: up.failures,
        deleted_local: up.deleted_local,
        deleted_remote: up.deleted_remote,
        final_metrics: metrics.last_values(),
        metric_lines: metrics.records,
        skipped_lines: metrics.skipped,
        log: spec.log.clone(),
        log_uploaded_to: up.log_uploaded_to,
    }
}

fn exit_code_of(status: std::process::ExitStatus) -> i32 {
    if let Some(code) = status.code() {
        return code;
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = status.signal() {
            return 128 + sig;
        }
    }
    1
}

// ---------------------------------------------------------------------------------------------
// Uploads and retention

/// Files a layout writes last to say "complete": uploaded after everything else, so a watcher
/// of the destination never sees a complete-looking checkpoint with files missing.
const COMPLETION_MARKERS: &[&str] = &["trainer_state.json", "latest", "latest_checkpointed_iteration.txt", ".metadata"];

/// Attempts before a checkpoint whose upload keeps failing is given up on.
const MAX_ATTEMPTS: u32 = 3;

#[derive(Debug, Default)]
struct UploadStats {
    seen: BTreeSet<String>,
    steps: BTreeMap<String, Option<u64>>,
    uploaded: Vec<String>,
    uploaded_bytes: u64,
    copied: u64,
    bytes_not_sent: u64,
    referenced: u64,
    bytes_not_stored: u64,
    failures: Vec<(String, ErrorInfo)>,
    not_uploaded: Vec<String>,
    deleted_local: Vec<String>,
    deleted_remote: Vec<String>,
    log_uploaded_to: Option<String>,
}

struct Uploader {
    spec: LocalSpec,
    dir: Option<PathBuf>,
    conn: Option<Connection>,
    engine: Option<Box<dyn transfer::Engine>>,
    sink: Arc<dyn Sink>,
    cancel: CancellationToken,
    /// Id → (files fingerprint) of what was uploaded; a changed fingerprint uploads again
    /// (Lightning rewrites `last.ckpt`).
    done: HashMap<String, Vec<(String, u64)>>,
    attempts: HashMap<String, u32>,
    stats: UploadStats,
    /// The main loop's phase, so a round in progress stops starting uploads after an interrupt.
    phase: Option<watch::Receiver<Phase>>,
}

impl Uploader {
    fn new(spec: &LocalSpec, conn: Option<Connection>, sink: Arc<dyn Sink>, cancel: CancellationToken) -> Result<Self> {
        let engine = match (&spec.upload_to, &conn) {
            (Some(_), Some(c)) => Some(transfer::choose_engine(spec.engine, c, sink.as_ref())?),
            _ => None,
        };
        Ok(Uploader {
            spec: spec.clone(),
            dir: spec.checkpoints.clone(),
            conn,
            engine,
            sink,
            cancel,
            done: HashMap::new(),
            attempts: HashMap::new(),
            stats: UploadStats::default(),
            phase: None,
        })
    }

    async fn run(mut self, mut phase: watch::Receiver<Phase>) -> UploadStats {
        if self.dir.is_none() {
            return self.stats;
        }
        self.phase = Some(phase.clone());
        loop {
            tokio::select! {
                _ = tokio::time::sleep(self.spec.poll) => {}
                changed = phase.changed() => { if changed.is_err() { break; } }
            }
            match *phase.borrow() {
                Phase::Running => {}
                _ => break,
            }
            self.round(self.spec.grace, true).await;
        }
        let last = *phase.borrow();
        // The script is gone: nothing is still being written, so no grace window.
        self.round(Duration::ZERO, last == Phase::Finishing).await;
        if last == Phase::Finishing {
            self.upload_log().await;
        }
        self.stats
    }

    /// Looks at the directory; uploads (when allowed) what became complete; then retention.
    async fn round(&mut self, grace: Duration, may_upload: bool) {
        let dir = self.dir.clone().expect("checked in run");
        let opts = DetectOptions { grace, ..DetectOptions::new() };
        let found = match checkpoint::discover(&Location::Local(dir.clone()), None, &opts).await {
            Ok(f) => f,
            Err(Error::LocalMissing(_)) => return,
            Err(e) => {
                self.notice(format!("cannot look at {}: {e}", dir.display()));
                return;
            }
        };
        let mut complete: Vec<Checkpoint> = found.runs.into_iter().flat_map(|r| r.checkpoints).filter(|c| c.complete.is_complete()).collect();
        complete.sort_by_key(|c| c.order_key());
        let mut changed = false;
        for c in complete {
            if self.stats.seen.insert(c.id.clone()) {
                self.stats.steps.insert(c.id.clone(), c.step);
                if self.spec.upload_to.is_none() {
                    self.notice(format!("checkpoint {} complete", c.id));
                }
                changed = true;
            }
            if self.spec.upload_to.is_some() && self.needs_upload(&c) {
                if !may_upload || self.cancel.is_cancelled() || self.interrupted() {
                    continue;
                }
                changed |= self.upload(&dir, &c).await;
            }
        }
        self.stats.not_uploaded = if self.spec.upload_to.is_some() {
            self.stats.seen.iter().filter(|id| !self.done.contains_key(*id)).cloned().collect()
        } else {
            Vec::new()
        };
        if changed || grace.is_zero() {
            self.retention(&dir, grace).await;
        }
    }

    fn interrupted(&self) -> bool {
        self.phase.as_ref().is_some_and(|p| *p.borrow() == Phase::Interrupted)
    }

    fn needs_upload(&self, c: &Checkpoint) -> bool {
        let fp: Vec<(String, u64)> = c.files.iter().map(|f| (f.path.clone(), f.size)).collect();
        self.done.get(&c.id) != Some(&fp) && self.attempts.get(&c.id).copied().unwrap_or(0) < MAX_ATTEMPTS
    }

    /// Uploads one checkpoint: its files, then its completion marker. True when it completed.
    async fn upload(&mut self, dir: &Path, c: &Checkpoint) -> bool {
        let (Some(dest), Some(engine)) = (self.spec.upload_to.clone(), self.engine.as_ref()) else { return false };
        *self.attempts.entry(c.id.clone()).or_default() += 1;
        let prefix = prefix_of(&dest);
        let (markers, rest): (Vec<_>, Vec<_>) = c.files.iter().partition(|f| COMPLETION_MARKERS.contains(&f.path.rsplit('/').next().unwrap_or("")));
        let mut bytes = 0;
        for files in [rest, markers] {
            if files.is_empty() {
                continue;
            }
            let mut job = upload_job(&dest, dir, files);
            if let Some(how) = self.spec.compress {
                let rates = self.conn.as_ref().and_then(|c| transfer::compress::rates::LinkRates::for_profile(&c.profile));
                if let Err(e) = transfer::compress::plan_compression(&mut job, how, rates.as_ref()).await {
                    self.notice(format!("upload of {} failed: {e}", c.id));
                    self.stats.failures.push((c.id.clone(), e.info()));
                    return false;
                }
            }
            if let (Some(mode), Some(conn)) = (self.spec.dedup, self.conn.as_ref()) {
                match transfer::dedup::plan_dedup_with(&mut job, conn, &prefix, mode).await {
                    Ok(planned) => planned.notes.into_iter().for_each(|n| self.notice(n)),
                    Err(e) => self.notice(format!("--dedup could not look at s3://{}/{prefix} ({e}): uploading {} in full", dest.bucket, c.id)),
                }
            }
            let result = engine.run(&job, &TransferOptions::default(), self.sink.as_ref(), self.cancel.clone()).await.and_then(|o| o.into_result(&job));
            match result {
                Ok(o) => {
                    bytes += o.bytes_done;
                    self.stats.copied += o.copied;
                    self.stats.bytes_not_sent += o.bytes_not_sent;
                    self.stats.referenced += o.referenced;
                    self.stats.bytes_not_stored += o.bytes_not_stored;
                }
                Err(e) => {
                    self.notice(format!("upload of {} failed: {e}", c.id));
                    self.stats.failures.push((c.id.clone(), e.info()));
                    return false;
                }
            }
        }
        self.done.insert(c.id.clone(), c.files.iter().map(|f| (f.path.clone(), f.size)).collect());
        self.stats.uploaded.push(c.id.clone());
        self.stats.uploaded_bytes += bytes;
        self.notice(format!("uploaded {} to s3://{}/{}{} ({} files, {} bytes)", c.id, dest.bucket, prefix, c.id, c.files.len(), bytes));
        true
    }

    /// `--keep-last-n` here (never a checkpoint not yet uploaded) and at the destination.
    async fn retention(&mut self, dir: &Path, grace: Duration) {
        let Some(n) = self.spec.keep_last_n else { return };
        let opts = DetectOptions { grace, ..DetectOptions::new() };
        let mut local_policy = Policy { keep_last_n: Some(n), ..Default::default() };
        if self.spec.upload_to.is_some() {
            local_policy.pins = self.stats.seen.iter().filter(|id| !self.done.contains_key(*id)).cloned().collect();
        }
        let sink = self.sink.clone();
        match checkpoint::enforce(&Location::Local(dir.to_path_buf()), None, &local_policy, &opts, sink.as_ref()).await {
            Ok(e) => self.stats.deleted_local.extend(deleted_ids(&e)),
            Err(e) => self.notice(format!("keep-last-n here failed: {e}")),
        }
        let (Some(dest), Some(conn)) = (self.spec.upload_to.clone(), self.conn.clone()) else { return };
        let remote = Location::S3(dest.with_key(prefix_of(&dest)));
        let policy = Policy { keep_last_n: Some(n), ..Default::default() };
        // Only what this run uploaded, exactly as uploaded: other runs (or a rerun that rewrote
        // a checkpoint) under the same --upload-to are never pruned by this one.
        let uploaded = self.done.clone();
        let mine = move |c: &Checkpoint| uploaded.get(&c.id).is_some_and(|files| same_files(files, &c.files));
        let outside = "not uploaded by this run: left alone";
        match checkpoint::enforce_within(&remote, Some(&conn), &policy, &opts, &mine, outside, sink.as_ref()).await {
            Ok(e) => self.stats.deleted_remote.extend(deleted_ids(&e)),
            Err(e) => self.notice(format!("keep-last-n on {} failed: {e}", remote.display())),
        }
    }

    /// Puts the log next to the checkpoints (`<prefix>logs/<name>`), so the run's curves can be
    /// read from S3 later (`trainctl metrics`, the Runs view).
    async fn upload_log(&mut self) {
        let (Some(dest), Some(engine)) = (self.spec.upload_to.clone(), self.engine.as_ref()) else { return };
        let Ok(meta) = std::fs::metadata(&self.spec.log) else { return };
        let name = self.spec.log.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "train.log".into());
        let key = format!("{}logs/{name}", prefix_of(&dest));
        let mut job = TransferJob::new(Direction::Upload, &dest.bucket, self.spec.log.parent().unwrap_or(Path::new(".")));
        job.items.push(TransferItem { local: self.spec.log.clone(), key: key.clone(), size: meta.len(), etag: None, write_if: None });
        match engine.run(&job, &TransferOptions::default(), self.sink.as_ref(), self.cancel.clone()).await.and_then(|o| o.into_result(&job)) {
            Ok(_) => self.stats.log_uploaded_to = Some(format!("s3://{}/{key}", dest.bucket)),
            Err(e) => self.notice(format!("upload of the log failed: {e}")),
        }
    }

    fn notice(&self, message: String) {
        self.sink.send(Event::Notice { message });
    }
}

/// True when a listed checkpoint holds exactly the files (path, size) that were uploaded. A
/// compressed object (`X.zst`, `--compress`) stands for the file `X` it was made from; its size
/// is the compressed one, so only its name is compared.
fn same_files(uploaded: &[(String, u64)], listed: &[checkpoint::FileEntry]) -> bool {
    let mut a: Vec<(&str, Option<u64>)> = uploaded.iter().map(|(p, s)| (p.as_str(), Some(*s))).collect();
    let mut b: Vec<(&str, Option<u64>)> = listed.iter().map(|f| crate::codec::original_name(&f.path).map_or((f.path.as_str(), Some(f.size)), |p| (p, None))).collect();
    a.sort_unstable();
    b.sort_unstable();
    a.len() == b.len() && a.iter().zip(&b).all(|((pa, sa), (pb, sb))| pa == pb && (sb.is_none() || sa == sb))
}

/// The upload of checkpoint files (relative to `dir`) to `dest`: each under the prefix at its
/// relative path.
fn upload_job<'a>(dest: &S3Url, dir: &Path, files: impl IntoIterator<Item = &'a checkpoint::FileEntry>) -> TransferJob {
    let prefix = prefix_of(dest);
    let mut job = TransferJob::new(Direction::Upload, &dest.bucket, dir);
    job.items = files.into_iter().map(|f| TransferItem { local: dir.join(&f.path), key: format!("{prefix}{}", f.path), size: f.size, etag: None, write_if: None }).collect();
    job
}

/// What `trainctl local --upload-to` would upload now, before the script starts (its
/// `--dry-run`): the checkpoints already complete in the checkpoints folder (a resumed run's),
/// planned with `--compress` and `--dedup` as the uploads plan them
/// ([`transfer::dedup::plan_savings`], the figures `s3 upload --dry-run` prints).
#[derive(Debug, Clone, Default, Serialize)]
pub struct UploadNow {
    /// Complete checkpoints, by id.
    pub checkpoints: Vec<String>,
    pub files: u64,
    pub bytes: u64,
    /// What `--dedup` planned over all of them (`bytes_not_stored`: `--dedup=refs`).
    pub dedup: transfer::dedup::DedupPlanned,
}

impl LocalSpec {
    /// Whether a dry run has upload savings to show ([`plan_upload_now`], which needs the
    /// connection): `--upload-to` with a checkpoints folder, and `--compress` or `--dedup`.
    pub fn plans_savings(&self) -> bool {
        self.upload_to.is_some() && self.checkpoints.is_some() && (self.compress.is_some() || self.dedup.is_some())
    }
}

/// Plans [`UploadNow`] for `spec` (which has `--upload-to` and a checkpoints folder; an empty
/// plan otherwise). One job over every complete checkpoint: repeats across them are found as
/// the run's uploads, one after the other, find them.
pub async fn plan_upload_now(spec: &LocalSpec, conn: &Connection) -> Result<UploadNow> {
    let (Some(dest), Some(dir)) = (&spec.upload_to, &spec.checkpoints) else { return Ok(UploadNow::default()) };
    // Complete as the first round would judge them (`--grace`).
    let opts = DetectOptions { grace: spec.grace, ..DetectOptions::new() };
    let found = match checkpoint::discover(&Location::Local(dir.clone()), None, &opts).await {
        Ok(f) => f,
        Err(Error::LocalMissing(_)) => return Ok(UploadNow::default()),
        Err(e) => return Err(e),
    };
    let complete: Vec<Checkpoint> = found.runs.into_iter().flat_map(|r| r.checkpoints).filter(|c| c.complete.is_complete()).collect();
    if complete.is_empty() {
        return Ok(UploadNow::default());
    }
    let mut job = upload_job(dest, dir, complete.iter().flat_map(|c| &c.files));
    let prefix = prefix_of(dest);
    let dedup = transfer::dedup::plan_savings(&mut job, conn, spec.compress, spec.dedup.map(|m| (m, prefix.as_str()))).await?;
    Ok(UploadNow {
        checkpoints: complete.iter().map(|c| c.id.clone()).collect(),
        files: complete.iter().map(|c| c.files.len() as u64).sum(),
        bytes: complete.iter().map(|c| c.bytes).sum(),
        dedup,
    })
}

fn prefix_of(dest: &S3Url) -> String {
    if dest.key.is_empty() {
        String::new()
    } else {
        dest.dir_prefix()
    }
}

fn deleted_ids(e: &checkpoint::Enforced) -> Vec<String> {
    if e.outcome.is_none() {
        return Vec::new();
    }
    e.plans.iter().flat_map(|p| p.deletions().map(|i| i.checkpoint.id.clone())).collect()
}

/// A [`RunOutput`] that drops everything (tests, the desktop).
pub struct NoOutput;
impl RunOutput for NoOutput {
    fn output(&self, _stream: Stream, _bytes: &[u8]) {}
}

/// Collected output, for tests.
#[derive(Default)]
pub struct CollectOutput(pub Mutex<Vec<u8>>);
impl RunOutput for CollectOutput {
    fn output(&self, _stream: Stream, bytes: &[u8]) {
        self.0.lock().unwrap().extend_from_slice(bytes);
    }
}
