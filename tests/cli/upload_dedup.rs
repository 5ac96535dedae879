//! `--dedup` end to end on both backends and both engines: a run whose checkpoints share files
//! (an identical tokenizer and frozen component) goes up with the second checkpoint's shared
//! files copied on the server — counted in the summary, the events and the bytes the fault proxy
//! saw go upstream — and comes back byte-identical; a checkpoint uploaded later on its own is
//! deduplicated against the run (the recorded hash, s5cmd's uploads included); `--dry-run` shows
//! the copies and sends nothing; an object whose metadata another tool stripped is never a copy
//! source (a plain upload); `trainctl local --upload-to --dedup` copies the frozen component of
//! every checkpoint after the first. (A file changed while hashed, and a hash the store
//! contradicts: `crates/trainctl-core/tests/upload_dedup.rs`.)

use crate::common::*;
use crate::runs::{local_train, summary_of};
use std::path::Path;

const KIB: u64 = 1024;
/// The files every checkpoint shares: a tokenizer and a frozen component.
const TOKENIZER: u64 = 300 * KIB;
const FROZEN: u64 = 2048 * KIB;
const SHARED: u64 = TOKENIZER + FROZEN;
/// Each checkpoint's own weights.
const MODEL: u64 = 4096 * KIB;

/// One checkpoint: the shared files (same bytes in every checkpoint), its own weights and state.
fn checkpoint(dir: &Path, step: u64) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("tokenizer.json"), pattern_bytes("tokenizer", TOKENIZER as usize)).unwrap();
    std::fs::write(dir.join("frozen.safetensors"), pattern_bytes("frozen-vision-tower", FROZEN as usize)).unwrap();
    random_file(&dir.join("model.safetensors"), MODEL);
    std::fs::write(dir.join("trainer_state.json"), format!("{{\"global_step\": {step}}}")).unwrap();
}

/// A run of two checkpoints under `root`; its total size.
fn run(root: &Path) -> u64 {
    checkpoint(&root.join("checkpoint-100"), 100);
    checkpoint(&root.join("checkpoint-200"), 200);
    local_files(root).iter().map(|f| std::fs::metadata(root.join(f)).unwrap().len()).sum()
}

fn copied_events(out: &std::process::Output) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = json_lines(out)
        .into_iter()
        .filter(|e| e["event"] == "object_copied")
        .map(|e| (e["key"].as_str().unwrap().to_string(), e["from"].as_str().unwrap().to_string()))
        .collect();
    v.sort();
    v
}

