//! `trainctl dataset` and `trainctl local --dataset` end to end on moto and Garage: snapshot →
//! verify; one byte flipped (fails `full`, passes `count`); a missing and an extra file; an object
//! overwritten after the snapshot (changed at `checksum`; a clear refusal to stage on an
//! unversioned bucket; staged at its pinned version on a versioned one); an interrupted stage
//! resumed; too little free space refused before any download; unknown, corrupt and newer
//! manifests; the training gate refusing to start and recording the digest; a snapshot from an
//! S3 Inventory report equal to the listing's, and bad reports refused with nothing written.

use crate::common::*;
use std::path::Path;
use trainctl_testkit::inventory::{write_inventory, InventoryFormat, InventoryRow};
use std::process::Output;

fn json_lines(out: &Output) -> Vec<serde_json::Value> {
    stdout(out).lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}"))).collect()
}

/// A bucket with a small dataset under `data/`, snapshotted as `imgs@v1`; returns the bucket.
fn seeded(b: &Backend, hint: &str) -> String {
    let bucket = b.new_bucket(hint);
    b.put_object(&bucket, "data/a.bin", pattern_bytes("a", 3000));
    b.put_object(&bucket, "data/sub/b.bin", pattern_bytes("b", 70_000));
    b.put_object(&bucket, "data/c d.txt", b"hello dataset".to_vec());
    b.put_object(&bucket, "other/not-in-it.txt", b"x".to_vec());
    let out = ok(b.trainctl().args(["--json", "dataset", "snapshot", &format!("s3://{bucket}/data/"), "--name", "imgs"]));
    let v = json_lines(&out).into_iter().find(|v| v["event"] == "snapshot").expect("a snapshot line");
    assert_eq!(v["manifest"]["version"], "v1", "{v}");
    assert_eq!(v["manifest"]["files"], 3, "{v}");
    bucket
}

fn store(bucket: &str) -> String {
    format!("--store=s3://{bucket}")
}

fn verify_json(b: &Backend, bucket: &str, target: &str, level: &str, code: i32) -> serde_json::Value {
    let out = fails_with(b.trainctl().args(["--json", "dataset", "verify", "imgs@v1", target, "--level", level, &store(bucket)]), code);
    json_lines(&out).into_iter().find(|v| v["event"] == "verify").expect("a verify report")["report"].clone()
}

/// `dataset show --json`'s header of `reference`.
fn show_header(b: &Backend, bucket: &str, reference: &str) -> serde_json::Value {
    let out = ok(b.trainctl().args(["--json", "dataset", "show", reference, &store(bucket)]));
    json_lines(&out).remove(0)
}

fn flip_one_byte(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[10] ^= 0x01;
    std::fs::write(path, bytes).unwrap();
}

