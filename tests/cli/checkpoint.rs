//! `trainctl s3 cleanup` / `checkpoint list|cleanup` end to end on both servers: exactly the
//! planned checkpoints go, incomplete ones stay, bad input changes nothing.

use crate::common::*;

/// An HF Trainer run under `exp/run1/`: checkpoint-100..400 complete, checkpoint-500 still being
/// written (no trainer_state.json yet), plus run-level files that are not checkpoints.
fn put_hf_run(b: &Backend, bucket: &str) -> Vec<String> {
    for step in [100, 200, 300, 400, 500] {
        b.put_object(bucket, &format!("exp/run1/checkpoint-{step}/model.safetensors"), vec![1u8; 2048]);
        b.put_object(bucket, &format!("exp/run1/checkpoint-{step}/optimizer.pt"), vec![2u8; 1024]);
        if step != 500 {
            b.put_object(bucket, &format!("exp/run1/checkpoint-{step}/trainer_state.json"), format!("{{\"global_step\": {step}}}"));
        }
    }
    b.put_object(bucket, "exp/run1/config.json", b"{}".to_vec());
    b.list_keys(bucket, "exp/")
}

fn checkpoint_dirs(b: &Backend, bucket: &str) -> Vec<String> {
    let mut dirs: Vec<String> =
        b.list_keys(bucket, "exp/").into_iter().filter_map(|k| k.split('/').nth(2).filter(|d| d.starts_with("checkpoint-")).map(str::to_string)).collect();
    dirs.dedup();
    dirs
}

