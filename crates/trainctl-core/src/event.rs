//! The one event type of trainctl.
//!
//! Long work in the core never prints: it sends [`Event`]s to a [`Sink`]. The CLI turns them into
//! indicatif bars or `--json` lines; the desktop shell turns them into IPC events and notifications
//! in one function. Adding a capability means adding variants here, not a new channel.

use serde::{Deserialize, Serialize};
use std::sync::Arc;

use crate::error::ErrorInfo;

/// Identifies one transfer job across its events (unique within a process).
pub type JobId = u64;

/// Which way bytes move.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Upload,
    Download,
}

/// A snapshot of a job's progress. Sent at most a few times per second per job.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Progress {
    pub job: JobId,
    pub bytes_done: u64,
    pub bytes_total: u64,
    pub objects_done: u64,
    pub objects_total: u64,
    /// Smoothed throughput in bytes per second.
    pub bytes_per_sec: f64,
    /// Estimated seconds to completion, when the rate is known.
    pub eta_secs: Option<f64>,
}

/// Everything long-running work reports.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A transfer job starts; totals are known from its plan.
    TransferStarted { job: JobId, direction: Direction, engine: String, objects_total: u64, bytes_total: u64, skipped: u64 },
    /// Periodic progress of a job.
    Progress(Progress),
    /// One object moved completely (and was verified, for downloads).
    /// `etag`: the object's ETag when the engine knows it (native uploads: the server's answer;
    /// verified downloads: the planned one), so two-way sync records it without a HEAD.
    ObjectDone { job: JobId, key: String, local: String, bytes: u64, etag: Option<String> },
    /// `--dedup`: an object was written by a server-side copy of `from`, an object that already
    /// held the same content (size and CRC64NVME checked), instead of sending `local`'s bytes;
    /// `bytes` is what was not sent.
    ObjectCopied { job: JobId, key: String, from: String, local: String, bytes: u64 },
    /// One object was not transferred because it is already complete at the destination.
    ObjectSkipped { job: JobId, key: String, reason: String },
    /// One item was refused by the plan before any transfer (an unsafe key, an unreadable file):
    /// a failure of the job, reported by the engine right after `TransferStarted`.
    ObjectRejected { job: JobId, key: String, error: ErrorInfo },
    /// One object failed; the job goes on with the others.
    ObjectFailed { job: JobId, key: String, error: ErrorInfo },
    /// A job ended (successfully or not); `failed` > 0 means a partial result.
    TransferFinished { job: JobId, objects_done: u64, objects_failed: u64, objects_skipped: u64, bytes_done: u64, seconds: f64 },
    /// A checkpoint of a cleanup plan was deleted completely (all its objects or files).
    CheckpointDeleted { id: String, objects: u64, bytes: u64 },
    /// A cleanup apply ended; `objects_failed` > 0 means some deletions were refused or failed
    /// (each was reported as [`Event::ObjectFailed`]).
    CleanupFinished { checkpoints_deleted: u64, objects_deleted: u64, objects_failed: u64, bytes_reclaimed: u64, seconds: f64 },
    /// A dedup apply deleted the extra copies of one more group (the Dashboard's progress bar).
    DedupProgress { groups_done: u64, groups: u64, objects_deleted: u64, bytes_reclaimed: u64 },
    // ---- watch (core `watch`, `trainctl s3 watch`, the Watches view) ----
    /// A watch made its first look: how it polls (`start_after` or `diff`) and what was there.
    WatchStarted { watch: String, mode: String, objects: u64, bytes: u64, checkpoints: u64 },
    /// The watched prefix (or its bucket) has nothing yet; the watch waits for it.
    WatchWaiting { watch: String, message: String },
    /// A new or rewritten object under the watched prefix (`key` relative to it).
    WatchObject { watch: String, key: String, size: u64 },
    /// The prefix grew since the previous poll (data or checkpoint uploads).
    WatchGrowth { watch: String, objects_added: u64, bytes_added: u64, objects_total: u64, bytes_total: u64, seconds: f64 },
    /// A checkpoint became complete; sent exactly once per checkpoint (`id` relative to the watch).
    WatchCheckpoint { watch: String, run: String, id: String, layout: crate::checkpoint::Layout, step: Option<u64>, epoch: Option<f64>, bytes: u64, files: u64, metrics: std::collections::BTreeMap<String, f64> },
    /// A run finished: a final marker, a `trainer_state.json` at max_steps, or the user's rule.
    WatchRunFinished { watch: String, run: String, reason: String, step: Option<u64> },
    /// No new checkpoint for `stall_after` × the observed cadence; sent once per stall.
    WatchRunStalled { watch: String, run: String, last_checkpoint: Option<String>, silent_secs: f64, cadence_secs: f64 },
    /// A stalled run wrote a checkpoint again.
    WatchRunResumed { watch: String, run: String, id: String, silent_secs: f64 },
    /// A poll failed (expired credentials, endpoint down...); the watch retries after `retry_in_secs`.
    WatchError { watch: String, error: ErrorInfo, failures: u32, retry_in_secs: f64 },
    /// A poll worked again after `failures` failed ones.
    WatchRecovered { watch: String, failures: u32 },
    // ---- review (core `review`, `trainctl s3 review`, the Dashboard) ----
    /// Periodic progress of a storage review: objects and bytes counted so far, listing units
    /// (prefixes or inventory data files) done out of those known so far.
    ReviewProgress { objects: u64, bytes: u64, units_done: u64, units_total: u64 },
    /// Something the user should know that is not an error (a fallback engine, a retry...).
    Notice { message: String },
    // ---- the application layer (core `app`: the desktop's state, reported whole) ----
    /// A transfer job's record changed (its state, progress, failures): the whole record.
    TransferUpdated(TransferRecord),
    /// A watch's row changed.
    WatchUpdated(WatchInfo),
    /// A watch was removed.
    WatchRemoved { id: u64 },
    /// A sync pair's row changed (a pass started or ended, a decision is needed).
    SyncUpdated(SyncPairInfo),
    /// A sync pair was removed.
    SyncRemoved { id: u64 },
    /// A notification for the user (shown natively by the host, kept in the in-app list).
    Notification(AppNotification),
    /// A call met a connection-scope error: the endpoint cannot be reached.
    ConnectionLost { profile: String, error: ErrorInfo },
    /// A call worked again after `ConnectionLost`.
    ConnectionRestored { profile: String },
}

