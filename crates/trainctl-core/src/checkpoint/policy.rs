//! Retention: which checkpoints of a run to keep and which to delete, each with its reasons.
//!
//! Why a plan value: deletion only ever happens from a plan the user saw (`--dry-run` prints it,
//! the prompt follows it, apply executes exactly its `Delete` items). Safety rules come first and
//! cannot be turned off: the newest complete checkpoint, every incomplete one (it may be in
//! flight) and the ones the framework itself relies on are always kept.

use super::model::{Checkpoint, Completeness, Run};
use crate::error::{Error, Result};
use serde::Serialize;
use std::collections::BTreeSet;
use std::time::Duration;

/// Whether a lower or a higher metric value is better.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Min,
    Max,
}

/// `--keep-best K --metric NAME --mode min|max`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeepBest {
    pub k: usize,
    pub metric: String,
    pub mode: Mode,
}

/// The user's retention rules. A checkpoint is kept when any rule (or a safety rule) keeps it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Policy {
    pub keep_last_n: Option<usize>,
    pub keep_best: Option<KeepBest>,
    pub keep_every_n_steps: Option<u64>,
    pub keep_since: Option<Duration>,
    /// Checkpoint ids kept whatever the rules say (`.trainctl-pins.json`).
    pub pins: BTreeSet<String>,
    /// Allows `keep_last_n == 0` (everything but the safety rules may go).
    pub force_all: bool,
    /// Deletes abandoned checkpoints (incomplete, nothing written for the abandoned-after window,
    /// no writer): off unless the user asks (`--delete-abandoned`); an in-progress one never goes.
    pub delete_abandoned: bool,
}

impl Policy {
    /// A rule that decides about complete checkpoints (without one, `--delete-abandoned` alone
    /// cleans only abandoned checkpoints and keeps every complete one).
    pub fn has_keep_rule(&self) -> bool {
        self.keep_last_n.is_some() || self.keep_best.is_some() || self.keep_every_n_steps.is_some() || self.keep_since.is_some()
    }

    /// Refuses policies that are surely a mistake: no rule at all, `--keep-last-n 0` without
    /// `--force-all`, zero-sized `--keep-best` / `--keep-every`.
    pub fn validate(&self) -> Result<()> {
        if !self.has_keep_rule() && !self.delete_abandoned {
            return Err(Error::Usage("give a retention rule: --keep-last-n, --keep-best, --keep-every, --keep-since or --delete-abandoned".into()));
        }
        if self.keep_last_n == Some(0) && !self.force_all {
            return Err(Error::Usage(
                "--keep-last-n 0 would delete every checkpoint but the newest complete one; pass --force-all if you mean it".into(),
            ));
        }
        if self.keep_best.as_ref().is_some_and(|b| b.k == 0) || self.keep_every_n_steps == Some(0) {
            return Err(Error::Usage("--keep-best and --keep-every need a number above 0".into()));
        }
        Ok(())
    }
}

/// Keep or delete.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Keep,
    Delete,
}

/// One checkpoint's verdict and why.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanItem {
    pub checkpoint: Checkpoint,
    pub action: Action,
    pub reasons: Vec<String>,
}

/// The plan for one run: every checkpoint with its verdict, oldest first.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub run: String,
    pub items: Vec<PlanItem>,
    pub bytes_reclaimed: u64,
}

impl Plan {
    /// The items to delete.
    pub fn deletions(&self) -> impl Iterator<Item = &PlanItem> {
        self.items.iter().filter(|i| i.action == Action::Delete)
    }

    /// Abandoned checkpoints (crashed saves) in the plan: (deleted, kept).
    pub fn abandoned(&self) -> (usize, usize) {
        let ab = self.items.iter().filter(|i| i.checkpoint.complete.is_abandoned());
        ab.fold((0, 0), |(d, k), i| if i.action == Action::Delete { (d + 1, k) } else { (d, k + 1) })
    }
}

