//! The pricing math against hand-computed cases. Prices are from the us-east-1 table
//! (STANDARD 0.023, STANDARD_IA 0.0125, GLACIER_IR 0.004, GLACIER 0.0036, DEEP_ARCHIVE 0.00099
//! USD per GiB-month) so each expected value can be checked with a calculator.

use super::*;
use crate::checkpoint::{Action, Checkpoint, Completeness, FileEntry, Layout, Plan, PlanItem};

use crate::cost::testing::{close, us_east_1, GIB, KIB};

fn usage(class: &str, sizes: &[(u64, u64)]) -> Usage {
    let mut u = Usage::new(class);
    for &(n, size) in sizes {
        for _ in 0..n {
            u.add_object(size);
        }
    }
    u
}

#[test]
fn every_builtin_table_parses_and_every_row_has_source_date_and_basis() {
    let tables = builtin_tables();
    assert!(tables.len() >= 9);
    for t in tables {
        assert!(t.source.starts_with("https://") && t.date.len() == 10, "{}", t.id());
        for (name, c) in &t.classes {
            assert!(c.source.starts_with("https://") && c.date.len() == 10, "{} {name}", t.id());
            assert!(c.storage_gb_month > 0.0, "{} {name}", t.id());
        }
    }
    for region in ["us-east-1", "us-east-2", "us-west-2", "eu-west-1", "eu-central-1", "ap-northeast-1", "ap-southeast-1"] {
        let t = price_table("aws", region).unwrap();
        for class in ["STANDARD", "INTELLIGENT_TIERING", "STANDARD_IA", "ONEZONE_IA", "GLACIER_IR", "GLACIER", "DEEP_ARCHIVE", "REDUCED_REDUNDANCY"] {
            assert!(t.classes.contains_key(class), "{region} lacks {class}");
        }
        for class in ["STANDARD_IA", "ONEZONE_IA", "GLACIER_IR"] {
            assert_eq!(t.classes[class].min_object_bytes, 128 * KIB, "{region} {class}");
        }
        assert_eq!((t.classes["STANDARD_IA"].min_days, t.classes["GLACIER_IR"].min_days, t.classes["DEEP_ARCHIVE"].min_days), (30, 90, 180));
        assert_eq!((t.classes["GLACIER"].overhead_bytes, t.classes["GLACIER"].overhead_standard_bytes), (32 * KIB, 8 * KIB));
        assert!(t.classes["STANDARD"].storage_gb_month > t.classes["DEEP_ARCHIVE"].storage_gb_month);
    }
}

#[test]
fn r2_and_b2_apply_to_every_region_and_aliases_work() {
    assert_eq!(price_table("r2", "auto").unwrap().classes["STANDARD"].storage_gb_month, 0.015);
    assert_eq!(price_table("cloudflare", "weur").unwrap().id(), "r2/*");
    assert_eq!(price_table("b2", "us-west-004").unwrap().bytes_per_gb, 1_000_000_000);
    assert_eq!(price_table("S3", "US-EAST-1").unwrap().id(), "aws/us-east-1");
}

#[test]
fn unknown_region_or_provider_names_the_missing_table() {
    for (p, r, id) in [("aws", "sa-east-1", "aws/sa-east-1"), ("garage", "garage", "garage/garage")] {
        let e = price_table(p, r).unwrap_err();
        assert_eq!(e.exit_code(), 49);
        assert_eq!(e.code(), "price_table_missing");
        assert!(e.to_string().contains(id) && e.to_string().contains("aws/us-east-1"), "{e}");
        assert!(e.hint().contains("--prices"), "{}", e.hint());
    }
}

#[test]
fn small_object_threshold_is_128_kib() {
    let u = usage("STANDARD", &[(1, 128 * KIB - 1), (1, 128 * KIB)]);
    assert_eq!((u.objects, u.small_objects, u.small_bytes, u.bytes), (2, 1, 128 * KIB - 1, 256 * KIB - 1));
}

#[test]
fn standard_is_bytes_times_price() {
    let t = us_east_1();
    close(t.monthly_storage_usd(&[usage("STANDARD", &[(10, GIB)])]), 10.0 * 0.023);
    // An empty class string is STANDARD.
    close(t.monthly_storage_usd(&[usage("", &[(1, GIB)])]), 0.023);
}

