//! How both engines write downloads (`transfer::local_write`), against moto and Garage: a
//! symlink planted at a temp name or at a parent folder redirects nothing; names of 241–255
//! bytes work (the temp name does not grow with them); names that collide by case or Unicode
//! normalisation are refused at plan time.

use std::path::Path;

use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use tokio_util::sync::CancellationToken;
use trainctl_core::config::{CredentialSource, ResolvedProfile};
use trainctl_core::event::{CollectSink, Direction};
use trainctl_core::s3::{Connection, S3Url};
use trainctl_core::transfer::native::NativeEngine;
use trainctl_core::transfer::s5cmd::S5cmdEngine;
use trainctl_core::transfer::{plan, Engine, Outcome, TransferItem, TransferJob, TransferOptions};
use trainctl_testkit::{pattern_bytes, shared_moto, S3Server};

fn connection(server: &S3Server) -> Connection {
    let profile = ResolvedProfile {
        name: "test".into(),
        provider: server.kind().name().into(),
        endpoint_url: Some(server.endpoint_url()),
        region: server.region().to_string(),
        path_style: true,
        checksum_when_required: true,
        credentials: CredentialSource::AwsChain,
        prices: None,
    };
    let creds = Credentials::new(server.access_key(), server.secret_key(), None, None, "test");
    Connection { client: server.client(), profile, credentials: Some(SharedCredentialsProvider::new(creds)) }
}

fn servers() -> Vec<&'static S3Server> {
    let mut v = vec![shared_moto()];
    v.extend(trainctl_testkit::shared_garage_or_skip());
    v
}

/// Both engines (s5cmd must be installed: the setup installs it, CI has it).
fn engines(conn: &Connection) -> Vec<Box<dyn Engine>> {
    let s5cmd = trainctl_testkit::tools::find_s5cmd().expect("s5cmd must be installed for these tests");
    vec![Box::new(NativeEngine::new(conn.clone())), Box::new(S5cmdEngine::new(s5cmd, conn.clone()))]
}

fn opts() -> TransferOptions {
    TransferOptions { concurrency: 4, part_size: 5 * 1024 * 1024, verify_checksum: true, ..TransferOptions::default() }
}

fn job_for(bucket: &str, dest: &Path, keys: &[(&str, usize)]) -> TransferJob {
    let mut job = TransferJob::new(Direction::Download, bucket, dest);
    for (k, n) in keys {
        job.items.push(TransferItem { local: dest.join(k), key: k.to_string(), size: *n as u64, etag: None, write_if: None });
    }
    job
}

async fn run(engine: &dyn Engine, job: &TransferJob) -> Outcome {
    engine.run(job, &opts(), &CollectSink::default(), CancellationToken::new()).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn symlinks_planted_at_a_temp_name_or_a_parent_folder_redirect_nothing() {
    for server in servers() {
        let bucket = server.new_bucket("planted-links");
        server.put_object(&bucket, "x.bin", pattern_bytes("x.bin", 6 * 1024 * 1024));
        server.put_object(&bucket, "sub/y.bin", pattern_bytes("sub/y.bin", 100));
        let conn = connection(server);
        for engine in engines(&conn) {
            let dest = tempfile::tempdir().unwrap();
            let outside = tempfile::tempdir().unwrap();
            let victim = outside.path().join("victim");
            std::fs::write(&victim, b"untouched").unwrap();
            // The temp name older versions used, and a folder swapped for a link after planning.
            std::os::unix::fs::symlink(&victim, dest.path().join(".x.bin.trainctl-part")).unwrap();
            std::os::unix::fs::symlink(outside.path(), dest.path().join("sub")).unwrap();
            let job = job_for(&bucket, dest.path(), &[("x.bin", 6 * 1024 * 1024), ("sub/y.bin", 100)]);
            let outcome = run(engine.as_ref(), &job).await;
            let who = format!("{:?}/{}", server.kind(), engine.name());
            assert_eq!(outcome.done, 1, "{who}: {:?}", outcome.failed);
            assert_eq!(outcome.failed.len(), 1, "{who}");
            assert_eq!((outcome.failed[0].0.as_str(), outcome.failed[0].1.code.as_str()), ("sub/y.bin", "unsafe_key"), "{who}");
            assert_eq!(std::fs::read(&victim).unwrap(), b"untouched", "{who}: nothing written through the temp-name link");
            let outside_names: Vec<_> = std::fs::read_dir(outside.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
            assert_eq!(outside_names, ["victim"], "{who}: nothing written through the folder link");
            assert_eq!(std::fs::read(dest.path().join("x.bin")).unwrap(), pattern_bytes("x.bin", 6 * 1024 * 1024), "{who}");
            let mut names: Vec<_> = std::fs::read_dir(dest.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
            names.sort();
            assert_eq!(names, [".x.bin.trainctl-part", "sub", "x.bin"], "{who}: only the planted links and the file; no temp left");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_of_241_to_255_bytes_download_with_both_engines() {
    for server in servers() {
        let bucket = server.new_bucket("long-names");
        let keys: Vec<(String, usize)> = [241usize, 250, 255].iter().map(|n| (format!("d/{}", "n".repeat(*n)), 1000 + n)).collect();
        for (k, n) in &keys {
            server.put_object(&bucket, k, pattern_bytes(k, *n));
        }
        let conn = connection(server);
        for engine in engines(&conn) {
            let dest = tempfile::tempdir().unwrap();
            let refs: Vec<(&str, usize)> = keys.iter().map(|(k, n)| (k.as_str(), *n)).collect();
            let outcome = run(engine.as_ref(), &job_for(&bucket, dest.path(), &refs)).await;
            assert_eq!((outcome.done, outcome.failed.len()), (3, 0), "{:?}/{}: {:?}", server.kind(), engine.name(), outcome.failed);
            for (k, n) in &keys {
                assert_eq!(std::fs::read(dest.path().join(k)).unwrap(), pattern_bytes(k, *n));
            }
            assert_eq!(std::fs::read_dir(dest.path().join("d")).unwrap().count(), 3, "no temp file left");
        }
    }
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
