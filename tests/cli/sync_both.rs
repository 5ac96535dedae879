//! `trainctl s3 sync LOCAL s3://b/p/ --direction both`: the scenario suite, in the spirit of
//! rclone bisync's testdata. Each scenario is a table row — the two sides before, an optional
//! first pass, the changes made on each side, the flags of the pass — and the expected result:
//! the exit code and both sides' files afterwards. Every scenario runs on moto and on Garage.

use crate::common::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// A pair under test: a local folder and a fresh prefix.
pub struct P<'a> {
    pub b: &'a Backend,
    pub bucket: String,
    pub prefix: String,
    pub dir: tempfile::TempDir,
    /// Reach the server through this endpoint (a fault proxy). The endpoint is part of a pair's
    /// identity, so every pass of a test goes the same way.
    pub via: Option<String>,
}

impl<'a> P<'a> {
    pub fn new(b: &'a Backend, hint: &str) -> P<'a> {
        P { b, bucket: b.new_bucket(hint), prefix: "pair/".into(), dir: scratch(), via: None }
    }
    pub fn url(&self) -> String {
        s3(&self.bucket, &self.prefix)
    }
    pub fn root(&self) -> &Path {
        self.dir.path()
    }
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }
    /// `trainctl --json s3 sync DIR URL --direction both --yes --grace 0 EXTRA…`
    pub fn sync(&self, extra: &[&str]) -> std::process::Command {
        let mut cmd = match &self.via {
            Some(url) => self.b.trainctl_via(url),
            None => self.b.trainctl(),
        };
        cmd.args(["--json", "s3", "sync"]).arg(self.root()).arg(self.url()).args(["--direction", "both", "--yes", "--grace", "0"]).args(extra);
        cmd
    }
    pub fn write(&self, rel: &str, body: &str) {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
    }
    pub fn rm(&self, rel: &str) {
        std::fs::remove_file(self.path(rel)).unwrap();
    }
    pub fn put(&self, rel: &str, body: &str) {
        self.b.put_object(&self.bucket, &format!("{}{rel}", self.prefix), body.as_bytes().to_vec());
    }
    pub fn del(&self, rel: &str) {
        self.b.delete_object(&self.bucket, &format!("{}{rel}", self.prefix));
    }
    /// Local files → content. Hidden temp files a killed download left (never a real name,
    /// never synced) are not files of the folder.
    pub fn local(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for f in local_files(self.root()).into_iter().filter(|f| !f.ends_with(".trainctl-part")) {
            out.insert(f.clone(), String::from_utf8_lossy(&std::fs::read(self.path(&f)).unwrap()).into_owned());
        }
        out
    }
    /// Objects under the prefix → content.
    /// The names under the prefix, from one listing: what a test polls while a `--watch`
    /// process may delete objects between a listing and a GET (see [`P::remote`]).
    pub fn remote_names(&self) -> Vec<String> {
        keys(self.b, &self.bucket, &self.prefix).into_iter().map(|k| k[self.prefix.len()..].to_string()).collect()
    }

    pub fn remote(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for k in keys(self.b, &self.bucket, &self.prefix) {
            let body = self.b.get_object(&self.bucket, &k);
            out.insert(k[self.prefix.len()..].to_string(), String::from_utf8_lossy(&body).into_owned());
        }
        out
    }
}

/// The `sync_summary` line of a pass.
pub fn done(out: &std::process::Output) -> serde_json::Value {
    json_lines(out).into_iter().rev().find(|v| v["event"] == "sync_summary").map(|v| v["done"].clone()).unwrap_or_else(|| panic!("no sync_summary\n{}", stderr(out)))
}

