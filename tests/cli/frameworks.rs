//! `trainctl checkpoint list|cleanup` and `s3 review` on folders the real frameworks wrote
//! (`tests/fixtures/frameworks/`, see its `generate.py`): exact values and fractional epochs in
//! the text and `--json`, crashed Trainer and DeepSpeed saves shown as ABANDONED and deleted only with
//! `--delete-abandoned`, keep-best picking what the frameworks call best, a dry run that changes
//! no byte, and the same answers from an S3 copy.

use crate::common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

pub(crate) fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/frameworks")
}

fn expected() -> Value {
    serde_json::from_slice(&std::fs::read(fixtures().join("expected.json")).unwrap()).unwrap()
}

/// Copies `src` to `dest` (links as links), every file dated `age` ago.
pub(crate) fn copy_dated(src: &Path, dest: &Path, age: Duration) {
    std::fs::create_dir_all(dest).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        let (from, to) = (e.path(), dest.join(e.file_name()));
        let kind = e.file_type().unwrap();
        if kind.is_dir() {
            copy_dated(&from, &to, age);
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&from).unwrap(), &to).unwrap();
        } else {
            std::fs::copy(&from, &to).unwrap();
            std::fs::File::options().write(true).open(&to).unwrap().set_modified(SystemTime::now() - age).unwrap();
        }
    }
}

/// The fixture runs, three days old.
fn runs() -> tempfile::TempDir {
    let dir = scratch();
    copy_dated(&fixtures().join("runs"), dir.path(), Duration::from_secs(3 * 86_400));
    dir
}

fn json_of(out: &std::process::Output) -> Vec<Value> {
    json_lines(out).into_iter().filter(|v| v.get("id").is_some()).collect()
}

/// Every checkpoint of `expected.json` is printed with its exact step, epoch, metrics and state.
fn assert_json_matches_expected(items: &[Value], where_: &str) {
    for w in expected()["checkpoints"].as_array().unwrap() {
        let id = w["id"].as_str().unwrap();
        let c = items.iter().find(|v| v["id"] == id).unwrap_or_else(|| panic!("{where_}: {id} missing"));
        assert_eq!(c["run"], w["run"], "{where_}: {id}");
        assert_eq!(c["step"], w["step"], "{where_}: {id}");
        assert_eq!(c["epoch"].as_f64().map(f64::to_bits), w["epoch"].as_f64().map(f64::to_bits), "{where_}: {id}: epoch {} vs {}", c["epoch"], w["epoch"]);
        for (k, v) in w["metrics"].as_object().unwrap() {
            assert_eq!(c["metrics"][k].as_f64().map(f64::to_bits), v.as_f64().map(f64::to_bits), "{where_}: {id}: {k} = {} vs {v}", c["metrics"][k]);
        }
        let state = if w["complete"] == "crashed" { "abandoned" } else { "complete" };
        assert_eq!(c["state"], state, "{where_}: {id}: {c}");
        if let Some(twin) = w.get("same_as").filter(|t| t.is_string()) {
            assert_eq!(&c["same_as"], twin, "{where_}: {id}");
        }
    }
}

#[test]
fn checkpoint_list_shows_exact_values_fractional_epochs_abandoned_saves_and_last_ckpt_twins() {
    let dir = runs();
    let server = trainctl_testkit::shared_moto();
    let root = dir.path().to_str().unwrap();
    let text = stdout(&ok(trainctl(server).args(["checkpoint", "list", root, "--grace", "0s"])));
    let line = |needle: &str| text.lines().find(|l| l.contains(needle)).unwrap_or_else(|| panic!("no line with {needle}:\n{text}")).to_string();
    assert!(line("checkpoint-10/").contains("epoch 2.5"), "{text}");
    assert!(line("checkpoint-10/").contains("eval_loss=3.893778085708618"), "Python's repr, exactly: {text}");
    let crashed = text.lines().skip_while(|l| !l.starts_with("run hf-crashed")).find(|l| l.contains("checkpoint-6/")).unwrap();
    assert!(crashed.contains("ABANDONED") && crashed.contains("trainer_state.json"), "{crashed}");
    let ds = text.lines().skip_while(|l| !l.starts_with("run deepspeed-crashed")).find(|l| l.contains("global_step6/")).unwrap();
    assert!(ds.contains("ABANDONED") && ds.contains("`latest` names (4;"), "{ds}");
    assert!(text.contains("run deepspeed (3 checkpoints)"), "`latest` and zero_to_fp32.py are no checkpoints: {text}");
    assert!(text.contains("run lightning (7 checkpoints)"), "the run is the folder holding checkpoints/: {text}");
    let last = text.lines().skip_while(|l| !l.starts_with("run lightning-link")).find(|l| l.contains("last.ckpt")).unwrap();
    assert!(last.contains("same bytes as checkpoints/epoch=5-step=36.ckpt"), "{last}");
    assert!(line("checkpoint-100/").contains("complete"), "a save_pretrained shard folder is complete: {text}");

    let out = ok(trainctl(server).args(["--json", "checkpoint", "list", root, "--grace", "0s"]));
    assert_json_matches_expected(&json_of(&out), "local --json");
}

