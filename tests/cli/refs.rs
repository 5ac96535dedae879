//! `--dedup=refs` end to end on both backends: a run whose checkpoints share a frozen component
//! and a vision tower goes up with each shared file stored once in the run's content area and a
//! `KEY.trainctl-ref` at each of its keys; it comes back byte-identical (recursive and single
//! downloads, both engines); `checkpoint list` shows the logical sizes and the review logical vs
//! stored bytes; cleanup of one checkpoint
//! leaves the other's references resolvable; `s3 materialize` turns references back into plain
//! objects and deletes the content left without references; a reference whose content object
//! is gone fails with exit 81, naming both keys, and nothing is deleted. `s3 watch`, `s3 ls` and
//! `dataset snapshot/verify/stage` see the files the references stand for, and so do a review
//! and a snapshot from an S3 Inventory report.

use crate::common::*;
use std::path::Path;
use trainctl_testkit::inventory::{write_inventory, InventoryFormat, InventoryRow};

const KIB: u64 = 1024;
/// Files every checkpoint shares, stored once.
const FROZEN: u64 = 2048 * KIB;
const VISION: u64 = 700 * KIB;
const SHARED: u64 = FROZEN + VISION;
/// Each checkpoint's own weights.
const MODEL: u64 = 1024 * KIB;
/// Text metadata, the same in every checkpoint.
const TOKENIZER: u64 = 100 * KIB;
const SUFFIX: &str = ".trainctl-ref";

fn checkpoint(dir: &Path, step: u64) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("frozen.safetensors"), pattern_bytes("frozen-base", FROZEN as usize)).unwrap();
    std::fs::write(dir.join("vision.bin"), pattern_bytes("vision-tower", VISION as usize)).unwrap();
    // Text metadata stays plain, even when repeated and large enough.
    std::fs::write(dir.join("tokenizer.json"), pattern_bytes("tokenizer", TOKENIZER as usize)).unwrap();
    random_file(&dir.join("model.safetensors"), MODEL);
    std::fs::write(dir.join("trainer_state.json"), format!("{{\"global_step\": {step}}}")).unwrap();
}

fn run(root: &Path) {
    checkpoint(&root.join("checkpoint-100"), 100);
    checkpoint(&root.join("checkpoint-200"), 200);
}

fn upload_refs(b: &Backend, src: &Path, bucket: &str, prefix: &str, engine: &str) -> serde_json::Value {
    let out = ok(b.trainctl().args(["--json", "s3", "upload", "-r"]).arg(src).arg(s3(bucket, prefix)).args(["--engine", engine, "--dedup=refs"]));
    summary(&out)
}

fn content_keys(b: &Backend, bucket: &str, prefix: &str) -> Vec<String> {
    keys(b, bucket, &format!("{prefix}.trainctl/content/"))
}

