//! Two `trainctl` processes downloading one prefix into one folder at the same time (one per
//! engine, then both native): every file ends byte-identical to its object, no torn file, no
//! temp file left (`transfer::local_write`: private temp names, commit under the folder lock).

use crate::common::*;
use std::process::Stdio;

/// Small files, files around the part size, and multipart ones, in nested folders.
fn tree() -> Vec<(String, usize)> {
    let mut t = Vec::new();
    for i in 0..24 {
        t.push((format!("ckpt/shard-{i:02}.bin"), 1000 + i * 37_000));
    }
    for (name, mib) in [("a/model.bin", 13), ("a/b/optimizer.bin", 21), ("c/emb.bin", 6)] {
        t.push((name.to_string(), mib * 1024 * 1024 + 3));
    }
    t
}

conformance! {
    fn two_processes_downloading_one_prefix_into_one_folder_leave_every_file_whole(b: &Backend) {
        let bucket = b.new_bucket("two-procs");
        for (k, n) in tree() {
            b.put_object(&bucket, &format!("p/{k}"), pattern_bytes(&k, n));
        }
        for pair in [["native", "s5cmd"], ["native", "native"]] {
            let dir = scratch();
            let dest = dir.path().join("dest");
            let children: Vec<_> = pair
                .iter()
                .map(|engine| {
                    b.trainctl()
                        .args(["--json", "s3", "download", "--recursive", &s3(&bucket, "p/")])
                        .arg(&dest)
                        .args(["--engine", engine, "--part-size", "5", "--concurrency", "4"])
                        .stdout(Stdio::piped())
                        .stderr(Stdio::piped())
                        .spawn()
                        .expect("spawn trainctl")
                })
                .collect();
            for child in children {
                let out = child.wait_with_output().unwrap();
                assert!(out.status.success(), "{pair:?}: {}\n{}", stdout(&out), stderr(&out));
            }
            for (k, n) in tree() {
                let got = std::fs::read(dest.join(&k)).unwrap_or_else(|e| panic!("{pair:?}: {k}: {e}"));
                assert!(got == pattern_bytes(&k, n), "{pair:?}: {k} differs from its object ({} bytes)", got.len());
            }
            let mut want: Vec<String> = tree().into_iter().map(|(k, _)| k).collect();
            want.sort();
            assert_eq!(local_files(&dest), want, "{pair:?}: no temp file or anything else left");
        }
    }
}