#[test]
fn cleanup_dry_run_changes_no_byte_and_keeps_abandoned_saves_unless_asked() {
    let dir = runs();
    let server = trainctl_testkit::shared_moto();
    let root = dir.path().to_str().unwrap();
    let before = trainctl_testkit::tree_digest(dir.path());
    let out = ok(trainctl(server).args(["checkpoint", "cleanup", root, "--keep-last-n", "1", "--dry-run", "--grace", "0s"]));
    assert_eq!(trainctl_testkit::tree_digest(dir.path()), before, "a dry run changes nothing");
    assert!(stderr(&out).contains("2 abandoned checkpoint(s) (crashed saves) kept; delete them with --delete-abandoned"), "{}", stderr(&out));
    for (run, crashed) in [("run hf-crashed", "checkpoint-6/"), ("run deepspeed-crashed", "global_step6/")] {
        let keep = stdout(&out).lines().skip_while(|l| !l.starts_with(run)).find(|l| l.contains(crashed)).unwrap().to_string();
        assert!(keep.trim_start().starts_with("keep") && keep.contains("pass --delete-abandoned"), "{keep}");
    }

    // --delete-abandoned alone: only the crashed saves go, the plan says so.
    let out = ok(trainctl(server).args(["checkpoint", "cleanup", root, "--delete-abandoned", "--yes", "--grace", "0s"]));
    assert!(stderr(&out).contains("deleting 2 abandoned checkpoint(s)"), "{}", stderr(&out));
    assert!(!dir.path().join("hf-crashed/checkpoint-6").exists());
    assert!(!dir.path().join("deepspeed-crashed/global_step6").exists());
    for kept in ["hf-crashed/checkpoint-2", "hf-crashed/checkpoint-4", "hf-trainer/checkpoint-2", "hf-export/checkpoint-100", "deepspeed/global_step6", "deepspeed-crashed/global_step4", "deepspeed-crashed/latest", "deepspeed-crashed/zero_to_fp32.py"] {
        assert!(dir.path().join(kept).exists(), "{kept} stays");
    }
}

#[test]
fn keep_best_by_val_loss_from_metrics_csv_keeps_what_lightning_calls_best() {
    let dir = runs();
    let server = trainctl_testkit::shared_moto();
    let root = dir.path().to_str().unwrap();
    let args = ["--json", "checkpoint", "cleanup", root, "--keep-best", "1", "--metric", "val_loss", "--mode", "min", "--dry-run", "--grace", "0s"];
    let items = json_of(&ok(trainctl(server).args(args)));
    let best_by_rule = |run: &str| -> Vec<String> {
        items.iter().filter(|v| v["run"] == run && v["plan"] == "keep" && v["reasons"].to_string().contains("best 1 by val_loss")).map(|v| v["id"].as_str().unwrap().to_string()).collect()
    };
    for b in expected()["best"].as_array().unwrap().iter().filter(|b| b.get("best_model_path").is_some()) {
        assert_eq!(best_by_rule(b["run"].as_str().unwrap()), [b["best_model_path"].as_str().unwrap()], "{b}");
    }
    let args = ["--json", "checkpoint", "cleanup", root, "--keep-best", "1", "--metric", "eval_loss", "--mode", "min", "--dry-run", "--grace", "0s"];
    let items = json_of(&ok(trainctl(server).args(args)));
    let hf: Vec<&str> = items.iter().filter(|v| v["run"] == "hf-trainer" && v["plan"] == "keep" && v["reasons"].to_string().contains("best 1 by eval_loss")).map(|v| v["id"].as_str().unwrap()).collect();
    assert_eq!(hf, [format!("hf-trainer/{}/", expected()["best"][0]["best_model_checkpoint"].as_str().unwrap())]);
}

fn upload(b: &Backend, bucket: &str, root: &Path, dir: &Path) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            upload(b, bucket, root, &p);
        } else {
            let key = format!("runs/{}", p.strip_prefix(root).unwrap().to_str().unwrap());
            b.put_object(bucket, &key, std::fs::read(&p).unwrap());
        }
    }
}

conformance! {
    fn an_s3_copy_of_the_framework_runs_lists_and_reviews_like_the_local_one(b: &Backend) {
        let dir = runs();
        let bucket = b.new_bucket("ckfw");
        upload(b, &bucket, dir.path(), dir.path());
        let url = format!("s3://{bucket}/runs/");
        std::thread::sleep(Duration::from_millis(1100));
        // Uploaded just now: the crashed save is abandoned once nothing was written for 1 s.
        let out = ok(b.trainctl().args(["--json", "checkpoint", "list", &url, "--grace", "0s", "--abandoned-after", "1s"]));
        assert_json_matches_expected(&json_of(&out), "s3 --json");
        let review = ok(b.trainctl().args(["s3", "review", &format!("s3://{bucket}/"), "--json"]));
        let review: Value = serde_json::from_slice(&review.stdout).unwrap();
        let runs: Vec<&str> = review["by_run"].as_array().unwrap().iter().map(|r| r["run"].as_str().unwrap()).collect();
        assert!(runs.contains(&"runs/lightning/") && !runs.iter().any(|r| r.ends_with("checkpoints/")), "{runs:?}");
    }

    fn a_copy_uploaded_with_compress_is_judged_complete_like_the_original(b: &Backend) {
        let dir = runs();
        let bucket = b.new_bucket("ckzst");
        let url = format!("s3://{bucket}/runs/");
        ok(b.trainctl().args(["s3", "upload", "-r"]).arg(dir.path()).arg(&url).args(["--compress", "zstd"]));
        let listed = b.list_keys(&bucket, "runs/");
        assert!(listed.iter().any(|k| k.ends_with("checkpoint-10/model.safetensors.zst")) && listed.iter().any(|k| k.ends_with("checkpoint-10/trainer_state.json")), "{listed:?}");
        std::thread::sleep(Duration::from_millis(1100));
        let out = ok(b.trainctl().args(["--json", "checkpoint", "list", &url, "--grace", "0s", "--abandoned-after", "1s"]));
        assert_json_matches_expected(&json_of(&out), "s3 --json, uploaded with --compress zstd");
    }
}
