//! `trainctl-bench`: transfers side by side, in one run, on one machine, so the figures are
//! ratios rather than absolute times (these machines are noisy).
//!
//! Tools: `trainctl` (s5cmd engine), `trainctl --engine native`, raw `s5cmd` with the same worker
//! settings, and `aws s3 cp --recursive`. Workloads: 1000 × 1 MiB, 20 × 100 MiB, 1 × 2 GiB; upload
//! and download; against Garage directly and through the testkit proxy at 20 ms RTT.
//! For each run: wall time, client CPU (user+sys of the process tree, from wait4), peak RSS of
//! the tree and — for trainctl — of the trainctl process itself (it reports its own
//! `getrusage(RUSAGE_SELF)` when `TRAINCTL_REPORT_RUSAGE=1`).
//!
//! Usage: `trainctl-bench [--quick] [--only small,medium,large] [--skip-latency] [--repeat N]
//!         [--trainctl PATH] [--out FILE]`

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;
use trainctl_bench::ProxyProcess;
use trainctl_testkit::{start_garage, S3Server};

/// One workload: how many files of what size.
#[derive(Clone, Copy)]
struct Workload {
    name: &'static str,
    files: usize,
    size: u64,
}

/// What one run of one tool cost.
#[derive(Clone, Debug)]
struct Sample {
    wall: f64,
    cpu: f64,
    tree_rss_mb: f64,
    self_rss_mb: Option<f64>,
    ok: bool,
}

#[derive(Clone, Copy, PartialEq)]
enum Tool {
    TrainctlS5cmd,
    TrainctlNative,
    /// Downloads only: the s5cmd engine checking sizes but not MD5s, to show what verification costs.
    TrainctlSizeOnly,
    S5cmd,
    Aws,
}

impl Tool {
    fn label(self) -> &'static str {
        match self {
            Tool::TrainctlS5cmd => "trainctl (s5cmd)",
            Tool::TrainctlNative => "trainctl --engine native",
            Tool::TrainctlSizeOnly => "trainctl (s5cmd) --size-only",
            Tool::S5cmd => "s5cmd",
            Tool::Aws => "aws s3 cp",
        }
    }
    fn slug(self) -> &'static str {
        match self {
            Tool::TrainctlS5cmd => "tc-s5",
            Tool::TrainctlNative => "tc-native",
            Tool::TrainctlSizeOnly => "tc-sizeonly",
            Tool::S5cmd => "s5cmd",
            Tool::Aws => "aws",
        }
    }
}

const TOOLS: [Tool; 5] = [Tool::TrainctlS5cmd, Tool::TrainctlSizeOnly, Tool::TrainctlNative, Tool::S5cmd, Tool::Aws];
/// Equal worker settings for every tool: objects in flight and parts per object.
const WORKERS: usize = 16;
const PART_MIB: u64 = 32;

struct Setup {
    server: S3Server,
    trainctl: PathBuf,
    s5cmd: PathBuf,
    aws_config: PathBuf,
    work: tempfile::TempDir,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |f: &str| args.iter().any(|a| a == f);
    let value = |f: &str| args.iter().position(|a| a == f).and_then(|i| args.get(i + 1)).cloned();
    let quick = flag("--quick");
    let repeat: usize = value("--repeat").and_then(|v| v.parse().ok()).unwrap_or(1);
    let mut workloads = if quick {
        vec![Workload { name: "small", files: 200, size: 1 << 20 }, Workload { name: "medium", files: 4, size: 100 << 20 }, Workload { name: "large", files: 1, size: 512 << 20 }]
    } else {
        vec![Workload { name: "small", files: 1000, size: 1 << 20 }, Workload { name: "medium", files: 20, size: 100 << 20 }, Workload { name: "large", files: 1, size: 2 << 30 }]
    };
    if let Some(only) = value("--only") {
        let keep: Vec<&str> = only.split(',').collect();
        workloads.retain(|w| keep.contains(&w.name));
    }
    let networks: Vec<(&str, u64)> = if flag("--skip-latency") { vec![("direct", 0)] } else { vec![("direct", 0), ("20ms RTT", 20)] };