// ---- the records the application layer reports whole (behaviour: `crate::app`) --------------
// Defined here, beside the event that carries them, so `event` depends on nothing above it; the
// fold of a record, the validation of a watch and the words of a notification live in `app`.

/// Where a job is in its life.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferState {
    Planning,
    Running,
    Done,
    Partial,
    Failed,
    Cancelled,
    /// Cut off by a crash, a kill or a quit before it ended; listed again after a restart with
    /// Resume (the request runs again; complete objects are skipped) and Dismiss.
    Interrupted,
}

impl TransferState {
    /// True while the job may still move bytes.
    pub fn is_active(self) -> bool {
        matches!(self, TransferState::Planning | TransferState::Running)
    }
}

/// One item that failed within a job.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TransferFailure {
    pub key: String,
    pub error: ErrorInfo,
}

/// One job as every view shows it, live or finished.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TransferRecord {
    pub job: JobId,
    /// Grows with every change: a view keeps the record with the highest version.
    pub version: u64,
    pub direction: Direction,
    pub bucket: String,
    /// Upload: destination prefix. Download: the source prefix (or `""`).
    pub prefix: String,
    /// Download: the local destination folder.
    pub dest_dir: Option<String>,
    /// Short human label ("checkpoint-500/ and 2 more").
    pub label: String,
    pub state: TransferState,
    pub engine: Option<String>,
    pub bytes_done: u64,
    pub bytes_total: u64,
    pub objects_done: u64,
    pub objects_total: u64,
    pub objects_failed: u64,
    pub objects_skipped: u64,
    pub bytes_per_sec: f64,
    pub eta_secs: Option<f64>,
    /// Seconds since the Unix epoch.
    pub started_at: i64,
    pub finished_at: Option<i64>,
    /// The first failures (all of them are counted in `objects_failed`).
    pub failures: Vec<TransferFailure>,
    /// Whole-job error (state `failed`, or `cancelled`).
    pub error: Option<ErrorInfo>,
}

/// What is saved of a watch (no secrets: the connection is the session's).
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WatchSpec {
    pub id: u64,
    /// `s3://bucket/prefix/`
    pub url: String,
    pub interval_secs: f64,
    pub stall_after: f64,
    pub paused: bool,
}

/// Where a watch is.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WatchState {
    Running,
    Paused,
    Waiting,
    Stalled,
    Finished,
    Error,
    /// Saved, but there is no connection yet: it starts by itself once there is one.
    NoConnection,
}