#[test]
fn small_objects_in_ia_are_billed_as_128_kib() {
    let t = us_east_1();
    // 1000 × 1 KiB: billed as 1000 × 128 KiB = 131,072,000 bytes = 0.1220703125 GiB.
    let u = usage("STANDARD_IA", &[(1000, KIB)]);
    close(t.monthly_storage_usd(std::slice::from_ref(&u)), 0.1220703125 * 0.0125);
    assert_eq!(t.class_cost(&u).billable_bytes, 1000 * 128 * KIB);
    // The same in STANDARD costs only what it stores: IA is 9× dearer here despite the lower price.
    close(t.monthly_storage_usd(&[usage("STANDARD", &[(1000, KIB)])]), 1000.0 * 1024.0 / GIB as f64 * 0.023);
    // Large objects are billed as they are.
    close(t.monthly_storage_usd(&[usage("GLACIER_IR", &[(2, GIB)])]), 2.0 * 0.004);
}

#[test]
fn glacier_and_deep_archive_pay_40_kib_per_object() {
    let t = us_east_1();
    let u = usage("GLACIER", &[(1000, GIB)]);
    // 32 KiB per object at the Glacier price, 8 KiB at the STANDARD price.
    let expected = (1000.0 * GIB as f64 + 1000.0 * 32768.0) / GIB as f64 * 0.0036 + 1000.0 * 8192.0 / GIB as f64 * 0.023;
    close(t.monthly_storage_usd(&[u]), expected);
    let c = t.class_cost(&usage("DEEP_ARCHIVE", &[(1, 0)]));
    assert_eq!((c.billable_bytes, c.standard_overhead_bytes), (32 * KIB, 8 * KIB));
}

#[test]
fn intelligent_tiering_charges_monitoring_only_for_objects_of_128_kib_and_more() {
    let t = us_east_1();
    let u = usage("INTELLIGENT_TIERING", &[(2000, 128 * KIB), (500, KIB)]);
    let storage = (2000.0 * 131072.0 + 500.0 * 1024.0) / GIB as f64 * 0.023;
    close(t.monthly_storage_usd(&[u]), storage + 2.0 * 0.0025);
}

#[test]
fn breakdown_sums_classes_merges_rows_and_reports_unpriced_classes() {
    let t = us_east_1();
    let rows = [usage("STANDARD", &[(1, GIB)]), usage("STANDARD", &[(1, GIB)]), usage("OUTPOSTS", &[(1, GIB)]), usage("DEEP_ARCHIVE", &[(1, GIB)])];
    let b = t.breakdown(&rows);
    assert_eq!(b.classes.len(), 3);
    assert_eq!(b.classes[0].class, "STANDARD");
    assert_eq!(b.classes[0].objects, 2);
    assert_eq!(b.unpriced_classes, vec!["OUTPOSTS".to_string()]);
    close(b.monthly_usd, t.monthly_storage_usd(&rows));
    assert_eq!((b.bytes, b.objects, b.table.as_str()), (4 * GIB, 4, "aws/us-east-1"));
}

#[test]
fn usage_by_class_aggregates_a_listing() {
    let objs = [(10u64, None), (GIB, Some("GLACIER")), (5, Some("")), (200 * KIB, Some("STANDARD"))];
    let by = usage_by_class(objs.iter().map(|(s, c)| (*s, *c)));
    assert_eq!(by.len(), 2);
    let std = by.iter().find(|u| u.storage_class == "STANDARD").unwrap();
    assert_eq!((std.objects, std.bytes, std.small_objects, std.small_bytes), (3, 15 + 200 * KIB, 2, 15));
}

#[test]
fn early_deletion_charges_the_rest_of_the_minimum_duration() {
    let t = us_east_1();
    // GLACIER_IR, 1 GiB, 30 days old: 60 of 90 days left = 2 months of $0.004.
    close(t.early_deletion_usd(&[Aged::object("GLACIER_IR", GIB, 30.0)]), 0.008);
    // Old enough, or a class without a minimum: nothing.
    assert_eq!(t.early_deletion_usd(&[Aged::object("GLACIER_IR", GIB, 90.0), Aged::object("STANDARD", GIB, 0.0)]), 0.0);
    // STANDARD_IA, 1 KiB object, 15 days old: billed as 128 KiB for the remaining 15 days.
    close(t.early_deletion_usd(&[Aged::object("STANDARD_IA", KIB, 15.0)]), 131072.0 / GIB as f64 * 0.0125 * 0.5);
    // DEEP_ARCHIVE, 10 GiB in one object, 0 days: 180 days = 6 months, 32 KiB metadata included.
    close(t.early_deletion_usd(&[Aged::object("DEEP_ARCHIVE", 10 * GIB, 0.0)]), (10.0 * GIB as f64 + 32768.0) / GIB as f64 * 0.00099 * 6.0);
}

