//! The savings actions worth offering for a reviewed location (the Dashboard's cost card): per
//! run, deleting all but the newest checkpoints; per top-level prefix, a lifecycle rule to a
//! colder class. Each is priced net of early-deletion and transition-request charges, and the
//! list is ranked by what it saves per month.
//!
//! Why in core: the ranking is a cost decision (which classes, which minimums, which one-time
//! charges), the same for any front end; the desktop command only passes the result through.

use super::model::Aged;
use super::table::PriceTable;
use super::{normalize_class, transition_savings, Usage};
use crate::review::compressible::CompressEstimate;
use crate::review::{Duplicates, Group, Report, RunGroup, OTHER, TOP_LEVEL};
use serde::{Deserialize, Serialize};

/// Checkpoints a suggested cleanup keeps per run (the newest ones).
pub const KEEP_NEWEST: usize = 2;
/// The class a suggested lifecycle rule moves a prefix to ...
pub const COLD_CLASS: &str = "GLACIER_IR";
/// ... and after how many days.
pub const TRANSITION_AFTER_DAYS: f64 = 30.0;

/// What a savings action opens in the app.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SavingsKind {
    /// Delete old checkpoints (the cleanup planner).
    Cleanup,
    /// Move a prefix to a colder class (the lifecycle editor).
    Lifecycle,
    /// Keep one copy of each group of duplicate objects (a plan and a confirm dialog).
    Dedup,
    /// Store the largest objects compressed (`--compress auto`), as measured on samples.
    Compress,
}

/// A cleanup or lifecycle change, with what it saves.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavingsAction {
    pub kind: SavingsKind,
    pub title: String,
    pub bucket: String,
    /// Absolute prefix in the bucket: the run, or the prefix a rule would filter on.
    pub prefix: String,
    pub objects: u64,
    pub bytes: u64,
    pub monthly_usd_saved: f64,
    /// Early-deletion and transition-request charges, once.
    pub one_time_usd: f64,
}

/// The actions worth offering for `report` (a review of `bucket` at `base`, the location's
/// prefix), best first (largest monthly saving; ties by title). Actions that save nothing are
/// dropped. Ages are relative to the report's `generated_at`.
pub fn suggest_savings(report: &Report, bucket: &str, base: &str, table: &PriceTable) -> Vec<SavingsAction> {
    let mut out: Vec<SavingsAction> = report.by_run.iter().filter_map(|r| cleanup_action(r, bucket, base, table, report.generated_at)).collect();
    out.extend(report.by_prefix.iter().filter_map(|g| lifecycle_action(g, bucket, base, table)));
    out.extend(report.duplicates.as_ref().and_then(|d| dedup_action(d, bucket, base, table)));
    rank(&mut out);
    out
}

/// Drops actions that save nothing and ranks the rest, largest monthly saving first (ties by
/// title).
pub fn rank(out: &mut Vec<SavingsAction>) {
    out.retain(|a| a.monthly_usd_saved > 0.0);
    out.sort_by(|a, b| b.monthly_usd_saved.total_cmp(&a.monthly_usd_saved).then_with(|| a.title.cmp(&b.title)));
}

/// Deleting all but the newest [`KEEP_NEWEST`] checkpoints of a run (`checkpoint_sizes` is sorted
/// by step, oldest first).
fn cleanup_action(run: &RunGroup, bucket: &str, base: &str, table: &PriceTable, now: i64) -> Option<SavingsAction> {
    let n = run.checkpoint_sizes.len();
    if n <= KEEP_NEWEST {
        return None;
    }
    let old = &run.checkpoint_sizes[..n - KEEP_NEWEST];
    // Checkpoints are priced in the run's main class (a listing rarely mixes classes in a run).
    let class = run.total.classes.iter().max_by_key(|c| c.bytes).map(|c| normalize_class(Some(&c.storage_class))).unwrap_or_else(|| table.default_class.clone());
    let aged: Vec<Aged> = old
        .iter()
        .map(|c| Aged {
            usage: Usage { storage_class: class.clone(), bytes: c.bytes, objects: c.objects, ..Usage::default() },
            // Unknown age: old enough to carry no early-deletion charge.
            age_days: c.last_modified.map(|t| (now - t).max(0) as f64 / 86_400.0).unwrap_or(365.0),
        })
        .collect();
    let usage: Vec<Usage> = aged.iter().map(|a| a.usage.clone()).collect();
    let name = if run.run.is_empty() { base.to_string() } else { run.run.clone() };
    Some(SavingsAction {
        kind: SavingsKind::Cleanup,
        title: format!("Delete {} old checkpoints of {name} (keep the newest {KEEP_NEWEST})", old.len()),
        bucket: bucket.to_string(),
        prefix: format!("{base}{}", run.run),
        objects: old.iter().map(|c| c.objects).sum(),
        bytes: old.iter().map(|c| c.bytes).sum(),
        monthly_usd_saved: table.monthly_storage_usd(&usage),
        one_time_usd: table.early_deletion_usd(&aged),
    })
}

