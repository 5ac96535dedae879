//! Watches in the desktop app: thin commands over core `watch` (add / pause / resume / remove /
//! list), one tokio task per running watch, and a small JSON file so watches survive a restart.
//!
//! Why here and not in the window: a watch must go on when the window is closed (the app stays
//! in the tray, see `main.rs`), so its state lives in the shell and the view only reads it.
//! Events go through `events::dispatch` like every other core event: the one place that decides
//! IPC names and popups.

use crate::events::{dispatch, ShellEvent};
use crate::state::AppState;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;
use tauri::{AppHandle, Emitter, Manager, State};
use tokio_util::sync::CancellationToken;
use trainctl_core::error::{Error, ErrorInfo};
use trainctl_core::event::{Event, Sink};
use trainctl_core::s3::S3Url;
use trainctl_core::watch::{self, WatchOptions};

type Res<T> = Result<T, ErrorInfo>;

/// What is saved of a watch (no secrets: the connection is the app's live one).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WatchSpec {
    pub id: u64,
    /// `s3://bucket/prefix/`
    pub url: String,
    pub interval_secs: f64,
    pub stall_after: f64,
    pub paused: bool,
}

/// A watch as the Watches view shows it (`watches_list`, `watch://updated`).
#[derive(Debug, Clone, Serialize)]
pub struct WatchInfo {
    #[serde(flatten)]
    pub spec: WatchSpec,
    /// `running`, `paused`, `waiting`, `stalled`, `finished`, `error`, `no_connection`.
    pub status: String,
    /// One line about the newest event.
    pub last_event: Option<String>,
    /// Seconds since the Unix epoch.
    pub last_event_at: Option<i64>,
    pub checkpoints: u64,
    /// Id (relative to the watch) and step of the newest checkpoint reported.
    pub last_checkpoint: Option<String>,
    pub last_step: Option<u64>,
    /// The newest few events, newest first (the view's per-watch history).
    pub recent: Vec<WatchLine>,
}

/// One line of a watch's history; `link` is the S3 prefix of the run it is about.
#[derive(Debug, Clone, Serialize)]
pub struct WatchLine {
    pub at: i64,
    pub kind: String,
    pub text: String,
    pub link: String,
}

const RECENT: usize = 20;

struct Entry {
    info: WatchInfo,
    cancel: Option<CancellationToken>,
}

/// Every watch of the app (managed state).
#[derive(Default)]
pub struct Watches {
    entries: Mutex<BTreeMap<u64, Entry>>,
}

impl Watches {
    fn infos(&self) -> Vec<WatchInfo> {
        self.entries.lock().unwrap().values().map(|e| e.info.clone()).collect()
    }

    fn specs(&self) -> Vec<WatchSpec> {
        self.entries.lock().unwrap().values().map(|e| e.info.spec.clone()).collect()
    }

    /// True while a watch is running: closing the window then keeps the app in the tray.
    pub fn any_running(&self) -> bool {
        self.entries.lock().unwrap().values().any(|e| e.cancel.is_some())
    }
}

/// `$XDG_CONFIG_HOME/trainctl/watches.json`, next to the config file.
fn store_path() -> trainctl_core::Result<PathBuf> {
    let config = trainctl_core::config::file::config_path()?;
    Ok(config.with_file_name("watches.json"))
}

fn load_specs() -> Vec<WatchSpec> {
    let Ok(path) = store_path() else { return Vec::new() };
    match std::fs::read(&path) {
        Ok(b) => serde_json::from_slice(&b).unwrap_or_else(|e| {
            tracing::warn!("ignoring unreadable {}: {e}", path.display());
            Vec::new()
        }),
        Err(_) => Vec::new(),
    }
}

fn save_specs(watches: &Watches) -> trainctl_core::Result<()> {
    let path = store_path()?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let tmp = path.with_extension("json.tmp");
    let body = serde_json::to_vec_pretty(&watches.specs()).map_err(|e| Error::Internal(e.to_string()))?;
    std::fs::write(&tmp, body).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))
}

