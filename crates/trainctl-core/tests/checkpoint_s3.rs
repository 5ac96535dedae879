//! Checkpoint discovery and cleanup on real S3 servers (moto and Garage): every layout detected
//! the same way locally and on S3, more than one DeleteObjects batch, and a plan that went stale
//! between planning and apply.

use aws_sdk_s3::primitives::ByteStream;
use futures::StreamExt;
use std::time::Duration;
use trainctl_core::checkpoint::{self, DetectOptions, Location, Policy};
use trainctl_core::event::{CollectSink, Event};
use trainctl_core::s3::{list, Connection, S3Url};
use trainctl_core::Error;
use trainctl_testkit::S3Server;

mod common;
use common::connection_as;

fn connection(server: &S3Server) -> Connection {
    connection_as(server, server.kind().name())
}

fn servers() -> Vec<&'static S3Server> {
    let mut v = vec![trainctl_testkit::shared_moto()];
    v.extend(trainctl_testkit::shared_garage_or_skip());
    v
}

async fn put_all(conn: &Connection, bucket: &str, keys: Vec<String>) {
    futures::stream::iter(keys)
        .map(|k| {
            let c = conn.client.clone();
            let b = bucket.to_string();
            async move { c.put_object().bucket(b).key(&k).body(ByteStream::from(vec![3u8; 16])).send().await.unwrap_or_else(|e| panic!("put {k}: {e:?}")) }
        })
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await;
}

fn no_grace() -> DetectOptions {
    DetectOptions { grace: Duration::ZERO, ..DetectOptions::new() }
}

async fn keys(conn: &Connection, bucket: &str) -> Vec<String> {
    list::collect_objects(conn, bucket, "", None).await.unwrap().into_iter().map(|o| o.key).collect()
}

/// DCP checkpoints step_1..step_3 of `files` shards each under `runs/a/`.
fn dcp_keys(files: usize) -> Vec<String> {
    let mut k = Vec::new();
    for step in 1..=3 {
        k.push(format!("runs/a/step_{step}/.metadata"));
        k.extend((0..files).map(|r| format!("runs/a/step_{step}/__{r}_0.distcp")));
    }
    k
}