conformance! {
    fn s3_cleanup_keeps_the_last_two_complete_and_the_incomplete_newer_one(b: &Backend) {
        let bucket = b.new_bucket("ckclean");
        put_hf_run(b, &bucket);
        let url = format!("s3://{bucket}/exp/");
        let out = ok(b.trainctl().args(["s3", "cleanup", &url, "--keep-last-n", "2", "--yes", "--grace", "0s"]));
        assert_eq!(checkpoint_dirs(b, &bucket), ["checkpoint-300", "checkpoint-400", "checkpoint-500"], "{}", stderr(&out));
        assert!(b.list_keys(&bucket, "exp/").contains(&"exp/run1/config.json".to_string()), "run files are not checkpoints");
        assert!(stderr(&out).contains("deleted 2 of 2 checkpoints"), "{}", stderr(&out));
    }

    fn s3_cleanup_keeps_the_last_good_checkpoint_while_the_newest_has_an_upload_in_flight(b: &Backend) {
        // `aws s3 sync` / s5cmd order: the small trainer_state.json is listed while the big
        // weights are still a multipart upload, invisible to a listing.
        let bucket = b.new_bucket("ckflight");
        put_hf_run(b, &bucket);
        b.put_object(&bucket, "exp/run1/checkpoint-600/trainer_state.json", b"{\"global_step\": 600}".to_vec());
        let upload = b.start_multipart_upload(&bucket, "exp/run1/checkpoint-600/model.safetensors", vec![1u8; 4096]);
        let url = format!("s3://{bucket}/exp/");
        let out = ok(b.trainctl().args(["s3", "cleanup", &url, "--keep-last-n", "1", "--yes", "--grace", "0s"]));
        assert_eq!(checkpoint_dirs(b, &bucket), ["checkpoint-400", "checkpoint-500", "checkpoint-600"], "{}", stderr(&out));
        for f in ["model.safetensors", "optimizer.pt", "trainer_state.json"] {
            assert!(b.list_keys(&bucket, "exp/run1/checkpoint-400/").contains(&format!("exp/run1/checkpoint-400/{f}")), "the last good checkpoint is kept whole");
        }
        let plan = stdout(&ok(b.trainctl().args(["s3", "cleanup", &url, "--keep-last-n", "1", "--dry-run", "--grace", "0s"])));
        assert!(plan.lines().any(|l| l.contains("checkpoint-600") && l.contains("in flight")), "{plan}");

        b.complete_multipart_upload(&upload);
        ok(b.trainctl().args(["s3", "cleanup", &url, "--keep-last-n", "1", "--yes", "--grace", "0s"]));
        assert_eq!(checkpoint_dirs(b, &bucket), ["checkpoint-500", "checkpoint-600"], "once complete, it is the newest");
    }

    fn s3_cleanup_dry_run_shows_the_plan_and_deletes_nothing(b: &Backend) {
        let bucket = b.new_bucket("ckdry");
        let before = put_hf_run(b, &bucket);
        let url = format!("s3://{bucket}/exp/");
        let out = ok(b.trainctl().args(["s3", "cleanup", &url, "--keep-last-n", "2", "--dry-run", "--grace", "0s"]));
        assert_eq!(b.list_keys(&bucket, "exp/"), before);
        let plan = stdout(&out);
        assert!(plan.lines().any(|l| l.contains("DELETE") && l.contains("checkpoint-100")), "{plan}");
        assert!(plan.lines().any(|l| l.contains("keep") && l.contains("checkpoint-500") && l.contains("incomplete")), "{plan}");
        assert!(stderr(&out).contains("nothing was changed"), "{}", stderr(&out));
    }

    fn s3_cleanup_json_plan_has_a_reason_per_checkpoint(b: &Backend) {
        let bucket = b.new_bucket("ckjson");
        put_hf_run(b, &bucket);
        let url = format!("s3://{bucket}/exp/");
        let out = ok(b.trainctl().args(["--json", "s3", "cleanup", &url, "--keep-last-n", "2", "--dry-run", "--grace", "0s"]));
        let lines: Vec<serde_json::Value> = stdout(&out).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        let items: Vec<&serde_json::Value> = lines.iter().filter(|v| v.get("plan").is_some()).collect();
        assert_eq!(items.len(), 5);
        assert!(items.iter().all(|v| !v["reasons"].as_array().unwrap().is_empty()));
        let deletes: Vec<&str> = items.iter().filter(|v| v["plan"] == "delete").map(|v| v["id"].as_str().unwrap()).collect();
        assert_eq!(deletes, ["run1/checkpoint-100/", "run1/checkpoint-200/"]);
        let summary = lines.iter().find(|v| v["event"] == "plan_summary").unwrap();
        assert_eq!(summary["bytes_reclaimed"].as_u64(), Some(2 * (2048 + 1024 + 20)));
    }

    fn s3_cleanup_of_a_prefix_without_checkpoints_says_so_and_deletes_nothing(b: &Backend) {
        let bucket = b.new_bucket("cknone");
        b.put_object(&bucket, "data/train.jsonl", b"{}\n".to_vec());
        b.put_object(&bucket, "data/eval.jsonl", b"{}\n".to_vec());
        let out = ok(b.trainctl().args(["s3", "cleanup", &format!("s3://{bucket}/data/"), "--keep-last-n", "1", "--yes"]));
        assert!(stderr(&out).contains("no checkpoints found"), "{}", stderr(&out));
        assert_eq!(b.list_keys(&bucket, ""), ["data/eval.jsonl", "data/train.jsonl"]);
    }

    fn s3_cleanup_keep_last_n_zero_is_refused(b: &Backend) {
        let bucket = b.new_bucket("ckzero");
        let before = put_hf_run(b, &bucket);
        let out = fails_with(b.trainctl().args(["s3", "cleanup", &format!("s3://{bucket}/exp/"), "--keep-last-n", "0", "--yes"]), 2);
        assert!(stderr(&out).contains("--force-all"), "{}", stderr(&out));
        assert_eq!(b.list_keys(&bucket, "exp/"), before);
    }

    fn s3_cleanup_without_yes_and_without_a_terminal_deletes_nothing(b: &Backend) {
        let bucket = b.new_bucket("ckask");
        let before = put_hf_run(b, &bucket);
        fails_with(b.trainctl().args(["s3", "cleanup", &format!("s3://{bucket}/exp/"), "--keep-last-n", "2", "--grace", "0s"]), 4);
        assert_eq!(b.list_keys(&bucket, "exp/"), before);
    }

    fn checkpoint_list_on_s3_reports_completeness_as_json(b: &Backend) {
        let bucket = b.new_bucket("cklist");
        put_hf_run(b, &bucket);
        let out = ok(b.trainctl().args(["--json", "checkpoint", "list", &format!("s3://{bucket}/exp/"), "--grace", "0s"]));
        let rows: Vec<serde_json::Value> = stdout(&out).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        let summary: Vec<(u64, bool)> = rows.iter().map(|r| (r["step"].as_u64().unwrap(), r["complete"].as_bool().unwrap())).collect();
        assert_eq!(summary, [(100, true), (200, true), (300, true), (400, true), (500, false)]);
        assert_eq!(rows[0]["layout"], "hf_trainer");
    }

    fn pinned_checkpoints_survive_cleanup_and_unknown_ids_are_refused(b: &Backend) {
        let bucket = b.new_bucket("ckpin");
        put_hf_run(b, &bucket);
        let url = format!("s3://{bucket}/exp/");
        ok(b.trainctl().args(["checkpoint", "pin", &url, "run1/checkpoint-100"]));
        fails_with(b.trainctl().args(["checkpoint", "pin", &url, "run1/checkpoint-999"]), 2);
        let out = ok(b.trainctl().args(["s3", "cleanup", &url, "--keep-last-n", "2", "--yes", "--grace", "0s"]));
        assert!(stdout(&out).lines().any(|l| l.contains("checkpoint-100") && l.contains("pinned")), "{}", stdout(&out));
        assert_eq!(checkpoint_dirs(b, &bucket), ["checkpoint-100", "checkpoint-300", "checkpoint-400", "checkpoint-500"]);
    }

    fn cleanup_watch_keeps_applying_the_policy_as_checkpoints_appear(b: &Backend) {
        let bucket = b.new_bucket("ckwatch");
        put_hf_run(b, &bucket);
        let url = format!("s3://{bucket}/exp/");
        let child = b.trainctl().args(["s3", "cleanup", &url, "--keep-last-n", "2", "--yes", "--grace", "0s", "--watch", "--interval", "300ms"])
            .stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap();
        let _guard = KillOnDrop(child);
        wait_for(|| checkpoint_dirs(b, &bucket) == ["checkpoint-300", "checkpoint-400", "checkpoint-500"]);
        b.put_object(&bucket, "exp/run1/checkpoint-500/trainer_state.json", b"{}".to_vec());
        wait_for(|| checkpoint_dirs(b, &bucket) == ["checkpoint-400", "checkpoint-500"]);
    }

    fn just_uploaded_checkpoints_are_still_changing_under_the_default_grace(b: &Backend) {
        let bucket = b.new_bucket("ckgrace");
        let before = put_hf_run(b, &bucket);
        let out = ok(b.trainctl().args(["s3", "cleanup", &format!("s3://{bucket}/exp/"), "--keep-last-n", "1", "--yes"]));
        assert!(stderr(&out).contains("nothing to delete"), "{}", stderr(&out));
        assert_eq!(b.list_keys(&bucket, "exp/"), before);
    }
}

