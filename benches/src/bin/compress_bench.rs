//! Compression benchmark (issue 14, `--compress`): ratio and throughput of trainctl's codecs
//! (plain zstd, byte-plane + zstd) side by side with the `zstd` CLI at `-1`/`-3` on the same
//! files: bf16 and fp32 safetensors of normal-distributed weights (σ ≈ 0.02, like trained
//! layers; 64 MiB each) and the real files of the framework fixtures
//! (`tests/fixtures/frameworks/runs/hf-trainer/checkpoint-10`: fp32 safetensors, torch zips).
//!
//! Usage: `compress_bench [--mib N] [--fixtures DIR] [--levels 1,3]` (release build:
//! benches/compress.sh).
//! Prints one markdown table row per file × method; ratio = original / compressed.
//!
//! `compress_bench --upload [--mib N] [--links L] [--modes M] [--repeat R] [--trainctl PATH]
//! [--baseline PATH]`: `trainctl s3 upload` of the bf16 and the fp32 file to Garage, per link of
//! `--links` (comma-separated: `direct`, `RTT` in ms through the testkit proxy, `RTTxMBPS` with
//! the link capped at MBPS MB/s; default `20`) and per mode of `--modes` (`plain`, or a
//! `--compress` value; default `plain,auto`), alternating builds and modes, median of R
//! (default 3). With `--baseline` (another build's `trainctl`, e.g. main before a change) every
//! run is made with both, side by side. Prints the wall times and each mode's ratio to the
//! plain upload of the same build (below 1 is faster). Each build keeps one cache folder for the
//! whole bench, so `auto` remembers what plain and compressed uploads delivered per endpoint
//! (each link is its own proxy, so its own endpoint); `--forgetful` adds this build once more
//! with an empty cache for every upload. The last column lists every run (`p`: stored plain).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;
use trainctl_core::codec::{decode, encode, Codec};

fn weights(n: usize, bf16: bool, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 24) as f32
    };
    let mut out = Vec::with_capacity(n * 4);
    for _ in 0..n {
        let g: f32 = (0..4).map(|_| next() - 0.5).sum::<f32>() * 0.035;
        if bf16 {
            out.extend_from_slice(&((g.to_bits() + 0x8000) >> 16).to_le_bytes()[..2]);
        } else {
            out.extend_from_slice(&g.to_le_bytes());
        }
    }
    out
}

fn safetensors(path: &Path, bf16: bool, bytes: usize) {
    let n = bytes / if bf16 { 2 } else { 4 };
    let data = weights(n, bf16, if bf16 { 1 } else { 2 });
    let dtype = if bf16 { "BF16" } else { "F32" };
    let mut header = format!(r#"{{"w":{{"dtype":"{dtype}","shape":[{n}],"data_offsets":[0,{}]}}}}"#, data.len());
    while header.len() % 8 != 0 {
        header.push(' ');
    }
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(&data);
    std::fs::write(path, out).unwrap();
}

/// The build label of `--forgetful` runs.
const FORGETFUL: &str = "no memory";

struct Row {
    file: String,
    method: String,
    original: u64,
    compressed: u64,
    compress_s: f64,
    decode_s: Option<f64>,
}

fn mbps(bytes: u64, s: f64) -> String {
    format!("{:.0}", bytes as f64 / s.max(1e-9) / 1e6)
}

/// trainctl's codec: best of 3 timings.
fn trainctl(file: &Path, codec: Codec, level: i32, work: &Path) -> Row {
    trainctl_effort(file, codec, level.into(), format!("trainctl {} -{level}", codec.name()), work)
}

/// trainctl's codec as `--compress auto` runs it on `file` (the probe's codec and its
/// entropy-coded planes), if the probe compresses it.
fn trainctl_auto(file: &Path, work: &Path) -> Option<Row> {
    let size = std::fs::metadata(file).ok()?.len();
    let p = trainctl_core::codec::probe::probe(file, size, trainctl_core::codec::AUTO_LEVEL).ok()?;
    let codec = p.codec?;
    let effort = p.effort(trainctl_core::codec::AUTO_LEVEL);
    Some(trainctl_effort(file, codec, effort, format!("trainctl auto: {} -1, entropy-coded planes {:#06b}", codec.name(), effort.entropy_planes), work))
}

fn trainctl_effort(file: &Path, codec: Codec, effort: trainctl_core::codec::Effort, method: String, work: &Path) -> Row {
    let out_path = work.join("out.bin");
    let (mut best_c, mut best_d, mut size) = (f64::MAX, f64::MAX, 0);
    let original = std::fs::metadata(file).unwrap().len();
    for _ in 0..3 {
        let mut out = std::fs::File::create(&out_path).unwrap();
        let t = Instant::now();
        let e = encode::encode_file(file, &mut out, codec, effort).unwrap();
        best_c = best_c.min(t.elapsed().as_secs_f64());
        size = e.compressed_size;
        let t = Instant::now();
        let mut src = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(&out_path).unwrap());
        let d = decode::decode(&mut src, &mut std::io::sink()).unwrap();
        assert!(matches!(d, decode::Decoded::Verified(_)));
        best_d = best_d.min(t.elapsed().as_secs_f64());
    }
    Row { file: name(file), method, original, compressed: size, compress_s: best_c, decode_s: Some(best_d) }
}

