//! Which stores honour conditional writes on PutObject / CompleteMultipartUpload — pinned against
//! the real servers, so `data/quirks/providers.toml` (`conditional_put`, `conditional_overwrite`)
//! says what moto and Garage actually do. Two-way sync relies on it: a quirk that says "yes" for
//! a store that ignores the header would let a concurrent writer be overwritten silently.

mod common;

use aws_sdk_s3::primitives::ByteStream;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use trainctl_core::config::quirks;
use trainctl_core::event::{Direction, Event, NullSink};
use trainctl_core::sync::{self, Pair, SyncOptions};
use trainctl_testkit::{shared_garage_or_skip, shared_moto, S3Server};

#[derive(Debug, PartialEq)]
struct Honoured {
    if_none_match: bool,
    if_match: bool,
}

async fn status_of(r: Result<impl Sized, aws_sdk_s3::error::SdkError<impl std::fmt::Debug, aws_smithy_runtime_api::http::Response>>) -> u16 {
    match r {
        Ok(_) => 200,
        Err(e) => e.raw_response().map(|r| r.status().as_u16()).unwrap_or(0),
    }
}

async fn probe(server: &S3Server) -> Honoured {
    let c = server.client();
    let bucket = server.new_bucket("cond");
    c.put_object().bucket(&bucket).key("k").body(ByteStream::from_static(b"one")).send().await.unwrap();
    let etag = c.head_object().bucket(&bucket).key("k").send().await.unwrap().e_tag().unwrap().to_string();
    let none = c.put_object().bucket(&bucket).key("k").if_none_match("*").body(ByteStream::from_static(b"two")).send().await;
    let none_status = status_of(none).await;
    let wrong = c.put_object().bucket(&bucket).key("k").if_match("\"0123456789abcdef0123456789abcdef\"").body(ByteStream::from_static(b"three")).send().await;
    let wrong_status = status_of(wrong).await;
    let body = c.get_object().bucket(&bucket).key("k").send().await.unwrap().body.collect().await.unwrap().into_bytes();
    eprintln!("{:?}: If-None-Match on an existing key → {none_status}, wrong If-Match → {wrong_status}, body now {:?}, etag {etag}", server.kind(), body);
    Honoured { if_none_match: none_status == 412, if_match: wrong_status == 412 }
}

fn quirk(id: &str) -> Honoured {
    let q = quirks::get(id).unwrap();
    Honoured { if_none_match: q.conditional_put, if_match: q.conditional_overwrite }
}

#[tokio::test]
async fn moto_conditional_puts_match_the_quirks() {
    assert_eq!(probe(shared_moto()).await, quirk("moto"));
}

#[tokio::test]
async fn garage_conditional_puts_match_the_quirks() {
    let Some(g) = shared_garage_or_skip() else { return };
    assert_eq!(probe(g).await, quirk("garage"));
}

/// One state folder for every pair of this process (set once: tests run in parallel threads).
fn sync_state_dir() {
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let d = tempfile::tempdir().unwrap();
        std::env::set_var(trainctl_core::sync::pair::STATE_ENV, d.path());
        d
    });
}

/// Another machine writes the object while a pass uploads over it (between the pass's listing
/// and its write). The pass must not overwrite it: moto refuses the `If-Match` upload itself,
/// Garage (which ignores the header) is caught by the HEAD right before the write. The write
/// becomes a conflict that the follow-up pass keeps both of: the writer's version under the
/// name, ours as `…conflict-…-local…`, on both sides.
async fn a_concurrent_remote_writer_becomes_a_conflict_never_an_overwrite(server: &S3Server) {
    sync_state_dir();
    let conn = common::connection_as(server, server.kind().name());
    let bucket = server.new_bucket("sync-writer");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), "v1").unwrap();
    let url = trainctl_core::s3::S3Url::parse(&format!("s3://{bucket}/pair/")).unwrap();
    let pair = Pair::new(dir.path(), &url, &conn).unwrap();
    let (opts, cancel) = (SyncOptions { grace: Duration::ZERO, ..SyncOptions::default() }, CancellationToken::new());
    sync::run(&conn, &pair, &opts, &NullSink, &cancel).await.unwrap();
    std::fs::write(dir.path().join("a.txt"), "local v2, longer").unwrap();

    let wrote = AtomicBool::new(false);
    let writer = |e: Event| {
        if matches!(e, Event::TransferStarted { direction: Direction::Upload, .. }) && !wrote.swap(true, Ordering::SeqCst) {
            server.put_object(&bucket, "pair/a.txt", b"the other machine's v2".to_vec());
        }
    };
    let report = sync::run(&conn, &pair, &opts, &writer, &cancel).await.unwrap();
    assert!(wrote.load(Ordering::SeqCst), "the writer ran during the upload");
    assert_eq!(report.conflicts.len(), 1, "{report:#?}");

    let remote: BTreeMap<String, Vec<u8>> = server.list_keys(&bucket, "pair/").into_iter().map(|k| (k.clone(), server.get_object(&bucket, &k))).collect();
    let local: BTreeMap<String, Vec<u8>> = std::fs::read_dir(dir.path()).unwrap().flatten().map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap())).collect();
    assert_eq!(remote.get("pair/a.txt").map(Vec::as_slice), Some(&b"the other machine's v2"[..]), "{remote:?}");
    assert_eq!(local.get("a.txt").map(Vec::as_slice), Some(&b"the other machine's v2"[..]), "{local:?}");
    let ours = |m: &BTreeMap<String, Vec<u8>>| m.iter().any(|(k, v)| k.contains("a.conflict-") && k.ends_with("-local.txt") && v == b"local v2, longer");
    assert!(ours(&remote) && ours(&local), "our version kept on both sides: {remote:?} {local:?}");
    assert_eq!((remote.len(), local.len()), (2, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moto_a_concurrent_remote_writer_becomes_a_conflict() {
    a_concurrent_remote_writer_becomes_a_conflict_never_an_overwrite(shared_moto()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garage_a_concurrent_remote_writer_becomes_a_conflict() {
    let Some(g) = shared_garage_or_skip() else { return };
    a_concurrent_remote_writer_becomes_a_conflict_never_an_overwrite(g).await;
}