/// What a plan says about abandoned checkpoints, in the words both faces show: how many the plan
/// deletes because `--delete-abandoned` was given, or how many it keeps and how to remove them.
/// `None` when there are none.
pub fn abandoned_note(plans: &[Plan]) -> Option<String> {
    let (deleted, kept) = plans.iter().map(Plan::abandoned).fold((0, 0), |(d, k), (d2, k2)| (d + d2, k + k2));
    match (deleted, kept) {
        (0, 0) => None,
        (0, k) => Some(format!("{k} abandoned checkpoint(s) (crashed saves) kept; delete them with --delete-abandoned")),
        (d, 0) => Some(format!("deleting {d} abandoned checkpoint(s) (crashed saves): --delete-abandoned")),
        (d, k) => Some(format!("deleting {d} abandoned checkpoint(s) (crashed saves): --delete-abandoned; {k} pinned or kept by a rule")),
    }
}

/// Plans every run with the same policy (after validating it once).
pub fn plan_all(runs: &[Run], policy: &Policy, now: i64) -> Result<Vec<Plan>> {
    policy.validate()?;
    runs.iter().map(|r| plan_retention(r, policy, now)).collect()
}

/// Which checkpoints a plan may touch ([`plan_within`]).
pub type Scope<'a> = &'a (dyn Fn(&Checkpoint) -> bool + Send + Sync);

/// Plans every run, but only over the checkpoints `in_scope` accepts; every other one is kept
/// with the reason `outside`, and counts neither as the newest nor among the last N. Why: a
/// `trainctl local` run prunes only what it uploaded itself, never another run's checkpoints
/// under the same `--upload-to` (they are still in the plan, so apply's staleness check covers
/// the whole location).
pub fn plan_within(runs: &[Run], policy: &Policy, now: i64, in_scope: Scope<'_>, outside: &str) -> Result<Vec<Plan>> {
    policy.validate()?;
    let mut plans = Vec::with_capacity(runs.len());
    for run in runs {
        let (mine, others): (Vec<Checkpoint>, Vec<Checkpoint>) = run.checkpoints.iter().cloned().partition(|c| in_scope(c));
        let mut plan = plan_retention(&Run { name: run.name.clone(), checkpoints: mine }, policy, now)?;
        plan.items.extend(others.into_iter().map(|c| PlanItem { checkpoint: c, action: Action::Keep, reasons: vec![outside.to_string()] }));
        plan.items.sort_by(|a, b| a.checkpoint.order_key().cmp(&b.checkpoint.order_key()).then_with(|| a.checkpoint.id.cmp(&b.checkpoint.id)));
        plans.push(plan);
    }
    Ok(plans)
}

/// Decides keep/delete for each checkpoint of `run` under `policy` at time `now` (Unix seconds).
pub fn plan_retention(run: &Run, policy: &Policy, now: i64) -> Result<Plan> {
    policy.validate()?;
    let mut ordered: Vec<&Checkpoint> = run.checkpoints.iter().collect();
    ordered.sort_by(|a, b| a.order_key().cmp(&b.order_key()).then_with(|| a.id.cmp(&b.id)));
    let complete: Vec<&Checkpoint> = ordered.iter().copied().filter(|c| c.complete.is_complete()).collect();
    let newest = complete.last().map(|c| c.id.clone());
    let numbered_run = ordered.iter().any(|c| is_numbered(c));
    let orderable = complete.iter().filter(|c| !numbered_run || is_numbered(c));
    let last_n: BTreeSet<&str> = orderable.rev().take(policy.keep_last_n.unwrap_or(0)).map(|c| c.id.as_str()).collect();
    let best = best_ids(&complete, policy.keep_best.as_ref());
    let items: Vec<PlanItem> = ordered
        .into_iter()
        .map(|c| {
            let mut reasons = keep_reasons(c, policy, now, newest.as_deref(), &last_n, &best);
            if numbered_run && !is_numbered(c) && policy.keep_last_n.is_some() && c.complete.is_complete() {
                reasons.push("no step or epoch to place it among the numbered checkpoints; kept to be safe".into());
            }
            let action = if reasons.is_empty() { Action::Delete } else { Action::Keep };
            let reasons = if reasons.is_empty() { delete_reasons(c, policy) } else { reasons };
            PlanItem { checkpoint: c.clone(), action, reasons }
        })
        .collect();
    let bytes_reclaimed = crate::limits::sum_sizes(items.iter().filter(|i| i.action == Action::Delete).map(|i| i.checkpoint.bytes));
    Ok(Plan { run: run.name.clone(), items, bytes_reclaimed })
}

/// Has a step or epoch number, so "newest" means something for it.
fn is_numbered(c: &Checkpoint) -> bool {
    c.step.is_some() || c.epoch.is_some()
}

