//! Transfer jobs of an app session: one id per job, minted once; the request kept for Retry; the
//! record of each job folded from the engine's events in one place and reported whole
//! (`Event::TransferUpdated`), so every view shows the same state and none folds events itself.

use super::notify;
use super::App;
use crate::error::{Error, Result};
pub use crate::event::{TransferFailure, TransferRecord, TransferState};
use crate::event::{next_job_id, Direction, Event, JobId, Sink};
use crate::transfer::selection::{self, Source};
use crate::transfer::{choose_engine, EnginePref, TransferJob, TransferOptions};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Failures listed per record (the count goes on; a 50,000-file drop that fails whole must not
/// send 50,000 entries with every update).
const FAILURES_LISTED: usize = 200;
/// Finished jobs kept in the list; the oldest finished ones drop off.
const FINISHED_KEPT: usize = 200;
/// Progress updates of one job are reported at most this often (state changes at once).
const UPDATE_EVERY: Duration = Duration::from_millis(150);

impl TransferRecord {
    fn new(job: JobId, request: &Request) -> TransferRecord {
        let (direction, bucket, prefix, dest_dir, names) = match request {
            Request::Upload { sources, bucket, prefix } => {
                let names = sources.iter().map(source_name).collect::<Vec<_>>();
                (Direction::Upload, bucket.clone(), selection::folder_prefix(prefix), None, names)
            }
            Request::Download { bucket, keys, dest } => {
                (Direction::Download, bucket.clone(), common_prefix(keys), Some(dest.display().to_string()), keys.iter().map(|k| key_name(k)).collect())
            }
        };
        TransferRecord {
            job,
            version: 0,
            direction,
            bucket,
            prefix,
            dest_dir,
            label: label(&names),
            state: TransferState::Planning,
            engine: None,
            bytes_done: 0,
            bytes_total: 0,
            objects_done: 0,
            objects_total: 0,
            objects_failed: 0,
            objects_skipped: 0,
            bytes_per_sec: 0.0,
            eta_secs: None,
            started_at: crate::checkpoint::detect::now_secs(),
            finished_at: None,
            failures: Vec::new(),
            error: None,
        }
    }

    /// Folds one engine event into the record. Returns whether the state changed (reported at
    /// once) — `None` when the event does not concern the record at all.
    pub fn apply(&mut self, ev: &Event) -> Option<bool> {
        match ev {
            Event::TransferStarted { engine, objects_total, bytes_total, skipped, .. } => {
                self.state = TransferState::Running;
                self.engine = Some(engine.clone());
                (self.objects_total, self.bytes_total, self.objects_skipped) = (*objects_total, *bytes_total, *skipped);
                Some(true)
            }
            Event::Progress(p) if self.state.is_active() => {
                (self.bytes_done, self.bytes_total, self.objects_done) = (p.bytes_done, p.bytes_total, p.objects_done);
                (self.bytes_per_sec, self.eta_secs) = (p.bytes_per_sec, p.eta_secs);
                Some(false)
            }
            Event::ObjectFailed { key, error, .. } | Event::ObjectRejected { key, error, .. } => {
                self.objects_failed += 1;
                if self.failures.len() < FAILURES_LISTED {
                    self.failures.push(TransferFailure { key: key.clone(), error: error.clone() });
                }
                Some(false)
            }
            Event::TransferFinished { objects_done, objects_failed, objects_skipped, bytes_done, seconds, .. } => {
                (self.objects_done, self.objects_failed, self.objects_skipped, self.bytes_done) = (*objects_done, *objects_failed, *objects_skipped, *bytes_done);
                self.state = if *objects_failed > 0 { TransferState::Partial } else { TransferState::Done };
                if *seconds > 0.0 {
                    self.bytes_per_sec = *bytes_done as f64 / seconds;
                }
                self.finish();
                Some(true)
            }
            _ => None,
        }
    }

    /// The engine (or planning) ended the whole job with `e`.
    fn fail(&mut self, e: &Error) {
        self.state = if matches!(e, Error::Cancelled) { TransferState::Cancelled } else { TransferState::Failed };
        self.error = Some(e.info());
        self.finish();
    }

    fn finish(&mut self) {
        self.eta_secs = None;
        self.finished_at.get_or_insert(crate::checkpoint::detect::now_secs());
    }
}

/// What a job was asked to do, kept so Retry asks again (and on disk so Resume can: queue.rs).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum Request {
    Upload { sources: Vec<Source>, bucket: String, prefix: String },
    Download { bucket: String, keys: Vec<String>, dest: PathBuf },
}