fn new_info(spec: WatchSpec) -> WatchInfo {
    let status = if spec.paused { "paused" } else { "running" }.to_string();
    WatchInfo { spec, status, last_event: None, last_event_at: None, checkpoints: 0, last_checkpoint: None, last_step: None, recent: Vec::new() }
}

/// At startup (after the connection is made): loads the saved watches and starts the unpaused.
pub fn restore(app: &AppHandle) {
    app.manage(Watches::default());
    let watches = app.state::<Watches>();
    for spec in load_specs() {
        let paused = spec.paused;
        let id = spec.id;
        watches.entries.lock().unwrap().insert(id, Entry { info: new_info(spec), cancel: None });
        if !paused {
            start(app, id);
        }
    }
    start_when_connected(app);
}

/// Watches restored before any connection existed (the first-run screen, the demo chosen again,
/// a profile that could not connect) wait as `no_connection`; they start by themselves as soon
/// as a connection is made — checked every 2 s, until none waits — instead of needing Resume.
fn start_when_connected(app: &AppHandle) {
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        loop {
            let waiting: Vec<u64> = {
                let watches = app.state::<Watches>();
                let entries = watches.entries.lock().unwrap();
                entries.iter().filter(|(_, e)| e.info.status == "no_connection" && e.cancel.is_none()).map(|(id, _)| *id).collect()
            };
            if waiting.is_empty() {
                return;
            }
            if app.state::<AppState>().live().is_ok() {
                for id in waiting {
                    start(&app, id);
                }
                return;
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    });
}

/// Starts the task of watch `id` on the live connection (or marks it `no_connection`).
fn start(app: &AppHandle, id: u64) {
    let watches = app.state::<Watches>();
    let Some(spec) = watches.entries.lock().unwrap().get(&id).map(|e| e.info.spec.clone()) else { return };
    let live = match app.state::<AppState>().live() {
        Ok(l) => l,
        Err(_) => return set_status(app, id, "no_connection", Some("not connected: connect, then resume the watch".into())),
    };
    let Ok(url) = S3Url::parse(&spec.url) else { return set_status(app, id, "error", Some(format!("not an S3 URL: {}", spec.url))) };
    let cancel = CancellationToken::new();
    if let Some(e) = watches.entries.lock().unwrap().get_mut(&id) {
        e.cancel = Some(cancel.clone());
        e.info.status = "running".into();
    }
    let opts = WatchOptions { interval: Duration::from_secs_f64(spec.interval_secs), stall_after: spec.stall_after, ..WatchOptions::default() };
    let app2 = app.clone();
    tauri::async_runtime::spawn(async move {
        let sink = WatchSink { app: app2.clone(), id };
        if let Err(e) = watch::watch(&live.conn, &url, opts, &sink, &cancel).await {
            set_status(&app2, id, "error", Some(e.to_string()));
        }
    });
    emit_updated(app, id);
}

fn stop(app: &AppHandle, id: u64) {
    let watches = app.state::<Watches>();
    let mut entries = watches.entries.lock().unwrap();
    if let Some(c) = entries.get_mut(&id).and_then(|e| e.cancel.take()) {
        c.cancel();
    };
}

fn set_status(app: &AppHandle, id: u64, status: &str, line: Option<String>) {
    {
        let watches = app.state::<Watches>();
        let mut entries = watches.entries.lock().unwrap();
        if let Some(e) = entries.get_mut(&id) {
            e.info.status = status.into();
            if line.is_some() {
                e.info.last_event = line;
                e.info.last_event_at = Some(crate::types::now_secs());
            }
        }
    }
    emit_updated(app, id);
}

fn emit_updated(app: &AppHandle, id: u64) {
    let info = app.state::<Watches>().entries.lock().unwrap().get(&id).map(|e| e.info.clone());
    if let Some(info) = info {
        if let Err(e) = app.emit("watch://updated", &info) {
            tracing::warn!("cannot emit watch://updated: {e}");
        }
    }
}

/// The sink of one watch task: folds the event into the watch's row, then dispatches it.
struct WatchSink {
    app: AppHandle,
    id: u64,
}

