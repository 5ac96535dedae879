//! Progress accounting shared by both engines: counts bytes and objects, smooths the rate, and
//! emits [`Event::Progress`] at a bounded frequency so a 50,000-file job does not flood the UI.

use crate::event::{Event, JobId, Progress, Sink};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Minimum time between two progress events of one job.
pub const EMIT_INTERVAL: Duration = Duration::from_millis(200);

/// Thread-safe progress counter of one job. Engines call [`Tracker::add_bytes`] /
/// [`Tracker::set_bytes`] and [`Tracker::object_done`]; the tracker decides when to emit.
pub struct Tracker {
    job: JobId,
    bytes_total: u64,
    objects_total: u64,
    bytes_done: AtomicU64,
    objects_done: AtomicU64,
    state: Mutex<RateState>,
    started: Instant,
}

struct RateState {
    last_emit: Option<Instant>,
    last_bytes: u64,
    last_time: Instant,
    rate: f64,
}

impl Tracker {
    pub fn new(job: JobId, bytes_total: u64, objects_total: u64) -> Self {
        let now = Instant::now();
        Tracker {
            job,
            bytes_total,
            objects_total,
            bytes_done: AtomicU64::new(0),
            objects_done: AtomicU64::new(0),
            state: Mutex::new(RateState { last_emit: None, last_bytes: 0, last_time: now, rate: 0.0 }),
            started: now,
        }
    }

    /// Adds `n` transferred bytes (native engine: per chunk read/written).
    pub fn add_bytes(&self, n: u64, sink: &dyn Sink) {
        self.bytes_done.fetch_add(n, Ordering::Relaxed);
        self.maybe_emit(sink, false);
    }

    /// Sets the absolute byte count (s5cmd engine: sampled from the child's I/O counters).
    /// Never moves backwards.
    pub fn set_bytes(&self, n: u64, sink: &dyn Sink) {
        self.bytes_done.fetch_max(n.min(self.bytes_total), Ordering::Relaxed);
        self.maybe_emit(sink, false);
    }

    /// Marks one object complete.
    pub fn object_done(&self, sink: &dyn Sink) {
        self.objects_done.fetch_add(1, Ordering::Relaxed);
        self.maybe_emit(sink, false);
    }

    pub fn bytes_done(&self) -> u64 {
        self.bytes_done.load(Ordering::Relaxed)
    }

    pub fn objects_done(&self) -> u64 {
        self.objects_done.load(Ordering::Relaxed)
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Emits a final progress event regardless of the interval.
    pub fn finish(&self, sink: &dyn Sink) {
        self.maybe_emit(sink, true);
    }

    fn maybe_emit(&self, sink: &dyn Sink, force: bool) {
        let now = Instant::now();
        let snapshot = {
            let mut st = self.state.lock().unwrap();
            if !force && st.last_emit.is_some_and(|t| now.duration_since(t) < EMIT_INTERVAL) {
                return;
            }
            let bytes = self.bytes_done();
            let dt = now.duration_since(st.last_time).as_secs_f64();
            if dt > 0.0 {
                let inst = (bytes.saturating_sub(st.last_bytes)) as f64 / dt;
                // Exponential smoothing: responsive but not jumpy.
                st.rate = if st.rate == 0.0 { inst } else { 0.7 * st.rate + 0.3 * inst };
            }
            st.last_bytes = bytes;
            st.last_time = now;
            st.last_emit = Some(now);
            let remaining = self.bytes_total.saturating_sub(bytes) as f64;
            Progress {
                job: self.job,
                bytes_done: bytes,
                bytes_total: self.bytes_total,
                objects_done: self.objects_done(),
                objects_total: self.objects_total,
                bytes_per_sec: st.rate,
                eta_secs: if st.rate > 0.0 { Some(remaining / st.rate) } else { None },
            }
        };
        sink.send(Event::Progress(snapshot));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::CollectSink;

    #[test]
    fn emits_bounded_and_final_progress() {
        let sink = CollectSink::default();
        let t = Tracker::new(1, 1000, 10);
        for _ in 0..100 {
            t.add_bytes(10, &sink);
        }
        t.finish(&sink);
        let ev = sink.events();
        assert!(ev.len() <= 3, "rate-limited: got {}", ev.len());
        match ev.last().unwrap() {
            Event::Progress(p) => assert_eq!(p.bytes_done, 1000),
            e => panic!("unexpected {e:?}"),
        }
    }

    #[test]
    fn set_bytes_never_goes_backwards() {
        let sink = CollectSink::default();
        let t = Tracker::new(1, 1000, 1);
        t.set_bytes(500, &sink);
        t.set_bytes(200, &sink);
        assert_eq!(t.bytes_done(), 500);
    }
}
