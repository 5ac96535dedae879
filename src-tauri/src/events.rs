//! THE place where what the core application reports becomes IPC events and native popups.
//!
//! [`ShellHost`] is the sink the core `App` reports to: each event gets its docs/ipc.md name and
//! payload here (or none: per-object engine events stay in the core, folded into records), a
//! `Notification` also becomes a native popup, and a transfer's change refreshes the tray.

use serde::Serialize;
use std::sync::atomic::{AtomicUsize, Ordering};
use tauri::{AppHandle, Emitter};
use trainctl_core::app::AppNotification;
use trainctl_core::error::ErrorInfo;
use trainctl_core::event::{Event, Sink};

/// Popups waiting for a click at once; beyond this a notification is only in the in-app list
/// (each waiting popup holds a thread on Linux).
const MAX_OPEN_POPUPS: usize = 8;

/// The core app's host: turns its events into IPC events, popups and tray updates.
pub struct ShellHost {
    pub app: AppHandle,
    open_popups: std::sync::Arc<AtomicUsize>,
    /// When the last `dataset://progress` went out (they are sent at most every 200 ms).
    last_progress: std::sync::Mutex<Option<std::time::Instant>>,
}

impl ShellHost {
    pub fn new(app: AppHandle) -> Self {
        ShellHost { app, open_popups: Default::default(), last_progress: Default::default() }
    }

    /// True when a progress event may go out now (the Datasets view redraws a bar, not a log).
    fn progress_due(&self) -> bool {
        let mut last = self.last_progress.lock().unwrap();
        let due = last.is_none_or(|t| t.elapsed() >= std::time::Duration::from_millis(200));
        if due {
            *last = Some(std::time::Instant::now());
        }
        due
    }
}

/// Payload of `connection://lost`.
#[derive(Serialize, Clone)]
struct ConnectionLost<'a> {
    profile: &'a str,
    error: &'a ErrorInfo,
}

/// Payload of `connection://restored`.
#[derive(Serialize, Clone)]
struct ConnectionRestored<'a> {
    profile: &'a str,
}

impl Sink for ShellHost {
    fn send(&self, event: Event) {
        let sent = match &event {
            Event::TransferUpdated(r) => {
                crate::tray::refresh(&self.app);
                self.app.emit("transfer://updated", r)
            }
            Event::WatchUpdated(w) => self.app.emit("watch://updated", w),
            Event::WatchRemoved { id } => self.app.emit("watch://removed", id),
            Event::SyncUpdated(p) => self.app.emit("sync://updated", p),
            Event::SyncRemoved { id } => self.app.emit("sync://removed", id),
            Event::Notification(n) => {
                self.popup(n);
                self.app.emit("notification://new", n)
            }
            Event::ConnectionLost { profile, error } => self.app.emit("connection://lost", ConnectionLost { profile, error }),
            Event::ConnectionRestored { profile } => self.app.emit("connection://restored", ConnectionRestored { profile }),
            Event::CheckpointDeleted { .. } => self.app.emit("checkpoint://deleted", &event),
            Event::CleanupFinished { .. } => self.app.emit("checkpoint://cleanup-finished", &event),
            // Throttled to ~4/s by the core.
            Event::ReviewProgress { .. } => self.app.emit("review://progress", &event),
            Event::DedupProgress { .. } => self.app.emit("dedup://progress", &event),
            // Only the dataset calls report raw progress to the host (transfers fold theirs).
            Event::Progress(p) if self.progress_due() => self.app.emit("dataset://progress", p),
            // Everything else is folded into the records above (transfers, watches) by the core.
            _ => Ok(()),
        };
        if let Err(e) = sent {
            tracing::warn!("cannot emit an IPC event: {e}");
        }
    }
}

impl ShellHost {
    /// Shows a native popup off the event's thread (the D-Bus round trip blocks, and on Linux the
    /// thread then waits for the popup's click or close), at most [`MAX_OPEN_POPUPS`] at once.
    fn popup(&self, n: &AppNotification) {
        if self.open_popups.fetch_add(1, Ordering::SeqCst) >= MAX_OPEN_POPUPS {
            self.open_popups.fetch_sub(1, Ordering::SeqCst);
            return tracing::info!("{MAX_OPEN_POPUPS} popups already open: `{}` is only in the in-app list", n.title);
        }
        let (app, n, open) = (self.app.clone(), n.clone(), self.open_popups.clone());
        std::thread::spawn(move || {
            crate::notify::show(&app, &n);
            open.fetch_sub(1, Ordering::SeqCst);
        });
    }
}
