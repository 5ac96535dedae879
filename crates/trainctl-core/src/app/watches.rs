//! The watch registry of an app session: watches added in a window go on while the window is
//! closed (the app stays in the tray), survive a restart (a small JSON file, validated on load),
//! follow the connection (restarted on the new one when it changes), and show one row each.

use super::App;
use crate::error::{Error, Result};
pub use crate::event::{WatchInfo, WatchLine, WatchSpec, WatchState};
use crate::event::{Event, Sink};
use crate::s3::S3Url;
use crate::watch::{self, WatchOptions};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Lines of history kept per watch.
const RECENT: usize = 20;
/// Watches one session holds.
const MAX_WATCHES: usize = 100;
/// Bounds of the poll interval (seconds) and of "stalled after × cadence".
const MIN_INTERVAL: f64 = 0.1;
const MAX_INTERVAL: f64 = 86_400.0;
const MIN_STALL: f64 = 1.0;
const MAX_STALL: f64 = 1000.0;

impl WatchSpec {
    /// Refuses values a hand-edited file (or a forged call) could carry: a URL that is not one,
    /// an interval of 0, NaN or a year.
    fn validate(&self) -> Result<()> {
        S3Url::parse(&self.url)?;
        if !(self.interval_secs.is_finite() && (MIN_INTERVAL..=MAX_INTERVAL).contains(&self.interval_secs)) {
            return Err(Error::Usage(format!("interval_secs must be between {MIN_INTERVAL} and {MAX_INTERVAL} (got {})", self.interval_secs)));
        }
        if !(self.stall_after.is_finite() && (MIN_STALL..=MAX_STALL).contains(&self.stall_after)) {
            return Err(Error::Usage(format!("stall_after must be between {MIN_STALL} and {MAX_STALL} (got {})", self.stall_after)));
        }
        Ok(())
    }
}

impl WatchInfo {
    fn new(spec: WatchSpec) -> WatchInfo {
        let status = if spec.paused { WatchState::Paused } else { WatchState::Running };
        WatchInfo { spec, status, last_event: None, last_event_at: None, checkpoints: 0, last_checkpoint: None, last_step: None, recent: Vec::new() }
    }

    fn say(&mut self, status: WatchState, line: Option<String>) {
        self.status = status;
        if line.is_some() {
            self.last_event = line;
            self.last_event_at = Some(crate::checkpoint::detect::now_secs());
        }
    }

    /// Updates the row from a watch event; false for events that do not change it.
    pub fn fold(&mut self, event: &Event) -> bool {
        use WatchState::*;
        let watch = self.spec.url.clone();
        let run_link = |run: &str| if run.is_empty() { watch.clone() } else { format!("{watch}{run}/") };
        let (status, kind, text, link): (Option<WatchState>, &str, String, String) = match event {
            Event::WatchStarted { mode, objects, checkpoints, .. } => {
                self.checkpoints = *checkpoints;
                (Some(Running), "started", format!("watching ({mode}): {objects} objects, {checkpoints} checkpoints"), watch.clone())
            }
            Event::WatchWaiting { message, .. } => (Some(Waiting), "waiting", message.clone(), watch.clone()),
            Event::WatchCheckpoint { run, id, step, .. } => {
                self.checkpoints += 1;
                self.last_checkpoint = Some(id.clone());
                self.last_step = *step;
                let step = step.map(|s| format!(" (step {s})")).unwrap_or_default();
                (Some(Running), "checkpoint", format!("new checkpoint {id}{step}"), run_link(run))
            }
            Event::WatchRunFinished { run, reason, .. } => (Some(Finished), "finished", format!("finished: {reason}"), run_link(run)),
            Event::WatchRunStalled { run, silent_secs, .. } => (Some(Stalled), "stalled", format!("stalled: no checkpoint for {silent_secs:.0}s"), run_link(run)),
            Event::WatchRunResumed { run, id, .. } => (Some(Running), "resumed", format!("resumed: {id}"), run_link(run)),
            Event::WatchError { error, retry_in_secs, .. } => (Some(Error), "error", format!("{} — retrying in {retry_in_secs:.0}s", error.message), watch.clone()),
            Event::WatchRecovered { .. } => (Some(Running), "recovered", "polling works again".into(), watch.clone()),
            Event::WatchGrowth { objects_added, .. } => {
                if self.status == Waiting {
                    self.status = Running;
                }
                (None, "growth", format!("+{objects_added} objects"), watch.clone())
            }
            _ => return false,
        };
        // A finished watch stays finished until something new happens in it.
        if let Some(s) = status.filter(|s| !(self.status == Finished && *s == Running && kind == "started")) {
            self.status = s;
        }
        let at = crate::checkpoint::detect::now_secs();
        if kind != "growth" {
            self.last_event = Some(text.clone());
            self.last_event_at = Some(at);
        }
        self.recent.insert(0, WatchLine { at, kind: kind.into(), text, link });
        self.recent.truncate(RECENT);
        true
    }
}

