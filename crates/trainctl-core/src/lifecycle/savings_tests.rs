//! Lifecycle savings against hand-computed cases, priced with the us-east-1 table (STANDARD
//! 0.023, STANDARD_IA 0.0125, GLACIER_IR 0.004, GLACIER 0.0036 USD per GiB-month; transition
//! requests per 1,000: STANDARD_IA 0.01, GLACIER_IR 0.02, GLACIER 0.03).

use super::*;
use crate::cost::price_table;
use crate::lifecycle::model::Transition;

use crate::cost::testing::{close, us_east_1, GIB, KIB};

/// `n` objects of `size` in `class`, `age` days old.
fn aged(class: &str, n: u64, size: u64, age: f64) -> Aged {
    let mut u = Usage::new(class);
    for _ in 0..n {
        u.add_object(size);
    }
    Aged { usage: u, age_days: age }
}

fn rule(transitions: &[(u32, StorageClass)], expire: Option<u32>) -> Rule {
    let mut r = Rule::new("trainctl-runs", "runs/");
    r.transitions = transitions.iter().map(|&(days, storage_class)| Transition { days, storage_class }).collect();
    r.expire_days = expire;
    r
}

fn save(r: &Rule, items: &[Aged]) -> RuleSavings {
    rule_savings(r, ChangeKind::Added, items, &us_east_1(), Versioning::Unversioned)
}

#[test]
fn old_standard_objects_move_small_ones_stay_young_ones_wait() {
    let r = rule(&[(30, StorageClass::GlacierIr)], None);
    let s = save(&r, &[aged("STANDARD", 10, GIB, 45.0), aged("STANDARD", 5, GIB, 10.0), aged("STANDARD", 100, KIB, 45.0)]);
    // 10 GiB from 0.023 to 0.004: 0.19 a month; 10 transition requests at 0.02 per 1,000.
    close(s.monthly_savings_usd, 10.0 * (0.023 - 0.004));
    close(s.transition_usd, 10.0 / 1000.0 * 0.02);
    assert_eq!(s.early_deletion_usd, 0.0, "STANDARD has no minimum duration");
    close(s.net_first_month_usd, 0.19 - 0.0002);
    close(s.payback_months.unwrap(), 0.0002 / 0.19);
    assert_eq!((s.transitions.len(), s.transitions[0].objects_moved, s.transitions[0].bytes_moved), (1, 10, 10 * GIB));
    assert_eq!(s.small_objects_staying, 100, "objects under 128 KiB are not transitioned");
    assert_eq!((s.objects_later, s.bytes_later), (5, 5 * GIB));
    assert_eq!((s.objects, s.expired_objects), (115, 0));
}

#[test]
fn expiring_young_glacier_ir_pays_the_rest_of_its_90_days() {
    // 2 GiB uploaded straight to GLACIER_IR 60 days ago, expired at 40 days: the 30 days left
    // of the 90-day minimum are billed once, exactly one month of storage.
    let r = rule(&[], Some(40));
    let s = save(&r, &[aged("GLACIER_IR", 2, GIB, 60.0)]);
    close(s.monthly_savings_usd, 2.0 * 0.004);
    close(s.early_deletion_usd, 2.0 * 0.004 * 30.0 / 30.0);
    close(s.net_first_month_usd, 0.0);
    assert_eq!((s.expired_objects, s.expired_bytes, s.transition_usd), (2, 2 * GIB, 0.0));
    // Small objects expire too, billed at their 128 KiB minimum in GLACIER_IR.
    let s = save(&r, &[aged("GLACIER_IR", 8, KIB, 100.0)]);
    close(s.monthly_savings_usd, 8.0 * 128.0 * 1024.0 / GIB as f64 * 0.004);
    assert_eq!(s.early_deletion_usd, 0.0, "older than 90 days");
}

#[test]
fn on_a_versioned_bucket_expiry_saves_nothing_without_a_noncurrent_expiry() {
    let mut r = rule(&[], Some(40));
    let items = [aged("STANDARD", 1, GIB, 60.0)];
    let s = rule_savings(&r, ChangeKind::Added, &items, &us_east_1(), Versioning::Versioned);
    assert_eq!((s.monthly_savings_usd, s.expired_objects), (0.0, 1));
    assert!(s.notes.iter().any(|n| n.contains("noncurrent")), "{:?}", s.notes);
    r.noncurrent_expire_days = Some(7);
    let s = rule_savings(&r, ChangeKind::Added, &items, &us_east_1(), Versioning::Versioned);
    close(s.monthly_savings_usd, 0.023);
}

#[test]
fn moving_out_of_ia_early_pays_its_minimum_and_glacier_adds_its_overhead() {
    // 1 GiB uploaded to STANDARD_IA 10 days ago; a rule moves it to GLACIER after 5 days.
    let r = rule(&[(5, StorageClass::Glacier)], None);
    let s = save(&r, &[aged("STANDARD_IA", 1, GIB, 10.0)]);
    let after = (GIB as f64 + 32768.0) / GIB as f64 * 0.0036 + 8192.0 / GIB as f64 * 0.023;
    close(s.monthly_savings_usd, 0.0125 - after);
    close(s.early_deletion_usd, 0.0125 * 20.0 / 30.0);
    close(s.transition_usd, 0.03 / 1000.0);
    close(s.one_time_usd, 0.0125 * 20.0 / 30.0 + 0.00003);
}

