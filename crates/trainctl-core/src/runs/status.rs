//! Running, finished or stalled: a run's state judged from outside, by when it last showed
//! activity compared with its own cadence.
//!
//! Why cadence and not a fixed timeout: one run checkpoints every 2 minutes, another every 3
//! hours. Silence longer than `k` × the median gap between its recent checkpoints (or log
//! writes) is the signal, the same rule the watch engine uses for its stall events.

use serde::Serialize;

/// Silence longer than this many cadences is a stall.
pub const STALL_FACTOR: f64 = 3.0;

/// Without a cadence (fewer than two activity times), silence longer than this is a stall.
pub const STALL_WITHOUT_CADENCE_SECS: f64 = 3600.0;

/// A run's state.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    Finished,
    Stalled,
    /// Nothing to judge by (no timestamps at all).
    Unknown,
}

/// What the judgement saw, for the UI to explain it.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatusJudgement {
    pub status: RunStatus,
    /// Median gap between activity times, seconds.
    pub cadence_secs: Option<f64>,
    /// Seconds since the last activity.
    pub silent_secs: Option<f64>,
    pub reason: String,
}

/// Judges a run. `times` are activity times (checkpoint mtimes, log writes; seconds since the
/// epoch, any order); `finished` is outside evidence (a marker file, `global_step >= max_steps`).
pub fn judge(times: &[i64], finished: bool, now: i64) -> StatusJudgement {
    let mut t: Vec<i64> = times.to_vec();
    t.sort_unstable();
    let cadence = median_gap(&t);
    let silent = t.last().map(|last| (now - last).max(0) as f64);
    if finished {
        return StatusJudgement { status: RunStatus::Finished, cadence_secs: cadence, silent_secs: silent, reason: "the run says it is done".into() };
    }
    let Some(silent_secs) = silent else {
        return StatusJudgement { status: RunStatus::Unknown, cadence_secs: None, silent_secs: None, reason: "no activity times".into() };
    };
    let limit = cadence.map(|c| STALL_FACTOR * c.max(1.0)).unwrap_or(STALL_WITHOUT_CADENCE_SECS);
    let (status, reason) = if silent_secs > limit {
        (RunStatus::Stalled, format!("silent for {silent_secs:.0}s, more than {limit:.0}s"))
    } else {
        (RunStatus::Running, format!("last activity {silent_secs:.0}s ago"))
    };
    StatusJudgement { status, cadence_secs: cadence, silent_secs: Some(silent_secs), reason }
}

fn median_gap(sorted: &[i64]) -> Option<f64> {
    let mut gaps: Vec<f64> = sorted.windows(2).map(|w| (w[1] - w[0]) as f64).filter(|g| *g > 0.0).collect();
    if gaps.is_empty() {
        return None;
    }
    gaps.sort_by(|a, b| a.total_cmp(b));
    Some(gaps[gaps.len() / 2])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_beyond_three_cadences_is_a_stall() {
        let times = [0, 100, 200, 300];
        assert_eq!(judge(&times, false, 550).status, RunStatus::Running);
        assert_eq!(judge(&times, false, 650).status, RunStatus::Stalled);
        assert_eq!(judge(&times, true, 10_000).status, RunStatus::Finished);
        assert_eq!(judge(&[], false, 5).status, RunStatus::Unknown);
    }

    #[test]
    fn one_activity_time_uses_the_fixed_limit() {
        assert_eq!(judge(&[0], false, 600).status, RunStatus::Running);
        assert_eq!(judge(&[0], false, 4000).status, RunStatus::Stalled);
    }
}