struct Entry {
    info: WatchInfo,
    cancel: Option<CancellationToken>,
}

/// Every watch of the session.
pub struct Watches {
    entries: Mutex<BTreeMap<u64, Entry>>,
    /// `watches.json`; `None` = not persisted (tests), or not writable because the file on disk
    /// is invalid (it is then left as the user wrote it).
    file: Mutex<Option<PathBuf>>,
}

impl Watches {
    pub(crate) fn new(file: Option<PathBuf>) -> Watches {
        Watches { entries: Mutex::default(), file: Mutex::new(file) }
    }

    pub fn list(&self) -> Vec<WatchInfo> {
        self.entries.lock().unwrap().values().map(|e| e.info.clone()).collect()
    }

    /// True while a watch is running: closing the window then keeps the app in the tray.
    pub fn any_running(&self) -> bool {
        self.entries.lock().unwrap().values().any(|e| e.cancel.is_some())
    }

    fn get(&self, id: u64) -> Result<WatchInfo> {
        self.entries.lock().unwrap().get(&id).map(|e| e.info.clone()).ok_or_else(|| Error::NotFound(format!("watch {id}")))
    }

    fn save(&self) -> Result<()> {
        let Some(path) = self.file.lock().unwrap().clone() else { return Ok(()) };
        let specs: Vec<WatchSpec> = self.entries.lock().unwrap().values().map(|e| e.info.spec.clone()).collect();
        let body = serde_json::to_vec_pretty(&specs).map_err(|e| Error::Internal(e.to_string()))?;
        crate::config::file::write_private(&path, &body)
    }

    /// Stops watch `id`'s task, if it runs.
    fn stop(&self, id: u64) {
        if let Some(c) = self.entries.lock().unwrap().get_mut(&id).and_then(|e| e.cancel.take()) {
            c.cancel();
        }
    }

    /// Loads the saved watches and starts the unpaused ones.
    pub(crate) fn restore(&self, app: &App) {
        let path = self.file.lock().unwrap().clone();
        let specs = match path.as_deref().map(load_specs).transpose() {
            Ok(specs) => specs.unwrap_or_default(),
            Err(e) => {
                // Keep the user's file as it is; say what is wrong and do not overwrite it.
                *self.file.lock().unwrap() = None;
                app.notify(super::notify::NewNotification::new(super::NotificationLevel::Warning, "Watches not restored", format!("{e} — {}", e.hint())));
                return;
            }
        };
        for spec in specs {
            let id = spec.id;
            let paused = spec.paused;
            self.entries.lock().unwrap().insert(id, Entry { info: WatchInfo::new(spec), cancel: None });
            if !paused {
                app.start_watch(id);
            }
        }
    }

    /// After a (re)connection: every unpaused watch runs on the new connection.
    pub(crate) fn start_waiting(&self, app: &App) {
        let ids: Vec<u64> = self.entries.lock().unwrap().iter().filter(|(_, e)| !e.info.spec.paused).map(|(id, _)| *id).collect();
        for id in ids {
            self.stop(id);
            app.start_watch(id);
        }
    }
}