impl Request {
    /// A request read back from disk names local paths: each must be absolute and plain (no
    /// `..`), the bucket valid, the lists bounded.
    pub(crate) fn validate(&self) -> Result<()> {
        let plain = |p: &std::path::Path| p.is_absolute() && p.components().all(|c| !matches!(c, std::path::Component::ParentDir));
        let (bucket, paths, n) = match self {
            Request::Upload { sources, bucket, .. } => (bucket, sources.iter().map(|s| s.path.as_path()).collect::<Vec<_>>(), sources.len()),
            Request::Download { bucket, keys, dest } => (bucket, vec![dest.as_path()], keys.len()),
        };
        crate::s3::S3Url::parse(&format!("s3://{bucket}/"))?;
        if n == 0 || n > 100_000 {
            return Err(Error::Usage(format!("a queued transfer names {n} items")));
        }
        match paths.iter().find(|p| !plain(p)) {
            Some(p) => Err(Error::Usage(format!("a queued transfer names `{}`, not an absolute plain path", p.display()))),
            None => Ok(()),
        }
    }
}

struct Job {
    record: TransferRecord,
    cancel: CancellationToken,
    request: Request,
    last_update: Instant,
}

/// Every transfer job of the session.
#[derive(Default)]
pub struct Transfers {
    jobs: Mutex<BTreeMap<JobId, Job>>,
    /// Set when the app quits: jobs cancelled by the quit stay in the queue on disk (they were
    /// interrupted, not given up), so the next start offers to resume them.
    quitting: std::sync::atomic::AtomicBool,
}

impl Transfers {
    /// Records of every job, oldest first.
    pub fn list(&self) -> Vec<TransferRecord> {
        self.jobs.lock().unwrap().values().map(|j| j.record.clone()).collect()
    }

    /// Labels of the jobs still moving bytes (tray tooltip, close prompt).
    pub fn active_labels(&self) -> Vec<String> {
        self.jobs.lock().unwrap().values().filter(|j| j.record.state.is_active()).map(|j| j.record.label.clone()).collect()
    }

    /// Stops every active job because the app quits; they are offered again after a restart.
    pub fn stop_for_quit(&self) -> usize {
        self.quitting.store(true, std::sync::atomic::Ordering::SeqCst);
        self.cancel_all()
    }

    /// Cancels every active job; returns how many were asked to stop.
    pub fn cancel_all(&self) -> usize {
        let jobs = self.jobs.lock().unwrap();
        let active: Vec<_> = jobs.values().filter(|j| j.record.state.is_active()).collect();
        active.iter().for_each(|j| j.cancel.cancel());
        active.len()
    }

    /// Asks job `job` to stop (it ends `cancelled`, every object complete or absent).
    pub fn cancel(&self, job: JobId) -> Result<()> {
        let jobs = self.jobs.lock().unwrap();
        let j = jobs.get(&job).ok_or_else(|| unknown_job(job))?;
        j.cancel.cancel();
        Ok(())
    }

    fn request(&self, job: JobId) -> Result<Request> {
        self.jobs.lock().unwrap().get(&job).map(|j| j.request.clone()).ok_or_else(|| unknown_job(job))
    }

    /// Applies `f` to a job's record; returns the record to report, if `f` says so (or the
    /// job's last report is older than [`UPDATE_EVERY`]).
    fn update(&self, job: JobId, f: impl FnOnce(&mut TransferRecord) -> Option<bool>) -> Option<TransferRecord> {
        let mut jobs = self.jobs.lock().unwrap();
        let j = jobs.get_mut(&job)?;
        let urgent = f(&mut j.record)?;
        j.record.version += 1;
        if urgent || j.last_update.elapsed() >= UPDATE_EVERY {
            j.last_update = Instant::now();
            return Some(j.record.clone());
        }
        None
    }

