//! `trainctl checkpoint dedup` on folders the real frameworks wrote (`tests/fixtures/frameworks/`)
//! plus an identical tokenizer and frozen component in every checkpoint: a dry run changes
//! nothing, the plan's byte count equals an independent count, every file keeps its bytes, names
//! share inodes afterwards, a second run is a no-op answered by the hash cache, and a retention
//! cleanup of some checkpoints leaves the others intact.

use crate::common::*;
use crate::frameworks::{copy_dated, fixtures};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::Duration;

/// Per regular file (symlinks left out): content hash, size, inode, link count, mode.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    sha: String,
    size: u64,
    ino: u64,
    nlink: u64,
    mode: u32,
}

fn snapshot(root: &Path) -> BTreeMap<String, Seen> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            let m = std::fs::symlink_metadata(e.path()).unwrap();
            if m.is_dir() {
                stack.push(e.path());
            } else if m.is_file() {
                let rel = e.path().strip_prefix(root).unwrap().to_string_lossy().into_owned();
                let sha = hex::encode(Sha256::digest(std::fs::read(e.path()).unwrap()));
                out.insert(rel, Seen { sha, size: m.len(), ino: m.ino(), nlink: m.nlink(), mode: m.permissions().mode() & 0o7777 });
            }
        }
    }
    out
}

/// Bytes a dedup of fresh copies gives back, counted independently: per content, all but one copy.
fn reclaimable(files: &BTreeMap<String, Seen>) -> (u64, u64) {
    let mut by: BTreeMap<(&str, u64), u64> = BTreeMap::new();
    for s in files.values().filter(|s| s.size > 0) {
        *by.entry((&s.sha, s.size)).or_default() += 1;
    }
    by.iter().fold((0, 0), |(files, bytes), ((_, size), n)| (files + n - 1, bytes + (n - 1) * size))
}

/// The framework runs (three days old) with an identical tokenizer and frozen vision tower in
/// every Trainer checkpoint; one tokenizer copy read-only.
fn runs_with_shared_files() -> tempfile::TempDir {
    let dir = scratch();
    copy_dated(&fixtures().join("runs"), dir.path(), Duration::from_secs(3 * 86_400));
    let tokenizer: Vec<u8> = (0..150_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let tower: Vec<u8> = (0..400_000u32).map(|i| (i * 13 % 241) as u8).collect();
    for run in ["hf-trainer", "hf-export"] {
        for e in std::fs::read_dir(dir.path().join(run)).unwrap() {
            let ckpt = e.unwrap().path();
            for (name, bytes) in [("tokenizer.json", &tokenizer), ("vision_tower.safetensors", &tower)] {
                std::fs::write(ckpt.join(name), bytes).unwrap();
                let f = std::fs::File::options().write(true).open(ckpt.join(name)).unwrap();
                f.set_modified(std::time::SystemTime::now() - Duration::from_secs(3 * 86_400)).unwrap();
            }
        }
    }
    let ro = dir.path().join("hf-trainer/checkpoint-4/tokenizer.json");
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o444)).unwrap();
    dir
}

fn dedup(dir: &Path, extra: &[&str]) -> std::process::Output {
    let server = trainctl_testkit::shared_moto();
    run(trainctl(server).args(["--json", "checkpoint", "dedup", dir.to_str().unwrap(), "--grace", "0s"]).args(extra))
}

fn event<'a>(lines: &'a [Value], name: &str) -> &'a Value {
    lines.iter().find(|v| v["event"] == name).unwrap_or_else(|| panic!("no {name} in {lines:?}"))
}