conformance! {
    fn snapshot_stage_verify_and_a_flipped_byte_fails_full_but_passes_count(b: &Backend) {
        let bucket = seeded(b, "ds-flip");
        let listed = stdout(&ok(b.trainctl().args(["dataset", "list", &store(&bucket)])));
        assert!(listed.contains("imgs@v1") && listed.contains("3 files"), "{listed}");
        let shown = stdout(&ok(b.trainctl().args(["dataset", "show", "imgs@v1", "--files"])));
        assert!(shown.contains("sub/b.bin") && shown.contains("sha256:"), "found through the cache without --store: {shown}");
        // The prefix itself verifies from its listing, and by streaming every object.
        let r = verify_json(b, &bucket, &format!("s3://{bucket}/data/"), "checksum", 0);
        assert_eq!(r["ok"], 3, "{r}");
        let r = verify_json(b, &bucket, &format!("s3://{bucket}/data/"), "full", 0);
        assert_eq!(r["hashed"], 3, "{r}");

        let dir = scratch();
        let staged = dir.path().join("imgs");
        let first = ok(b.trainctl().args(["--json", "dataset", "stage", "imgs@v1", staged.to_str().unwrap(), &store(&bucket)]));
        assert_eq!(std::fs::read(staged.join("c d.txt")).unwrap(), b"hello dataset");
        // `checksum` after a download: the engine checked every file against the manifest's
        // ETag as it arrived, so none is read a second time.
        let v = json_lines(&first).last().unwrap()["report"]["verify"].clone();
        assert_eq!((v["hashed"].as_u64(), v["missing"].as_array().map(Vec::len), v["changed"].as_array().map(Vec::len)), (Some(0), Some(0), Some(0)), "{v}");
        assert!(v["ok"].as_u64().unwrap() >= 3, "{v}");
        assert!(!dir.path().join("imgs.partial").exists(), "renamed into place");
        let again = run(b.trainctl().args(["--json", "dataset", "stage", "imgs@v1", staged.to_str().unwrap(), &store(&bucket)]));
        assert!(again.status.success(), "{}", stderr(&again));
        assert_eq!(json_lines(&again).last().unwrap()["report"]["already_staged"], true);

        let r = verify_json(b, &bucket, staged.to_str().unwrap(), "full", 0);
        assert_eq!(r["ok"], 3, "{r}");
        let r = verify_json(b, &bucket, staged.to_str().unwrap(), "full", 0);
        assert_eq!((r["hashed"].as_u64(), r["from_cache"].as_u64()), (Some(0), Some(3)), "a second full verify reads nothing: {r}");

        flip_one_byte(&staged.join("sub/b.bin"));
        verify_json(b, &bucket, staged.to_str().unwrap(), "count", 0);
        let r = verify_json(b, &bucket, staged.to_str().unwrap(), "full", 71);
        assert_eq!(r["changed"][0]["key"], "sub/b.bin", "{r}");
        let human = fails_with(b.trainctl().args(["dataset", "verify", "imgs@v1", staged.to_str().unwrap(), "--level", "full", &store(&bucket)]), 71);
        assert!(stderr(&human).contains("changed  sub/b.bin") && stderr(&human).contains("dataset repair"), "{}", stderr(&human));

        ok(b.trainctl().args(["dataset", "repair", "imgs@v1", staged.to_str().unwrap(), &store(&bucket)]));
        verify_json(b, &bucket, staged.to_str().unwrap(), "full", 0);
        assert_eq!(std::fs::read(staged.join("sub/b.bin")).unwrap(), pattern_bytes("b", 70_000));
    }

    fn a_missing_and_an_extra_file_fail_even_count(b: &Backend) {
        let bucket = seeded(b, "ds-missing");
        let dir = scratch();
        let staged = dir.path().join("imgs");
        ok(b.trainctl().args(["dataset", "stage", "imgs@v1", staged.to_str().unwrap(), &store(&bucket)]));
        std::fs::remove_file(staged.join("a.bin")).unwrap();
        std::fs::write(staged.join("sub/extra.bin"), b"new").unwrap();
        let r = verify_json(b, &bucket, staged.to_str().unwrap(), "count", 71);
        assert_eq!(r["missing"], serde_json::json!(["a.bin"]), "{r}");
        assert_eq!(r["extra"], serde_json::json!(["sub/extra.bin"]), "{r}");
        let out = ok(b.trainctl().args(["--json", "dataset", "repair", "imgs@v1", staged.to_str().unwrap(), "--level", "count", &store(&bucket)]));
        let rep = json_lines(&out).last().unwrap()["report"].clone();
        assert_eq!(rep["fetched"], serde_json::json!(["a.bin"]), "{rep}");
        assert_eq!(rep["extra"], serde_json::json!(["sub/extra.bin"]), "extra files are reported and left alone: {rep}");
    }

    fn an_object_overwritten_after_the_snapshot_is_changed_and_an_unversioned_bucket_refuses_to_stage(b: &Backend) {
        let bucket = seeded(b, "ds-overwrite");
        let mut other = pattern_bytes("a", 3000);
        other[0] ^= 0xff;
        b.put_object(&bucket, "data/a.bin", other);
        let src = format!("s3://{bucket}/data/");
        verify_json(b, &bucket, &src, "count", 0);
        let r = verify_json(b, &bucket, &src, "checksum", 71);
        assert_eq!(r["changed"][0]["key"], "a.bin", "{r}");
        assert_eq!(r["hashed"], 0, "checksum compares the listing, no GET: {r}");
        let dir = scratch();
        let staged = dir.path().join("imgs");
        let out = fails_with(b.trainctl().args(["dataset", "stage", "imgs@v1", staged.to_str().unwrap(), &store(&bucket)]), 74);
        assert!(stderr(&out).contains("a.bin") && stderr(&out).contains("versioning"), "{}", stderr(&out));
        assert!(!staged.exists() && !dir.path().join("imgs.partial").exists(), "nothing was downloaded");
    }

    fn a_versioned_bucket_stages_the_pinned_version_after_an_overwrite(b: &Backend) {
        let bucket = b.new_bucket("ds-versioned");
        let client = b.server().client();
        let rt = tokio::runtime::Runtime::new().unwrap();
        let enabled = rt.block_on(
            client
                .put_bucket_versioning()
                .bucket(&bucket)
                .versioning_configuration(aws_sdk_s3::types::VersioningConfiguration::builder().status(aws_sdk_s3::types::BucketVersioningStatus::Enabled).build())
                .send(),
        );
        if enabled.is_err() {
            // Garage has no object versioning: its snapshots are unversioned, and a changed object
            // is refused at staging (the previous test); documented in the README.
            eprintln!("{:?}: no bucket versioning; pinned staging not testable here", b.kind());
            return;
        }
        b.put_object(&bucket, "data/w.bin", pattern_bytes("old", 5000));
        let out = ok(b.trainctl().args(["--json", "dataset", "snapshot", &format!("s3://{bucket}/data/"), "--name", "imgs", "--version", "v1"]));
        assert_eq!(json_lines(&out).into_iter().find(|v| v["event"] == "snapshot").unwrap()["manifest"]["versioned"], true);
        b.put_object(&bucket, "data/w.bin", pattern_bytes("new", 5000));
        let dir = scratch();
        let staged = dir.path().join("imgs");
        ok(b.trainctl().args(["dataset", "stage", "imgs@v1", staged.to_str().unwrap(), "--verify", "full", &store(&bucket)]));
        assert_eq!(std::fs::read(staged.join("w.bin")).unwrap(), pattern_bytes("old", 5000), "the pinned version, not the current one");
    }

    fn an_interrupted_stage_resumes(b: &Backend) {
        let bucket = b.new_bucket("ds-resume");
        for i in 0..12 {
            b.put_object(&bucket, &format!("data/shard-{i:02}.bin"), pattern_bytes(&format!("s{i}"), 1 << 20));
        }
        ok(b.trainctl().args(["dataset", "snapshot", &format!("s3://{bucket}/data/"), "--name", "imgs"]));
        let dir = scratch();
        let staged = dir.path().join("imgs");
        let partial = dir.path().join("imgs.partial");
        // An earlier stage that stopped after four files (what Ctrl-C leaves: complete files only).
        std::fs::create_dir_all(&partial).unwrap();
        for i in 0..4 {
            std::fs::write(partial.join(format!("shard-{i:02}.bin")), pattern_bytes(&format!("s{i}"), 1 << 20)).unwrap();
        }
        // And a real interrupt on top, whenever it lands.
        let mut child = b.trainctl().args(["dataset", "stage", "imgs@v1", staged.to_str().unwrap(), "--concurrency", "1", &store(&bucket)]).spawn().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(300));
        trainctl_testkit::interrupt(&child);
        let _ = child.wait();
        let out = ok(b.trainctl().args(["--json", "dataset", "stage", "imgs@v1", staged.to_str().unwrap(), "--verify", "full", &store(&bucket)]));
        let r = json_lines(&out).last().unwrap()["report"].clone();
        if r["already_staged"] != true {
            assert!(r["resumed"].as_u64().unwrap() >= 4, "{r}");
            assert!(r["downloaded"].as_u64().unwrap() <= 8, "{r}");
        }
        for i in 0..12 {
            assert_eq!(std::fs::read(staged.join(format!("shard-{i:02}.bin"))).unwrap(), pattern_bytes(&format!("s{i}"), 1 << 20));
        }
    }

    fn a_key_unsafe_as_a_local_path_is_refused_per_item_when_staging(b: &Backend) {
        let bucket = b.new_bucket("ds-hostile");
        b.put_object(&bucket, "data/ok.bin", b"fine".to_vec());
        b.put_object(&bucket, "data/sub\\..\\evil.bin", b"evil".to_vec());
        ok(b.trainctl().args(["dataset", "snapshot", &format!("s3://{bucket}/data/"), "--name", "imgs"]));
        let dir = scratch();
        let staged = dir.path().join("imgs");
        let out = fails_with(b.trainctl().args(["dataset", "stage", "imgs@v1", staged.to_str().unwrap(), &store(&bucket)]), 3);
        assert!(stderr(&out).contains("unsafe object key"), "{}", stderr(&out));
        assert_eq!(std::fs::read(dir.path().join("imgs.partial/ok.bin")).unwrap(), b"fine", "the safe file was fetched");
        assert!(!staged.exists(), "an incomplete stage is never renamed into place");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        assert_eq!(names, ["imgs.partial"], "nothing written beside it");
    }

    fn too_little_free_space_is_refused_before_any_download(b: &Backend) {
        let bucket = seeded(b, "ds-space");
        let dir = scratch();
        let staged = dir.path().join("imgs");
        let out = fails_with(b.trainctl().env("TRAINCTL_TEST_FREE_BYTES", "1000").args(["dataset", "stage", "imgs@v1", staged.to_str().unwrap(), &store(&bucket)]), 75);
        assert!(stderr(&out).contains("not enough free space"), "{}", stderr(&out));
        assert!(!staged.exists() && !dir.path().join("imgs.partial").exists(), "nothing was created or downloaded");
    }

    fn unknown_corrupt_and_newer_manifests_have_their_own_codes(b: &Backend) {
        let bucket = seeded(b, "ds-bad");
        let out = fails_with(b.trainctl().args(["dataset", "show", "imgs@v9", &store(&bucket)]), 70);
        assert!(stderr(&out).contains("versions of imgs: v1"), "{}", stderr(&out));
        let out = fails_with(b.trainctl().args(["dataset", "show", "nope@v1", &store(&bucket)]), 70);
        assert!(stderr(&out).contains("datasets: imgs"), "{}", stderr(&out));
        let good = b.get_object(&bucket, ".trainctl/datasets/imgs/v1.jsonl.zst");
        b.put_object(&bucket, ".trainctl/datasets/cut/v1.jsonl.zst", good[..good.len() / 2].to_vec());
        fails_with(b.trainctl().args(["dataset", "show", "cut@v1", &store(&bucket)]), 72);
        let text = String::from_utf8(zstd::decode_all(&good[..]).unwrap()).unwrap();
        let newer = text.replacen("\"format\":1", "\"format\":7", 1).replacen("\"name\":\"imgs\"", "\"name\":\"future\"", 1);
        b.put_object(&bucket, ".trainctl/datasets/future/v1.jsonl.zst", zstd::encode_all(newer.as_bytes(), 3).unwrap());
        let out = fails_with(b.trainctl().args(["dataset", "show", "future@v1", &store(&bucket)]), 73);
        assert!(stderr(&out).contains("format 7"), "{}", stderr(&out));
        // A second snapshot is v2, and diff says what changed.
        b.put_object(&bucket, "data/new.bin", b"1234".to_vec());
        ok(b.trainctl().args(["dataset", "snapshot", &format!("s3://{bucket}/data/"), "--name", "imgs"]));
        let out = ok(b.trainctl().args(["--json", "dataset", "diff", "imgs@v1", "v2", &store(&bucket)]));
        let d = json_lines(&out).into_iter().find(|v| v["added"].is_array()).expect("a diff");
        assert_eq!((d["added"].as_array().unwrap().len(), d["bytes_added"].as_u64()), (1, Some(4)), "{d}");
    }

    fn a_snapshot_from_an_inventory_report_equals_the_listing_snapshot_and_bad_reports_write_nothing(b: &Backend) {
        let bucket = seeded(b, "ds-inv");
        let v1 = show_header(b, &bucket, "imgs@v1");
        // The report S3 would write of this bucket, put where S3 puts it (neither moto nor Garage
        // generates reports): every object, a folder marker, the manifest store.
        let now = 1_767_225_600;
        let mut rows = vec![
            InventoryRow::of_bytes("data/sub/b.bin", &pattern_bytes("b", 70_000), now),
            InventoryRow::of_bytes("data/c d.txt", b"hello dataset", now),
            InventoryRow::of_bytes("other/not-in-it.txt", b"x", now),
            InventoryRow::of_bytes("data/a.bin", &pattern_bytes("a", 3000), now),
            InventoryRow::of_bytes("data/empty-dir/", b"", now),
        ];
        let stored = b.get_object(&bucket, ".trainctl/datasets/imgs/v1.jsonl.zst");
        rows.push(InventoryRow::of_bytes(".trainctl/datasets/imgs/v1.jsonl.zst", &stored, now));
        let dir = scratch();
        let fx = write_inventory(dir.path(), &bucket, &bucket, InventoryFormat::Csv, &rows, 2, false);
        for key in fx.data_keys.iter().chain([&fx.manifest_key]) {
            b.put_object(&bucket, key, std::fs::read(dir.path().join(key)).unwrap());
        }
        let src = format!("s3://{bucket}/data/");
        let snap = |inventory: &str| {
            let out = ok(b.trainctl().args(["--json", "dataset", "snapshot", &src, "--name", "imgs", "--inventory", inventory]));
            json_lines(&out).into_iter().find(|v| v["event"] == "snapshot").expect("a snapshot line")["manifest"].clone()
        };
        let pq_dir = scratch();
        let pq = write_inventory(pq_dir.path(), &bucket, &bucket, InventoryFormat::Parquet, &rows, 2, false);
        for inventory in [format!("s3://{bucket}/{}", fx.manifest_key), fx.manifest.to_str().unwrap().to_string(), pq.manifest.to_str().unwrap().to_string()] {
            let h = snap(&inventory);
            assert_eq!((&h["digest"], &h["files"], &h["bytes"]), (&v1["digest"], &v1["files"], &v1["bytes"]), "the report gives the listing's manifest: {h} vs {v1}");
        }
        verify_json(b, &bucket, &src, "checksum", 0);
        let out = ok(b.trainctl().args(["--json", "dataset", "verify", "imgs@v4", &src, "--level", "checksum", &store(&bucket)]));
        assert!(stdout(&out).contains("\"ok\":3"), "{}", stdout(&out));

        // Bad reports: one line, their own exit code, no version written.
        let versions = || stdout(&ok(b.trainctl().args(["dataset", "list", "imgs", &store(&bucket)]))).lines().count();
        let before = versions();
        let bad = scratch();
        let other = write_inventory(bad.path(), "some-other-bucket", &bucket, InventoryFormat::Csv, &rows, 1, false);
        let out = fails_with(b.trainctl().args(["dataset", "snapshot", &src, "--name", "imgs", "--inventory", other.manifest.to_str().unwrap()]), 76);
        assert!(stderr(&out).contains("some-other-bucket"), "{}", stderr(&out));
        let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(&fx.manifest).unwrap()).unwrap();
        let edited = |f: &dyn Fn(&mut serde_json::Value)| {
            let mut m = manifest.clone();
            f(&mut m);
            std::fs::write(&fx.manifest, serde_json::to_vec(&m).unwrap()).unwrap();
            fx.manifest.to_str().unwrap().to_string()
        };
        let no_etag = edited(&|m| m["fileSchema"] = "Bucket, Key, Size, LastModifiedDate".into());
        let out = fails_with(b.trainctl().args(["dataset", "snapshot", &src, "--name", "imgs", "--inventory", &no_etag]), 45);
        assert!(stderr(&out).contains("ETag"), "{}", stderr(&out));
        let no_size = edited(&|m| m["fileSchema"] = "Bucket, Key, LastModifiedDate, ETag".into());
        fails_with(b.trainctl().args(["dataset", "snapshot", &src, "--name", "imgs", "--inventory", &no_size]), 45);
        // A truncated data file: caught by the manifest's MD5, and by gzip itself without one.
        let part = dir.path().join(&fx.data_keys[0]);
        let full = std::fs::read(&part).unwrap();
        std::fs::write(&part, &full[..full.len() / 2]).unwrap();
        let same = edited(&|_| {});
        fails_with(b.trainctl().args(["dataset", "snapshot", &src, "--name", "imgs", "--inventory", &same]), 47);
        let no_md5 = edited(&|m| m["files"].as_array_mut().unwrap().iter_mut().for_each(|f| f["MD5checksum"] = "".into()));
        let out = fails_with(b.trainctl().args(["dataset", "snapshot", &src, "--name", "imgs", "--inventory", &no_md5]), 47);
        assert_eq!(stderr(&out).lines().filter(|l| l.starts_with("error")).count(), 1, "{}", stderr(&out));
        assert_eq!(versions(), before, "nothing was written");
    }

    fn local_with_a_dataset_refuses_to_start_when_it_does_not_verify_and_records_the_digest(b: &Backend) {
        let bucket = seeded(b, "ds-gate");
        let dir = scratch();
        let script = dir.path().join("train.sh");
        std::fs::write(&script, "#!/bin/sh\necho \"$TRAINCTL_DATASET_DIR\" > \"$1\"\nls \"$TRAINCTL_DATASET_DIR\" >> \"$1\"\n").unwrap();
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let staged = dir.path().join("imgs");
        let ckpt = dir.path().join("ckpt");
        let seen = dir.path().join("seen.txt");
        let run_local = |out_file: &Path| {
            let mut c = b.trainctl();
            c.current_dir(dir.path()).args([
                "local", script.to_str().unwrap(), "--dataset", "imgs@v1", "--stage-to", staged.to_str().unwrap(), &store(&bucket),
                "--checkpoints", ckpt.to_str().unwrap(), "--upload-to", &format!("s3://{bucket}/runs/r1/"), "--log", dir.path().join("run.log").to_str().unwrap(),
                "--", out_file.to_str().unwrap(),
            ]);
            c
        };
        ok(&mut run_local(&seen));
        let text = std::fs::read_to_string(&seen).unwrap();
        assert!(text.starts_with(staged.canonicalize().unwrap().to_str().unwrap()) && text.contains("a.bin"), "{text}");
        let record: serde_json::Value = serde_json::from_slice(&std::fs::read(ckpt.join("trainctl-run.json")).unwrap()).unwrap();
        let digest = stdout(&ok(b.trainctl().args(["--json", "dataset", "show", "imgs@v1", &store(&bucket)])));
        assert!(digest.contains(record["datasets"][0]["digest"].as_str().unwrap()), "{record}");
        assert_eq!(record["datasets"][0]["dataset"], "imgs@v1");
        assert!(b.list_keys(&bucket, "runs/r1/").contains(&"runs/r1/trainctl-run.json".to_string()), "uploaded beside the checkpoints");

        flip_one_byte(&staged.join("a.bin"));
        let refused = dir.path().join("refused.txt");
        let out = fails_with(&mut run_local(&refused), 71);
        assert!(stderr(&out).contains("script was not started"), "{}", stderr(&out));
        assert!(!refused.exists(), "the script did not run");
    }
}