impl Sink for WatchSink {
    fn send(&self, event: Event) {
        let watches = self.app.state::<Watches>();
        let changed = {
            let mut entries = watches.entries.lock().unwrap();
            match entries.get_mut(&self.id) {
                Some(e) if e.cancel.is_some() => fold(&mut e.info, &event),
                _ => false,
            }
        };
        if changed {
            emit_updated(&self.app, self.id);
        }
        dispatch(&self.app, ShellEvent::Core(event));
    }
}

/// Updates a watch row from an event; false for events that do not change it.
fn fold(info: &mut WatchInfo, event: &Event) -> bool {
    let watch = info.spec.url.clone();
    let run_link = |run: &str| if run.is_empty() { watch.clone() } else { format!("{watch}{run}/") };
    let (status, kind, text, link): (Option<&str>, &str, String, String) = match event {
        Event::WatchStarted { mode, objects, checkpoints, .. } => {
            info.checkpoints = *checkpoints;
            (Some("running"), "started", format!("watching ({mode}): {objects} objects, {checkpoints} checkpoints"), watch.clone())
        }
        Event::WatchWaiting { message, .. } => (Some("waiting"), "waiting", message.clone(), watch.clone()),
        Event::WatchCheckpoint { run, id, step, .. } => {
            info.checkpoints += 1;
            info.last_checkpoint = Some(id.clone());
            info.last_step = *step;
            let step = step.map(|s| format!(" (step {s})")).unwrap_or_default();
            (Some("running"), "checkpoint", format!("new checkpoint {id}{step}"), run_link(run))
        }
        Event::WatchRunFinished { run, reason, .. } => (Some("finished"), "finished", format!("finished: {reason}"), run_link(run)),
        Event::WatchRunStalled { run, silent_secs, .. } => (Some("stalled"), "stalled", format!("stalled: no checkpoint for {silent_secs:.0}s"), run_link(run)),
        Event::WatchRunResumed { run, id, .. } => (Some("running"), "resumed", format!("resumed: {id}"), run_link(run)),
        Event::WatchError { error, retry_in_secs, .. } => (Some("error"), "error", format!("{} — retrying in {retry_in_secs:.0}s", error.message), watch.clone()),
        Event::WatchRecovered { .. } => (Some("running"), "recovered", "polling works again".into(), watch.clone()),
        Event::WatchGrowth { objects_added, .. } => {
            if info.status == "waiting" {
                info.status = "running".into();
            }
            (None, "growth", format!("+{objects_added} objects"), watch.clone())
        }
        _ => return false,
    };
    if let Some(s) = status {
        // A finished watch stays "finished" until something new happens in it.
        if !(info.status == "finished" && s == "running" && kind == "started") {
            info.status = s.into();
        }
    }
    let at = crate::types::now_secs();
    if kind != "growth" {
        info.last_event = Some(text.clone());
        info.last_event_at = Some(at);
    }
    info.recent.insert(0, WatchLine { at, kind: kind.into(), text, link });
    info.recent.truncate(RECENT);
    true
}

fn info(e: Error) -> ErrorInfo {
    e.info()
}

// ---- commands ------------------------------------------------------------------------------

#[tauri::command(rename_all = "snake_case")]
pub async fn watches_list(watches: State<'_, Watches>) -> Res<Vec<WatchInfo>> {
    Ok(watches.infos())
}