#[test]
fn each_object_takes_the_latest_stage_it_has_reached_and_expiry_wins() {
    let r = rule(&[(30, StorageClass::StandardIa), (90, StorageClass::Glacier)], Some(365));
    let items = [
        aged("STANDARD", 1, GIB, 400.0), // expired
        aged("STANDARD", 2, GIB, 100.0), // → GLACIER directly (one request)
        aged("STANDARD", 3, GIB, 50.0),  // → STANDARD_IA
        aged("STANDARD", 4, GIB, 5.0),   // later
    ];
    let s = save(&r, &items);
    let to: Vec<(&str, u64)> = s.transitions.iter().map(|t| (t.to_class.as_str(), t.objects_moved)).collect();
    assert_eq!(to, [("STANDARD_IA", 3), ("GLACIER", 2)]);
    assert_eq!((s.expired_objects, s.objects_later), (1, 4));
    close(s.transition_usd, 3.0 * 0.01 / 1000.0 + 2.0 * 0.03 / 1000.0);
    let glacier_after = (2.0 * GIB as f64 + 2.0 * 32768.0) / GIB as f64 * 0.0036 + 2.0 * 8192.0 / GIB as f64 * 0.023;
    close(s.monthly_savings_usd, 0.023 + 3.0 * (0.023 - 0.0125) + (2.0 * 0.023 - glacier_after));
}

#[test]
fn objects_only_move_down_the_waterfall() {
    let r = rule(&[(30, StorageClass::GlacierIr)], None);
    let s = save(&r, &[aged("DEEP_ARCHIVE", 1, GIB, 100.0), aged("GLACIER_IR", 1, GIB, 100.0), aged("EXPRESS_ONEZONE", 1, GIB, 100.0)]);
    assert!(s.transitions.is_empty(), "{:?}", s.transitions);
    assert_eq!((s.monthly_savings_usd, s.objects_later, s.objects), (0.0, 0, 3));
    assert_eq!(s.payback_months, None);
}

#[test]
fn a_disabled_rule_saves_nothing_and_a_missing_class_price_is_a_note() {
    let mut r = rule(&[(30, StorageClass::GlacierIr)], None);
    r.enabled = false;
    let s = save(&r, &[aged("STANDARD", 1, GIB, 100.0)]);
    assert_eq!(s.monthly_savings_usd, 0.0);
    r.enabled = true;
    let r2 = price_table("r2", "auto").unwrap();
    let s = rule_savings(&r, ChangeKind::Changed, &[aged("STANDARD", 1, GIB, 100.0)], &r2, Versioning::Unversioned);
    assert!(s.notes.iter().any(|n| n.contains("no price for GLACIER_IR")), "{:?}", s.notes);
    assert_eq!(s.monthly_savings_usd, 0.0);
}

#[test]
fn aged_usage_buckets_by_class_and_whole_day() {
    let mut u = AgedUsage::default();
    u.add(None, 10, Some(3.2));
    u.add(Some("STANDARD"), 20, Some(3.9));
    u.add(Some("GLACIER_IR"), 5, Some(3.5));
    u.add(None, 7, None);
    let items = u.items();
    assert_eq!(items.len(), 2);
    let std = items.iter().find(|a| a.usage.storage_class == "STANDARD").unwrap();
    assert_eq!((std.usage.objects, std.usage.bytes, std.age_days), (2, 30, 3.0));
}

#[test]
fn one_listing_covers_every_rule_prefix() {
    assert_eq!(common_prefix(["runs/a/", "runs/b/"].into_iter()), "runs/");
    assert_eq!(common_prefix(["runs/a/", ""].into_iter()), "");
    assert_eq!(common_prefix(["ckpt/"].into_iter()), "ckpt/");
    assert_eq!(common_prefix(["é/a", "é/b"].into_iter()), "é/");
}

#[test]
fn the_text_names_the_table_or_says_why_there_is_no_estimate() {
    let r = rule(&[(30, StorageClass::GlacierIr)], None);
    let per_rule = vec![save(&r, &[aged("STANDARD", 10, GIB, 45.0)])];
    let s = summarize("b", &us_east_1(), per_rule, 10, 0, vec![]);
    let text = s.render_text();
    assert!(text.contains("move 10 objects (10.00 GiB) to GLACIER_IR now: $0.19/month"), "{text}");
    assert!(text.contains("(aws/us-east-1), dated 2026-11-29"), "{text}");
    close(s.net_first_month_usd.unwrap(), 0.19 - 0.0002);
    let missing = LifecycleSavings::not_estimated("b", "no price table for `other/us-east-1`".into(), 0);
    assert!(missing.render_text().contains("savings: not estimated: no price table for `other/us-east-1`") && missing.render_text().contains("--provider"));
    let nothing = LifecycleSavings { not_estimated_because: None, ..missing };
    assert!(nothing.render_text().starts_with("savings: nothing to price"));
}