/// Compares a side with the expectation; `*` in an expected name matches any run of characters
/// (conflict names carry the time of the pass).
fn matches(side: &str, got: &BTreeMap<String, String>, want: &[(&str, &str)]) -> Result<(), String> {
    let glob = |pat: &str, s: &str| match pat.split_once('*') {
        Some((a, b)) => s.starts_with(a) && s.ends_with(b) && s.len() >= a.len() + b.len(),
        None => pat == s,
    };
    let mut left: Vec<(&String, &String)> = got.iter().collect();
    for (pat, body) in want {
        match left.iter().position(|(k, v)| glob(pat, k) && (*body == "*" || v.as_str() == *body)) {
            Some(i) => {
                left.remove(i);
            }
            None => return Err(format!("{side}: expected {pat} = {body:?}, have {got:?}")),
        }
    }
    if !left.is_empty() {
        return Err(format!("{side}: unexpected {left:?} (have {got:?})"));
    }
    Ok(())
}

/// One row of the table.
pub struct Scenario {
    /// Files on each side before anything.
    pub local: &'static [(&'static str, &'static str)],
    pub remote: &'static [(&'static str, &'static str)],
    /// Run a first pass (snapshots) before `change`.
    pub settle: bool,
    /// What happens on the sides between the passes.
    pub change: fn(&P),
    /// Flags of the pass under test.
    pub args: &'static [&'static str],
    pub code: i32,
    /// Both sides afterwards (`None`: the same as `local`).
    pub want_local: &'static [(&'static str, &'static str)],
    pub want_remote: Option<&'static [(&'static str, &'static str)]>,
    /// Checked on the pass's output.
    pub check: fn(&P, &std::process::Output),
}

pub const NOTHING: fn(&P) = |_| {};
pub const NO_CHECK: fn(&P, &std::process::Output) = |_, _| {};

impl Default for Scenario {
    fn default() -> Self {
        Scenario { local: &[], remote: &[], settle: true, change: NOTHING, args: &[], code: 0, want_local: &[], want_remote: None, check: NO_CHECK }
    }
}

/// Runs a scenario: set up, optional first pass, change, the pass under test, then a last pass
/// that must find nothing to do when the pass converged.
pub fn run_scenario(b: &Backend, name: &str, s: Scenario) {
    let p = P::new(b, name);
    for (k, v) in s.local {
        if let Some(d) = k.strip_suffix('/') {
            std::fs::create_dir_all(p.path(d)).unwrap();
        } else {
            p.write(k, v);
        }
    }
    for (k, v) in s.remote {
        p.put(k, v);
    }
    if s.settle {
        ok(&mut p.sync(&[]));
    }
    (s.change)(&p);
    let out = run(&mut p.sync(s.args));
    let diag = || format!("scenario {name}: exit {:?}\nstdout:\n{}\nstderr:\n{}", out.status.code(), stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(s.code), "{}", diag());
    let want_remote = s.want_remote.unwrap_or(s.want_local);
    if let Err(e) = matches("local", &p.local(), s.want_local).and_then(|_| matches("remote", &p.remote(), want_remote)) {
        panic!("{e}\n{}", diag());
    }
    (s.check)(&p, &out);
    if s.code == 0 && !s.args.contains(&"--dry-run") {
        let again = ok(&mut p.sync(&[]));
        let d = done(&again);
        let moved = ["uploaded", "downloaded", "deleted_local", "deleted_remote", "renamed"].iter().map(|k| d[*k].as_u64().unwrap()).sum::<u64>();
        assert_eq!(moved, 0, "scenario {name}: the pass after a converged one must do nothing: {d}\n{}", stderr(&again));
    }
}

fn touch_future(path: &Path, secs: u64) {
    let f = std::fs::File::options().write(true).open(path).unwrap();
    f.set_modified(SystemTime::now() + Duration::from_secs(secs)).unwrap();
}

macro_rules! scenarios {
    ($( $name:ident => $s:expr ;)*) => {
        conformance! {
            $( fn $name(b: &Backend) { run_scenario(b, stringify!($name), $s) } )*
        }
    };
}

const AB: &[(&str, &str)] = &[("a.txt", "a"), ("d/b.txt", "b"), ("d/e/c.txt", "c")];

