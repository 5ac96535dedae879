//! Network faults against real servers (moto and Garage), provoked by the testkit's
//! `FaultProxy`: half-open connections (the proxy accepts and never answers) on list, head,
//! complete, delete and the SQS receive; a file appended to while it is uploaded. (A reset in the
//! middle of a download and `503 SlowDown` for 30% of requests run on both engines in
//! `conformance.rs`.)
//!
//! Timeouts are kept short through the network policy (`fast_policy`), so a hang shows up as a
//! failed test within seconds instead of a stuck suite. The bounds asserted below are the
//! policy's operation timeout plus generous slack: they prove "does not hang", not speed.


use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use aws_credential_types::Credentials;
use tokio_util::sync::CancellationToken;
use trainctl_core::event::{CollectSink, Direction, Event};
use trainctl_core::s3::{Connection, NetworkPolicy, S3Url};
use trainctl_core::transfer::native::NativeEngine;
use trainctl_core::transfer::plan::{self, Deletion, SyncPlan};
use trainctl_core::transfer::{Engine, TransferItem, TransferJob, TransferOptions};
use trainctl_core::Error;
use trainctl_testkit::{random_file, shared_moto, FaultProxy, HttpAction, HttpFault, S3Server};

mod common;
use common::connection_via;

const MIB: u64 = 1024 * 1024;

/// Short bounds: one attempt may wait 1 s for an answer, an operation (2 attempts) 4 s.
fn fast_policy() -> NetworkPolicy {
    NetworkPolicy {
        connect_timeout: Duration::from_secs(2),
        attempt_timeout: Duration::from_secs(1),
        operation_timeout: Duration::from_secs(4),
        stall_grace: Duration::from_secs(2),
        max_attempts: 2,
        initial_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(200),
    }
}

/// What a hung request may take at most before it must have failed: the operation timeout,
/// plus slack for a loaded 2-core machine. Far below "forever".
const HANG_BOUND: Duration = Duration::from_secs(15);

fn servers() -> Vec<&'static S3Server> {
    let mut v = vec![shared_moto()];
    v.extend(trainctl_testkit::shared_garage_or_skip());
    v
}

fn opts(part_size: u64, concurrency: usize) -> TransferOptions {
    TransferOptions { concurrency, part_size, verify_checksum: true, ..TransferOptions::default() }
}

fn state_dir() {
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let d = tempfile::tempdir().unwrap();
        std::env::set_var("TRAINCTL_STATE_DIR", d.path());
        d
    });
}

fn upload_job(bucket: &str, file: &Path, key: &str) -> TransferJob {
    let mut job = TransferJob::new(Direction::Upload, bucket, file.parent().unwrap());
    job.items.push(TransferItem { local: file.to_path_buf(), key: key.into(), size: std::fs::metadata(file).unwrap().len(), etag: None, write_if: None });
    job
}

