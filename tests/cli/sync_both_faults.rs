//! Two-way sync interrupted and misused: a pass killed at each phase (uploads, downloads) at
//! process level and cut off by the fault proxy, then rerun — nothing lost, converged, only the
//! rest moved; and the bad-input cases, each one readable line, a distinct exit code, nothing
//! changed.

use crate::common::*;
use crate::sync_both::{done, P};
use std::process::Stdio;
use std::time::{Duration, Instant};
use trainctl_testkit::FaultProxy;

/// The pair's state folder (snapshots, journal, lock) under this test's HOME.
fn state_dir(p: &P) -> std::path::PathBuf {
    let root = p.b.home().join(".local/state/trainctl/sync");
    std::fs::read_dir(&root).unwrap().flatten().find(|e| std::fs::read_to_string(e.path().join("pair.json")).is_ok_and(|s| s.contains(&p.bucket))).expect("pair state").path()
}

/// Starts a pass through a slow proxy, kills it (SIGKILL) once its journal holds `after`
/// completed items, and returns how many it had.
fn kill_mid_pass(p: &P, after: usize) -> usize {
    let mut cmd = p.sync(&["--concurrency", "2"]);
    let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let start = Instant::now();
    let state = p.b.home().join(".local/state/trainctl/sync");
    loop {
        let lines = std::fs::read_dir(&state).ok().into_iter().flatten().flatten().map(|e| std::fs::read_to_string(e.path().join("journal")).map(|s| s.lines().count()).unwrap_or(0)).max().unwrap_or(0);
        if lines > after {
            child.kill().unwrap();
            child.wait().unwrap();
            return lines - 1;
        }
        assert!(child.try_wait().unwrap().is_none(), "the pass ended before it could be killed");
        assert!(start.elapsed() < Duration::from_secs(60), "the journal never grew");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn many(p: &P, n: usize, local: bool) {
    for i in 0..n {
        let (k, v) = (format!("{}/{i:03}.txt", if local { "l" } else { "r" }), format!("content {i}"));
        if local { p.write(&k, &v) } else { p.put(&k, &v) }
    }
}

conformance! {
    fn a_pass_killed_during_uploads_finishes_next_time(b: &Backend) {
        let proxy = FaultProxy::start(b.socket_addr()).unwrap();
        let p = P { via: Some(proxy.url()), ..P::new(b, "killup") };
        p.write("seed.txt", "s");
        ok(&mut p.sync(&[]));
        many(&p, 60, true);
        proxy.set_rtt(Duration::from_millis(20));
        let journalled = kill_mid_pass(&p, 5);
        proxy.set_rtt(Duration::ZERO);
        assert!(state_dir(&p).join("journal").exists(), "the killed pass left its journal");
        let out = ok(&mut p.sync(&[]));
        assert!(stdout(&out).contains("finishing an interrupted pass"), "{}", stdout(&out));
        let d = done(&out);
        assert!(d["uploaded"].as_u64().unwrap() <= (60 - journalled) as u64, "only the rest moved: {d} (journalled {journalled})");
        assert_eq!(p.local(), p.remote(), "converged");
        assert_eq!(p.local().len(), 61);
        assert!(!stdout(&out).contains("\"conflict\""), "no conflict from the interruption: {}", stdout(&out));
    }

    fn a_pass_killed_during_downloads_finishes_next_time(b: &Backend) {
        let proxy = FaultProxy::start(b.socket_addr()).unwrap();
        let p = P { via: Some(proxy.url()), ..P::new(b, "killdown") };
        p.write("seed.txt", "s");
        ok(&mut p.sync(&[]));
        many(&p, 60, false);
        proxy.set_rtt(Duration::from_millis(20));
        kill_mid_pass(&p, 5);
        proxy.set_rtt(Duration::ZERO);
        let out = ok(&mut p.sync(&[]));
        assert_eq!(p.local(), p.remote(), "converged");
        assert_eq!(p.local().len(), 61);
        assert!(!stdout(&out).contains("\"conflict\""), "{}", stdout(&out));
        // A killed download leaves at most a hidden temp file, never a partial file under a real name.
        let leftovers: Vec<String> = local_files(p.root()).into_iter().filter(|f| f.contains("trainctl-part")).collect();
        assert!(leftovers.iter().all(|f| f.rsplit('/').next().unwrap().starts_with('.')), "{leftovers:?}");
    }

    fn a_pass_cut_off_by_the_network_finishes_next_time(b: &Backend) {
        let proxy = FaultProxy::start(b.socket_addr()).unwrap();
        let p = P { via: Some(proxy.url()), ..P::new(b, "cut") };
        p.write("seed.txt", "s");
        ok(&mut p.sync(&[]));
        many(&p, 30, true);
        many(&p, 30, false);
        proxy.set_rtt(Duration::from_millis(10));
        let mut cmd = p.sync(&["--concurrency", "2"]);
        cmd.env("TRAINCTL_ATTEMPT_TIMEOUT", "2s").env("TRAINCTL_OPERATION_TIMEOUT", "4s").env("TRAINCTL_RETRY_ATTEMPTS", "1");
        let child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        // Let a few items through, then the link goes silent (a half-open peer).
        let start = Instant::now();
        while proxy.bytes_upstream() < 20_000 && start.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(2));
        }
        proxy.set_black_hole(true);
        let out = child.wait_with_output().unwrap();
        assert_ne!(out.status.code(), Some(0), "the pass cannot succeed without the network");
        proxy.set_black_hole(false);
        proxy.set_rtt(Duration::ZERO);
        let again = ok(&mut p.sync(&[]));
        assert_eq!(p.local().len(), 61, "{}\n{}\nfirst:\n{}", stdout(&again), stderr(&again), String::from_utf8_lossy(&out.stdout));
        assert_eq!(p.local(), p.remote(), "converged");
    }

    fn a_missing_local_folder_is_said_and_created_on_request(b: &Backend) {
        let p = P::new(b, "missing");
        p.put("a.txt", "a");
        let gone = p.path("not-there");
        let mut cmd = b.trainctl();
        cmd.args(["s3", "sync"]).arg(&gone).arg(p.url()).args(["--direction", "both", "--yes"]);
        let out = fails_with(&mut cmd, 13);
        assert_error_shape(&out);
        assert!(stderr(&out).contains("--create"), "{}", stderr(&out));
        assert!(!gone.exists());
        ok(b.trainctl().args(["s3", "sync"]).arg(&gone).arg(p.url()).args(["--direction", "both", "--yes", "--create"]));
        assert_eq!(std::fs::read(gone.join("a.txt")).unwrap(), b"a");
    }

    fn both_sides_empty_is_said(b: &Backend) {
        let p = P::new(b, "empty");
        let out = fails_with(b.trainctl().args(["s3", "sync"]).arg(p.root()).arg(p.url()).args(["--direction", "both", "--yes"]), 66);
        assert_error_shape(&out);
    }

    fn a_corrupt_snapshot_is_refused_and_resync_starts_afresh(b: &Backend) {
        let p = P::new(b, "corrupt");
        p.write("a.txt", "a");
        ok(&mut p.sync(&[]));
        let snap = state_dir(&p).join("local.snap");
        let text = std::fs::read_to_string(&snap).unwrap();
        std::fs::write(&snap, text.replace("a.txt", "b.txt")).unwrap();
        p.write("new.txt", "n");
        let out = fails_with(b.trainctl().args(["s3", "sync"]).arg(p.root()).arg(p.url()).args(["--direction", "both", "--yes"]), 61);
        assert_error_shape(&out);
        assert!(stderr(&out).contains("--resync"), "{}", stderr(&out));
        assert_eq!(p.remote().len(), 1, "nothing changed");
        ok(&mut p.sync(&["--resync"]));
        assert_eq!(p.local(), p.remote());
    }

    fn a_snapshot_of_another_pair_is_refused(b: &Backend) {
        let p = P::new(b, "otherpair");
        p.write("a.txt", "a");
        ok(&mut p.sync(&[]));
        let q = P::new(b, "otherpair2");
        q.write("b.txt", "b");
        ok(&mut q.sync(&[]));
        std::fs::copy(state_dir(&p).join("remote.snap"), state_dir(&q).join("remote.snap")).unwrap();
        let out = fails_with(b.trainctl().args(["s3", "sync"]).arg(q.root()).arg(q.url()).args(["--direction", "both", "--yes"]), 61);
        assert!(stderr(&out).contains("another pair"), "{}", stderr(&out));
    }

    fn deletions_are_asked_for_and_refused_without_a_terminal(b: &Backend) {
        let p = P::new(b, "ask");
        for f in ["a", "b", "c", "d"] { p.write(f, f); }
        ok(&mut p.sync(&[]));
        p.rm("a");
        p.write("new", "n");
        let out = fails_with(b.trainctl().args(["s3", "sync"]).arg(p.root()).arg(p.url()).args(["--direction", "both", "--grace", "0"]), 4);
        assert!(stdout(&out).contains("delete") && stdout(&out).contains("/a"), "the deletion is shown first: {}", stdout(&out));
        assert_eq!(p.remote().len(), 4, "nothing changed: {:?}", p.remote());
    }

    fn a_read_only_folder_fails_the_downloads_and_keeps_the_snapshot_true(b: &Backend) {
        use std::os::unix::fs::PermissionsExt;
        if unsafe_is_root() { eprintln!("SKIPPED (root ignores folder permissions)"); return; }
        let p = P::new(b, "readonly");
        p.write("a.txt", "a");
        ok(&mut p.sync(&[]));
        p.put("from-s3.txt", "s");
        p.write("local-new.txt", "l");
        std::fs::set_permissions(p.root(), std::fs::Permissions::from_mode(0o555)).unwrap();
        let out = fails_with(&mut p.sync(&[]), 3);
        std::fs::set_permissions(p.root(), std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(p.remote().len(), 3, "the upload still went: {}", stderr(&out));
        ok(&mut p.sync(&[]));
        assert_eq!(p.local(), p.remote());
    }

    fn another_running_pass_holds_the_pair(b: &Backend) {
        let p = P::new(b, "locked");
        p.write("a.txt", "a");
        ok(&mut p.sync(&[]));
        let lock = state_dir(&p).join("lock");
        let mut holder = std::process::Command::new("flock").arg(&lock).args(["sleep", "30"]).spawn().expect("flock(1)");
        std::thread::sleep(Duration::from_millis(300));
        let out = fails_with(&mut p.sync(&[]), 62);
        holder.kill().unwrap();
        holder.wait().unwrap();
        assert!(stdout(&out).contains("sync_locked"), "{}", stdout(&out));
    }

    fn bad_flags_are_usage_errors_that_change_nothing(b: &Backend) {
        let p = P::new(b, "flags");
        p.write("a.txt", "a");
        for extra in [&["--conflict", "mine"][..], &["--max-delete", "lots"], &["--max-delete", "150%"], &["--engine", "s5cmd"], &["--delete"], &["--interval", "0"]] {
            let out = fails_with(b.trainctl().args(["s3", "sync"]).arg(p.root()).arg(p.url()).args(["--direction", "both", "--yes"]).args(extra), 2);
            assert_error_shape(&out);
        }
        fails_with(b.trainctl().args(["s3", "sync"]).arg(p.root()).arg(p.url()).args(["--direction", "up", "--force"]), 2);
        assert!(p.remote().is_empty());
    }

    fn watch_mode_follows_both_sides_until_stopped(b: &Backend) {
        let p = P::new(b, "watch");
        p.write("a.txt", "a");
        p.write("b.txt", "b");
        p.write("c.txt", "c");
        let child = p.sync(&["--watch", "--interval", "1"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        let mut child = Killed(child);
        eventually("the first pass uploads", || p.remote().len() == 3);
        p.write("l/new.txt", "from the laptop");
        eventually("a local change is uploaded (file-system event)", || p.remote().get("l/new.txt").map(String::as_str) == Some("from the laptop"));
        p.put("r/new.txt", "from the cluster");
        eventually("a remote change is downloaded (poll)", || p.local().get("r/new.txt").map(String::as_str) == Some("from the cluster"));
        p.rm("a.txt");
        // By listing alone: `remote()` GETs each listed key, and the watcher deletes a.txt in between.
        eventually("a local delete reaches S3 (--yes agreed to deletions)", || !p.remote_names().iter().any(|n| n == "a.txt"));
        assert!(child.0.try_wait().unwrap().is_none(), "--watch keeps running");
        child.0.kill().unwrap();
        child.0.wait().unwrap();
        assert_eq!(p.local(), p.remote(), "converged");
    }
}

fn unsafe_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| s.lines().any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0")))
}

/// Polls `cond` every 100 ms for up to 40 s (a --watch pass waits 2 s of quiet after a local
/// change, and polls S3 every --interval).
fn eventually(what: &str, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < Duration::from_secs(40), "not reached in 40 s: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Kills the child when the test ends, passed or not.
struct Killed(std::process::Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// AccessDenied on one deletion (moto enforcing an IAM policy that denies DeleteObject under
/// `pair/keep/`): that item fails with its own error, the other deletion goes on, the pass
/// exits 3, and the snapshot stays true — the next pass tries exactly that deletion again and
/// neither re-downloads the file nor touches the rest.
#[test]
fn access_denied_on_one_delete_fails_that_item_and_the_rest_goes_on() {
    const POLICY: &str = r#"{"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "arn:aws:s3:::*/pair/keep/*"}]}"#;
    let moto = trainctl_testkit::start_moto_with_policy(POLICY).expect("start a policy-enforcing moto");
    let server = &moto.server;
    let bucket = server.new_bucket("sync-denied");
    let (dir, home) = (scratch(), scratch());
    for f in ["a.txt", "c.txt", "d.txt", "e.txt", "keep/b.txt"] {
        std::fs::create_dir_all(dir.path().join(f).parent().unwrap()).unwrap();
        std::fs::write(dir.path().join(f), f).unwrap();
    }
    let pass = || {
        let mut cmd = trainctl_with(server, &server.endpoint_url(), home.path());
        cmd.envs(moto.user_env()).args(["--json", "s3", "sync"]).arg(dir.path()).arg(format!("s3://{bucket}/pair/")).args(["--direction", "both", "--yes", "--grace", "0"]);
        cmd
    };
    ok(&mut pass());
    assert_eq!(server.list_keys(&bucket, "pair/").len(), 5);
    std::fs::remove_file(dir.path().join("keep/b.txt")).unwrap();
    std::fs::remove_file(dir.path().join("c.txt")).unwrap();
    let out = fails_with(&mut pass(), 3);
    let d = done(&out);
    assert_eq!(d["deleted_remote"], 1, "{d}");
    let failed = d["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 1, "{d}");
    assert_eq!((failed[0]["path"].as_str(), failed[0]["error"]["code"].as_str()), (Some("keep/b.txt"), Some("access_denied")), "{d}");
    let keys = server.list_keys(&bucket, "pair/");
    assert!(keys.contains(&"pair/keep/b.txt".to_string()) && !keys.contains(&"pair/c.txt".to_string()), "{keys:?}");
    // The snapshot still holds the denied object as it was: the next pass tries that deletion
    // again, and only that.
    let out = fails_with(&mut pass(), 3);
    let d = done(&out);
    assert_eq!((d["deleted_remote"].as_u64(), d["downloaded"].as_u64(), d["uploaded"].as_u64()), (Some(0), Some(0), Some(0)), "{d}");
    assert_eq!(d["failed"].as_array().unwrap().len(), 1, "{d}");
    assert!(!dir.path().join("keep/b.txt").exists(), "the deleted file is not brought back");
}
