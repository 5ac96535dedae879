//! THE place where things that happen become IPC events and popups.
//!
//! [`dispatch`] folds each event into the job's [`TransferRecord`], emits it under its docs/ipc.md
//! name, and decides which events become native notifications (a transfer finished, partly
//! failed, failed or was cancelled; a core `Notice`). Every popup is also kept in the in-app list
//! and emitted as `notification://new`, because Linux notification daemons can swallow popups.

use crate::state::AppState;
use crate::types::{now_secs, AppNotification, ConnectionLost, ConnectionRestored, NotificationLevel, TransferFailure, TransferState};
use serde::Serialize;
use std::sync::atomic::Ordering;
use tauri::{AppHandle, Emitter, Manager};
use trainctl_core::error::ErrorInfo;
pub use trainctl_core::units::human_bytes;
use trainctl_core::event::{Direction, Event, JobId};

/// What the shell reports: core events plus the few the shell makes itself.
#[derive(Debug, Clone)]
pub enum ShellEvent {
    Core(Event),
    /// The engine returned `Err`: the whole job stopped (code `cancelled` when the user stopped it).
    TransferFailed { job: JobId, error: ErrorInfo },
    ConnectionLost(ConnectionLost),
    ConnectionRestored(ConnectionRestored),
}

/// The wire shape of `transfer://failed` (the proposed core `Event::TransferFailed`).
#[derive(Serialize, Clone)]
struct TransferFailedPayload<'a> {
    event: &'static str,
    job: JobId,
    error: &'a ErrorInfo,
}

/// Records, emits and (for the events that deserve one) pops up `ev`.
pub fn dispatch(app: &AppHandle, ev: ShellEvent) {
    let state = app.state::<AppState>();
    fold(&state, &ev);
    let sent = match &ev {
        ShellEvent::Core(e) => match core_event_name(e) {
            Some(name) => app.emit(name, e),
            None => Ok(()),
        },
        ShellEvent::TransferFailed { job, error } => {
            app.emit("transfer://failed", TransferFailedPayload { event: "transfer_failed", job: *job, error })
        }
        ShellEvent::ConnectionLost(p) => app.emit("connection://lost", p),
        ShellEvent::ConnectionRestored(p) => app.emit("connection://restored", p),
    };
    if let Err(e) = sent {
        tracing::warn!("cannot emit an IPC event: {e}");
    }
    if let Some((level, title, body, job)) = popup_for(&state, &ev) {
        notify(app, level, title, body, job);
    }
    if let ShellEvent::Core(e) = &ev {
        if let Some((level, title, body, link)) = watch_popup(e) {
            notify_linked(app, level, title, body, None, Some(link));
        }
    }
    if matches!(&ev, ShellEvent::TransferFailed { .. } | ShellEvent::Core(Event::TransferStarted { .. } | Event::TransferFinished { .. })) {
        crate::tray::refresh(app);
    }
}

/// The IPC name of a core event; `None` for per-object successes (progress aggregates them, and
/// a 50,000-file drop would flood the bridge).
pub fn core_event_name(e: &Event) -> Option<&'static str> {
    match e {
        Event::TransferStarted { .. } => Some("transfer://started"),
        Event::Progress(_) => Some("transfer://progress"),
        Event::ObjectFailed { .. } => Some("transfer://object-failed"),
        Event::TransferFinished { .. } => Some("transfer://finished"),
        Event::ObjectDone { .. } | Event::ObjectSkipped { .. } => None,
        Event::Notice { .. } => None,
        Event::CheckpointDeleted { .. } => Some("checkpoint://deleted"),
        Event::CleanupFinished { .. } => Some("checkpoint://cleanup-finished"),
        // Watches (commands_watch.rs); per-object events stay in the core (a data upload floods).
        Event::WatchStarted { .. } => Some("watch://started"),
        Event::WatchWaiting { .. } => Some("watch://waiting"),
        Event::WatchObject { .. } => None,
        Event::WatchGrowth { .. } => Some("watch://growth"),
        Event::WatchCheckpoint { .. } => Some("watch://checkpoint"),
        Event::WatchRunFinished { .. } => Some("watch://finished"),
        Event::WatchRunStalled { .. } => Some("watch://stalled"),
        Event::WatchRunResumed { .. } => Some("watch://resumed"),
        Event::WatchError { .. } => Some("watch://error"),
        Event::WatchRecovered { .. } => Some("watch://recovered"),
        // Storage review (commands_review.rs, the Dashboard): throttled to ~4/s by the core.
        Event::ReviewProgress { .. } => Some("review://progress"),
    }
}

