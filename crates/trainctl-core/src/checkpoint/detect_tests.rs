//! Detector tests on realistic listings (as a local walk or an S3 listing would produce them).

use super::*;
use crate::checkpoint::model::{Checkpoint, Completeness, Layout};

const NOW: i64 = 1_800_000_000;

fn listing(files: &[(&str, u64)]) -> Vec<FileEntry> {
    files.iter().map(|(p, s)| FileEntry { path: p.to_string(), size: *s, mtime: Some(NOW - 3600) }).collect()
}

fn opts() -> DetectOptions {
    DetectOptions { pattern: None, grace: DEFAULT_GRACE, abandoned_after: crate::checkpoint::detect::DEFAULT_ABANDONED_AFTER, now: NOW }
}

fn run_detect(files: &[(&str, u64)], contents: &[(&str, &str)]) -> Vec<Checkpoint> {
    run_with(&listing(files), &opts(), contents)
}

fn run_with(entries: &[FileEntry], opts: &DetectOptions, contents: &[(&str, &str)]) -> Vec<Checkpoint> {
    let map: HashMap<String, Vec<u8>> = contents.iter().map(|(p, c)| (p.to_string(), c.as_bytes().to_vec())).collect();
    let fetch = |p: &str| map.get(p).cloned();
    detect(entries, opts, &fetch).into_iter().flat_map(|r| r.checkpoints).collect()
}

fn by_id<'a>(cs: &'a [Checkpoint], id: &str) -> &'a Checkpoint {
    cs.iter().find(|c| c.id == id).unwrap_or_else(|| panic!("no checkpoint {id} in {:#?}", cs.iter().map(|c| &c.id).collect::<Vec<_>>()))
}

fn incomplete(c: &Checkpoint) -> bool {
    matches!(c.complete, Completeness::Incomplete { .. })
}

const HF_STATE_200: &str = r#"{"global_step": 200, "epoch": 2.5, "best_model_checkpoint": "out/run1/checkpoint-100",
  "log_history": [{"step": 100, "loss": 0.9, "epoch": 1.0}, {"step": 200, "loss": 0.5, "epoch": 2.0},
                  {"step": 200, "eval_loss": 0.42, "epoch": 2.0}]}"#;

#[test]
fn hf_checkpoint_is_complete_only_with_trainer_state_and_reads_step_and_metrics() {
    let cs = run_detect(
        &[
            ("run1/checkpoint-100/model.safetensors", 100),
            ("run1/checkpoint-100/trainer_state.json", 10),
            ("run1/checkpoint-200/model.safetensors", 100),
            ("run1/checkpoint-200/optimizer.pt", 50),
            ("run1/checkpoint-200/trainer_state.json", 10),
            ("run1/checkpoint-300/model.safetensors", 100),
            ("run1/config.json", 1),
        ],
        &[("run1/checkpoint-200/trainer_state.json", HF_STATE_200)],
    );
    assert_eq!(cs.len(), 3);
    let c200 = by_id(&cs, "run1/checkpoint-200/");
    assert_eq!((c200.layout, c200.run.as_str(), c200.step, c200.epoch, c200.bytes), (Layout::HfTrainer, "run1", Some(200), Some(2.5), 160));
    assert_eq!(c200.metrics.get("eval_loss"), Some(&0.42));
    assert_eq!(c200.metrics.get("loss"), Some(&0.5));
    assert!(!incomplete(c200));
    assert!(incomplete(by_id(&cs, "run1/checkpoint-300/")), "no trainer_state.json yet");
    assert!(by_id(&cs, "run1/checkpoint-100/").framework_keep.as_deref().unwrap().contains("best_model_checkpoint"));
}

#[test]
fn hf_checkpoint_with_deepspeed_inside_is_one_checkpoint() {
    let cs = run_detect(
        &[
            ("checkpoint-500/global_step500/mp_rank_00_model_states.pt", 10),
            ("checkpoint-500/latest", 1),
            ("checkpoint-500/trainer_state.json", 1),
        ],
        &[],
    );
    assert_eq!(cs.len(), 1);
    assert_eq!((cs[0].id.as_str(), cs[0].run.as_str(), cs[0].files.len()), ("checkpoint-500/", "", 3));
}

