//! What only the native (aws-sdk-s3) engine has, against a real moto_server: `verify_download`,
//! a changed file restarting its multipart upload, resume state cleaned up, disk full. What
//! every engine must do (round trips, progress, resume, integrity, hostile keys, faults) is in
//! `conformance.rs`.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::OnceLock;

use trainctl_core::event::{CollectSink, Direction, Event};
use trainctl_core::s3::Connection;
use trainctl_core::transfer::native::NativeEngine;
use trainctl_core::transfer::verify::{verify_download, Verified};
use trainctl_core::transfer::{Engine, Outcome, TransferItem, TransferJob, TransferOptions};
use trainctl_core::{Error, Result};
use trainctl_testkit::{random_file, shared_moto, FaultProxy, HttpAction, HttpFault, S3Server};
use tokio_util::sync::CancellationToken;

mod common;
use common::cancelling_sink;

const MIB: u64 = 1024 * 1024;

/// One state dir for the whole test process, set before any engine reads it.
fn state_dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = tempfile::tempdir().unwrap();
        // Done once, before any engine of this process reads the variable.
        std::env::set_var("TRAINCTL_STATE_DIR", d.path());
        d
    })
    .path()
}

fn connection(server: &S3Server) -> Connection {
    connection_to(server, &server.endpoint_url())
}

fn connection_to(server: &S3Server, endpoint: &str) -> Connection {
    state_dir();
    common::connection_to(server, endpoint)
}

fn opts(part_size: u64, concurrency: usize) -> TransferOptions {
    let mut o = TransferOptions::default();
    (o.concurrency, o.part_size, o.verify_checksum) = (concurrency, part_size, true);
    o
}

fn upload_job(bucket: &str, root: &Path, prefix: &str) -> TransferJob {
    let mut job = TransferJob::new(Direction::Upload, bucket, root);
    for entry in walkdir::WalkDir::new(root).sort_by_file_name() {
        let entry = entry.unwrap();
        if entry.file_type().is_file() {
            let rel = entry.path().strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
            let size = entry.metadata().unwrap().len();
            job.items.push(TransferItem { local: entry.path().to_path_buf(), key: format!("{prefix}{rel}"), size, etag: None, write_if: None });
        }
    }
    job
}

/// A download job of everything under `prefix`, with sizes and ETags from the listing (as a
/// plan would have them).
async fn download_job(conn: &Connection, bucket: &str, prefix: &str, dest: &Path) -> TransferJob {
    let mut job = TransferJob::new(Direction::Download, bucket, dest);
    let out = conn.client.list_objects_v2().bucket(bucket).prefix(prefix).send().await.unwrap();
    for o in out.contents() {
        let key = o.key().unwrap().to_string();
        let local = dest.join(key.strip_prefix(prefix).unwrap());
        job.items.push(TransferItem { local, key, size: o.size().unwrap() as u64, etag: o.e_tag().map(str::to_string), write_if: None });
    }
    job
}

async fn run(engine: &NativeEngine, job: &TransferJob, o: &TransferOptions) -> (Result<Outcome>, Vec<Event>) {
    timed_run(engine, job, o).await.0
}

