//! Transfer jobs of the desktop app: plan a request (drop / download / retry) in the
//! background, run it on the native engine, and report every step through [`events::dispatch`].
//!
//! A request returns its record at once (state `planning`); everything after that arrives as
//! events. Paths that vanished or cannot be read fail one by one (`transfer://object-failed`)
//! while the rest upload.

use crate::events::{dispatch, ShellEvent};
use crate::state::{AppState, Job, Live, Request};
use crate::types::{now_secs, TransferRecord, TransferState};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tauri::{AppHandle, Manager};
use tokio_util::sync::CancellationToken;
use trainctl_core::error::{Error, ErrorInfo};
use trainctl_core::event::{next_job_id, Direction, Event, JobId};
use trainctl_core::s3::{Connection, S3Url};
use trainctl_core::transfer::plan::{plan_download, plan_upload, SkipRule, UploadPlanOptions};
use trainctl_core::transfer::{TransferJob, TransferOptions};

/// Registers a job for `request`, starts it in the background and returns its first record.
pub fn start(app: &AppHandle, live: Live, request: Request) -> TransferRecord {
    let id = next_job_id();
    let record = initial_record(id, &request);
    let cancel = CancellationToken::new();
    let job = Job { record: record.clone(), cancel: cancel.clone(), request: request.clone(), rejected: 0 };
    app.state::<AppState>().jobs.lock().unwrap().insert(id, job);
    crate::tray::refresh(app);
    let app = app.clone();
    tauri::async_runtime::spawn(async move { run(app, live.conn, id, request, cancel).await });
    record
}

async fn run(app: AppHandle, conn: Connection, id: JobId, request: Request, cancel: CancellationToken) {
    let planned = tokio::select! {
        r = plan(&conn, &request) => r,
        _ = cancel.cancelled() => Err(Error::Cancelled),
    };
    let mut job = match planned {
        Ok(job) => job,
        Err(e) => return fail(&app, id, e),
    };
    job.id = id;
    let rejected = std::mem::take(&mut job.rejected);
    app.state::<AppState>().update(id, |j| j.rejected = rejected.len() as u64);
    let finished: Arc<Mutex<Option<Event>>> = Arc::default();
    let sink = job_sink(app.clone(), id, rejected, finished.clone());
    // The same choice as the CLI: s5cmd when it is found (the .deb ships it as a sidecar next to
    // the app), else the native engine, with a notice.
    let engine = match trainctl_core::transfer::choose_engine(trainctl_core::transfer::EnginePref::Auto, &conn, &sink) {
        Ok(engine) => engine,
        Err(e) => return fail(&app, id, e),
    };
    match engine.run(&job, &TransferOptions::default(), &sink, cancel).await {
        Ok(_) => {
            if let Some(ev) = finished.lock().unwrap().take() {
                dispatch(&app, ShellEvent::Core(ev));
            }
        }
        Err(e) => fail(&app, id, e),
    }
}

/// The engine's sink: passes events on, reports planning rejections right after the start, and
/// holds `TransferFinished` back until the engine says whether the job as a whole failed.
fn job_sink(app: AppHandle, id: JobId, rejected: Vec<(String, ErrorInfo)>, finished: Arc<Mutex<Option<Event>>>) -> impl Fn(Event) + Send + Sync {
    let extra = rejected.len() as u64;
    move |ev: Event| match ev {
        Event::TransferFinished { job, objects_done, objects_failed, objects_skipped, bytes_done, seconds } => {
            let ev = Event::TransferFinished { job, objects_done, objects_failed: objects_failed + extra, objects_skipped, bytes_done, seconds };
            *finished.lock().unwrap() = Some(ev);
        }
        Event::TransferStarted { .. } => {
            dispatch(&app, ShellEvent::Core(ev));
            for (key, error) in &rejected {
                dispatch(&app, ShellEvent::Core(Event::ObjectFailed { job: id, key: key.clone(), error: error.clone() }));
            }
        }
        other => dispatch(&app, ShellEvent::Core(other)),
    }
}

fn fail(app: &AppHandle, id: JobId, e: Error) {
    crate::commands::note_connection(app, &e);
    dispatch(app, ShellEvent::TransferFailed { job: id, error: e.info() });
}

/// Turns a request into one job: every dropped path / selected key planned and merged.
async fn plan(conn: &Connection, request: &Request) -> Result<TransferJob, Error> {
    match request {
        Request::Upload { paths, bucket, prefix } => plan_uploads(conn, paths, bucket, prefix).await,
        Request::Download { bucket, keys, dest_dir } => plan_downloads(conn, bucket, keys, dest_dir).await,
    }
}

