//! Throttled [`Event::ReviewProgress`]: counters bumped by many tasks, at most ~4 events a second.

use crate::event::{Event, Sink};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const EVERY: Duration = Duration::from_millis(250);

/// Counts objects, bytes and units, and sends a progress event when enough time passed.
pub struct ProgressMeter<'a> {
    sink: &'a dyn Sink,
    objects: AtomicU64,
    bytes: AtomicU64,
    units_done: AtomicU64,
    units_total: AtomicU64,
    last: Mutex<Instant>,
}

impl<'a> ProgressMeter<'a> {
    pub fn new(sink: &'a dyn Sink) -> Self {
        ProgressMeter {
            sink,
            objects: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            units_done: AtomicU64::new(0),
            units_total: AtomicU64::new(0),
            last: Mutex::new(Instant::now()),
        }
    }

    pub fn counted(&self, objects: u64, bytes: u64) {
        self.objects.fetch_add(objects, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.maybe_send();
    }

    pub fn units_added(&self, n: u64) {
        self.units_total.fetch_add(n, Ordering::Relaxed);
    }

    pub fn unit_done(&self) {
        self.units_done.fetch_add(1, Ordering::Relaxed);
        self.maybe_send();
    }

    fn maybe_send(&self) {
        let mut last = self.last.lock().unwrap();
        if last.elapsed() >= EVERY {
            *last = Instant::now();
            drop(last);
            self.send();
        }
    }

    /// Sends the final counts.
    pub fn flush(&self) {
        self.send();
    }

    fn send(&self) {
        self.sink.send(Event::ReviewProgress {
            objects: self.objects.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            units_done: self.units_done.load(Ordering::Relaxed),
            units_total: self.units_total.load(Ordering::Relaxed),
        });
    }
}
