//! Planning downloads against moto and Garage: names that collide by case or Unicode
//! normalisation are refused at plan time. How both engines write downloads
//! (`transfer::local_write`: planted links, names of 241–255 bytes) is in `conformance.rs`.

use trainctl_core::s3::{Connection, S3Url};
use trainctl_core::transfer::plan;
use trainctl_testkit::{shared_moto, S3Server};

mod common;

fn connection(server: &S3Server) -> Connection {
    common::connection_to(server, &server.endpoint_url())
}

fn servers() -> Vec<&'static S3Server> {
    let mut v = vec![shared_moto()];
    v.extend(trainctl_testkit::shared_garage_or_skip());
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_that_collide_by_case_or_normalisation_are_refused_at_plan_time() {
    for server in servers() {
        let bucket = server.new_bucket("collisions");
        for k in ["p/Model.pt", "p/model.pt", "p/caf\u{e9}.txt", "p/cafe\u{301}.txt", "p/ok.txt"] {
            server.put_object(&bucket, k, b"x".to_vec());
        }
        let dest = tempfile::tempdir().unwrap();
        let src = S3Url::parse(&format!("s3://{bucket}/p/")).unwrap();
        let job = plan::plan_download(&src, dest.path(), true, &connection(server)).await.unwrap();
        assert_eq!(job.items.iter().map(|i| i.key.as_str()).collect::<Vec<_>>(), ["p/ok.txt"], "{:?}", server.kind());
        let mut refused: Vec<_> = job.rejected.iter().map(|(k, e)| (k.as_str(), e.code.as_str())).collect();
        refused.sort();
        assert_eq!(refused.len(), 4, "{:?}: {refused:?}", server.kind());
        assert!(refused.iter().all(|(_, c)| *c == "name_collision"), "{refused:?}");
    }
}
