//! `trainctl logs follow`, `trainctl metrics` and `trainctl local` end to end: local files and
//! growing S3 objects on both servers, every metrics fixture, and the fake trainer
//! (`tests/fixtures/local_train.py`) run under `trainctl local` with uploads and retention.

use crate::common::*;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

fn metrics_fixture(name: &str) -> String {
    fixtures().join("metrics").join(name).display().to_string()
}

/// A running `trainctl` whose stdout lines arrive on a channel.
struct Streaming {
    child: Child,
    lines: Receiver<String>,
}

impl Streaming {
    fn start(cmd: &mut std::process::Command) -> Streaming {
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn trainctl");
        let (tx, rx) = channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Streaming { child, lines: rx }
    }

    /// JSON lines until one satisfies `pred` (panics after 20 s); returns all seen.
    fn until(&self, pred: impl Fn(&serde_json::Value) -> bool) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut seen = Vec::new();
        while Instant::now() < deadline {
            if let Ok(l) = self.lines.recv_timeout(Duration::from_millis(200)) {
                let v: serde_json::Value = serde_json::from_str(&l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}"));
                let done = pred(&v);
                seen.push(v);
                if done {
                    return seen;
                }
            }
        }
        panic!("timed out; saw {seen:?}");
    }

    fn until_line(&self, text: &str) -> Vec<serde_json::Value> {
        self.until(|v| v["event"] == "line" && v["text"] == text)
    }

    fn stop(mut self) -> std::process::ExitStatus {
        trainctl_testkit::interrupt(&self.child);
        self.child.wait().unwrap()
    }
}

fn line_texts(events: &[serde_json::Value]) -> Vec<String> {
    events.iter().filter(|v| v["event"] == "line").map(|v| v["text"].as_str().unwrap().to_string()).collect()
}

// ---------------------------------------------------------------------------------------------
// logs follow

#[test]
fn logs_follow_local_file_reads_appends_truncation_and_rotation() {
    let b = Backend::moto();
    let dir = scratch();
    let log = dir.path().join("train.log");
    std::fs::write(&log, "old line\n").unwrap();
    let s = Streaming::start(b.trainctl().args(["--json", "logs", "follow"]).arg(&log).args(["--interval", "50ms"]));
    // The follower starts at the file's end whenever it gets going (a loaded machine may take a
    // while): append until an append is seen rather than guessing a delay.
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !line_texts(&seen).contains(&"step=1 loss=0.9".to_string()) {
        assert!(Instant::now() < deadline, "no appended line seen: {seen:?}");
        append(&log, "step=1 loss=0.9\n");
        while let Ok(l) = s.lines.recv_timeout(Duration::from_millis(300)) {
            seen.push(serde_json::from_str(&l).unwrap());
        }
    }
    assert!(!line_texts(&seen).contains(&"old line".to_string()), "without --from-start only appends are shown");
    std::fs::write(&log, "after truncation\n").unwrap();
    let seen = s.until_line("after truncation");
    assert!(seen.iter().any(|v| v["event"] == "notice" && v["message"].as_str().unwrap().contains("truncated")), "{seen:?}");
    std::fs::rename(&log, dir.path().join("train.log.1")).unwrap();
    std::fs::write(&log, "rotated in\n").unwrap();
    s.until_line("rotated in");
    assert_eq!(s.stop().code(), Some(0));
}

#[test]
fn logs_follow_waits_for_a_missing_file_and_reads_it_from_the_start() {
    let b = Backend::moto();
    let dir = scratch();
    let log = dir.path().join("later.log");
    let s = Streaming::start(b.trainctl().args(["--json", "logs", "follow"]).arg(&log).args(["--interval", "50ms"]));
    s.until(|v| v["event"] == "notice" && v["message"].as_str().unwrap().contains("waiting for"));
    std::fs::write(&log, "first\nsecond\n").unwrap();
    s.until_line("second");
    assert_eq!(s.stop().code(), Some(0));
}