    /// True when `job` waits for Resume or Dismiss.
    fn interrupted(&self, job: JobId) -> bool {
        self.jobs.lock().unwrap().get(&job).is_some_and(|j| j.record.state == TransferState::Interrupted)
    }

    fn insert(&self, record: TransferRecord, cancel: CancellationToken, request: Request) {
        let mut jobs = self.jobs.lock().unwrap();
        jobs.insert(record.job, Job { record, cancel, request, last_update: Instant::now() });
        let finished: Vec<JobId> = jobs.values().filter(|j| !j.record.state.is_active()).map(|j| j.record.job).collect();
        for id in finished.iter().take(finished.len().saturating_sub(FINISHED_KEPT)) {
            jobs.remove(id);
        }
    }
}

fn unknown_job(job: JobId) -> Error {
    Error::NotFound(format!("transfer job {job}"))
}

impl App {
    /// Uploads dropped files and folders (named by their grant tokens) under `prefix`.
    pub fn upload_dropped(&self, tokens: &[String], bucket: &str, prefix: &str) -> Result<TransferRecord> {
        if tokens.is_empty() {
            return Err(Error::Usage("nothing to upload: no files or folders were dropped".into()));
        }
        let sources = tokens.iter().map(|t| self.grants.resolve(t).map(|(path, is_dir)| Source { path, is_dir })).collect::<Result<Vec<_>>>()?;
        self.start_transfer(Request::Upload { sources, bucket: bucket.to_string(), prefix: prefix.to_string() })
    }

    /// Downloads selected keys and folders into a granted folder.
    pub fn download_keys(&self, bucket: &str, keys: &[String], dest_token: &str) -> Result<TransferRecord> {
        if keys.is_empty() {
            return Err(Error::Usage("nothing selected to download".into()));
        }
        let dest = self.grants.folder(dest_token)?;
        self.start_transfer(Request::Download { bucket: bucket.to_string(), keys: keys.to_vec(), dest })
    }

    /// Runs job `job`'s request again (what is complete is skipped): an interrupted job resumes
    /// in its own row, a failed or cancelled one runs as a new job.
    pub fn transfer_retry(&self, job: JobId) -> Result<TransferRecord> {
        let request = self.transfers.request(job)?;
        if self.transfers.interrupted(job) {
            return self.start_transfer_as(job, request);
        }
        self.start_transfer(request)
    }

    /// Cancels job `job`; an interrupted one is dismissed (ends `cancelled`, not offered again).
    pub fn transfer_cancel(&self, job: JobId) -> Result<()> {
        if !self.transfers.interrupted(job) {
            return self.transfers.cancel(job);
        }
        self.queue.ended(job);
        if let Some(r) = self.transfers.update(job, |r| {
            r.state = TransferState::Cancelled;
            r.finish();
            Some(true)
        }) {
            self.emit(Event::TransferUpdated(r));
        }
        Ok(())
    }

    /// Lists the jobs a previous run left unfinished on the connected profile as `interrupted`
    /// (once per start), with a notification that says where to resume them.
    pub(crate) fn offer_interrupted(&self) {
        let Some(profile) = self.session.info().map(|i| i.profile) else { return };
        let queued = match self.queue.take_interrupted(&profile) {
            Ok(q) => q,
            Err(e) => {
                let text = format!("{e} — {}", e.hint());
                return self.notify(notify::NewNotification::new(super::NotificationLevel::Warning, "Interrupted transfers not restored", text));
            }
        };
        for q in &queued {
            let id = next_job_id();
            let mut record = TransferRecord::new(id, &q.request);
            record.state = TransferState::Interrupted;
            record.started_at = q.started_at;
            self.transfers.insert(record.clone(), CancellationToken::new(), q.request.clone());
            self.queue.offered(id, q.clone());
            self.emit(Event::TransferUpdated(record));
        }
        if !queued.is_empty() {
            let text = format!("{} did not finish before trainctl stopped. Resume or dismiss in Transfers.", if queued.len() == 1 { "1 transfer".to_string() } else { format!("{} transfers", queued.len()) });
            self.notify(notify::NewNotification::new(super::NotificationLevel::Warning, "Transfers interrupted", text));
        }
    }