/// A lifecycle rule moving a top-level prefix to [`COLD_CLASS`] after [`TRANSITION_AFTER_DAYS`].
fn lifecycle_action(g: &Group, bucket: &str, base: &str, table: &PriceTable) -> Option<SavingsAction> {
    if g.name == TOP_LEVEL || g.name == OTHER || g.classes.is_empty() {
        return None;
    }
    let items: Vec<Aged> = g.classes.iter().map(|u| Aged { usage: u.clone(), age_days: TRANSITION_AFTER_DAYS }).collect();
    let t = transition_savings(table, &items, COLD_CLASS).ok()?;
    if t.objects_moved == 0 {
        return None;
    }
    Some(SavingsAction {
        kind: SavingsKind::Lifecycle,
        title: format!("Transition {} to {COLD_CLASS} after {TRANSITION_AFTER_DAYS} days", g.name),
        bucket: bucket.to_string(),
        prefix: format!("{base}{}", g.name),
        objects: t.objects_moved,
        bytes: t.bytes_moved,
        monthly_usd_saved: t.monthly_savings_usd,
        one_time_usd: t.transition_usd + t.early_deletion_usd,
    })
}

/// Keeping one copy of each duplicate group.
fn dedup_action(d: &Duplicates, bucket: &str, base: &str, table: &PriceTable) -> Option<SavingsAction> {
    (d.groups_total > 0).then(|| SavingsAction {
        kind: SavingsKind::Dedup,
        title: format!("Keep one copy of {} duplicated objects ({} group{})", d.objects, d.groups_total, if d.groups_total == 1 { "" } else { "s" }),
        bucket: bucket.to_string(),
        prefix: base.to_string(),
        objects: d.objects - d.groups_total,
        bytes: d.reclaimable_bytes,
        monthly_usd_saved: table.monthly_storage_usd(&d.classes),
        one_time_usd: 0.0,
    })
}