    let setup = prepare(value("--trainctl"));
    let bucket = setup.server.new_bucket("bench");
    let mut report = String::new();
    report.push_str(&header(&setup, quick, repeat));

    for w in &workloads {
        let src = setup.work.path().join(format!("src-{}", w.name));
        make_files(&src, w);
        // One canonical copy for downloads, uploaded once by s5cmd (not measured).
        let canonical = format!("s3://{bucket}/canonical/{}/", w.name);
        let status = s5cmd_cmd(&setup, &setup.server.endpoint_url()).args(["cp", &format!("{}/*", src.display()), &canonical]).status().expect("s5cmd");
        assert!(status.success(), "seeding {canonical} failed");
        for &(net, rtt) in &networks {
            let proxy = (rtt > 0).then(|| ProxyProcess::start(&std::env::current_exe().unwrap().with_file_name("trainctl-proxy"), setup.server.socket_addr(), rtt));
            let endpoint = proxy.as_ref().map(|p| p.url.clone()).unwrap_or_else(|| setup.server.endpoint_url());
            for dir in ["upload", "download"] {
                let mut rows = Vec::new();
                for tool in TOOLS.into_iter().filter(|t| dir == "download" || *t != Tool::TrainctlSizeOnly) {
                    let mut samples = Vec::new();
                    for r in 0..repeat {
                        let tag = format!("{}-{}-{}-{}-{r}", w.name, net.replace(' ', ""), tool.slug(), dir);
                        let s = if dir == "upload" {
                            let dest = format!("s3://{bucket}/up/{tag}/");
                            run_tool(&setup, tool, w, &endpoint, &src, &dest, true)
                        } else {
                            let out = setup.work.path().join(format!("dl-{tag}"));
                            let s = run_tool(&setup, tool, w, &endpoint, &out, &canonical, false);
                            let _ = std::fs::remove_dir_all(&out);
                            s
                        };
                        eprintln!("{:>8} {:>9} {:>8} {:<26} wall {:>7.2}s cpu {:>7.2}s rss {:>6.1} MB{}", w.name, net, dir, tool.label(), s.wall, s.cpu, s.tree_rss_mb, if s.ok { "" } else { "  FAILED" });
                        samples.push(s);
                    }
                    rows.push((tool, median(samples)));
                }
                report.push_str(&table(w, net, dir, &rows));
            }
        }
        let _ = std::fs::remove_dir_all(&src);
    }
    println!("{report}");
    if let Some(out) = value("--out") {
        std::fs::write(&out, &report).expect("write report");
        eprintln!("wrote {out}");
    }
}

fn prepare(trainctl: Option<String>) -> Setup {
    let trainctl = trainctl.map(PathBuf::from).unwrap_or_else(|| {
        let exe = std::env::current_exe().unwrap();
        exe.with_file_name("trainctl")
    });
    assert!(trainctl.exists(), "trainctl binary not found at {} (build it: cargo build --release -p trainctl-cli)", trainctl.display());
    let s5cmd = trainctl_testkit::tools::find_s5cmd().expect("s5cmd not found (make setup)");
    let server = start_garage().expect("garage");
    let work = tempfile::Builder::new().prefix("trainctl-bench").tempdir_in(std::env::var("BENCH_DIR").unwrap_or_else(|_| "/tmp".into())).unwrap();
    let aws_config = work.path().join("aws-config");
    std::fs::write(
        &aws_config,
        format!(
            "[default]\nregion = {}\nrequest_checksum_calculation = when_required\nresponse_checksum_validation = when_required\ns3 =\n  addressing_style = path\n  max_concurrent_requests = {WORKERS}\n  multipart_chunksize = {PART_MIB}MB\n",
            server.region()
        ),
    )
    .unwrap();
    Setup { server, trainctl, s5cmd, aws_config, work }
}

