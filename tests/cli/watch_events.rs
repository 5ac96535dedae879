//! `trainctl s3 watch --events QUEUE` (S3 Event Notifications from SQS) and `--setup-events`,
//! on moto_server, which implements SQS and, in server mode, delivers the bucket's
//! notifications (and the `s3:TestEvent`) to the queue. The same fake trainer as the polling
//! tests: each checkpoint once, only when complete, the finish, the stall; messages deleted once
//! handled; events outside the prefix and foreign messages ignored. Garage has no notifications:
//! a clear error with exit code 50.

use crate::common::*;
use crate::watch::{ids, is, train, Watch};
use serde_json::{json, Value};
use std::process::Command;
use std::time::{Duration, Instant};

const SQS_QUEUE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/sqs_queue.py");

/// Runs tests/fixtures/sqs_queue.py against the backend; returns its stdout, trimmed.
fn sqs(b: &Backend, args: &[&str]) -> String {
    let out = Command::new("python3").arg(SQS_QUEUE).arg(b.endpoint_url()).args(args).envs(b.env()).output().expect("run sqs_queue.py (python3 + boto3)");
    assert!(out.status.success(), "sqs_queue.py {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Waits until every message on the queue was deleted (the watch deletes what it handled).
fn wait_drained(b: &Backend, queue: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let depth = sqs(b, &["depth", queue]);
        if depth == "0" {
            return;
        }
        assert!(Instant::now() < deadline, "{depth} message(s) still on the queue: handled messages must be deleted");
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// One `ObjectCreated:Put` record in the format S3 sends (keys URL-encoded).
fn created(bucket: &str, key: &str, size: u64, sequencer: &str) -> String {
    json!({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(), "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "AWS:EXAMPLE"},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "trainctl-watch-run",
               "bucket": {"name": bucket, "arn": format!("arn:aws:s3:::{bucket}")},
               "object": {"key": key.replace('=', "%3D"), "size": size, "eTag": "d41d8cd98f00b204e9800998ecf8427e", "sequencer": sequencer}}
    }]})
    .to_string()
}

#[test]
fn setup_events_then_notifications_report_each_checkpoint_once_when_complete_and_the_finish() {
    let b = Backend::moto();
    let bucket = b.new_bucket("watch-sqs");
    let queue = sqs(&b, &["create", &format!("{bucket}-q")]);
    let url = s3(&bucket, "run1/");

    let out = ok(b.trainctl().args(["--json", "s3", "watch", &url, "--events", &queue, "--setup-events", "--dry-run"]));
    let plan = &json_lines(&out)[0];
    assert_eq!(plan["event"], "watch_events_plan", "{plan}");
    assert_eq!(plan["plan"]["already_configured"], false, "{plan}");
    assert_eq!(plan["plan"]["prefix"], "run1/", "{plan}");
    assert!(json_lines(&out).iter().all(|v| v["event"] != "watch_events_configured"), "a dry run changes nothing");
    fails_with(b.trainctl().args(["s3", "watch", &url, "--events", &queue, "--setup-events"]), 4);
    let out = ok(b.trainctl().args(["--json", "s3", "watch", &url, "--events", &queue, "--setup-events", "--yes"]));
    assert!(json_lines(&out).iter().any(|v| v["event"] == "watch_events_configured"), "{}", stdout(&out));
    let out = ok(b.trainctl().args(["--json", "s3", "watch", &url, "--events", &queue, "--setup-events", "--dry-run"]));
    assert_eq!(json_lines(&out)[0]["plan"]["already_configured"], true, "a second setup has nothing to do");

    let mut w = Watch::start(&b, &url, &["--events", &queue]);
    let started = w.wait_for(Duration::from_secs(20), "watch_started", |v| is(v, "watch_started"));
    assert_eq!(started["mode"], "events", "{started}");
    // S3 checks a new configuration with an s3:TestEvent: handled, said, deleted.
    w.wait_for(Duration::from_secs(10), "the test event notice", |v| is(v, "notice") && v["message"].as_str().is_some_and(|m| m.contains("test event")));
    b.put_object(&bucket, "elsewhere/checkpoint-100/trainer_state.json", b"{}".to_vec());
    // Each checkpoint's trainer_state.json (its last file) comes 1.2 s after its shards.
    train(&b, &bucket, "run1", "hf", 3, 1.0, &["--last-delay", "1.2"]);
    let f = w.wait_for(Duration::from_secs(15), "watch_run_finished", |v| is(v, "watch_run_finished"));
    assert_eq!(f["step"], 300, "{f}");
    wait_drained(&b, &queue);
    let events = w.stop();
    assert_eq!(ids(&events, "watch_checkpoint"), ["checkpoint-100/", "checkpoint-200/", "checkpoint-300/"], "each exactly once, in order");
    for id in ids(&events, "watch_checkpoint") {
        let reported = events.iter().position(|v| is(v, "watch_checkpoint") && v["id"] == id.as_str()).unwrap();
        let last = events.iter().position(|v| is(v, "watch_object") && v["key"] == format!("{id}trainer_state.json")).unwrap();
        assert!(last < reported, "{id} reported before its trainer_state.json arrived");
    }
    assert!(events.iter().all(|v| !(is(v, "watch_object") && v["key"].as_str().unwrap().contains("elsewhere"))), "events outside the prefix are ignored");
    assert_eq!(events.iter().filter(|v| is(v, "watch_run_finished")).count(), 1);
}