    /// Registers a job, starts it in the background and returns its first record (`planning`);
    /// everything after that arrives as `TransferUpdated`.
    fn start_transfer(&self, request: Request) -> Result<TransferRecord> {
        self.start_transfer_as(next_job_id(), request)
    }

    /// [`App::start_transfer`] under id `id` (an interrupted job resumes in its own row: the
    /// record starts over with a higher version, so every view replaces the old one).
    fn start_transfer_as(&self, id: JobId, request: Request) -> Result<TransferRecord> {
        let conn = self.session.conn()?;
        let mut record = TransferRecord::new(id, &request);
        record.version = self.transfers.list().iter().find(|r| r.job == id).map_or(0, |r| r.version + 1);
        let cancel = CancellationToken::new();
        self.transfers.insert(record.clone(), cancel.clone(), request.clone());
        let profile = self.session.info().map(|i| i.profile).unwrap_or_default();
        self.queue.started(id, profile, record.started_at, request.clone());
        self.emit(Event::TransferUpdated(record.clone()));
        let app = self.me();
        tokio::spawn(async move {
            let result = app.run_transfer(&conn, id, &request, cancel).await;
            app.end_transfer(id, result);
        });
        Ok(record)
    }

    async fn run_transfer(&self, conn: &crate::s3::Connection, id: JobId, request: &Request, cancel: CancellationToken) -> Result<()> {
        let planned = tokio::select! {
            r = plan(conn, request) => r,
            _ = cancel.cancelled() => Err(Error::Cancelled),
        };
        let mut job = self.watched(planned)?;
        job.id = id;
        let sink = JobSink { app: self.me(), job: id };
        let engine = choose_engine(EnginePref::Auto, conn, &sink)?;
        let result = engine.run(&job, &TransferOptions::default(), &sink, cancel).await;
        self.watched(result).map(|_| ())
    }

    /// Records how the job ended and tells the user. A job stopped by a quit stays queued.
    fn end_transfer(&self, id: JobId, result: Result<()>) {
        if !self.transfers.quitting.load(std::sync::atomic::Ordering::SeqCst) {
            self.queue.ended(id);
        }
        let record = match result {
            Ok(()) => self.transfers.update(id, |_| Some(true)),
            Err(e) => self.transfers.update(id, |r| {
                r.fail(&e);
                Some(true)
            }),
        };
        if let Some(r) = record {
            let popup = notify::transfer_ended(&r);
            self.emit(Event::TransferUpdated(r));
            if let Some(n) = popup {
                self.notify(n);
            }
        }
    }
}

async fn plan(conn: &crate::s3::Connection, request: &Request) -> Result<TransferJob> {
    match request {
        Request::Upload { sources, bucket, prefix } => selection::plan_upload_sources(conn, sources, bucket, prefix).await,
        Request::Download { bucket, keys, dest } => selection::plan_download_selection(conn, bucket, keys, dest).await,
    }
}

/// The engine's sink for one job: folds each event into the record and reports it (engine
/// notices become notifications through [`App::emit`]).
struct JobSink {
    app: Arc<App>,
    job: JobId,
}

impl Sink for JobSink {
    fn send(&self, event: Event) {
        if let Event::Notice { .. } = event {
            return self.app.emit(event);
        }
        if let Some(r) = self.app.transfers.update(self.job, |r| r.apply(&event)) {
            self.app.emit(Event::TransferUpdated(r));
        }
    }
}

fn source_name(s: &Source) -> String {
    let name = s.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| s.path.display().to_string());
    if s.is_dir {
        format!("{name}/")
    } else {
        name
    }
}

