//! Notifications: which happenings deserve a popup, in which words, and the bounded in-app list
//! that mirrors every popup (Linux notification daemons can swallow popups).
//!
//! Why in core: "a transfer partly failed" or "a watched run stalled" is a rule about what a
//! researcher needs to hear. The shell only shows what arrives as `Event::Notification`.

use super::App;
pub use crate::event::{AppNotification, NotificationLevel};
use crate::event::{Direction, Event, JobId, TransferRecord, TransferState};
use std::collections::VecDeque;
use std::sync::Mutex;

/// Notifications kept in the in-app list; older ones drop off.
const MAX_KEPT: usize = 500;

/// A notification before it gets its id and time.
#[derive(Debug, Clone, PartialEq)]
pub struct NewNotification {
    pub level: NotificationLevel,
    pub title: String,
    pub body: String,
    pub job: Option<JobId>,
    pub link: Option<String>,
}

impl NewNotification {
    pub fn new(level: NotificationLevel, title: impl Into<String>, body: impl Into<String>) -> Self {
        NewNotification { level, title: title.into(), body: body.into(), job: None, link: None }
    }

    fn job(mut self, job: JobId) -> Self {
        self.job = Some(job);
        self
    }

    fn link(mut self, link: String) -> Self {
        self.link = Some(link);
        self
    }
}

/// The in-app list, newest last.
#[derive(Default)]
pub struct Notifications {
    list: Mutex<(VecDeque<AppNotification>, u64)>,
}

impl Notifications {
    pub(crate) fn push(&self, n: NewNotification) -> AppNotification {
        let mut g = self.list.lock().unwrap();
        g.1 += 1;
        let n = AppNotification { id: g.1, level: n.level, title: n.title, body: n.body, at: crate::checkpoint::detect::now_secs(), job: n.job, link: n.link };
        g.0.push_back(n.clone());
        while g.0.len() > MAX_KEPT {
            g.0.pop_front();
        }
        n
    }

    /// Newest first.
    pub fn list(&self) -> Vec<AppNotification> {
        self.list.lock().unwrap().0.iter().rev().cloned().collect()
    }
}

/// The notification an event deserves, if any (watch news, engine notices). Transfer endings are
/// told by [`transfer_ended`], from the finished record.
pub(crate) fn popup_for(e: &Event, _app: &App) -> Option<NewNotification> {
    use NotificationLevel::*;
    let link = |watch: &str, run: &str| if run.is_empty() { watch.to_string() } else { format!("{watch}{run}/") };
    Some(match e {
        Event::WatchCheckpoint { watch, run, id, step, bytes, .. } => {
            let step = step.map(|s| format!(" — step {s}")).unwrap_or_default();
            NewNotification::new(Success, "New checkpoint", format!("{watch}{id}{step} ({})", size(*bytes))).link(link(watch, run))
        }
        Event::WatchRunFinished { watch, run, reason, .. } => NewNotification::new(Success, "Run finished", format!("{} — {reason}", link(watch, run))).link(link(watch, run)),
        Event::WatchRunStalled { watch, run, silent_secs, cadence_secs, .. } => NewNotification::new(
            Warning,
            "Run stalled",
            format!("{}: no new checkpoint for {silent_secs:.0}s (one came every {cadence_secs:.0}s)", link(watch, run)),
        )
        .link(link(watch, run)),
        Event::WatchRunResumed { watch, run, id, .. } => NewNotification::new(Info, "Run resumed", format!("{watch}{id}")).link(link(watch, run)),
        Event::WatchError { watch, error, failures: 1, .. } => {
            NewNotification::new(Warning, "Watch cannot poll", format!("{watch}: {} — {}; retrying", error.message, error.hint)).link(watch.clone())
        }
        Event::Notice { message } => NewNotification::new(Info, "trainctl", message.clone()),
        _ => return None,
    })
}

/// What a finished, partly failed, failed or cancelled transfer says.
pub(crate) fn transfer_ended(r: &TransferRecord) -> Option<NewNotification> {
    use NotificationLevel::*;
    let what = match r.direction {
        Direction::Upload => "Upload",
        Direction::Download => "Download",
    };
    let place = match (&r.dest_dir, r.direction) {
        (Some(dir), Direction::Download) => format!("to {dir}"),
        _ => format!("to s3://{}/{}", r.bucket, r.prefix),
    };
    let n = match (r.state, &r.error) {
        (TransferState::Done, _) => {
            NewNotification::new(Success, format!("{what} finished"), format!("{} — {}, {} {place}", r.label, plural(r.objects_done, "object"), size(r.bytes_done)))
        }
        (TransferState::Partial, _) => NewNotification::new(
            Warning,
            format!("{what} partly failed"),
            format!("{}: {} failed, {} done ({}) {place}", r.label, plural(r.objects_failed, "object"), r.objects_done, size(r.bytes_done)),
        ),
        (TransferState::Cancelled, e) => {
            NewNotification::new(Info, format!("{what} cancelled"), format!("{} — {}", r.label, e.as_ref().map(|e| e.hint.as_str()).unwrap_or_default()))
        }
        (TransferState::Failed, Some(e)) => NewNotification::new(Error, format!("{what} failed"), format!("{}: {} — {}", r.label, e.message, e.hint)),
        _ => return None,
    };
    Some(n.job(r.job))
}

use crate::units::human_bytes as size;

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
    fn counts_are_pluralized() {
        assert_eq!(plural(1, "object"), "1 object");
        assert_eq!(plural(3, "object"), "3 objects");
    }

    #[test]
    fn the_list_is_bounded_and_newest_first() {
        let list = Notifications::default();
        for i in 0..(MAX_KEPT + 10) {
            list.push(NewNotification::new(NotificationLevel::Info, "t", format!("{i}")));
        }
        let shown = list.list();
        assert_eq!(shown.len(), MAX_KEPT);
        assert_eq!(shown[0].body, format!("{}", MAX_KEPT + 9));
    }
}