conformance! {
    fn a_run_whose_checkpoints_share_files_sends_them_once_and_round_trips(b: &Backend) {
        let bucket = b.new_bucket("dedup");
        let dir = scratch();
        let src = dir.path().join("run");
        let total = run(&src);
        let proxy = FaultProxy::start(b.socket_addr()).unwrap();
        for engine in ENGINES {
            let prefix = format!("{engine}/run/");
            proxy.reset_counters();
            let out = ok(b.trainctl_via(&proxy.url()).args(["--json", "s3", "upload", "-r"]).arg(&src).arg(s3(&bucket, &prefix)).args(["--engine", engine, "--dedup"]));
            let s = summary(&out);
            assert_eq!((s["done"].as_u64(), s["copied"].as_u64(), s["bytes_not_sent"].as_u64(), s["failed"].as_u64()), (Some(8), Some(2), Some(SHARED), Some(0)), "{engine}: {s}");
            let p = |k: &str| format!("{prefix}{k}");
            assert_eq!(
                copied_events(&out),
                [(p("checkpoint-200/frozen.safetensors"), p("checkpoint-100/frozen.safetensors")), (p("checkpoint-200/tokenizer.json"), p("checkpoint-100/tokenizer.json"))],
                "{engine}"
            );
            // What went over the wire: everything but the shared files once (HTTP overhead aside).
            let sent = proxy.bytes_upstream();
            assert!(sent < total - SHARED + 256 * KIB, "{engine}: {sent} bytes sent for {} bytes of distinct content", total - SHARED);
            assert!(sent >= total - SHARED, "{engine}: {sent}");
            let back = dir.path().join(format!("back-{engine}"));
            ok(b.trainctl().args(["s3", "download", "-r", &s3(&bucket, &prefix)]).arg(&back));
            assert_trees_equal(&src, &back);

            // A checkpoint uploaded later on its own: its shared files are found under the run by
            // the hash recorded at the first upload (s5cmd's included).
            let later = dir.path().join(format!("later-{engine}"));
            checkpoint(&later, 300);
            let out = ok(b.trainctl().args(["--json", "s3", "upload", "-r"]).arg(&later).arg(s3(&bucket, &p("checkpoint-300/")))
                .args(["--engine", engine, &format!("--dedup=s3://{bucket}/{prefix}")]));
            assert_eq!((summary(&out)["copied"].as_u64(), summary(&out)["bytes_not_sent"].as_u64()), (Some(2), Some(SHARED)), "{engine}: {}", stdout(&out));
            let back = dir.path().join(format!("back300-{engine}"));
            ok(b.trainctl().args(["s3", "download", "-r", &s3(&bucket, &p("checkpoint-300/"))]).arg(&back));
            assert_trees_equal(&later, &back);
        }
    }

    fn dry_run_shows_the_copies_and_sends_nothing(b: &Backend) {
        let bucket = b.new_bucket("deduplan");
        let dir = scratch();
        let src = dir.path().join("run");
        run(&src);
        let out = ok(b.trainctl().args(["--json", "s3", "upload", "-r"]).arg(&src).arg(s3(&bucket, "run/")).args(["--dedup", "--dry-run"]));
        let copies: Vec<serde_json::Value> = json_lines(&out).into_iter().filter(|l| l["plan"] == "copy").collect();
        assert_eq!(copies.len(), 2, "{}", stdout(&out));
        assert!(copies.iter().all(|c| c["after_upload"] == true && c["from"].as_str().unwrap().starts_with("run/checkpoint-100/")), "{copies:?}");
        assert_eq!(json_lines(&out).iter().filter(|l| l["plan"] == "upload").count(), 6);
        assert!(keys(b, &bucket, "").is_empty(), "a dry run sends nothing");
        let human = ok(b.trainctl().args(["s3", "upload", "-r"]).arg(&src).arg(s3(&bucket, "run/")).args(["--dedup", "--dry-run"]));
        assert!(stderr(&human).contains("copy 2 on the server"), "{}", stderr(&human));
        // A scope that does not contain the destination is refused before anything is looked at.
        let bad = fails_with(b.trainctl().args(["s3", "upload", "-r"]).arg(&src).arg(s3(&bucket, "run/")).arg(format!("--dedup=s3://{bucket}/other/")), 2);
        assert_error_shape(&bad);
    }

    fn an_object_whose_metadata_was_stripped_is_never_a_copy_source(b: &Backend) {
        let bucket = b.new_bucket("dedupstrip");
        let dir = scratch();
        let src = dir.path().join("run");
        run(&src);
        // checkpoint-100 goes up with its hashes recorded (s5cmd: no stored checksum either) …
        ok(b.trainctl().args(["s3", "upload", "-r"]).arg(src.join("checkpoint-100")).arg(s3(&bucket, "run/checkpoint-100/")).args(["--engine", "s5cmd", "--dedup"]));
        // … then another tool rewrites its objects' metadata (`aws s3 cp --metadata-directive REPLACE`).
        let client = b.client();
        let rt = tokio::runtime::Runtime::new().unwrap();
        for k in keys(b, &bucket, "run/checkpoint-100/") {
            rt.block_on(client.copy_object().bucket(&bucket).key(&k).copy_source(format!("{bucket}/{k}")).metadata_directive(aws_sdk_s3::types::MetadataDirective::Replace).metadata("owner", "other-tool").send()).unwrap();
        }
        let out = ok(b.trainctl().args(["--json", "s3", "upload", "-r"]).arg(src.join("checkpoint-200")).arg(s3(&bucket, "run/checkpoint-200/")).args(["--engine", "s5cmd", &format!("--dedup=s3://{bucket}/run/")]));
        assert_eq!(summary(&out)["copied"].as_u64(), Some(0), "{}", stdout(&out));
        assert_eq!(summary(&out)["done"].as_u64(), Some(4));
        let back = dir.path().join("back");
        ok(b.trainctl().args(["s3", "download", "-r", &s3(&bucket, "run/")]).arg(&back));
        assert_trees_equal(&src, &back);
    }

    fn local_upload_to_with_dedup_sends_the_frozen_component_once(b: &Backend) {
        let bucket = b.new_bucket("deduplocal");
        let dir = scratch();
        let out_dir = dir.path().join("out");
        let out = ok(b.trainctl()
            .args(["--json", "local", &local_train(), "--checkpoints"]).arg(&out_dir)
            .args(["--upload-to", &format!("s3://{bucket}/runs/d/"), "--dedup", "--log"]).arg(dir.path().join("train.log"))
            .args(["--poll", "200ms", "--grace", "1s", "--", "--out"]).arg(&out_dir)
            .args(["--steps", "40", "--save-every", "10", "--step-seconds", "0.04", "--frozen-kib", "512"]));
        let s = summary_of(&out);
        assert_eq!(s["uploaded"].as_array().unwrap().len(), 4, "{s}");
        assert_eq!((s["copied"].as_u64(), s["bytes_not_sent"].as_u64()), (Some(3), Some(3 * 512 * KIB)), "{s}");
        for step in [10, 20, 30, 40] {
            let back = dir.path().join(format!("back-{step}"));
            ok(b.trainctl().args(["s3", "download", "-r", &s3(&bucket, &format!("runs/d/checkpoint-{step}/"))]).arg(&back));
            assert_trees_equal(&out_dir.join(format!("checkpoint-{step}")), &back);
        }
    }
}
