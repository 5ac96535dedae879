//! `trainctl cost run` end to end: a run's duration (checkpoint times or `trainctl-run.json`) ×
//! the instance's hourly price from `data/prices/compute-aws.toml`, plus its storage per month;
//! local runs with exact file times, prefixes on moto and Garage; bad input exits 52/53/2/13.

use crate::common::*;

const GIB: f64 = 1073741824.0;

fn close(a: f64, b: f64) {
    assert!((a - b).abs() <= 1e-12 * b.abs().max(1e-9), "{a} != {b}");
}

// `trainctl cost run`: a run's duration × an instance's hourly price, plus its storage.

/// p4d.24xlarge on demand in us-east-1, as `data/prices/compute-aws.toml` has it.
const P4D_HOUR: f64 = 21.96;

fn run_cost_json(out: &std::process::Output) -> serde_json::Value {
    let text = stdout(out);
    let line = text.lines().find(|l| l.contains("\"run_cost\"")).unwrap_or_else(|| panic!("no run_cost in {text}"));
    serde_json::from_str(line).unwrap()
}

/// Three step checkpoints written 0, 1 h and 2.5 h after `t0` (seconds since the epoch).
fn local_run_with_known_times(t0: u64) -> tempfile::TempDir {
    let dir = scratch();
    let run = dir.path().join("exp7");
    std::fs::create_dir_all(&run).unwrap();
    for (step, offset) in [(100, 0u64), (200, 3600), (300, 9000)] {
        let path = run.join(format!("step_{step}.pt"));
        std::fs::write(&path, vec![1u8; 1000]).unwrap();
        let f = std::fs::File::options().write(true).open(&path).unwrap();
        f.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(t0 + offset)).unwrap();
    }
    dir
}

#[test]
fn cost_run_of_a_local_run_is_its_checkpoint_span_times_the_hourly_price() {
    let t0 = 1_790_000_000;
    let dir = local_run_with_known_times(t0);
    let server = trainctl_testkit::shared_moto();
    let run = dir.path().join("exp7");
    let out = ok(trainctl(server).args(["--json", "cost", "run", run.to_str().unwrap(), "--instance", "p4d.24xlarge", "--count", "2"]));
    let v = run_cost_json(&out);
    assert_eq!((v["started"].as_i64(), v["ended"].as_i64(), v["duration_from"].as_str()), (Some(t0 as i64), Some(t0 as i64 + 9000), Some("checkpoints")), "{v}");
    assert_eq!((v["hours"].as_f64(), v["usd_per_hour"].as_f64(), v["checkpoints"].as_u64()), (Some(2.5), Some(P4D_HOUR), Some(3)), "{v}");
    close(v["compute_usd"].as_f64().unwrap(), P4D_HOUR * 2.5 * 2.0);
    assert_eq!(v["storage_bytes"], 3000);
    close(v["storage_monthly_usd"].as_f64().unwrap(), 3000.0 / GIB * 0.023);
    assert!(v["price_source"].as_str().unwrap().starts_with("https://") && v["price_date"].as_str().unwrap().len() == 10, "{v}");

    // --hours overrides the timeline; --spot takes the spot row.
    let out = ok(trainctl(server).args(["--json", "cost", "run", run.to_str().unwrap(), "--instance", "g5.xlarge", "--spot", "--hours", "10"]));
    let v = run_cost_json(&out);
    assert_eq!((v["hours"].as_f64(), v["duration_from"].as_str(), v["spot"].as_bool()), (Some(10.0), Some("given"), Some(true)), "{v}");
    close(v["compute_usd"].as_f64().unwrap(), v["usd_per_hour"].as_f64().unwrap() * 10.0);
    assert!(v["usd_per_hour"].as_f64().unwrap() < 1.006, "spot is below on demand: {v}");

    // The human form names the instance, the total and the price's source.
    let human = ok(trainctl(server).args(["cost", "run", run.to_str().unwrap(), "--instance", "p4d.24xlarge"]));
    assert!(stdout(&human).contains("p4d.24xlarge") && stdout(&human).contains("$54.90"), "{}", stdout(&human));
    assert!(stderr(&human).contains("https://") && stderr(&human).contains("before the first save"), "{}", stderr(&human));
}

