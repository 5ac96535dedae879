//! `sync --delete` on real servers (moto and Garage): a victim that changed between the plan
//! and the apply is kept with a note, an unchanged one is deleted, and the provider quirk
//! `conditional_delete` (does DeleteObject honour `If-Match`?) is pinned against each server.

use aws_sdk_s3::primitives::ByteStream;
use trainctl_core::config::quirks;
use trainctl_core::event::Direction;
use trainctl_core::s3::{Connection, S3Url};
use trainctl_core::transfer::plan::{self, SyncOptions};
use trainctl_testkit::{write_tree, S3Server};

mod common;
use common::connection_as;

fn servers() -> Vec<&'static S3Server> {
    let mut v = vec![trainctl_testkit::shared_moto()];
    v.extend(trainctl_testkit::shared_garage_or_skip());
    v
}

async fn put(conn: &Connection, bucket: &str, key: &str, body: &[u8]) -> String {
    let out = conn.client.put_object().bucket(bucket).key(key).body(ByteStream::from(body.to_vec())).send().await.unwrap();
    out.e_tag().unwrap_or_default().to_string()
}

/// Whether `server` deletes an object despite a wrong `If-Match` (i.e. ignores the header).
async fn ignores_if_match(server: &S3Server) -> bool {
    let conn = connection_as(server, "other");
    let bucket = server.new_bucket("ifmatch");
    put(&conn, &bucket, "k", b"one").await;
    let r = conn.client.delete_object().bucket(&bucket).key("k").if_match("\"00000000000000000000000000000000\"").send().await;
    let still_there = conn.client.head_object().bucket(&bucket).key("k").send().await.is_ok();
    match r {
        Err(e) => {
            assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(412), "{:?}: {e:?}", server.kind());
            assert!(still_there);
            false
        }
        Ok(_) => !still_there,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_conditional_delete_quirk_of_each_server_is_what_the_server_does() {
    for server in servers() {
        let name = server.kind().name();
        let row = quirks::get(name).unwrap_or_else(|| panic!("no quirks row for {name}"));
        assert_eq!(row.conditional_delete, !ignores_if_match(server).await, "data/quirks/providers.toml [{name}] conditional_delete is wrong");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_up_delete_keeps_a_victim_overwritten_after_the_plan_and_deletes_the_unchanged_one() {
    for server in servers() {
        // As the server's own provider (conditional delete where it honours If-Match), and as an
        // unknown store (a HEAD right before each delete).
        for provider in [server.kind().name(), "other"] {
            let conn = connection_as(server, provider);
            let bucket = server.new_bucket("syncdel");
            let src = tempfile::tempdir().unwrap();
            write_tree(src.path(), &[("keep.bin", 10)]);
            put(&conn, &bucket, "s/stale.bin", b"old bytes").await;
            put(&conn, &bucket, "s/changed.bin", b"old bytes").await;
            let remote = S3Url::parse(&format!("s3://{bucket}/s/")).unwrap();
            let opts = SyncOptions { delete: true, ..Default::default() };
            let p = plan::plan_sync(src.path(), &remote, Direction::Upload, &opts, &conn).await.unwrap();
            assert_eq!(p.deletions.len(), 2, "{:?}", p.deletions);
            // Someone writes a new version of one victim after the plan was shown.
            put(&conn, &bucket, "s/changed.bin", b"new bytes!").await;
            let out = plan::apply_deletions(&p, &conn).await.unwrap();
            assert_eq!((out.deleted, out.failed.len()), (1, 0), "{:?} as {provider}: {out:?}", server.kind());
            assert_eq!(out.skipped.len(), 1, "{out:?}");
            assert!(out.skipped[0].0.ends_with("s/changed.bin") && out.skipped[0].1.contains("changed since the plan"), "{out:?}");
            assert_eq!(server.list_keys(&bucket, "s/"), ["s/changed.bin"], "{:?} as {provider}", server.kind());
            assert_eq!(server.get_object(&bucket, "s/changed.bin"), b"new bytes!");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_up_delete_of_a_victim_overwritten_with_the_same_size_is_caught_by_its_etag() {
    for server in servers() {
        let conn = connection_as(server, server.kind().name());
        let bucket = server.new_bucket("syncetag");
        let src = tempfile::tempdir().unwrap();
        put(&conn, &bucket, "s/x.bin", b"aaaa").await;
        let remote = S3Url::parse(&format!("s3://{bucket}/s/")).unwrap();
        let p = plan::plan_sync(src.path(), &remote, Direction::Upload, &SyncOptions { delete: true, ..Default::default() }, &conn).await.unwrap();
        put(&conn, &bucket, "s/x.bin", b"bbbb").await;
        let out = plan::apply_deletions(&p, &conn).await.unwrap();
        assert_eq!((out.deleted, out.skipped.len()), (0, 1), "{:?}: {out:?}", server.kind());
        assert_eq!(server.get_object(&bucket, "s/x.bin"), b"bbbb");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_down_delete_keeps_a_local_file_modified_after_the_plan() {
    let server = trainctl_testkit::shared_moto();
    let conn = connection_as(server, "moto");
    let bucket = server.new_bucket("syncdown");
    put(&conn, &bucket, "r/a.bin", b"aaa").await;
    let local = tempfile::tempdir().unwrap();
    write_tree(local.path(), &[("stale.bin", 4), ("edited.bin", 4)]);
    let remote = S3Url::parse(&format!("s3://{bucket}/r/")).unwrap();
    let p = plan::plan_sync(local.path(), &remote, Direction::Download, &SyncOptions { delete: true, ..Default::default() }, &conn).await.unwrap();
    assert_eq!(p.deletions.len(), 2, "{:?}", p.deletions);
    std::fs::write(local.path().join("edited.bin"), b"new notes").unwrap();
    let out = plan::apply_deletions(&p, &conn).await.unwrap();
    assert_eq!((out.deleted, out.failed.len(), out.skipped.len()), (1, 0, 1), "{out:?}");
    assert!(out.skipped[0].1.contains("changed since the plan"), "{out:?}");
    assert!(!local.path().join("stale.bin").exists());
    assert_eq!(std::fs::read(local.path().join("edited.bin")).unwrap(), b"new notes");
}