fn append(path: &Path, text: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

conformance! {
    fn logs_follow_a_growing_s3_object_reads_only_new_bytes(b: &Backend) {
        let bucket = b.new_bucket("follow");
        let url = format!("s3://{bucket}/run1/logs/");
        let s = Streaming::start(b.trainctl().args(["--json", "logs", "follow", &url, "--interval", "100ms"]));
        s.until(|v| v["event"] == "notice" && v["message"].as_str().unwrap().contains("waiting for"));
        b.put_object(&bucket, "run1/logs/train.log", b"a\nb\n".to_vec());
        s.until_line("b");
        b.put_object(&bucket, "run1/logs/train.log", b"a\nb\nc\npartial".to_vec());
        let seen = s.until_line("c");
        assert_eq!(line_texts(&seen), ["c"], "only the new bytes are read once the object grows");
        b.put_object(&bucket, "run1/logs/train.log", b"a\nb\nc\npartial line\nd\n".to_vec());
        let seen = s.until_line("d");
        assert_eq!(line_texts(&seen), ["partial line", "d"]);
        b.put_object(&bucket, "run1/logs/train.log", b"X\nY\nZ\nnew run 1\nnew run 2\nnew run 3\n".to_vec());
        let seen = s.until_line("new run 3");
        assert!(seen.iter().any(|v| v["event"] == "notice" && v["message"].as_str().unwrap().contains("replaced")), "{seen:?}");
        assert_eq!(line_texts(&seen).first().map(String::as_str), Some("X"), "a replaced object is read from its start");
        assert_eq!(s.stop().code(), Some(0));
    }

    fn metrics_reads_an_s3_object(b: &Backend) {
        let bucket = b.new_bucket("metrics");
        b.put_object(&bucket, "run/trainer_state.json", std::fs::read(metrics_fixture("trainer_state.json")).unwrap());
        let out = ok(b.trainctl().args(["--json", "metrics", &format!("s3://{bucket}/run/trainer_state.json"), "--metric", "loss"]));
        let lines: Vec<serde_json::Value> = stdout(&out).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines[0]["name"], "loss");
        assert_eq!(lines[0]["count"], 100);
        assert_eq!(lines.last().unwrap()["total_steps"], 1000);
    }
    fn local_uploads_each_complete_checkpoint_once_and_keeps_the_last_two(b: &Backend) {
        let bucket = b.new_bucket("local");
        let dir = scratch();
        let out_dir = dir.path().join("out");
        let log = dir.path().join("train.log");
        let out = ok(b.trainctl()
            .args(["--json", "local", &local_train(), "--checkpoints"]).arg(&out_dir)
            .args(["--upload-to", &format!("s3://{bucket}/runs/tiny/"), "--keep-last-n", "2", "--log"]).arg(&log)
            .args(["--poll", "200ms", "--grace", "1s", "--", "--out"]).arg(&out_dir)
            .args(["--steps", "40", "--save-every", "10", "--step-seconds", "0.04"]));
        let s = summary_of(&out);
        let uploaded: Vec<String> = s["uploaded"].as_array().unwrap().iter().map(|x| x.as_str().unwrap().to_string()).collect();
        let mut unique = uploaded.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(uploaded.len(), unique.len(), "each checkpoint uploaded once: {uploaded:?}");
        assert_eq!(unique, ["checkpoint-10/", "checkpoint-20/", "checkpoint-30/", "checkpoint-40/"]);
        assert_eq!(s["exit_code"], 0);
        assert_eq!(s["last_step"], 40);
        assert_eq!(s["total_steps"], 40);
        assert!(s["final_metrics"]["loss"].as_f64().is_some(), "{s}");
        assert_eq!(local_dirs(&out_dir), ["checkpoint-30", "checkpoint-40"], "keep-last-n applied here");
        let mut remote_dirs: Vec<String> =
            b.list_keys(&bucket, "runs/tiny/").iter().filter_map(|k| k.split('/').nth(2)).filter(|d| d.starts_with("checkpoint-")).map(str::to_string).collect();
        remote_dirs.dedup();
        assert_eq!(remote_dirs, ["checkpoint-30", "checkpoint-40"], "keep-last-n applied on S3");
        assert!(b.list_keys(&bucket, "runs/tiny/logs/").contains(&"runs/tiny/logs/train.log".to_string()), "the log is uploaded next to the checkpoints");
        assert!(b.list_keys(&bucket, "runs/tiny/checkpoint-40/").contains(&"runs/tiny/checkpoint-40/trainer_state.json".to_string()));
        let logged = std::fs::read_to_string(&log).unwrap();
        assert!(logged.contains("'loss'") && logged.contains("40/40"), "stdout and stderr land in the log");
    }

    fn local_with_compress_uploads_compressed_checkpoints_and_still_keeps_the_last_two_on_s3(b: &Backend) {
        let bucket = b.new_bucket("localzst");
        let dir = scratch();
        let out_dir = dir.path().join("out");
        let out = ok(b.trainctl()
            .args(["--json", "local", &local_train(), "--checkpoints"]).arg(&out_dir)
            .args(["--upload-to", &format!("s3://{bucket}/runs/z/"), "--keep-last-n", "2", "--compress", "zstd", "--log"]).arg(dir.path().join("train.log"))
            .args(["--poll", "200ms", "--grace", "1s", "--", "--out"]).arg(&out_dir)
            .args(["--steps", "40", "--save-every", "10", "--step-seconds", "0.04"]));
        assert_eq!(summary_of(&out)["uploaded"].as_array().unwrap().len(), 4);
        let keys = b.list_keys(&bucket, "runs/z/checkpoint-40/");
        for k in ["model.safetensors.zst", "optimizer.pt.zst", "trainer_state.json", "config.json"] {
            assert!(keys.contains(&format!("runs/z/checkpoint-40/{k}")), "{k} in {keys:?}");
        }
        let mut remote_dirs: Vec<String> =
            b.list_keys(&bucket, "runs/z/").iter().filter_map(|k| k.split('/').nth(2)).filter(|d| d.starts_with("checkpoint-")).map(str::to_string).collect();
        remote_dirs.dedup();
        assert_eq!(remote_dirs, ["checkpoint-30", "checkpoint-40"], "keep-last-n on S3 knows its compressed uploads");
        let back = dir.path().join("back");
        ok(b.trainctl().args(["s3", "download", &format!("s3://{bucket}/runs/z/checkpoint-40/"), "-r"]).arg(&back));
        assert_trees_equal(&out_dir.join("checkpoint-40"), &back);
    }

    fn local_keep_last_n_prunes_only_its_own_uploads_under_a_shared_upload_to(b: &Backend) {
        // Another run already uploaded to the same prefix, with newer step numbers.
        let bucket = b.new_bucket("localtwo");
        let other = ["runs/shared/checkpoint-500/model.safetensors", "runs/shared/checkpoint-500/trainer_state.json", "runs/shared/checkpoint-600/model.safetensors", "runs/shared/checkpoint-600/trainer_state.json", "runs/shared/other/checkpoint-1/trainer_state.json"];
        for k in other {
            b.put_object(&bucket, k, b"{\"global_step\": 1}".to_vec());
        }
        let dir = scratch();
        let out_dir = dir.path().join("out");
        let out = ok(b.trainctl()
            .args(["--json", "local", &local_train(), "--checkpoints"]).arg(&out_dir)
            .args(["--upload-to", &format!("s3://{bucket}/runs/shared/"), "--keep-last-n", "2", "--log"]).arg(dir.path().join("train.log"))
            .args(["--poll", "200ms", "--grace", "1s", "--", "--out"]).arg(&out_dir)
            .args(["--steps", "40", "--save-every", "10", "--step-seconds", "0.04"]));
        let s = summary_of(&out);
        assert_eq!(ids(&s["deleted_remote"]), ["checkpoint-10/", "checkpoint-20/"], "{s}");
        let remote = b.list_keys(&bucket, "runs/shared/");
        for k in other {
            assert!(remote.contains(&k.to_string()), "the other run's {k} was touched: {remote:?}");
        }
        let mut mine: Vec<&str> = remote.iter().filter_map(|k| k.split('/').nth(2)).filter(|d| ["checkpoint-10", "checkpoint-20", "checkpoint-30", "checkpoint-40"].contains(d)).collect();
        mine.dedup();
        assert_eq!(mine, ["checkpoint-30", "checkpoint-40"]);
    }
}

