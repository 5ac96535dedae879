//! The native engine's pipelined compressed uploads (`--compress`, `upload::compressed`) against
//! moto and Garage: a file of many compressed parts round-trips byte-identical with the header
//! and metadata a staged upload has, and without a staging folder; a part the server refuses, a
//! cancel, and a file changed during its upload each leave no object and no multipart upload.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use trainctl_core::codec::{self, Compress};
use trainctl_core::event::{CollectSink, Direction, Event};
use trainctl_core::s3::{Connection, NetworkPolicy};
use trainctl_core::transfer::compress::{plan_compression, CodecEngine, COMPRESS_DIR_ENV};
use trainctl_core::transfer::native::NativeEngine;
use trainctl_core::transfer::{Engine, TransferItem, TransferJob, TransferOptions};
use trainctl_core::Error;
use trainctl_testkit::{shared_moto, FaultProxy, HttpAction, HttpFault, S3Server};

mod common;
use common::connection_via;

const MIB: u64 = 1024 * 1024;

/// Process-wide: the resume state dir, and a staging folder that must never be created (the
/// pipelined path stages nothing).
fn env() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = tempfile::tempdir().unwrap();
        std::env::set_var("TRAINCTL_STATE_DIR", d.path().join("state"));
        std::env::set_var(COMPRESS_DIR_ENV, d.path().join("staging"));
        d
    })
    .path()
}

fn staging_was_used() -> bool {
    env().join("staging").exists()
}

fn servers() -> Vec<&'static S3Server> {
    let mut v = vec![shared_moto()];
    v.extend(trainctl_testkit::shared_garage_or_skip());
    v
}

fn connection(server: &S3Server, endpoint: &str) -> Connection {
    env();
    let policy = NetworkPolicy { max_attempts: 2, initial_backoff: Duration::from_millis(50), max_backoff: Duration::from_millis(200), ..NetworkPolicy::default() };
    connection_via(server, endpoint, &policy)
}

fn opts() -> TransferOptions {
    TransferOptions { concurrency: 4, part_size: 5 * MIB, verify_checksum: true, ..TransferOptions::default() }
}

/// bf16 weights (normal-ish, σ ≈ 0.02): compress to about 0.7 of their size.
fn bf16_file(path: &Path, bytes: u64, seed: u64) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let data: Vec<u8> = (0..bytes / 2)
        .flat_map(|_| {
            let g: f32 = (0..4).map(|_| rng.f32() - 0.5).sum::<f32>() * 0.035;
            ((g.to_bits() + 0x8000) >> 16).to_le_bytes()[..2].to_vec()
        })
        .collect();
    std::fs::write(path, &data).unwrap();
    data
}

async fn planned_job(bucket: &str, file: &Path, key: &str, how: Compress) -> TransferJob {
    let mut job = TransferJob::new(Direction::Upload, bucket, file.parent().unwrap());
    job.items.push(TransferItem { local: file.to_path_buf(), key: key.into(), size: std::fs::metadata(file).unwrap().len(), etag: None, write_if: None });
    plan_compression(&mut job, how, None).await.unwrap();
    assert_eq!(job.compress.len(), 1, "planned compressed: {:?}", job.items);
    job
}

fn crc64(data: &[u8]) -> u64 {
    let mut d = crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc64Nvme);
    d.update(data);
    d.finalize()
}

