//! Interrupted transfers, provoked by a `FaultProxy` that resets every connection mid-way (and
//! keeps resetting new ones until the client gives up): no partial object or file is ever
//! visible, and a rerun completes — resuming the multipart upload with the native engine.

use crate::common::*;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const MIB: u64 = 1024 * 1024;
const SIZE: u64 = 60 * MIB;
/// Part size and concurrency that make parts complete one after another, so a cut lands
/// after some parts are done and before the last.
const SLOW: &[&str] = &["--part-size", "5", "--concurrency", "2"];

/// Keeps the proxy cutting every connection once `trigger` holds, until dropped: a client's
/// retries then fail too, as on a link that went down.
struct Outage {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Outage {
    fn when(proxy: Arc<FaultProxy>, trigger: impl Fn(&FaultProxy) -> bool + Send + 'static) -> Outage {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut down = false;
            while !flag.load(Ordering::Relaxed) {
                down = down || trigger(&proxy);
                if down {
                    proxy.cut_after_upstream_bytes(0);
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            proxy.disarm_cut();
        });
        Outage { stop, thread: Some(thread) }
    }
}

impl Drop for Outage {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Runs `cmd` with output to files (no pipe stalls). A client still retrying after `patience`
/// gets Ctrl-C (SIGINT), as a user would give up on a dead link; SIGKILL only as a last resort
/// (it would orphan s5cmd, which runs in its own process group).
fn run_bounded(cmd: &mut Command, patience: Duration) -> Output {
    let dir = scratch();
    let (out_path, err_path) = (dir.path().join("stdout"), dir.path().join("stderr"));
    let mut child = cmd
        .stdout(Stdio::from(std::fs::File::create(&out_path).unwrap()))
        .stderr(Stdio::from(std::fs::File::create(&err_path).unwrap()))
        .spawn()
        .expect("spawn trainctl");
    let start = Instant::now();
    let mut interrupted = false;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if !interrupted && start.elapsed() > patience {
            trainctl_testkit::interrupt(&child);
            interrupted = true;
        }
        if start.elapsed() > patience + Duration::from_secs(20) {
            child.kill().unwrap();
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    eprintln!("interrupted run: {status} after {:?} (Ctrl-C sent: {interrupted})", start.elapsed());
    Output { status, stdout: std::fs::read(out_path).unwrap(), stderr: std::fs::read(err_path).unwrap() }
}

fn assert_interrupted(out: &Output, proxy: &FaultProxy, what: &str) {
    assert!(proxy.cuts() >= 1, "{what}: the proxy never cut");
    assert!(!out.status.success(), "{what}: succeeded despite the outage\n{}\n{}", stdout(out), stderr(out));
}

fn same_bytes(path: &Path, want: &[u8]) -> bool {
    std::fs::read(path).map(|got| got == want).unwrap_or(false)
}

conformance! {
    fn an_upload_cut_mid_way_leaves_no_object_and_the_native_rerun_resumes(b: &Backend) {
        let bucket = b.new_bucket("cutup");
        let dir = scratch();
        let file = dir.path().join("ckpt.bin");
        random_file(&file, SIZE);
        let proxy = Arc::new(FaultProxy::start(b.socket_addr()).unwrap());
        let url = s3(&bucket, "run/ckpt.bin");
        let upload = || {
            let mut c = b.trainctl_via(&proxy.url());
            c.args(["--json", "s3", "upload"]).arg(&file).arg(&url).args(["--engine", "native"]).args(SLOW);
            c
        };
        let out = {
            let _outage = Outage::when(proxy.clone(), |p| p.bytes_upstream() > 30 * MIB);
            run_bounded(&mut upload(), Duration::from_secs(60))
        };
        assert_interrupted(&out, &proxy, "native upload");
        assert!(b.list_keys(&bucket, "run/").is_empty(), "a partial object is visible");

        proxy.disarm_cut();
        proxy.reset_counters();
        let out = ok(&mut upload());
        let sent = proxy.bytes_upstream();
        eprintln!("resumed upload sent {sent} of {SIZE} bytes");
        assert!(sent < SIZE - 10 * MIB, "the rerun sent {sent} bytes of a {SIZE}-byte file: it did not resume\n{}", stdout(&out));
        assert_eq!(b.list_objects(&bucket, "run/"), vec![("run/ckpt.bin".to_string(), SIZE)]);
        assert!(b.get_object(&bucket, "run/ckpt.bin") == std::fs::read(&file).unwrap(), "resumed object differs");
        assert!(b.list_multipart_uploads(&bucket).is_empty(), "a multipart upload was left behind");
    }

    fn an_s5cmd_upload_cut_mid_way_leaves_no_object_and_a_rerun_completes(b: &Backend) {
        let bucket = b.new_bucket("cuts5");
        let dir = scratch();
        let file = dir.path().join("ckpt.bin");
        random_file(&file, SIZE);
        let proxy = Arc::new(FaultProxy::start(b.socket_addr()).unwrap());
        let url = s3(&bucket, "run/ckpt.bin");
        let upload = || {
            let mut c = b.trainctl_via(&proxy.url());
            c.args(["--json", "s3", "upload"]).arg(&file).arg(&url).args(["--engine", "s5cmd"]).args(SLOW);
            c
        };
        let out = {
            let _outage = Outage::when(proxy.clone(), |p| p.bytes_upstream() > 30 * MIB);
            run_bounded(&mut upload(), Duration::from_secs(6))
        };
        assert_interrupted(&out, &proxy, "s5cmd upload");
        assert!(b.list_keys(&bucket, "run/").is_empty(), "a partial object is visible");
        ok(&mut upload());
        assert!(b.get_object(&bucket, "run/ckpt.bin") == std::fs::read(&file).unwrap(), "object differs");
    }

    fn a_download_cut_mid_way_leaves_no_file_at_the_final_path_and_a_rerun_completes(b: &Backend) {
        let bucket = b.new_bucket("cutdown");
        let body = pattern_bytes("download", SIZE as usize);
        b.put_object(&bucket, "run/ckpt.bin", body.clone());
        for engine in ENGINES {
            let dir = scratch();
            let dest = dir.path().join("ckpt.bin");
            let proxy = Arc::new(FaultProxy::start(b.socket_addr()).unwrap());
            let download = || {
                let mut c = b.trainctl_via(&proxy.url());
                c.args(["--json", "s3", "download", &s3(&bucket, "run/ckpt.bin")]).arg(&dest).args(["--engine", engine]).args(SLOW);
                c
            };
            let out = {
                let _outage = Outage::when(proxy.clone(), |p| p.bytes_downstream() > 20 * MIB);
                run_bounded(&mut download(), Duration::from_secs(6))
            };
            assert_interrupted(&out, &proxy, engine);
            assert!(!dest.exists() || same_bytes(&dest, &body), "engine {engine}: a partial file at the final path");
            ok(&mut download());
            assert!(same_bytes(&dest, &body), "engine {engine}: downloaded file differs");
            assert_eq!(local_files(dir.path()), vec!["ckpt.bin"], "engine {engine}: temp files left behind");
        }
    }
}