/// A versioned prefix is snapshotted page by page (ListObjectVersions streamed): a key whose
/// versions run over the 1000-entry page boundary is pinned at its latest, once; `checksum` and
/// `full` verify all 1000. Moto only (Garage has no versioning).
#[test]
fn a_versioned_snapshot_streams_over_version_pages() {
    let b = Backend::moto();
    let bucket = b.new_bucket("ds-vpages");
    let client = b.server().client();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let on = aws_sdk_s3::types::VersioningConfiguration::builder().status(aws_sdk_s3::types::BucketVersioningStatus::Enabled).build();
    rt.block_on(client.put_bucket_versioning().bucket(&bucket).versioning_configuration(on).send()).unwrap();
    // Versions in listing order: k0000…k0997 (998), then k0998's three (entries 999–1001: the
    // first page ends inside them), then k0999.
    for i in 0..1000 {
        b.put_object(&bucket, &format!("data/k{i:04}"), format!("v0 {i}").into_bytes());
    }
    b.put_object(&bucket, "data/k0998", b"v1".to_vec());
    b.put_object(&bucket, "data/k0998", b"v2 latest".to_vec());
    let out = ok(b.trainctl().args(["--json", "dataset", "snapshot", &format!("s3://{bucket}/data/"), "--name", "vp", "--version", "v1"]));
    let h = json_lines(&out).into_iter().find(|v| v["event"] == "snapshot").unwrap()["manifest"].clone();
    assert_eq!((h["files"].as_u64(), h["versioned"].as_bool()), (Some(1000), Some(true)), "{h}");
    let shown = json_lines(&ok(b.trainctl().args(["--json", "dataset", "show", "vp@v1", "--files", &store(&bucket)])));
    let k = shown.iter().find(|e| e["key"] == "k0998").expect("k0998 listed");
    assert_eq!(k["size"], 9, "the latest version: {k}");
    let out = ok(b.trainctl().args(["--json", "dataset", "verify", "vp@v1", &format!("s3://{bucket}/data/"), "--level", "checksum", &store(&bucket)]));
    let r = json_lines(&out).into_iter().find(|v| v["event"] == "verify").expect("a verify report")["report"].clone();
    assert_eq!(r["ok"], 1000, "{r}");
    // `full` streams objects as the merge reaches them (8 at a time): all 1000 hashed.
    let out = ok(b.trainctl().args(["--json", "dataset", "verify", "vp@v1", &format!("s3://{bucket}/data/"), "--level", "full", &store(&bucket)]));
    let r = json_lines(&out).into_iter().find(|v| v["event"] == "verify").expect("a verify report")["report"].clone();
    assert_eq!((r["ok"].as_u64(), r["hashed"].as_u64()), (Some(1000), Some(1000)), "{r}");
}