#[test]
fn checkpoint_cleanup_of_a_local_directory_keeps_the_newest() {
    let dir = scratch();
    for step in [1, 2, 3] {
        write_tree(dir.path(), &[(&format!("run/step_{step}.pt") as &str, 100)]);
    }
    let server = trainctl_testkit::shared_moto();
    let out = ok(trainctl(server).args(["checkpoint", "cleanup", dir.path().to_str().unwrap(), "--keep-last-n", "1", "--yes", "--grace", "0s"]));
    let left: Vec<_> = std::fs::read_dir(dir.path().join("run")).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert_eq!(left, ["step_3.pt"], "{}", stderr(&out));
}

#[test]
fn an_invalid_pattern_is_a_usage_error() {
    let dir = scratch();
    let server = trainctl_testkit::shared_moto();
    let out = fails_with(trainctl(server).args(["checkpoint", "list", dir.path().to_str().unwrap(), "--pattern", "step_(\\d+"]), 2);
    assert!(stderr(&out).contains("invalid --pattern"), "{}", stderr(&out));
}

struct KillOnDrop(std::process::Child);
impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Polls `cond` for up to 20 s.
fn wait_for(cond: impl Fn() -> bool) {
    let start = std::time::Instant::now();
    while !cond() {
        assert!(start.elapsed() < std::time::Duration::from_secs(20), "condition not reached in 20s");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

// ---------------------------------------------------------------------------------------------
// #4 "Bad input" items not covered above.

#[test]
fn checkpoints_without_the_ranking_metric_are_kept_with_the_reason() {
    let dir = scratch();
    for name in ["epoch=0-val_loss=0.50.ckpt", "epoch=1-val_loss=0.30.ckpt", "epoch=2-step=300.ckpt", "epoch=3-val_loss=0.40.ckpt", "epoch=4-val_loss=0.45.ckpt"] {
        write_tree(dir.path(), &[(&format!("run/{name}") as &str, 100)]);
    }
    let server = trainctl_testkit::shared_moto();
    let args = ["--json", "checkpoint", "cleanup", dir.path().to_str().unwrap(), "--keep-best", "1", "--metric", "val_loss", "--mode", "min", "--dry-run", "--grace", "0s"];
    let out = ok(trainctl(server).args(args));
    let items: Vec<serde_json::Value> = json_lines(&out).into_iter().filter(|v| v.get("plan").is_some()).collect();
    let no_metric = items.iter().find(|v| v["id"].as_str().unwrap().contains("epoch=2-step=300")).expect("the metric-less checkpoint is listed");
    assert_eq!(no_metric["plan"], "keep", "{no_metric}");
    assert!(no_metric["reasons"].to_string().contains("no `val_loss` metric"), "{no_metric}");
    let deletes: Vec<&str> = items.iter().filter(|v| v["plan"] == "delete").map(|v| v["id"].as_str().unwrap()).collect();
    assert!(deletes.iter().any(|d| d.contains("val_loss=0.50")), "the worse metrics go: {deletes:?}");
    assert_eq!(std::fs::read_dir(dir.path().join("run")).unwrap().count(), 5, "a dry run deletes nothing");
}

#[test]
fn keep_last_n_zero_is_accepted_with_force_all_and_still_keeps_the_newest() {
    let dir = scratch();
    for step in [1, 2, 3] {
        write_tree(dir.path(), &[(&format!("run/step_{step}.pt") as &str, 100)]);
    }
    let server = trainctl_testkit::shared_moto();
    let root = dir.path().to_str().unwrap();
    fails_with(trainctl(server).args(["checkpoint", "cleanup", root, "--keep-last-n", "0", "--yes", "--grace", "0s"]), 2);
    assert_eq!(std::fs::read_dir(dir.path().join("run")).unwrap().count(), 3);
    ok(trainctl(server).args(["checkpoint", "cleanup", root, "--keep-last-n", "0", "--force-all", "--yes", "--grace", "0s"]));
    let left: Vec<_> = std::fs::read_dir(dir.path().join("run")).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert_eq!(left, ["step_3.pt"], "the newest complete checkpoint is always kept");
}

#[test]
fn permission_denied_on_delete_is_reported_per_key_and_nothing_is_skipped() {
    // Garage only: moto grants everything. The deleting key may read but not write/delete.
    let Some(b) = Backend::garage() else { return };
    let Some(_) = garage_admin(b.server()) else { return };
    let admin = |args: &[&str]| stdout(&ok(garage_admin(b.server()).unwrap().args(args)));
    let bucket = format!("tk-ckdeny-{}", std::process::id());
    admin(&["bucket", "create", &bucket]);
    admin(&["bucket", "allow", "--read", "--write", "--owner", &bucket, "--key", b.access_key()]);
    let before = put_hf_run(&b, &bucket);
    let info = admin(&["key", "create", &format!("ro-{bucket}")]);
    let field = |label: &str| info.lines().find_map(|l| l.split_once(':').filter(|(k, _)| k.trim() == label).map(|(_, v)| v.trim().to_string())).unwrap();
    let (id, secret) = (field("Key ID"), field("Secret key"));
    admin(&["bucket", "allow", "--read", &bucket, "--key", &id]);
    let mut ro = b.trainctl();
    ro.env("AWS_ACCESS_KEY_ID", &id).env("AWS_SECRET_ACCESS_KEY", &secret);
    let out = fails_with(ro.args(["s3", "cleanup", &format!("s3://{bucket}/exp/"), "--keep-last-n", "2", "--yes", "--grace", "0s"]), 3);
    let err = stderr(&out);
    let failed: Vec<&str> = err.lines().filter(|l| l.starts_with("failed: ")).collect();
    // checkpoint-100 and -200 are planned for deletion: 3 files each, every one attempted and reported.
    assert_eq!(failed.len(), 6, "{err}");
    assert!(failed.iter().all(|l| l.contains("access denied")), "{failed:?}");
    assert!(failed.iter().any(|l| l.contains("checkpoint-100/model.safetensors")) && failed.iter().any(|l| l.contains("checkpoint-200/optimizer.pt")), "{failed:?}");
    assert_eq!(b.list_keys(&bucket, "exp/"), before);
}