#[test]
fn lightning_names_give_epoch_step_and_metrics_and_last_is_kept_by_the_framework() {
    let cs = run_detect(
        &[
            ("lightning_logs/version_0/checkpoints/epoch=0-step=100.ckpt", 10),
            ("lightning_logs/version_0/checkpoints/epoch=3-val_loss=0.21.ckpt", 10),
            ("lightning_logs/version_0/checkpoints/epoch=4-step=500-val_acc=0.9-v1.ckpt", 10),
            ("lightning_logs/version_0/checkpoints/last.ckpt", 10),
            ("lightning_logs/version_0/hparams.yaml", 1),
        ],
        &[],
    );
    assert_eq!(cs.len(), 4);
    let a = by_id(&cs, "lightning_logs/version_0/checkpoints/epoch=0-step=100.ckpt");
    assert_eq!((a.layout, a.epoch, a.step, a.run.as_str()), (Layout::Lightning, Some(0.0), Some(100), "lightning_logs/version_0"));
    let b = by_id(&cs, "lightning_logs/version_0/checkpoints/epoch=3-val_loss=0.21.ckpt");
    assert_eq!((b.epoch, b.step, b.metrics.get("val_loss")), (Some(3.0), None, Some(&0.21)));
    let c = by_id(&cs, "lightning_logs/version_0/checkpoints/epoch=4-step=500-val_acc=0.9-v1.ckpt");
    assert_eq!((c.step, c.metrics.get("val_acc")), (Some(500), Some(&0.9)));
    assert!(by_id(&cs, "lightning_logs/version_0/checkpoints/last.ckpt").framework_keep.is_some());
}

#[test]
fn deepspeed_steps_are_judged_against_latest() {
    let files = [
        ("ds/global_step100/mp_rank_00_model_states.pt", 10),
        ("ds/global_step200/mp_rank_00_model_states.pt", 10),
        ("ds/global_step300/zero_pp_rank_0_mp_rank_00_optim_states.pt", 10),
        ("ds/latest", 13),
    ];
    let cs = run_detect(&files, &[("ds/latest", "global_step200\n")]);
    assert_eq!(cs.len(), 3, "`latest` is not a checkpoint");
    assert!(!incomplete(by_id(&cs, "ds/global_step100/")));
    assert!(!incomplete(by_id(&cs, "ds/global_step200/")));
    assert!(incomplete(by_id(&cs, "ds/global_step300/")));
    let without_latest = run_detect(&files[..2], &[]);
    assert!(without_latest.iter().all(incomplete), "no `latest`: no evidence of completion");
}

#[test]
fn megatron_iterations_are_judged_against_latest_checkpointed_iteration() {
    let cs = run_detect(
        &[
            ("mg/iter_0001000/mp_rank_00/model_optim_rng.pt", 10),
            ("mg/iter_0002000/mp_rank_00/model_optim_rng.pt", 10),
            ("mg/latest_checkpointed_iteration.txt", 4),
        ],
        &[("mg/latest_checkpointed_iteration.txt", "1000")],
    );
    assert_eq!(by_id(&cs, "mg/iter_0001000/").step, Some(1000));
    assert!(!incomplete(by_id(&cs, "mg/iter_0001000/")));
    assert!(incomplete(by_id(&cs, "mg/iter_0002000/")));
}

#[test]
fn torch_dcp_directory_is_complete_iff_metadata_exists() {
    let cs = run_detect(
        &[
            ("dcp/step_100/.metadata", 5),
            ("dcp/step_100/__0_0.distcp", 10),
            ("dcp/step_100/__1_0.distcp", 10),
            ("dcp/step_200/__0_0.distcp", 10),
        ],
        &[],
    );
    let a = by_id(&cs, "dcp/step_100/");
    assert_eq!((a.layout, a.step, a.bytes), (Layout::TorchDcp, Some(100), 25));
    assert!(!incomplete(a));
    assert!(incomplete(by_id(&cs, "dcp/step_200/")));
}

#[test]
fn step_files_are_single_file_checkpoints() {
    let cs = run_detect(&[("r/step_100.pt", 5), ("r/step_200.safetensors", 6), ("r/notes.txt", 1)], &[]);
    assert_eq!(cs.len(), 2);
    assert_eq!((by_id(&cs, "r/step_200.safetensors").step, by_id(&cs, "r/step_200.safetensors").layout), (Some(200), Layout::StepFile));
}

