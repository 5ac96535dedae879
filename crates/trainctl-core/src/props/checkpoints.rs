//! Checkpoint detection (`checkpoint/detect.rs`) and retention on hostile listings: any paths,
//! sizes, times, file contents and grace windows — no panic, every file in at most one
//! checkpoint, bounded reasons (no work proportional to a number read from a name), and a plan
//! that never deletes the newest complete or an incomplete checkpoint.

use super::{any_bytes, config, hostile_text};
use crate::checkpoint::detect::{detect, DetectOptions};
use crate::checkpoint::{plan_retention, Action, FileEntry, Policy};
use proptest::prelude::*;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// Path segments real layouts use, their hostile variants, and anything.
fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop_oneof![
            Just("checkpoint-100"), Just("checkpoint-200"), Just("global_step5"), Just("iter_0000007"), Just("step_3"),
            Just("epoch_2"), Just("_SUCCESS"), Just(".metadata"), Just("__0_0.distcp"), Just("latest"),
            Just("latest_checkpointed_iteration.txt"), Just("trainer_state.json"), Just("model.safetensors.index.json"),
            Just("model-00001-of-00002.safetensors"), Just("model-00002-of-00002.safetensors"),
            Just("x-1-of-99999999999.safetensors"), Just("x-1-of-999999999999999999999999.safetensors"),
            Just("epoch=1-step=50-val_loss=0.25.ckpt"), Just("last.ckpt"), Just("step_100.pt"), Just("run1"), Just(""),
        ].prop_map(str::to_string),
        1 => "[0-9]{1,22}",
        1 => "[a-z]{1,3}-[0-9]{1,12}-of-[0-9]{1,25}\\.safetensors",
        1 => hostile_text(4),
    ]
}

fn listing() -> impl Strategy<Value = Vec<FileEntry>> {
    let entry = (proptest::collection::vec(segment(), 1..5), any::<u64>(), proptest::option::of(any::<i64>()))
        .prop_map(|(segs, size, mtime)| FileEntry { path: segs.join("/"), size, mtime });
    proptest::collection::vec(entry, 0..40)
}

/// Contents for the files detection reads: real-looking JSON with hostile values, or garbage.
fn contents() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        any_bytes(64),
        (any::<u64>(), any::<f64>(), hostile_text(6)).prop_map(|(step, epoch, best)| serde_json::json!({
            "global_step": step, "epoch": epoch, "best_model_checkpoint": best,
            "log_history": [{"step": step, "loss": epoch}], "weight_map": {"a": best, "b": "model-00001-of-00002.safetensors"}
        }).to_string().into_bytes()),
        "[0-9]{1,30}".prop_map(String::into_bytes),
    ]
}

proptest! {
    #![proptest_config(config(600))]

    #[test]
    fn detection_of_any_listing_is_bounded_and_plans_keep_what_must_be_kept(
        entries in listing(),
        content in contents(),
        grace in prop_oneof![Just(0u64), Just(60), any::<u64>()],
        now in prop_oneof![Just(1_800_000_000i64), any::<i64>()],
        keep in 0usize..4,
        keep_since in prop_oneof![Just(None), any::<u64>().prop_map(Some)],
    ) {
        let started = Instant::now();
        let opts = DetectOptions { grace: Duration::from_secs(grace), now, ..DetectOptions::new() };
        let fetch = |_: &str| Some(content.clone());
        let runs = detect(&entries, &opts, &fetch);
        prop_assert!(started.elapsed() < Duration::from_secs(5), "detection took {:?}", started.elapsed());
        let mut owned = HashSet::new();
        let paths: HashMap<&str, usize> = entries.iter().map(|e| (e.path.as_str(), 0)).collect();
        for r in &runs {
            for c in &r.checkpoints {
                prop_assert!(c.complete_reason().is_none_or(|why| why.len() < 2048), "reason of {} is {} bytes", c.id, c.complete_reason().unwrap().len());
                for f in &c.files {
                    prop_assert!(paths.contains_key(f.path.as_str()));
                    prop_assert!(owned.insert((f.path.clone(), f.size, f.mtime)) || entries.iter().filter(|e| e.path == f.path).count() > 1, "{} in two checkpoints", f.path);
                }
            }
            let policy = Policy { keep_last_n: Some(keep), force_all: true, keep_since: keep_since.map(Duration::from_secs), ..Default::default() };
            let plan = plan_retention(r, &policy, now).unwrap();
            let newest = r.checkpoints.iter().filter(|c| c.complete.is_complete()).max_by(|a, b| a.order_key().cmp(&b.order_key()).then_with(|| a.id.cmp(&b.id)));
            for item in plan.items.iter().filter(|i| i.action == Action::Delete) {
                prop_assert!(item.checkpoint.complete.is_complete(), "deletes incomplete {}", item.checkpoint.id);
                prop_assert!(Some(&item.checkpoint.id) != newest.map(|c| &c.id), "deletes the newest complete {}", item.checkpoint.id);
            }
        }
    }
}
