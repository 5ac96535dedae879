//! The one event type of trainctl.
//!
//! Long work in the core never prints: it sends [`Event`]s to a [`Sink`]. The CLI turns them into
//! indicatif bars or `--json` lines; the desktop shell turns them into IPC events and notifications
//! in one function. Adding a capability means adding variants here, not a new channel.

use serde::Serialize;
use std::sync::Arc;

use crate::error::ErrorInfo;

/// Identifies one transfer job across its events (unique within a process).
pub type JobId = u64;

/// Which way bytes move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Upload,
    Download,
}

/// A snapshot of a job's progress. Sent at most a few times per second per job.
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
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A transfer job starts; totals are known from its plan.
    TransferStarted { job: JobId, direction: Direction, engine: String, objects_total: u64, bytes_total: u64, skipped: u64 },
    /// Periodic progress of a job.
    Progress(Progress),
    /// One object moved completely (and was verified, for downloads).
    ObjectDone { job: JobId, key: String, local: String, bytes: u64 },
    /// One object was not transferred because it is already complete at the destination.
    ObjectSkipped { job: JobId, key: String, reason: String },
    /// One object failed; the job goes on with the others.
    ObjectFailed { job: JobId, key: String, error: ErrorInfo },
    /// A job ended (successfully or not); `failed` > 0 means a partial result.
    TransferFinished { job: JobId, objects_done: u64, objects_failed: u64, objects_skipped: u64, bytes_done: u64, seconds: f64 },
    /// A checkpoint of a cleanup plan was deleted completely (all its objects or files).
    CheckpointDeleted { id: String, objects: u64, bytes: u64 },
    /// A cleanup apply ended; `objects_failed` > 0 means some deletions were refused or failed
    /// (each was reported as [`Event::ObjectFailed`]).
    CleanupFinished { checkpoints_deleted: u64, objects_deleted: u64, objects_failed: u64, bytes_reclaimed: u64, seconds: f64 },
    /// Something the user should know that is not an error (a fallback engine, a retry...).
    Notice { message: String },
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