const INDEX: &str = r#"{"metadata": {}, "weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}"#;

#[test]
fn sharded_safetensors_need_every_shard_the_index_names() {
    let cs = run_detect(
        &[
            ("exp/step_1000/model-00001-of-00002.safetensors", 10),
            ("exp/step_1000/model-00002-of-00002.safetensors", 10),
            ("exp/step_1000/model.safetensors.index.json", 1),
            ("exp/step_2000/model-00001-of-00002.safetensors", 10),
            ("exp/step_2000/model.safetensors.index.json", 1),
        ],
        &[("exp/step_1000/model.safetensors.index.json", INDEX), ("exp/step_2000/model.safetensors.index.json", INDEX)],
    );
    assert_eq!(by_id(&cs, "exp/step_1000/").layout, Layout::ShardedSafetensors);
    assert!(!incomplete(by_id(&cs, "exp/step_1000/")));
    let c = by_id(&cs, "exp/step_2000/");
    assert!(c.complete_reason().unwrap().contains("model-00002-of-00002.safetensors"), "{:?}", c.complete);
}

#[test]
fn sharded_safetensors_without_index_are_judged_by_the_shard_count() {
    let cs = run_detect(&[("final/model-00001-of-00003.safetensors", 10), ("final/model-00003-of-00003.safetensors", 10)], &[]);
    assert_eq!(cs.len(), 1);
    assert_eq!(cs[0].id, "final/model-*.safetensors");
    assert!(cs[0].framework_keep.is_some(), "an export without a step is never rotated");
    assert!(cs[0].complete_reason().unwrap().contains("model-00002-of-00003"));
}

#[test]
fn success_marker_directories_make_unmarked_siblings_incomplete() {
    let cs = run_detect(&[("jax/ckpt_10/_SUCCESS", 0), ("jax/ckpt_10/state.msgpack", 10), ("jax/ckpt_20/state.msgpack", 10)], &[]);
    assert_eq!(cs.len(), 2);
    assert!(!incomplete(by_id(&cs, "jax/ckpt_10/")));
    assert_eq!(by_id(&cs, "jax/ckpt_20/").layout, Layout::SuccessMarker);
    assert!(incomplete(by_id(&cs, "jax/ckpt_20/")));
}

#[test]
fn files_written_within_the_grace_window_are_still_changing() {
    let mut entries = listing(&[("step_1.pt", 1), ("step_2.pt", 1)]);
    entries[1].mtime = Some(NOW - 5);
    let cs = run_with(&entries, &opts(), &[]);
    assert!(!incomplete(by_id(&cs, "step_1.pt")));
    assert!(by_id(&cs, "step_2.pt").complete_reason().unwrap().contains("still changing"));
    let no_grace = DetectOptions { grace: Duration::ZERO, ..opts() };
    assert!(run_with(&entries, &no_grace, &[]).iter().all(|c| !incomplete(c)));
}

#[test]
fn user_pattern_named_groups_give_step_epoch_and_metrics() {
    let re = compile_pattern(r"snap-(?P<step>\d+)-(?P<metric>[0-9.]+)/").unwrap();
    let o = DetectOptions { pattern: Some(re), ..opts() };
    let cs = run_with(&listing(&[("r/snap-10-0.5/a.bin", 1), ("r/snap-10-0.5/b.bin", 2), ("r/snap-20-0.4/a.bin", 1), ("r/other.bin", 1)]), &o, &[]);
    assert_eq!(cs.len(), 2);
    let c = by_id(&cs, "r/snap-10-0.5/");
    assert_eq!((c.step, c.metrics.get("metric"), c.bytes, c.layout), (Some(10), Some(&0.5), 3, Layout::Pattern));
}

#[test]
fn user_pattern_matching_a_file_makes_file_checkpoints() {
    let re = compile_pattern(r"weights_e(?P<epoch>\d+)\.bin$").unwrap();
    let o = DetectOptions { pattern: Some(re), ..opts() };
    let cs = run_with(&listing(&[("weights_e1.bin", 1), ("weights_e2.bin", 1)]), &o, &[]);
    assert_eq!(by_id(&cs, "weights_e2.bin").epoch, Some(2.0));
}