/// `checkpoint-500/`, `model.safetensors and 2 more`.
pub fn label(names: &[String]) -> String {
    match names {
        [] => "nothing".into(),
        [one] => one.clone(),
        [first, rest @ ..] => format!("{first} and {} more", rest.len()),
    }
}

/// The last segment of a key, keeping a folder's trailing `/`.
fn key_name(key: &str) -> String {
    let trimmed = key.trim_end_matches('/');
    let name = trimmed.rsplit('/').next().unwrap_or(trimmed);
    if key.ends_with('/') {
        format!("{name}/")
    } else {
        name.to_string()
    }
}

/// The folder the selected keys live in (`""` at the bucket root).
fn common_prefix(keys: &[String]) -> String {
    let parent = |k: &String| k.trim_end_matches('/').rfind('/').map(|i| k[..=i].to_string()).unwrap_or_default();
    let first = keys.first().map(parent).unwrap_or_default();
    if keys.iter().all(|k| parent(k) == first) {
        first
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Progress;

    fn record() -> TransferRecord {
        TransferRecord::new(7, &Request::Download { bucket: "b".into(), keys: vec!["runs/a/x".into(), "runs/a/ckpt/".into()], dest: "/d".into() })
    }

    #[test]
    fn labels_are_short_and_human() {
        assert_eq!(label(&["checkpoint-500/".into()]), "checkpoint-500/");
        assert_eq!(label(&["model.safetensors".into(), "a".into(), "b".into()]), "model.safetensors and 2 more");
        assert_eq!(key_name("runs/a/checkpoint-500/"), "checkpoint-500/");
        assert_eq!(record().label, "x and 1 more");
        assert_eq!(record().prefix, "runs/a/");
        assert_eq!(common_prefix(&["runs/a/x".into(), "other/y".into()]), "");
    }

    #[test]
    fn a_record_folds_start_progress_failures_and_the_end() {
        let mut r = record();
        r.apply(&Event::TransferStarted { job: 7, direction: Direction::Download, engine: "native".into(), objects_total: 3, bytes_total: 30, skipped: 1 });
        assert_eq!((r.state, r.objects_total), (TransferState::Running, 3));
        assert_eq!(r.apply(&Event::Progress(Progress { job: 7, bytes_done: 10, bytes_total: 30, objects_done: 1, objects_total: 3, bytes_per_sec: 5.0, eta_secs: Some(4.0) })), Some(false));
        let err = Error::NotFound("k".into()).info();
        r.apply(&Event::ObjectRejected { job: 7, key: "../x".into(), error: err.clone() });
        r.apply(&Event::TransferFinished { job: 7, objects_done: 2, objects_failed: 1, objects_skipped: 1, bytes_done: 20, seconds: 2.0 });
        assert_eq!((r.state, r.objects_failed, r.failures.len(), r.eta_secs), (TransferState::Partial, 1, 1, None));
        assert!(r.finished_at.is_some());
        // A late progress sample does not bring a finished job back to life.
        r.apply(&Event::Progress(Progress { job: 7, ..Default::default() }));
        assert_eq!((r.state, r.bytes_done), (TransferState::Partial, 20));
    }

    #[test]
    fn a_cancelled_job_ends_cancelled_even_after_its_engine_said_finished() {
        let mut r = record();
        r.apply(&Event::TransferFinished { job: 7, objects_done: 1, objects_failed: 0, objects_skipped: 0, bytes_done: 1, seconds: 0.1 });
        r.fail(&Error::Cancelled);
        assert_eq!(r.state, TransferState::Cancelled);
        assert_eq!(r.error.as_ref().unwrap().code, "cancelled");
    }

    #[test]
    fn the_failure_list_is_capped_but_counted() {
        let mut r = record();
        let err = Error::NotFound("k".into()).info();
        for i in 0..(FAILURES_LISTED + 5) {
            r.apply(&Event::ObjectFailed { job: 7, key: format!("k{i}"), error: err.clone() });
        }
        assert_eq!((r.objects_failed as usize, r.failures.len()), (FAILURES_LISTED + 5, FAILURES_LISTED));
    }
}