/// A watch as the Watches view shows it (`watches_list`, `WatchUpdated`).
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WatchInfo {
    #[serde(flatten)]
    pub spec: WatchSpec,
    pub status: WatchState,
    /// One line about the newest event.
    pub last_event: Option<String>,
    /// Seconds since the Unix epoch.
    pub last_event_at: Option<i64>,
    pub checkpoints: u64,
    /// Id (relative to the watch) and step of the newest checkpoint reported.
    pub last_checkpoint: Option<String>,
    pub last_step: Option<u64>,
    /// The newest events, newest first.
    pub recent: Vec<WatchLine>,
}

/// One line of a watch's history; `link` is the S3 prefix of the run it is about.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WatchLine {
    pub at: i64,
    pub kind: String,
    pub text: String,
    pub link: String,
}

/// What is saved of a sync pair (`syncs.json`; the snapshots live with the pair's state).
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SyncPairSpec {
    pub id: u64,
    /// The local folder (shown; the page chose it with the folder dialog).
    pub local: String,
    /// `s3://bucket/prefix/`
    pub remote: String,
    /// Sync on every local change and every `interval_secs` while the app runs (tray too).
    pub continuous: bool,
    pub interval_secs: f64,
}

/// Where a sync pair is.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncState {
    Idle,
    Running,
    /// Deletions (or the delete guard) wait for the user's confirmation: see `prompt`.
    NeedsConfirmation,
    /// Conflicts wait for a decision: see `conflicts`.
    NeedsDecision,
    Error,
    NoConnection,
}

/// A pass's deletions held for confirmation (by `plan_id`, once, 30 minutes).
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SyncPrompt {
    pub plan_id: u64,
    /// `local:path` / `remote:path`, with bytes.
    pub deletions: Vec<(String, u64)>,
    pub bytes: u64,
    /// Set when the delete guard refuses the pass (confirming goes past it).
    pub guard: Option<String>,
}

/// A sync pair as the Sync view shows it (`sync_pairs_list`, `SyncUpdated`).
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SyncPairInfo {
    #[serde(flatten)]
    pub spec: SyncPairSpec,
    pub state: SyncState,
    /// Seconds since the Unix epoch of the last pass that ran.
    pub last_pass_at: Option<i64>,
    /// One line about the last pass.
    pub last_pass: Option<String>,
    /// Changes waiting on each side, from the last look (a dry run).
    pub pending_local: u64,
    pub pending_remote: u64,
    /// Conflicts waiting for a decision.
    pub conflicts: Vec<crate::sync::conflict::Conflict>,
    pub prompt: Option<SyncPrompt>,
    pub error: Option<ErrorInfo>,
    /// Bytes and files copied so far by the pass that runs (both directions), `None` between passes.
    pub progress: Option<SyncProgress>,
}

/// How far the running pass of a pair has copied (uploads and downloads together).
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SyncProgress {
    pub bytes_done: u64,
    pub bytes_total: u64,
    pub objects_done: u64,
    pub objects_total: u64,
}

/// Severity of a notification.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationLevel {
    Info,
    Success,
    Warning,
    Error,
}

/// A popup, mirrored in the in-app list.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AppNotification {
    pub id: u64,
    pub level: NotificationLevel,
    pub title: String,
    pub body: String,
    /// Seconds since the Unix epoch.
    pub at: i64,
    /// The transfer job it is about (a click opens Transfers).
    pub job: Option<JobId>,
    /// An `s3://` prefix a click opens (watch popups: the run).
    pub link: Option<String>,
}

/// Where events go. Implemented by the CLI renderer, the desktop shell, and test collectors.
pub trait Sink: Send + Sync {
    fn send(&self, event: Event);
}

impl<F: Fn(Event) + Send + Sync> Sink for F {
    fn send(&self, event: Event) {
        self(event)
    }
}

/// A sink that drops everything (for callers that only want the result).
pub struct NullSink;
impl Sink for NullSink {
    fn send(&self, _event: Event) {}
}

/// A sink that records events, for tests and for building summaries.
#[derive(Default, Clone)]
pub struct CollectSink(pub Arc<std::sync::Mutex<Vec<Event>>>);
impl Sink for CollectSink {
    fn send(&self, event: Event) {
        self.0.lock().unwrap().push(event);
    }
}
impl CollectSink {
    pub fn events(&self) -> Vec<Event> {
        self.0.lock().unwrap().clone()
    }
}

/// Allocates process-unique job ids.
pub fn next_job_id() -> JobId {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
