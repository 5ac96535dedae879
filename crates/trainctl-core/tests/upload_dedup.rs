//! `--dedup` planning and copies against the real servers (moto and Garage), for what the CLI
//! cannot time: a file changed between the plan and its hashing, a file changed after its
//! hashing and before its copy (uploaded with its new bytes, never copied), an object whose
//! recorded hash disagrees with the store's own CRC64NVME (not trusted), and the
//! `server_side_copy` and `conditional_copy` quirks pinned per server (moto copies but ignores
//! `x-amz-copy-source-if-match`); and `--dedup=refs` falling back to plain uploads when a file
//! changed after hashing or a content object vanished between plan and run.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ChecksumAlgorithm;
use tokio_util::sync::CancellationToken;
use trainctl_core::config::quirks;
use trainctl_core::event::CollectSink;
use trainctl_core::s3::{Connection, S3Url};
use trainctl_core::transfer::dedup::{plan_dedup, META_CRC64NVME};
use trainctl_core::transfer::{self, plan, EnginePref, TransferOptions};
use trainctl_testkit::{pattern_bytes, S3Server};

mod common;

fn servers() -> Vec<&'static S3Server> {
    let mut v = vec![trainctl_testkit::shared_moto()];
    v.extend(trainctl_testkit::shared_garage_or_skip());
    v
}

fn conn(server: &S3Server) -> Connection {
    common::connection_to(server, &server.endpoint_url())
}

async fn get(conn: &Connection, bucket: &str, key: &str) -> Vec<u8> {
    let o = conn.client.get_object().bucket(bucket).key(key).send().await.unwrap();
    o.body.collect().await.unwrap().into_bytes().to_vec()
}

/// A folder of two checkpoints sharing `tokenizer.bin` (256 KiB), each with its own weights.
fn run_dir() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    for (ck, seed) in [("checkpoint-1", 1u8), ("checkpoint-2", 2u8)] {
        std::fs::create_dir_all(d.path().join(ck)).unwrap();
        std::fs::write(d.path().join(ck).join("tokenizer.bin"), pattern_bytes("tokenizer", 256 * 1024)).unwrap();
        std::fs::write(d.path().join(ck).join("weights.bin"), vec![seed; 300 * 1024]).unwrap();
    }
    d
}

async fn planned(conn: &Connection, bucket: &str, dir: &std::path::Path) -> transfer::TransferJob {
    let dest = S3Url::parse(&format!("s3://{bucket}/run/")).unwrap();
    plan::plan_upload(dir, &dest, &plan::UploadPlanOptions { recursive: true, ..Default::default() }, conn).await.unwrap()
}

