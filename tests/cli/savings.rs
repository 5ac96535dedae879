//! The storage savings on real checkpoints: `tests/fixtures/frameworks/savings/`, written by
//! torch, safetensors and transformers (`generate.py --only savings`): three checkpoints of a
//! tiny model, each with its weights as safetensors and `.pt` in fp32 and bf16, a frozen bf16
//! vision tower and a tokenizer, the last two byte-identical in every checkpoint.
//! `savings.json` recorded every file's sha256 and the groups of identical files at generation;
//! every check here compares against it:
//!
//! - `s3 dedup` and `s3 review --detailed` find the tower's copies with the exact bytes;
//! - `checkpoint dedup` links every recorded group, keeps every file's bytes;
//! - `--dedup refs` stores the tower once, and the download is byte-identical (both engines);
//! - `--compress auto` and `--compress zstd` round trips are byte-identical (both engines,
//!   each decoding the other's upload);
//! - `--dedup refs` with `--compress auto` stores the tower once, compressed (less than refs
//!   alone), reads back byte-identical with both engines, materializes to `NAME.tcz`, and a
//!   missing compressed content fails the download naming both keys (exit 81); a dataset
//!   snapshot of it stages byte-identical.
//!
//! That `torch.load` and `safetensors` read the downloaded files is checked by hand with
//! `tests/fixtures/frameworks/load_check.py` (tests/README.md, "The savings fixtures").

use crate::common::*;
use crate::frameworks::{copy_dated, fixtures};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `s3 dedup` compares objects from this size (`review::duplicates::MIN_BYTES`).
const DEDUP_MIN_BYTES: u64 = 1 << 20;

fn savings() -> PathBuf {
    fixtures().join("savings")
}

fn record() -> Value {
    serde_json::from_slice(&std::fs::read(fixtures().join("savings.json")).unwrap()).unwrap()
}

/// Every recorded file: name → (size, sha256).
fn recorded_files() -> BTreeMap<String, (u64, String)> {
    record()["files"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), (v["size"].as_u64().unwrap(), v["sha256"].as_str().unwrap().to_string()))).collect()
}

/// The recorded groups of identical files: (size, names).
fn identical() -> Vec<(u64, Vec<String>)> {
    record()["identical"].as_array().unwrap().iter().map(|g| (g["size"].as_u64().unwrap(), g["files"].as_array().unwrap().iter().map(|f| f.as_str().unwrap().to_string()).collect())).collect()
}

/// Bytes given back by keeping one copy of each group of at least `min` bytes; and the copies.
fn duplicate_bytes(min: u64) -> (u64, u64) {
    identical().iter().filter(|(size, _)| *size >= min).fold((0, 0), |(copies, bytes), (size, files)| (copies + files.len() as u64 - 1, bytes + size * (files.len() as u64 - 1)))
}