// ---------------------------------------------------------------------------------------------
// metrics

#[test]
fn metrics_prints_a_summary_and_sparkline_for_every_fixture() {
    let b = Backend::moto();
    for (file, metric) in [
        ("trainer_state.json", "eval_loss"),
        ("metrics.csv", "val_loss"),
        ("train.jsonl", "loss"),
        ("hf_console.log", "loss"),
        ("kv.log", "train_loss"),
        ("lightning_tqdm.log", "train_loss_step"),
    ] {
        let out = ok(b.trainctl().args(["metrics", &metrics_fixture(file)]));
        let table = stdout(&out);
        let row = table.lines().find(|l| l.starts_with(&format!("{metric} "))).unwrap_or_else(|| panic!("{file}: no {metric} row in\n{table}"));
        assert!(row.chars().any(|c| ('▁'..='█').contains(&c)), "{file}: no sparkline in {row}");
    }
}

#[test]
fn metrics_json_and_csv_and_skipped_lines() {
    let b = Backend::moto();
    let out = ok(b.trainctl().args(["--json", "metrics", &metrics_fixture("train.jsonl")]));
    let lines: Vec<serde_json::Value> = stdout(&out).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let loss = lines.iter().find(|v| v["name"] == "loss").unwrap();
    assert_eq!(loss["count"], 10);
    assert_eq!(loss["last_step"], 1000.0);
    let summary = lines.last().unwrap();
    assert_eq!(summary["event"], "metrics_summary");
    assert_eq!(summary["skipped_lines"], 2, "unparseable lines are skipped and counted");

    let out = ok(b.trainctl().args(["metrics", &metrics_fixture("metrics.csv"), "--csv", "--metric", "val_loss"]));
    let rows: Vec<String> = stdout(&out).lines().map(str::to_string).collect();
    assert_eq!(rows[0], "metric,step,value");
    assert_eq!(rows.len(), 4);
    assert!(rows[1].starts_with("val_loss,199,"), "{rows:?}");

    let out = fails_with(b.trainctl().args(["metrics", &metrics_fixture("metrics.csv"), "--metric", "nope"]), 2);
    assert!(stderr(&out).contains("val_loss"), "the error lists the metrics there are: {}", stderr(&out));
}

