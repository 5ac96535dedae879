//! Object keys are untrusted: a recursive download skips (and reports) every key that would
//! land outside the destination or is not a plain relative path, writes everything else, never
//! writes outside the destination, never writes through a symlink, and exits 3 (partial).

use crate::common::*;
use std::collections::BTreeSet;
use std::path::Path;

/// Keys a hostile or sloppy writer can put in a bucket; none may be written by a download.
const UNSAFE: &[&str] = &[
    "../escape.txt",
    "sub/../../escape2.txt",
    "sub/../inside-but-dotdot.txt",
    "./dot.txt",
    "sub/./dot2.txt",
    "sub//double.txt",
    "/abs.txt",
    "//etc/passwd-like",
    "sub\\..\\..\\backslash.txt",
    "C:\\windows.txt",
];

/// Keys that must arrive.
const SAFE: &[(&str, usize)] = &[("good.txt", 100), ("sub/good2.txt", 2000), ("sub/deeper/good 3.bin", 0), ("a..b/c..d", 5)];

/// Rejected keys reported by a `--json` run (`object_rejected` lines).
fn rejected(out: &std::process::Output) -> BTreeSet<String> {
    json_lines(out)
        .into_iter()
        .filter(|v| v["event"] == "object_rejected")
        .map(|v| v["key"].as_str().unwrap().to_string())
        .collect()
}

/// Every entry under `dir` (files, dirs, links), relative: to prove nothing else appeared.
fn entries(dir: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            out.insert(p.strip_prefix(dir).unwrap().to_string_lossy().into_owned());
            if e.file_type().unwrap().is_dir() {
                stack.push(p);
            }
        }
    }
    out
}

conformance! {
    fn download_skips_exactly_the_unsafe_keys_writes_the_rest_and_exits_3(b: &Backend) {
        let bucket = b.new_bucket("unsafe");
        for (k, n) in SAFE {
            b.put_object(&bucket, k, pattern_bytes(k, *n));
        }
        for k in UNSAFE {
            b.put_object(&bucket, k, pattern_bytes(k, 64));
        }
        // What the server actually stored (a server may normalise a key on the way in; such a
        // key is then no longer hostile and not expected to be refused).
        let stored: BTreeSet<String> = b.list_keys(&bucket, "").into_iter().collect();
        let hostile: BTreeSet<String> = UNSAFE.iter().map(|k| k.to_string()).filter(|k| stored.contains(k)).collect();
        assert!(hostile.len() >= 6, "{:?} stored only {stored:?}", b.kind());
        for engine in ENGINES {
            let parent = scratch();
            let dest = parent.path().join("dest");
            let out = fails_with(b.trainctl().args(["--json", "s3", "download", &s3(&bucket, "")]).arg(&dest)
                .args(["--recursive", "--engine", engine]), 3);
            assert_eq!(rejected(&out), hostile, "engine {engine}: reported keys");
            // Everything else that is stored arrives (Garage stores `/abs.txt` as `abs.txt`).
            let want: Vec<String> = stored.difference(&hostile).cloned().collect();
            assert_eq!(local_files(&dest), want, "engine {engine}: written files (stored: {stored:?})");
            for (k, n) in SAFE {
                assert_eq!(std::fs::read(dest.join(k)).unwrap(), pattern_bytes(k, *n), "engine {engine}: {k}");
            }
            let outside: Vec<String> = entries(parent.path()).into_iter().filter(|e| !e.starts_with("dest")).collect();
            assert!(outside.is_empty(), "engine {engine}: written outside the destination: {outside:?}");
            // Human mode reports them too, one `skipped` line each.
            let dest2 = parent.path().join("dest2");
            let out = fails_with(b.trainctl().args(["s3", "download", &s3(&bucket, "")]).arg(&dest2)
                .args(["--recursive", "--engine", engine]), 3);
            let err = stderr(&out);
            assert_eq!(err.lines().filter(|l| l.starts_with("skipped ")).count(), hostile.len(), "engine {engine}\n{err}");
        }
    }

    fn a_symlink_inside_the_destination_is_never_written_through(b: &Backend) {
        let bucket = b.new_bucket("symlink");
        b.put_object(&bucket, "good.txt", b"good".to_vec());
        b.put_object(&bucket, "dirlink/pwned.txt", b"pwned".to_vec());
        b.put_object(&bucket, "filelink", b"pwned too".to_vec());
        for engine in ENGINES {
            let parent = scratch();
            let outside = parent.path().join("outside");
            std::fs::create_dir(&outside).unwrap();
            std::fs::write(outside.join("target.txt"), b"precious").unwrap();
            let dest = parent.path().join("dest");
            std::fs::create_dir(&dest).unwrap();
            std::os::unix::fs::symlink(&outside, dest.join("dirlink")).unwrap();
            std::os::unix::fs::symlink(outside.join("target.txt"), dest.join("filelink")).unwrap();
            let out = fails_with(b.trainctl().args(["--json", "s3", "download", &s3(&bucket, "")]).arg(&dest)
                .args(["--recursive", "--engine", engine]), 3);
            assert_eq!(rejected(&out).len(), 2, "engine {engine}: {:?}", rejected(&out));
            assert_eq!(std::fs::read(dest.join("good.txt")).unwrap(), b"good");
            assert_eq!(entries(&outside), BTreeSet::from(["target.txt".to_string()]), "engine {engine}");
            assert_eq!(std::fs::read(outside.join("target.txt")).unwrap(), b"precious", "engine {engine}");
        }
    }
}