/// The store has nothing under `bucket` — no object, no multipart upload.
fn assert_nothing_left(server: &S3Server, bucket: &str, what: &str) {
    assert_eq!(server.list_keys(bucket, ""), Vec::<String>::new(), "{:?} {what}: no object", server.kind());
    assert_eq!(server.list_multipart_uploads(bucket), Vec::<(String, String)>::new(), "{:?} {what}: no multipart upload", server.kind());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_many_part_compressed_upload_round_trips_byte_identical_without_staging() {
    for server in servers() {
        let bucket = server.new_bucket("zpipe");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("model.safetensors");
        let data = bf16_file(&file, 24 * MIB, 1);
        for (how, key) in [(Compress::Auto, "auto/model.safetensors.tcz"), (Compress::Zstd { level: 1 }, "zstd/model.safetensors.zst")] {
            let prefix = key.split('/').next().unwrap();
            let job = planned_job(&bucket, &file, &format!("{prefix}/model.safetensors"), how).await;
            assert_eq!(job.items[0].key, key);
            let native = NativeEngine::new(connection(server, &server.endpoint_url()));
            let engine = CodecEngine::new(Box::new(native.clone()));
            let sink = CollectSink::default();
            let outcome = engine.run(&job, &opts(), &sink, CancellationToken::new()).await.unwrap();
            assert_eq!((outcome.done, outcome.failed.len()), (1, 0), "{:?} {key}: {:?}", server.kind(), outcome.failed);
            let parts = native.stats().parts_uploaded.load(Ordering::Relaxed);
            assert!(parts >= 3, "{:?} {key}: several parts, not one PUT ({parts})", server.kind());
            let events = sink.events();
            assert!(events.iter().any(|e| matches!(e, Event::Notice { message } if message.contains("as it was uploaded"))), "{events:?}");
            let done: u64 = events.iter().filter_map(|e| if let Event::Progress(p) = e { Some(p.bytes_done) } else { None }).max().unwrap_or(0);
            assert_eq!(done, data.len() as u64, "progress counts the original bytes");

            // What other tools see: the header first, the metadata of a staged upload.
            let stored = server.get_object(&bucket, key);
            assert!(stored.len() * 10 < data.len() * 9, "{key}: saved more than 10% ({} of {})", stored.len(), data.len());
            let codec::header::Parsed::Ours(h) = codec::header::Header::parse(&stored[..codec::header::LEN]) else { panic!("{key}: no trainctl header") };
            assert_eq!((h.original_size, h.original_crc64nvme), (data.len() as u64, crc64(&data)));
            let head = server.client().head_object().bucket(&bucket).key(key).send().await.unwrap();
            let meta = head.metadata().cloned().unwrap_or_default();
            assert_eq!(meta.get(codec::META_ORIGINAL_SIZE).map(String::as_str), Some(data.len().to_string().as_str()), "{meta:?}");
            assert_eq!(meta.get(codec::META_ORIGINAL_CRC64NVME).and_then(|v| codec::crc64_of_base64(v)), Some(crc64(&data)), "{meta:?}");
            assert!(head.e_tag().unwrap_or_default().contains('-'), "{key}: a multipart ETag: {:?}", head.e_tag());
            let mut decoded = Vec::new();
            assert!(matches!(codec::decode::decode(&mut stored.as_slice(), &mut decoded), Ok(codec::decode::Decoded::Verified(_))));
            assert!(decoded == data, "{key}: decodes byte-identical");
        }
        // Back through the engine: decoded to the original names, byte-identical.
        for prefix in ["auto", "zstd"] {
            let dest = dir.path().join(format!("down-{prefix}"));
            let conn = connection(server, &server.endpoint_url());
            let mut job = TransferJob::new(Direction::Download, &bucket, &dest);
            for (key, size) in server.list_objects(&bucket, &format!("{prefix}/")) {
                let local = dest.join(key.rsplit('/').next().unwrap());
                job.items.push(TransferItem { local, key, size, etag: None, write_if: None });
            }
            let engine = CodecEngine::new(Box::new(NativeEngine::new(conn)));
            engine.run(&job, &opts(), &CollectSink::default(), CancellationToken::new()).await.unwrap();
            assert!(std::fs::read(dest.join("model.safetensors")).unwrap() == data, "{prefix}: downloaded byte-identical");
        }
        assert!(server.list_multipart_uploads(&bucket).is_empty());
    }
    assert!(!staging_was_used(), "the native engine staged nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_part_the_server_refuses_aborts_the_compressed_upload_and_leaves_nothing() {
    for server in servers() {
        let bucket = server.new_bucket("zrefused");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("model.safetensors");
        bf16_file(&file, 24 * MIB, 2);
        let proxy = FaultProxy::start(server.socket_addr()).unwrap();
        // The third part is answered 503 SlowDown every time: the retries run out.
        proxy.set_http_faults(vec![HttpFault { method: Some("PUT".into()), target_contains: Some("partNumber=3".into()), header_contains: None, probability: 1.0, action: HttpAction::SlowDown }]);
        let native = NativeEngine::new(connection(server, &proxy.url()));
        let job = planned_job(&bucket, &file, "m/model.safetensors", Compress::Zstd { level: 1 }).await;
        let result = native.run(&job, &opts(), &CollectSink::default(), CancellationToken::new()).await;
        match &result {
            Ok(o) => assert_eq!((o.done, o.failed.len()), (0, 1), "{:?}: {o:?}", server.kind()),
            Err(e) => assert!(!matches!(e, Error::Cancelled), "{:?}: {e}", server.kind()),
        }
        assert!(proxy.slow_downs() >= 1, "the fault fired");
        assert_eq!(native.stats().uploads_aborted.load(Ordering::Relaxed), 1);
        assert_nothing_left(server, &bucket, "refused part");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_compressed_upload_is_aborted_and_leaves_nothing() {
    for server in servers() {
        let bucket = server.new_bucket("zcancel");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("model.safetensors");
        bf16_file(&file, 24 * MIB, 3);
        // A capped link, so that the upload is still going when its first part is on its way;
        // cancelled as that part's request reaches the proxy (the multipart upload exists
        // then). Cancelling at the first progress event raced with the upload's creation.
        let proxy = Arc::new(FaultProxy::start(server.socket_addr()).unwrap());
        proxy.set_bandwidth(4 * MIB);
        proxy.log_requests();
        let native = NativeEngine::new(connection(server, &proxy.url()));
        let job = planned_job(&bucket, &file, "m/model.safetensors", Compress::Auto).await;
        let token = CancellationToken::new();
        let canceller = {
            let (proxy, token) = (proxy.clone(), token.clone());
            tokio::task::spawn_blocking(move || {
                while !token.is_cancelled() {
                    if proxy.requests().iter().any(|(method, _)| method == "PUT") {
                        token.cancel();
                        return true;
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
                false
            })
        };
        let result = native.run(&job, &opts(), &|_: Event| {}, token.clone()).await;
        token.cancel();
        assert!(canceller.await.unwrap(), "{:?}: no part request reached the proxy", server.kind());
        assert!(matches!(result, Err(Error::Cancelled)), "{:?}: {result:?}", server.kind());
        assert_eq!(native.stats().uploads_aborted.load(Ordering::Relaxed), 1);
        assert_nothing_left(server, &bucket, "cancelled");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_changed_during_its_compressed_upload_fails_with_source_changed_and_leaves_nothing() {
    for server in servers() {
        for (change, how) in [("appended", Compress::Zstd { level: 1 }), ("rewritten in place", Compress::Auto)] {
            let bucket = server.new_bucket("zchanged");
            let dir = tempfile::tempdir().unwrap();
            let file = dir.path().join("model.safetensors");
            bf16_file(&file, 24 * MIB, 4);
            let proxy = Arc::new(FaultProxy::start(server.socket_addr()).unwrap());
            proxy.set_bandwidth(4 * MIB);
            proxy.log_requests();
            let native = NativeEngine::new(connection(server, &proxy.url()));
            let job = planned_job(&bucket, &file, "m/model.safetensors", how).await;
            // The file changes as soon as the first body is on its way (the first PUT reaches
            // the proxy: the file is open and its first pass done), seconds before the last part
            // at 4 MiB/s. (Waiting for a progress event raced: parts in flight together land
            // together, and the first progress could come after the last check.)
            let done = Arc::new(AtomicBool::new(false));
            let watcher = {
                let (proxy, path, done) = (proxy.clone(), file.clone(), done.clone());
                tokio::task::spawn_blocking(move || {
                    while !done.load(Ordering::SeqCst) {
                        if proxy.requests().iter().any(|(method, _)| method == "PUT") {
                            let f = std::fs::OpenOptions::new().append(change == "appended").write(true).open(&path).unwrap();
                            if change == "appended" {
                                std::io::Write::write_all(&mut &f, b"more").unwrap();
                            } else {
                                std::os::unix::fs::FileExt::write_all_at(&f, b"same size, other bytes", 20 * MIB).unwrap();
                            }
                            return true;
                        }
                        std::thread::sleep(Duration::from_millis(2));
                    }
                    false
                })
            };
            let sink = |_: Event| {};
            let outcome = native.run(&job, &opts(), &sink, CancellationToken::new()).await.unwrap();
            done.store(true, Ordering::SeqCst);
            assert!(watcher.await.unwrap(), "{change}: no upload body reached the proxy");
            assert_eq!((outcome.done, outcome.failed.len()), (0, 1), "{:?} {change}: {outcome:?}", server.kind());
            let error = &outcome.failed[0].1;
            assert_eq!(error.code, "source_changed", "{:?} {change}: {error:?}", server.kind());
            assert!(error.message.contains("model.safetensors"), "{}", error.message);
            assert_eq!(native.stats().uploads_aborted.load(Ordering::Relaxed), 1, "{change}");
            assert_nothing_left(server, &bucket, change);
        }
    }
}