// ---------------------------------------------------------------------------------------------
// local

pub(crate) fn local_train() -> String {
    fixtures().join("local_train.py").display().to_string()
}

pub(crate) fn summary_of(out: &std::process::Output) -> serde_json::Value {
    stdout(out)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["event"] == "local_summary")
        .unwrap_or_else(|| panic!("no summary in\n{}", stdout(out)))
}

fn ids(v: &serde_json::Value) -> Vec<String> {
    let mut ids: Vec<String> = v.as_array().unwrap().iter().map(|x| x.as_str().unwrap().to_string()).collect();
    ids.sort();
    ids
}

fn local_dirs(dir: &Path) -> Vec<String> {
    let mut d: Vec<String> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    d.sort();
    d
}


#[test]
fn local_preserves_the_exit_code_of_a_script_that_fails_at_once() {
    let b = Backend::moto();
    let dir = scratch();
    let out = fails_with(
        b.trainctl().args(["local", &local_train(), "--log"]).arg(dir.path().join("x.log")).args(["--", "--out"]).arg(dir.path()).args(["--fail-now", "7"]),
        7,
    );
    assert!(stderr(&out).contains("FAILED with exit code 7"), "{}", stderr(&out));
    assert!(stderr(&out).contains("CUDA out of memory"), "the script's stderr is streamed: {}", stderr(&out));
}