fn sha256(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

/// `dir` holds exactly the recorded files, each with the size and sha256 recorded at generation.
fn assert_as_recorded(dir: &Path, what: &str) {
    let want = recorded_files();
    assert_eq!(local_files(dir), want.keys().cloned().collect::<Vec<_>>(), "{what}: the recorded files, nothing else");
    for (name, (size, sha)) in &want {
        let p = dir.join(name);
        assert_eq!((std::fs::metadata(&p).unwrap().len(), sha256(&p)), (*size, sha.clone()), "{what}: {name} is byte-identical to the generated file");
    }
}

/// A scratch copy of the fixture run, three days old (outside any grace period).
fn run_copy() -> (tempfile::TempDir, PathBuf) {
    let dir = scratch();
    let run = dir.path().join("run");
    copy_dated(&savings(), &run, Duration::from_secs(3 * 86_400));
    (dir, run)
}

#[test]
fn the_fixture_is_as_recorded_and_shares_a_frozen_tower_and_a_tokenizer() {
    assert_as_recorded(&savings(), "the committed fixture");
    let groups: BTreeSet<String> = identical().iter().map(|(_, f)| f[0].rsplit('/').next().unwrap().to_string()).collect();
    assert_eq!(groups, BTreeSet::from(["vision_tower.safetensors".into(), "tokenizer.json".into(), "tokenizer_config.json".into()]));
    for (_, files) in identical() {
        assert_eq!(files.len(), 3, "one copy per checkpoint: {files:?}");
    }
    let tower = identical()[0].0;
    assert!(tower >= DEDUP_MIN_BYTES, "the tower is large enough for s3 dedup and --compress auto: {tower}");
    assert_eq!(record()["duplicate_bytes"].as_u64(), Some(duplicate_bytes(0).1));
}

#[test]
fn checkpoint_dedup_links_every_recorded_group_and_keeps_every_byte() {
    let (_dir, run) = run_copy();
    let (copies, bytes) = duplicate_bytes(0);
    let server = trainctl_testkit::shared_moto();
    let dedup = |extra: &[&str]| ok(trainctl(server).args(["--json", "checkpoint", "dedup", run.to_str().unwrap(), "--grace", "0s"]).args(extra));
    let lines = json_lines(&dedup(&["--dry-run"]));
    let plan = lines.iter().find(|v| v["event"] == "dedup_plan").expect("a plan");
    assert_eq!((plan["files_to_replace"].as_u64(), plan["bytes_reclaimed"].as_u64()), (Some(copies), Some(bytes)), "{plan}");
    assert_as_recorded(&run, "after a dry run");
    let lines = json_lines(&dedup(&["--yes", "--method", "link"]));
    let sum = lines.iter().find(|v| v["event"] == "summary").expect("a summary");
    assert_eq!((sum["linked"].as_u64(), sum["bytes_reclaimed"].as_u64()), (Some(copies), Some(bytes)), "{sum}");
    assert_as_recorded(&run, "after dedup");
    for (_, files) in identical() {
        let inodes: BTreeSet<u64> = files.iter().map(|f| std::fs::metadata(run.join(f)).unwrap().ino()).collect();
        assert_eq!(inodes.len(), 1, "{files:?} share one inode");
    }
    let distinct: BTreeSet<u64> = recorded_files().keys().map(|f| std::fs::metadata(run.join(f)).unwrap().ino()).collect();
    assert_eq!(distinct.len() as u64, recorded_files().len() as u64 - copies, "nothing else was linked");
}

fn upload(b: &Backend, src: &Path, url: &str, args: &[&str]) -> Value {
    summary(&ok(b.trainctl().args(["--json", "s3", "upload", "-r"]).arg(src).arg(url).args(args)))
}

fn download(b: &Backend, url: &str, dst: &Path, engine: &str) {
    ok(b.trainctl().args(["--json", "s3", "download", "-r", url]).arg(dst).args(["--engine", engine]));
}

conformance! {
    fn s3_dedup_and_the_detailed_review_find_the_frozen_tower_with_its_exact_bytes(b: &Backend) {
        let bucket = b.new_bucket("savdup");
        let (_dir, run) = run_copy();
        upload(b, &run, &s3(&bucket, "exp/run/"), &["--engine", "native"]);
        let (copies, bytes) = duplicate_bytes(DEDUP_MIN_BYTES);
        let d: Value = serde_json::from_slice(&ok(b.trainctl().args(["--json", "s3", "dedup", &s3(&bucket, "exp/")])).stdout).unwrap();
        let groups = identical();
        let big: Vec<&(u64, Vec<String>)> = groups.iter().filter(|(s, _)| *s >= DEDUP_MIN_BYTES).collect();
        assert_eq!((d["groups_total"].as_u64(), d["objects"].as_u64(), d["reclaimable_bytes"].as_u64()), (Some(big.len() as u64), Some(copies + big.len() as u64), Some(bytes)), "{d}");
        let keys: Vec<String> = big[0].1.iter().map(|f| format!("exp/run/{f}")).collect();
        assert_eq!(d["groups"][0]["keys"], serde_json::json!(keys), "{d}");
        assert_eq!(d["groups"][0]["copies"].as_u64(), Some(big[0].1.len() as u64), "{d}");
        let r: Value = serde_json::from_slice(&ok(b.trainctl().args(["s3", "review", &s3(&bucket, ""), "--detailed", "--json"])).stdout).unwrap();
        assert_eq!((r["duplicates"]["groups_total"].as_u64(), r["duplicates"]["reclaimable_bytes"].as_u64()), (Some(big.len() as u64), Some(bytes)), "{}", r["duplicates"]);
        let back = scratch();
        download(b, &s3(&bucket, "exp/run/"), back.path(), "native");
        assert_as_recorded(back.path(), "a plain round trip");
    }

    fn refs_store_the_frozen_tower_once_and_the_download_is_byte_identical(b: &Backend) {
        let bucket = b.new_bucket("savrefs");
        let (dir, run) = run_copy();
        let (size, tower) = identical()[0].clone();
        for engine in ENGINES {
            let prefix = format!("{engine}/run/");
            let s = upload(b, &run, &s3(&bucket, &prefix), &["--engine", engine, "--dedup=refs"]);
            assert_eq!((s["referenced"].as_u64(), s["bytes_not_stored"].as_u64(), s["failed"].as_u64()), (Some(tower.len() as u64), Some(size * (tower.len() as u64 - 1)), Some(0)), "{engine}: {s}");
            let all = keys(b, &bucket, &prefix);
            assert_eq!(keys(b, &bucket, &format!("{prefix}.trainctl/content/")).len(), 1, "{engine}: the tower once: {all:?}");
            for f in &tower {
                assert!(all.contains(&format!("{prefix}{f}.trainctl-ref")) && !all.contains(&format!("{prefix}{f}")), "{engine}: {all:?}");
            }
            for engine_down in ENGINES {
                let back = dir.path().join(format!("back-{engine}-{engine_down}"));
                download(b, &s3(&bucket, &prefix), &back, engine_down);
                assert_as_recorded(&back, &format!("refs up by {engine}, down by {engine_down}"));
            }
        }
    }

    fn refs_with_compress_auto_store_the_tower_once_compressed_and_read_back_byte_identical(b: &Backend) {
        let bucket = b.new_bucket("savrefz");
        let (dir, run) = run_copy();
        let (size, tower) = identical()[0].clone();
        let stored = |prefix: &str| b.list_objects(&bucket, prefix).iter().map(|(_, n)| n).sum::<u64>();
        upload(b, &run, &s3(&bucket, "refs/run/"), &["--dedup=refs"]);
        let refs_only = stored("refs/run/");
        for engine in ENGINES {
            let prefix = format!("both-{engine}/run/");
            let s = upload(b, &run, &s3(&bucket, &prefix), &["--engine", engine, "--dedup=refs", "--compress", "auto"]);
            assert_eq!((s["referenced"].as_u64(), s["failed"].as_u64()), (Some(tower.len() as u64), Some(0)), "{engine}: {s}");
            let all = keys(b, &bucket, &prefix);
            let content = keys(b, &bucket, &format!("{prefix}.trainctl/content/"));
            assert!(content.len() == 1 && content[0].ends_with(".tcz"), "{engine}: the tower once, as byte planes: {all:?}");
            // Not stored twice: the tower's repeats at the compressed size they would have had.
            let compressed = b.list_objects(&bucket, &content[0])[0].1;
            assert_eq!(s["bytes_not_stored"].as_u64(), Some(compressed * (tower.len() as u64 - 1)), "{engine}: {s}");
            for f in &tower {
                assert!(all.contains(&format!("{prefix}{f}.trainctl-ref")) && !all.iter().any(|k| k.starts_with(&format!("{prefix}{f}.t")) && !k.ends_with(".trainctl-ref")), "{engine}: {all:?}");
                let body = String::from_utf8(b.get_object(&bucket, &format!("{prefix}{f}.trainctl-ref"))).unwrap();
                assert!(body.contains(&format!("\"size\":{size}")) && body.contains("\"trainctl_ref\":2"), "the original's size, format 2: {body}");
            }
            let both = stored(&prefix);
            assert!(both < refs_only, "{engine}: stored {both} with refs + compression, {refs_only} with refs alone");
            eprintln!("stored: refs alone {refs_only}, refs + compress auto {both}, logical {}", recorded_files().values().map(|(n, _)| n).sum::<u64>());
            for engine_down in ENGINES {
                let back = dir.path().join(format!("back-{engine}-{engine_down}"));
                download(b, &s3(&bucket, &prefix), &back, engine_down);
                assert_as_recorded(&back, &format!("refs + auto up by {engine}, down by {engine_down}"));
                let again = ok(b.trainctl().args(["--json", "s3", "download", "-r", &s3(&bucket, &prefix)]).arg(&back).args(["--engine", engine_down]));
                assert_eq!(summary(&again)["failed"].as_u64(), Some(0));
                assert_as_recorded(&back, "a second download over the first");
            }
        }
        // A compressed upload already under the scope (`--compress auto` alone) is copied into
        // the content area on the server, and the new checkpoint's tower references it.
        ok(b.trainctl().args(["s3", "upload", "-r"]).arg(&run).arg(s3(&bucket, "pre/run/")).args(["--compress", "auto"]));
        let ck = dir.path().join("checkpoint-9");
        std::fs::create_dir_all(&ck).unwrap();
        std::fs::copy(run.join(&tower[0]), ck.join("vision_tower.safetensors")).unwrap();
        let s = summary(&ok(b.trainctl().args(["--json", "s3", "upload", "-r"]).arg(&ck).arg(s3(&bucket, "pre/run/checkpoint-9/")).args(["--dedup=refs:s3://".to_string() + &bucket + "/pre/run/"]).args(["--compress", "auto"])));
        assert_eq!((s["referenced"].as_u64(), s["copied"].as_u64(), s["failed"].as_u64()), (Some(1), Some(1), Some(0)), "{s}");
        let pre = keys(b, &bucket, "pre/run/");
        assert!(pre.iter().filter(|k| k.contains(".trainctl/content/") && k.ends_with(".tcz")).count() == 1 && pre.contains(&"pre/run/checkpoint-9/vision_tower.safetensors.trainctl-ref".to_string()), "{pre:?}");
        let one = dir.path().join("ck9.safetensors");
        ok(b.trainctl().args(["s3", "download", &s3(&bucket, "pre/run/checkpoint-9/vision_tower.safetensors")]).arg(&one));
        assert_eq!(sha256(&one), recorded_files()[&tower[0]].1);
        // The review: logical bytes are the files', stored the compressed content once.
        let url = s3(&bucket, "both-native/run/");
        let r: Value = serde_json::from_slice(&ok(b.trainctl().args(["--json", "s3", "review", &url])).stdout).unwrap();
        let x = &r["references"];
        let content_size = b.list_objects(&bucket, "both-native/run/.trainctl/content/")[0].1;
        let logical: u64 = recorded_files().values().map(|(n, _)| n).sum();
        assert_eq!((x["refs"].as_u64(), x["content_objects"].as_u64(), x["content_bytes"].as_u64(), x["logical_bytes"].as_u64()), (Some(tower.len() as u64), Some(1), Some(content_size), Some(size * tower.len() as u64)), "{x}");
        assert_eq!((x["logical_total"].as_u64(), x["stored_total"].as_u64()), (Some(logical), Some(stored("both-native/run/"))), "{x}");
        // Checkpoints list at their logical bytes; one-way sync down decodes like a download.
        let out = ok(b.trainctl().args(["--json", "checkpoint", "list", &url, "--grace", "0s"]));
        let listed: u64 = stdout(&out).lines().map(|l| serde_json::from_str::<Value>(l).unwrap()["bytes"].as_u64().unwrap()).sum();
        assert_eq!(listed, logical, "{}", stdout(&out));
        let synced = dir.path().join("synced");
        std::fs::create_dir_all(&synced).unwrap();
        for _ in 0..2 {
            ok(b.trainctl().args(["s3", "sync"]).arg(&synced).arg(&url).args(["--direction", "down", "--delete", "--yes"]));
            assert_as_recorded(&synced, "sync down of refs + auto");
        }
        // Datasets read the references to compressed content as the files: snapshot, stage
        // (decoded, byte-identical), a full verify of the copy.
        let store = format!("--store=s3://{bucket}");
        ok(b.trainctl().args(["dataset", "snapshot", &url, "--name", "both", &store]));
        ok(b.trainctl().args(["dataset", "verify", "both@v1", &url, "--level", "full", &store]));
        let staged = dir.path().join("staged-both");
        ok(b.trainctl().args(["dataset", "stage", "both@v1"]).arg(&staged).arg(&store));
        ok(b.trainctl().args(["dataset", "verify", "both@v1"]).arg(&staged).args(["--level", "full", &store]));
        std::fs::remove_file(staged.join(".trainctl-dataset.json")).expect("the stage's marker");
        assert_as_recorded(&staged, "a dataset stage of refs + auto");
        // Cleanup keeps the content the last checkpoint's reference still uses.
        let last = tower.last().unwrap().clone();
        let s5 = s3(&bucket, "both-s5cmd/run/");
        ok(b.trainctl().args(["s3", "cleanup", &s5, "--keep-last-n", "1", "--yes", "--grace", "0s"]));
        assert_eq!(keys(b, &bucket, "both-s5cmd/run/.trainctl/content/").len(), 1, "the content stays");
        let only = dir.path().join("after-cleanup.safetensors");
        ok(b.trainctl().args(["s3", "download", &s3(&bucket, &format!("both-s5cmd/run/{last}"))]).arg(&only));
        assert_eq!(sha256(&only), recorded_files()[&last].1, "the last checkpoint's tower after the cleanup");
        // Materialize: the compressed content becomes `NAME.tcz` beside each reference's key,
        // the references and the content area go; the download decodes them as before.
        ok(b.trainctl().args(["s3", "materialize", &url, "--grace", "0s", "--yes"]));
        let all = keys(b, &bucket, "both-native/run/");
        assert!(!all.iter().any(|k| k.ends_with(".trainctl-ref") || k.contains(".trainctl/content/")), "{all:?}");
        assert!(tower.iter().all(|f| all.contains(&format!("both-native/run/{f}.tcz"))), "{all:?}");
        let back = dir.path().join("materialized");
        download(b, &url, &back, "native");
        assert_as_recorded(&back, "materialized refs + auto");
        // A content object replaced by other bytes fails verification, and nothing is left:
        // bytes that are no trainctl object, and a trainctl object of other content.
        let content = keys(b, &bucket, "both-s5cmd/run/.trainctl/content/").remove(0);
        let logical = s3(&bucket, &format!("both-s5cmd/run/{last}"));
        let local = dir.path().join("bad.safetensors");
        let other = dir.path().join("other.bin");
        std::fs::write(&other, vec![7u8; 200_000]).unwrap();
        ok(b.trainctl().args(["s3", "upload"]).arg(&other).arg(s3(&bucket, "scratch/other.bin")).args(["--compress", "zstd"]));
        let other_compressed = b.get_object(&bucket, "scratch/other.bin.zst");
        for (body, says) in [(b"not a trainctl object".to_vec(), "no trainctl header"), (other_compressed, "its reference records")] {
            b.put_object(&bucket, &content, body);
            let out = fails_with(b.trainctl().args(["s3", "download", &logical]).arg(&local), 80);
            assert!(stderr(&out).contains(says) && stderr(&out).contains(&content), "{}", stderr(&out));
            assert!(!local.exists() && !dir.path().join("bad.safetensors.tcz").exists(), "nothing left");
        }
        // A content object another tool deleted: the download names both keys (exit 81).
        b.delete_object(&bucket, &content);
        let before = keys(b, &bucket, "");
        let reference = format!("both-s5cmd/run/{last}.trainctl-ref");
        let local = dir.path().join("gone.safetensors");
        let out = fails_with(b.trainctl().args(["s3", "download", &s3(&bucket, &format!("both-s5cmd/run/{last}"))]).arg(&local), 81);
        assert!(stderr(&out).contains(&content) && stderr(&out).contains(&reference), "names both keys: {}", stderr(&out));
        assert!(!local.exists() && !dir.path().join("gone.safetensors.tcz").exists());
        // In a prefix download it is that item's failure, named the same way.
        let out = fails_with(b.trainctl().args(["s3", "download", "-r", &s3(&bucket, "both-s5cmd/run/")]).arg(dir.path().join("gone")), 3);
        assert!(stderr(&out).contains(&content) && stderr(&out).contains(&reference), "names both keys: {}", stderr(&out));
        assert!(!dir.path().join("gone").join(&last).exists());
        assert_eq!(keys(b, &bucket, ""), before, "nothing deleted");
    }

    fn compress_auto_and_zstd_round_trip_the_real_checkpoints_byte_identical(b: &Backend) {
        let bucket = b.new_bucket("savz");
        let (dir, run) = run_copy();
        let (_, tower) = identical()[0].clone();
        for how in ["auto", "zstd"] {
            for engine in ENGINES {
                let prefix = format!("{how}/{engine}/");
                let s = upload(b, &run, &s3(&bucket, &prefix), &["--engine", engine, "--compress", how]);
                assert_eq!(s["failed"].as_u64(), Some(0), "{how} {engine}: {s}");
                let stored = b.list_objects(&bucket, &prefix);
                let has = |k: &str| stored.iter().any(|(key, _)| key == &format!("{prefix}{k}"));
                for (name, _) in recorded_files() {
                    let form = match (how, name.ends_with(".json")) {
                        (_, true) => name.clone(), // text metadata stays plain
                        ("auto", _) if tower.contains(&name) => format!("{name}.tcz"), // bf16: byte planes
                        ("auto", _) => name.clone(), // below 1 MiB: not worth it under auto
                        _ => format!("{name}.zst"),
                    };
                    assert!(has(&form), "{how} {engine}: {form} in {stored:?}");
                }
                let total: u64 = stored.iter().map(|(_, n)| n).sum();
                let original: u64 = recorded_files().values().map(|(n, _)| n).sum();
                assert!(total < original, "{how} {engine}: {total} stored for {original}");
                for engine_down in ENGINES {
                    let back = dir.path().join(format!("back-{how}-{engine}-{engine_down}"));
                    download(b, &s3(&bucket, &prefix), &back, engine_down);
                    assert_as_recorded(&back, &format!("--compress {how} up by {engine}, down by {engine_down}"));
                }
            }
        }
    }
}