/// Reads `watches.json`; a missing file is no watches. Every entry is validated: a bad one names
/// the file, the watch and the field.
fn load_specs(path: &Path) -> Result<Vec<WatchSpec>> {
    let corrupt = |reason: String| Error::ConfigCorrupt { path: path.to_path_buf(), reason };
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(path, e)),
    };
    if bytes.len() > 1 << 20 {
        return Err(corrupt("larger than 1 MiB".into()));
    }
    let specs: Vec<WatchSpec> = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
    let mut seen = std::collections::BTreeSet::new();
    for s in &specs {
        s.validate().map_err(|e| corrupt(format!("watch {}: {e}", s.id)))?;
        if !seen.insert(s.id) {
            return Err(corrupt(format!("watch id {} appears twice", s.id)));
        }
    }
    if specs.len() > MAX_WATCHES {
        return Err(corrupt(format!("{} watches (at most {MAX_WATCHES})", specs.len())));
    }
    Ok(specs)
}

impl App {
    /// Adds a watch on `url` (an `s3://` prefix; it may not exist yet) and starts it.
    pub fn watch_add(&self, url: &str, interval_secs: Option<f64>, stall_after: Option<f64>) -> Result<WatchInfo> {
        let parsed = S3Url::parse(url.trim())?;
        let url = format!("s3://{}/{}", parsed.bucket, if parsed.key.is_empty() { String::new() } else { parsed.dir_prefix() });
        let id = {
            let mut entries = self.watches.entries.lock().unwrap();
            if let Some(e) = entries.values().find(|e| e.info.spec.url == url) {
                return Err(Error::Usage(format!("{url} is already watched (watch {})", e.info.spec.id)));
            }
            if entries.len() >= MAX_WATCHES {
                return Err(Error::Usage(format!("at most {MAX_WATCHES} watches: remove one first")));
            }
            let id = entries.keys().max().map_or(1, |m| m + 1);
            let spec = WatchSpec { id, url, interval_secs: interval_secs.unwrap_or(30.0), stall_after: stall_after.unwrap_or(3.0), paused: false };
            spec.validate()?;
            entries.insert(id, Entry { info: WatchInfo::new(spec), cancel: None });
            id
        };
        self.watches.save()?;
        self.start_watch(id);
        self.watches.get(id)
    }

    pub fn watch_pause(&self, id: u64) -> Result<WatchInfo> {
        self.set_paused(id, true)?;
        self.watches.stop(id);
        self.set_watch_status(id, WatchState::Paused, None);
        self.watches.get(id)
    }

    pub fn watch_resume(&self, id: u64) -> Result<WatchInfo> {
        self.set_paused(id, false)?;
        self.watches.stop(id);
        self.start_watch(id);
        self.watches.get(id)
    }

    pub fn watch_remove(&self, id: u64) -> Result<()> {
        self.watches.stop(id);
        self.watches.entries.lock().unwrap().remove(&id).ok_or_else(|| Error::NotFound(format!("watch {id}")))?;
        self.watches.save()?;
        self.emit(Event::WatchRemoved { id });
        Ok(())
    }

    fn set_paused(&self, id: u64, paused: bool) -> Result<()> {
        {
            let mut entries = self.watches.entries.lock().unwrap();
            let e = entries.get_mut(&id).ok_or_else(|| Error::NotFound(format!("watch {id}")))?;
            e.info.spec.paused = paused;
        }
        self.watches.save()
    }

    /// Starts watch `id`'s task on the live connection (or marks it waiting for one).
    fn start_watch(&self, id: u64) {
        let Ok(spec) = self.watches.get(id).map(|i| i.spec) else { return };
        let Ok(conn) = self.session.conn() else {
            return self.set_watch_status(id, WatchState::NoConnection, Some("not connected: it starts once a connection is made".into()));
        };
        let url = match S3Url::parse(&spec.url) {
            Ok(u) => u,
            Err(e) => return self.set_watch_status(id, WatchState::Error, Some(e.to_string())),
        };
        let cancel = CancellationToken::new();
        if let Some(e) = self.watches.entries.lock().unwrap().get_mut(&id) {
            e.cancel = Some(cancel.clone());
            e.info.status = WatchState::Running;
        }
        let opts = WatchOptions { interval: Duration::from_secs_f64(spec.interval_secs), stall_after: spec.stall_after, ..WatchOptions::default() };
        let sink = WatchSink { app: self.me(), id };
        tokio::spawn(async move {
            if let Err(e) = watch::watch(&conn, &url, opts, &sink, &cancel).await {
                sink.app.set_watch_status(sink.id, WatchState::Error, Some(e.to_string()));
            }
        });
        self.emit_watch(id);
    }

