//! A watch over content references (`--dedup=refs`): a reference counts at its logical size,
//! each is read once per change of its object — a broken one included, which is said once, as
//! a notice — so a watch over a run with a broken reference does not GET it at every poll.
//! Requests counted through the testkit's proxy, on moto and Garage.

use std::time::Duration;
use trainctl_core::event::{CollectSink, Event};
use trainctl_core::refs::Ref;
use trainctl_core::s3::S3Url;
use trainctl_core::watch::{WatchOptions, Watcher};
use trainctl_testkit::{FaultProxy, S3Server};

mod common;
use common::connection_to;

fn servers() -> Vec<&'static S3Server> {
    let mut v = vec![trainctl_testkit::shared_moto()];
    v.extend(trainctl_testkit::shared_garage_or_skip());
    v
}

const BROKEN: &str = "run/checkpoint-100/optimizer.pt.trainctl-ref";

fn checkpoint(server: &S3Server, bucket: &str, step: u64) {
    server.put_object(bucket, &format!("run/checkpoint-{step}/trainer_state.json"), format!("{{\"global_step\": {step}}}").into_bytes());
    server.put_object(bucket, &format!("run/checkpoint-{step}/model.safetensors"), vec![1u8; 100]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_watch_reads_each_reference_once_per_change_and_says_a_broken_one_once() {
    for server in servers() {
        let bucket = server.new_bucket("refwatch");
        let state = br#"{"global_step": 100}"#;
        server.put_object(&bucket, "run/checkpoint-100/trainer_state.json", state.to_vec());
        server.put_object(&bucket, "run/checkpoint-100/model.safetensors.trainctl-ref", Ref::new("run/", 0xabc, 70_000).body());
        let broken = b"not a reference".to_vec();
        server.put_object(&bucket, BROKEN, broken.clone());
        let proxy = FaultProxy::start(server.socket_addr()).unwrap();
        proxy.log_requests();
        let url = S3Url::parse(&format!("s3://{bucket}/run/")).unwrap();
        // Steps not zero-padded: every detection looks at the whole prefix (diff mode).
        let opts = WatchOptions { interval: Duration::from_millis(10), report_existing: true, ..Default::default() };
        let mut w = Watcher::new(connection_to(server, &proxy.url()), &url, opts);
        let sink = CollectSink::default();
        let ref_gets = || proxy.requests().iter().filter(|(m, t)| m == "GET" && t.split('?').next().unwrap_or("").ends_with(".trainctl-ref")).count();
        let notices = || -> Vec<String> { sink.events().into_iter().filter_map(|e| if let Event::Notice { message } = e { Some(message) } else { None }).filter(|m| m.contains(BROKEN)).collect() };

        w.poll(&sink).await.unwrap();
        let bytes: Vec<u64> = sink.events().into_iter().filter_map(|e| if let Event::WatchCheckpoint { id, bytes, .. } = e { id.ends_with("checkpoint-100/").then_some(bytes) } else { None }).collect();
        assert_eq!(bytes, [state.len() as u64 + 70_000 + broken.len() as u64], "{:?} {:?}: the reference at its logical size, the broken one at its stored size", server.kind(), sink.events());
        assert_eq!(ref_gets(), 2, "{:?}: each reference read once", server.kind());
        let said = notices();
        assert_eq!(said.len(), 1, "{:?}: {said:?}", server.kind());
        assert!(said[0].contains("not usable") && said[0].contains("counted at its stored size"), "{}", said[0]);

        for step in [200, 300] {
            checkpoint(server, &bucket, step);
            w.poll(&sink).await.unwrap();
        }
        assert!(w.list_requests >= 3);
        assert_eq!(ref_gets(), 2, "{:?}: no reference read again while it does not change", server.kind());
        assert_eq!(notices().len(), 1, "{:?}: the broken reference said once", server.kind());

        server.put_object(&bucket, BROKEN, b"still not a reference".to_vec());
        w.poll(&sink).await.unwrap();
        assert_eq!(ref_gets(), 3, "{:?}: the changed reference read again, and only it", server.kind());
        assert_eq!(notices().len(), 2, "{:?}: said again once it changed", server.kind());
        w.poll(&sink).await.unwrap();
        assert_eq!((ref_gets(), notices().len()), (3, 2), "{:?}: an idle poll reads no reference", server.kind());
    }
}
