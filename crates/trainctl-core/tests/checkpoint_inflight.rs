//! A checkpoint whose marker is listed while one of its files is still a multipart upload
//! (what `aws s3 sync` and s5cmd produce) is incomplete: cleanup keeps the previous one, and a
//! watch reports it only once the upload completed — without making idle polls dearer. On
//! moto and Garage.

use std::time::Duration;
use trainctl_core::checkpoint::{self, DetectOptions, Location, Policy};
use trainctl_core::event::{CollectSink, Event};
use trainctl_core::s3::{Connection, S3Url};
use trainctl_core::watch::{WatchOptions, Watcher};
use trainctl_testkit::{PendingUpload, S3Server};

mod common;
use common::connection_as;

fn servers() -> Vec<&'static S3Server> {
    let mut v = vec![trainctl_testkit::shared_moto()];
    v.extend(trainctl_testkit::shared_garage_or_skip());
    v
}

fn no_grace() -> DetectOptions {
    DetectOptions { grace: Duration::ZERO, ..DetectOptions::new() }
}

/// checkpoint-000100 complete; checkpoint-000200 with its trainer_state.json (the marker) listed
/// and its weights still in flight. Returns the upload id.
fn marker_first(server: &S3Server, bucket: &str) -> PendingUpload {
    for (key, body) in [("run/checkpoint-000100/model.safetensors", &b"weights"[..]), ("run/checkpoint-000100/trainer_state.json", b"{\"global_step\": 100}")] {
        server.put_object(bucket, key, body.to_vec());
    }
    server.put_object(bucket, "run/checkpoint-000200/trainer_state.json", b"{\"global_step\": 200}".to_vec());
    server.start_multipart_upload(bucket, "run/checkpoint-000200/model.safetensors", vec![7u8; 1024])
}

fn keys(server: &S3Server, bucket: &str) -> Vec<String> {
    server.list_keys(bucket, "run/")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_marker_first_checkpoint_with_an_upload_in_flight_is_incomplete_and_cleanup_keeps_the_previous_one() {
    for server in servers() {
        let conn: Connection = connection_as(server, server.kind().name());
        let bucket = server.new_bucket("inflight");
        let upload = marker_first(server, &bucket);
        let loc = Location::S3(S3Url::parse(&format!("s3://{bucket}/")).unwrap());
        let found = checkpoint::discover(&loc, Some(&conn), &no_grace()).await.unwrap();
        let cps = &found.runs[0].checkpoints;
        assert!(cps[0].complete.is_complete());
        let why = cps[1].complete_reason().unwrap_or_else(|| panic!("{:?}: checkpoint-000200 counted complete", server.kind()));
        assert!(why.contains("in flight") && why.contains("model.safetensors"), "{why}");

        let policy = Policy { keep_last_n: Some(1), ..Default::default() };
        let round = checkpoint::enforce(&loc, Some(&conn), &policy, &no_grace(), &CollectSink::default()).await.unwrap();
        assert!(round.outcome.is_none(), "{:?}: nothing to delete while the newest is in flight", server.kind());
        assert_eq!(keys(server, &bucket).len(), 3, "the last good checkpoint is kept whole");

        server.complete_multipart_upload(&upload);
        let round = checkpoint::enforce(&loc, Some(&conn), &policy, &no_grace(), &CollectSink::default()).await.unwrap();
        assert_eq!(round.outcome.map(|o| o.checkpoints_deleted), Some(1), "{:?}", server.kind());
        assert_eq!(keys(server, &bucket), ["run/checkpoint-000200/model.safetensors", "run/checkpoint-000200/trainer_state.json"]);
    }
}

fn reported(sink: &CollectSink) -> Vec<String> {
    sink.events().into_iter().filter_map(|e| if let Event::WatchCheckpoint { id, .. } = e { Some(id) } else { None }).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_watch_reports_a_checkpoint_only_after_its_upload_completes_and_idle_polls_stay_one_list() {
    for server in servers() {
        let conn = connection_as(server, server.kind().name());
        let bucket = server.new_bucket("wflight");
        for key in ["run/checkpoint-000100/model.safetensors", "run/checkpoint-000100/trainer_state.json"] {
            server.put_object(&bucket, key, b"{}".to_vec());
        }
        let url = S3Url::parse(&format!("s3://{bucket}/")).unwrap();
        let mut w = Watcher::new(conn, &url, WatchOptions { interval: Duration::from_millis(10), ..Default::default() });
        let sink = CollectSink::default();
        w.poll(&sink).await.unwrap();
        let checks = w.upload_checks;

        server.put_object(&bucket, "run/checkpoint-000200/trainer_state.json", b"{}".to_vec());
        let upload = server.start_multipart_upload(&bucket, "run/checkpoint-000200/model.safetensors", vec![1u8; 512]);
        w.poll(&sink).await.unwrap();
        assert!(reported(&sink).is_empty(), "{:?}: reported while its weights are in flight", server.kind());
        assert_eq!(w.upload_checks, checks + 1, "one ListMultipartUploads for the new checkpoint");
        w.poll(&sink).await.unwrap();
        assert!(reported(&sink).is_empty());

        server.complete_multipart_upload(&upload);
        w.poll(&sink).await.unwrap();
        assert_eq!(reported(&sink), ["run/checkpoint-000200/"], "{:?}", server.kind());

        let (lists, checks) = (w.list_requests, w.upload_checks);
        w.poll(&sink).await.unwrap();
        assert_eq!((w.list_requests, w.upload_checks), (lists + 1, checks), "an idle poll is one LIST, no upload check");
    }
}