/// Issue 13's benchmark on a real server, run by hand (it creates N objects in Garage, minutes):
/// `TRAINCTL_SCALE_N=100000 cargo test -p trainctl-cli --test cli -- --ignored dataset_scale --nocapture`.
/// Snapshot and `verify --level checksum` of N objects through the FaultProxy request log: LIST
/// = ⌈N/1000⌉ and not one HEAD or GET of an object. Peak RSS, wall and `s5cmd du` of the same
/// prefix are printed for docs/benchmarks.md; no time is asserted.
#[test]
#[ignore = "creates 100,000 objects in Garage; run by hand"]
fn dataset_scale_on_garage_lists_once_per_1000_keys_and_reads_no_object() {
    let Some(b) = Backend::garage() else {
        eprintln!("skipped: Garage is not installed");
        return;
    };
    let n: usize = std::env::var("TRAINCTL_SCALE_N").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let s5 = find_s5cmd().expect("s5cmd");
    let bucket = b.new_bucket("ds-scale");
    let dir = scratch();
    for i in 0..n {
        std::fs::write(dir.path().join(format!("shard-{i:07}.bin")), i.to_string()).unwrap();
    }
    let url = b.server().endpoint_url();
    let s5cmd = |endpoint: &str, args: &[&str]| {
        let mut c = std::process::Command::new(&s5);
        c.env_clear().envs(b.server().env_with_endpoint(endpoint)).args(["--endpoint-url", endpoint]).args(args);
        c
    };
    let started = std::time::Instant::now();
    ok(&mut s5cmd(&url, &["--numworkers", "128", "cp", &format!("{}/*", dir.path().display()), &format!("s3://{bucket}/many/")]));
    eprintln!("created {n} objects in {:.0} s", started.elapsed().as_secs_f64());
    drop(dir);

    let proxy = FaultProxy::start(b.socket_addr()).unwrap();
    let timed = |cmd: std::process::Command| -> (f64, f64) {
        let out = tempfile::NamedTempFile::new().unwrap();
        let mut t = std::process::Command::new("/usr/bin/time");
        t.env_clear().envs(cmd.get_envs().filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))));
        t.args(["-v", "-o"]).arg(out.path()).arg(cmd.get_program()).args(cmd.get_args());
        let started = std::time::Instant::now();
        ok(&mut t);
        let wall = started.elapsed().as_secs_f64();
        let report = std::fs::read_to_string(out.path()).unwrap();
        let kb: f64 = report.lines().find_map(|l| l.trim().strip_prefix("Maximum resident set size (kbytes): ")).and_then(|v| v.parse().ok()).unwrap_or(0.0);
        (wall, kb / 1024.0)
    };
    let counted = |what: &str| {
        let reqs = proxy.requests();
        let lists = reqs.iter().filter(|(m, t)| m == "GET" && t.contains("list-type=2")).count();
        let object = |t: &str| t.split('?').next().unwrap_or(t).trim_matches('/').contains('/');
        let heads = reqs.iter().filter(|(m, t)| m == "HEAD" && object(t)).count();
        let gets = reqs.iter().filter(|(m, t)| m == "GET" && object(t)).count();
        eprintln!("{what}: {} requests, {lists} LIST, {heads} HEAD of an object, {gets} GET of an object", reqs.len());
        (lists, heads, gets)
    };
    let src = format!("s3://{bucket}/many/");
    let mut cmd = b.trainctl_via(&proxy.url());
    cmd.args(["dataset", "snapshot", &src, "--name", "scale", "--version", "v1"]);
    proxy.log_requests();
    let (wall, rss) = timed(cmd);
    let (lists, heads, _) = counted("snapshot");
    eprintln!("| {n} | dataset snapshot (Garage) | {wall:.2} | {rss:.1} |");
    assert_eq!((lists, heads), (n.div_ceil(1000), 0));
    let mut ratios = Vec::new();
    for run in 0..3 {
        let mut cmd = b.trainctl_via(&proxy.url());
        cmd.args(["dataset", "verify", "scale@v1", &src, "--level", "checksum", &store(&bucket)]);
        proxy.log_requests();
        let (wall, rss) = timed(cmd);
        if run == 0 {
            assert_eq!(counted("verify --level checksum"), (n.div_ceil(1000), 0, 0), "one LIST per 1000 keys, no HEAD, no GET");
        }
        let (du, du_rss) = timed(s5cmd(&proxy.url(), &["du", &format!("{src}*")]));
        eprintln!("| {n} | dataset verify --level checksum (Garage) | {wall:.2} | {rss:.1} | s5cmd du {du:.2} s, {du_rss:.1} MB |");
        ratios.push(wall / du);
    }
    eprintln!("verify / s5cmd du: {ratios:.2?}");
}