/// Adds a watch on `url` (an `s3://` prefix; it may not exist yet) and starts it.
#[tauri::command(rename_all = "snake_case")]
pub async fn watch_add(app: AppHandle, url: String, interval_secs: Option<f64>, stall_after: Option<f64>) -> Res<WatchInfo> {
    let parsed = S3Url::parse(url.trim()).map_err(info)?;
    let interval_secs = interval_secs.unwrap_or(30.0);
    let stall_after = stall_after.unwrap_or(3.0);
    if !(interval_secs.is_finite() && interval_secs >= 0.1) {
        return Err(Error::Usage(format!("the interval must be at least 0.1 s (got {interval_secs})")).info());
    }
    if !(stall_after.is_finite() && stall_after >= 1.0) {
        return Err(Error::Usage(format!("stall after must be at least 1 (got {stall_after})")).info());
    }
    let url = format!("s3://{}/{}", parsed.bucket, if parsed.key.is_empty() { String::new() } else { parsed.dir_prefix() });
    let watches = app.state::<Watches>();
    let id = {
        let mut entries = watches.entries.lock().unwrap();
        if let Some(e) = entries.values().find(|e| e.info.spec.url == url) {
            return Err(Error::Usage(format!("{url} is already watched (watch {})", e.info.spec.id)).info());
        }
        let id = entries.keys().max().map_or(1, |m| m + 1);
        entries.insert(id, Entry { info: new_info(WatchSpec { id, url, interval_secs, stall_after, paused: false }), cancel: None });
        id
    };
    save_specs(&watches).map_err(info)?;
    start(&app, id);
    current(&app, id)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn watch_pause(app: AppHandle, id: u64) -> Res<WatchInfo> {
    stop(&app, id);
    set_paused(&app, id, true)?;
    set_status(&app, id, "paused", None);
    current(&app, id)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn watch_resume(app: AppHandle, id: u64) -> Res<WatchInfo> {
    stop(&app, id);
    set_paused(&app, id, false)?;
    start(&app, id);
    current(&app, id)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn watch_remove(app: AppHandle, id: u64) -> Res<()> {
    stop(&app, id);
    let watches = app.state::<Watches>();
    watches.entries.lock().unwrap().remove(&id);
    save_specs(&watches).map_err(info)?;
    let _ = app.emit("watch://removed", id);
    Ok(())
}

fn set_paused(app: &AppHandle, id: u64, paused: bool) -> Res<()> {
    let watches = app.state::<Watches>();
    {
        let mut entries = watches.entries.lock().unwrap();
        let e = entries.get_mut(&id).ok_or_else(|| Error::Usage(format!("no watch {id}")).info())?;
        e.info.spec.paused = paused;
    }
    save_specs(&watches).map_err(info)
}

fn current(app: &AppHandle, id: u64) -> Res<WatchInfo> {
    app.state::<Watches>().entries.lock().unwrap().get(&id).map(|e| e.info.clone()).ok_or_else(|| Error::Usage(format!("no watch {id}")).info())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> WatchInfo {
        new_info(WatchSpec { id: 1, url: "s3://b/runs/".into(), interval_secs: 30.0, stall_after: 3.0, paused: false })
    }

    #[test]
    fn a_checkpoint_updates_the_row_and_links_to_its_run() {
        let mut w = row();
        let e = Event::WatchCheckpoint {
            watch: "s3://b/runs/".into(),
            run: "r1".into(),
            id: "r1/checkpoint-5/".into(),
            layout: trainctl_core::checkpoint::Layout::HfTrainer,
            step: Some(5),
            epoch: None,
            bytes: 1,
            files: 1,
            metrics: Default::default(),
        };
        assert!(fold(&mut w, &e));
        assert_eq!((w.checkpoints, w.last_step, w.status.as_str()), (1, Some(5), "running"));
        assert_eq!(w.recent[0].link, "s3://b/runs/r1/");
        assert!(!fold(&mut w, &Event::WatchObject { watch: "s3://b/runs/".into(), key: "k".into(), size: 1 }));
    }

    #[test]
    fn a_stall_then_a_resume_change_the_status() {
        let mut w = row();
        fold(&mut w, &Event::WatchRunStalled { watch: "w".into(), run: "".into(), last_checkpoint: None, silent_secs: 9.0, cadence_secs: 3.0 });
        assert_eq!(w.status, "stalled");
        assert_eq!(w.recent[0].link, "s3://b/runs/");
        fold(&mut w, &Event::WatchRunResumed { watch: "w".into(), run: "".into(), id: "c".into(), silent_secs: 12.0 });
        assert_eq!(w.status, "running");
    }
}