/// Folds an event into its job's record (the same folding the UI's transfers store does).
fn fold(state: &AppState, ev: &ShellEvent) {
    match ev {
        ShellEvent::Core(Event::TransferStarted { job, engine, objects_total, bytes_total, skipped, .. }) => {
            state.update(*job, |j| {
                let r = &mut j.record;
                r.state = TransferState::Running;
                r.engine = Some(engine.clone());
                (r.objects_total, r.bytes_total, r.objects_skipped) = (*objects_total, *bytes_total, *skipped);
            });
        }
        ShellEvent::Core(Event::Progress(p)) => {
            state.update(p.job, |j| {
                let r = &mut j.record;
                (r.bytes_done, r.bytes_total, r.objects_done) = (p.bytes_done, p.bytes_total, p.objects_done);
                (r.bytes_per_sec, r.eta_secs) = (p.bytes_per_sec, p.eta_secs);
            });
        }
        ShellEvent::Core(Event::ObjectFailed { job, key, error }) => {
            state.update(*job, |j| {
                j.record.objects_failed += 1;
                j.record.failures.push(TransferFailure { key: key.clone(), error: error.clone() });
            });
        }
        ShellEvent::Core(Event::TransferFinished { job, objects_done, objects_failed, objects_skipped, bytes_done, .. }) => {
            state.update(*job, |j| {
                let r = &mut j.record;
                (r.objects_done, r.objects_failed, r.objects_skipped, r.bytes_done) = (*objects_done, *objects_failed, *objects_skipped, *bytes_done);
                r.state = if *objects_failed > 0 { TransferState::Partial } else { TransferState::Done };
                (r.eta_secs, r.finished_at) = (None, Some(now_secs()));
            });
        }
        ShellEvent::TransferFailed { job, error } => {
            state.update(*job, |j| {
                let r = &mut j.record;
                r.state = if error.code == "cancelled" { TransferState::Cancelled } else { TransferState::Failed };
                (r.error, r.eta_secs, r.finished_at) = (Some(error.clone()), None, Some(now_secs()));
            });
        }
        _ => {}
    }
}

type Popup = (NotificationLevel, String, String, Option<JobId>);

/// Which events become popups, and their words.
fn popup_for(state: &AppState, ev: &ShellEvent) -> Option<Popup> {
    match ev {
        ShellEvent::Core(Event::TransferFinished { job, .. }) => {
            let r = state.record(*job)?;
            let what = verb(r.direction);
            let place = place(&r);
            if r.objects_failed > 0 {
                let body = format!("{}: {} failed, {} done ({}) {place}", r.label, plural(r.objects_failed, "object"), r.objects_done, human_bytes(r.bytes_done));
                return Some((NotificationLevel::Warning, format!("{what} partly failed"), body, Some(*job)));
            }
            let body = format!("{} — {}, {} {place}", r.label, plural(r.objects_done, "object"), human_bytes(r.bytes_done));
            Some((NotificationLevel::Success, format!("{what} finished"), body, Some(*job)))
        }
        ShellEvent::TransferFailed { job, error } => {
            let r = state.record(*job)?;
            let what = verb(r.direction);
            if error.code == "cancelled" {
                return Some((NotificationLevel::Info, format!("{what} cancelled"), format!("{} — {}", r.label, error.hint), Some(*job)));
            }
            Some((NotificationLevel::Error, format!("{what} failed"), format!("{}: {} — {}", r.label, error.message, error.hint), Some(*job)))
        }
        ShellEvent::Core(Event::Notice { message }) => Some((NotificationLevel::Info, "trainctl".into(), message.clone(), None)),
        _ => None,
    }
}

/// Watch popups: new checkpoint, finished, stalled (and resumed, the first failed poll), with a
/// link to the run's S3 prefix that a click on the in-app item opens.
fn watch_popup(e: &Event) -> Option<(NotificationLevel, String, String, String)> {
    let link = |watch: &str, run: &str| if run.is_empty() { watch.to_string() } else { format!("{watch}{run}/") };
    match e {
        Event::WatchCheckpoint { watch, run, id, step, bytes, .. } => {
            let step = step.map(|s| format!(" — step {s}")).unwrap_or_default();
            Some((NotificationLevel::Success, "New checkpoint".into(), format!("{watch}{id}{step} ({})", human_bytes(*bytes)), link(watch, run)))
        }
        Event::WatchRunFinished { watch, run, reason, .. } => Some((NotificationLevel::Success, "Run finished".into(), format!("{} — {reason}", link(watch, run)), link(watch, run))),
        Event::WatchRunStalled { watch, run, silent_secs, cadence_secs, .. } => Some((
            NotificationLevel::Warning,
            "Run stalled".into(),
            format!("{}: no new checkpoint for {silent_secs:.0}s (one came every {cadence_secs:.0}s)", link(watch, run)),
            link(watch, run),
        )),
        Event::WatchRunResumed { watch, run, id, .. } => Some((NotificationLevel::Info, "Run resumed".into(), format!("{watch}{id}"), link(watch, run))),
        Event::WatchError { watch, error, failures: 1, .. } => Some((NotificationLevel::Warning, "Watch cannot poll".into(), format!("{watch}: {} — {}; retrying", error.message, error.hint), watch.clone())),
        _ => None,
    }
}