#[test]
fn transition_savings_net_of_requests_and_early_deletion() {
    let t = us_east_1();
    // 100 × 1 GiB STANDARD, 40 days old → GLACIER_IR.
    let items = [Aged { usage: usage("STANDARD", &[(100, GIB)]), age_days: 40.0 }];
    let s = transition_savings(&t, &items, "glacier_ir").unwrap();
    close(s.monthly_before_usd, 2.3);
    close(s.monthly_after_usd, 0.4);
    close(s.monthly_savings_usd, 1.9);
    close(s.transition_usd, 100.0 / 1000.0 * 0.02);
    assert_eq!((s.early_deletion_usd, s.objects_moved, s.objects_staying), (0.0, 100, 0));
    close(s.payback_months.unwrap(), 0.002 / 1.9);
}

#[test]
fn transition_leaves_small_objects_and_charges_early_deletion_of_the_source() {
    let t = us_east_1();
    // STANDARD_IA, 10 days old: 10 × 1 GiB move, 1000 × 1 KiB stay; 20 of 30 IA days are charged.
    let items = [Aged { usage: usage("STANDARD_IA", &[(10, GIB), (1000, KIB)]), age_days: 10.0 }];
    let s = transition_savings(&t, &items, "DEEP_ARCHIVE").unwrap();
    assert_eq!((s.objects_moved, s.bytes_moved, s.objects_staying), (10, 10 * GIB, 1000));
    let small_ia = 1000.0 * 131072.0 / GIB as f64 * 0.0125;
    close(s.monthly_before_usd, 10.0 * 0.0125 + small_ia);
    let deep = (10.0 * GIB as f64 + 10.0 * 32768.0) / GIB as f64 * 0.00099 + 10.0 * 8192.0 / GIB as f64 * 0.023;
    close(s.monthly_after_usd, small_ia + deep);
    close(s.transition_usd, 10.0 / 1000.0 * 0.05);
    close(s.early_deletion_usd, 10.0 * 0.0125 * 20.0 / 30.0);
    close(s.payback_months.unwrap(), (s.transition_usd + s.early_deletion_usd) / s.monthly_savings_usd);
}

#[test]
fn transition_of_tiny_objects_to_glacier_never_pays_back() {
    let t = us_east_1();
    // 128 KiB objects: 40 KiB of overhead each makes GLACIER dearer than GLACIER_IR, and and the
    // transitions cost money: the answer is "no payback", not a negative number of months.
    let items = [Aged { usage: usage("GLACIER_IR", &[(1000, 128 * KIB)]), age_days: 400.0 }];
    let s = transition_savings(&t, &items, "GLACIER").unwrap();
    assert!(s.monthly_savings_usd < 0.0, "{s:?}");
    assert_eq!(s.payback_months, None);
}

#[test]
fn transition_to_standard_or_an_unknown_class_is_refused() {
    let t = us_east_1();
    assert_eq!(transition_savings(&t, &[], "STANDARD").unwrap_err().code(), "usage");
    let e = transition_savings(&t, &[], "NEARLINE").unwrap_err();
    assert!(e.to_string().contains("aws/us-east-1") && e.to_string().contains("NEARLINE"), "{e}");
}

fn checkpoint(id: &str, files: &[(u64, Option<i64>)]) -> Checkpoint {
    Checkpoint {
        run: "run1".into(),
        id: id.into(),
        layout: Layout::HfTrainer,
        step: None,
        epoch: None,
        metrics: Default::default(),
        files: files.iter().enumerate().map(|(i, (size, mtime))| FileEntry { path: format!("{id}f{i}"), size: *size, mtime: *mtime }).collect(),
        bytes: files.iter().map(|f| f.0).sum(),
        last_modified: files.iter().filter_map(|f| f.1).max(),
        complete: Completeness::Complete,
        framework_keep: None,
        same_as: None,
    }
}

fn plan(items: Vec<(Checkpoint, Action)>) -> Plan {
    let bytes_reclaimed = items.iter().filter(|(_, a)| *a == Action::Delete).map(|(c, _)| c.bytes).sum();
    Plan { run: "run1".into(), items: items.into_iter().map(|(checkpoint, action)| PlanItem { checkpoint, action, reasons: vec![] }).collect(), bytes_reclaimed }
}

