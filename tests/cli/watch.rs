//! `trainctl s3 watch` against real servers, with a fake trainer (tests/fixtures/fake_trainer.py)
//! writing checkpoints at a steady cadence: every checkpoint is reported exactly once and only
//! once complete, the finish and the stall are detected, a prefix that does not exist yet is
//! waited for, and `--exec` gets the event in its environment (and no credentials).

use crate::common::*;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

pub(crate) const FAKE_TRAINER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/fake_trainer.py");

/// A running `trainctl --json s3 watch` and the JSON lines it printed so far.
pub(crate) struct Watch {
    child: Child,
    lines: Receiver<Value>,
    seen: Vec<Value>,
}

impl Watch {
    pub(crate) fn start(b: &Backend, url: &str, extra: &[&str]) -> Watch {
        Watch::start_with(b.trainctl(), url, extra)
    }

    pub(crate) fn start_with(mut cmd: Command, url: &str, extra: &[&str]) -> Watch {
        cmd.args(["--json", "s3", "watch", url, "--interval", "0.5", "--max-time", "60"]).args(extra);
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().expect("spawn trainctl s3 watch");
        let out = child.stdout.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
                if tx.send(v).is_err() {
                    break;
                }
            }
        });
        Watch { child, lines, seen: Vec::new() }
    }

    /// Waits (at most `within`) for an event matching `pred`; returns it.
    pub(crate) fn wait_for(&mut self, within: Duration, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(v) = self.seen.iter().find(|v| pred(v)) {
            return v.clone();
        }
        let deadline = Instant::now() + within;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(v) => {
                    self.seen.push(v.clone());
                    if pred(&v) {
                        return v;
                    }
                }
                Err(_) => break,
            }
        }
        panic!("no {what} within {within:?}; events so far:\n{}", self.dump());
    }

    pub(crate) fn stop(mut self) -> Vec<Value> {
        trainctl_testkit::interrupt(&self.child);
        let status = self.child.wait().unwrap();
        assert!(status.success(), "watch exited with {status}");
        while let Ok(v) = self.lines.recv_timeout(Duration::from_millis(500)) {
            self.seen.push(v);
        }
        std::mem::take(&mut self.seen)
    }

    fn dump(&self) -> String {
        self.seen.iter().map(|v| v.to_string()).collect::<Vec<_>>().join("\n")
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn is(v: &Value, event: &str) -> bool {
    v["event"] == event
}

/// Runs the fake trainer to completion.
pub(crate) fn train(b: &Backend, bucket: &str, prefix: &str, layout: &str, count: u32, cadence: f64, extra: &[&str]) {
    let out = trainer(b, bucket, prefix, layout, count, cadence, extra).wait_with_output().unwrap();
    assert!(out.status.success(), "fake trainer failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// Starts the fake trainer (python3 + boto3) against this backend.
pub(crate) fn trainer(b: &Backend, bucket: &str, prefix: &str, layout: &str, count: u32, cadence: f64, extra: &[&str]) -> Child {
    Command::new("python3")
        .arg(FAKE_TRAINER)
        .args([&b.endpoint_url(), bucket, prefix, layout, &count.to_string(), &cadence.to_string()])
        .args(extra)
        .envs(b.env())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run tests/fixtures/fake_trainer.py (python3 + boto3)")
}

pub(crate) fn ids(events: &[Value], event: &str) -> Vec<String> {
    events.iter().filter(|v| is(v, event)).map(|v| v["id"].as_str().unwrap().to_string()).collect()
}

conformance! {
    fn hf_checkpoints_are_reported_once_when_complete_and_the_finish_is_seen(b: &Backend) {
        let bucket = b.new_bucket("watch-hf");
        // The prefix does not exist yet: the watch says it waits, and does not fail.
        let mut w = Watch::start(b, &s3(&bucket, "run1/"), &[]);
        w.wait_for(Duration::from_secs(20), "watch_waiting", |v| is(v, "watch_waiting"));
        // Each checkpoint's last file (trainer_state.json) comes 1.2 s after its shards: more than
        // two polls see it incomplete.
        train(b, &bucket, "run1", "hf", 3, 1.0, &["--last-delay", "1.2"]);
        w.wait_for(Duration::from_secs(15), "watch_run_finished", |v| is(v, "watch_run_finished"));
        let events = w.stop();
        assert_eq!(ids(&events, "watch_checkpoint"), ["checkpoint-100/", "checkpoint-200/", "checkpoint-300/"], "each exactly once, in order");
        for (i, id) in ids(&events, "watch_checkpoint").iter().enumerate() {
            let reported = events.iter().position(|v| is(v, "watch_checkpoint") && v["id"] == id.as_str()).unwrap();
            let shard = events.iter().position(|v| is(v, "watch_object") && v["key"] == format!("{id}model-00001-of-00002.safetensors")).unwrap();
            let last = events.iter().position(|v| is(v, "watch_object") && v["key"] == format!("{id}trainer_state.json")).unwrap();
            assert!(shard < last && last < reported, "checkpoint {i} reported before its trainer_state.json was there");
            let state_seen = events[..last].iter().filter(|v| is(v, "watch_growth")).count();
            let shard_seen = events[..shard].iter().filter(|v| is(v, "watch_growth")).count();
            assert!(state_seen > shard_seen, "the shards and the last file arrived in the same poll: the test proves nothing");
        }
        let finished: Vec<&Value> = events.iter().filter(|v| is(v, "watch_run_finished")).collect();
        assert_eq!(finished.len(), 1, "finished once");
        assert_eq!(finished[0]["step"], 300);
        assert!(events.iter().all(|v| !is(v, "watch_run_stalled")), "a finished run is not stalled");
    }

    fn lightning_run_with_a_final_marker_is_finished(b: &Backend) {
        let bucket = b.new_bucket("watch-pl");
        let mut w = Watch::start(b, &s3(&bucket, "pl/"), &[]);
        w.wait_for(Duration::from_secs(20), "watch_started", |v| is(v, "watch_started"));
        train(b, &bucket, "pl", "lightning", 3, 1.0, &["--marker", "_SUCCESS"]);
        let f = w.wait_for(Duration::from_secs(10), "watch_run_finished", |v| is(v, "watch_run_finished"));
        assert!(f["reason"].as_str().unwrap().contains("_SUCCESS"), "{f}");
        let events = w.stop();
        assert_eq!(ids(&events, "watch_checkpoint"), ["checkpoints/epoch=0-step=100.ckpt", "checkpoints/epoch=0-step=200.ckpt", "checkpoints/epoch=1-step=300.ckpt"]);
    }

    fn a_run_that_stops_without_a_marker_is_stalled_once(b: &Backend) {
        let bucket = b.new_bucket("watch-stall");
        // One checkpoint already there, zero-padded: the watch polls with StartAfter.
        train(b, &bucket, "run", "hf-padded", 1, 0.0, &["--max-steps", "100000"]);
        let mut w = Watch::start(b, &s3(&bucket, "run/"), &["--stall-after", "2"]);
        let started = w.wait_for(Duration::from_secs(20), "watch_started", |v| is(v, "watch_started"));
        assert_eq!(started["mode"], "start_after", "{started}");
        assert_eq!(started["checkpoints"], 1);
        train(b, &bucket, "run", "hf-padded", 3, 1.0, &["--first-index", "2", "--max-steps", "100000"]);
        let stall = w.wait_for(Duration::from_secs(25), "watch_run_stalled", |v| is(v, "watch_run_stalled"));
        assert_eq!(stall["last_checkpoint"], "checkpoint-000400/", "{stall}");
        // Quiet for a while longer: still one stall event, never "finished".
        std::thread::sleep(Duration::from_secs(2));
        let events = w.stop();
        assert_eq!(ids(&events, "watch_checkpoint"), ["checkpoint-000200/", "checkpoint-000300/", "checkpoint-000400/"]);
        assert_eq!(events.iter().filter(|v| is(v, "watch_run_stalled")).count(), 1);
        assert!(events.iter().all(|v| !is(v, "watch_run_finished")));
    }

    fn once_reports_what_is_there_and_exec_gets_the_event_without_credentials(b: &Backend) {
        let bucket = b.new_bucket("watch-exec");
        train(b, &bucket, "run", "hf", 2, 0.0, &[]);
        let dir = scratch();
        let hook = format!("env | grep -E '^(TRAINCTL_|AWS_)' | grep -v TRAINCTL_JSON > {}/$TRAINCTL_EVENT-$TRAINCTL_STEP.env", dir.path().display());
        let out = ok(b.trainctl().args(["--json", "s3", "watch", &s3(&bucket, "run/"), "--once", "--exec", &hook]));
        let events = json_lines(&out);
        assert_eq!(ids(&events, "watch_checkpoint"), ["checkpoint-100/", "checkpoint-200/"]);
        assert!(events.iter().any(|v| is(v, "watch_run_finished")), "max_steps reached: {events:?}");
        let env = read_eventually(&dir.path().join("watch_checkpoint-200.env"));
        assert!(env.contains("TRAINCTL_EVENT=watch_checkpoint"), "{env}");
        assert!(env.contains("TRAINCTL_KEY=checkpoint-200/"), "{env}");
        assert!(env.contains(&format!("TRAINCTL_URL=s3://{bucket}/run/checkpoint-200/")), "{env}");
        assert!(env.contains("TRAINCTL_STEP=200"), "{env}");
        assert!(!env.contains("AWS_SECRET_ACCESS_KEY") && !env.contains("AWS_ACCESS_KEY_ID"), "credentials leaked to --exec: {env}");
        read_eventually(&dir.path().join("watch_run_finished-200.env"));
    }
}

/// `--exec` children are not waited for: give them a moment to write.
fn read_eventually(path: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(s) = std::fs::read_to_string(path) {
            if !s.is_empty() {
                return s;
            }
        }
        assert!(Instant::now() < deadline, "{} was never written", path.display());
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn bad_watch_flags_fail_before_any_request() {
    let b = Backend::moto();
    let out = fails_with(b.trainctl().args(["s3", "watch", "not-a-url"]), 10);
    assert_error_shape(&out);
    fails_with(b.trainctl().args(["s3", "watch", "s3://bucket/p/", "--interval", "0"]), 2);
    fails_with(b.trainctl().args(["s3", "watch", "s3://bucket/p/", "--stall-after", "0.5"]), 2);
    fails_with(b.trainctl().args(["s3", "watch", "s3://bucket/p/", "--done-pattern", "("]), 2);
}

#[test]
fn once_on_a_bucket_that_does_not_exist_waits_instead_of_failing() {
    let b = Backend::moto();
    let out = ok(b.trainctl().args(["--json", "s3", "watch", "s3://no-such-bucket-watch/run/", "--once"]));
    let events = json_lines(&out);
    assert!(events.iter().any(|v| is(v, "watch_waiting")), "{events:?}");
}

#[test]
fn failed_polls_are_reported_and_retried_with_backoff_without_exiting() {
    let b = Backend::moto();
    let bucket = b.new_bucket("watch-creds");
    // An endpoint that stops answering (here: nothing listens): say so, back off, keep going.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let mut w = Watch::start_with(b.trainctl_via(&format!("http://{dead}")), &s3(&bucket, "run/"), &[]);
    let first = w.wait_for(Duration::from_secs(20), "a first watch_error", |v| is(v, "watch_error"));
    assert_eq!(first["failures"], 1, "{first}");
    assert!(first["error"]["hint"].as_str().is_some_and(|h| !h.is_empty()), "{first}");
    let third = w.wait_for(Duration::from_secs(20), "a third watch_error", |v| is(v, "watch_error") && v["failures"] == 3);
    assert_eq!(third["retry_in_secs"].as_f64(), Some(2.0), "0.5 s doubled per failure: {third}");
    assert_eq!(third["error"]["code"], "unreachable", "{third}");
    let events = w.stop();
    assert!(events.iter().all(|v| !is(v, "watch_started")), "no poll succeeded");
}

/// Credentials that stop working mid-watch (Garage only, the operator's way): first the key loses
/// its permission on the bucket and gets it back — each failed poll says so with the error's code
/// and hint, the wait doubles, the watch recovers and still reports the next checkpoint; then the
/// key is deleted for good (Garage never lets a deleted key id back) — the watch keeps saying so
/// and retrying, and exits cleanly on Ctrl-C.
#[test]
fn credentials_revoked_mid_watch_are_reported_retried_and_recovered_on_garage() {
    let Some(b) = Backend::garage() else { return };
    let Some(_) = garage_admin(b.server()) else { return };
    let admin = |args: &[&str]| stdout(&ok(garage_admin(b.server()).unwrap().args(args)));
    let bucket = format!("tk-garage-watch-creds-{}", std::process::id());
    admin(&["bucket", "create", &bucket]);
    admin(&["bucket", "allow", "--read", "--write", "--owner", &bucket, "--key", b.access_key()]);
    let info = admin(&["key", "create", &format!("watch-{bucket}")]);
    let field = |label: &str| {
        info.lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                (k.trim() == label).then(|| v.trim().to_string())
            })
            .unwrap_or_else(|| panic!("no {label} in {info}"))
    };
    let (id, secret) = (field("Key ID"), field("Secret key"));
    admin(&["bucket", "allow", "--read", &bucket, "--key", &id]);
    train(&b, &bucket, "run", "hf-padded", 1, 0.0, &["--max-steps", "100000"]);
    let mut cmd = b.trainctl();
    cmd.env("AWS_ACCESS_KEY_ID", &id).env("AWS_SECRET_ACCESS_KEY", &secret);
    let mut w = Watch::start_with(cmd, &s3(&bucket, "run/"), &["--stall-after", "1000"]);
    w.wait_for(Duration::from_secs(20), "watch_started", |v| is(v, "watch_started"));

    admin(&["bucket", "deny", "--read", &bucket, "--key", &id]);
    let first = w.wait_for(Duration::from_secs(20), "a first watch_error", |v| is(v, "watch_error"));
    assert_eq!(first["error"]["code"], "access_denied", "{first}");
    assert!(first["error"]["hint"].as_str().is_some_and(|h| !h.is_empty()), "{first}");
    let third = w.wait_for(Duration::from_secs(20), "a third watch_error", |v| is(v, "watch_error") && v["failures"] == 3);
    assert_eq!(third["retry_in_secs"].as_f64(), Some(2.0), "0.5 s doubled per failure: {third}");
    admin(&["bucket", "allow", "--read", &bucket, "--key", &id]);
    w.wait_for(Duration::from_secs(30), "watch_recovered", |v| is(v, "watch_recovered"));
    train(&b, &bucket, "run", "hf-padded", 1, 0.0, &["--first-index", "2", "--max-steps", "100000"]);
    w.wait_for(Duration::from_secs(15), "the next checkpoint", |v| is(v, "watch_checkpoint") && v["id"] == "checkpoint-000200/");

    admin(&["key", "delete", "--yes", &id]);
    w.wait_for(Duration::from_secs(20), "bad_access_key after the key is gone", |v| is(v, "watch_error") && v["error"]["code"] == "bad_access_key");
    w.wait_for(Duration::from_secs(20), "a second failure in a row", |v| is(v, "watch_error") && v["error"]["code"] == "bad_access_key" && v["failures"] == 2);
    let events = w.stop();
    assert_eq!(ids(&events, "watch_checkpoint"), ["checkpoint-000200/"], "reported once, after the recovery");
}

/// `--notify` sends each popup to the freedesktop notification service on the session D-Bus:
/// under Xvfb and a private bus (`xvfb-run … dbus-run-session`, dunst as the service, dbus-monitor
/// listening), `--once` on a run with two checkpoints sends "New checkpoint" calls naming them,
/// and "Run finished".
#[test]
fn notify_sends_popups_on_the_session_bus() {
    let tools = ["xvfb-run", "dbus-run-session", "dbus-monitor", "dunst"];
    if let Some(missing) = tools.iter().find(|t| which(t).is_none()) {
        eprintln!("skipped: {missing} not installed (scripts/setup.sh)");
        return;
    }
    let b = Backend::moto();
    let bucket = b.new_bucket("watch-notify");
    train(&b, &bucket, "run", "hf", 2, 0.0, &[]);
    let dir = scratch();
    let mon = dir.path().join("monitor.log");
    let script = format!(
        "dbus-monitor --session \"type=method_call,interface=org.freedesktop.Notifications,member=Notify\" > {mon} 2>&1 & m=$!; \
         dunst >/dev/null 2>&1 & d=$!; sleep 1; \"$@\"; s=$?; sleep 0.5; kill $m $d; exit $s",
        mon = mon.display()
    );
    let cmd = b.trainctl();
    let envs: Vec<_> = cmd.get_envs().filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned()))).collect();
    let mut run = Command::new("xvfb-run");
    run.env_clear().envs(envs).args(["-a", "dbus-run-session", "--", "sh", "-c", &script, "sh"]).arg(cmd.get_program());
    run.args(["s3", "watch", &s3(&bucket, "run/"), "--once", "--notify"]).stdin(Stdio::null());
    let out = ok(&mut run);
    let log = std::fs::read_to_string(&mon).unwrap_or_default();
    assert!(log.contains("New checkpoint") && log.contains("checkpoint-200/"), "no Notify call for checkpoint-200/ on the bus:\n{log}\n{}", stderr(&out));
    assert!(log.contains("Run finished"), "no Notify call for the finished run:\n{log}");
    assert!(!stderr(&out).contains("going on without popups"), "{}", stderr(&out));
}

fn which(tool: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|p| std::env::split_paths(&p).map(|d| d.join(tool)).find(|f| f.is_file()))
}
