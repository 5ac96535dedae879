//! Everything the shell remembers while it runs: the live connection, the demo (when started),
//! every transfer of this process, and every notification shown.

use crate::types::{AppNotification, ConnectionInfo, TransferRecord};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use tokio_util::sync::CancellationToken;
use trainctl_core::checkpoint::Location;
use trainctl_core::demo::Demo;
use trainctl_core::event::JobId;
use trainctl_core::s3::Connection;

/// The live connection plus how the UI names it.
#[derive(Clone)]
pub struct Live {
    pub conn: Connection,
    pub info: ConnectionInfo,
}

/// What a job was asked to do, kept so Retry can ask again.
#[derive(Debug, Clone)]
pub enum Request {
    Upload { paths: Vec<PathBuf>, bucket: String, prefix: String },
    Download { bucket: String, keys: Vec<String>, dest_dir: PathBuf },
}

/// One job: what the UI sees, how to stop it, and what to redo on Retry.
pub struct Job {
    pub record: TransferRecord,
    pub cancel: CancellationToken,
    pub request: Request,
    /// Items refused while planning (vanished or unreadable paths, unsafe keys); they count as
    /// failed objects next to the engine's own failures.
    pub rejected: u64,
}

/// The app-wide state, managed by Tauri (`State<'_, AppState>`).
#[derive(Default)]
pub struct AppState {
    pub live: Mutex<Option<Live>>,
    pub demo: tokio::sync::Mutex<Option<Demo>>,
    pub started_with_demo: AtomicBool,
    pub jobs: Mutex<BTreeMap<JobId, Job>>,
    pub notifications: Mutex<Vec<AppNotification>>,
    pub next_notification: AtomicU64,
    /// True after a call met a connection-class error, until one succeeds again.
    pub connection_lost: AtomicBool,
    /// Becomes true once start-up's connection (or demo) and watch restore are done. They run off
    /// the main thread, so the window and the page load meanwhile; `app_info` waits for this.
    pub started: tokio::sync::watch::Sender<bool>,
}

impl AppState {
    /// Waits until start-up's connection work is done (immediately after that).
    pub async fn wait_started(&self) {
        let mut rx = self.started.subscribe();
        let _ = rx.wait_for(|done| *done).await;
    }

    /// The live connection, or `NoCredentials`-style error telling the UI to connect first.
    pub fn live(&self) -> Result<Live, trainctl_core::Error> {
        self.live
            .lock()
            .unwrap()
            .clone()
            .ok_or_else(|| trainctl_core::Error::Usage("not connected: pick a connection in Connections (or try the demo)".into()))
    }

    /// Resolves a location typed or picked in a view: an `s3://` prefix (on the live connection)
    /// or an absolute local folder. Shared by the Checkpoints and Runs views.
    pub fn open_location(&self, location: &str) -> Result<(Location, Option<Connection>), trainctl_core::Error> {
        use trainctl_core::Error;
        let location = location.trim();
        if location.is_empty() {
            return Err(Error::Usage("choose a location: an s3:// prefix or a local folder".into()));
        }
        let loc = Location::parse(location)?;
        let conn = match &loc {
            Location::S3(_) => Some(self.live()?.conn),
            Location::Local(p) if !p.is_absolute() => {
                return Err(Error::Usage(format!("`{location}` is neither an s3:// prefix nor an absolute folder path")));
            }
            Location::Local(_) => None,
        };
        Ok((loc, conn))
    }

    pub fn set_live(&self, live: Live) {
        *self.live.lock().unwrap() = Some(live);
        self.connection_lost.store(false, Ordering::SeqCst);
    }

    /// Records of every job, oldest first.
    pub fn records(&self) -> Vec<TransferRecord> {
        self.jobs.lock().unwrap().values().map(|j| j.record.clone()).collect()
    }

    pub fn record(&self, job: JobId) -> Option<TransferRecord> {
        self.jobs.lock().unwrap().get(&job).map(|j| j.record.clone())
    }

    /// Applies `f` to a job's record and returns the result (None for an unknown job).
    pub fn update<T>(&self, job: JobId, f: impl FnOnce(&mut Job) -> T) -> Option<T> {
        self.jobs.lock().unwrap().get_mut(&job).map(f)
    }

    /// Labels of the jobs still moving bytes (tray tooltip, close prompt).
    pub fn active_labels(&self) -> Vec<String> {
        self.jobs.lock().unwrap().values().filter(|j| j.record.state.is_active()).map(|j| j.record.label.clone()).collect()
    }

    /// Cancels every active job; returns how many were asked to stop.
    pub fn cancel_all(&self) -> usize {
        let jobs = self.jobs.lock().unwrap();
        let active: Vec<_> = jobs.values().filter(|j| j.record.state.is_active()).collect();
        active.iter().for_each(|j| j.cancel.cancel());
        active.len()
    }
}