#[test]
fn plan_savings_counts_only_deletions() {
    let t = us_east_1();
    let now = 1_800_000_000;
    let p = plan(vec![
        (checkpoint("run1/checkpoint-100/", &[(2 * GIB, Some(now - 86_400)), (KIB, None)]), Action::Delete),
        (checkpoint("run1/checkpoint-200/", &[(5 * GIB, Some(now))]), Action::Keep),
    ]);
    let s = plan_savings(&[p], &t, now);
    assert_eq!((s.objects, s.bytes, s.unknown_age_objects, s.storage_class.as_str()), (2, 2 * GIB + KIB, 1, "STANDARD"));
    close(s.monthly_usd, (2.0 * GIB as f64 + 1024.0) / GIB as f64 * 0.023);
    assert!(s.early_deletion_usd == 0.0 && s.early_deletion_usd.is_sign_positive(), "+0.0, not -0.0 in JSON");
    close(s.net_first_month_usd, s.monthly_usd);
}

#[test]
fn plan_savings_in_glacier_ir_are_net_of_early_deletion() {
    let t = us_east_1();
    let now = 1_800_000_000;
    // 3 GiB in GLACIER_IR written 10 days ago: saves 3 × 0.004 a month, but 80 of 90 days are
    // charged on deletion: 3 × 0.004 × 80/30 = 0.032, so the first month loses money.
    let p = plan(vec![(checkpoint("run1/checkpoint-100/", &[(3 * GIB, Some(now - 10 * 86_400))]), Action::Delete)]);
    let s = plan_savings_in_class(&[p], &t, "GLACIER_IR", now);
    close(s.monthly_usd, 0.012);
    close(s.early_deletion_usd, 0.032);
    close(s.net_first_month_usd, 0.012 - 0.032);
}

#[test]
fn custom_tables_are_validated_and_unknown_classes_fall_back() {
    let good = r#"
        provider = "wasabi"
        region = "us-east-1"
        name = "Wasabi"
        source = "contract"
        date = "2026-03-01"
        bytes_per_gb = 1000000000
        [classes.STANDARD]
        storage_gb_month = 0.007
        min_days = 90
        put_per_1000 = 0.0
        get_per_1000 = 0.0
        source = "contract"
        date = "2026-03-01"
        basis = "custom"
    "#;
    let t = PriceTable::parse("wasabi.toml", good).unwrap();
    close(t.monthly_storage_usd(&[usage("GLACIER", &[(1, 1_000_000_000)])]), 0.007);
    close(t.early_deletion_usd(&[Aged::object("STANDARD", 1_000_000_000, 60.0)]), 0.007);
    let negative = good.replace("0.007", "-1");
    assert_eq!(PriceTable::parse("x.toml", &negative).unwrap_err().code(), "price_table_invalid");
    let e = PriceTable::parse("x.toml", "provider = ").unwrap_err();
    assert_eq!((e.code(), e.exit_code()), ("price_table_invalid", 49));
    let no_default = good.replace("[classes.STANDARD]", "[classes.COLD]");
    assert!(PriceTable::parse("x.toml", &no_default).unwrap_err().to_string().contains("default_class"));
}

#[test]
fn a_shown_table_parses_back_as_the_same_table() {
    for t in builtin_tables() {
        let back = PriceTable::parse("shown.toml", &t.to_toml().unwrap()).unwrap();
        assert_eq!(back.classes, t.classes, "{}", t.id());
        assert_eq!((back.id(), back.bytes_per_gb), (t.id(), t.bytes_per_gb));
    }
}

#[test]
fn huge_sizes_and_overheads_price_without_overflow() {
    // Found by props::cost: `objects * overhead_bytes` and the breakdown's byte total overflowed
    // (a panic in debug builds) for a custom table's overhead or a server's absurd sizes.
    let mut t = us_east_1();
    for c in t.classes.values_mut() {
        (c.overhead_bytes, c.overhead_standard_bytes, c.min_object_bytes) = (u64::MAX, u64::MAX, u64::MAX);
    }
    let rows = [Usage { storage_class: "GLACIER".into(), bytes: u64::MAX, objects: u64::MAX, small_objects: 3, small_bytes: 3 }, usage("STANDARD", &[(1, 1)])];
    let b = t.breakdown(&rows);
    assert_eq!(b.bytes, u64::MAX);
    assert!(t.monthly_storage_usd(&rows).is_finite());
}