#[test]
fn dedup_links_identical_files_keeps_every_byte_and_survives_a_cleanup() {
    let dir = runs_with_shared_files();
    let before = snapshot(dir.path());
    let (expect_files, expect_bytes) = reclaimable(&before);
    assert!(expect_bytes > 4 * 550_000, "the fixture shares its tokenizer and tower: {expect_bytes}");

    // A dry run shows the exact plan and changes nothing.
    let out = dedup(dir.path(), &["--dry-run"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let lines = json_lines(&out);
    let plan = event(&lines, "dedup_plan");
    assert_eq!((plan["files_to_replace"].as_u64(), plan["bytes_reclaimed"].as_u64()), (Some(expect_files), Some(expect_bytes)), "{plan}");
    assert!(plan["hashed"].as_u64().unwrap() > 0 && plan["from_cache"] == 0, "{plan}");
    assert_eq!(plan["symlinks"], 1, "lightning-link's symlink is counted, not followed: {plan}");
    assert!(lines.iter().all(|v| v["event"] != "summary"), "a dry run applies nothing");
    assert_eq!(snapshot(dir.path()), before, "a dry run changes no byte, inode or mode");
    let tok = plan["groups"].as_array().unwrap().iter().find(|g| g["keep"].as_str().unwrap().ends_with("tokenizer.json")).expect("tokenizer group");
    assert_eq!(tok["keep"], "hf-trainer/checkpoint-4/tokenizer.json", "the read-only copy is kept");
    assert!(tok["replace"].as_array().unwrap().iter().all(|r| r["mode_after"] == 0o444), "{tok}");

    // The real run: the plan comes from the cache (nothing re-hashed), everything is linked.
    let out = dedup(dir.path(), &["--yes", "--method", "link"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let lines = json_lines(&out);
    let plan = event(&lines, "dedup_plan");
    assert_eq!((plan["hashed"].as_u64(), plan["bytes_hashed"].as_u64()), (Some(0), Some(0)), "unchanged files come from the cache: {plan}");
    assert!(plan["from_cache"].as_u64().unwrap() > 0, "{plan}");
    let sum = event(&lines, "summary");
    assert_eq!((sum["linked"].as_u64(), sum["bytes_reclaimed"].as_u64(), sum["skipped"].as_array().map(Vec::len)), (Some(expect_files), Some(expect_bytes), Some(0)), "{sum}");

    // Every file has its bytes; identical contents share one inode whose link count says so.
    let after = snapshot(dir.path());
    assert_eq!(after.keys().collect::<Vec<_>>(), before.keys().collect::<Vec<_>>());
    let mut inodes: BTreeMap<(String, u64), std::collections::BTreeSet<u64>> = BTreeMap::new();
    for (rel, s) in &after {
        assert_eq!((&s.sha, s.size), (&before[rel].sha, before[rel].size), "{rel} kept its bytes");
        if s.size > 0 {
            inodes.entry((s.sha.clone(), s.size)).or_default().insert(s.ino);
        }
    }
    assert!(inodes.values().all(|i| i.len() == 1), "one inode per content: {inodes:?}");
    let toks: Vec<&Seen> = after.iter().filter(|(k, _)| k.ends_with("tokenizer.json")).map(|(_, s)| s).collect();
    assert!(toks.iter().all(|s| s.nlink == toks.len() as u64 && s.mode == 0o444 && s.ino == toks[0].ino), "{toks:?}");
    assert!(!local_files(dir.path()).iter().any(|f| f.contains(".trainctl-dedup")), "no temp name is left");

    // A second run is a no-op.
    let out = dedup(dir.path(), &["--yes"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let lines = json_lines(&out);
    let plan = event(&lines, "dedup_plan");
    assert_eq!((plan["files_to_replace"].as_u64(), plan["bytes_reclaimed"].as_u64(), plan["hashed"].as_u64()), (Some(0), Some(0), Some(0)), "{plan}");
    assert_eq!(snapshot(dir.path()), after);

    // A retention cleanup of the Trainer run deletes old checkpoints; the others keep every byte.
    let server = trainctl_testkit::shared_moto();
    ok(trainctl(server).args(["checkpoint", "cleanup", dir.path().join("hf-trainer").to_str().unwrap(), "--keep-last-n", "1", "--yes"]));
    let left = snapshot(dir.path());
    assert!(left.len() < after.len(), "the cleanup deleted something");
    for (rel, s) in &left {
        assert_eq!(s.sha, before[rel].sha, "{rel} is intact after the cleanup");
    }
    // Each inode's link count is exactly its names left in the folder: the deleted names are
    // gone, the bytes the other checkpoints use stay.
    for s in left.values() {
        assert_eq!(s.nlink, left.values().filter(|o| o.ino == s.ino).count() as u64, "{s:?}");
    }
    assert!(left.contains_key("hf-export/checkpoint-100/vision_tower.safetensors"));
}

#[test]
fn dedup_leaves_recent_files_and_symlinks_alone() {
    let dir = scratch();
    let outside = scratch();
    let bytes = vec![5u8; 70_000];
    for ck in ["run/checkpoint-1", "run/checkpoint-2"] {
        std::fs::create_dir_all(dir.path().join(ck)).unwrap();
        std::fs::write(dir.path().join(ck).join("frozen.bin"), &bytes).unwrap();
    }
    std::fs::write(outside.path().join("frozen.bin"), &bytes).unwrap();
    std::os::unix::fs::symlink(outside.path().join("frozen.bin"), dir.path().join("run/checkpoint-2/link.bin")).unwrap();
    let server = trainctl_testkit::shared_moto();
    // Just written: inside the default 60 s grace, nothing is planned.
    let out = ok(trainctl(server).args(["--json", "checkpoint", "dedup", dir.path().to_str().unwrap(), "--yes"]));
    let lines = json_lines(&out);
    let plan = event(&lines, "dedup_plan");
    assert_eq!(plan["files_to_replace"], 0, "{plan}");
    assert_eq!(plan["skipped"].as_array().unwrap().len(), 2, "{plan}");
    assert!(plan["skipped"][0]["reason"].as_str().unwrap().contains("may still be written"), "{plan}");
    // With no grace: the two copies are linked; the symlink stays a symlink to the outside file.
    let out = ok(trainctl(server).args(["--json", "checkpoint", "dedup", dir.path().to_str().unwrap(), "--yes", "--grace", "0s"]));
    assert_eq!(event(&json_lines(&out), "summary")["bytes_reclaimed"], 70_000);
    let link = std::fs::symlink_metadata(dir.path().join("run/checkpoint-2/link.bin")).unwrap();
    assert!(link.file_type().is_symlink());
    assert_eq!(std::fs::metadata(outside.path().join("frozen.bin")).unwrap().nlink(), 1, "nothing outside the folder is touched");
}

#[test]
fn dedup_of_a_missing_folder_or_a_file_is_a_clear_error() {
    let server = trainctl_testkit::shared_moto();
    let dir = scratch();
    let missing = dir.path().join("nope");
    let out = fails_with(trainctl(server).args(["checkpoint", "dedup", missing.to_str().unwrap()]), 13);
    assert!(stderr(&out).contains("does not exist") && stderr(&out).contains("nope"), "{}", stderr(&out));
    let file = dir.path().join("model.pt");
    std::fs::write(&file, b"x").unwrap();
    let out = fails_with(trainctl(server).args(["checkpoint", "dedup", file.to_str().unwrap()]), 14);
    assert!(stderr(&out).contains("model.pt"), "{}", stderr(&out));
    assert_error_shape(&out);
    assert_eq!(std::fs::read(&file).unwrap(), b"x");
}

#[test]
fn dedup_without_yes_and_without_a_terminal_changes_nothing() {
    let dir = scratch();
    for ck in ["run/checkpoint-1", "run/checkpoint-2"] {
        std::fs::create_dir_all(dir.path().join(ck)).unwrap();
        std::fs::write(dir.path().join(ck).join("tokenizer.json"), vec![9u8; 5000]).unwrap();
    }
    let before = snapshot(dir.path());
    let server = trainctl_testkit::shared_moto();
    let out = fails_with(trainctl(server).args(["checkpoint", "dedup", dir.path().to_str().unwrap(), "--grace", "0s"]), 4);
    assert!(stdout(&out).contains("replace run/checkpoint-2/tokenizer.json"), "the plan is shown first: {}", stdout(&out));
    assert_eq!(snapshot(dir.path()), before);
}
