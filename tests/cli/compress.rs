//! `--compress` end to end on both backends: bf16 and fp32 safetensors and the real framework
//! files go up compressed and come back byte-identical under their own names (both engines),
//! `auto` leaves random bytes plain, a corrupt compressed object fails with exit 80 and leaves
//! nothing, an object whose metadata another tool stripped still decodes from its header, a
//! foreign `.zst` stays as it is, `--dry-run` shows the compressed keys and sends nothing, and a
//! checkpoint run uploaded compressed is judged complete like the original; a file of many
//! compressed parts (pipelined by the native engine, staged for s5cmd) round-trips; `auto`
//! compresses every block on a link slower than its compressor and stores blocks fast when the
//! compressor cannot keep up (`codec::pace`), while `zstd:N` stays as asked; `auto` sends a
//! file plain where compressed uploads measured slower than plain ones (`compress::rates`),
//! says why in `--dry-run` and `--json`, and `zstd:N` still compresses.

use crate::common::*;
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/frameworks/runs")
}

/// Normal-ish weights (sum of uniforms, σ ≈ 0.02) as `dtype` bytes: what trained layers look like.
fn weights(n: usize, dtype: &str, seed: u64) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut out = Vec::with_capacity(n * 4);
    for _ in 0..n {
        let g: f32 = (0..4).map(|_| rng.f32() - 0.5).sum::<f32>() * 0.035;
        match dtype {
            "BF16" => out.extend_from_slice(&((g.to_bits() + 0x8000) >> 16).to_le_bytes()[..2]),
            _ => out.extend_from_slice(&g.to_le_bytes()),
        }
    }
    out
}