#[test]
fn invalid_pattern_is_a_usage_error_with_the_regex_message() {
    let err = compile_pattern("step_(?P<step>\\d+").unwrap_err();
    assert_eq!(err.exit_code(), 2);
    assert!(err.to_string().contains("invalid --pattern"), "{err}");
}

#[test]
fn runs_are_grouped_by_parent_directory_and_sorted_oldest_first() {
    let entries = listing(&[("b/step_2.pt", 1), ("a/step_10.pt", 1), ("a/step_9.pt", 1), (".trainctl-pins.json", 1)]);
    let runs = detect(&entries, &opts(), &|_| None);
    assert_eq!(runs.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(runs[0].checkpoints.iter().map(|c| c.step.unwrap()).collect::<Vec<_>>(), [9, 10]);
}

#[test]
fn a_listing_without_checkpoints_gives_no_runs() {
    let runs = detect(&listing(&[("data/train.jsonl", 10), ("README.md", 1)]), &opts(), &|_| None);
    assert!(runs.is_empty());
}

#[test]
fn an_experiment_directory_with_a_digit_holding_a_final_export_is_not_a_checkpoint_directory() {
    let cs = run_detect(
        &[
            ("out/exp1/model-00001-of-00001.safetensors", 10),
            ("out/exp1/config.json", 1),
            ("out/exp1/checkpoint-100/trainer_state.json", 1),
            ("out/exp2/model-00001-of-00001.safetensors", 10),
            ("out/exp2/config.json", 1),
        ],
        &[],
    );
    let ids: Vec<&str> = cs.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["out/exp1/model-*.safetensors", "out/exp1/checkpoint-100/", "out/exp2/model-*.safetensors"]);
    assert!(cs.iter().all(|c| !c.files.iter().any(|f| f.path.ends_with("config.json"))), "run files belong to no checkpoint");
}

#[test]
fn a_shard_total_of_99999999999_is_incomplete_without_enumerating() {
    // Found by review and pinned: `expected_by_count` built 10^11 names for this key.
    let started = std::time::Instant::now();
    let cs = run_detect(&[("exp/x-1-of-99999999999.safetensors", 10), ("exp/y-00001-of-999999999999999999999999.safetensors", 10)], &[]);
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    let c = by_id(&cs, "exp/x-*.safetensors");
    assert!(c.complete_reason().unwrap().contains("implausible"), "{:?}", c.complete);
    assert!(incomplete(by_id(&cs, "exp/y-*.safetensors")), "a total beyond u64 is not \"no shards expected\"");
}

#[test]
fn missing_shards_are_counted_and_only_the_first_few_named() {
    let cs = run_detect(&[("step_5/model-00001-of-01000.safetensors", 10)], &[]);
    let why = by_id(&cs, "step_5/").complete_reason().unwrap().to_string();
    assert!(why.contains("model-00002-of-01000.safetensors") && why.contains("(and 994 more)"), "{why}");
    assert!(why.len() < 400, "{why}");
}

#[test]
fn unpadded_shard_numbers_are_one_series() {
    let names: Vec<String> = (1..=10).map(|i| format!("step_1/m-{i}-of-10.safetensors")).collect();
    let files: Vec<(&str, u64)> = names.iter().map(|n| (n.as_str(), 1)).collect();
    assert!(!incomplete(by_id(&run_detect(&files, &[]), "step_1/")));
}

#[test]
fn a_huge_grace_window_means_still_changing_instead_of_wrapping_negative() {
    // `grace.as_secs() as i64` wrapped to a negative window for u64::MAX and switched it off.
    let o = DetectOptions { grace: std::time::Duration::from_secs(u64::MAX), ..opts() };
    let cs = run_with(&listing(&[("r/step_100.pt", 1)]), &o, &[]);
    assert!(incomplete(&cs[0]), "{:?}", cs[0].complete);
    let far_past = vec![FileEntry { path: "r/step_1.pt".into(), size: 1, mtime: Some(i64::MIN) }];
    let now_max = DetectOptions { now: i64::MAX, ..opts() };
    assert!(!incomplete(&run_with(&far_past, &now_max, &[])[0]), "no overflow on extreme times");
}

