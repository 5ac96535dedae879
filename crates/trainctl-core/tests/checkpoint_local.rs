//! Local checkpoint cleanup on real directory trees: exactly the planned checkpoints go, nothing
//! is reached through a symlink, and a plan made before the tree changed is refused.

use std::path::Path;
use std::time::Duration;
use trainctl_core::checkpoint::{self, apply, source, Action, DetectOptions, Location, Policy};
use trainctl_core::event::CollectSink;
use trainctl_core::Error;

fn write(root: &Path, rel: &str, bytes: &[u8]) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, bytes).unwrap();
}

/// An HF run: checkpoint-100..400 complete, checkpoint-500 still without trainer_state.json.
fn hf_run(root: &Path) {
    for step in [100, 200, 300, 400, 500] {
        write(root, &format!("run1/checkpoint-{step}/model.safetensors"), &vec![7u8; 1000]);
        if step != 500 {
            write(root, &format!("run1/checkpoint-{step}/trainer_state.json"), format!("{{\"global_step\": {step}}}").as_bytes());
        }
    }
}

fn no_grace() -> DetectOptions {
    DetectOptions { grace: Duration::ZERO, ..DetectOptions::new() }
}

async fn plan(root: &Path, keep: usize) -> Vec<checkpoint::Plan> {
    let found = checkpoint::discover(&Location::Local(root.to_path_buf()), None, &no_grace()).await.unwrap();
    checkpoint::plan_all(&found.runs, &Policy { keep_last_n: Some(keep), ..Default::default() }, checkpoint::detect::now_secs()).unwrap()
}

#[cfg(unix)]
#[tokio::test]
async fn cleanup_deletes_old_checkpoints_and_never_touches_symlink_targets() {
    let tmp = tempfile::tempdir().unwrap();
    let (root, outside) = (tmp.path().join("out"), tmp.path().join("precious"));
    hf_run(&root);
    write(&outside, "base.bin", b"base model");
    write(&outside, "dir/weights.bin", b"other run");
    // A file link inside an old checkpoint, and a directory link shaped like a checkpoint.
    std::os::unix::fs::symlink(outside.join("base.bin"), root.join("run1/checkpoint-100/base.bin")).unwrap();
    std::os::unix::fs::symlink(outside.join("dir"), root.join("run1/checkpoint-150")).unwrap();

    let plans = plan(&root, 2).await;
    let doomed: Vec<&str> = plans[0].deletions().map(|i| i.checkpoint.id.as_str()).collect();
    assert_eq!(doomed, ["run1/checkpoint-100/", "run1/checkpoint-200/"]);
    let sink = CollectSink::default();
    let out = apply(&plans, &Location::Local(root.clone()), None, &no_grace(), &sink).await.unwrap();

    assert_eq!((out.checkpoints_deleted, out.failed.len()), (2, 0), "{:?}", out.failed);
    assert!(!root.join("run1/checkpoint-100").exists() && !root.join("run1/checkpoint-200").exists());
    for kept in ["checkpoint-300", "checkpoint-400", "checkpoint-500"] {
        assert!(root.join("run1").join(kept).join("model.safetensors").exists(), "{kept} must stay");
    }
    assert_eq!(std::fs::read(outside.join("base.bin")).unwrap(), b"base model");
    assert_eq!(std::fs::read(outside.join("dir/weights.bin")).unwrap(), b"other run");
    assert!(std::fs::symlink_metadata(root.join("run1/checkpoint-150")).is_ok(), "an unlisted link is left alone");
}

#[cfg(unix)]
#[tokio::test]
async fn a_checkpoint_directory_swapped_for_a_symlink_after_planning_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (root, outside) = (tmp.path().join("out"), tmp.path().join("precious"));
    hf_run(&root);
    let plans = plan(&root, 2).await;
    // Someone replaces the planned directory by a link to a directory with the same file names.
    write(&outside, "model.safetensors", b"keep me");
    write(&outside, "trainer_state.json", b"{}");
    std::fs::remove_dir_all(root.join("run1/checkpoint-100")).unwrap();
    std::os::unix::fs::symlink(&outside, root.join("run1/checkpoint-100")).unwrap();

    let out = source::list_local(&root).map(|_| apply::apply_local(&root, &plans, &CollectSink::default())).unwrap();
    assert!(out.failed.iter().any(|(what, e)| what.starts_with("run1/checkpoint-100/") && e.code == "unsafe_key"), "{:?}", out.failed);
    assert_eq!(std::fs::read(outside.join("model.safetensors")).unwrap(), b"keep me");
    assert!(!root.join("run1/checkpoint-200").exists(), "the other planned checkpoint still goes");
}

#[tokio::test]
async fn a_checkpoint_appearing_between_plan_and_apply_makes_the_plan_stale() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    hf_run(&root);
    let plans = plan(&root, 2).await;
    write(&root, "run1/checkpoint-600/trainer_state.json", b"{}");

    let err = apply(&plans, &Location::Local(root.clone()), None, &no_grace(), &CollectSink::default()).await.unwrap_err();
    assert!(matches!(&err, Error::PlanStale(m) if m.contains("checkpoint-600")), "{err}");
    assert!(root.join("run1/checkpoint-100/model.safetensors").exists(), "nothing deleted");
}

#[tokio::test]
async fn a_directory_without_checkpoints_plans_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "data/train.jsonl", b"{}");
    let plans = plan(tmp.path(), 2).await;
    assert!(plans.iter().all(|p| p.items.iter().all(|i| i.action == Action::Keep)));
    assert!(plans.is_empty());
}