/// A safetensors file with one tensor of `n` elements of `dtype` (`BF16` or `F32`).
fn safetensors(path: &Path, dtype: &str, n: usize, seed: u64) {
    let data = weights(n, dtype, seed);
    let mut header = format!(r#"{{"__metadata__":{{"format":"pt"}},"w":{{"dtype":"{dtype}","shape":[{n}],"data_offsets":[0,{}]}}}}"#, data.len());
    while header.len() % 8 != 0 {
        header.push(' ');
    }
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(&data);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// bf16 and fp32 models (2 MiB of weights each), random bytes, and the real files of one HF
/// Trainer checkpoint (fp32 safetensors, torch pickles/zips, JSON).
fn tree(root: &Path) {
    safetensors(&root.join("bf16/model.safetensors"), "BF16", 1 << 20, 1);
    safetensors(&root.join("fp32/model.safetensors"), "F32", 1 << 19, 2);
    random_file(&root.join("noise.bin"), 2 << 20);
    let ck = fixtures().join("hf-trainer/checkpoint-10");
    for e in std::fs::read_dir(&ck).unwrap() {
        let p = e.unwrap().path();
        std::fs::create_dir_all(root.join("hf")).unwrap();
        std::fs::copy(&p, root.join("hf").join(p.file_name().unwrap())).unwrap();
    }
}

/// A fresh bucket and a scratch folder holding [`tree`] in `src/`.
fn setup(b: &Backend, hint: &str) -> (String, tempfile::TempDir, PathBuf) {
    let dir = scratch();
    let src = dir.path().join("src");
    tree(&src);
    (b.new_bucket(hint), dir, src)
}

fn upload(b: &Backend, engine: &str, local: &Path, url: &str, how: &str) -> std::process::Output {
    ok(b.trainctl().args(["--json", "s3", "upload", "-r"]).arg(local).arg(url).args(["--engine", engine, "--compress", how]))
}

fn download(b: &Backend, engine: &str, url: &str, local: &Path, extra: &[&str]) -> std::process::Output {
    ok(b.trainctl().args(["--json", "s3", "download", url]).arg(local).args(["--engine", engine]).args(extra))
}

conformance! {
    fn auto_compresses_bf16_with_byte_planes_leaves_noise_plain_and_round_trips_byte_identical(b: &Backend) {
        let (bucket, dir, src) = setup(b, "zauto");
        for engine in ENGINES {
            let prefix = format!("{engine}/");
            upload(b, engine, &src, &s3(&bucket, &prefix), "auto");
            let k = keys(b, &bucket, &prefix);
            let has = |key: &str| k.contains(&format!("{prefix}{key}"));
            assert!(has("bf16/model.safetensors.tcz"), "bf16 byte-plane split: {k:?}");
            assert!(has("fp32/model.safetensors.tcz") || has("fp32/model.safetensors.zst"), "fp32 compressed: {k:?}");
            assert!(has("noise.bin"), "random bytes stay plain: {k:?}");
            assert!(has("hf/trainer_state.json") && has("hf/optimizer.pt"), "small files stay plain under auto: {k:?}");
            let stored: u64 = b.list_objects(&bucket, &format!("{prefix}bf16/")).iter().map(|(_, s)| s).sum();
            let original = std::fs::metadata(src.join("bf16/model.safetensors")).unwrap().len();
            assert!(stored * 10 < original * 9, "bf16 saves more than 10%: {stored} of {original}");
            let dst = dir.path().join(format!("dst-{engine}"));
            download(b, engine, &s3(&bucket, &prefix), &dst, &["--recursive"]);
            assert_trees_equal(&src, &dst);
        }
    }

    fn zstd_compresses_every_binary_file_of_a_real_checkpoint_and_both_engines_decode_it(b: &Backend) {
        let (bucket, dir, src) = setup(b, "zstd");
        upload(b, "native", &src, &s3(&bucket, "z/"), "zstd:3");
        let k = keys(b, &bucket, "z/");
        for key in ["hf/model.safetensors.zst", "hf/optimizer.pt.zst", "hf/rng_state.pth.zst", "hf/training_args.bin.zst", "noise.bin.zst", "bf16/model.safetensors.zst"] {
            assert!(k.contains(&format!("z/{key}")), "{key} in {k:?}");
        }
        assert!(k.contains(&"z/hf/trainer_state.json".to_string()) && k.contains(&"z/hf/config.json".to_string()), "text metadata stays plain: {k:?}");
        // Standard zstd after trainctl's skippable header: the zstd CLI reads it as is.
        if let Ok(out) = std::process::Command::new("zstd").args(["-dc", "-q"]).stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).spawn().and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(&b.get_object(&bucket, "z/hf/optimizer.pt.zst"))?;
            child.wait_with_output()
        }) {
            assert!(out.status.success());
            assert!(out.stdout == std::fs::read(src.join("hf/optimizer.pt")).unwrap(), "zstd -d gives the original bytes");
        }
        for engine in ENGINES {
            let dst = dir.path().join(format!("dst-{engine}"));
            download(b, engine, &s3(&bucket, "z/"), &dst, &["--recursive"]);
            assert_trees_equal(&src, &dst);
        }
        // One object to a named file: decoded in place under the name asked for.
        let one = dir.path().join("one/weights.st");
        std::fs::create_dir_all(one.parent().unwrap()).unwrap();
        download(b, "native", &s3(&bucket, "z/bf16/model.safetensors.zst"), &one, &[]);
        assert!(std::fs::read(&one).unwrap() == std::fs::read(src.join("bf16/model.safetensors")).unwrap());
        assert_eq!(local_files(&dir.path().join("one")), ["weights.st"]);
    }

    fn a_many_part_file_goes_up_compressed_on_both_engines_and_comes_back_byte_identical(b: &Backend) {
        // 24 MiB of bf16 weights in 5 MiB parts: the native engine sends the compressed stream
        // as several parts while compressing (no staging copy); s5cmd uploads a staged copy.
        let bucket = b.new_bucket("zparts");
        let dir = scratch();
        let src = dir.path().join("src");
        safetensors(&src.join("model.safetensors"), "BF16", 12 << 20, 5);
        for engine in ENGINES {
            for how in ["auto", "zstd:1"] {
                let prefix = format!("{engine}/{}/", how.replace(':', ""));
                let out = ok(b.trainctl().args(["--json", "s3", "upload", "-r"]).arg(&src).arg(s3(&bucket, &prefix)).args(["--engine", engine, "--compress", how, "--part-size", "5"]));
                let stored = b.list_objects(&bucket, &prefix);
                assert_eq!(stored.len(), 1, "{engine} {how}: {stored:?}");
                assert!(stored[0].1 > 5 << 20 && stored[0].1 < 22 << 20, "{engine} {how}: several parts, compressed: {stored:?}");
                let notices: Vec<String> = json_lines(&out).iter().filter(|v| v["event"] == "notice").filter_map(|v| v["message"].as_str().map(str::to_string)).collect();
                let pipelined = notices.iter().any(|m| m.contains("as it was uploaded"));
                assert_eq!(pipelined, engine == "native", "{engine} {how}: {notices:?}");
                let dst = dir.path().join(format!("dst-{engine}-{}", how.replace(':', "")));
                download(b, engine, &s3(&bucket, &prefix), &dst, &["--recursive"]);
                assert_trees_equal(&src, &dst);
            }
        }
        assert!(b.list_multipart_uploads(&bucket).is_empty(), "no multipart upload left open");
    }

    fn a_corrupt_compressed_object_fails_with_exit_80_and_leaves_nothing(b: &Backend) {
        let bucket = b.new_bucket("zbad");
        let dir = scratch();
        let src = dir.path().join("src");
        safetensors(&src.join("model.safetensors"), "BF16", 1 << 19, 3);
        for (how, key) in [("zstd", "model.safetensors.zst"), ("auto", "model.safetensors.tcz")] {
            let prefix = format!("{how}/");
            upload(b, "native", &src, &s3(&bucket, &prefix), how);
            let full = format!("{prefix}{key}");
            let mut bytes = b.get_object(&bucket, &full);
            let at = bytes.len() / 2;
            bytes[at] ^= 0x5a;
            b.put_object(&bucket, &full, bytes);
            let dst = dir.path().join(format!("dst-{how}"));
            for engine in ENGINES {
                let out = fails_with(b.trainctl().args(["s3", "download", &s3(&bucket, &prefix), "-r"]).arg(&dst).args(["--engine", engine]), 80);
                assert_error_shape(&out);
                assert!(stderr(&out).contains("is corrupt"), "{}", stderr(&out));
                assert_eq!(local_files(&dst), Vec::<String>::new(), "nothing left ({engine})");
            }
        }
    }

    fn stripped_metadata_still_decodes_from_the_header_and_a_foreign_zst_stays_as_is(b: &Backend) {
        let bucket = b.new_bucket("zstrip");
        let dir = scratch();
        let src = dir.path().join("src");
        safetensors(&src.join("model.safetensors"), "F32", 1 << 18, 4);
        upload(b, "native", &src, &s3(&bucket, "p/"), "zstd");
        // Another tool copies the bytes without trainctl's metadata.
        let bytes = b.get_object(&bucket, "p/model.safetensors.zst");
        b.delete_object(&bucket, "p/model.safetensors.zst");
        b.put_object(&bucket, "p/copy/model.safetensors.zst", bytes);
        let foreign = zstd::bulk::compress(b"someone else's zstd file", 3).unwrap();
        b.put_object(&bucket, "p/copy/theirs.txt.zst", foreign.clone());
        let dst = dir.path().join("dst");
        download(b, "native", &s3(&bucket, "p/copy/"), &dst, &["--recursive"]);
        assert_eq!(local_files(&dst), ["model.safetensors", "theirs.txt.zst"]);
        assert!(std::fs::read(dst.join("model.safetensors")).unwrap() == std::fs::read(src.join("model.safetensors")).unwrap());
        assert_eq!(std::fs::read(dst.join("theirs.txt.zst")).unwrap(), foreign);
    }

    fn compress_with_dry_run_shows_the_compressed_keys_and_sends_nothing(b: &Backend) {
        let (bucket, _dir, src) = setup(b, "zdry");
        let out = ok(b.trainctl().args(["s3", "upload", "-r"]).arg(&src).arg(s3(&bucket, "d/")).args(["--compress", "auto", "--dry-run"]));
        let text = stdout(&out);
        let line = |needle: &str| text.lines().find(|l| l.contains(needle)).unwrap_or_else(|| panic!("no {needle}:\n{text}")).to_string();
        assert!(line("bf16/model.safetensors.tcz").contains("zstd-byteplane-2 level 1, sample"), "{text}");
        // Planes of bf16 weights are entropy-coded only: the exponent plane smaller and faster
        // than at level 1, the mantissa plane (noise) stored as it is either way, faster.
        assert!(line("bf16/model.safetensors.tcz").contains("planes 1,2 entropy-coded"), "{text}");
        assert!(!line("noise.bin").contains(".zst") && !line("noise.bin").contains(".tcz"), "random bytes stay plain: {text}");
        let json = ok(b.trainctl().args(["--json", "s3", "upload", "-r"]).arg(&src).arg(s3(&bucket, "d/")).args(["--compress", "zstd:5", "--dry-run"]));
        let plan: Vec<serde_json::Value> = json_lines(&json).into_iter().filter(|v| v["plan"] == "upload").collect();
        let opt = plan.iter().find(|v| v["key"] == "d/hf/optimizer.pt.zst").expect("optimizer.pt planned as .zst");
        assert_eq!((opt["compress"]["codec"].as_str(), opt["compress"]["level"].as_i64()), (Some("zstd"), Some(5)));
        assert_eq!(keys(b, &bucket, ""), Vec::<String>::new(), "nothing sent");
        let bad = fails_with(b.trainctl().args(["s3", "upload", "-r"]).arg(&src).arg(s3(&bucket, "d/")).args(["--compress", "zstd:99"]), 2);
        assert!(stderr(&bad).contains("zstd:LEVEL"), "{}", stderr(&bad));
    }

    fn sync_down_decodes_and_delete_keeps_the_decoded_files(b: &Backend) {
        let (bucket, dir, src) = setup(b, "zsync");
        upload(b, "native", &src, &s3(&bucket, "s/"), "zstd");
        let dst = dir.path().join("dst");
        for pass in 0..2 {
            let out = ok(b.trainctl().args(["s3", "sync"]).arg(&dst).arg(s3(&bucket, "s/")).args(["--direction", "down", "--delete", "--yes"]));
            assert!(!stderr(&out).contains("delete"), "pass {pass} deletes nothing: {}", stderr(&out));
            assert_trees_equal(&src, &dst);
        }
    }

    fn auto_keeps_compressing_every_block_on_a_link_slower_than_the_compressor(b: &Backend) {
        // A 2 MB/s link: the compressor is far faster, so the link is the slower half and
        // every block is compressed at auto's level.
        let bucket = b.new_bucket("zslow");
        let dir = scratch();
        let src = dir.path().join("src");
        safetensors(&src.join("model.safetensors"), "BF16", 6 << 20, 8);
        let proxy = FaultProxy::start(b.socket_addr()).unwrap();
        proxy.set_bandwidth(2_000_000);
        let out = ok(b.trainctl_via(&proxy.url()).args(["--json", "s3", "upload", "-r"]).arg(&src).arg(s3(&bucket, "s/")).args(["--engine", "native", "--compress", "auto", "--part-size", "5"]));
        let report = &summary(&out)["compression"][0];
        assert_eq!(report["key"], "s/model.safetensors.tcz", "{report}");
        assert_eq!(report["pace"]["adaptive"], true, "{report}");
        assert_eq!(report["pace"]["fast_blocks"], 0, "{report}");
        assert!(report["pace"]["link_bytes_per_sec"].as_u64().is_some(), "the link was measured: {report}");
        assert!(report["pace"]["reason"].as_str().unwrap().contains("slower than the compressor"), "{report}");
        let stored = b.list_objects(&bucket, "s/");
        let original = std::fs::metadata(src.join("model.safetensors")).unwrap().len();
        assert!(stored[0].1 * 10 < original * 8, "bf16 saves more than 20%: {stored:?} of {original}");
        proxy.set_bandwidth(0);
        download(b, "native", &s3(&bucket, "s/"), &dir.path().join("dst"), &["--recursive"]);
        assert_trees_equal(&src, &dir.path().join("dst"));
    }

    fn auto_stores_blocks_fast_when_the_compressor_cannot_keep_up_and_zstd_n_stays_as_asked(b: &Backend) {
        // A compressor slowed to ≈ 10 MB/s (debug builds: `TRAINCTL_TEST_SLOW_COMPRESS_MS`)
        // against a loopback link: auto stores later blocks at the fast level, said at -v and
        // in the summary; the object is still a `.tcz` that round-trips byte-identical.
        // `zstd:1` under the same compressor keeps every block at level 1.
        let bucket = b.new_bucket("zfast");
        let dir = scratch();
        let src = dir.path().join("src");
        safetensors(&src.join("model.safetensors"), "BF16", 16 << 20, 9);
        let original = std::fs::metadata(src.join("model.safetensors")).unwrap().len();
        for how in ["auto", "zstd:1"] {
            let prefix = format!("{}/", how.replace(':', ""));
            let out = ok(b.trainctl().env("TRAINCTL_TEST_SLOW_COMPRESS_MS", "600").args(["-v", "--json", "s3", "upload", "-r"]).arg(&src).arg(s3(&bucket, &prefix)).args(["--engine", "native", "--compress", how, "--part-size", "5"]));
            let report = &summary(&out)["compression"][0];
            let fast = report["pace"]["fast_blocks"].as_u64().unwrap();
            let stored = b.list_objects(&bucket, &prefix);
            assert_eq!(stored.len(), 1, "{stored:?}");
            if how == "auto" {
                assert_eq!(report["key"], "auto/model.safetensors.tcz", "{report}");
                assert!(fast >= 1 && fast <= report["pace"]["blocks"].as_u64().unwrap(), "{report}");
                assert!(report["pace"]["reason"].as_str().unwrap().contains("slower than the link"), "{report}");
                assert!(stderr(&out).contains("stored fast"), "a -v line says why: {}", stderr(&out));
                let fast_tally = &report["pace"]["fast"];
                assert!(fast_tally["stored"].as_u64().unwrap() * 10 >= fast_tally["bytes"].as_u64().unwrap() * 9, "fast blocks are stored about raw: {report}");
                assert!(stored[0].1 < original + (1 << 20), "{stored:?} of {original}");
            } else {
                assert_eq!(report["key"], "zstd1/model.safetensors.zst", "{report}");
                assert_eq!((fast, report["pace"]["adaptive"].as_bool()), (0, Some(false)), "{report}");
            }
            let dst = dir.path().join(format!("dst-{}", how.replace(':', "")));
            download(b, "native", &s3(&bucket, &prefix), &dst, &["--recursive"]);
            assert_trees_equal(&src, &dst);
        }
        assert!(b.list_multipart_uploads(&bucket).is_empty(), "no multipart upload left open");
    }

    fn auto_sends_plain_where_compressed_uploads_measured_slower_and_zstd_still_compresses(b: &Backend) {
        // A plain upload large enough to measure the link (64 MiB) leaves a sample in the
        // cache, under a hashed endpoint name. The test then writes a compressed rate beside it
        // (lower, then higher than the plain one) instead of timing anything.
        let bucket = b.new_bucket("zfallback");
        let dir = scratch();
        let big = dir.path().join("big/blob.bin");
        random_file(&big, 64 << 20);
        ok(b.trainctl().args(["s3", "upload"]).arg(&big).arg(s3(&bucket, "big/blob.bin")).args(["--engine", "native"]));
        let cache = b.home().join(".cache/trainctl/link-rates.json");
        let text = std::fs::read_to_string(&cache).expect("the plain upload's rate is remembered");
        assert!(!text.contains(&b.endpoint_url()) && !text.contains("127.0.0.1"), "no endpoint in the clear: {text}");
        let mut rates: serde_json::Value = serde_json::from_str(&text).unwrap();
        let endpoints = rates["endpoints"].as_object().unwrap().clone();
        assert_eq!(endpoints.len(), 1, "{text}");
        let (id, record) = endpoints.iter().next().unwrap();
        let plain = record["plain"]["bytes_per_sec"].as_f64().unwrap();
        assert_eq!(record["plain"]["samples"], 1, "{text}");
        let set_compressed = |rates: &mut serde_json::Value, rate: f64| {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
            rates["endpoints"][id]["compressed"] = serde_json::json!({ "bytes_per_sec": rate, "samples": 1, "at": now });
            std::fs::write(&cache, serde_json::to_vec(rates).unwrap()).unwrap();
        };

        // Compressed uploads slower than plain ones here: auto plans the bf16 file plain and says why.
        set_compressed(&mut rates, plain / 2.0);
        let src = dir.path().join("src");
        safetensors(&src.join("model.safetensors"), "BF16", 1 << 20, 11);
        let dry = ok(b.trainctl().args(["s3", "upload", "-r"]).arg(&src).arg(s3(&bucket, "a/")).args(["--compress", "auto", "--dry-run"]));
        let line = stdout(&dry).lines().find(|l| l.contains("model.safetensors")).unwrap().to_string();
        assert!(line.contains("a/model.safetensors (") && line.contains("plain: plain is faster here: compressed uploads to this endpoint delivered"), "{line}");
        assert!(line.contains("its sample would save"), "{line}");
        let json = ok(b.trainctl().args(["--json", "s3", "upload", "-r"]).arg(&src).arg(s3(&bucket, "a/")).args(["--compress", "auto", "--dry-run"]));
        let plan = json_lines(&json).into_iter().find(|v| v["plan"] == "upload").unwrap();
        assert_eq!((plan["key"].as_str(), plan["compress"].is_null()), (Some("a/model.safetensors"), true), "{plan}");
        assert!(plan["plain_because"].as_str().unwrap().contains("of original bytes"), "{plan}");
        assert_eq!(keys(b, &bucket, "a/"), Vec::<String>::new(), "a dry run sends nothing");

        let out = ok(b.trainctl().args(["--json", "s3", "upload", "-r"]).arg(&src).arg(s3(&bucket, "a/")).args(["--engine", "native", "--compress", "auto"]));
        assert!(summary(&out)["compression"].as_array().is_none_or(|a| a.is_empty()), "nothing compressed: {}", stdout(&out));
        assert_eq!(keys(b, &bucket, "a/"), ["a/model.safetensors"]);
        // `zstd:N` always compresses.
        ok(b.trainctl().args(["s3", "upload", "-r"]).arg(&src).arg(s3(&bucket, "z/")).args(["--engine", "native", "--compress", "zstd:1"]));
        assert_eq!(keys(b, &bucket, "z/"), ["z/model.safetensors.zst"]);
        let dst = dir.path().join("dst");
        download(b, "native", &s3(&bucket, "a/"), &dst, &["--recursive"]);
        assert_trees_equal(&src, &dst);

        // Compressed uploads faster than plain ones: auto compresses again.
        set_compressed(&mut rates, plain * 2.0);
        ok(b.trainctl().args(["s3", "upload", "-r"]).arg(&src).arg(s3(&bucket, "c/")).args(["--engine", "native", "--compress", "auto"]));
        assert_eq!(keys(b, &bucket, "c/"), ["c/model.safetensors.tcz"]);
        let dst = dir.path().join("dst-c");
        download(b, "native", &s3(&bucket, "c/"), &dst, &["--recursive"]);
        assert_trees_equal(&src, &dst);

        // A damaged cache is an empty memory: auto compresses, the upload does not fail.
        std::fs::write(&cache, "{ damaged").unwrap();
        ok(b.trainctl().args(["s3", "upload", "-r"]).arg(&src).arg(s3(&bucket, "d/")).args(["--engine", "native", "--compress", "auto"]));
        assert_eq!(keys(b, &bucket, "d/"), ["d/model.safetensors.tcz"]);
    }
}
