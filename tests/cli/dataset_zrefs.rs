//! Datasets over references to compressed content (`--dedup=refs --compress zstd`: a small
//! reference at each logical key, one compressed content object per repeated file), on moto and
//! Garage: snapshot (a format-2 manifest of the logical files) → verify the prefix at `count`,
//! `checksum` (the references' CRC64NVME, no object read) and `full` (every content object
//! streamed through the decoder) → free space judged by the logical size → stage (decoded,
//! byte-identical by sha256, no compressed copy or reference left) → verify the copy → one
//! flipped byte fails `full` → repair of a changed and of a deleted file; an interrupted stage
//! (the files decoded before the cut) resumed; a body cut while decoding in flight continued into the same
//! decode, and a link that stays down failing the stage as a link error with nothing left of
//! the compressed files, then resumed;
//! on a versioned bucket (moto) the content staged at its pinned version after an overwrite;
//! and a corrupt content
//! object: changed at `checksum` since the snapshot (a stage refuses the changed source), and,
//! snapshotted corrupt, a failed `full` and a stage that fails with the integrity error and leaves
//! nothing under the file's name. Also the upload's `bytes_not_stored` (dry run and run) of such
//! references: the repeats at their compressed size.

use crate::common::*;
use sha2::{Digest, Sha256};
use std::path::Path;

/// Text-like bytes that compress (several times smaller under zstd), distinct per `tag`.
fn compressible(tag: &str, size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(size + 64);
    let mut i = 0u64;
    while out.len() < size {
        out.extend_from_slice(format!("{tag} step {i} loss {} lr {}\n", (i * 7919) % 1000, (i * 31) % 97).as_bytes());
        i += 1;
    }
    out.truncate(size);
    out
}

/// A run whose every binary file is held at least twice (so each becomes a reference to one
/// compressed content object), plus a small text file that stays a plain object.
const FILES: [(&str, &str, usize); 8] = [
    ("checkpoint-1/tower.bin", "tower", 300_000),
    ("checkpoint-2/tower.bin", "tower", 300_000),
    ("checkpoint-3/tower.bin", "tower", 300_000),
    ("checkpoint-1/model.bin", "model-a", 200_000),
    ("best/model.bin", "model-a", 200_000),
    ("checkpoint-2/model.bin", "model-b", 200_000),
    ("checkpoint-3/model.bin", "model-b", 200_000),
    ("notes.txt", "notes", 900),
];
const REFERENCED: u64 = 7;

fn write_run(root: &Path) {
    for (rel, tag, size) in FILES {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, compressible(tag, size)).unwrap();
    }
}

fn logical_bytes() -> u64 {
    FILES.iter().map(|(_, _, n)| *n as u64).sum()
}