async fn plan_uploads(conn: &Connection, paths: &[PathBuf], bucket: &str, prefix: &str) -> Result<TransferJob, Error> {
    let prefix = dir_prefix(prefix);
    let mut job = TransferJob::new(Direction::Upload, bucket, "");
    let opts = UploadPlanOptions { recursive: true, skip_existing: SkipRule::SameSize, ..Default::default() };
    for path in paths {
        let is_dir = match std::fs::metadata(path) {
            Ok(m) => m.is_dir(),
            Err(e) => {
                job.rejected.push((path.display().to_string(), Error::io(path, e).info()));
                continue;
            }
        };
        let key = match (is_dir, file_name(path)) {
            (true, Some(name)) => format!("{prefix}{name}/"),
            _ => prefix.clone(),
        };
        match plan_upload(path, &S3Url { bucket: bucket.to_string(), key }, &opts, conn).await {
            Ok(sub) => merge(&mut job, sub),
            Err(e) if is_fatal(&e) => return Err(e),
            Err(e) => job.rejected.push((path.display().to_string(), e.info())),
        }
    }
    Ok(job)
}

async fn plan_downloads(conn: &Connection, bucket: &str, keys: &[String], dest_dir: &Path) -> Result<TransferJob, Error> {
    std::fs::create_dir_all(dest_dir).map_err(|e| Error::io(dest_dir, e))?;
    let mut job = TransferJob::new(Direction::Download, bucket, dest_dir);
    for key in keys {
        let url = S3Url { bucket: bucket.to_string(), key: key.clone() };
        let planned = if key.ends_with('/') {
            let local = dest_dir.join(key.trim_end_matches('/').rsplit('/').next().unwrap_or(""));
            plan_download(&url, &local, true, conn).await
        } else {
            plan_download(&url, dest_dir, false, conn).await
        };
        match planned {
            Ok(sub) => merge(&mut job, sub),
            Err(e) if is_fatal(&e) => return Err(e),
            Err(e) => job.rejected.push((key.clone(), e.info())),
        }
    }
    Ok(job)
}

/// Errors after which planning the other items is pointless.
fn is_fatal(e: &Error) -> bool {
    matches!(e, Error::Unreachable { .. } | Error::Dns(_) | Error::Tls { .. } | Error::NoCredentials(_) | Error::BadAccessKey | Error::BadSecret | Error::NoSuchBucket(_))
}

fn merge(job: &mut TransferJob, sub: TransferJob) {
    job.items.extend(sub.items);
    job.skipped.extend(sub.skipped);
    job.rejected.extend(sub.rejected);
}

fn dir_prefix(prefix: &str) -> String {
    if prefix.is_empty() || prefix.ends_with('/') {
        prefix.to_string()
    } else {
        format!("{prefix}/")
    }
}

fn file_name(path: &Path) -> Option<String> {
    path.file_name().map(|n| n.to_string_lossy().into_owned())
}

fn initial_record(id: JobId, request: &Request) -> TransferRecord {
    let (direction, bucket, prefix, dest_dir, label) = match request {
        Request::Upload { paths, bucket, prefix } => {
            let names: Vec<String> = paths.iter().map(|p| file_name(p).map(|n| if p.is_dir() { format!("{n}/") } else { n }).unwrap_or_else(|| p.display().to_string())).collect();
            (Direction::Upload, bucket.clone(), dir_prefix(prefix), None, label(&names))
        }
        Request::Download { bucket, keys, dest_dir } => {
            let names: Vec<String> = keys.iter().map(|k| key_name(k)).collect();
            (Direction::Download, bucket.clone(), common_prefix(keys), Some(dest_dir.display().to_string()), label(&names))
        }
    };
    TransferRecord {
        job: id,
        direction,
        bucket,
        prefix,
        dest_dir,
        label,
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
        started_at: now_secs(),
        finished_at: None,
        failures: vec![],
        error: None,
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

    #[test]
    fn labels_are_short_and_human() {
        assert_eq!(label(&["checkpoint-500/".into()]), "checkpoint-500/");
        assert_eq!(label(&["model.safetensors".into(), "a".into(), "b".into()]), "model.safetensors and 2 more");
        assert_eq!(key_name("runs/a/checkpoint-500/"), "checkpoint-500/");
        assert_eq!(key_name("runs/a/model.bin"), "model.bin");
    }

    #[test]
    fn download_prefix_is_the_common_parent() {
        assert_eq!(common_prefix(&["runs/a/x".into(), "runs/a/ckpt/".into()]), "runs/a/");
        assert_eq!(common_prefix(&["runs/a/x".into(), "other/y".into()]), "");
    }

    #[test]
    fn upload_prefix_is_a_folder() {
        assert_eq!(dir_prefix(""), "");
        assert_eq!(dir_prefix("runs"), "runs/");
        assert_eq!(dir_prefix("runs/"), "runs/");
    }
}