/// Ids of the best `k` complete checkpoints that carry the metric.
fn best_ids(complete: &[&Checkpoint], best: Option<&KeepBest>) -> BTreeSet<String> {
    let Some(b) = best else { return BTreeSet::new() };
    // NaN and ±inf never rank (a diverged run's NaN must not become "the best").
    let mut scored: Vec<(f64, &Checkpoint)> = complete.iter().filter_map(|c| c.metrics.get(&b.metric).filter(|v| v.is_finite()).map(|v| (*v, *c))).collect();
    scored.sort_by(|x, y| {
        let ord = x.0.partial_cmp(&y.0).unwrap_or(std::cmp::Ordering::Equal);
        if b.mode == Mode::Min { ord } else { ord.reverse() }
    });
    scored.into_iter().take(b.k).map(|(_, c)| c.id.clone()).collect()
}

fn keep_reasons(c: &Checkpoint, p: &Policy, now: i64, newest: Option<&str>, last_n: &BTreeSet<&str>, best: &BTreeSet<String>) -> Vec<String> {
    let mut r = Vec::new();
    match &c.complete {
        Completeness::Incomplete { reason } => r.push(format!("incomplete, may still be written: {reason}")),
        Completeness::Abandoned { reason } if !p.delete_abandoned => r.push(format!("abandoned ({reason}); kept: pass --delete-abandoned to remove it")),
        Completeness::Abandoned { .. } => return pins_only(c, p),
        Completeness::Complete if !p.has_keep_rule() => r.push("complete; only abandoned checkpoints are cleaned (no retention rule given)".into()),
        Completeness::Complete => {}
    }
    if let Some(why) = &c.framework_keep {
        r.push(why.clone());
    }
    if newest == Some(c.id.as_str()) {
        r.push("newest complete checkpoint".into());
    }
    if p.pins.contains(&c.id) {
        r.push("pinned".into());
    }
    if last_n.contains(c.id.as_str()) {
        r.push(format!("among the last {} complete", p.keep_last_n.unwrap_or(0)));
    }
    if let Some(b) = &p.keep_best {
        match c.metrics.get(&b.metric) {
            Some(v) if best.contains(&c.id) => r.push(format!("best {} by {} ({} = {v})", b.k, b.metric, b.metric)),
            None if c.complete.is_complete() => r.push(format!("has no `{}` metric to rank it by; kept to be safe", b.metric)),
            _ => {}
        }
    }
    if let (Some(n), Some(s)) = (p.keep_every_n_steps, c.step) {
        if s % n == 0 {
            r.push(format!("step {s} is a multiple of {n}"));
        }
    }
    if let (Some(d), Some(t)) = (p.keep_since, c.last_modified) {
        if now.saturating_sub(t) <= crate::limits::secs_i64(d) {
            r.push(format!("modified within the last {}", humantime::format_duration(d)));
        }
    }
    r
}

/// An abandoned checkpoint the user asked to delete is kept only when pinned or the framework
/// itself names it (retention rules about complete checkpoints do not apply to a crashed save).
fn pins_only(c: &Checkpoint, p: &Policy) -> Vec<String> {
    let mut r: Vec<String> = c.framework_keep.iter().cloned().collect();
    if p.pins.contains(&c.id) {
        r.push("pinned".into());
    }
    r
}

/// Why a checkpoint no rule keeps goes: the rules it falls outside of.
fn delete_reasons(c: &Checkpoint, p: &Policy) -> Vec<String> {
    let mut r = Vec::new();
    if let Completeness::Abandoned { reason } = &c.complete {
        return vec![format!("abandoned: {reason} (--delete-abandoned)")];
    }
    if let Some(n) = p.keep_last_n {
        r.push(format!("older than the last {n} complete"));
    }
    if let Some(b) = &p.keep_best {
        match c.metrics.get(&b.metric) {
            Some(v) if !v.is_finite() => r.push(format!("{} is {v}, which never ranks among the best {}", b.metric, b.k)),
            _ => r.push(format!("not among the best {} by {}", b.k, b.metric)),
        }
    }
    if let Some(n) = p.keep_every_n_steps {
        r.push(match c.step {
            Some(s) => format!("step {s} is not a multiple of {n}"),
            None => "no step number for --keep-every".into(),
        });
    }
    if let Some(d) = p.keep_since {
        r.push(format!("older than {}", humantime::format_duration(d)));
    }
    r
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;
