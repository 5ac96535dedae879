//! Review benchmark: `trainctl s3 review` and `trainctl dataset verify --level checksum` (issue
//! 13: the listing only, zero HEAD) vs `s5cmd du` vs `aws s3 ls --recursive --summarize` on Garage, over 10k and 100k objects, direct and through a 20 ms RTT proxy. Prints wall time,
//! the wall ratio against s5cmd and the peak RSS of each tool's main process (VmHWM).
//!
//! Why 10k *and* 100k: the review aggregates in constant memory, so its peak RSS must stay flat
//! while the object count grows tenfold. The 100k objects are created once per run (tiny objects
//! in a local tree, uploaded by s5cmd with many workers); the 10k set is one run prefix of them.
//!
//! Usage: `review_bench [--trainctl PATH] [--out FILE] [--repeat N]` (release builds;
//! benches/review.sh). trainctl and s5cmd run N times (default 3), alternating; the median counts.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;
use trainctl_bench::ProxyProcess;
use trainctl_testkit::start_garage;

const RUNS: usize = 10;
const CHECKPOINTS: usize = 100;
const SHARDS: usize = 100;

struct Sample {
    wall: f64,
    rss_mb: f64,
    ok: bool,
    out: String,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let opt = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let exe_dir = std::env::current_exe().unwrap().parent().unwrap().to_path_buf();
    let trainctl = opt("--trainctl").map(PathBuf::from).unwrap_or_else(|| exe_dir.join("trainctl"));
    let s5cmd = trainctl_testkit::tools::find_s5cmd().expect("s5cmd not found (make setup)");
    let repeat: usize = opt("--repeat").and_then(|r| r.parse().ok()).unwrap_or(3).max(1);
    TRAINCTL.set(trainctl.clone()).unwrap();
    S5CMD.set(s5cmd.clone()).unwrap();
    let server = start_garage().expect("garage");
    let bucket = server.new_bucket("review-bench");
    let work = tempfile::Builder::new().prefix("trainctl-review-bench").tempdir().unwrap();
    let aws_config = work.path().join("aws-config");
    std::fs::write(&aws_config, format!("[default]\nregion = {}\ns3 =\n  addressing_style = path\n", server.region())).unwrap();
    let env = |c: &mut Command| {
        for (k, v) in server.env() {
            if k != "AWS_ENDPOINT_URL" {
                c.env(k, v);
            }
        }
        c.env("AWS_CONFIG_FILE", &aws_config).env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null").env("TRAINCTL_REVIEW_DIR", work.path().join("snapshots")).env("TRAINCTL_DATASET_CACHE", work.path().join("datasets"));
    };

    // Create the objects once: a local tree of tiny files, uploaded by s5cmd with 256 workers.
    let tree = work.path().join("tree");
    let started = Instant::now();
    for r in 0..RUNS {
        for c in 0..CHECKPOINTS {
            let dir = tree.join(format!("runs/exp{r}/checkpoint-{}", (c + 1) * 100));
            std::fs::create_dir_all(&dir).unwrap();
            for s in 0..SHARDS {
                std::fs::write(dir.join(format!("shard-{s:03}.bin")), format!("{r}-{c}-{s}").repeat(1 + s % 7)).unwrap();
            }
        }
    }
    let mut up = Command::new(&s5cmd);
    env(&mut up);
    up.args(["--endpoint-url", &server.endpoint_url(), "--numworkers", "256", "cp", &format!("{}/*", tree.display()), &format!("s3://{bucket}/")]);
    up.stdout(Stdio::null());
    assert!(up.status().unwrap().success(), "s5cmd upload failed");
    let total = RUNS * CHECKPOINTS * SHARDS;
    eprintln!("created {total} objects in {:.1}s", started.elapsed().as_secs_f64());