fn make_files(dir: &Path, w: &Workload) {
    std::fs::create_dir_all(dir).unwrap();
    for i in 0..w.files {
        trainctl_testkit::random_file(&dir.join(format!("f{i:05}.bin")), w.size);
    }
}

fn env_for(setup: &Setup, cmd: &mut Command) {
    for (k, v) in setup.server.env() {
        if k != "AWS_ENDPOINT_URL" {
            cmd.env(k, v);
        }
    }
    cmd.env("AWS_CONFIG_FILE", &setup.aws_config).env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null");
    cmd.stdout(Stdio::null());
}

fn s5cmd_cmd(setup: &Setup, endpoint: &str) -> Command {
    let mut c = Command::new(&setup.s5cmd);
    env_for(setup, &mut c);
    c.args(["--endpoint-url", endpoint, "--numworkers", &WORKERS.to_string()]);
    c
}

fn run_tool(setup: &Setup, tool: Tool, w: &Workload, endpoint: &str, local: &Path, url: &str, upload: bool) -> Sample {
    let local_s = local.display().to_string();
    let mut cmd = match tool {
        Tool::TrainctlS5cmd | Tool::TrainctlNative | Tool::TrainctlSizeOnly => {
            let mut c = Command::new(&setup.trainctl);
            env_for(setup, &mut c);
            c.env("TRAINCTL_REPORT_RUSAGE", "1").env("TRAINCTL_S5CMD", &setup.s5cmd);
            c.args(["--endpoint-url", endpoint, "-q", "s3"]);
            if upload {
                c.args(["upload", &local_s, url, "--recursive"]);
            } else {
                c.args(["download", url, &local_s, "--recursive"]);
            }
            let engine = if tool == Tool::TrainctlNative { "native" } else { "s5cmd" };
            if tool == Tool::TrainctlSizeOnly {
                c.arg("--size-only");
            }
            c.args(["--engine", engine, "--concurrency", &WORKERS.to_string(), "--part-size", &PART_MIB.to_string()]);
            c
        }
        Tool::S5cmd => {
            let mut c = s5cmd_cmd(setup, endpoint);
            // The same per-file part concurrency trainctl's s5cmd engine passes (jobs's
            // concurrency shared among its multipart files, at least 2): equal settings.
            let part = ["--concurrency".to_string(), part_concurrency(w).to_string(), "--part-size".to_string(), PART_MIB.to_string()];
            if upload {
                c.arg("cp").args(&part).args([format!("{local_s}/*"), url.to_string()]);
            } else {
                c.arg("cp").args(&part).args([format!("{url}*"), format!("{local_s}/")]);
            }
            c
        }
        Tool::Aws => {
            let mut c = Command::new("aws");
            env_for(setup, &mut c);
            c.args(["s3", "cp", "--recursive", "--only-show-errors", "--endpoint-url", endpoint]);
            if upload {
                c.args([&local_s, url]);
            } else {
                c.args([url, &local_s]);
            }
            c
        }
    };
    measure(&mut cmd)
}

fn part_concurrency(w: &Workload) -> usize {
    let large = if w.size > PART_MIB << 20 { w.files } else { 0 };
    (WORKERS / large.max(1)).clamp(2, WORKERS)
}


