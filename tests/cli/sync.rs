//! `trainctl s3 sync`: incremental in both directions (only what changed moves), and
//! `--delete` that shows before it deletes, refuses without a terminal or `--yes`, and then
//! deletes exactly what exists only at the destination.

use crate::common::*;
use std::path::Path;
use std::time::{Duration, SystemTime};

const TREE: &[(&str, u64)] = &[("a.txt", 100), ("b/c.bin", 5000), ("b/d/e.json", 42), ("empty", 0)];

fn sync(b: &Backend, engine: &str, local: &Path, url: &str, direction: &str, extra: &[&str]) -> std::process::Command {
    let mut cmd = b.trainctl();
    cmd.args(["--json", "s3", "sync"]).arg(local).arg(url).args(["--direction", direction, "--engine", engine]).args(extra);
    cmd
}

/// Sets a file's mtime `secs` seconds into the future, as an editor saving it later would.
fn touch_future(path: &Path, secs: u64) {
    let f = std::fs::File::options().write(true).open(path).unwrap();
    f.set_modified(SystemTime::now() + Duration::from_secs(secs)).unwrap();
}

/// `target` of every `{"plan":"delete"}` line: the key or the local path.
fn planned_deletions(out: &std::process::Output) -> Vec<String> {
    let mut v: Vec<String> = json_lines(out)
        .into_iter()
        .filter(|v| v["plan"] == "delete")
        .map(|v| {
            let t = &v["target"];
            t["key"].as_str().or(t["path"].as_str()).unwrap_or_else(|| panic!("{v}")).to_string()
        })
        .collect();
    v.sort();
    v
}