/// Storing the measured objects compressed; `None` when none would shrink.
pub fn compress_action(e: &CompressEstimate, base: &str) -> Option<SavingsAction> {
    let worth = e.objects.iter().filter(|o| o.codec.is_some()).count();
    (worth > 0 && e.saved_bytes > 0).then(|| SavingsAction {
        kind: SavingsKind::Compress,
        title: format!("Compress the {worth} largest objects (measured on samples: {:.0}% smaller)", 100.0 * e.saved_bytes as f64 / e.objects.iter().filter(|o| o.codec.is_some()).map(|o| o.bytes).sum::<u64>().max(1) as f64),
        bucket: e.bucket.clone(),
        prefix: base.to_string(),
        objects: worth as u64,
        bytes: e.saved_bytes,
        monthly_usd_saved: e.monthly_usd_saved.unwrap_or(0.0),
        one_time_usd: 0.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cost::price_table;
    use crate::review::{CheckpointSize, Source};

    const GB: u64 = 1_000_000_000;
    const NOW: i64 = 1_800_000_000;
    const DAY: i64 = 86_400;

    fn usage(class: &str, bytes: u64, objects: u64) -> Vec<Usage> {
        vec![Usage { storage_class: class.into(), bytes, objects, ..Usage::default() }]
    }

    fn group(name: &str, class: &str, bytes: u64, objects: u64) -> Group {
        Group { name: name.into(), objects, bytes, monthly_usd: None, classes: usage(class, bytes, objects) }
    }

    fn run(name: &str, class: &str, checkpoints: u64, age_days: i64) -> RunGroup {
        let ckpt = |i: u64| CheckpointSize { id: format!("{name}checkpoint-{i}/"), layout: "hf_trainer".into(), step: Some(i), objects: 3, bytes: 10 * GB, last_modified: Some(NOW - age_days * DAY) };
        RunGroup { run: name.into(), total: group(name, class, checkpoints * 10 * GB + GB, checkpoints * 3 + 1), checkpoints, checkpoint_sizes: (1..=checkpoints).map(ckpt).collect(), ..RunGroup::default() }
    }

    fn report(runs: Vec<RunGroup>, prefixes: Vec<Group>) -> Report {
        let mut r = Report::empty("s3://b/exp/", Source::Listing, NOW);
        r.by_run = runs;
        r.by_prefix = prefixes;
        r
    }

    #[test]
    fn suggests_deleting_all_but_the_newest_checkpoints_and_moving_cold_prefixes() {
        let table = price_table("aws", "us-east-1").unwrap();
        let r = report(vec![run("runs/a/", "STANDARD", 5, 90), run("runs/b/", "STANDARD", 2, 90)], vec![group("datasets/", "STANDARD", 500 * GB, 1000), group(TOP_LEVEL, "STANDARD", GB, 1)]);
        let s = suggest_savings(&r, "b", "exp/", &table);
        let lifecycle = s.iter().find(|a| a.kind == SavingsKind::Lifecycle).expect("a lifecycle action");
        assert_eq!((lifecycle.prefix.as_str(), lifecycle.objects, lifecycle.bytes), ("exp/datasets/", 1000, 500 * GB));
        // 1,000 transition requests at the GLACIER_IR price (USD 0.02 per 1,000 in us-east-1).
        assert!((lifecycle.one_time_usd - 0.02).abs() < 1e-9, "{}", lifecycle.one_time_usd);
        let cleanup = s.iter().find(|a| a.kind == SavingsKind::Cleanup).expect("a cleanup action");
        assert_eq!((cleanup.prefix.as_str(), cleanup.objects, cleanup.bytes), ("exp/runs/a/", 9, 30 * GB));
        // 30e9 bytes of STANDARD at USD 0.023 per GB-month (AWS's "GB" is GiB).
        let expected = 30e9 / (1u64 << 30) as f64 * 0.023;
        assert!((cleanup.monthly_usd_saved - expected).abs() < 1e-9, "{} vs {expected}", cleanup.monthly_usd_saved);
        assert_eq!(cleanup.one_time_usd, 0.0, "STANDARD has no minimum duration");
        assert!(cleanup.title.contains("Delete 3 old checkpoints of runs/a/"), "{}", cleanup.title);
        // runs/b keeps its two checkpoints; the top-level files get no lifecycle rule.
        assert_eq!(s.len(), 2, "{s:?}");
        assert!(s[0].monthly_usd_saved >= s[1].monthly_usd_saved);
    }

    #[test]
    fn a_young_cleanup_in_a_class_with_a_minimum_duration_pays_early_deletion() {
        let table = price_table("aws", "us-east-1").unwrap();
        // GLACIER_IR: 90-day minimum. Checkpoints 30 days old pay the 60 days left, once.
        let r = report(vec![run("", "GLACIER_IR", 3, 30)], vec![]);
        let s = suggest_savings(&r, "b", "exp/", &table);
        assert_eq!(s.len(), 1, "{s:?}");
        let a = &s[0];
        assert_eq!((a.prefix.as_str(), a.objects, a.bytes), ("exp/", 3, 10 * GB));
        assert!(a.title.contains("of exp/"), "the location names a run at the root: {}", a.title);
        let monthly = table.monthly_storage_usd(&usage("GLACIER_IR", 10 * GB, 3));
        assert!((a.monthly_usd_saved - monthly).abs() < 1e-12);
        assert!((a.one_time_usd - 2.0 * monthly).abs() < 1e-9, "60 of 90 days left = two months: {} vs {monthly}", a.one_time_usd);
    }

    #[test]
    fn nothing_to_save_is_no_action_and_ties_rank_by_title() {
        let table = price_table("aws", "us-east-1").unwrap();
        // Already in the cold class, or only small objects (which a rule leaves behind): no action.
        let small = Group { classes: vec![Usage { storage_class: "STANDARD".into(), bytes: 1000, objects: 10, small_objects: 10, small_bytes: 1000 }], ..group("logs/", "STANDARD", 1000, 10) };
        let r = report(vec![], vec![group("cold/", COLD_CLASS, 100 * GB, 10), small, group(OTHER, "STANDARD", GB, 1)]);
        assert!(suggest_savings(&r, "b", "", &table).is_empty());
        let r = report(vec![run("b/", "STANDARD", 4, 90), run("a/", "STANDARD", 4, 90)], vec![]);
        let s = suggest_savings(&r, "b", "", &table);
        assert_eq!(s.iter().map(|a| a.prefix.as_str()).collect::<Vec<_>>(), ["a/", "b/"]);
        assert_eq!(serde_json::to_value(&s[0]).unwrap()["kind"], "cleanup", "the IPC shape the UI reads");
    }
}