#[test]
fn local_preserves_a_nonzero_exit_after_training() {
    let b = Backend::moto();
    let dir = scratch();
    let out_dir = dir.path().join("out");
    let out = fails_with(
        b.trainctl()
            .args(["--json", "local", &local_train(), "--checkpoints"]).arg(&out_dir)
            .args(["--log"]).arg(dir.path().join("x.log"))
            .args(["--", "--out"]).arg(&out_dir).args(["--steps", "10", "--step-seconds", "0.01", "--exit-code", "3"]),
        3,
    );
    assert_eq!(ids(&summary_of(&out)["checkpoints"]), ["checkpoint-10/"]);
}

#[test]
fn local_refuses_a_missing_script_with_its_own_exit_code() {
    let b = Backend::moto();
    let dir = scratch();
    let out = fails_with(b.trainctl().current_dir(dir.path()).args(["local", "no_such_train.py", "--", "--epochs", "1"]), 55);
    assert!(stderr(&out).contains("no_such_train.py does not exist"), "{}", stderr(&out));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "nothing was created (no log file)");
    let out = fails_with(b.trainctl().args(["local"]).arg(dir.path()), 56);
    assert!(stderr(&out).contains("directory"), "{}", stderr(&out));
}

#[test]
fn local_dry_run_runs_nothing() {
    let b = Backend::moto();
    let dir = scratch();
    let out = ok(b.trainctl().current_dir(dir.path()).args(["local", &local_train(), "--checkpoints", "out", "--keep-last-n", "2", "--dry-run", "--", "--out", "out"]));
    assert!(stderr(&out).contains("would run"), "{}", stderr(&out));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn local_forwards_ctrl_c_to_the_script_and_keeps_its_exit_code() {
    let b = Backend::moto();
    let bucket = b.new_bucket("localint");
    let dir = scratch();
    let out_dir = dir.path().join("out");
    let child = b
        .trainctl()
        .args(["--json", "local", &local_train(), "--checkpoints"]).arg(&out_dir)
        .args(["--upload-to", &format!("s3://{bucket}/r/"), "--poll", "100ms", "--grace", "0s", "--log"]).arg(dir.path().join("x.log"))
        .args(["--", "--out"]).arg(&out_dir).args(["--steps", "20000", "--save-every", "10", "--step-seconds", "0.01", "--on-interrupt", "42"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupt once a state is reached, not after a delay: the script is mid-loop (it has
    // saved a checkpoint) and at least one complete checkpoint is on S3 (so the upload path
    // ran before the interrupt however loaded the machine is).
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let uploaded = b.list_keys(&bucket, "r/").iter().any(|k| k.ends_with("/trainer_state.json"));
        if uploaded && out_dir.join("checkpoint-20/trainer_state.json").exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    trainctl_testkit::interrupt(&child);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(42), "the script's own exit code\n{}\n{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("interrupted at step"), "the script saw the interrupt");
    let s = summary_of(&out);
    assert_eq!(s["interrupted"], true);
    // No partial checkpoints on S3: every uploaded directory has its completion marker.
    let keys = b.list_keys(&bucket, "r/");
    let mut dirs: Vec<&str> = keys.iter().filter_map(|k| k.strip_prefix("r/")).filter_map(|k| k.split('/').next()).filter(|d| d.starts_with("checkpoint-")).collect();
    dirs.dedup();
    assert!(!dirs.is_empty(), "some checkpoints were uploaded before the interrupt");
    for d in dirs {
        assert!(keys.contains(&format!("r/{d}/trainer_state.json")), "{d} is complete on S3: {keys:?}");
    }
}
