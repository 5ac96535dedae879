//! The watch registry of an app session: watches added in a window go on while the window is
//! closed (the app stays in the tray), survive a restart (a small JSON file, validated on load),
//! follow the connection (restarted on the new one when it changes), and show one row each.

use super::registry::{Registry, Row, Spec};
use super::App;
use crate::error::{Error, Result};
pub use crate::event::{WatchInfo, WatchLine, WatchSpec, WatchState};
use crate::event::{Event, Sink};
use crate::s3::S3Url;
use crate::watch::{self, WatchOptions};
use std::sync::Arc;
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
    fn check(&self) -> Result<()> {
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

impl Spec for WatchSpec {
    const ONE: &'static str = "watch";
    const MANY: &'static str = "watches";
    const MAX: usize = MAX_WATCHES;
    fn id(&self) -> u64 {
        self.id
    }
    fn validate(&self) -> Result<()> {
        self.check()
    }
}

impl Row for WatchInfo {
    type Spec = WatchSpec;
    fn new(spec: WatchSpec) -> WatchInfo {
        let status = if spec.paused { WatchState::Paused } else { WatchState::Running };
        WatchInfo { spec, status, last_event: None, last_event_at: None, checkpoints: 0, last_checkpoint: None, last_step: None, recent: Vec::new() }
    }
    fn spec(&self) -> &WatchSpec {
        &self.spec
    }
}

impl WatchInfo {
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

/// Every watch of the session (`watches.json`).
pub type Watches = Registry<WatchInfo>;

impl App {
    /// Adds a watch on `url` (an `s3://` prefix; it may not exist yet) and starts it.
    pub fn watch_add(&self, url: &str, interval_secs: Option<f64>, stall_after: Option<f64>) -> Result<WatchInfo> {
        let parsed = S3Url::parse(url.trim())?;
        let url = format!("s3://{}/{}", parsed.bucket, if parsed.key.is_empty() { String::new() } else { parsed.dir_prefix() });
        let id = self.watches.add(
            |id| WatchSpec { id, url: url.clone(), interval_secs: interval_secs.unwrap_or(30.0), stall_after: stall_after.unwrap_or(3.0), paused: false },
            |s| (s.url == url).then(|| format!("{url} is already watched (watch {})", s.id)),
        )?;
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
        self.watches.remove(id)?;
        self.emit(Event::WatchRemoved { id });
        Ok(())
    }

    fn set_paused(&self, id: u64, paused: bool) -> Result<()> {
        self.watches.update(id, |w| w.spec.paused = paused).ok_or_else(|| Error::NotFound(format!("watch {id}")))?;
        self.watches.save()
    }

    /// Loads the saved watches and starts the unpaused ones.
    pub(crate) fn restore_watches(&self) {
        for w in self.watches.restore(self, "Watches not restored") {
            if !w.spec.paused {
                self.start_watch(w.spec.id);
            }
        }
    }

    /// After a (re)connection: every unpaused watch runs on the new connection.
    pub(crate) fn restart_watches(&self) {
        for id in self.watches.ids_where(|w| !w.spec.paused) {
            self.watches.stop(id);
            self.start_watch(id);
        }
    }

    /// Starts watch `id`'s task on the live connection (or marks it waiting for one).
    fn start_watch(&self, id: u64) {
        let Ok(spec) = self.watches.get(id).map(|i| i.spec) else { return };
        let Ok(conn) = self.session.conn() else {
            return self.say_unless(id, WatchState::NoConnection, "not connected: it starts once a connection is made".into(), |w| w.spec.paused);
        };
        let url = match S3Url::parse(&spec.url) {
            Ok(u) => u,
            Err(e) => return self.say_unless(id, WatchState::Error, e.to_string(), |w| w.spec.paused),
        };
        let cancel = CancellationToken::new();
        let wants = |w: &mut WatchInfo| {
            if !w.spec.paused {
                w.status = WatchState::Running;
            }
            !w.spec.paused
        };
        if !self.watches.start_task(id, cancel.clone(), wants) {
            return; // paused meanwhile
        }
        let opts = WatchOptions { interval: Duration::from_secs_f64(spec.interval_secs), stall_after: spec.stall_after, ..WatchOptions::default() };
        let sink = WatchSink { app: self.me(), id, cancel: cancel.clone() };
        tokio::spawn(async move {
            if let Err(e) = watch::watch(&conn, &url, opts, &sink, &cancel).await {
                // A task cancelled meanwhile (pause, remove, restart) no longer speaks for the row.
                sink.app.say_unless(sink.id, WatchState::Error, e.to_string(), |_| sink.cancel.is_cancelled());
            }
        });
        self.emit_watch(id);
    }

    /// Says why a watch does not run, unless `stale` (checked under the registry's lock, where
    /// pause and remove take effect) says the news is out of date: a start that cannot run on a
    /// row paused meanwhile (a reconnection restarting the rows it listed as running), a task's
    /// error after it was cancelled.
    fn say_unless(&self, id: u64, status: WatchState, line: String, stale: impl FnOnce(&WatchInfo) -> bool) {
        self.watches.update(id, |w| {
            if !stale(w) {
                w.say(status, Some(line))
            }
        });
        self.emit_watch(id);
    }

    fn set_watch_status(&self, id: u64, status: WatchState, line: Option<String>) {
        self.watches.update(id, |w| w.say(status, line));
        self.emit_watch(id);
    }

    fn emit_watch(&self, id: u64) {
        self.watches.report(id, |info| self.emit(Event::WatchUpdated(info.clone())));
    }
}

/// The sink of one watch task: folds the event into the watch's row, reports the row, then the
/// event itself (its popup, if it deserves one).
struct WatchSink {
    app: Arc<App>,
    id: u64,
    /// This task's token: once it is cancelled (pause, remove, restart) the task's late events
    /// no longer change the row.
    cancel: CancellationToken,
}

impl Sink for WatchSink {
    fn send(&self, event: Event) {
        let changed = match self.app.watches.entries.lock().unwrap().get_mut(&self.id) {
            Some(e) if !self.cancel.is_cancelled() => e.info.fold(&event),
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
    fn a_start_that_cannot_run_leaves_a_paused_row_paused() {
        let app = App::new(std::sync::Arc::new(crate::event::NullSink), None);
        let w = app.watch_add("s3://bkt/runs/", None, None).unwrap();
        assert_eq!(w.status, WatchState::NoConnection);
        assert_eq!(app.watch_pause(w.spec.id).unwrap().status, WatchState::Paused);
        // A reconnection that listed the row as running before the pause restarts it.
        app.start_watch(w.spec.id);
        assert_eq!(app.watches.get(w.spec.id).unwrap().status, WatchState::Paused);
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
            let e = crate::app::registry::load_specs::<WatchSpec>(&path).unwrap_err();
            assert_eq!(e.code(), "config_corrupt", "{body}");
            assert!(e.to_string().contains(needle) && e.to_string().contains("watches.json"), "{e}");
        }
        assert!(crate::app::registry::load_specs::<WatchSpec>(&dir.path().join("none.json")).unwrap().is_empty());
    }
}
