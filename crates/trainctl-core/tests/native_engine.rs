//! The native (aws-sdk-s3) engine against a real moto_server: round trips, progress,
//! verification of downloads, resume of interrupted multipart uploads, disk full.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::OnceLock;

use trainctl_core::config::{CredentialSource, ResolvedProfile};
use trainctl_core::event::{CollectSink, Direction, Event};
use trainctl_core::s3::Connection;
use trainctl_core::transfer::native::NativeEngine;
use trainctl_core::transfer::verify::{verify_download, Verified};
use trainctl_core::transfer::{Engine, Outcome, TransferItem, TransferJob, TransferOptions};
use trainctl_core::{Error, Result};
use trainctl_testkit::{random_file, shared_moto, S3Server};
use tokio_util::sync::CancellationToken;

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
    let profile = ResolvedProfile {
        name: "test".into(),
        provider: server.kind().name().into(),
        endpoint_url: Some(endpoint.to_string()),
        region: server.region().to_string(),
        path_style: true,
        checksum_when_required: true,
        credentials: CredentialSource::AwsChain,
        prices: None,
    };
    Connection { client: server.client_for(endpoint), profile, credentials: None }
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

fn progress_values(events: &[Event]) -> Vec<u64> {
    events.iter().filter_map(|e| if let Event::Progress(p) = e { Some(p.bytes_done) } else { None }).collect()
}

/// Progress never goes backwards and ends at the total; a transfer that lasted several emit
/// intervals must also have reported something in between. (A fast machine moves the test's
/// 108 MB between two samples, so the last check is tied to the measured duration, not assumed.)
fn assert_progress_monotonic_with_intermediates(events: &[Event], total: u64, took: std::time::Duration) {
    let values = progress_values(events);
    assert!(values.windows(2).all(|w| w[0] <= w[1]), "progress went backwards: {values:?}");
    assert_eq!(*values.last().unwrap(), total, "final progress");
    if took >= 5 * trainctl_core::transfer::progress::EMIT_INTERVAL {
        assert!(values.iter().any(|v| *v > 0 && *v < total), "no intermediate progress in {took:?}: {values:?}");
    }
}