conformance! {
    fn sync_up_moves_only_new_and_changed_files(b: &Backend) {
        let bucket = b.new_bucket("syncup");
        for engine in ENGINES {
            let src = scratch();
            write_tree(src.path(), TREE);
            let url = s3(&bucket, &format!("{engine}/"));
            let first = ok(&mut sync(b, engine, src.path(), &url, "up", &[]));
            assert_eq!(counts(&first).0, 4, "engine {engine}");
            let again = ok(&mut sync(b, engine, src.path(), &url, "up", &[]));
            assert_eq!((counts(&again).0, counts(&again).1), (0, 4), "engine {engine}: nothing changed");

            std::fs::write(src.path().join("a.txt"), b"changed, and of another size").unwrap();
            touch_future(&src.path().join("b/c.bin"), 60); // same size, newer
            write_tree(src.path(), &[("new/file.txt", 7)]);
            let out = ok(&mut sync(b, engine, src.path(), &url, "up", &[]));
            assert_eq!((counts(&out).0, counts(&out).1), (3, 2), "engine {engine}: {}", summary(&out));
            assert_eq!(b.get_object(&bucket, &format!("{engine}/a.txt")), b"changed, and of another size");
            let dst = scratch();
            ok(b.trainctl().args(["s3", "download", &url]).arg(dst.path()).args(["--recursive", "--engine", engine]));
            assert_trees_equal(src.path(), dst.path());
        }
    }

    fn sync_down_moves_only_new_and_changed_objects(b: &Backend) {
        let bucket = b.new_bucket("syncdown");
        for engine in ENGINES {
            for (k, n) in TREE {
                b.put_object(&bucket, &format!("{engine}/{k}"), pattern_bytes(k, *n as usize));
            }
            let dst = scratch();
            let url = s3(&bucket, &format!("{engine}/"));
            let first = ok(&mut sync(b, engine, dst.path(), &url, "down", &[]));
            assert_eq!(counts(&first).0, 4, "engine {engine}");
            assert_eq!(local_files(dst.path()), vec!["a.txt", "b/c.bin", "b/d/e.json", "empty"]);
            assert_eq!(std::fs::read(dst.path().join("b/c.bin")).unwrap(), pattern_bytes("b/c.bin", 5000));
            let again = ok(&mut sync(b, engine, dst.path(), &url, "down", &[]));
            assert_eq!((counts(&again).0, counts(&again).1), (0, 4), "engine {engine}: nothing changed");

            b.put_object(&bucket, &format!("{engine}/b/d/e.json"), b"{\"changed\":true}".to_vec());
            b.put_object(&bucket, &format!("{engine}/added.txt"), b"new".to_vec());
            let out = ok(&mut sync(b, engine, dst.path(), &url, "down", &[]));
            assert_eq!((counts(&out).0, counts(&out).1), (2, 3), "engine {engine}: {}", summary(&out));
            assert_eq!(std::fs::read(dst.path().join("b/d/e.json")).unwrap(), b"{\"changed\":true}");
            assert_eq!(std::fs::read(dst.path().join("added.txt")).unwrap(), b"new");
        }
    }

    fn delete_with_dry_run_lists_the_deletions_and_deletes_nothing(b: &Backend) {
        let bucket = b.new_bucket("deldry");
        let src = scratch();
        write_tree(src.path(), TREE);
        ok(b.trainctl().args(["s3", "upload"]).arg(src.path()).arg(s3(&bucket, "p/")).arg("--recursive"));
        b.put_object(&bucket, "p/extra1.txt", b"x".to_vec());
        b.put_object(&bucket, "p/old/extra2.txt", b"y".to_vec());
        let before = keys(b, &bucket, "");
        let out = ok(&mut sync(b, "native", src.path(), &s3(&bucket, "p/"), "up", &["--delete", "--dry-run"]));
        assert_eq!(planned_deletions(&out), vec!["p/extra1.txt", "p/old/extra2.txt"]);
        assert_eq!(keys(b, &bucket, ""), before);
        // Human mode shows them too.
        let out = ok(b.trainctl().args(["s3", "sync"]).arg(src.path()).arg(s3(&bucket, "p/"))
            .args(["--direction", "up", "--delete", "--dry-run"]));
        assert!(stderr(&out).contains("p/extra1.txt") && stderr(&out).contains("p/old/extra2.txt"), "{}", stderr(&out));
        assert_eq!(keys(b, &bucket, ""), before);

        // Down: local files that are not in the bucket.
        let dst = scratch();
        write_tree(dst.path(), &[("local-only.txt", 3), ("deep/local-only.bin", 9)]);
        let out = ok(&mut sync(b, "native", dst.path(), &s3(&bucket, "p/"), "down", &["--delete", "--dry-run"]));
        let want: Vec<String> = ["deep/local-only.bin", "local-only.txt"].iter().map(|f| dst.path().join(f).display().to_string()).collect();
        assert_eq!(planned_deletions(&out), want);
        assert_eq!(local_files(dst.path()), vec!["deep/local-only.bin", "local-only.txt"], "dry run wrote or deleted");
    }

    fn delete_without_yes_and_without_a_terminal_exits_4_and_changes_nothing(b: &Backend) {
        let bucket = b.new_bucket("delno");
        let src = scratch();
        write_tree(src.path(), TREE);
        ok(b.trainctl().args(["s3", "upload"]).arg(src.path()).arg(s3(&bucket, "p/")).arg("--recursive"));
        b.put_object(&bucket, "p/extra.txt", b"x".to_vec());
        write_tree(src.path(), &[("new-local.txt", 5)]);
        let before = keys(b, &bucket, "");
        let out = fails_with(b.trainctl().args(["s3", "sync"]).arg(src.path()).arg(s3(&bucket, "p/"))
            .args(["--direction", "up", "--delete"]), 4);
        assert_error_shape(&out);
        assert_eq!(keys(b, &bucket, ""), before, "nothing deleted, nothing uploaded");

        let dst = scratch();
        write_tree(dst.path(), &[("local-only.txt", 3)]);
        fails_with(b.trainctl().args(["s3", "sync"]).arg(dst.path()).arg(s3(&bucket, "p/"))
            .args(["--direction", "down", "--delete"]), 4);
        assert_eq!(local_files(dst.path()), vec!["local-only.txt"]);
    }

    fn delete_with_yes_deletes_exactly_the_extra_keys_and_files(b: &Backend) {
        let bucket = b.new_bucket("delyes");
        for engine in ENGINES {
            let src = scratch();
            write_tree(src.path(), TREE);
            let prefix = format!("{engine}/");
            ok(b.trainctl().args(["s3", "upload"]).arg(src.path()).arg(s3(&bucket, &prefix)).arg("--recursive"));
            b.put_object(&bucket, &format!("{prefix}extra1.txt"), b"x".to_vec());
            b.put_object(&bucket, &format!("{prefix}old/extra2.txt"), b"y".to_vec());
            b.put_object(&bucket, &format!("{engine}-sibling/keep.txt"), b"z".to_vec());
            let out = ok(&mut sync(b, engine, src.path(), &s3(&bucket, &prefix), "up", &["--delete", "--yes"]));
            let deleted = json_lines(&out).into_iter().find(|v| v.get("deleted").is_some()).expect("deleted line");
            assert_eq!(deleted["deleted"], 2, "engine {engine}");
            let want: Vec<String> = ["a.txt", "b/c.bin", "b/d/e.json", "empty"].iter().map(|k| format!("{prefix}{k}")).collect();
            assert_eq!(keys(b, &bucket, &prefix), want, "engine {engine}");
            assert_eq!(keys(b, &bucket, &format!("{engine}-sibling/")), vec![format!("{engine}-sibling/keep.txt")]);

            let dst = scratch();
            write_tree(dst.path(), &[("local-only.txt", 3), ("deep/local-only.bin", 9), ("a.txt", 100)]);
            ok(&mut sync(b, engine, dst.path(), &s3(&bucket, &prefix), "down", &["--delete", "--yes"]));
            assert_trees_equal(src.path(), dst.path());
        }
    }
}