/// [`run`], and how long the transfer took (the intermediate-progress check depends on it).
async fn timed_run(engine: &NativeEngine, job: &TransferJob, o: &TransferOptions) -> ((Result<Outcome>, Vec<Event>), std::time::Duration) {
    let sink = CollectSink::default();
    let started = std::time::Instant::now();
    let r = engine.run(job, o, &sink, CancellationToken::new()).await;
    ((r, sink.events()), started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_download_checks_plain_and_multipart_etags_and_catches_corruption() {
    let server = shared_moto();
    let conn = connection(server);
    let bucket = server.new_bucket("native-verify");
    let src = tempfile::tempdir().unwrap();
    random_file(&src.path().join("plain.bin"), 2 * MIB + 5);
    random_file(&src.path().join("multi.bin"), 11 * MIB + 5);
    let engine = NativeEngine::new(conn.clone());
    run(&engine, &upload_job(&bucket, src.path(), ""), &opts(5 * MIB, 4)).await.0.unwrap();

    for name in ["plain.bin", "multi.bin"] {
        let path = src.path().join(name);
        let head = conn.client.head_object().bucket(&bucket).key(name).send().await.unwrap();
        let (size, etag) = (head.content_length().unwrap() as u64, head.e_tag().map(str::to_string));
        let ok = verify_download(&conn, &bucket, name, &path, size, etag.as_deref()).await.unwrap();
        assert!(matches!(ok, Verified::Etag { .. } | Verified::Stored(_)), "{name}: {ok:?}");
        // Same size, one byte flipped: only the checksum can tell.
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[size as usize / 2] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        let err = verify_download(&conn, &bucket, name, &path, size, etag.as_deref()).await.unwrap_err();
        assert!(matches!(err, Error::Integrity { .. }), "{name}: {err:?}");
    }
}

fn state_files() -> usize {
    std::fs::read_dir(state_dir()).map(|d| d.filter_map(|e| e.ok()).filter(|e| e.path().extension().is_some_and(|x| x == "json")).count()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_file_restarts_the_upload_and_aborts_the_stale_one() {
    let server = shared_moto();
    // Through a proxy that swallows the last part's request: the first run cannot finish before
    // its cancel lands (on loopback all 6 parts and the completion can go out between two
    // progress samples), so the cancel always finds the multipart upload open. Both runs use
    // the proxy's endpoint, the one the resume state is kept under.
    let proxy = FaultProxy::start(server.socket_addr()).unwrap();
    let last_part = HttpFault { method: Some("PUT".into()), target_contains: Some("partNumber=6".into()), header_contains: None, probability: 1.0, action: HttpAction::BlackHole };
    proxy.set_http_faults(vec![last_part]);
    let bucket = server.new_bucket("native-restart");
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("weights.bin");
    random_file(&file, 30 * MIB);
    let job = upload_job(&bucket, src.path(), "");
    let o = opts(5 * MIB, 2);

    let token = CancellationToken::new();
    let (sink, _events) = cancelling_sink(token.clone(), 10 * MIB);
    let r = NativeEngine::new(connection_to(server, &proxy.url())).run(&job, &o, &sink, token).await;
    assert!(matches!(r, Err(Error::Cancelled)), "{r:?}");
    assert!(server.try_get_object(&bucket, "weights.bin").is_err(), "no partial object");
    assert_eq!(server.list_multipart_uploads(&bucket).len(), 1);

    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(&file, vec![42u8; (30 * MIB) as usize]).unwrap();
    // Connections opened from now on are not inspected; a new client opens new ones.
    proxy.set_http_faults(Vec::new());
    let again = NativeEngine::new(connection_to(server, &proxy.url()));
    assert_eq!(run(&again, &job, &o).await.0.unwrap().done, 1);
    assert_eq!(again.stats().parts_resumed.load(Ordering::Relaxed), 0);
    assert_eq!(server.get_object(&bucket, "weights.bin"), vec![42u8; (30 * MIB) as usize]);
    assert!(server.list_multipart_uploads(&bucket).is_empty(), "the stale upload was aborted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completed_uploads_leave_no_resume_state() {
    let server = shared_moto();
    let conn = connection(server);
    let bucket = server.new_bucket("native-state");
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("x.bin");
    random_file(&file, 11 * MIB);
    let engine = NativeEngine::new(conn);
    run(&engine, &upload_job(&bucket, src.path(), "state-test/"), &opts(5 * MIB, 2)).await.0.unwrap();
    let mine = std::fs::read_dir(state_dir())
        .map(|d| d.filter_map(|e| e.ok()).filter(|e| std::fs::read_to_string(e.path()).unwrap_or_default().contains(&bucket)).count())
        .unwrap_or(0);
    assert_eq!(mine, 0, "state file of a completed upload is removed ({} files in the dir)", state_files());
}

/// A 1 MiB tmpfs, unmounted on drop. `None` when mounting is not allowed here.
struct SmallDisk(tempfile::TempDir);

impl SmallDisk {
    fn mount() -> Option<SmallDisk> {
        let dir = tempfile::tempdir().ok()?;
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .ok()?;
        status.success().then_some(SmallDisk(dir))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(self.0.path()).status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_full_download_fails_with_disk_full_and_removes_the_temp_file() {
    let Some(disk) = SmallDisk::mount() else {
        eprintln!("SKIPPED: cannot mount a tmpfs here (needs root)");
        return;
    };
    let server = shared_moto();
    let conn = connection(server);
    let bucket = server.new_bucket("native-diskfull");
    server.put_object(&bucket, "small.bin", vec![1u8; 3 * MIB as usize]);
    server.put_object(&bucket, "ranged.bin", vec![2u8; 12 * MIB as usize]);
    for key in ["small.bin", "ranged.bin"] {
        let mut job = download_job(&conn, &bucket, "", disk.0.path()).await;
        job.items.retain(|i| i.key == key);
        let (r, _) = run(&NativeEngine::new(conn.clone()), &job, &opts(5 * MIB, 2)).await;
        assert!(matches!(r, Err(Error::DiskFull(_))), "{key}: {r:?}");
        let left: Vec<_> = std::fs::read_dir(disk.0.path()).unwrap().collect();
        assert!(left.is_empty(), "{key}: nothing may be left behind: {left:?}");
    }
}