/// The zstd CLI: best of 3.
fn cli(file: &Path, args: &[&str], work: &Path) -> Option<Row> {
    let out_path = work.join("cli.zst");
    let original = std::fs::metadata(file).unwrap().len();
    let (mut best_c, mut best_d) = (f64::MAX, f64::MAX);
    for _ in 0..3 {
        let t = Instant::now();
        let ok = Command::new("zstd").args(args).args(["-q", "-f", "-o"]).arg(&out_path).arg(file).status().ok()?.success();
        best_c = best_c.min(t.elapsed().as_secs_f64());
        assert!(ok);
        let t = Instant::now();
        assert!(Command::new("zstd").args(["-d", "-q", "-c"]).arg(&out_path).stdout(std::process::Stdio::null()).status().ok()?.success());
        best_d = best_d.min(t.elapsed().as_secs_f64());
    }
    let compressed = std::fs::metadata(&out_path).ok()?.len();
    Some(Row { file: name(file), method: format!("zstd CLI {}", args.join(" ")), original, compressed, compress_s: best_c, decode_s: Some(best_d) })
}

fn name(p: &Path) -> String {
    let parent = p.parent().and_then(|d| d.file_name()).map(|d| d.to_string_lossy().into_owned()).unwrap_or_default();
    format!("{parent}/{}", p.file_name().unwrap().to_string_lossy())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let opt = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let mib: usize = opt("--mib").and_then(|m| m.parse().ok()).unwrap_or(64);
    if args.iter().any(|a| a == "--upload") {
        let links = opt("--links").or_else(|| opt("--rtt")).unwrap_or_else(|| "20".into());
        let modes = opt("--modes").unwrap_or_else(|| "plain,auto".into());
        let repeat = opt("--repeat").and_then(|m| m.parse().ok()).unwrap_or(3);
        let exe = std::env::current_exe().unwrap();
        let trainctl = opt("--trainctl").map(PathBuf::from).unwrap_or_else(|| exe.with_file_name("trainctl"));
        let mut builds = vec![("this build".to_string(), trainctl)];
        if let Some(base) = opt("--baseline") {
            builds.insert(0, ("baseline".to_string(), PathBuf::from(base)));
        }
        // `--forgetful`: this build once more, with an empty cache for every upload (no
        // remembered link rates: `auto` decides as before `compress::rates`).
        if args.iter().any(|a| a == "--forgetful") {
            let this = builds.last().unwrap().1.clone();
            builds.insert(builds.len() - 1, (FORGETFUL.to_string(), this));
        }
        let links: Vec<&str> = links.split(',').collect();
        let modes: Vec<&str> = modes.split(',').collect();
        return upload_bench(&builds, mib, &links, &modes, repeat);
    }
    let levels: Vec<i32> = opt("--levels").map_or(vec![1, 3], |l| l.split(',').map(|v| v.parse().expect("--levels N,M")).collect());
    let fixtures = opt("--fixtures").map(PathBuf::from).unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/frameworks/runs/hf-trainer/checkpoint-10"));
    let work = tempfile::Builder::new().prefix("trainctl-compress-bench").tempdir().unwrap();
    let gen = work.path().join("gen");
    std::fs::create_dir_all(&gen).unwrap();
    let bf16 = gen.join("bf16.safetensors");
    let fp32 = gen.join("fp32.safetensors");
    safetensors(&bf16, true, mib << 20);
    safetensors(&fp32, false, mib << 20);
    let mut files = vec![(bf16, 2u8), (fp32, 4u8)];
    for f in ["model.safetensors", "optimizer.pt", "rng_state.pth"] {
        files.push((fixtures.join(f), 4));
    }
    println!("| file | method | ratio | compress MB/s | decode MB/s |");
    println!("|---|---|---|---|---|");
    for (file, width) in &files {
        let mut rows: Vec<Row> = trainctl_auto(file, work.path()).into_iter().collect();
        for &level in &levels {
            rows.push(trainctl(file, Codec::Zstd, level, work.path()));
            rows.push(trainctl(file, Codec::BytePlane { width: *width }, level, work.path()));
        }
        for a in [&["-1", "-T1"][..], &["-3", "-T1"], &["-3", "-T0"]] {
            rows.extend(cli(file, a, work.path()));
        }
        for r in rows {
            let decode = r.decode_s.map(|d| mbps(r.original, d)).unwrap_or_default();
            println!("| {} ({}) | {} | {:.3} | {} | {} |", r.file, human(r.original), r.method, r.original as f64 / r.compressed as f64, mbps(r.original, r.compress_s), decode);
        }
    }
}