/// Runs `f`, asserting it fails with a timeout error within [`HANG_BOUND`].
async fn times_out<T: std::fmt::Debug>(what: &str, f: impl std::future::Future<Output = trainctl_core::Result<T>>) {
    let started = Instant::now();
    let r = tokio::time::timeout(HANG_BOUND * 2, f).await.unwrap_or_else(|_| panic!("{what} hung"));
    let took = started.elapsed();
    assert!(matches!(r, Err(Error::Timeout { .. })), "{what}: {r:?}");
    assert!(took < HANG_BOUND, "{what} failed only after {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_list_head_and_delete_fail_with_a_timeout_and_work_again_when_healed() {
    for server in servers() {
        let bucket = server.new_bucket("half-open");
        server.put_object(&bucket, "a/x.bin", vec![7u8; 100]);
        let proxy = FaultProxy::start(server.socket_addr()).unwrap();
        let conn = connection_via(server, &proxy.url(), &fast_policy());
        let dest = tempfile::tempdir().unwrap();
        let prefix = S3Url::parse(&format!("s3://{bucket}/a/")).unwrap();
        let object = S3Url::parse(&format!("s3://{bucket}/a/x.bin")).unwrap();

        proxy.set_black_hole(true);
        times_out("list", plan::plan_download(&prefix, dest.path(), true, &conn)).await;
        times_out("head", plan::plan_download(&object, dest.path(), false, &conn)).await;
        let job = TransferJob::new(Direction::Upload, &bucket, dest.path());
        let deletions = SyncPlan { job, deletions: vec![Deletion::Object { bucket: bucket.clone(), key: "a/x.bin".into() }] };
        times_out("delete", plan::apply_deletions(&deletions, &conn)).await;
        assert_eq!(server.list_keys(&bucket, ""), ["a/x.bin"], "{:?}: nothing was deleted", server.kind());

        proxy.set_black_hole(false);
        let job = plan::plan_download(&prefix, dest.path(), true, &conn).await.expect("healed: the listing works again");
        assert_eq!(job.items.len(), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_complete_multipart_upload_times_out_and_keeps_the_upload_for_resume() {
    state_dir();
    for server in servers() {
        let bucket = server.new_bucket("half-open-complete");
        let proxy = FaultProxy::start(server.socket_addr()).unwrap();
        // CompleteMultipartUpload is the one POST with `uploadId=` (Create is `?uploads`).
        proxy.set_http_faults(vec![HttpFault { method: Some("POST".into()), target_contains: Some("uploadId=".into()), header_contains: None, probability: 1.0, action: HttpAction::BlackHole }]);
        let conn = connection_via(server, &proxy.url(), &fast_policy());
        let src = tempfile::tempdir().unwrap();
        let file = src.path().join("model.bin");
        random_file(&file, 11 * MIB);
        let engine = NativeEngine::new(conn);
        let sink = CollectSink::default();
        times_out("complete", engine.run(&upload_job(&bucket, &file, "m/model.bin"), &opts(5 * MIB, 4), &sink, CancellationToken::new())).await;
        assert!(proxy.black_holed_requests() >= 1, "the complete request was swallowed");
        assert!(server.try_get_object(&bucket, "m/model.bin").is_err(), "{:?}: no object", server.kind());
        assert_eq!(server.list_multipart_uploads(&bucket).len(), 1, "{:?}: a connection failure keeps the upload for the next run", server.kind());

        proxy.set_http_faults(Vec::new());
        let again = NativeEngine::new(connection_via(server, &proxy.url(), &fast_policy()));
        let outcome = again.run(&upload_job(&bucket, &file, "m/model.bin"), &opts(5 * MIB, 4), &sink, CancellationToken::new()).await.unwrap();
        assert_eq!(outcome.done, 1);
        assert_eq!(again.stats().parts_resumed.load(Ordering::Relaxed), 3, "every part was kept on the server");
        assert_eq!(server.get_object(&bucket, "m/model.bin"), std::fs::read(&file).unwrap());
        assert!(server.list_multipart_uploads(&bucket).is_empty());
    }
}

/// Starts a polling watch in the background; returns its events and a way to stop it.
fn start_watch(conn: Connection, url: S3Url, sink: CollectSink) -> (CancellationToken, tokio::task::JoinHandle<()>) {
    let token = CancellationToken::new();
    let opts = trainctl_core::watch::WatchOptions { interval: Duration::from_millis(500), max_backoff: Duration::from_secs(1), ..Default::default() };
    let t = token.clone();
    let handle = tokio::spawn(async move {
        trainctl_core::watch::watch(&conn, &url, opts, &sink, &t).await.unwrap();
    });
    (token, handle)
}

/// Waits up to `within` for an event matching `pred`.
async fn wait_event(sink: &CollectSink, within: Duration, what: &str, pred: impl Fn(&Event) -> bool) -> Event {
    let deadline = Instant::now() + within;
    loop {
        if let Some(e) = sink.events().into_iter().find(|e| pred(e)) {
            return e;
        }
        assert!(Instant::now() < deadline, "no {what} within {within:?}: {:?}", sink.events());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_reports_a_half_open_connection_as_a_timeout_and_recovers_when_it_heals() {
    for server in servers() {
        let bucket = server.new_bucket("watch-half-open");
        server.put_object(&bucket, "run/checkpoint-100/model.bin", vec![1u8; 10]);
        let proxy = FaultProxy::start(server.socket_addr()).unwrap();
        let conn = connection_via(server, &proxy.url(), &fast_policy());
        let sink = CollectSink::default();
        let (token, handle) = start_watch(conn, S3Url::parse(&format!("s3://{bucket}/run/")).unwrap(), sink.clone());
        wait_event(&sink, HANG_BOUND, "first poll", |e| matches!(e, Event::WatchStarted { .. })).await;
        proxy.set_black_hole(true);
        let e = wait_event(&sink, HANG_BOUND, "watch_error", |e| matches!(e, Event::WatchError { .. })).await;
        let Event::WatchError { error, .. } = e else { unreachable!() };
        assert_eq!(error.code, "timeout", "{:?}: {error:?}", server.kind());
        proxy.set_black_hole(false);
        wait_event(&sink, HANG_BOUND, "watch_recovered", |e| matches!(e, Event::WatchRecovered { .. })).await;
        token.cancel();
        handle.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_open_sqs_receive_is_reported_as_a_timeout_and_the_events_watch_recovers() {
    let server = shared_moto(); // Garage has no SQS.
    let bucket = server.new_bucket("watch-sqs-half-open");
    let direct = connection_via(server, &server.endpoint_url(), &fast_policy());
    let sqs = aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::config::Builder::new()
            .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
            .region(aws_sdk_sqs::config::Region::new(server.region().to_string()))
            .endpoint_url(server.endpoint_url())
            .credentials_provider(Credentials::new(server.access_key(), server.secret_key(), None, None, "test"))
            .build(),
    );
    let queue = sqs.create_queue().queue_name(format!("{bucket}-q")).send().await.unwrap().queue_url().unwrap().to_string();
    drop(direct);
    let proxy = FaultProxy::start(server.socket_addr()).unwrap();
    // The queue URL through the proxy: moto serves it under any host.
    let path = queue.splitn(4, '/').nth(3).unwrap();
    let spec = trainctl_core::watch::QueueSpec::parse(&format!("{}/{path}", proxy.url())).unwrap();
    let conn = connection_via(server, &proxy.url(), &fast_policy());
    let url = S3Url::parse(&format!("s3://{bucket}/run/")).unwrap();
    let sink = CollectSink::default();
    let token = CancellationToken::new();
    let opts = trainctl_core::watch::WatchOptions { interval: Duration::from_secs(1), max_backoff: Duration::from_secs(1), ..Default::default() };
    let (c, u, s, t) = (conn.clone(), url.clone(), sink.clone(), token.clone());
    let handle = tokio::spawn(async move { trainctl_core::watch::watch_events(&c, &u, &spec, opts, &s, &t).await.unwrap() });
    wait_event(&sink, HANG_BOUND, "watch_started", |e| matches!(e, Event::WatchStarted { .. })).await;

    proxy.set_http_faults(vec![HttpFault { method: Some("POST".into()), target_contains: None, header_contains: Some("ReceiveMessage".into()), probability: 1.0, action: HttpAction::BlackHole }]);
    // Connections opened before the fault are not inspected: cut them so the next receive
    // opens a new one.
    proxy.cut_after_upstream_bytes(0);
    let e = wait_event(&sink, HANG_BOUND * 2, "watch_error", |e| matches!(e, Event::WatchError { .. })).await;
    let Event::WatchError { error, .. } = e else { unreachable!() };
    assert!(proxy.black_holed_requests() >= 1, "a receive was swallowed");
    assert_eq!(error.code, "timeout", "{error:?}");
    proxy.set_http_faults(Vec::new());
    wait_event(&sink, HANG_BOUND * 2, "watch_recovered", |e| matches!(e, Event::WatchRecovered { .. })).await;
    token.cancel();
    handle.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_appended_to_during_its_upload_fails_clearly_and_leaves_no_object() {
    state_dir();
    for server in servers() {
        let bucket = server.new_bucket("appended");
        let src = tempfile::tempdir().unwrap();
        let file = src.path().join("growing.log");
        random_file(&file, 40 * MIB);
        // Latency so that the upload lasts several progress intervals.
        let proxy = FaultProxy::start(server.socket_addr()).unwrap();
        proxy.set_rtt(Duration::from_millis(40));
        let conn = connection_via(server, &proxy.url(), &NetworkPolicy::default());
        let appended = std::sync::atomic::AtomicBool::new(false);
        let collect = CollectSink::default();
        let inner = collect.clone();
        let path = file.clone();
        let sink = move |e: Event| {
            if matches!(&e, Event::Progress(p) if p.bytes_done > 0) && !appended.swap(true, Ordering::SeqCst) {
                let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
                std::io::Write::write_all(&mut f, b"one more line\n").unwrap();
            }
            trainctl_core::Sink::send(&inner, e);
        };
        let engine = NativeEngine::new(conn);
        let outcome = engine.run(&upload_job(&bucket, &file, "logs/growing.log"), &opts(5 * MIB, 1), &sink, CancellationToken::new()).await.unwrap();
        assert_eq!(outcome.done, 0);
        assert_eq!(outcome.failed.len(), 1);
        let error = &outcome.failed[0].1;
        assert_eq!(error.code, "source_changed", "{:?}: {error:?}", server.kind());
        assert!(error.message.contains("growing.log") && error.message.contains("no object was created"), "{}", error.message);
        assert!(server.try_get_object(&bucket, "logs/growing.log").is_err(), "{:?}: no object", server.kind());
        assert!(server.list_multipart_uploads(&bucket).is_empty(), "{:?}: the upload was aborted", server.kind());
        assert_eq!(engine.stats().uploads_aborted.load(Ordering::Relaxed), 1);
    }
}