async fn plan_keep_one(loc: &Location, conn: &Connection) -> Vec<checkpoint::Plan> {
    let found = checkpoint::discover(loc, Some(conn), &no_grace()).await.unwrap();
    checkpoint::plan_all(&found.runs, &Policy { keep_last_n: Some(1), ..Default::default() }, checkpoint::detect::now_secs()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_cleanup_deletes_thousands_of_objects_in_batches_and_keeps_the_rest() {
    for server in servers() {
        let conn = connection(server);
        let bucket = server.new_bucket("ckbatch");
        put_all(&conn, &bucket, dcp_keys(700)).await;
        let loc = Location::S3(S3Url::parse(&format!("s3://{bucket}/runs/")).unwrap());
        let plans = plan_keep_one(&loc, &conn).await;
        assert_eq!(plans[0].deletions().count(), 2);
        let sink = CollectSink::default();
        let out = checkpoint::apply(&plans, &loc, Some(&conn), &no_grace(), &sink).await.unwrap();
        assert_eq!((out.checkpoints_deleted, out.objects_deleted, out.failed.len()), (2, 1402, 0), "{:?}", server.kind());
        let left = keys(&conn, &bucket).await;
        assert_eq!(left.len(), 701);
        assert!(left.iter().all(|k| k.starts_with("runs/a/step_3/")));
        assert_eq!(sink.events().iter().filter(|e| matches!(e, Event::CheckpointDeleted { .. })).count(), 2);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_plan_is_refused_when_a_checkpoint_appears_before_apply() {
    for server in servers() {
        let conn = connection(server);
        let bucket = server.new_bucket("ckstale");
        put_all(&conn, &bucket, dcp_keys(2)).await;
        let loc = Location::S3(S3Url::parse(&format!("s3://{bucket}/runs/")).unwrap());
        let plans = plan_keep_one(&loc, &conn).await;
        put_all(&conn, &bucket, vec!["runs/a/step_4/.metadata".into()]).await;
        let err = checkpoint::apply(&plans, &loc, Some(&conn), &no_grace(), &CollectSink::default()).await.unwrap_err();
        assert!(matches!(&err, Error::PlanStale(m) if m.contains("step_4")), "{err}");
        assert_eq!(keys(&conn, &bucket).await.len(), 10, "nothing deleted");
    }
}

/// One realistic tree holding every built-in layout, complete and incomplete checkpoints.
fn every_layout() -> Vec<(String, Vec<u8>)> {
    let mut t: Vec<(&str, String)> = vec![
        ("hf/checkpoint-100/model.safetensors", "w".into()),
        ("hf/checkpoint-100/trainer_state.json", r#"{"global_step":100,"log_history":[{"step":100,"eval_loss":0.7}]}"#.into()),
        ("hf/checkpoint-200/model.safetensors", "w".into()),
        ("pl/checkpoints/epoch=0-step=50-val_loss=0.90.ckpt", "w".into()),
        ("pl/checkpoints/epoch=1-step=100-val_loss=0.40.ckpt", "w".into()),
        ("pl/checkpoints/last.ckpt", "w".into()),
        ("ds/global_step10/mp_rank_00_model_states.pt", "w".into()),
        ("ds/global_step20/mp_rank_00_model_states.pt", "w".into()),
        ("ds/latest", "global_step10".into()),
        ("mg/iter_0000500/mp_rank_00/model_optim_rng.pt", "w".into()),
        ("mg/latest_checkpointed_iteration.txt", "500".into()),
        ("dcp/step_1/.metadata", "m".into()),
        ("dcp/step_1/__0_0.distcp", "w".into()),
        ("dcp/step_2/__0_0.distcp", "w".into()),
        ("plain/step_7.pt", "w".into()),
        ("sh/step_9/model-00001-of-00002.safetensors", "w".into()),
        ("sh/step_9/model.safetensors.index.json", r#"{"weight_map":{"a":"model-00001-of-00002.safetensors","b":"model-00002-of-00002.safetensors"}}"#.into()),
        ("jax/ckpt_1/_SUCCESS", String::new()),
        ("jax/ckpt_1/state", "w".into()),
        ("jax/ckpt_2/state", "w".into()),
    ];
    t.sort();
    t.into_iter().map(|(p, c)| (p.to_string(), c.into_bytes())).collect()
}

/// (id, layout, step, complete, metrics) of every detected checkpoint, for comparison.
fn summary(found: &checkpoint::Discovery) -> Vec<String> {
    found
        .runs
        .iter()
        .flat_map(|r| &r.checkpoints)
        .map(|c| format!("{} {:?} {:?} {} {:?}", c.id, c.layout, c.step, c.complete.is_complete(), c.metrics))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_layout_is_detected_the_same_locally_and_on_s3() {
    let tmp = tempfile::tempdir().unwrap();
    for (p, c) in every_layout() {
        let path = tmp.path().join(&p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, c).unwrap();
    }
    let local = checkpoint::discover(&Location::Local(tmp.path().to_path_buf()), None, &no_grace()).await.unwrap();
    let incomplete: Vec<&str> = local.runs.iter().flat_map(|r| &r.checkpoints).filter(|c| !c.complete.is_complete()).map(|c| c.id.as_str()).collect();
    assert_eq!(incomplete, ["dcp/step_2/", "ds/global_step20/", "hf/checkpoint-200/", "jax/ckpt_2/", "sh/step_9/"]);
    assert_eq!(local.checkpoint_count(), 14, "{:#?}", summary(&local));
    for server in servers() {
        let conn = connection(server);
        let bucket = server.new_bucket("cklayouts");
        for (p, c) in every_layout() {
            server.put_object(&bucket, &format!("train/{p}"), c);
        }
        let loc = Location::S3(S3Url::parse(&format!("s3://{bucket}/train")).unwrap());
        let remote = checkpoint::discover(&loc, Some(&conn), &no_grace()).await.unwrap();
        assert_eq!(summary(&remote), summary(&local), "{:?}", server.kind());
    }
}

/// moto checks a bucket policy per key inside DeleteObjects (Garage has no bucket policies).
#[tokio::test(flavor = "multi_thread")]
async fn s3_delete_denied_for_some_keys_is_reported_per_key_and_the_rest_is_deleted() {
    let server = trainctl_testkit::shared_moto();
    let conn = connection(server);
    let bucket = server.new_bucket("ckdenied");
    put_all(&conn, &bucket, dcp_keys(3)).await;
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Deny","Principal":"*","Action":"s3:DeleteObject","Resource":"arn:aws:s3:::{bucket}/runs/a/step_1/*"}}]}}"#
    );
    conn.client.put_bucket_policy().bucket(&bucket).policy(policy).send().await.unwrap();
    let loc = Location::S3(S3Url::parse(&format!("s3://{bucket}/runs/")).unwrap());
    let plans = plan_keep_one(&loc, &conn).await;
    let sink = CollectSink::default();
    let out = checkpoint::apply(&plans, &loc, Some(&conn), &no_grace(), &sink).await.unwrap();

    assert_eq!((out.checkpoints_deleted, out.objects_deleted, out.failed.len()), (1, 4, 4), "{:?}", out.failed);
    assert!(out.failed.iter().all(|(k, e)| k.starts_with("runs/a/step_1/") && e.code == "access_denied"), "{:?}", out.failed);
    let left = keys(&conn, &bucket).await;
    assert!(left.iter().all(|k| !k.starts_with("runs/a/step_2/")), "step_2 was deleted despite step_1's failures: {left:?}");
    assert_eq!(sink.events().iter().filter(|e| matches!(e, Event::ObjectFailed { .. })).count(), 4);
}