    fn set_watch_status(&self, id: u64, status: WatchState, line: Option<String>) {
        if let Some(e) = self.watches.entries.lock().unwrap().get_mut(&id) {
            e.info.say(status, line);
        }
        self.emit_watch(id);
    }

    fn emit_watch(&self, id: u64) {
        if let Ok(info) = self.watches.get(id) {
            self.emit(Event::WatchUpdated(info));
        }
    }
}

/// The sink of one watch task: folds the event into the watch's row, reports the row, then the
/// event itself (its popup, if it deserves one).
struct WatchSink {
    app: Arc<App>,
    id: u64,
}

impl Sink for WatchSink {
    fn send(&self, event: Event) {
        let changed = match self.app.watches.entries.lock().unwrap().get_mut(&self.id) {
            Some(e) if e.cancel.is_some() => e.info.fold(&event),
            _ => false,
        };
        if changed {
            self.app.emit_watch(self.id);
        }
        self.app.emit(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> WatchInfo {
        WatchInfo::new(WatchSpec { id: 1, url: "s3://b/runs/".into(), interval_secs: 30.0, stall_after: 3.0, paused: false })
    }

    #[test]
    fn a_checkpoint_updates_the_row_and_links_to_its_run() {
        let mut w = row();
        let e = Event::WatchCheckpoint {
            watch: "s3://b/runs/".into(),
            run: "r1".into(),
            id: "r1/checkpoint-5/".into(),
            layout: crate::checkpoint::Layout::HfTrainer,
            step: Some(5),
            epoch: None,
            bytes: 1,
            files: 1,
            metrics: Default::default(),
        };
        assert!(w.fold(&e));
        assert_eq!((w.checkpoints, w.last_step, w.status), (1, Some(5), WatchState::Running));
        assert_eq!(w.recent[0].link, "s3://b/runs/r1/");
        assert!(!w.fold(&Event::WatchObject { watch: "s3://b/runs/".into(), key: "k".into(), size: 1 }));
    }

    #[test]
    fn a_stall_then_a_resume_change_the_status() {
        let mut w = row();
        w.fold(&Event::WatchRunStalled { watch: "w".into(), run: "".into(), last_checkpoint: None, silent_secs: 9.0, cadence_secs: 3.0 });
        assert_eq!(w.status, WatchState::Stalled);
        w.fold(&Event::WatchRunResumed { watch: "w".into(), run: "".into(), id: "c".into(), silent_secs: 12.0 });
        assert_eq!(w.status, WatchState::Running);
    }

    #[test]
    fn a_hand_edited_file_with_a_bad_interval_is_refused_with_its_name_and_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("watches.json");
        for (body, needle) in [
            (r#"[{"id":1,"url":"s3://bkt/a/","interval_secs":0,"stall_after":3,"paused":false}]"#, "interval_secs"),
            (r#"[{"id":1,"url":"s3://bkt/a/","interval_secs":1e308,"stall_after":3,"paused":false}]"#, "interval_secs"),
            (r#"[{"id":1,"url":"s3://bkt/a/","interval_secs":30,"stall_after":-1,"paused":false}]"#, "stall_after"),
            (r#"[{"id":1,"url":"not a url","interval_secs":30,"stall_after":3,"paused":false}]"#, "not a url"),
            (r#"{"id":1}"#, "watches.json"),
        ] {
            std::fs::write(&path, body).unwrap();
            let e = load_specs(&path).unwrap_err();
            assert_eq!(e.code(), "config_corrupt", "{body}");
            assert!(e.to_string().contains(needle) && e.to_string().contains("watches.json"), "{e}");
        }
        assert!(load_specs(&dir.path().join("none.json")).unwrap().is_empty());
    }
}