    let proxy = ProxyProcess::start(&exe_dir.join("trainctl-proxy"), server.socket_addr(), 20);
    let mut report = String::from("| objects | network | tool | wall s | vs s5cmd | peak RSS MB | objects seen |\n|---:|---|---|---:|---:|---:|---:|\n");
    for (net, endpoint) in [("direct", server.endpoint_url()), ("20ms RTT", proxy.url.clone())] {
        for (n, prefix) in [(total / RUNS, "runs/exp0/"), (total, "")] {
            let url = format!("s3://{bucket}/{prefix}");
            // The dataset version verified below: snapshotted once, outside the timings.
            if net == "direct" {
                let mut snap = Command::new(&trainctl);
                env(&mut snap);
                snap.args(["--endpoint-url", &server.endpoint_url(), "-q", "dataset", "snapshot", &url, "--name", &format!("bench{n}"), "--version", "v1"]);
                assert!(snap.status().unwrap().success(), "dataset snapshot failed");
            }
            DATASET.with(|d| *d.borrow_mut() = (format!("bench{n}@v1"), format!("s3://{bucket}")));
            // trainctl and s5cmd alternate `repeat` times (the median counts: the machine is
            // shared and its load drifts); aws, 4-5x slower, runs once.
            let mut samples: Vec<(&str, Vec<Sample>, Option<u64>)> = Vec::new();
            for round in 0..repeat {
                for tool in ["trainctl s3 review", "trainctl dataset verify", "s5cmd du", "aws s3 ls --summarize"] {
                    if tool.starts_with("aws") && round > 0 {
                        continue;
                    }
                    let mut c = command(tool, &endpoint, &url);
                    env(&mut c);
                    let s = measure(&mut c);
                    let seen = objects_seen(tool, &s.out);
                    eprintln!("{n} {net} {tool}: {:.2}s {:.1} MB ok={} seen={seen:?}", s.wall, s.rss_mb, s.ok);
                    match samples.iter_mut().find(|r| r.0 == tool) {
                        Some(r) => r.1.push(s),
                        None => samples.push((tool, vec![s], seen)),
                    }
                }
            }
            let rows: Vec<(&str, Sample, Option<u64>)> = samples.into_iter().map(|(t, v, seen)| (t, median(v), seen)).collect();
            let s5 = rows.iter().find(|r| r.0 == "s5cmd du").map(|r| r.1.wall).unwrap_or(f64::NAN);
            for (tool, s, seen) in rows {
                let seen = seen.map(|v| v.to_string()).unwrap_or_else(|| "?".into());
                let ok = if s.ok { "" } else { " (failed)" };
                report.push_str(&format!("| {n} | {net} | {tool}{ok} | {:.2} | {:.2} | {:.1} | {seen} |\n", s.wall, s.wall / s5, s.rss_mb));
            }
        }
    }
    println!("{report}");
    if let Some(out) = opt("--out") {
        std::fs::write(&out, &report).unwrap();
        eprintln!("wrote {out}");
    }
}

/// The command line of one tool reviewing `url` at `endpoint`.
fn command(tool: &str, endpoint: &str, url: &str) -> Command {
    match tool {
        "trainctl s3 review" => {
            let mut c = Command::new(TRAINCTL.get().unwrap());
            c.args(["--endpoint-url", endpoint, "--json", "s3", "review", url, "--no-snapshot"]);
            c
        }
        "trainctl dataset verify" => {
            let (version, store) = DATASET.with(|d| d.borrow().clone());
            let mut c = Command::new(TRAINCTL.get().unwrap());
            c.args(["--endpoint-url", endpoint, "--json", "dataset", "verify", &version, url, "--level", "checksum", "--store", &store]);
            c
        }
        "s5cmd du" => {
            let mut c = Command::new(S5CMD.get().unwrap());
            c.args(["--endpoint-url", endpoint, "du", &format!("{url}*")]);
            c
        }
        _ => {
            let mut c = Command::new("aws");
            c.args(["s3", "ls", "--recursive", "--summarize", "--endpoint-url", endpoint, url]);
            c
        }
    }
}

static TRAINCTL: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
thread_local! {
    /// The dataset version (and its store) `trainctl dataset verify` checks in this round.
    static DATASET: std::cell::RefCell<(String, String)> = const { std::cell::RefCell::new((String::new(), String::new())) };
}
static S5CMD: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

/// The sample with the median wall time (peak RSS: the largest seen, the number that matters).
fn median(mut v: Vec<Sample>) -> Sample {
    let rss = v.iter().map(|s| s.rss_mb).fold(0.0, f64::max);
    let ok = v.iter().all(|s| s.ok);
    v.sort_by(|a, b| a.wall.total_cmp(&b.wall));
    let mid = v.len() / 2;
    let m = v.swap_remove(mid);
    Sample { rss_mb: rss, ok, ..m }
}

/// The object count each tool printed, to check they all saw the same listing.
fn objects_seen(tool: &str, out: &str) -> Option<u64> {
    match tool {
        "trainctl s3 review" => serde_json::from_str::<serde_json::Value>(out).ok()?["totals"]["objects"].as_u64(),
        "trainctl dataset verify" => serde_json::from_str::<serde_json::Value>(out.lines().last()?).ok()?["report"]["ok"].as_u64(),
        // s5cmd du: "<bytes> bytes in <n> objects: s3://…"
        "s5cmd du" => out.split_whitespace().skip_while(|w| *w != "in").nth(1)?.parse().ok(),
        // aws: "Total Objects: <n>"
        _ => out.lines().find_map(|l| l.trim().strip_prefix("Total Objects:"))?.trim().parse().ok(),
    }
}

/// Runs a command; wall time and the peak RSS (VmHWM, sampled) of its main process.
fn measure(cmd: &mut Command) -> Sample {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = cmd.spawn().expect("spawn");
    let pid = child.id();
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut s);
        s
    });
    let mut stderr = child.stderr.take().unwrap();
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut s);
        s
    });
    let mut peak_kb = 0u64;
    loop {
        if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
            if let Some(kb) = status.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok()) {
                peak_kb = peak_kb.max(kb);
            }
        }
        if let Some(st) = child.try_wait().unwrap() {
            let wall = start.elapsed().as_secs_f64();
            let out = reader.join().unwrap();
            let err = err_reader.join().unwrap();
            if !st.success() {
                eprintln!("failed: {cmd:?}\n{err}");
            }
            return Sample { wall, rss_mb: peak_kb as f64 / 1024.0, ok: st.success(), out };
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

