//! Watches: poll an `s3://` prefix cheaply and report what a researcher waits for — a new
//! checkpoint (once, when complete), the run finished, the run stalled (and resumed), data
//! arriving — as [`Event`](crate::event::Event)s. The CLI prints them (`trainctl s3 watch`), the
//! desktop app turns them into popups; neither knows how polling works.
//!
//! Why polling and how it stays cheap: see `docs/watch.md` ([`watcher`] explains the
//! `start_after` / `diff` modes). Failures never end a watch: they are reported and retried
//! with exponential backoff until the token is cancelled.

pub mod events;
pub mod finish;
pub mod listing;
pub mod runs;
pub mod setup;
pub mod sqs;
pub mod watcher;

pub use finish::{FinishRules, DEFAULT_MARKERS};
pub use sqs::{watch_events, QueueSpec};
pub use watcher::{PollMode, WatchOptions, Watcher};

use crate::error::Result;
use crate::event::{Event, Sink};
use crate::s3::{Connection, S3Url};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Polls `url` every `opts.interval` until `cancel` fires, sending events to `sink`. Returns
/// `Ok(())` when cancelled; never returns an error for a failed poll (it reports and retries).
pub async fn watch(conn: &Connection, url: &S3Url, opts: WatchOptions, sink: &dyn Sink, cancel: &CancellationToken) -> Result<()> {
    let interval = opts.interval;
    let mut failures = Failures::new(&opts);
    let mut w = Watcher::new(conn.clone(), url, opts);
    loop {
        let began = Instant::now();
        let result = tokio::select! {
            r = w.poll(sink) => r,
            _ = cancel.cancelled() => return Ok(()),
        };
        let wait = failures.after(w.label(), result, sink).unwrap_or_else(|| interval.saturating_sub(began.elapsed()));
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = cancel.cancelled() => return Ok(()),
        }
    }
}

/// Failed rounds in a row (polls or event receives), and what the user hears when that changes:
/// one `watch_error` per failure with its retry delay, one `watch_recovered` after the streak.
pub(crate) struct Failures {
    count: u32,
    interval: Duration,
    max_backoff: Duration,
}

impl Failures {
    pub(crate) fn new(opts: &WatchOptions) -> Failures {
        Failures { count: 0, interval: opts.interval, max_backoff: opts.max_backoff }
    }

    /// Reports the round's outcome; after a failure, returns how long to wait before retrying.
    pub(crate) fn after(&mut self, watch: &str, result: Result<()>, sink: &dyn Sink) -> Option<Duration> {
        match result {
            Ok(()) => {
                if self.count > 0 {
                    sink.send(Event::WatchRecovered { watch: watch.to_string(), failures: self.count });
                    self.count = 0;
                }
                None
            }
            Err(e) => {
                self.count += 1;
                let wait = backoff(self.interval, self.count, self.max_backoff);
                sink.send(Event::WatchError { watch: watch.to_string(), error: e.info(), failures: self.count, retry_in_secs: wait.as_secs_f64() });
                Some(wait)
            }
        }
    }
}

/// Wait before the next try after `failures` failed polls in a row: the interval doubled per
/// failure, capped at `max` (but never below the interval itself).
pub fn backoff(interval: Duration, failures: u32, max: Duration) -> Duration {
    let factor = 2u32.saturating_pow(failures.saturating_sub(1).min(16));
    interval.saturating_mul(factor).min(max.max(interval))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let s = Duration::from_secs;
        assert_eq!(backoff(s(10), 1, s(300)), s(10));
        assert_eq!(backoff(s(10), 2, s(300)), s(20));
        assert_eq!(backoff(s(10), 4, s(300)), s(80));
        assert_eq!(backoff(s(10), 10, s(300)), s(300));
        assert_eq!(backoff(s(600), 3, s(300)), s(600), "never shorter than the interval");
    }
}