scenarios! {
    first_pass_is_a_union_and_deletes_nothing => Scenario {
        local: &[("a.txt", "a"), ("d/b.txt", "b")], remote: &[("c.txt", "c"), ("d/x.txt", "x")], settle: false,
        want_local: &[("a.txt", "a"), ("d/b.txt", "b"), ("c.txt", "c"), ("d/x.txt", "x")], ..Default::default()
    };
    first_pass_with_the_same_content_on_both_sides_copies_nothing => Scenario {
        local: &[("a.txt", "same")], remote: &[("a.txt", "same")], settle: false, want_local: &[("a.txt", "same")],
        check: |_, out| { let d = done(out); assert_eq!((d["uploaded"].as_u64(), d["downloaded"].as_u64(), d["recorded"].as_u64()), (Some(0), Some(0), Some(1)), "{d}"); },
        ..Default::default()
    };
    first_pass_with_different_content_is_a_conflict_and_keeps_both => Scenario {
        local: &[("a.txt", "mine")], remote: &[("a.txt", "theirs")], settle: false,
        want_local: &[("a.txt", "theirs"), ("a.conflict-*-local.txt", "mine")], ..Default::default()
    };
    an_unchanged_second_pass_does_nothing => Scenario {
        local: AB, want_local: AB,
        check: |_, out| { let d = done(out); assert_eq!(d["uploaded"], 0); assert_eq!(d["downloaded"], 0); assert_eq!(d["recorded"], 0); },
        ..Default::default()
    };
    a_new_local_file_is_uploaded => Scenario {
        local: AB, change: |p| p.write("d/new.bin", "n"),
        want_local: &[("a.txt", "a"), ("d/b.txt", "b"), ("d/e/c.txt", "c"), ("d/new.bin", "n")], ..Default::default()
    };
    a_new_remote_object_is_downloaded => Scenario {
        local: AB, change: |p| p.put("x/y/z.txt", "z"),
        want_local: &[("a.txt", "a"), ("d/b.txt", "b"), ("d/e/c.txt", "c"), ("x/y/z.txt", "z")], ..Default::default()
    };
    a_local_change_is_uploaded => Scenario {
        local: AB, change: |p| p.write("d/b.txt", "b, edited locally"),
        want_local: &[("a.txt", "a"), ("d/b.txt", "b, edited locally"), ("d/e/c.txt", "c")], ..Default::default()
    };
    a_remote_change_is_downloaded => Scenario {
        local: AB, change: |p| p.put("a.txt", "a, edited on S3"),
        want_local: &[("a.txt", "a, edited on S3"), ("d/b.txt", "b"), ("d/e/c.txt", "c")], ..Default::default()
    };
    a_local_delete_deletes_the_object => Scenario {
        local: AB, change: |p| p.rm("d/e/c.txt"),
        want_local: &[("a.txt", "a"), ("d/b.txt", "b")], ..Default::default()
    };
    a_remote_delete_deletes_the_file => Scenario {
        local: AB, change: |p| p.del("d/b.txt"),
        want_local: &[("a.txt", "a"), ("d/e/c.txt", "c")], ..Default::default()
    };
    deleted_on_both_sides_is_forgotten => Scenario {
        local: AB, change: |p| { p.rm("a.txt"); p.del("a.txt"); },
        want_local: &[("d/b.txt", "b"), ("d/e/c.txt", "c")], ..Default::default()
    };
    changed_locally_and_deleted_on_s3_the_change_wins => Scenario {
        local: AB, change: |p| { p.write("a.txt", "kept"); p.del("a.txt"); },
        want_local: &[("a.txt", "kept"), ("d/b.txt", "b"), ("d/e/c.txt", "c")], ..Default::default()
    };
    changed_on_s3_and_deleted_locally_the_change_wins => Scenario {
        local: AB, change: |p| { p.rm("a.txt"); p.put("a.txt", "kept remotely"); },
        want_local: &[("a.txt", "kept remotely"), ("d/b.txt", "b"), ("d/e/c.txt", "c")], ..Default::default()
    };
    the_same_change_on_both_sides_is_not_a_conflict => Scenario {
        local: AB, change: |p| { p.write("a.txt", "same edit"); p.put("a.txt", "same edit"); },
        want_local: &[("a.txt", "same edit"), ("d/b.txt", "b"), ("d/e/c.txt", "c")],
        check: |_, out| { assert_eq!(done(out)["recorded"], 1); assert!(!stdout(out).contains("\"conflict\"")); },
        ..Default::default()
    };
    a_conflict_keeps_both_by_default => Scenario {
        local: AB, change: |p| { p.write("d/b.txt", "local edit"); p.put("d/b.txt", "remote edit"); },
        want_local: &[("a.txt", "a"), ("d/b.txt", "remote edit"), ("d/b.conflict-*-local.txt", "local edit"), ("d/e/c.txt", "c")], ..Default::default()
    };
    conflict_local_overwrites_the_remote_version => Scenario {
        local: AB, change: |p| { p.write("a.txt", "local edit"); p.put("a.txt", "remote edit"); }, args: &["--conflict", "local"],
        want_local: &[("a.txt", "local edit"), ("d/b.txt", "b"), ("d/e/c.txt", "c")], ..Default::default()
    };
    conflict_remote_overwrites_the_local_version => Scenario {
        local: AB, change: |p| { p.write("a.txt", "local edit"); p.put("a.txt", "remote edit"); }, args: &["--conflict", "remote"],
        want_local: &[("a.txt", "remote edit"), ("d/b.txt", "b"), ("d/e/c.txt", "c")], ..Default::default()
    };
    conflict_newer_takes_the_later_version => Scenario {
        local: AB, change: |p| { p.put("a.txt", "remote edit"); p.write("a.txt", "local edit, later"); touch_future(&p.path("a.txt"), 3600); },
        args: &["--conflict", "newer"],
        want_local: &[("a.txt", "local edit, later"), ("d/b.txt", "b"), ("d/e/c.txt", "c")], ..Default::default()
    };
    conflict_fail_leaves_it_and_syncs_the_rest => Scenario {
        local: AB, change: |p| { p.write("a.txt", "local edit"); p.put("a.txt", "remote edit"); p.write("new.txt", "n"); },
        args: &["--conflict", "fail"], code: 63,
        want_local: &[("a.txt", "local edit"), ("d/b.txt", "b"), ("d/e/c.txt", "c"), ("new.txt", "n")],
        want_remote: Some(&[("a.txt", "remote edit"), ("d/b.txt", "b"), ("d/e/c.txt", "c"), ("new.txt", "n")]),
        ..Default::default()
    };
    an_emptied_local_folder_refuses_the_whole_pass => Scenario {
        local: AB, change: |p| { for f in ["a.txt", "d/b.txt", "d/e/c.txt"] { p.rm(f); } p.put("extra.txt", "e"); },
        code: 60, want_local: &[],
        want_remote: Some(&[("a.txt", "a"), ("d/b.txt", "b"), ("d/e/c.txt", "c"), ("extra.txt", "e")]),
        check: |_, out| { assert!(stdout(out).contains("force_command") && stdout(out).contains("--force"), "{}", stdout(out)); },
        ..Default::default()
    };
    an_emptied_prefix_refuses_the_whole_pass => Scenario {
        local: AB, change: |p| { for f in ["a.txt", "d/b.txt", "d/e/c.txt"] { p.del(f); } },
        code: 60, want_local: AB, want_remote: Some(&[]), ..Default::default()
    };
    many_deletions_over_max_delete_refuse_the_pass => Scenario {
        local: &[("1", "1"), ("2", "2"), ("3", "3"), ("4", "4"), ("5", "5")], change: |p| { p.rm("1"); p.rm("2"); p.rm("3"); p.write("6", "6"); },
        code: 60, want_local: &[("4", "4"), ("5", "5"), ("6", "6")],
        want_remote: Some(&[("1", "1"), ("2", "2"), ("3", "3"), ("4", "4"), ("5", "5")]), ..Default::default()
    };
    force_goes_past_the_delete_guard => Scenario {
        local: &[("1", "1"), ("2", "2"), ("3", "3"), ("4", "4"), ("5", "5")], change: |p| { p.rm("1"); p.rm("2"); p.rm("3"); },
        args: &["--force"], want_local: &[("4", "4"), ("5", "5")], ..Default::default()
    };
    max_delete_as_a_count => Scenario {
        local: AB, change: |p| { p.del("a.txt"); p.del("d/b.txt"); }, args: &["--max-delete", "1"],
        code: 60, want_local: AB, want_remote: Some(&[("d/e/c.txt", "c")]), ..Default::default()
    };
    a_rename_is_not_counted_as_a_deletion => Scenario {
        local: AB, change: |p| std::fs::rename(p.path("d/b.txt"), p.path("d/renamed.txt")).unwrap(), args: &["--max-delete", "0"],
        want_local: &[("a.txt", "a"), ("d/renamed.txt", "b"), ("d/e/c.txt", "c")], ..Default::default()
    };
    a_stale_lock_of_a_dead_process_is_taken_over => Scenario {
        local: AB, change: |p| { plant_dead_lock(p); p.write("n.txt", "n"); },
        want_local: &[("a.txt", "a"), ("d/b.txt", "b"), ("d/e/c.txt", "c"), ("n.txt", "n")],
        check: |_, out| assert!(stdout(out).contains("took over the lock"), "{}", stdout(out)),
        ..Default::default()
    };
    a_file_and_a_folder_of_one_name_on_s3_are_left_alone => Scenario {
        local: &[("keep.txt", "k")], change: |p| { p.put("a", "file"); p.put("a/b.txt", "under"); },
        want_local: &[("keep.txt", "k"), ("a/b.txt", "under")],
        want_remote: Some(&[("keep.txt", "k"), ("a", "file"), ("a/b.txt", "under")]),
        check: |_, out| assert!(stdout(out).contains("name_collision"), "{}", stdout(out)),
        ..Default::default()
    };
    names_differing_only_by_case_are_not_downloaded => Scenario {
        local: &[("keep.txt", "k")], change: |p| { p.put("Model.pt", "upper"); p.put("model.pt", "lower"); },
        want_local: &[("keep.txt", "k")],
        want_remote: Some(&[("keep.txt", "k"), ("Model.pt", "upper"), ("model.pt", "lower")]),
        check: |_, out| assert_eq!(stdout(out).matches("name_collision").count(), 2, "{}", stdout(out)),
        ..Default::default()
    };
    empty_folders_are_created_on_the_other_side => Scenario {
        local: &[("keep.txt", "k"), ("empty/", "")], change: |p| p.put("made-on-s3/", ""),
        want_local: &[("keep.txt", "k")], want_remote: Some(&[("keep.txt", "k"), ("empty/", ""), ("made-on-s3/", "")]),
        check: |p, _| { assert!(p.path("empty").is_dir() && p.path("made-on-s3").is_dir()); },
        ..Default::default()
    };
    symlinks_are_skipped_and_listed => Scenario {
        local: &[("keep.txt", "k")], change: |p| { std::os::unix::fs::symlink("/etc/hostname", p.path("link")).unwrap(); p.put("link", "remote at the link's name"); },
        want_local: &[("keep.txt", "k"), ("link", "*")], want_remote: Some(&[("keep.txt", "k"), ("link", "remote at the link's name")]),
        check: |p, out| { assert!(std::fs::symlink_metadata(p.path("link")).unwrap().file_type().is_symlink()); assert!(stdout(out).contains("symlink"), "{}", stdout(out)); },
        ..Default::default()
    };
    hostile_keys_never_escape_the_folder => Scenario {
        local: &[("keep.txt", "k")], change: |p| { p.put("../escape.txt", "x"); p.put("a//b.txt", "x"); p.put("./dot.txt", "x"); },
        want_local: &[("keep.txt", "k")], want_remote: Some(&[("keep.txt", "k"), ("../escape.txt", "x"), ("a//b.txt", "x"), ("./dot.txt", "x")]),
        check: |p, out| { assert!(!p.root().parent().unwrap().join("escape.txt").exists()); assert_eq!(stdout(out).matches("unsafe_key").count(), 3, "{}", stdout(out)); },
        ..Default::default()
    };
    an_incomplete_checkpoint_waits_until_complete => Scenario {
        // A Trainer checkpoint mid-save (its optimizer is there, trainer_state.json not yet); weights
        // alone would be a finished save_pretrained folder (issue #16).
        local: &[("keep.txt", "k")], change: |p| { p.write("run/checkpoint-5/model.safetensors", "weights"); p.write("run/checkpoint-5/optimizer.pt", "opt"); },
        want_local: &[("keep.txt", "k"), ("run/checkpoint-5/model.safetensors", "weights"), ("run/checkpoint-5/optimizer.pt", "opt")], want_remote: Some(&[("keep.txt", "k")]),
        check: |p, out| {
            assert!(stdout(out).contains("checkpoint incomplete"), "{}", stdout(out));
            p.write("run/checkpoint-5/trainer_state.json", "{\"global_step\": 5}");
            ok(&mut p.sync(&[]));
            assert_eq!(p.remote().len(), 4, "complete now: uploaded");
        },
        ..Default::default()
    };
    a_checkpoint_changed_on_both_sides_conflicts_as_one_folder => Scenario {
        local: &[("run/checkpoint-5/model.safetensors", "w0"), ("run/checkpoint-5/trainer_state.json", "{}")],
        change: |p| { p.write("run/checkpoint-5/model.safetensors", "local w1"); p.put("run/checkpoint-5/trainer_state.json", "{\"remote\":1}"); },
        want_local: &[
            ("run/checkpoint-5/model.safetensors", "w0"), ("run/checkpoint-5/trainer_state.json", "{\"remote\":1}"),
            ("run/checkpoint-5.conflict-*-local/model.safetensors", "local w1"), ("run/checkpoint-5.conflict-*-local/trainer_state.json", "{}"),
        ],
        ..Default::default()
    };
    dry_run_shows_the_plan_per_side_and_changes_nothing => Scenario {
        local: AB, change: |p| { p.write("up.txt", "u"); p.put("down.txt", "d"); p.rm("a.txt"); }, args: &["--dry-run"],
        want_local: &[("d/b.txt", "b"), ("d/e/c.txt", "c"), ("up.txt", "u")],
        want_remote: Some(&[("a.txt", "a"), ("d/b.txt", "b"), ("d/e/c.txt", "c"), ("down.txt", "d")]),
        check: |_, out| {
            let mut ops: Vec<String> = json_lines(out).iter().filter_map(|v| v["plan"]["op"].as_str().map(|s| format!("{}:{}", s, v["plan"]["path"].as_str().unwrap()))).collect();
            ops.sort();
            assert_eq!(ops, ["delete_remote:a.txt", "download:down.txt", "upload:up.txt"], "{}", stdout(out));
        },
        ..Default::default()
    };
}

/// A lock file naming a process that does not exist, as a crashed pass leaves it.
fn plant_dead_lock(p: &P) {
    let state = p.b.home().join(".local/state/trainctl/sync");
    let dir = std::fs::read_dir(&state).unwrap().flatten().find(|e| std::fs::read_to_string(e.path().join("pair.json")).is_ok_and(|s| s.contains(&p.bucket))).expect("pair state").path();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default().trim().to_string();
    std::fs::write(dir.join("lock"), format!("{{\"pid\":999999,\"host\":\"{host}\",\"since\":1,\"expires\":9999999999}}")).unwrap();
}