fn temp_leftovers(dir: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".trainctl-part"))
        .map(|e| e.path().to_path_buf())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_then_download_round_trips_files_byte_for_byte() {
    round_trip(shared_moto()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garage_round_trip_and_resume() {
    let Some(server) = trainctl_testkit::shared_garage_or_skip() else { return };
    round_trip(server).await;
    resume_after_cancel(server).await;
}

async fn round_trip(server: &S3Server) {
    let conn = connection(server);
    let bucket = server.new_bucket("native-roundtrip");
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("empty.bin"), b"").unwrap();
    std::fs::create_dir_all(src.path().join("run 1/ckpt")).unwrap();
    random_file(&src.path().join("run 1/small.txt"), 1000);
    random_file(&src.path().join("run 1/ckpt/mid.bin"), 3 * MIB + 7);
    random_file(&src.path().join("run 1/ckpt/big.bin"), 100 * MIB + 123);
    let engine = NativeEngine::new(conn.clone());
    let o = opts(8 * MIB, 8);

    let job = upload_job(&bucket, src.path(), "exp/");
    let ((r, events), took) = timed_run(&engine, &job, &o).await;
    let outcome = r.unwrap();
    assert_eq!((outcome.done, outcome.failed.len()), (4, 0), "{:?}", outcome.failed);
    assert_eq!(events.iter().filter(|e| matches!(e, Event::ObjectDone { .. })).count(), 4);
    assert_progress_monotonic_with_intermediates(&events, job.bytes_total(), took);
    assert_eq!(engine.stats().parts_uploaded.load(Ordering::Relaxed), 13, "100 MiB in 8 MiB parts");
    let big = conn.client.head_object().bucket(&bucket).key("exp/run 1/ckpt/big.bin").send().await.unwrap();
    assert!(big.e_tag().unwrap().trim_matches('"').ends_with("-13"), "multipart ETag: {:?}", big.e_tag());

    let dest = tempfile::tempdir().unwrap();
    let job = download_job(&conn, &bucket, "exp/", dest.path()).await;
    assert_eq!(job.items.len(), 4);
    let ((r, events), took) = timed_run(&engine, &job, &o).await;
    let outcome = r.unwrap();
    assert_eq!((outcome.done, outcome.failed.len()), (4, 0), "{:?}", outcome.failed);
    assert_progress_monotonic_with_intermediates(&events, job.bytes_total(), took);
    let size_only: Vec<_> = events.iter().filter(|e| matches!(e, Event::Notice { message } if message.contains("size only"))).collect();
    assert!(size_only.is_empty(), "every download is checked by MD5 / multipart ETag: {size_only:?}");
    trainctl_testkit::assert_trees_equal(src.path(), dest.path());
    assert!(temp_leftovers(dest.path()).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_of_an_object_changed_since_the_plan_fails_integrity_and_leaves_no_file() {
    let server = shared_moto();
    let conn = connection(server);
    let bucket = server.new_bucket("native-changed");
    server.put_object(&bucket, "d/etag.bin", vec![1u8; 1000]);
    server.put_object(&bucket, "d/size.bin", vec![2u8; 1000]);
    server.put_object(&bucket, "d/big.bin", vec![3u8; (12 * MIB) as usize]);
    let dest = tempfile::tempdir().unwrap();
    let mut job = download_job(&conn, &bucket, "d/", dest.path()).await;
    // No ETag in the plan for size.bin: only the size check can catch the change.
    job.items.iter_mut().filter(|i| i.key == "d/size.bin").for_each(|i| i.etag = None);
    server.put_object(&bucket, "d/etag.bin", vec![9u8; 1000]);
    server.put_object(&bucket, "d/size.bin", vec![9u8; 1500]);
    server.put_object(&bucket, "d/big.bin", vec![9u8; (12 * MIB) as usize]);

    let engine = NativeEngine::new(conn);
    let (r, events) = run(&engine, &job, &opts(5 * MIB, 4)).await;
    let outcome = r.unwrap();
    assert_eq!(outcome.done, 0);
    let mut codes: Vec<_> = outcome.failed.iter().map(|(k, e)| (k.as_str(), e.code.as_str())).collect();
    codes.sort();
    assert_eq!(codes, vec![("d/big.bin", "integrity"), ("d/etag.bin", "integrity"), ("d/size.bin", "integrity")]);
    assert_eq!(events.iter().filter(|e| matches!(e, Event::ObjectFailed { .. })).count(), 3);
    let left: Vec<_> = std::fs::read_dir(dest.path()).unwrap().collect();
    assert!(left.is_empty(), "nothing may be left behind: {left:?}");
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

/// Sends events to a collector and cancels the job once `after` bytes were reported.
fn cancelling_sink(token: CancellationToken, after: u64) -> (impl trainctl_core::Sink, CollectSink) {
    let collect = CollectSink::default();
    let inner = collect.clone();
    let sink = move |e: Event| {
        if let Event::Progress(p) = &e {
            if p.bytes_done >= after {
                token.cancel();
            }
        }
        trainctl_core::Sink::send(&inner, e);
    };
    (sink, collect)
}

fn state_files() -> usize {
    std::fs::read_dir(state_dir()).map(|d| d.filter_map(|e| e.ok()).filter(|e| e.path().extension().is_some_and(|x| x == "json")).count()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_multipart_upload_resumes_sending_only_the_missing_parts() {
    resume_after_cancel(shared_moto()).await;
}

async fn resume_after_cancel(server: &S3Server) {
    // Latency, so that the cancel (sent on a progress event, at most one per 200 ms) lands
    // while parts are still in flight: parts stream from the file, and a local Garage takes
    // 60 MiB faster than two progress events otherwise.
    let proxy = trainctl_testkit::FaultProxy::start(server.socket_addr()).unwrap();
    proxy.set_rtt(std::time::Duration::from_millis(50));
    let conn = connection_to(server, &proxy.url());
    let bucket = server.new_bucket("native-resume");
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("model.pt");
    random_file(&file, 60 * MIB);
    let job = upload_job(&bucket, src.path(), "r/");
    let o = opts(5 * MIB, 2); // 12 parts

    let first = NativeEngine::new(conn.clone());
    let token = CancellationToken::new();
    let (sink, _events) = cancelling_sink(token.clone(), 20 * MIB);
    let r = first.run(&job, &o, &sink, token).await;
    assert!(matches!(r, Err(Error::Cancelled)), "{r:?}");
    let sent_first = first.stats().parts_uploaded.load(Ordering::Relaxed);
    assert!((1..12).contains(&sent_first), "cancelled after some parts: {sent_first}");
    assert!(server.try_get_object(&bucket, "r/model.pt").is_err(), "no partial object may be visible");
    let open = server.list_multipart_uploads(&bucket);
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0].0, "r/model.pt");

    let second = NativeEngine::new(conn.clone());
    let (r, events) = run(&second, &job, &o).await;
    let outcome = r.unwrap();
    assert_eq!(outcome.done, 1, "{:?}", outcome.failed);
    let (resumed, sent) = (second.stats().parts_resumed.load(Ordering::Relaxed), second.stats().parts_uploaded.load(Ordering::Relaxed));
    assert!(resumed >= 1, "parts on the server are reused");
    assert_eq!(resumed + sent, 12, "resumed {resumed} + sent {sent}");
    assert!(events.iter().any(|e| matches!(e, Event::Notice { message } if message.contains("resuming"))));
    assert_eq!(server.get_object(&bucket, "r/model.pt"), std::fs::read(&file).unwrap());
    assert!(server.list_multipart_uploads(&bucket).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_file_restarts_the_upload_and_aborts_the_stale_one() {
    let server = shared_moto();
    let conn = connection(server);
    let bucket = server.new_bucket("native-restart");
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("weights.bin");
    random_file(&file, 30 * MIB);
    let job = upload_job(&bucket, src.path(), "");
    let o = opts(5 * MIB, 2);

    let token = CancellationToken::new();
    let (sink, _events) = cancelling_sink(token.clone(), 10 * MIB);
    let r = NativeEngine::new(conn.clone()).run(&job, &o, &sink, token).await;
    assert!(matches!(r, Err(Error::Cancelled)), "{r:?}");
    assert_eq!(server.list_multipart_uploads(&bucket).len(), 1);

    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(&file, vec![42u8; (30 * MIB) as usize]).unwrap();
    let again = NativeEngine::new(conn);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_endpoint_fails_the_whole_job() {
    let server = shared_moto();
    let port = trainctl_testkit::free_port();
    let conn = connection_to(server, &format!("http://127.0.0.1:{port}"));
    let src = tempfile::tempdir().unwrap();
    random_file(&src.path().join("a"), 10);
    random_file(&src.path().join("b"), 10);
    let (r, _) = run(&NativeEngine::new(conn), &upload_job("nobucket", src.path(), ""), &opts(5 * MIB, 2)).await;
    assert!(matches!(r, Err(Error::Unreachable { .. })), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_through_a_symlink_inside_the_destination_is_refused() {
    let server = shared_moto();
    let conn = connection(server);
    let bucket = server.new_bucket("native-symlink");
    server.put_object(&bucket, "link/x.txt", b"payload".to_vec());
    let dest = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path(), dest.path().join("link")).unwrap();
    let job = download_job(&conn, &bucket, "", dest.path()).await;
    let (r, _) = run(&NativeEngine::new(conn), &job, &opts(5 * MIB, 2)).await;
    let outcome = r.unwrap();
    assert_eq!(outcome.failed.len(), 1);
    assert_eq!(outcome.failed[0].1.code, "unsafe_key");
    assert!(!outside.path().join("x.txt").exists());
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_download_leaves_neither_file_nor_temp_file() {
    let server = shared_moto();
    let conn = connection(server);
    let bucket = server.new_bucket("native-cancel-dl");
    let src = tempfile::tempdir().unwrap();
    random_file(&src.path().join("big.bin"), 40 * MIB);
    run(&NativeEngine::new(conn.clone()), &upload_job(&bucket, src.path(), ""), &opts(8 * MIB, 4)).await.0.unwrap();

    let dest = tempfile::tempdir().unwrap();
    let job = download_job(&conn, &bucket, "", dest.path()).await;
    // Latency, so that the cancel (sent on a progress event) lands while ranges are in flight: a
    // local moto serves 40 MiB faster than a progress event otherwise (the test was flaky).
    let proxy = trainctl_testkit::FaultProxy::start(server.socket_addr()).unwrap();
    proxy.set_rtt(std::time::Duration::from_millis(50));
    let slow = connection_to(server, &proxy.url());
    let token = CancellationToken::new();
    let (sink, _events) = cancelling_sink(token.clone(), 1);
    let r = NativeEngine::new(slow).run(&job, &opts(5 * MIB, 2), &sink, token).await;
    assert!(matches!(r, Err(Error::Cancelled)), "{r:?}");
    let left: Vec<_> = std::fs::read_dir(dest.path()).unwrap().collect();
    assert!(left.is_empty(), "nothing may be left behind: {left:?}");
}