/// Runs a command and reads wall time, CPU and peak RSS of its process tree from wait4.
fn measure(cmd: &mut Command) -> Sample {
    cmd.stderr(Stdio::piped());
    let start = Instant::now();
    #[allow(clippy::zombie_processes)] // reaped by wait4 on its pid below (for the rusage)
    let child = cmd.spawn().expect("spawn");
    let pid = child.id() as libc::pid_t;
    let mut stderr = child.stderr.unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut s);
        s
    });
    // Peak RSS of the main process, sampled from VmHWM (fresh at exec, unlike wait4's maxrss,
    // which counts this bench's own memory at spawn time).
    let peak_kb = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let sampler = {
        let peak_kb = peak_kb.clone();
        std::thread::spawn(move || loop {
            let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else { return };
            match status.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok()) {
                Some(kb) => peak_kb.fetch_max(kb, std::sync::atomic::Ordering::Relaxed),
                None => return, // a zombie: the process has exited
            };
            std::thread::sleep(std::time::Duration::from_millis(50));
        })
    };
    let mut status = 0;
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    let wall = start.elapsed().as_secs_f64();
    assert_eq!(r, pid, "wait4 failed");
    let err = reader.join().unwrap();
    let _ = sampler.join();
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    if !ok {
        eprintln!("command failed: {cmd:?}\n{err}");
    }
    let self_rss_mb = err.lines().filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()).find_map(|v| v.get("self_maxrss_kb").and_then(|x| x.as_f64())).map(|kb| kb / 1024.0);
    let main_rss_mb = peak_kb.load(std::sync::atomic::Ordering::Relaxed) as f64 / 1024.0;
    Sample { wall, cpu: tv(ru.ru_utime) + tv(ru.ru_stime), tree_rss_mb: main_rss_mb, self_rss_mb, ok }
}

fn median(mut v: Vec<Sample>) -> Sample {
    v.sort_by(|a, b| a.wall.partial_cmp(&b.wall).unwrap());
    v[v.len() / 2].clone()
}

fn header(setup: &Setup, quick: bool, repeat: usize) -> String {
    let s5 = Command::new(&setup.s5cmd).arg("version").output().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string()).unwrap_or_default();
    let aws = Command::new("aws").arg("--version").output().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string() + String::from_utf8_lossy(&o.stderr).trim()).unwrap_or_default();
    format!(
        "## Transfer benchmark ({})\n\nGarage 2.5.0 single node on loopback; {} cores; s5cmd {s5}; {aws}; workers {WORKERS}, part size {PART_MIB} MiB, \
         s5cmd per-file part concurrency as trainctl passes it (16 ÷ multipart files, ≥ 2); median of {repeat} run(s). CPU = user+sys of the whole process tree \
         (trainctl's includes its s5cmd child); peak RSS = VmHWM of the main process sampled every 50 ms (for trainctl (s5cmd) that excludes the s5cmd child); \"self\" = trainctl's own VmHWM at exit.\n\n",
        if quick { "quick sizes" } else { "full sizes" },
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
    )
}

fn table(w: &Workload, net: &str, dir: &str, rows: &[(Tool, Sample)]) -> String {
    let get = |t: Tool| rows.iter().find(|(x, _)| *x == t).map(|(_, s)| s.clone()).unwrap();
    let (tc, nat, s5, aws) = (get(Tool::TrainctlS5cmd), get(Tool::TrainctlNative), get(Tool::S5cmd), get(Tool::Aws));
    let mut out = format!("### {} × {} MiB, {dir}, {net}\n\n| tool | wall s | CPU s (tree) | peak RSS MB (main process) | trainctl self RSS MB |\n|---|---:|---:|---:|---:|\n", w.files, w.size >> 20);
    for (t, s) in rows {
        out.push_str(&format!(
            "| {}{} | {:.2} | {:.2} | {:.1} | {} |\n",
            t.label(),
            if s.ok { "" } else { " (FAILED)" },
            s.wall,
            s.cpu,
            s.tree_rss_mb,
            s.self_rss_mb.map(|m| format!("{m:.1}")).unwrap_or_else(|| "–".into())
        ));
    }
    out.push_str(&format!(
        "\nratios: trainctl/s5cmd **{:.2}** (target ≤ 1.05) · native/s5cmd **{:.2}** (≤ 1.10) · aws/trainctl **{:.2}**",
        tc.wall / s5.wall,
        nat.wall / s5.wall,
        aws.wall / tc.wall
    ));
    if let Some((_, so)) = rows.iter().find(|(t, _)| *t == Tool::TrainctlSizeOnly) {
        out.push_str(&format!(" · trainctl --size-only/s5cmd **{:.2}**", so.wall / s5.wall));
    }
    out.push_str("\n\n");
    out
}
