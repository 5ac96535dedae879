//! Retention tests: safety rules first, then each user rule, each verdict with its reason.

use super::*;
use crate::checkpoint::model::{Completeness, FileEntry, Layout};
use std::collections::BTreeMap;

const NOW: i64 = 1_800_000_000;
const DAY: i64 = 86_400;

fn ck(step: u64, complete: bool, metric: Option<f64>, age_days: i64) -> Checkpoint {
    let id = format!("run/checkpoint-{step}/");
    let mut metrics = BTreeMap::new();
    if let Some(m) = metric {
        metrics.insert("eval_loss".to_string(), m);
    }
    Checkpoint {
        run: "run".into(),
        files: vec![FileEntry { path: format!("{id}model.safetensors"), size: 100, mtime: Some(NOW - age_days * DAY) }],
        id,
        layout: Layout::HfTrainer,
        step: Some(step),
        epoch: None,
        metrics,
        bytes: 100,
        last_modified: Some(NOW - age_days * DAY),
        complete: if complete { Completeness::Complete } else { Completeness::Incomplete { reason: "no trainer_state.json yet".into() } },
        framework_keep: None,
        same_as: None,
    }
}

fn run(cs: Vec<Checkpoint>) -> Run {
    Run { name: "run".into(), checkpoints: cs }
}

fn last_n(n: usize) -> Policy {
    Policy { keep_last_n: Some(n), ..Default::default() }
}

fn verdicts(plan: &Plan) -> Vec<(u64, Action)> {
    plan.items.iter().map(|i| (i.checkpoint.step.unwrap(), i.action)).collect()
}

fn reasons(plan: &Plan, step: u64) -> String {
    plan.items.iter().find(|i| i.checkpoint.step == Some(step)).unwrap().reasons.join("; ")
}

use Action::{Delete, Keep};

#[test]
fn keep_last_n_deletes_older_complete_and_keeps_newer_incomplete() {
    let r = run(vec![ck(100, true, None, 5), ck(200, true, None, 4), ck(300, true, None, 3), ck(400, true, None, 2), ck(500, false, None, 0)]);
    let plan = plan_retention(&r, &last_n(2), NOW).unwrap();
    assert_eq!(verdicts(&plan), [(100, Delete), (200, Delete), (300, Keep), (400, Keep), (500, Keep)]);
    assert_eq!(plan.bytes_reclaimed, 200);
    assert!(reasons(&plan, 500).contains("incomplete"), "{}", reasons(&plan, 500));
    assert!(reasons(&plan, 400).contains("newest complete"));
    assert!(reasons(&plan, 100).contains("older than the last 2"));
}

#[test]
fn keep_last_n_zero_is_refused_without_force_all() {
    let r = run(vec![ck(1, true, None, 1)]);
    let err = plan_retention(&r, &last_n(0), NOW).unwrap_err();
    assert_eq!(err.exit_code(), 2);
    assert!(err.to_string().contains("--force-all"));
}

#[test]
fn force_all_still_keeps_the_newest_complete_and_incomplete_ones() {
    let r = run(vec![ck(1, true, None, 3), ck(2, true, None, 2), ck(3, false, None, 0)]);
    let plan = plan_retention(&r, &Policy { force_all: true, ..last_n(0) }, NOW).unwrap();
    assert_eq!(verdicts(&plan), [(1, Delete), (2, Keep), (3, Keep)]);
}

#[test]
fn a_policy_without_rules_is_refused() {
    assert_eq!(Policy::default().validate().unwrap_err().exit_code(), 2);
}

#[test]
fn keep_best_ranks_by_metric_and_keeps_checkpoints_missing_it() {
    let r = run(vec![ck(1, true, Some(0.9), 5), ck(2, true, Some(0.3), 4), ck(3, true, None, 3), ck(4, true, Some(0.5), 2), ck(5, true, Some(0.7), 1)]);
    let p = Policy { keep_best: Some(KeepBest { k: 2, metric: "eval_loss".into(), mode: Mode::Min }), ..Default::default() };
    let plan = plan_retention(&r, &p, NOW).unwrap();
    assert_eq!(verdicts(&plan), [(1, Delete), (2, Keep), (3, Keep), (4, Keep), (5, Keep)]);
    assert!(reasons(&plan, 2).contains("best 2 by eval_loss"));
    assert!(reasons(&plan, 3).contains("no `eval_loss` metric"), "{}", reasons(&plan, 3));
    assert!(reasons(&plan, 5).contains("newest complete"));
    let max = Policy { keep_best: Some(KeepBest { k: 1, metric: "eval_loss".into(), mode: Mode::Max }), ..Default::default() };
    let plan = plan_retention(&r, &max, NOW).unwrap();
    assert_eq!(plan.items[0].action, Keep, "0.9 is the best under max");
}

