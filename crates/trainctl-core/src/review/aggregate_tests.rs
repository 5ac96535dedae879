use super::*;
use crate::review::model::Report;

const NOW: i64 = 100 * 86_400;

/// A realistic prefix: two HF runs, a Lightning run, a DCP run, logs and a top-level file.
fn keys() -> Vec<(&'static str, u64)> {
    let mut v = vec![
        ("README.md", 10),
        ("data/train-00001.bin", 5000),
        ("data/train-00002.bin", 6000),
        ("runs/exp1/checkpoint-100/model.safetensors", 1000),
        ("runs/exp1/checkpoint-100/trainer_state.json", 10),
        ("runs/exp1/checkpoint-200/model.safetensors", 1000),
        ("runs/exp1/checkpoint-200/trainer_state.json", 10),
        ("runs/exp1/logs/events.out", 7),
        ("runs/exp2/checkpoint-5/model.safetensors", 300),
        ("runs/lit/epoch=1-step=50.ckpt", 400),
        ("runs/lit/last.ckpt", 400),
        ("runs/dcp/step_10/.metadata", 1),
        ("runs/dcp/step_10/__0_0.distcp", 99),
    ];
    v.sort();
    v
}

fn one_unit() -> Report {
    let mut a = Aggregator::new("", NOW, 5);
    for (k, s) in keys() {
        a.add(k, k, s, Some(NOW - 10 * 86_400), None);
    }
    a.into_report("s3://b/", Source::Listing)
}

/// The same keys split like the fan-out splits them: a level unit per directory, subtrees below.
fn split_units() -> Report {
    let units = ["", "data/", "runs/", "runs/exp1/", "runs/exp1/checkpoint-100/", "runs/exp1/checkpoint-200/", "runs/exp1/logs/", "runs/exp2/", "runs/exp2/checkpoint-5/", "runs/lit/", "runs/dcp/", "runs/dcp/step_10/"];
    let mut total = Aggregator::new("", NOW, 5);
    for u in units {
        let mut a = Aggregator::new(u, NOW, 5);
        for (k, s) in keys().into_iter().filter(|(k, _)| k.starts_with(u) && !k[u.len()..].contains('/')) {
            a.add(k, k, s, Some(NOW - 10 * 86_400), None);
        }
        total.merge(a);
    }
    total.into_report("s3://b/", Source::Listing)
}

#[test]
fn runs_are_the_directories_that_hold_checkpoints() {
    let r = one_unit();
    let runs: Vec<(&str, u64, u64)> = r.by_run.iter().map(|r| (r.run.as_str(), r.checkpoints, r.checkpoint_bytes)).collect();
    assert!(runs.contains(&("runs/exp1/", 2, 2020)), "{runs:?}");
    assert!(runs.contains(&("runs/exp2/", 1, 300)), "{runs:?}");
    assert!(runs.contains(&("runs/lit/", 2, 800)), "{runs:?}");
    assert!(runs.contains(&("runs/dcp/", 1, 100)), "{runs:?}");
    assert_eq!(runs.len(), 4);
    let exp1 = r.by_run.iter().find(|r| r.run == "runs/exp1/").unwrap();
    assert_eq!(exp1.total.bytes, 2027, "the run total includes its logs");
    assert_eq!(exp1.checkpoint_sizes.iter().map(|c| c.step).collect::<Vec<_>>(), vec![Some(100), Some(200)]);
    assert_eq!(exp1.checkpoint_sizes[0].layout, "hf_trainer");
}

#[test]
fn totals_groups_and_top_lists_add_up() {
    let r = one_unit();
    let total: u64 = keys().iter().map(|k| k.1).sum();
    assert_eq!((r.totals.objects, r.totals.bytes), (keys().len() as u64, total));
    assert_eq!(r.by_prefix.iter().map(|g| g.bytes).sum::<u64>(), total);
    assert_eq!(r.by_prefix[0].name, "data/");
    assert!(r.by_prefix.iter().any(|g| g.name == TOP_LEVEL && g.bytes == 10));
    assert_eq!(r.by_age.iter().find(|g| g.name == "7-30d").unwrap().bytes, total);
    assert_eq!(r.largest_objects.len(), 5);
    assert_eq!(r.largest_objects[0].key, "data/train-00002.bin");
    assert_eq!(r.largest_prefixes[0].name, "data/");
    assert_eq!(r.largest_prefixes[0].bytes, 11000);
}

#[test]
fn splitting_the_listing_into_units_changes_nothing() {
    let (a, b) = (one_unit(), split_units());
    assert_eq!(a.totals, b.totals);
    let mut ga = a.by_prefix.clone();
    let mut gb = b.by_prefix.clone();
    ga.sort_by(|x, y| x.name.cmp(&y.name));
    gb.sort_by(|x, y| x.name.cmp(&y.name));
    assert_eq!(ga, gb);
    assert_eq!(a.by_run, b.by_run);
    assert_eq!(a.largest_objects, b.largest_objects);
    assert_eq!(a.largest_prefixes, b.largest_prefixes);
}

#[test]
fn the_location_itself_can_be_the_run() {
    let mut a = Aggregator::new("", NOW, 5);
    for k in ["checkpoint-1/model.bin", "checkpoint-2/model.bin", "config.json"] {
        a.add(&format!("run1/{k}"), k, 10, Some(NOW), None);
    }
    let r = a.into_report("s3://b/run1/", Source::Listing);
    assert_eq!(r.by_run.len(), 1);
    assert_eq!((r.by_run[0].run.as_str(), r.by_run[0].checkpoints, r.by_run[0].total.bytes), ("", 2, 30));
}

#[test]
fn an_empty_location_is_a_report_of_zeros() {
    let r = Aggregator::new("", NOW, 5).into_report("s3://b/none/", Source::Listing);
    assert_eq!((r.totals.objects, r.totals.bytes), (0, 0));
    assert_eq!(r.by_age.len(), 5);
    assert!(r.by_prefix.is_empty() && r.by_run.is_empty() && r.largest_objects.is_empty());
}

#[test]
fn age_bands_follow_the_last_modified_time() {
    let day = 86_400;
    assert_eq!(age_band(NOW, Some(NOW)), 0);
    assert_eq!(age_band(NOW, Some(NOW - 8 * day)), 1);
    assert_eq!(age_band(NOW, Some(NOW - 45 * day)), 2);
    assert_eq!(age_band(NOW, Some(NOW - 200 * day)), 3);
    assert_eq!(age_band(NOW, Some(NOW - 400 * day)), 4);
    assert_eq!(age_band(NOW, None), 5);
}