conformance! {
    fn refs_round_trip_and_store_each_repeated_file_once(b: &Backend) {
        let bucket = b.new_bucket("refs");
        let dir = scratch();
        let src = dir.path().join("run");
        run(&src);
        for engine in ENGINES {
            let prefix = format!("{engine}/run/");
            let s = upload_refs(b, &src, &bucket, &prefix, engine);
            assert_eq!((s["referenced"].as_u64(), s["bytes_not_stored"].as_u64(), s["failed"].as_u64()), (Some(4), Some(SHARED), Some(0)), "{engine}: {s}");
            // Text metadata is not referenced but copied on the server, as --dedup does.
            assert_eq!((s["copied"].as_u64(), s["bytes_not_sent"].as_u64()), (Some(1), Some(TOKENIZER)), "{engine}: {s}");
            let all = keys(b, &bucket, &prefix);
            let content = content_keys(b, &bucket, &prefix);
            assert_eq!(content.len(), 2, "{engine}: one content object per shared file: {all:?}");
            for ck in ["checkpoint-100", "checkpoint-200"] {
                for f in ["frozen.safetensors", "vision.bin"] {
                    assert!(all.contains(&format!("{prefix}{ck}/{f}{SUFFIX}")), "{engine}: {all:?}");
                    assert!(!all.contains(&format!("{prefix}{ck}/{f}")), "{engine}: no plain copy: {all:?}");
                }
                for f in ["model.safetensors", "tokenizer.json", "trainer_state.json"] {
                    assert!(all.contains(&format!("{prefix}{ck}/{f}")), "{engine}: {all:?}");
                }
            }
            let back = dir.path().join(format!("back-{engine}"));
            let out = ok(b.trainctl().args(["--json", "s3", "download", "-r", &s3(&bucket, &prefix), "--engine", engine]).arg(&back));
            assert_trees_equal(&src, &back);
            // Events name the reference, not its content object.
            let done: Vec<String> = json_lines(&out).into_iter().filter(|e| e["event"] == "object_done").map(|e| e["key"].as_str().unwrap().to_string()).collect();
            assert_eq!(done.len(), 10, "{done:?}");
            assert!(done.contains(&format!("{prefix}checkpoint-200/vision.bin{SUFFIX}")) && done.iter().all(|k| !k.contains(".trainctl/")), "{done:?}");
            // One object, asked for by its logical name.
            let one = dir.path().join(format!("one-{engine}.safetensors"));
            ok(b.trainctl().args(["s3", "download", &s3(&bucket, &format!("{prefix}checkpoint-200/frozen.safetensors"))]).arg(&one));
            assert_eq!(std::fs::read(&one).unwrap(), std::fs::read(src.join("checkpoint-200/frozen.safetensors")).unwrap());
            // A second upload skips what is complete: a reference holds its file.
            let again = upload_refs(b, &src, &bucket, &prefix, engine);
            assert_eq!((again["skipped"].as_u64(), again["done"].as_u64(), again["referenced"].as_u64()), (Some(10), Some(0), Some(0)), "{engine}: {again}");
            assert_eq!(keys(b, &bucket, &prefix), all, "{engine}");
            // A second download skips what is complete (the logical size is compared).
            let again = ok(b.trainctl().args(["--json", "s3", "download", "-r", &s3(&bucket, &prefix)]).arg(&back));
            assert_eq!(summary(&again)["skipped"].as_u64(), Some(10), "{}", stdout(&again));
        }
        // A later checkpoint uploaded on its own references the content already stored.
        let later = dir.path().join("later");
        checkpoint(&later, 300);
        let s = upload_refs(b, &later, &bucket, "native/run/checkpoint-300/", "native");
        assert_eq!(s["referenced"].as_u64(), Some(0), "without a scope, the checkpoint folder alone: nothing repeated: {s}");
        let out = ok(b.trainctl().args(["--json", "s3", "upload", "-r"]).arg(&later).arg(s3(&bucket, "native/run/checkpoint-400/"))
            .arg(format!("--dedup=refs:s3://{bucket}/native/run/")));
        // The shared files reference the content stored already; the weights, the same as
        // checkpoint-300's plain object, are copied into the content area on the server (not
        // sent) and referenced too.
        let s = summary(&out);
        // The tokenizer (text: never referenced) is copied from checkpoint-300's, as --dedup does.
        assert_eq!((s["referenced"].as_u64(), s["bytes_not_stored"].as_u64(), s["copied"].as_u64(), s["bytes_not_sent"].as_u64()), (Some(3), Some(SHARED), Some(2), Some(MODEL + TOKENIZER)), "{s}");
        assert_eq!(content_keys(b, &bucket, "native/run/").len(), 3);
    }

    fn dry_run_shows_the_references_and_writes_nothing(b: &Backend) {
        let bucket = b.new_bucket("refsplan");
        let dir = scratch();
        let src = dir.path().join("run");
        run(&src);
        let out = ok(b.trainctl().args(["--json", "s3", "upload", "-r"]).arg(&src).arg(s3(&bucket, "run/")).args(["--dedup=refs", "--dry-run"]));
        let refs: Vec<serde_json::Value> = json_lines(&out).into_iter().filter(|l| l["plan"] == "ref").collect();
        assert_eq!(refs.len(), 4, "{}", stdout(&out));
        assert_eq!(refs.iter().filter(|r| r["new_content"] == true).count(), 2, "the first of each content creates it: {refs:?}");
        assert!(keys(b, &bucket, "").is_empty(), "a dry run writes nothing");
    }

    fn checkpoint_list_and_cleanup_on_a_refs_upload(b: &Backend) {
        let bucket = b.new_bucket("refsck");
        let dir = scratch();
        let src = dir.path().join("run");
        run(&src);
        upload_refs(b, &src, &bucket, "exp/run/", "native");
        let url = s3(&bucket, "exp/");
        let out = ok(b.trainctl().args(["--json", "checkpoint", "list", &url, "--grace", "0s"]));
        let rows: Vec<serde_json::Value> = stdout(&out).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        let each: u64 = ["frozen.safetensors", "vision.bin", "tokenizer.json", "model.safetensors", "trainer_state.json"]
            .iter()
            .map(|f| std::fs::metadata(src.join("checkpoint-100").join(f)).unwrap().len())
            .sum();
        let seen: Vec<(u64, bool, u64)> = rows.iter().map(|r| (r["step"].as_u64().unwrap(), r["complete"].as_bool().unwrap(), r["bytes"].as_u64().unwrap())).collect();
        assert_eq!(seen, [(100, true, each), (200, true, each)], "{}", stdout(&out));
        // The review: logical bytes are the files', stored bytes what the store holds (each
        // shared file once, plus the references' few bytes).
        let out = ok(b.trainctl().args(["--json", "s3", "review", &url]));
        let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let x = &r["references"];
        let refs_bytes = x["ref_bytes"].as_u64().unwrap();
        assert_eq!((x["refs"].as_u64(), x["content_objects"].as_u64(), x["logical_bytes"].as_u64()), (Some(4), Some(2), Some(2 * SHARED)), "{x}");
        assert_eq!(x["logical_total"].as_u64(), Some(2 * each), "{x}");
        assert_eq!(x["stored_total"].as_u64(), Some(2 * each - SHARED + refs_bytes), "{x}");
        assert!(refs_bytes < 4 * 300, "{x}");
        let text = stdout(&ok(b.trainctl().args(["s3", "review", &url])));
        assert!(text.contains("Content references: logical"), "{text}");
        // Cleanup of checkpoint-100 deletes its references, never the content checkpoint-200's
        // references still point to.
        let out = ok(b.trainctl().args(["s3", "cleanup", &url, "--keep-last-n", "1", "--yes", "--grace", "0s"]));
        assert!(stderr(&out).contains("2 of the deleted objects were content references"), "{}", stderr(&out));
        assert!(keys(b, &bucket, "exp/run/checkpoint-100/").is_empty());
        assert_eq!(content_keys(b, &bucket, "exp/run/").len(), 2);
        let back = dir.path().join("back");
        ok(b.trainctl().args(["s3", "download", "-r", &s3(&bucket, "exp/run/checkpoint-200/")]).arg(&back));
        assert_trees_equal(&src.join("checkpoint-200"), &back);
    }

    fn sync_up_with_delete_sees_references_as_their_files_and_keeps_the_content(b: &Backend) {
        let bucket = b.new_bucket("refssync");
        let dir = scratch();
        let src = dir.path().join("run");
        run(&src);
        upload_refs(b, &src, &bucket, "run/", "native");
        let before = keys(b, &bucket, "");
        // Nothing changed locally: nothing is sent again, and neither the references nor the
        // content objects (no local file of that name) are deletion victims.
        let out = ok(b.trainctl().args(["s3", "sync"]).arg(&src).arg(s3(&bucket, "run/")).args(["--direction", "up", "--delete", "--yes", "--dry-run"]));
        assert!(!stdout(&out).contains(".trainctl"), "{}", stdout(&out));
        ok(b.trainctl().args(["s3", "sync"]).arg(&src).arg(s3(&bucket, "run/")).args(["--direction", "up", "--delete", "--yes"]));
        assert_eq!(keys(b, &bucket, ""), before);
        // A reference whose file is gone locally is deleted as itself; its content stays.
        std::fs::remove_file(src.join("checkpoint-100/vision.bin")).unwrap();
        ok(b.trainctl().args(["s3", "sync"]).arg(&src).arg(s3(&bucket, "run/")).args(["--direction", "up", "--delete", "--yes"]));
        let after = keys(b, &bucket, "");
        assert!(!after.contains(&format!("run/checkpoint-100/vision.bin{SUFFIX}")), "{after:?}");
        assert_eq!(content_keys(b, &bucket, "run/").len(), 2);
        let back = dir.path().join("back");
        std::fs::create_dir_all(&back).unwrap();
        ok(b.trainctl().args(["s3", "sync"]).arg(&back).arg(s3(&bucket, "run/")).args(["--direction", "down"]));
        assert_trees_equal(&src, &back);
    }

    fn two_way_sync_leaves_references_and_their_content_alone(b: &Backend) {
        let bucket = b.new_bucket("refsboth");
        let dir = scratch();
        let src = dir.path().join("run");
        run(&src);
        upload_refs(b, &src, &bucket, "run/", "native");
        let before = keys(b, &bucket, "");
        let mirror = dir.path().join("mirror");
        std::fs::create_dir_all(&mirror).unwrap();
        ok(b.trainctl().args(["s3", "sync"]).arg(&mirror).arg(s3(&bucket, "run/")).args(["--direction", "both", "--yes", "--grace", "0"]));
        let got = local_files(&mirror);
        assert!(got.iter().all(|f| !f.contains(".trainctl") && !f.contains("frozen") && !f.contains("vision")), "{got:?}");
        assert!(got.contains(&"checkpoint-100/model.safetensors".to_string()), "{got:?}");
        assert_eq!(keys(b, &bucket, ""), before, "nothing changed in the bucket");
    }

    fn materialize_restores_plain_objects(b: &Backend) {
        let bucket = b.new_bucket("refsmat");
        let dir = scratch();
        let src = dir.path().join("run");
        run(&src);
        upload_refs(b, &src, &bucket, "run/", "native");
        let before = keys(b, &bucket, "");
        let url = s3(&bucket, "run/");
        let plan = ok(b.trainctl().args(["--json", "s3", "materialize", &url, "--dry-run"]));
        let plan: serde_json::Value = serde_json::from_str(stdout(&plan).trim()).unwrap();
        assert_eq!((plan["items"].as_array().unwrap().len(), plan["reclaim"].as_array().unwrap().len()), (4, 2), "{plan}");
        assert_eq!(keys(b, &bucket, ""), before, "a dry run changes nothing");
        // Without a terminal and without --yes: refused, nothing changed.
        fails_with(b.trainctl().args(["s3", "materialize", &url]), 4);
        assert_eq!(keys(b, &bucket, ""), before);
        ok(b.trainctl().args(["s3", "materialize", &url, "--yes"]));
        let after = keys(b, &bucket, "");
        assert!(after.iter().all(|k| !k.ends_with(SUFFIX) && !k.contains(".trainctl/")), "{after:?}");
        // Plain objects any tool reads: the bytes straight from the store.
        for ck in ["checkpoint-100", "checkpoint-200"] {
            for f in ["frozen.safetensors", "vision.bin"] {
                assert_eq!(b.get_object(&bucket, &format!("run/{ck}/{f}")), std::fs::read(src.join(ck).join(f)).unwrap(), "{ck}/{f}");
            }
        }
        let back = dir.path().join("back");
        ok(b.trainctl().args(["s3", "download", "-r", &url]).arg(&back));
        assert_trees_equal(&src, &back);
    }

    fn content_left_without_references_is_reclaimed_only_from_a_plan_after_the_grace(b: &Backend) {
        let bucket = b.new_bucket("refsorphan");
        let dir = scratch();
        let src = dir.path().join("run");
        run(&src);
        upload_refs(b, &src, &bucket, "run/", "native");
        // Another tool (or a cleanup of every checkpoint) deletes all the references.
        for k in keys(b, &bucket, "run/").into_iter().filter(|k| k.ends_with(SUFFIX)) {
            b.delete_object(&bucket, &k);
        }
        let url = s3(&bucket, "run/");
        // Young content may belong to an upload still writing its references: left alone.
        let plan = ok(b.trainctl().args(["--json", "s3", "materialize", &url, "--dry-run"]));
        let plan: serde_json::Value = serde_json::from_str(stdout(&plan).trim()).unwrap();
        assert_eq!(plan["reclaim"].as_array().unwrap().len(), 0, "{plan}");
        let plan = ok(b.trainctl().args(["--json", "s3", "materialize", &url, "--dry-run", "--grace", "0s"]));
        let plan: serde_json::Value = serde_json::from_str(stdout(&plan).trim()).unwrap();
        assert_eq!(plan["reclaim"].as_array().unwrap().len(), 2, "{plan}");
        assert_eq!(content_keys(b, &bucket, "run/").len(), 2, "a dry run deletes nothing");
        ok(b.trainctl().args(["s3", "materialize", &url, "--grace", "0s", "--yes"]));
        assert!(content_keys(b, &bucket, "run/").is_empty());
        assert!(keys(b, &bucket, "run/").iter().any(|k| k.ends_with("model.safetensors")), "plain objects untouched");
    }

    fn local_dry_run_with_dedup_refs_and_compress_prints_the_figures_s3_upload_dry_run_prints(b: &Backend) {
        let bucket = b.new_bucket("refsldry");
        let dir = scratch();
        let out_dir = dir.path().join("out");
        // A resumed run: two complete checkpoints already there, each with the frozen component.
        ok(b.trainctl()
            .args(["local", &crate::runs::local_train(), "--checkpoints"]).arg(&out_dir)
            .arg("--log").arg(dir.path().join("first.log"))
            .args(["--", "--out"]).arg(&out_dir)
            .args(["--steps", "20", "--save-every", "10", "--step-seconds", "0.01", "--frozen-kib", "2048"]));
        let flags = ["--dedup=refs", "--compress", "zstd", "--dry-run"];
        let upload = ok(b.trainctl().args(["--json", "s3", "upload", "-r"]).arg(&out_dir).arg(s3(&bucket, "runs/d/")).args(flags));
        let local = ok(b.trainctl()
            .args(["--json", "local", &crate::runs::local_train(), "--checkpoints"]).arg(&out_dir)
            .args(["--upload-to", &format!("s3://{bucket}/runs/d/"), "--grace", "0s"]).args(flags)
            .args(["--", "--out"]).arg(&out_dir));
        let summary = |out: &std::process::Output| json_lines(out).into_iter().find(|v| v["plan"] == "refs_summary").unwrap_or_else(|| panic!("a references' summary: {}", String::from_utf8_lossy(&out.stdout)));
        let (want, got) = (summary(&upload), summary(&local));
        assert!(want["references"].as_u64() > Some(0) && want["bytes_not_stored"].as_u64() > Some(0), "{want}");
        assert_eq!(got, want, "the same figures from both faces");
        let now = json_lines(&local).into_iter().find(|v| v["plan"] == "upload_now").expect("what would be uploaded now");
        assert_eq!(now["checkpoints"].as_array().map(Vec::len), Some(2), "{now}");
        assert!(keys(b, &bucket, "").is_empty(), "dry runs write nothing");
        // Human: the same line as `s3 upload --dry-run`.
        let human = ok(b.trainctl()
            .args(["local", &crate::runs::local_train(), "--checkpoints"]).arg(&out_dir)
            .args(["--upload-to", &format!("s3://{bucket}/runs/d/"), "--grace", "0s"]).args(flags)
            .args(["--", "--out"]).arg(&out_dir));
        let line = stderr(&human).lines().find(|l| l.starts_with("dry run:") && l.contains("references")).map(str::to_string);
        assert!(line.as_deref().is_some_and(|l| l.contains("not stored twice")), "{}", stderr(&human));
    }

    fn local_upload_to_with_dedup_refs_stores_the_frozen_component_once(b: &Backend) {
        let bucket = b.new_bucket("refslocal");
        let dir = scratch();
        let out_dir = dir.path().join("out");
        let out = ok(b.trainctl()
            .args(["--json", "local", &crate::runs::local_train(), "--checkpoints"]).arg(&out_dir)
            .args(["--upload-to", &format!("s3://{bucket}/runs/d/"), "--dedup=refs", "--log"]).arg(dir.path().join("train.log"))
            .args(["--poll", "200ms", "--grace", "1s", "--", "--out"]).arg(&out_dir)
            .args(["--steps", "40", "--save-every", "10", "--step-seconds", "0.04", "--frozen-kib", "512"]));
        let s = crate::runs::summary_of(&out);
        assert_eq!(s["uploaded"].as_array().unwrap().len(), 4, "{s}");
        // checkpoint-10's copy goes up plain; checkpoint-20 finds it (content copied into the
        // area on the server, referenced); 30 and 40 reference the stored content.
        assert_eq!((s["referenced"].as_u64(), s["copied"].as_u64(), s["bytes_not_stored"].as_u64()), (Some(3), Some(1), Some(2 * 512 * KIB)), "{s}");
        assert_eq!(content_keys(b, &bucket, "runs/d/").len(), 1);
        for step in [10, 20, 30, 40] {
            let back = dir.path().join(format!("back-{step}"));
            ok(b.trainctl().args(["s3", "download", "-r", &s3(&bucket, &format!("runs/d/checkpoint-{step}/"))]).arg(&back));
            assert_trees_equal(&out_dir.join(format!("checkpoint-{step}")), &back);
        }
    }

    fn a_hostile_reference_is_refused_and_nothing_is_written(b: &Backend) {
        let bucket = b.new_bucket("refshostile");
        let dir = scratch();
        b.put_object(&bucket, "secret/key.bin", vec![7u8; 100]);
        // A reference pointing outside its folders, one too large, one not JSON.
        let outside = r#"{"trainctl_ref":1,"content":"secret/.trainctl/content/0000000000000001-100","size":100,"crc64nvme":"AAAAAAAAAAE="}"#;
        b.put_object(&bucket, "run/a.bin.trainctl-ref", outside.as_bytes().to_vec());
        b.put_object(&bucket, "run/b.bin.trainctl-ref", vec![b' '; 10_000]);
        b.put_object(&bucket, "run/c.bin.trainctl-ref", b"hello".to_vec());
        for (name, local) in [("a.bin", "a"), ("b.bin", "b"), ("c.bin", "c")] {
            let path = dir.path().join(local);
            let out = fails_with(b.trainctl().args(["s3", "download", &s3(&bucket, &format!("run/{name}"))]).arg(&path), 82);
            assert_error_shape(&out);
            assert!(!path.exists(), "{name}");
        }
        let before = keys(b, &bucket, "");
        fails_with(b.trainctl().args(["s3", "materialize", &s3(&bucket, "run/"), "--yes"]), 82);
        assert_eq!(keys(b, &bucket, ""), before, "nothing changed");
        let back = dir.path().join("back");
        // Every item refused for the same reason: that reason's exit code.
        fails_with(b.trainctl().args(["s3", "download", "-r", &s3(&bucket, "run/")]).arg(&back), 82);
        assert!(local_files(&back).is_empty());
    }

    fn a_reference_whose_content_is_missing_fails_clearly_and_nothing_is_deleted(b: &Backend) {
        let bucket = b.new_bucket("refsmissing");
        let dir = scratch();
        let src = dir.path().join("run");
        run(&src);
        upload_refs(b, &src, &bucket, "run/", "native");
        // Another tool deletes one content object.
        let gone = content_keys(b, &bucket, "run/").into_iter().next().unwrap();
        b.delete_object(&bucket, &gone);
        let before = keys(b, &bucket, "");
        let out = fails_with(b.trainctl().args(["s3", "materialize", &s3(&bucket, "run/"), "--yes"]), 81);
        assert_error_shape(&out);
        assert!(stderr(&out).contains(&gone) && stderr(&out).contains(SUFFIX), "names both keys: {}", stderr(&out));
        assert_eq!(keys(b, &bucket, ""), before, "nothing deleted or written");
        // Download of one such reference: the same error, nothing written locally.
        let victim = before.iter().find(|k| k.ends_with(SUFFIX) && {
            let body = b.get_object(&bucket, k);
            String::from_utf8_lossy(&body).contains(&gone)
        }).unwrap().clone();
        let local = dir.path().join("x.bin");
        let out = fails_with(b.trainctl().args(["s3", "download", &s3(&bucket, &victim)]).arg(&local), 81);
        assert!(stderr(&out).contains(&gone) && stderr(&out).contains(&victim), "{}", stderr(&out));
        assert!(!local.exists());
    }
    fn watch_reports_a_referenced_checkpoint_at_its_logical_size(b: &Backend) {
        let bucket = b.new_bucket("refswatch");
        let dir = scratch();
        let src = dir.path().join("run");
        run(&src);
        upload_refs(b, &src, &bucket, "run/", "native");
        let out = ok(b.trainctl().args(["--json", "s3", "watch", &s3(&bucket, "run/"), "--once"]));
        let found: Vec<serde_json::Value> = json_lines(&out).into_iter().filter(|e| e["event"] == "watch_checkpoint").collect();
        let each: u64 = local_files(&src.join("checkpoint-100")).iter().map(|f| std::fs::metadata(src.join("checkpoint-100").join(f)).unwrap().len()).sum();
        let seen: Vec<(&str, u64, u64)> = found.iter().map(|e| (e["id"].as_str().unwrap(), e["bytes"].as_u64().unwrap(), e["files"].as_u64().unwrap())).collect();
        assert_eq!(seen, [("checkpoint-100/", each, 5), ("checkpoint-200/", each, 5)], "{}", stdout(&out));
        // A reference that cannot be read counts at its stored size, and is said once.
        let broken = format!("run/checkpoint-200/frozen.safetensors{SUFFIX}");
        b.put_object(&bucket, &broken, b"not a reference".to_vec());
        let out = ok(b.trainctl().args(["--json", "s3", "watch", &s3(&bucket, "run/"), "--once"]));
        let lines = json_lines(&out);
        let bytes = lines.iter().find(|e| e["event"] == "watch_checkpoint" && e["id"] == "checkpoint-200/").map(|e| e["bytes"].as_u64());
        assert_eq!(bytes, Some(Some(each - FROZEN + 15)), "{}", stdout(&out));
        let said: Vec<&serde_json::Value> = lines.iter().filter(|e| e["event"] == "notice" && e["message"].as_str().is_some_and(|m| m.contains(&broken))).collect();
        assert_eq!(said.len(), 1, "{}", stdout(&out));
        assert!(said[0]["message"].as_str().unwrap().contains("counted at its stored size"), "{}", said[0]);
    }

    fn dataset_snapshot_verify_and_stage_read_references_as_their_files(b: &Backend) {
        let bucket = b.new_bucket("refsds");
        let dir = scratch();
        let src = dir.path().join("run");
        run(&src);
        // A file whose name sorts between `vision.bin` and `vision.bin.trainctl-ref`.
        std::fs::write(src.join("checkpoint-100/vision.bin-notes.txt"), b"between a file and its reference").unwrap();
        upload_refs(b, &src, &bucket, "run/", "native");
        let store = format!("--store=s3://{bucket}");
        let snapshot = |url: &str, name: &str| {
            let out = ok(b.trainctl().args(["--json", "dataset", "snapshot", url, "--name", name]).arg(&store));
            json_lines(&out).into_iter().find(|v| v["event"] == "snapshot").expect("a snapshot line")["manifest"].clone()
        };
        let files = local_files(&src);
        let bytes: u64 = files.iter().map(|f| std::fs::metadata(src.join(f)).unwrap().len()).sum();
        let remote = snapshot(&s3(&bucket, "run/"), "run");
        assert_eq!((remote["files"].as_u64(), remote["bytes"].as_u64()), (Some(files.len() as u64), Some(bytes)), "logical keys and sizes: {remote}");
        // What the data is, wherever it lives: the same digest as the local folder's.
        let local = snapshot(src.to_str().unwrap(), "local");
        assert_eq!(remote["digest"], local["digest"], "{remote} {local}");
        let shown = stdout(&ok(b.trainctl().args(["dataset", "show", "run@v1", "--files"]).arg(&store)));
        assert!(shown.contains("checkpoint-100/vision.bin") && !shown.contains(SUFFIX) && !shown.contains(".trainctl/"), "{shown}");
        for level in ["count", "checksum", "full"] {
            let out = ok(b.trainctl().args(["--json", "dataset", "verify", "run@v1", &s3(&bucket, "run/"), "--level", level]).arg(&store));
            let r = json_lines(&out).into_iter().find(|v| v["event"] == "verify").unwrap()["report"].clone();
            assert_eq!(r["ok"].as_u64(), Some(files.len() as u64), "{level}: {r}");
            assert!(r["extra"].as_array().unwrap().is_empty() && r["missing"].as_array().unwrap().is_empty(), "{level}: {r}");
        }
        let staged = dir.path().join("staged");
        ok(b.trainctl().args(["dataset", "stage", "run@v1"]).arg(&staged).arg(&store));
        for f in &files {
            assert_eq!(std::fs::read(staged.join(f)).unwrap(), std::fs::read(src.join(f)).unwrap(), "{f}");
        }
        assert!(local_files(&staged).iter().all(|f| !f.ends_with(SUFFIX) && !f.contains(".trainctl/")), "{:?}", local_files(&staged));
        ok(b.trainctl().args(["dataset", "verify", "run@v1"]).arg(&staged).args(["--level", "full"]).arg(&store));
        // Content gone behind a reference: a clear error naming both keys, no verdict on a guess.
        let gone = content_keys(b, &bucket, "run/").into_iter().next().unwrap();
        b.delete_object(&bucket, &gone);
        let out = fails_with(b.trainctl().args(["dataset", "verify", "run@v1", &s3(&bucket, "run/")]).arg(&store), 81);
        assert!(stderr(&out).contains(&gone) && stderr(&out).contains(SUFFIX), "{}", stderr(&out));
    }
    fn inventory_review_and_snapshot_read_references_as_a_listing_does(b: &Backend) {
        let bucket = b.new_bucket("refsinv");
        let dir = scratch();
        let src = dir.path().join("run");
        run(&src);
        upload_refs(b, &src, &bucket, "run/", "native");
        // The report S3 would write of the bucket (neither server writes one), beside its
        // manifest on disk; every object here is a single part, so its ETag is its MD5.
        let rows: Vec<InventoryRow> = keys(b, &bucket, "").iter().map(|k| InventoryRow::of_bytes(k, &b.get_object(&bucket, k), 1_767_225_600)).collect();
        let inv = scratch();
        let fx = write_inventory(inv.path(), &bucket, &bucket, InventoryFormat::Csv, &rows, 2, false);
        let manifest = fx.manifest.to_str().unwrap();
        let url = s3(&bucket, "run/");
        let review = |extra: &[&str]| -> serde_json::Value { serde_json::from_slice(&ok(b.trainctl().args(["--json", "s3", "review", &url]).args(extra)).stdout).unwrap() };
        let (listed_review, reported) = (review(&[]), review(&["--inventory", manifest]));
        let listed = &listed_review;
        assert_eq!(reported["source"], "inventory");
        let figures = |r: &serde_json::Value| ["refs", "ref_bytes", "logical_bytes", "content_objects", "content_bytes", "unread", "logical_total", "stored_total", "saved_bytes"].map(|f| r["references"][f].as_u64());
        assert_eq!(figures(&reported), figures(listed), "the report's references at their logical size: {} vs {}", reported["references"], listed["references"]);
        assert_eq!(reported["references"]["logical_bytes"].as_u64(), Some(2 * SHARED));

        let store = format!("--store=s3://{bucket}");
        let snapshot = |extra: &[&str]| {
            let out = ok(b.trainctl().args(["--json", "dataset", "snapshot", &url, "--name", "run"]).arg(&store).args(extra));
            json_lines(&out).into_iter().find(|v| v["event"] == "snapshot").expect("a snapshot line")["manifest"].clone()
        };
        let (listed, reported) = (snapshot(&[]), snapshot(&["--inventory", manifest]));
        let bytes: u64 = local_files(&src).iter().map(|f| std::fs::metadata(src.join(f)).unwrap().len()).sum();
        assert_eq!((reported["files"].as_u64(), reported["bytes"].as_u64()), (Some(local_files(&src).len() as u64), Some(bytes)), "logical keys and sizes: {reported}");
        assert_eq!(reported["digest"], listed["digest"], "the report gives the listing's manifest: {reported} vs {listed}");

        // References the report names that are gone since: one with the same body (ETag) still
        // there stands for it; with none left, they count at their stored size, said so.
        let frozen = |ck: &str| format!("run/{ck}/frozen.safetensors{SUFFIX}");
        b.delete_object(&bucket, &frozen("checkpoint-100"));
        let r = review(&["--inventory", manifest]);
        assert_eq!(figures(&r), figures(&listed_review), "a body read under another key of its ETag: {}", r["references"]);
        b.delete_object(&bucket, &frozen("checkpoint-200"));
        let r = review(&["--inventory", manifest]);
        assert_eq!(r["references"]["unread"].as_u64(), Some(2), "{}", r["references"]);
        assert_eq!(r["references"]["logical_bytes"].as_u64(), Some(2 * VISION), "{}", r["references"]);
        assert!(r["unseen"].as_array().unwrap().iter().any(|u| u.as_str().unwrap().contains("2 content reference(s) not read")), "{}", r["unseen"]);
    }

    fn ls_shows_references_as_their_files_and_hides_the_content_area(b: &Backend) {
        let bucket = b.new_bucket("refsls");
        let dir = scratch();
        let src = dir.path().join("run");
        run(&src);
        upload_refs(b, &src, &bucket, "run/", "native");
        let url = s3(&bucket, "run/");
        let rows = json_lines(&ok(b.trainctl().args(["--json", "s3", "ls", "-r", &url])));
        assert_eq!(rows.len(), 10, "{rows:?}");
        let frozen = rows.iter().find(|r| r["key"] == "run/checkpoint-100/frozen.safetensors").expect("the logical key");
        assert_eq!((frozen["size"].as_u64(), frozen["reference"].as_str()), (Some(FROZEN), Some("run/checkpoint-100/frozen.safetensors.trainctl-ref")), "{frozen}");
        assert!(rows.iter().all(|r| !r["key"].as_str().unwrap().contains(".trainctl/")), "{rows:?}");
        let text = stdout(&ok(b.trainctl().args(["s3", "ls", "-r", &url])));
        assert!(text.contains(&format!("s3://{bucket}/run/checkpoint-200/vision.bin  (reference)")), "{text}");
        let all = json_lines(&ok(b.trainctl().args(["--json", "s3", "ls", "-r", &url, "--show-content"])));
        assert_eq!(all.iter().filter(|r| r["key"].as_str().unwrap().contains(".trainctl/content/")).count(), 2, "{all:?}");
    }
}