#[test]
fn keep_every_keeps_multiples_of_n_steps() {
    let r = run((1..=6).map(|i| ck(i * 500, true, None, 10 - i as i64)).collect());
    let p = Policy { keep_every_n_steps: Some(1000), ..last_n(1) };
    let plan = plan_retention(&r, &p, NOW).unwrap();
    assert_eq!(verdicts(&plan), [(500, Delete), (1000, Keep), (1500, Delete), (2000, Keep), (2500, Delete), (3000, Keep)]);
    assert!(reasons(&plan, 1500).contains("not a multiple of 1000"));
}

#[test]
fn keep_since_keeps_recently_modified_checkpoints() {
    let r = run(vec![ck(1, true, None, 30), ck(2, true, None, 3), ck(3, true, None, 1)]);
    let p = Policy { keep_since: Some(std::time::Duration::from_secs(7 * DAY as u64)), ..Default::default() };
    let plan = plan_retention(&r, &p, NOW).unwrap();
    assert_eq!(verdicts(&plan), [(1, Delete), (2, Keep), (3, Keep)]);
    assert!(reasons(&plan, 2).contains("modified within the last 7days"), "{}", reasons(&plan, 2));
}

#[test]
fn pins_and_framework_needs_are_always_kept() {
    let mut best = ck(1, true, None, 9);
    best.framework_keep = Some("the HF Trainer's best_model_checkpoint".into());
    let r = run(vec![best, ck(2, true, None, 8), ck(3, true, None, 7), ck(4, true, None, 1)]);
    let p = Policy { pins: ["run/checkpoint-2/".to_string()].into(), ..last_n(1) };
    let plan = plan_retention(&r, &p, NOW).unwrap();
    assert_eq!(verdicts(&plan), [(1, Keep), (2, Keep), (3, Delete), (4, Keep)]);
    assert!(reasons(&plan, 2).contains("pinned"));
    assert!(reasons(&plan, 1).contains("best_model_checkpoint"));
}

#[test]
fn steps_order_checkpoints_not_listing_order_or_mtime() {
    let r = run(vec![ck(300, true, None, 9), ck(100, true, None, 1), ck(200, true, None, 5)]);
    let plan = plan_retention(&r, &last_n(1), NOW).unwrap();
    assert_eq!(verdicts(&plan), [(100, Delete), (200, Delete), (300, Keep)]);
}

#[test]
fn an_unnumbered_checkpoint_among_numbered_ones_is_kept_by_keep_last_n() {
    let mut fin = ck(0, true, None, 9);
    (fin.id, fin.step) = ("run/final/".into(), None);
    let r = run(vec![fin, ck(1, true, None, 3), ck(2, true, None, 2), ck(3, true, None, 1)]);
    let plan = plan_retention(&r, &last_n(1), NOW).unwrap();
    let v: Vec<(&str, Action)> = plan.items.iter().map(|i| (i.checkpoint.id.as_str(), i.action)).collect();
    assert_eq!(v, [("run/final/", Keep), ("run/checkpoint-1/", Delete), ("run/checkpoint-2/", Delete), ("run/checkpoint-3/", Keep)]);
    assert!(plan.items[0].reasons[0].contains("no step or epoch"));
}

#[test]
fn a_run_without_any_numbers_is_ordered_by_modification_time() {
    let cs: Vec<Checkpoint> = [(5, "a"), (1, "b"), (3, "c")]
        .into_iter()
        .map(|(age, name)| {
            let mut c = ck(0, true, None, age);
            (c.id, c.step) = (format!("run/{name}/"), None);
            c
        })
        .collect();
    let plan = plan_retention(&run(cs), &last_n(1), NOW).unwrap();
    let v: Vec<(&str, Action)> = plan.items.iter().map(|i| (i.checkpoint.id.as_str(), i.action)).collect();
    assert_eq!(v, [("run/a/", Delete), ("run/c/", Delete), ("run/b/", Keep)]);
}

#[test]
fn a_huge_keep_since_keeps_everything_instead_of_wrapping_negative() {
    // `d.as_secs() as i64` wrapped negative for u64::MAX seconds: the rule kept nothing.
    let r = run(vec![ck(100, true, None, 400), ck(200, true, None, 300), ck(300, true, None, 200)]);
    let p = Policy { keep_since: Some(std::time::Duration::from_secs(u64::MAX)), ..Default::default() };
    let plan = plan_retention(&r, &p, NOW).unwrap();
    assert_eq!(verdicts(&plan), [(100, Action::Keep), (200, Action::Keep), (300, Action::Keep)]);
    let ancient = run(vec![ck(1, true, None, 0), ck(2, true, None, 0)]);
    assert!(plan_retention(&ancient, &p, i64::MIN).is_ok(), "no overflow on extreme clocks");
}