fn verb(d: Direction) -> &'static str {
    match d {
        Direction::Upload => "Upload",
        Direction::Download => "Download",
    }
}

fn place(r: &crate::types::TransferRecord) -> String {
    match (&r.dest_dir, r.direction) {
        (Some(dir), Direction::Download) => format!("to {dir}"),
        _ => format!("to s3://{}/{}", r.bucket, r.prefix),
    }
}

/// Shows a native popup and mirrors it in the in-app list (`notification://new`).
pub fn notify(app: &AppHandle, level: NotificationLevel, title: String, body: String, job: Option<JobId>) {
    notify_linked(app, level, title, body, job, None)
}

/// [`notify`] with a link (an `s3://` prefix) the in-app item opens when clicked.
pub fn notify_linked(app: &AppHandle, level: NotificationLevel, title: String, body: String, job: Option<JobId>, link: Option<String>) {
    let state = app.state::<AppState>();
    let n = AppNotification { id: state.next_notification.fetch_add(1, Ordering::Relaxed) + 1, level, title, body, at: now_secs(), job, link };
    state.notifications.lock().unwrap().push(n.clone());
    if let Err(e) = app.emit("notification://new", &n) {
        tracing::warn!("cannot emit notification://new: {e}");
    }
    let app = app.clone();
    // The D-Bus round trip blocks, and on Linux the thread then waits for the popup's click or
    // close: a thread of its own, off the async workers.
    std::thread::spawn(move || popup(&app, &n));
}

/// Linux: the popup carries a default action (a click on it in most daemons), which brings the
/// window up and opens what the notification is about (`notification://activated`; the UI
/// routes a link to its run, a job to Transfers). notify-rust directly, because the
/// notification plugin drops the handle and with it the click.
#[cfg(target_os = "linux")]
fn popup(app: &AppHandle, n: &AppNotification) {
    let mut note = notify_rust::Notification::new();
    note.appname("trainctl").summary(&n.title).body(&n.body).action("default", "Open");
    match note.show() {
        Ok(handle) => handle.wait_for_action(|action| {
            if action == "default" {
                activated(app, n);
            }
        }),
        Err(e) => tracing::warn!("native notification failed: {e}"),
    }
}

#[cfg(not(target_os = "linux"))]
fn popup(app: &AppHandle, n: &AppNotification) {
        if let Err(e) = app.notification().builder().title(&n.title).body(&n.body).show() {
        tracing::warn!("native notification failed: {e}");
    }
}

/// A popup was clicked: show the window and tell the UI which notification.
#[cfg(target_os = "linux")]
fn activated(app: &AppHandle, n: &AppNotification) {
    crate::tray::show_main(app);
    if let Err(e) = app.emit("notification://activated", n) {
        tracing::warn!("cannot emit notification://activated: {e}");
    }
}

/// `1 object`, `3 objects`.
fn plural(n: u64, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_object_successes_are_not_emitted() {
        assert_eq!(core_event_name(&Event::ObjectDone { job: 1, key: "k".into(), local: "l".into(), bytes: 1 }), None);
        assert_eq!(core_event_name(&Event::ObjectSkipped { job: 1, key: "k".into(), reason: "r".into() }), None);
        let fin = Event::TransferFinished { job: 1, objects_done: 1, objects_failed: 0, objects_skipped: 0, bytes_done: 1, seconds: 0.1 };
        assert_eq!(core_event_name(&fin), Some("transfer://finished"));
    }

    #[test]
    fn counts_are_pluralized() {
        assert_eq!(plural(1, "object"), "1 object");
        assert_eq!(plural(3, "object"), "3 objects");
    }

    #[test]
    fn human_bytes_uses_binary_units_like_the_ui() {
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(3_300_000), "3.15 MiB");
    }
}
