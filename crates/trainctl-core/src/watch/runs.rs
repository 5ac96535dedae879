//! Per-run memory of a watch: when checkpoints came, the cadence they imply, and whether the run
//! is stalled or finished. Pure (time is passed in), so stall rules are unit-tested without S3.

/// How many recent checkpoint intervals the cadence is the median of.
const CADENCE_WINDOW: usize = 8;

/// One run as the watch sees it.
#[derive(Debug, Clone, Default)]
pub struct RunState {
    /// Times (seconds since the epoch) at which checkpoints appeared, oldest first (last few).
    times: Vec<f64>,
    pub last_checkpoint: Option<String>,
    pub stalled: bool,
    pub finished: bool,
}

/// What [`RunState::check_stall`] decided.
#[derive(Debug, Clone, PartialEq)]
pub struct Stall {
    pub silent_secs: f64,
    pub cadence_secs: f64,
}

impl RunState {
    /// Records a checkpoint seen at `at`; returns the silence it ended when the run was stalled.
    pub fn checkpoint(&mut self, id: &str, at: f64) -> Option<f64> {
        let silent = self.times.last().map(|t| (at - t).max(0.0));
        self.times.push(at);
        if self.times.len() > CADENCE_WINDOW + 1 {
            self.times.remove(0);
        }
        self.last_checkpoint = Some(id.to_string());
        let resumed = self.stalled.then_some(silent.unwrap_or(0.0));
        self.stalled = false;
        resumed
    }

    /// Median interval between recent checkpoints; `None` before the second checkpoint.
    pub fn cadence(&self) -> Option<f64> {
        let mut gaps: Vec<f64> = self.times.windows(2).map(|w| (w[1] - w[0]).max(0.0)).collect();
        if gaps.is_empty() {
            return None;
        }
        gaps.sort_by(|a, b| a.total_cmp(b));
        Some(gaps[gaps.len() / 2])
    }

    /// A stall, once: no checkpoint for `k` × the cadence (the cadence is taken as at least
    /// `resolution`, the poll interval, since the watch cannot see finer than that).
    pub fn check_stall(&mut self, now: f64, k: f64, resolution: f64) -> Option<Stall> {
        if self.stalled || self.finished {
            return None;
        }
        let cadence = self.cadence()?.max(resolution);
        let silent = now - self.times.last()?;
        if silent > k * cadence {
            self.stalled = true;
            return Some(Stall { silent_secs: silent, cadence_secs: cadence });
        }
        None
    }

    /// Would [`check_stall`](Self::check_stall) fire now? (Used to confirm with a full listing first.)
    pub fn would_stall(&self, now: f64, k: f64, resolution: f64) -> bool {
        let mut probe = self.clone();
        probe.check_stall(now, k, resolution).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_cadence_before_the_second_checkpoint() {
        let mut r = RunState::default();
        r.checkpoint("a", 100.0);
        assert_eq!(r.cadence(), None);
        assert_eq!(r.check_stall(10_000.0, 3.0, 1.0), None);
    }

    #[test]
    fn stall_fires_once_after_k_cadences_and_resume_clears_it() {
        let mut r = RunState::default();
        for (i, t) in [0.0, 10.0, 20.0, 30.0].iter().enumerate() {
            r.checkpoint(&format!("c{i}"), *t);
        }
        assert_eq!(r.cadence(), Some(10.0));
        assert_eq!(r.check_stall(55.0, 3.0, 1.0), None);
        let s = r.check_stall(61.0, 3.0, 1.0).expect("stalled");
        assert_eq!(s.cadence_secs, 10.0);
        assert_eq!(r.check_stall(90.0, 3.0, 1.0), None, "once per stall");
        assert_eq!(r.checkpoint("c4", 95.0), Some(65.0));
        assert!(!r.stalled);
    }

    #[test]
    fn the_poll_interval_bounds_the_cadence_from_below() {
        let mut r = RunState::default();
        r.checkpoint("a", 0.0);
        r.checkpoint("b", 0.5);
        assert_eq!(r.check_stall(5.0, 3.0, 2.0), None);
        assert!(r.check_stall(7.0, 3.0, 2.0).is_some());
    }

    #[test]
    fn finished_runs_never_stall() {
        let mut r = RunState::default();
        r.checkpoint("a", 0.0);
        r.checkpoint("b", 1.0);
        r.finished = true;
        assert_eq!(r.check_stall(100.0, 3.0, 1.0), None);
    }
}