#[test]
fn hand_written_events_feed_the_same_detection_with_a_reconciling_listing_and_a_stall() {
    let b = Backend::moto();
    let bucket = b.new_bucket("watch-sqs-hand");
    let queue = sqs(&b, &["create", &format!("{bucket}-q")]);
    // Written before the watch and announced by no event: the listing at start sees it.
    train(&b, &bucket, "pl", "lightning", 1, 0.0, &[]);
    let mut w = Watch::start(&b, &s3(&bucket, "pl/"), &["--events", &queue, "--stall-after", "2"]);
    let started = w.wait_for(Duration::from_secs(20), "watch_started", |v| is(v, "watch_started"));
    assert_eq!((started["mode"].as_str(), started["checkpoints"].as_u64()), (Some("events"), Some(1)), "{started}");

    sqs(&b, &["send", &queue, "this is not an S3 event"]);
    w.wait_for(Duration::from_secs(10), "the foreign-message notice", |v| is(v, "notice") && v["message"].as_str().is_some_and(|m| m.contains("not an S3 event")));
    for (i, step) in [200u64, 300].iter().enumerate() {
        let key = format!("pl/checkpoints/epoch=0-step={step}.ckpt");
        b.put_object(&bucket, &key, vec![7u8; 64]);
        sqs(&b, &["send", &queue, &created(&bucket, &key, 64, &format!("00{}", i + 1))]);
        // Outside the prefix, and another bucket: ignored.
        sqs(&b, &["send", &queue, &created(&bucket, &format!("other/epoch=0-step={step}.ckpt"), 1, "01")]);
        sqs(&b, &["send", &queue, &created("someone-elses-bucket", &key, 1, "01")]);
        w.wait_for(Duration::from_secs(10), "the new checkpoint", |v| is(v, "watch_checkpoint") && v["step"] == *step);
        std::thread::sleep(Duration::from_millis(1000));
    }
    // At-least-once delivery: the same event again is not a second checkpoint.
    sqs(&b, &["send", &queue, &created(&bucket, "pl/checkpoints/epoch=0-step=300.ckpt", 64, "002")]);
    let last = "checkpoints/epoch=0-step=300.ckpt";
    w.wait_for(Duration::from_secs(30), "watch_run_stalled after step 300", |v| is(v, "watch_run_stalled") && v["last_checkpoint"] == last);
    wait_drained(&b, &queue);
    let events = w.stop();
    assert_eq!(ids(&events, "watch_checkpoint"), ["checkpoints/epoch=0-step=200.ckpt", last]);
    // One stall per silence. The silence after step 300 is one; on a loaded machine the gap
    // before step 300 (its events are sent by separate processes) can outlast 2 cadences and be
    // one too — then it names step 200 and comes before step 300 is seen.
    let stalls: Vec<usize> = events.iter().enumerate().filter(|(_, v)| is(v, "watch_run_stalled")).map(|(i, _)| i).collect();
    let seen_300 = events.iter().position(|v| is(v, "watch_checkpoint") && v["id"] == last).unwrap();
    assert_eq!(stalls.iter().filter(|&&i| events[i]["last_checkpoint"] == last).count(), 1, "{events:?}");
    assert!(stalls.iter().filter(|&&i| events[i]["last_checkpoint"] != last).all(|&i| i < seen_300 && events[i]["last_checkpoint"] == "checkpoints/epoch=0-step=200.ckpt"), "{events:?}");
    assert!(stalls.len() <= 2, "{events:?}");
}

#[test]
fn bad_queues_fail_with_a_clear_error_and_nothing_changed() {
    let b = Backend::moto();
    let bucket = b.new_bucket("watch-sqs-bad");
    let url = s3(&bucket, "run/");
    let out = fails_with(b.trainctl().args(["s3", "watch", &url, "--events", "not a queue"]), 51);
    assert_error_shape(&out);
    let missing = format!("{}/123456789012/no-such-queue-{bucket}", b.endpoint_url());
    let out = fails_with(b.trainctl().args(["--json", "s3", "watch", &url, "--events", &missing]), 51);
    let err = json_lines(&out).into_iter().find(|v| v.get("error").is_some()).unwrap();
    assert_eq!(err["error"]["code"], "watch_queue", "{err}");
    fails_with(b.trainctl().args(["s3", "watch", &url, "--events", "q", "--once"]), 2);
    fails_with(b.trainctl().args(["s3", "watch", &url, "--setup-events"]), 2);
}

#[test]
fn garage_has_no_event_notifications_exit_50() {
    let Some(b) = Backend::garage() else { return };
    let bucket = b.new_bucket("watch-sqs-garage");
    let url = s3(&bucket, "run/");
    // Known from the provider quirks: refused before any request.
    ok(b.trainctl().args(["profile", "add", "g", "--provider", "garage", "--endpoint-url", &b.endpoint_url()]));
    let out = fails_with(b.trainctl().args(["--profile", "g", "s3", "watch", &url, "--events", "runs-events"]), 50);
    assert_error_shape(&out);
    assert!(stderr(&out).contains("Garage"), "{}", stderr(&out));
    // Not known (a bare endpoint): the server's answer says the same.
    let out = fails_with(b.trainctl().args(["--json", "s3", "watch", &url, "--events", "runs-events", "--setup-events", "--yes"]), 50);
    let err: Value = json_lines(&out).into_iter().find(|v| v.get("error").is_some()).unwrap();
    assert_eq!(err["error"]["code"], "watch_events_unsupported", "{err}");
    let out = fails_with(b.trainctl().args(["s3", "watch", &url, "--events", "runs-events"]), 50);
    assert_error_shape(&out);
}
