//! `--engine auto`: each job runs in the engine the side-by-side benchmarks measured faster for
//! its shape — direction, and many small objects or a few large ones — rather than in one
//! engine for everything. The table is [`MEASURED`]; the figures behind it are in
//! `docs/benchmarks.md` ("Engine choice"). When the table names s5cmd and it is not installed,
//! the job runs in the native engine with a notice (the engines are interchangeable: same plan,
//! same events, same guarantees; the conformance suite runs every case on both).

use super::native::NativeEngine;
use super::s5cmd::S5cmdEngine;
use super::{Engine, Outcome, TransferJob, TransferOptions};
use crate::error::Result;
use crate::event::{Direction, Event, Sink};
use std::sync::atomic::{AtomicU8, Ordering};
use tokio_util::sync::CancellationToken;

/// The two engines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineKind {
    S5cmd,
    Native,
}

/// How a job looks to the engine choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Mean object size below [`LARGE_OBJECT`]: per-object costs dominate.
    ManySmall,
    /// Mean object size from [`LARGE_OBJECT`] on: bytes dominate.
    FewLarge,
}

/// Mean object size from which a job counts as [`Shape::FewLarge`].
pub const LARGE_OBJECT: u64 = 16 * 1024 * 1024;

/// Which engine was faster, per direction and shape, in `docs/benchmarks.md` ("Engine
/// choice"; Garage on loopback, release build). Confirmed by the issue 15 run of 2026-12-03
/// (median of 3 for 1000 × 1 MiB, one run for 1 × 2 GiB): native faster in every cell, on
/// objects with a stored CRC64NVME and on MD5-only ones; the 20 ms RTT rows are still to come.
pub const MEASURED: [(Direction, Shape, EngineKind); 4] = [
    (Direction::Upload, Shape::ManySmall, EngineKind::Native),
    (Direction::Upload, Shape::FewLarge, EngineKind::Native),
    (Direction::Download, Shape::ManySmall, EngineKind::Native),
    (Direction::Download, Shape::FewLarge, EngineKind::Native),
];

/// The shape of `job`.
pub fn shape(job: &TransferJob) -> Shape {
    let n = job.items.len().max(1) as u64;
    if job.bytes_total() / n >= LARGE_OBJECT {
        Shape::FewLarge
    } else {
        Shape::ManySmall
    }
}

/// The engine [`MEASURED`] names for `job`.
pub fn measured_choice(job: &TransferJob) -> EngineKind {
    let s = shape(job);
    MEASURED.iter().find(|(d, sh, _)| *d == job.direction && *sh == s).map_or(EngineKind::Native, |(_, _, k)| *k)
}

/// The engine of `--engine auto`: picks per job (see the module documentation).
pub struct AutoEngine {
    native: NativeEngine,
    s5cmd: Result<S5cmdEngine>,
    /// The engine of the last job (for [`Engine::name`]): 0 none yet, 1 s5cmd, 2 native.
    last: AtomicU8,
}

impl AutoEngine {
    pub fn new(conn: &crate::s3::Connection) -> Self {
        AutoEngine { native: NativeEngine::new(conn.clone()), s5cmd: S5cmdEngine::locate(conn.clone()), last: AtomicU8::new(0) }
    }
}

#[async_trait::async_trait]
impl Engine for AutoEngine {
    /// The engine that ran the last job (`auto` before the first).
    fn name(&self) -> &'static str {
        match self.last.load(Ordering::Relaxed) {
            1 => "s5cmd",
            2 => "native",
            _ => "auto",
        }
    }

    async fn run(&self, job: &TransferJob, opts: &TransferOptions, sink: &dyn Sink, cancel: CancellationToken) -> Result<Outcome> {
        if let (EngineKind::S5cmd, Err(e)) = (measured_choice(job), &self.s5cmd) {
            sink.send(Event::Notice { message: format!("{e}; using the native engine") });
        }
        let engine = self.pick(job);
        self.last.store(if engine.name() == "s5cmd" { 1 } else { 2 }, Ordering::Relaxed);
        engine.run(job, opts, sink, cancel).await
    }

    fn compresses_uploads(&self, job: &TransferJob) -> bool {
        self.pick(job).compresses_uploads(job)
    }
}

impl AutoEngine {
    /// The engine that runs `job`: [`MEASURED`]'s, the native one when that is s5cmd and it is
    /// not usable.
    fn pick(&self, job: &TransferJob) -> &dyn Engine {
        match (measured_choice(job), &self.s5cmd) {
            (EngineKind::S5cmd, Ok(s5cmd)) => s5cmd,
            _ => &self.native,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transfer::TransferItem;

    fn job(direction: Direction, sizes: &[u64]) -> TransferJob {
        let mut j = TransferJob::new(direction, "b", "/tmp/x");
        for (i, s) in sizes.iter().enumerate() {
            j.items.push(TransferItem { local: format!("/tmp/x/{i}").into(), key: format!("k{i}"), size: *s, etag: None, write_if: None });
        }
        j
    }

    #[test]
    fn the_shape_is_the_mean_object_size() {
        assert_eq!(shape(&job(Direction::Download, &[1 << 20; 1000])), Shape::ManySmall);
        assert_eq!(shape(&job(Direction::Download, &[2 << 30])), Shape::FewLarge);
        assert_eq!(shape(&job(Direction::Download, &[])), Shape::ManySmall);
    }

    #[test]
    fn every_direction_and_shape_has_a_measured_engine() {
        for d in [Direction::Upload, Direction::Download] {
            for s in [Shape::ManySmall, Shape::FewLarge] {
                assert_eq!(MEASURED.iter().filter(|(a, b, _)| *a == d && *b == s).count(), 1, "{d:?} {s:?}");
            }
        }
    }
}
