//! Dedup-on-upload benchmark (issue 14, `--dedup`): `trainctl s3 upload -r` of a run whose
//! checkpoints share a fraction of their bytes (an identical tokenizer and frozen component in
//! each, the rest distinct random weights), with `--dedup` and without, to Garage — direct, and
//! through the testkit proxy (`trainctl-proxy`, its own process) at `--rtt` ms, unlimited and
//! limited to `--mbps` MB/s. Each upload goes
//! to a fresh prefix; plain and dedup alternate; median of R. Bytes sent are the summary's
//! `bytes` (what the engine sent; the wire count with HTTP overhead is pinned by
//! `tests/cli/upload_dedup.rs` through the fault proxy).
//!
//! Usage: `dedup_bench [--ckpts N] [--mib M] [--shared F] [--rtt MS] [--repeat R] [--trainctl PATH]
//! [--proxy PATH] [--mbps N]` (defaults 4 checkpoints × 64 MiB, 0.3 shared, 20 ms, 3, and a third
//! link of 20 ms limited to 50 MB/s each way, a cloud VM's share of egress; binaries next to this
//! one; release build: benches/dedup.sh). Prints a markdown table: wall time, bytes sent and
//! their ratios (dedup / plain: below 1 is better).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

struct Sample {
    seconds: f64,
    sent: u64,
    copied: u64,
}

fn upload(trainctl: &Path, env: &[(String, String)], cache: &Path, run: &Path, url: &str, dedup: bool) -> Sample {
    let mut c = Command::new(trainctl);
    c.envs(env.iter().cloned()).env("XDG_CACHE_HOME", cache);
    c.args(["--json", "s3", "upload", "-r"]).arg(run).arg(url);
    if dedup {
        c.arg("--dedup");
    }
    let t = Instant::now();
    let out = c.output().expect("trainctl");
    let seconds = t.elapsed().as_secs_f64();
    assert!(out.status.success(), "upload failed: {}", String::from_utf8_lossy(&out.stderr));
    let summary = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["event"] == "summary")
        .expect("summary line");
    Sample { seconds, sent: summary["bytes"].as_u64().unwrap_or(0), copied: summary["copied"].as_u64().unwrap_or(0) }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let opt = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let ckpts: usize = opt("--ckpts").and_then(|v| v.parse().ok()).unwrap_or(4);
    let mib: usize = opt("--mib").and_then(|v| v.parse().ok()).unwrap_or(64);
    let shared: f64 = opt("--shared").and_then(|v| v.parse().ok()).unwrap_or(0.3);
    let rtt: u64 = opt("--rtt").and_then(|v| v.parse().ok()).unwrap_or(20);
    let repeat: usize = opt("--repeat").and_then(|v| v.parse().ok()).unwrap_or(3);
    let exe = std::env::current_exe().unwrap();
    let trainctl = opt("--trainctl").map(PathBuf::from).unwrap_or_else(|| exe.with_file_name("trainctl"));

    let server = trainctl_testkit::start_garage().expect("garage");
    let bucket = server.new_bucket("dedup-bench");
    let work = tempfile::Builder::new().prefix("trainctl-dedup-bench").tempdir().unwrap();
    let run = work.path().join("run");
    let total = trainctl_bench::make_shared_run(&run, ckpts, mib, shared);
    let cache = work.path().join("cache");
    let proxy_bin = opt("--proxy").map(PathBuf::from).unwrap_or_else(|| exe.with_file_name("trainctl-proxy"));
    let mbps: u64 = opt("--mbps").and_then(|v| v.parse().ok()).unwrap_or(50);
    let proxy = trainctl_bench::ProxyProcess::start(&proxy_bin, server.socket_addr(), rtt);
    let slow = trainctl_bench::ProxyProcess::start_limited(&proxy_bin, server.socket_addr(), rtt, mbps);
    println!("run: {ckpts} checkpoints × {mib} MiB, {:.0}% of each checkpoint's bytes shared; {} MiB in all", shared * 100.0, total >> 20);
    println!();
    println!("| link | plain s | --dedup s | time ratio (dedup / plain) | plain MiB sent | --dedup MiB sent | bytes ratio | copied |");
    println!("|---|---|---|---|---|---|---|---|");
    let links = [
        ("direct".to_string(), server.endpoint_url()),
        (format!("{rtt} ms RTT proxy"), proxy.url.clone()),
        (format!("{rtt} ms RTT, {mbps} MB/s proxy"), slow.url.clone()),
    ];
    for (i, (label, endpoint)) in links.iter().enumerate() {
        let env = server.env_with_endpoint(endpoint);
        let (mut plain, mut dedup) = (Vec::new(), Vec::new());
        for r in 0..repeat {
            for d in [false, true] {
                let s = upload(&trainctl, &env, &cache, &run, &format!("s3://{bucket}/link{i}/{r}/{d}/"), d);
                if d { dedup.push(s) } else { plain.push(s) }
            }
        }
        let (pt, dt) = (median(plain.iter().map(|s| s.seconds).collect()), median(dedup.iter().map(|s| s.seconds).collect()));
        let (ps, ds) = (median(plain.iter().map(|s| s.sent as f64).collect()), median(dedup.iter().map(|s| s.sent as f64).collect()));
        let mib_of = |b: f64| b / (1u64 << 20) as f64;
        eprintln!("{label}: plain {:?} dedup {:?}", plain.iter().map(|s| s.seconds).collect::<Vec<_>>(), dedup.iter().map(|s| s.seconds).collect::<Vec<_>>());
        println!(
            "| {label} | {pt:.2} | {dt:.2} | {:.2} | {:.1} | {:.1} | {:.2} | {} |",
            dt / pt,
            mib_of(ps),
            mib_of(ds),
            ds / ps,
            dedup[0].copied
        );
    }
}