async fn run(conn: &Connection, job: &transfer::TransferJob) -> transfer::Outcome {
    let engine = transfer::choose_engine(EnginePref::Native, conn, &CollectSink::default()).unwrap();
    engine.run(job, &TransferOptions::default(), &CollectSink::default(), CancellationToken::new()).await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_changed_after_the_plan_is_uploaded_with_its_new_bytes_never_copied() {
    for server in servers() {
        let conn = conn(server);
        let bucket = server.new_bucket("dedupchg");
        let dir = run_dir();
        let mut job = planned(&conn, &bucket, dir.path()).await;
        let report = plan_dedup(&mut job, &conn, "run/").await.unwrap();
        assert_eq!((report.hashed, report.copies), (4, 1), "{report:?}");
        assert!(job.copies[0].in_job && job.copies[0].key.ends_with("checkpoint-2/tokenizer.bin"), "{:?}", job.copies);
        // Same size, other bytes, after hashing: the copy would be wrong.
        let changed = dir.path().join("checkpoint-2/tokenizer.bin");
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&changed, vec![7u8; 256 * 1024]).unwrap();
        let o = run(&conn, &job).await;
        assert_eq!((o.done, o.copied, o.failed.len()), (4, 0, 0), "{o:?}");
        assert_eq!(get(&conn, &bucket, "run/checkpoint-2/tokenizer.bin").await, vec![7u8; 256 * 1024], "{:?}", server.kind());
        // Its hash was computed from the old bytes: it must not be recorded.
        let head = conn.client.head_object().bucket(&bucket).key("run/checkpoint-2/tokenizer.bin").send().await.unwrap();
        assert!(head.metadata().is_none_or(|m| !m.contains_key(META_CRC64NVME)), "{head:?}");

        // Changed between the plan and the hashing: reported, uploaded in full.
        let bucket = server.new_bucket("dedupchg2");
        let dir = run_dir();
        let mut job = planned(&conn, &bucket, dir.path()).await;
        std::fs::write(dir.path().join("checkpoint-2/tokenizer.bin"), vec![7u8; 100 * 1024]).unwrap();
        let report = plan_dedup(&mut job, &conn, "run/").await.unwrap();
        assert_eq!(report.copies, 0, "{report:?}");
        assert!(report.notes.iter().any(|n| n.contains("changed while it was hashed")), "{report:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_recorded_hash_the_store_contradicts_is_not_trusted() {
    for server in servers() {
        let name = server.kind().name();
        let conn = conn(server);
        let bucket = server.new_bucket("deduplie");
        let dir = run_dir();
        let tokenizer = std::fs::read(dir.path().join("checkpoint-1/tokenizer.bin")).unwrap();
        let crc = trainctl_core::codec::crc64_base64(u64::from_be_bytes(transfer::checksum::Algorithm::Crc64Nvme.digest(&tokenizer).try_into().unwrap()));
        // Same size, other bytes, a recorded hash claiming the tokenizer's, and (where the store
        // keeps one) the store's own CRC64NVME of what it really holds.
        let lie = vec![9u8; tokenizer.len()];
        let put = conn.client.put_object().bucket(&bucket).key("run/old/tokenizer.bin").metadata(META_CRC64NVME, &crc).body(ByteStream::from(lie.clone()));
        let keeps_crc64 = quirks::get_or_other(name).checksums_kept.iter().any(|c| c == "crc64nvme");
        let lie_crc = trainctl_core::codec::crc64_base64(u64::from_be_bytes(transfer::checksum::Algorithm::Crc64Nvme.digest(&lie).try_into().unwrap()));
        let put = if keeps_crc64 { put.checksum_algorithm(ChecksumAlgorithm::Crc64Nvme).checksum_crc64_nvme(lie_crc) } else { put };
        put.send().await.unwrap();
        let mut job = planned(&conn, &bucket, dir.path()).await;
        let report = plan_dedup(&mut job, &conn, "run/").await.unwrap();
        assert_eq!(report.looked_at, 1, "{report:?}");
        if keeps_crc64 {
            assert!(job.copies.iter().all(|c| c.from != "run/old/tokenizer.bin"), "{name}: trusted a hash its store contradicts: {:?}", job.copies);
        }
        // Nothing the plan trusts comes from an object without a hash.
        server.put_object(&bucket, "run/stripped/tokenizer.bin", tokenizer.clone());
        let mut job = planned(&conn, &bucket, dir.path()).await;
        plan_dedup(&mut job, &conn, "run/").await.unwrap();
        assert!(job.copies.iter().all(|c| c.from != "run/stripped/tokenizer.bin"), "{name}: {:?}", job.copies);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_server_side_copy_quirk_of_each_server_is_what_the_server_does() {
    for server in servers() {
        let name = server.kind().name();
        let conn = conn(server);
        let bucket = server.new_bucket("dedupq");
        let put = conn.client.put_object().bucket(&bucket).key("a").body(ByteStream::from(b"one".to_vec())).send().await.unwrap();
        let etag = put.e_tag().unwrap().to_string();
        let copied = conn.client.copy_object().bucket(&bucket).key("b").copy_source(format!("{bucket}/a")).copy_source_if_match(&etag).send().await.is_ok();
        let stale = conn.client.copy_object().bucket(&bucket).key("c").copy_source(format!("{bucket}/a")).copy_source_if_match("\"00000000000000000000000000000000\"").send().await;
        let row = quirks::get(name).unwrap();
        assert_eq!(row.server_side_copy, copied && get(&conn, &bucket, "b").await == b"one", "data/quirks/providers.toml [{name}] server_side_copy is wrong");
        assert_eq!(row.conditional_copy, stale.is_err(), "data/quirks/providers.toml [{name}] conditional_copy is wrong");
    }
}

/// `--dedup=refs` when the world moves between plan and run: a file changed after it was
/// hashed is uploaded with its new bytes (never referenced), and references whose content
/// object another tool deleted meanwhile become plain uploads — the upload ends like a plain
/// one, every key readable with the right bytes.
#[tokio::test(flavor = "multi_thread")]
async fn refs_that_cannot_be_written_become_plain_uploads() {
    use trainctl_core::transfer::dedup::{plan_dedup_with, DedupMode};
    for server in servers() {
        let conn = conn(server);
        let bucket = server.new_bucket("refsfall");
        let dir = run_dir();
        let mut job = planned(&conn, &bucket, dir.path()).await;
        let report = plan_dedup_with(&mut job, &conn, "run/", DedupMode::Refs).await.unwrap();
        assert_eq!((report.refs, job.refs.len()), (2, 2), "{report:?}");
        // checkpoint-2's tokenizer changes after hashing (same size, other bytes).
        let changed = dir.path().join("checkpoint-2/tokenizer.bin");
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&changed, vec![9u8; 256 * 1024]).unwrap();
        let o = run(&conn, &job).await;
        assert_eq!((o.referenced, o.failed.len()), (1, 0), "{o:?}");
        assert_eq!(get(&conn, &bucket, "run/checkpoint-2/tokenizer.bin").await, vec![9u8; 256 * 1024], "{:?}", server.kind());
        let keys: Vec<String> = conn.client.list_objects_v2().bucket(&bucket).prefix("run/").send().await.unwrap().contents().iter().filter_map(|o| o.key().map(String::from)).collect();
        assert!(keys.contains(&"run/checkpoint-1/tokenizer.bin.trainctl-ref".to_string()) && !keys.contains(&"run/checkpoint-2/tokenizer.bin.trainctl-ref".to_string()), "{keys:?}");

        // A later upload plans references to the stored content; another tool deletes it
        // before the run: the files go up plain.
        let later = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(later.path().join("checkpoint-3")).unwrap();
        std::fs::write(later.path().join("checkpoint-3/tokenizer.bin"), pattern_bytes("tokenizer", 256 * 1024)).unwrap();
        let mut job = planned(&conn, &bucket, later.path()).await;
        let report = plan_dedup_with(&mut job, &conn, "run/", DedupMode::Refs).await.unwrap();
        assert_eq!((report.refs, job.refs.first().map(|r| r.new_content)), (1, Some(false)), "{report:?}");
        let content = job.refs[0].content.clone();
        conn.client.delete_object().bucket(&bucket).key(&content).send().await.unwrap();
        let o = run(&conn, &job).await;
        assert_eq!((o.referenced, o.done, o.failed.len()), (0, 1, 0), "{o:?}");
        assert_eq!(get(&conn, &bucket, "run/checkpoint-3/tokenizer.bin").await, pattern_bytes("tokenizer", 256 * 1024));
    }
}