#[test]
fn sizes_near_i64_max_from_a_hostile_server_do_not_overflow_totals() {
    // Found by props::checkpoints: summing two objects a server lists as i64::MAX bytes overflowed.
    let cs = run_detect(&[("r/step_1/_SUCCESS", i64::MAX as u64), ("r/step_1/a.bin", i64::MAX as u64), ("r/step_1/b.bin", u64::MAX)], &[]);
    assert_eq!(cs[0].bytes, u64::MAX);
    let plan = crate::checkpoint::plan_retention(&crate::checkpoint::Run { name: "r".into(), checkpoints: vec![cs[0].clone(), cs[0].clone()] }, &crate::checkpoint::Policy { keep_last_n: Some(0), force_all: true, ..Default::default() }, NOW);
    assert!(plan.is_ok());
}

#[test]
fn a_checkpoint_folder_without_trainer_files_is_judged_as_save_pretrained_unless_its_siblings_are_trainer_checkpoints() {
    let index = r#"{"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}"#;
    let cs = run_detect(
        &[
            ("export/checkpoint-1/model-00001-of-00002.safetensors", 10),
            ("export/checkpoint-1/model-00002-of-00002.safetensors", 10),
            ("export/checkpoint-1/model.safetensors.index.json", 1),
            ("export/checkpoint-2/model-00001-of-00002.safetensors", 10),
            ("export/checkpoint-2/model-00002-of-00002.safetensors", 10),
            ("export/checkpoint-3/config.json", 1),
            ("export/checkpoint-3/model.safetensors", 10),
            ("train/checkpoint-1/model.safetensors", 10),
            ("train/checkpoint-1/optimizer.pt", 10),
            ("train/checkpoint-1/trainer_state.json", 10),
            ("train/checkpoint-2/model.safetensors", 10),
        ],
        &[("export/checkpoint-1/model.safetensors.index.json", index)],
    );
    let c1 = by_id(&cs, "export/checkpoint-1/");
    assert_eq!((c1.layout, c1.step, c1.complete.is_complete()), (Layout::HfPretrained, Some(1), true));
    assert!(by_id(&cs, "export/checkpoint-2/").complete_reason().unwrap().contains("without their index"), "shards first, index last");
    assert!(by_id(&cs, "export/checkpoint-3/").complete.is_complete(), "a single weights file");
    let t2 = by_id(&cs, "train/checkpoint-2/");
    assert_eq!(t2.layout, Layout::HfTrainer, "its sibling has the Trainer's files: a Trainer save that crashed early");
    assert!(t2.complete_reason().unwrap().contains("trainer_state.json"));
}

#[test]
fn compressed_uploads_are_judged_like_the_files_they_were_made_from() {
    let cs = run_detect(
        &[
            ("run1/checkpoint-200/model.safetensors.tcz", 60),
            ("run1/checkpoint-200/optimizer.pt.zst", 40),
            ("run1/checkpoint-200/trainer_state.json", 10),
            ("run1/checkpoint-300/model.safetensors.tcz", 60),
            ("exp/step_1000/model-00001-of-00002.safetensors.zst", 10),
            ("exp/step_1000/model-00002-of-00002.safetensors.tcz", 10),
            ("exp/step_1000/model.safetensors.index.json", 1),
            ("exp/step_2000/model-00001-of-00002.safetensors.zst", 10),
            ("exp/step_2000/model.safetensors.index.json", 1),
            ("r/step_100.pt.zst", 5),
        ],
        &[("run1/checkpoint-200/trainer_state.json", HF_STATE_200), ("exp/step_1000/model.safetensors.index.json", INDEX), ("exp/step_2000/model.safetensors.index.json", INDEX)],
    );
    let c200 = by_id(&cs, "run1/checkpoint-200/");
    assert_eq!((c200.layout, c200.step, c200.bytes), (Layout::HfTrainer, Some(200), 110));
    assert!(!incomplete(c200));
    assert!(incomplete(by_id(&cs, "run1/checkpoint-300/")), "no trainer_state.json yet");
    assert!(!incomplete(by_id(&cs, "exp/step_1000/")), "{:?}", by_id(&cs, "exp/step_1000/").complete);
    assert!(by_id(&cs, "exp/step_2000/").complete_reason().unwrap().contains("model-00002-of-00002.safetensors"));
    // A single-file checkpoint is named by the file it stands for.
    assert_eq!(by_id(&cs, "r/step_100.pt").step, Some(100));
    // Cleanup deletes the real keys.
    assert!(c200.files.iter().any(|f| f.path == "run1/checkpoint-200/model.safetensors.tcz"));
}