fn human(b: u64) -> String {
    if b >= 1 << 20 { format!("{} MiB", b >> 20) } else { format!("{:.1} KiB", b as f64 / 1024.0) }
}

/// Wall time of `trainctl s3 upload` per build × link × mode, alternating, median of `repeat`.
fn upload_bench(builds: &[(String, PathBuf)], mib: usize, links: &[&str], modes: &[&str], repeat: usize) {
    let server = trainctl_testkit::start_garage().expect("garage");
    let bucket = server.new_bucket("compress-bench");
    let proxy_bin = std::env::current_exe().unwrap().with_file_name("trainctl-proxy");
    let work = tempfile::Builder::new().prefix("trainctl-compress-upload").tempdir().unwrap();
    let files: Vec<(PathBuf, &str)> = [(true, "bf16"), (false, "fp32")]
        .into_iter()
        .map(|(bf16, label)| {
            let file = work.path().join(format!("{label}.safetensors"));
            safetensors(&file, bf16, mib << 20);
            (file, label)
        })
        .collect();
    println!("| file | link | mode | build | upload s (median of {repeat}) | MB/s | ratio to plain, same build | stored | fast blocks (median) | each run, s (p: sent plain) |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for link in links {
        // `direct`, `RTT` or `RTTxMBPS`.
        let (rtt, mbps): (u64, u64) = match link.split_once('x') {
            _ if *link == "direct" => (0, 0),
            Some((r, m)) => (r.parse().expect("--links RTTxMBPS"), m.parse().expect("--links RTTxMBPS")),
            None => (link.parse().expect("--links RTT"), 0),
        };
        let proxy = (*link != "direct").then(|| trainctl_bench::ProxyProcess::start_limited(&proxy_bin, server.socket_addr(), rtt, mbps));
        let endpoint = proxy.as_ref().map_or_else(|| server.endpoint_url(), |p| p.url.clone());
        let shown = match (*link, mbps) {
            ("direct", _) => "direct".to_string(),
            (_, 0) => format!("{rtt} ms"),
            _ => format!("{rtt} ms, {mbps} MB/s"),
        };
        for (file, label) in &files {
            let mut times = vec![vec![Vec::new(); modes.len()]; builds.len()];
            let mut stored = vec![vec![Vec::new(); modes.len()]; builds.len()];
            // Share of blocks `auto` stored at the fast level (builds that report it).
            let mut fast = vec![vec![Vec::new(); modes.len()]; builds.len()];
            let load_before = loadavg();
            for run in 0..repeat {
                for (b, (build, exe)) in builds.iter().enumerate() {
                    for (m, mode) in modes.iter().enumerate() {
                        let prefix = format!("{label}/{}/{run}/{b}/{m}/", link.replace(':', "_"));
                        let mut c = Command::new(exe);
                        // Each build remembers its own link rates (`compress::rates`), across
                        // runs, files and modes of one link; `--forgetful` remembers nothing.
                        let cache = work.path().join(format!("cache-{b}"));
                        if build == FORGETFUL {
                            let _ = std::fs::remove_dir_all(&cache);
                        }
                        c.envs(server.env_with_endpoint(&endpoint)).env("XDG_CACHE_HOME", cache);
                        c.args(["--json", "s3", "upload"]).arg(file).arg(format!("s3://{bucket}/{prefix}"));
                        if *mode != "plain" {
                            c.args(["--compress", mode]);
                        }
                        c.stderr(std::process::Stdio::null());
                        let t = Instant::now();
                        let out = c.output().expect("trainctl");
                        times[b][m].push(t.elapsed().as_secs_f64());
                        assert!(out.status.success(), "upload failed");
                        stored[b][m].push(server.list_objects(&bucket, &prefix).iter().map(|(_, s)| s).sum::<u64>() as f64);
                        if let Some(share) = fast_share(&out.stdout) {
                            fast[b][m].push(share);
                        }
                    }
                }
            }
            let med = |v: &[f64]| {
                let mut v = v.to_vec();
                v.sort_by(f64::total_cmp);
                v[v.len() / 2]
            };
            let load_after = loadavg();
            for (m, mode) in modes.iter().enumerate() {
                for (b, (name, _)) in builds.iter().enumerate() {
                    let t = med(&times[b][m]);
                    let ratio = t / med(&times[b][0]);
                    let mbs = (mib << 20) as f64 / t / 1e6;
                    let saved = (mib << 20) as f64 / med(&stored[b][m]).max(1.0);
                    let fast = if fast[b][m].is_empty() { "-".to_string() } else { format!("{:.0}%", med(&fast[b][m]) * 100.0) };
                    let runs: Vec<String> = times[b][m].iter().zip(&stored[b][m]).map(|(t, s)| format!("{t:.2}{}", if *mode != "plain" && *s >= (mib << 20) as f64 { "p" } else { "" })).collect();
                    println!("| {label} ({mib} MiB) | {shown} | {mode} | {name} | {t:.2} | {mbs:.0} | {ratio:.2} | {saved:.2}x smaller | {fast} | {} |", runs.join(", "));
                }
            }
            println!("<!-- {label}, {shown}: load average {load_before} before, {load_after} after -->");
        }
    }
}

/// The 1-minute load average, as `/proc/loadavg` shows it.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg").ok().and_then(|l| l.split_whitespace().next().map(str::to_string)).unwrap_or_else(|| "?".into())
}

/// From a `--json` upload's summary: the share of blocks stored at the fast level (summed over
/// its compressed files), when the build reports it.
fn fast_share(stdout: &[u8]) -> Option<f64> {
    let summary = String::from_utf8_lossy(stdout).lines().filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()).find(|v| v["event"] == "summary")?;
    let files = summary["compression"].as_array()?;
    let (fast, all) = files.iter().fold((0, 0), |(f, a), r| (f + r["pace"]["fast_blocks"].as_u64().unwrap_or(0), a + r["pace"]["blocks"].as_u64().unwrap_or(0)));
    (all > 0).then(|| fast as f64 / all as f64)
}