fn sha256(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

/// `dir` holds exactly the run's files, byte-identical (sha256).
fn assert_identical(dir: &Path, src: &Path) {
    let want: Vec<String> = FILES.iter().map(|(f, _, _)| f.to_string()).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    let got: Vec<String> = local_files(dir).into_iter().filter(|f| f != ".trainctl-dataset.json").collect();
    assert_eq!(got, want, "exactly the logical files (and the stage's marker): no compressed copy, no reference");
    for f in &want {
        assert_eq!(sha256(&dir.join(f)), sha256(&src.join(f)), "{f}");
    }
}

/// Uploads the run with `--dedup=refs --compress zstd` under `run/`; returns the source folder.
fn uploaded(b: &Backend, bucket: &str) -> tempfile::TempDir {
    let dir = scratch();
    write_run(&dir.path().join("run"));
    let out = ok(b.trainctl().args(["--json", "s3", "upload", "-r"]).arg(dir.path().join("run")).arg(s3(bucket, "run/")).args(["--dedup=refs", "--compress", "zstd"]));
    let s = summary(&out);
    assert_eq!((s["referenced"].as_u64(), s["failed"].as_u64()), (Some(REFERENCED), Some(0)), "{s}");
    let content = keys(b, bucket, "run/.trainctl/content/");
    assert!(content.len() == 3 && content.iter().all(|k| k.ends_with(".zst")), "three compressed content objects: {content:?}");
    dir
}

fn store(bucket: &str) -> String {
    format!("--store=s3://{bucket}")
}

fn snapshot(b: &Backend, bucket: &str, version: &str) -> serde_json::Value {
    let out = ok(b.trainctl().args(["--json", "dataset", "snapshot", &s3(bucket, "run/"), "--name", "zrun", "--version", version, &store(bucket)]));
    json_lines(&out).into_iter().find(|v| v["event"] == "snapshot").expect("a snapshot line")["manifest"].clone()
}

fn verify(b: &Backend, bucket: &str, reference: &str, target: &str, level: &str, code: i32) -> serde_json::Value {
    let out = fails_with(b.trainctl().args(["--json", "dataset", "verify", reference, target, "--level", level, &store(bucket)]), code);
    json_lines(&out).into_iter().find(|v| v["event"] == "verify").expect("a verify report")["report"].clone()
}

fn flip_one_byte(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[100] ^= 0x01;
    std::fs::write(path, bytes).unwrap();
}

/// bf16-like bytes (noisy low bytes, a narrow exponent range): zstd keeps most of them, so a
/// content object of several MiB whose body can be cut halfway.
fn weights(seed: u64, size: usize) -> Vec<u8> {
    let mut x = seed | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    (0..size / 2).flat_map(|_| {
        let r = next();
        [r as u8, 0x3c + (r >> 8) as u8 % 4]
    }).collect()
}

/// A run of one 8 MiB weights file held twice (one compressed content object of several MiB)
/// and a text file, uploaded with `--dedup=refs --compress zstd` and snapshotted as `wrun@v1`.
fn uploaded_weights(b: &Backend, bucket: &str) -> (tempfile::TempDir, u64) {
    let dir = scratch();
    let run = dir.path().join("run");
    let w = weights(11, 8 << 20);
    for rel in ["checkpoint-1/model.bin", "best/model.bin"] {
        std::fs::create_dir_all(run.join(rel).parent().unwrap()).unwrap();
        std::fs::write(run.join(rel), &w).unwrap();
    }
    std::fs::write(run.join("notes.txt"), compressible("notes", 900)).unwrap();
    ok(b.trainctl().args(["s3", "upload", "-r"]).arg(&run).arg(s3(bucket, "run/")).args(["--dedup=refs", "--compress", "zstd"]));
    let content = b.list_objects(bucket, "run/.trainctl/content/");
    assert!(content.len() == 1 && content[0].1 > 4 << 20, "one content object of several MiB: {content:?}");
    ok(b.trainctl().args(["dataset", "snapshot", &s3(bucket, "run/"), "--name", "wrun", "--version", "v1", &store(bucket)]));
    (dir, content[0].1)
}

/// The files under `dir` are exactly `want` (relative paths), byte-identical to `src`'s.
fn assert_files(dir: &Path, src: &Path, want: &[&str]) {
    let got: Vec<String> = local_files(dir).into_iter().filter(|f| f != ".trainctl-dataset.json").collect();
    assert_eq!(got, want, "exactly these files: no compressed copy, no temp file");
    for f in want {
        assert_eq!(sha256(&dir.join(f)), sha256(&src.join(f)), "{f}");
    }
}

conformance! {
    fn compressed_references_snapshot_verify_stage_byte_identical_and_repair(b: &Backend) {
        let bucket = b.new_bucket("dszref");
        let src_dir = uploaded(b, &bucket);
        let src = src_dir.path().join("run");
        let m = snapshot(b, &bucket, "v1");
        assert_eq!((m["files"].as_u64(), m["bytes"].as_u64(), m["format"].as_u64()), (Some(FILES.len() as u64), Some(logical_bytes()), Some(2)), "logical files, format 2: {m}");
        // The entries describe the logical files: size, the original's CRC64NVME, the content key.
        let out = ok(b.trainctl().args(["--json", "dataset", "show", "zrun@v1", "--files", &store(&bucket)]));
        let entries = json_lines(&out).split_off(1);
        let tower = entries.iter().find(|e| e["key"] == "checkpoint-2/tower.bin").expect("the tower's entry");
        assert_eq!((tower["size"].as_u64(), tower["codec"].as_str(), tower["checksum"]["algorithm"].as_str()), (Some(300_000), Some("zstd"), Some("CRC64NVME")), "{tower}");
        assert!(tower["content"].as_str().unwrap().contains(".trainctl/content/") && tower["stored_size"].as_u64().unwrap() < 100_000, "{tower}");
        let notes = entries.iter().find(|e| e["key"] == "notes.txt").expect("the plain file's entry");
        assert!(notes.get("codec").is_none() && notes.get("content").is_none(), "{notes}");

        // The prefix: sizes, the references' CRCs from the listing (nothing read), and every
        // content object decoded as it streams.
        let prefix = s3(&bucket, "run/");
        for (level, hashed) in [("count", 0), ("checksum", 0), ("full", FILES.len() as u64)] {
            let r = verify(b, &bucket, "zrun@v1", &prefix, level, 0);
            assert_eq!((r["ok"].as_u64(), r["hashed"].as_u64(), r["size_only"].as_u64()), (Some(FILES.len() as u64), Some(hashed), Some(0)), "{level}: {r}");
        }

        // Free space is about the files' size, not the compressed objects'.
        let dir = scratch();
        let staged = dir.path().join("zrun");
        let stored: u64 = b.list_objects(&bucket, "run/").iter().map(|(_, n)| n).sum();
        assert!(stored * 2 < logical_bytes(), "the content compresses: {stored} stored of {}", logical_bytes());
        let out = fails_with(b.trainctl().env("TRAINCTL_TEST_FREE_BYTES", stored.to_string()).args(["dataset", "stage", "zrun@v1"]).arg(&staged).arg(store(&bucket)), 75);
        assert!(stderr(&out).contains("not enough free space"), "{}", stderr(&out));
        assert!(!staged.exists() && !dir.path().join("zrun.partial").exists(), "nothing was created");

        let out = ok(b.trainctl().args(["--json", "dataset", "stage", "zrun@v1"]).arg(&staged).arg(store(&bucket)));
        let report = json_lines(&out).last().unwrap()["report"].clone();
        assert_eq!((report["downloaded"].as_u64(), report["verify"]["ok"].as_u64(), report["verify"]["hashed"].as_u64()), (Some(FILES.len() as u64), Some(FILES.len() as u64), Some(0)), "decoded and verified as they arrived: {report}");
        assert_identical(&staged, &src);
        for level in ["count", "checksum", "full"] {
            let r = verify(b, &bucket, "zrun@v1", staged.to_str().unwrap(), level, 0);
            assert_eq!(r["ok"].as_u64(), Some(FILES.len() as u64), "{level}: {r}");
        }
        let r = verify(b, &bucket, "zrun@v1", staged.to_str().unwrap(), "full", 0);
        assert_eq!((r["hashed"].as_u64(), r["from_cache"].as_u64()), (Some(0), Some(FILES.len() as u64)), "a second full verify reads nothing: {r}");

        // One flipped byte: `count` passes, `full` names the file; repair fetches it again.
        flip_one_byte(&staged.join("checkpoint-2/tower.bin"));
        verify(b, &bucket, "zrun@v1", staged.to_str().unwrap(), "count", 0);
        let r = verify(b, &bucket, "zrun@v1", staged.to_str().unwrap(), "full", 71);
        assert_eq!((r["changed"][0]["key"].as_str(), r["changed"].as_array().map(Vec::len)), (Some("checkpoint-2/tower.bin"), Some(1)), "{r}");
        assert!(r["changed"][0]["detail"].as_str().unwrap().contains("crc64nvme:"), "{r}");
        let out = ok(b.trainctl().args(["--json", "dataset", "repair", "zrun@v1"]).arg(&staged).args(["--level", "full", &store(&bucket)]));
        assert_eq!(json_lines(&out).last().unwrap()["report"]["fetched"], serde_json::json!(["checkpoint-2/tower.bin"]));
        assert_identical(&staged, &src);
        // A deleted file is fetched again, decoded under its own name.
        std::fs::remove_file(staged.join("best/model.bin")).unwrap();
        let out = ok(b.trainctl().args(["--json", "dataset", "repair", "zrun@v1"]).arg(&staged).arg(store(&bucket)));
        assert_eq!(json_lines(&out).last().unwrap()["report"]["fetched"], serde_json::json!(["best/model.bin"]));
        assert_identical(&staged, &src);
        verify(b, &bucket, "zrun@v1", staged.to_str().unwrap(), "full", 0);
        // Staged again: already there, verified, nothing downloaded.
        let out = ok(b.trainctl().args(["--json", "dataset", "stage", "zrun@v1"]).arg(&staged).arg(store(&bucket)));
        assert_eq!(json_lines(&out).last().unwrap()["report"]["already_staged"], true);
    }

    fn an_interrupted_stage_of_compressed_references_resumes_and_leaves_no_compressed_copy(b: &Backend) {
        let bucket = b.new_bucket("dszres");
        let src_dir = uploaded(b, &bucket);
        let src = src_dir.path().join("run");
        snapshot(b, &bucket, "v1");
        let dir = scratch();
        let (staged, partial) = (dir.path().join("zrun"), dir.path().join("zrun.partial"));
        // What an interrupted stage leaves: the files decoded and renamed before the cut (an
        // unfinished one leaves nothing: it is decoded into a temp file that goes).
        std::fs::create_dir_all(partial.join("checkpoint-1")).unwrap();
        std::fs::copy(src.join("checkpoint-1/tower.bin"), partial.join("checkpoint-1/tower.bin")).unwrap();
        let out = ok(b.trainctl().args(["--json", "dataset", "stage", "zrun@v1"]).arg(&staged).args(["--verify", "full", &store(&bucket)]));
        let r = json_lines(&out).last().unwrap()["report"].clone();
        assert_eq!((r["resumed"].as_u64(), r["downloaded"].as_u64()), (Some(1), Some(FILES.len() as u64 - 1)), "{r}");
        assert_identical(&staged, &src);
    }

    fn a_versioned_bucket_stages_compressed_content_at_its_pinned_version(b: &Backend) {
        let bucket = b.new_bucket("dszver");
        let rt = tokio::runtime::Runtime::new().unwrap();
        let status = aws_sdk_s3::types::VersioningConfiguration::builder().status(aws_sdk_s3::types::BucketVersioningStatus::Enabled).build();
        if rt.block_on(b.server().client().put_bucket_versioning().bucket(&bucket).versioning_configuration(status).send()).is_err() {
            eprintln!("{:?}: no bucket versioning; pinned staging not testable here", b.kind());
            return;
        }
        let src_dir = uploaded(b, &bucket);
        let m = snapshot(b, &bucket, "v1");
        assert_eq!(m["versioned"], true, "{m}");
        // The tower's content object overwritten after the snapshot (another compressed file).
        let tower_content = keys(b, &bucket, "run/.trainctl/content/").into_iter().find(|k| k.contains("-300000.")).unwrap();
        let other = scratch();
        std::fs::write(other.path().join("other.bin"), compressible("other", 300_000)).unwrap();
        ok(b.trainctl().args(["s3", "upload"]).arg(other.path().join("other.bin")).arg(s3(&bucket, "scratch/other.bin")).args(["--compress", "zstd"]));
        b.put_object(&bucket, &tower_content, b.get_object(&bucket, "scratch/other.bin.zst"));
        let dir = scratch();
        let staged = dir.path().join("zrun");
        ok(b.trainctl().args(["dataset", "stage", "zrun@v1"]).arg(&staged).args(["--verify", "full", &store(&bucket)]));
        assert_identical(&staged, &src_dir.path().join("run"));
    }

    fn a_corrupt_compressed_content_object_is_changed_fails_full_and_fails_stage_leaving_nothing(b: &Backend) {
        let bucket = b.new_bucket("dszbad");
        let _src = uploaded(b, &bucket);
        snapshot(b, &bucket, "v1");
        // The tower's content object replaced by another trainctl object (another file,
        // compressed): its header decodes fine, to the wrong bytes.
        let tower_content = {
            let out = ok(b.trainctl().args(["--json", "dataset", "show", "zrun@v1", "--files", &store(&bucket)]));
            json_lines(&out).into_iter().find(|e| e["key"] == "checkpoint-1/tower.bin").unwrap()["content"].as_str().unwrap().to_string()
        };
        let other = scratch();
        std::fs::write(other.path().join("other.bin"), compressible("other", 300_000)).unwrap();
        ok(b.trainctl().args(["s3", "upload"]).arg(other.path().join("other.bin")).arg(s3(&bucket, "scratch/other.bin")).args(["--compress", "zstd"]));
        b.put_object(&bucket, &tower_content, b.get_object(&bucket, "scratch/other.bin.zst"));
        b.delete_object(&bucket, "scratch/other.bin.zst");

        // Since the snapshot: changed at `checksum` (the content object's ETag), from the listing.
        let prefix = s3(&bucket, "run/");
        verify(b, &bucket, "zrun@v1", &prefix, "count", 0);
        let r = verify(b, &bucket, "zrun@v1", &prefix, "checksum", 71);
        let changed: Vec<&str> = r["changed"].as_array().unwrap().iter().map(|c| c["key"].as_str().unwrap()).collect();
        assert_eq!(changed, ["checkpoint-1/tower.bin", "checkpoint-2/tower.bin", "checkpoint-3/tower.bin"], "{r}");
        assert!(r["changed"][0]["detail"].as_str().unwrap().contains("overwritten since the snapshot") && r["hashed"] == 0, "{r}");
        let dir = scratch();
        let staged = dir.path().join("zrun");
        fails_with(b.trainctl().args(["dataset", "stage", "zrun@v1"]).arg(&staged).arg(store(&bucket)), 74);
        assert!(!staged.exists() && !dir.path().join("zrun.partial").exists(), "nothing was downloaded");

        // Snapshotted as it now is: only decoding finds it out.
        snapshot(b, &bucket, "v2");
        verify(b, &bucket, "zrun@v2", &prefix, "checksum", 0);
        let r = verify(b, &bucket, "zrun@v2", &prefix, "full", 71);
        assert_eq!(r["changed"].as_array().map(Vec::len), Some(3), "{r}");
        assert!(r["changed"][0]["detail"].as_str().unwrap().contains("is corrupt") && r["changed"][0]["detail"].as_str().unwrap().contains(&tower_content), "{r}");
        let out = run(b.trainctl().args(["dataset", "stage", "zrun@v2"]).arg(&staged).arg(store(&bucket)));
        assert!(!out.status.success(), "{}", stderr(&out));
        assert!(stderr(&out).contains("is corrupt") && stderr(&out).contains("its reference records"), "the integrity error: {}", stderr(&out));
        let partial = dir.path().join("zrun.partial");
        assert!(!staged.exists(), "not renamed into place");
        for ck in ["checkpoint-1", "checkpoint-2", "checkpoint-3"] {
            assert!(!partial.join(ck).join("tower.bin").exists() && !partial.join(ck).join("tower.bin.zst").exists(), "nothing under {ck}/tower.bin: {:?}", local_files(&partial));
        }
        assert!(partial.join("checkpoint-2/model.bin").exists(), "the rest was staged, for a later resume");
    }

    fn bytes_not_stored_of_compressed_references_counts_the_compressed_bytes_dry_run_and_upload(b: &Backend) {
        let bucket = b.new_bucket("zrefns");
        let dir = scratch();
        let src = dir.path().join("run");
        write_run(&src);
        let upload = |extra: &[&str]| ok(b.trainctl().args(["--json", "s3", "upload", "-r"]).arg(&src).arg(s3(&bucket, "run/")).args(["--dedup=refs", "--compress", "zstd"]).args(extra));
        let out = upload(&["--dry-run"]);
        let plan = json_lines(&out).into_iter().find(|v| v["plan"] == "refs_summary").expect("the references' summary");
        assert!(keys(b, &bucket, "").is_empty(), "a dry run writes nothing");
        let s = summary(&upload(&[]));
        // Exactly what the store was spared: each repeat of a file at its content object's
        // (compressed) size — the tower twice, each model once.
        let content: std::collections::BTreeMap<String, u64> = b.list_objects(&bucket, "run/.trainctl/content/").into_iter().collect();
        assert_eq!(content.len(), 3, "{content:?}");
        let tower_size = FILES[0].2 as u64;
        let size_of = |original: u64| content.iter().filter(|(k, _)| k.contains(&format!("-{original}."))).map(|(_, n)| *n).collect::<Vec<_>>();
        let (tower, models) = (size_of(tower_size), size_of(200_000));
        assert_eq!((tower.len(), models.len()), (1, 2), "{content:?}");
        let exact = 2 * tower[0] + models[0] + models[1];
        assert_eq!((s["referenced"].as_u64(), s["bytes_not_stored"].as_u64()), (Some(REFERENCED), Some(exact)), "{s}");
        let uncompressed = 2 * tower_size + 2 * 200_000;
        assert!(exact * 3 < uncompressed, "the repeats compress: {exact} of {uncompressed}");
        // The dry run says the same, estimated from samples (the compressed sizes are not known
        // before compressing), not the files' uncompressed size.
        let estimate = plan["bytes_not_stored"].as_u64().unwrap();
        assert_eq!((plan["references"].as_u64(), plan["estimated"].as_bool()), (Some(REFERENCED), Some(true)), "{plan}");
        assert!(estimate.abs_diff(exact) * 10 < exact, "the dry run's estimate {estimate} is within 10% of the {exact} the upload spared");
    }

    fn a_body_cut_while_staging_compressed_content_is_continued_into_the_same_decode(b: &Backend) {
        let bucket = b.new_bucket("dszcut");
        let (src_dir, stored) = uploaded_weights(b, &bucket);
        let src = src_dir.path().join("run");
        let proxy = FaultProxy::start(b.socket_addr()).unwrap();
        let dir = scratch();
        let staged = dir.path().join("wrun");
        // The connections reset once half the content object has come down (the manifest and
        // the listing are a few KiB): both bodies are continued from where they broke.
        proxy.cut_after_downstream_bytes(stored / 2);
        let out = ok(b.trainctl_via(&proxy.url()).args(["--json", "dataset", "stage", "wrun@v1"]).arg(&staged).args(["--verify", "full", &store(&bucket)]));
        assert_eq!(proxy.cuts(), 1, "the body was cut once");
        let r = json_lines(&out).last().unwrap()["report"].clone();
        assert_eq!((r["downloaded"].as_u64(), r["verify"]["ok"].as_u64()), (Some(3), Some(3)), "{r}");
        assert_files(&staged, &src, &["best/model.bin", "checkpoint-1/model.bin", "notes.txt"]);
        // Only the compressed bytes came down, plus what the cut cost (at most what was in
        // flight): never a second copy.
        assert!(proxy.bytes_downstream() < 3 * stored, "{} bytes down for {stored} stored twice", proxy.bytes_downstream());
    }

    fn a_stage_that_keeps_losing_its_connection_fails_as_a_link_error_leaves_nothing_and_resumes(b: &Backend) {
        let bucket = b.new_bucket("dszout");
        let (src_dir, stored) = uploaded_weights(b, &bucket);
        let src = src_dir.path().join("run");
        let proxy = std::sync::Arc::new(FaultProxy::start(b.socket_addr()).unwrap());
        let dir = scratch();
        let (staged, partial) = (dir.path().join("wrun"), dir.path().join("wrun.partial"));
        // From a third of the content object on, every connection is reset: the bodies break
        // and every attempt to continue them fails.
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let outage = {
            let (proxy, stop) = (proxy.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut down = false;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    down = down || proxy.bytes_downstream() > stored / 3;
                    if down {
                        proxy.cut_after_upstream_bytes(0);
                        proxy.cut_after_downstream_bytes(0);
                    }
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
                proxy.disarm_cut();
            })
        };
        let out = run(b.trainctl_via(&proxy.url()).env("TRAINCTL_RETRY_ATTEMPTS", "2").args(["--json", "dataset", "stage", "wrun@v1"]).arg(&staged).arg(store(&bucket)));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        outage.join().unwrap();
        // The link's error (the body broke, then the requests to continue it failed), never a
        // verdict on the content.
        let error = json_lines(&out).into_iter().find_map(|v| v.get("error").cloned()).expect("an error line");
        assert!(["interrupted", "unreachable"].contains(&error["code"].as_str().unwrap()) && [Some(35), Some(26)].contains(&out.status.code()), "{error}");
        assert!(!staged.exists(), "not renamed into place");
        let left = local_files(&partial);
        assert!(left.iter().all(|f| f == "notes.txt"), "nothing of the compressed files under either name, no temp file: {left:?}");
        // Run again on a healthy link: fetched, decoded, in place.
        ok(b.trainctl().args(["dataset", "stage", "wrun@v1"]).arg(&staged).args(["--verify", "full", &store(&bucket)]));
        assert_files(&staged, &src, &["best/model.bin", "checkpoint-1/model.bin", "notes.txt"]);
    }
}