#[test]
fn cost_run_bad_input_gets_a_clear_error_and_its_own_exit_code() {
    let dir = local_run_with_known_times(1_790_000_000);
    let server = trainctl_testkit::shared_moto();
    let run = dir.path().join("exp7");
    let run = run.to_str().unwrap();
    let out = fails_with(trainctl(server).args(["cost", "run", run, "--instance", "p4d.24xlarg"]), 52);
    assert!(stderr(&out).contains("closest: p4d.24xlarge"), "{}", stderr(&out));
    assert_error_shape(&out);
    let out = fails_with(trainctl(server).args(["cost", "run", run, "--instance", "p4d.24xlarge", "--instance-region", "mars-1"]), 52);
    assert!(stderr(&out).contains("p4d.24xlarge in us-east-1"), "{}", stderr(&out));
    fails_with(trainctl(server).args(["cost", "run", run, "--instance", "p4d.24xlarge", "--hours", "-1"]), 2);
    let out = fails_with(trainctl(server).args(["cost", "run", &format!("{run}/nope"), "--instance", "p4d.24xlarge"]), 13);
    assert!(stderr(&out).contains("nope"), "{}", stderr(&out));
    // One checkpoint and no trainctl-run.json: the length cannot be told.
    std::fs::remove_file(dir.path().join("exp7/step_200.pt")).unwrap();
    std::fs::remove_file(dir.path().join("exp7/step_300.pt")).unwrap();
    let out = fails_with(trainctl(server).args(["cost", "run", run, "--instance", "p4d.24xlarge"]), 53);
    assert!(stderr(&out).contains("--hours"), "{}", stderr(&out));
}

conformance! {
    fn cost_run_of_a_prefix_uses_trainctl_run_json_and_prices_its_storage(b: &Backend) {
        let bucket = b.new_bucket("costrun");
        let (started, finished) = (1_790_000_000i64, 1_790_000_000i64 + 5 * 3600 + 1800);
        let record = serde_json::json!({"script": "train.py", "args": [], "git_commit": null, "started": started, "finished": finished, "datasets": []});
        b.put_object(&bucket, "runs/exp7/trainctl-run.json", serde_json::to_vec(&record).unwrap());
        for step in [100, 200] {
            b.put_object(&bucket, &format!("runs/exp7/step_{step}.pt"), vec![2u8; 4096]);
        }
        let out = ok(b.trainctl().args(["--json", "cost", "run", &format!("s3://{bucket}/runs/exp7/"), "--instance", "p5.48xlarge", "--provider", "aws/us-east-1"]));
        let v = run_cost_json(&out);
        assert_eq!((v["duration_from"].as_str(), v["hours"].as_f64(), v["checkpoints"].as_u64()), (Some("run_record"), Some(5.5), Some(2)), "{v}");
        close(v["compute_usd"].as_f64().unwrap(), v["usd_per_hour"].as_f64().unwrap() * 5.5);
        let record_len = serde_json::to_vec(&record).unwrap().len() as f64;
        assert_eq!(v["storage_bytes"].as_f64(), Some(2.0 * 4096.0 + record_len), "{v}");
        close(v["storage_monthly_usd"].as_f64().unwrap(), (2.0 * 4096.0 + record_len) / GIB * 0.023);
        assert_eq!(v["storage_table"], "aws/us-east-1");
    }

    fn cost_run_of_a_prefix_without_a_record_spans_its_checkpoints(b: &Backend) {
        let bucket = b.new_bucket("costspan");
        b.put_object(&bucket, "exp8/step_1.pt", vec![3u8; 100]);
        // S3 sets LastModified itself (whole seconds): the second save lands at least 2 s later.
        std::thread::sleep(std::time::Duration::from_millis(2100));
        b.put_object(&bucket, "exp8/step_2.pt", vec![3u8; 100]);
        let out = ok(b.trainctl().args(["--json", "cost", "run", &format!("s3://{bucket}/exp8/"), "--instance", "g6.xlarge", "--provider", "aws/us-east-1"]));
        let v = run_cost_json(&out);
        let secs = v["ended"].as_i64().unwrap() - v["started"].as_i64().unwrap();
        assert!((2..120).contains(&secs), "{v}");
        assert_eq!(v["duration_from"], "checkpoints");
        close(v["hours"].as_f64().unwrap(), secs as f64 / 3600.0);
        close(v["compute_usd"].as_f64().unwrap(), 0.8048 * secs as f64 / 3600.0);
        let out = fails_with(b.trainctl().args(["cost", "run", &format!("s3://{bucket}/exp8/"), "--instance", "h100.8x", "--provider", "aws/us-east-1"]), 52);
        assert_error_shape(&out);
    }
}
