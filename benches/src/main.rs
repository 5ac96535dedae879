//! `trainctl-bench`: transfers side by side, in one run, on one machine, so the figures are
//! ratios rather than absolute times (these machines are noisy).
//!
//! Tools: `trainctl` (`--engine auto`, the default), `trainctl --engine native`, `trainctl
//! --engine s5cmd`, raw `s5cmd`, `rclone copy` (default mode and `--checksum`) and `aws s3 cp
//! --recursive`, all with the same worker settings. Workloads: 1000 × 1 MiB, 20 × 100 MiB,
//! 1 × 2 GiB; upload and download; against Garage directly and through the testkit proxy at
//! 20 ms RTT. Runs alternate between tools (run 1 of every tool, then run 2, …) so a burst of
//! load on this shared machine hits every tool alike; each cell is the median.
//!
//! Downloads read two copies of each workload: one uploaded by `trainctl --engine native` (every
//! object carries a CRC64NVME), one by s5cmd (no stored checksum: MD5/ETag only), so trainctl's
//! verification cost is measured per checksum kind. `--size-only` rows (no checksum) give the
//! baseline for "CPU s per GiB verified".
//!
//! For each run: wall time, client CPU (user+sys of the process tree, from wait4), peak RSS of
//! the main process and — for trainctl — of the trainctl process itself (it reports its own
//! VmHWM when `TRAINCTL_REPORT_RUSAGE=1`). The load average is printed with every table.
//!
//! Usage: `trainctl-bench [--quick] [--only small,medium,large] [--skip-latency] [--repeat N]
//!         [--dirs upload,download] [--tools SLUG,…] [--trainctl PATH] [--baseline PATH] [--out FILE]`
//!
//! `--baseline PATH`: every verified trainctl row also runs with an earlier build (marked
//! "baseline build"), in the same alternation, so a change is measured before/after in one run.

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

#[derive(Clone, Copy, PartialEq, Debug)]
enum Tool {
    TrainctlAuto,
    TrainctlNative,
    TrainctlS5cmd,
    S5cmd,
    /// s5cmd, then `sync -f` on the destination's filesystem: the download made as durable as
    /// trainctl's (which fsyncs every file before renaming it into place), so the table shows
    /// what the durability costs on this disk apart from the transfer.
    S5cmdDurable,
    Rclone,
    RcloneChecksum,
    Aws,
}

/// Which copy of the workload a download reads.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Source {
    /// Uploaded by `trainctl --engine native`: every object has a stored CRC64NVME.
    Crc,
    /// Uploaded by s5cmd: no stored checksum (MD5 / multipart ETag only).
    Md5,
}

/// One row of a table: a tool, the copy it downloads, and whether it skips checksums.
#[derive(Clone, Copy, PartialEq, Debug)]
struct Row {
    tool: Tool,
    source: Source,
    size_only: bool,
    /// Run with the `--baseline` binary (an earlier build) instead of `--trainctl`.
    baseline: bool,
}

impl Row {
    const fn new(tool: Tool) -> Row {
        Row { tool, source: Source::Crc, size_only: false, baseline: false }
    }
    const fn md5(tool: Tool) -> Row {
        Row { tool, source: Source::Md5, size_only: false, baseline: false }
    }
    const fn size_only(tool: Tool) -> Row {
        Row { tool, source: Source::Crc, size_only: true, baseline: false }
    }

    fn label(self) -> String {
        let base = match self.tool {
            Tool::TrainctlAuto => "trainctl (auto)",
            Tool::TrainctlNative => "trainctl --engine native",
            Tool::TrainctlS5cmd => "trainctl --engine s5cmd",
            Tool::S5cmd => "s5cmd",
            Tool::S5cmdDurable => "s5cmd, then sync -f (durable)",
            Tool::Rclone => "rclone copy",
            Tool::RcloneChecksum => "rclone copy --checksum",
            Tool::Aws => "aws s3 cp",
        };
        let mut l = base.to_string();
        if self.size_only {
            l.push_str(" --size-only");
        }
        if self.is_trainctl() && !self.size_only {
            l.push_str(if self.source == Source::Crc { " · CRC64NVME objects" } else { " · MD5-only objects" });
        }
        if self.baseline {
            l.push_str(" · baseline build");
        }
        l
    }

    fn slug(self) -> String {
        format!("{:?}-{:?}-{}{}", self.tool, self.source, self.size_only, if self.baseline { "-baseline" } else { "" }).to_ascii_lowercase()
    }

    fn is_trainctl(self) -> bool {
        matches!(self.tool, Tool::TrainctlAuto | Tool::TrainctlNative | Tool::TrainctlS5cmd)
    }
}

const UPLOAD_ROWS: [Row; 7] = [
    Row::new(Tool::TrainctlAuto),
    Row::new(Tool::TrainctlNative),
    Row::new(Tool::TrainctlS5cmd),
    Row::new(Tool::S5cmd),
    Row::new(Tool::Rclone),
    Row::new(Tool::RcloneChecksum),
    Row::new(Tool::Aws),
];

const DOWNLOAD_ROWS: [Row; 13] = [
    Row::new(Tool::TrainctlAuto),
    Row::md5(Tool::TrainctlAuto),
    Row::new(Tool::TrainctlNative),
    Row::md5(Tool::TrainctlNative),
    Row::size_only(Tool::TrainctlNative),
    Row::new(Tool::TrainctlS5cmd),
    Row::md5(Tool::TrainctlS5cmd),
    Row::size_only(Tool::TrainctlS5cmd),
    Row::new(Tool::S5cmd),
    Row::new(Tool::S5cmdDurable),
    Row::new(Tool::Rclone),
    Row::new(Tool::RcloneChecksum),
    Row::new(Tool::Aws),
];

/// Equal worker settings for every tool: objects in flight and parts per object.
const WORKERS: usize = 16;
const PART_MIB: u64 = 32;

struct Setup {
    /// The server downloads read from (the workload's two canonical copies).
    server: S3Server,
    trainctl: PathBuf,
    s5cmd: PathBuf,
    aws_config: PathBuf,
    work: tempfile::TempDir,
    /// `--baseline PATH`: an earlier trainctl build whose rows run beside the current one's.
    baseline: Option<PathBuf>,
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
    let dirs: Vec<String> = value("--dirs").map(|d| d.split(',').map(str::to_string).collect()).unwrap_or_else(|| vec!["upload".into(), "download".into()]);
    let rows_filter: Option<Vec<String>> = value("--tools").map(|t| t.split(',').map(str::to_string).collect());
    let networks: Vec<(&str, u64)> = if flag("--skip-latency") { vec![("direct", 0)] } else { vec![("direct", 0), ("20ms RTT", 20)] };

    // A peer tool missing from PATH: one readable line before anything is set up.
    let wanted: Vec<Row> = dirs
        .iter()
        .flat_map(|d| if d == "upload" { &UPLOAD_ROWS[..] } else { &DOWNLOAD_ROWS[..] })
        .copied()
        .filter(|r| rows_filter.as_ref().is_none_or(|f| f.iter().any(|t| r.slug().starts_with(t.as_str()))))
        .collect();
    if let Some(missing) = missing_tool(&wanted) {
        eprintln!("trainctl-bench: `{missing}` is not installed (not on PATH); scripts/setup.sh installs it ({}), or leave its rows out with --tools", install_hint(missing));
        std::process::exit(2);
    }

    // Garage keeps its data in memory (/dev/shm unless --server-dir): the disk of this machine is
    // the client's, and a remote store's writes do not compete with the client's fsyncs.
    let server_dir = value("--server-dir").unwrap_or_else(|| "/dev/shm".into());
    if Path::new(&server_dir).is_dir() {
        std::env::set_var("TMPDIR", &server_dir);
    }
    let mut setup = prepare(value("--trainctl"));
    setup.baseline = value("--baseline").map(PathBuf::from);
    let mut report = String::new();
    report.push_str(&header(&setup, quick, repeat));

    for w in &workloads {
        // A fresh server per workload: what earlier workloads stored is gone with it.
        setup.server = start_garage().expect("garage");
        let bucket = setup.server.new_bucket("bench");
        let src = setup.work.path().join(format!("src-{}", w.name));
        make_files(&src, w);
        // Two canonical copies for downloads (not measured): with CRC64NVME, and MD5 only.
        let canonical_crc = format!("s3://{bucket}/canonical-crc/{}/", w.name);
        let canonical_md5 = format!("s3://{bucket}/canonical-md5/{}/", w.name);
        seed(&setup, &src, &canonical_crc, &canonical_md5);
        for &(net, rtt) in &networks {
            let proxy = (rtt > 0).then(|| ProxyProcess::start(&std::env::current_exe().unwrap().with_file_name("trainctl-proxy"), setup.server.socket_addr(), rtt));
            let endpoint = proxy.as_ref().map(|p| p.url.clone()).unwrap_or_else(|| setup.server.endpoint_url());
            for dir in dirs.iter().map(String::as_str) {
                let upload = dir == "upload";
                let rows: Vec<Row> = (if upload { &UPLOAD_ROWS[..] } else { &DOWNLOAD_ROWS[..] })
                    .iter()
                    .copied()
                    .flat_map(|r| {
                        // With --baseline, each verified trainctl row also runs on the earlier build.
                        let again = (setup.baseline.is_some() && r.is_trainctl() && !r.size_only).then_some(Row { baseline: true, ..r });
                        std::iter::once(r).chain(again)
                    })
                    .filter(|r| rows_filter.as_ref().is_none_or(|f| f.iter().any(|t| r.slug().starts_with(t.as_str()))))
                    .collect();
                let load_before = loadavg();
                let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); rows.len()];
                for r in 0..repeat {
                    for (i, row) in rows.iter().enumerate() {
                        let tag = format!("{}-{}-{}-{dir}-{r}", w.name, net.replace(' ', ""), row.slug());
                        let s = if upload {
                            // Each upload into a fresh server (its data is freed right after:
                            // Garage only collects deleted blocks after ten minutes).
                            let target = start_garage().expect("garage");
                            let bucket = target.new_bucket("up");
                            let proxy = (rtt > 0).then(|| ProxyProcess::start(&std::env::current_exe().unwrap().with_file_name("trainctl-proxy"), target.socket_addr(), rtt));
                            let endpoint = proxy.as_ref().map(|p| p.url.clone()).unwrap_or_else(|| target.endpoint_url());
                            let dest = format!("s3://{bucket}/up/{tag}/");
                            run_row(&setup, &target, *row, w, &endpoint, &src, &dest, true)
                        } else {
                            let out = setup.work.path().join(format!("dl-{tag}"));
                            let url = if row.source == Source::Crc { &canonical_crc } else { &canonical_md5 };
                            let s = run_row(&setup, &setup.server, *row, w, &endpoint, &out, url, false);
                            let _ = std::fs::remove_dir_all(&out);
                            s
                        };
                        eprintln!("{:>8} {:>9} {:>8} {:<58} wall {:>7.2}s cpu {:>7.2}s rss {:>6.1} MB{}", w.name, net, dir, row.label(), s.wall, s.cpu, s.tree_rss_mb, if s.ok { "" } else { "  FAILED" });
                        samples[i].push(s);
                    }
                }
                let medians: Vec<(Row, Sample, Vec<f64>)> = rows.iter().zip(samples).map(|(row, s)| {
                    let walls = s.iter().map(|x| x.wall).collect();
                    (*row, median(s), walls)
                }).collect();
                report.push_str(&table(w, net, dir, &medians, &load_before, &loadavg()));
            }
        }
        let _ = std::fs::remove_dir_all(&src);
    }
    drop(setup);
    println!("{report}");
    if let Some(out) = value("--out") {
        std::fs::write(&out, &report).expect("write report");
        eprintln!("wrote {out}");
    }
}

/// The first external program (beside trainctl and s5cmd, found by `prepare`) that a selected
/// row runs and PATH does not have.
fn missing_tool(rows: &[Row]) -> Option<&'static str> {
    let program = |t: Tool| match t {
        Tool::Rclone | Tool::RcloneChecksum => Some("rclone"),
        Tool::Aws => Some("aws"),
        _ => None,
    };
    let on_path = |name: &str| std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()));
    rows.iter().filter_map(|r| program(r.tool)).find(|name| !on_path(name))
}

fn install_hint(program: &str) -> &'static str {
    match program {
        "aws" => "pip install awscli",
        _ => "apt-get install rclone",
    }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg").map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" ")).unwrap_or_default()
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
    Setup { server, trainctl, s5cmd, aws_config, work, baseline: None }
}

/// Uploads the two canonical copies of `src`: by trainctl's native engine with CRC64NVME, and by
/// s5cmd (no stored checksum).
fn seed(setup: &Setup, src: &Path, crc: &str, md5: &str) {
    let endpoint = setup.server.endpoint_url();
    let mut t = trainctl_cmd(setup, &setup.trainctl, &setup.server, &endpoint);
    t.args(["-q", "s3", "upload", &src.display().to_string(), crc, "--recursive", "--engine", "native", "--upload-checksum", "crc64nvme"]);
    t.args(["--concurrency", &WORKERS.to_string(), "--part-size", &PART_MIB.to_string()]);
    assert!(t.status().expect("trainctl").success(), "seeding {crc} failed");
    let status = s5cmd_cmd(setup, &setup.server, &endpoint).args(["cp", &format!("{}/*", src.display()), md5]).status().expect("s5cmd");
    assert!(status.success(), "seeding {md5} failed");
}

fn make_files(dir: &Path, w: &Workload) {
    std::fs::create_dir_all(dir).unwrap();
    for i in 0..w.files {
        trainctl_testkit::random_file(&dir.join(format!("f{i:05}.bin")), w.size);
    }
}

fn env_for(setup: &Setup, server: &S3Server, cmd: &mut Command) {
    for (k, v) in server.env() {
        if k != "AWS_ENDPOINT_URL" {
            cmd.env(k, v);
        }
    }
    cmd.env("AWS_CONFIG_FILE", &setup.aws_config).env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null");
    cmd.stdout(Stdio::null());
}

fn s5cmd_cmd(setup: &Setup, server: &S3Server, endpoint: &str) -> Command {
    let mut c = Command::new(&setup.s5cmd);
    env_for(setup, server, &mut c);
    c.args(["--endpoint-url", endpoint, "--numworkers", &WORKERS.to_string()]);
    c
}

fn trainctl_cmd(setup: &Setup, binary: &Path, server: &S3Server, endpoint: &str) -> Command {
    let mut c = Command::new(binary);
    env_for(setup, server, &mut c);
    c.env("TRAINCTL_REPORT_RUSAGE", "1").env("TRAINCTL_S5CMD", &setup.s5cmd);
    c.args(["--endpoint-url", endpoint]);
    c
}

/// rclone with a remote `garage:` defined entirely through its environment (the secret never
/// in argv): `RCLONE_CONFIG_GARAGE_*`.
fn rclone_cmd(setup: &Setup, server: &S3Server, endpoint: &str) -> Command {
    let mut c = Command::new("rclone");
    env_for(setup, server, &mut c);
    let s = server;
    c.env("RCLONE_CONFIG_GARAGE_TYPE", "s3")
        .env("RCLONE_CONFIG_GARAGE_PROVIDER", "Other")
        .env("RCLONE_CONFIG_GARAGE_ACCESS_KEY_ID", s.access_key())
        .env("RCLONE_CONFIG_GARAGE_SECRET_ACCESS_KEY", s.secret_key())
        .env("RCLONE_CONFIG_GARAGE_ENDPOINT", endpoint)
        .env("RCLONE_CONFIG_GARAGE_REGION", s.region())
        .env("RCLONE_CONFIG_GARAGE_FORCE_PATH_STYLE", "true")
        .env("RCLONE_CONFIG", "/dev/null");
    // rclone's AWS SDK refuses a custom CA bundle with its own HTTP transport ("unsupported
    // transport"); the endpoint is plain HTTP on loopback, so none is needed.
    c.env_remove("AWS_CA_BUNDLE");
    c
}

#[allow(clippy::too_many_arguments)]
fn run_row(setup: &Setup, server: &S3Server, row: Row, w: &Workload, endpoint: &str, local: &Path, url: &str, upload: bool) -> Sample {
    let local_s = local.display().to_string();
    let mut cmd = match row.tool {
        Tool::TrainctlAuto | Tool::TrainctlNative | Tool::TrainctlS5cmd => {
            let binary = if row.baseline { setup.baseline.as_ref().expect("--baseline given") } else { &setup.trainctl };
            let mut c = trainctl_cmd(setup, binary, server, endpoint);
            c.args(["-q", "s3"]);
            if upload {
                c.args(["upload", &local_s, url, "--recursive"]);
            } else {
                c.args(["download", url, &local_s, "--recursive"]);
            }
            if row.size_only {
                c.arg("--size-only");
            }
            let engine = match row.tool {
                Tool::TrainctlNative => "native",
                Tool::TrainctlS5cmd => "s5cmd",
                _ => "auto",
            };
            c.args(["--engine", engine, "--concurrency", &WORKERS.to_string(), "--part-size", &PART_MIB.to_string()]);
            if upload {
                // Garage keeps CRC64NVME; the bench connects through a bare endpoint (provider
                // "other"), so name it as a Garage profile would.
                c.args(["--upload-checksum", "crc64nvme"]);
            }
            c
        }
        Tool::S5cmd | Tool::S5cmdDurable => {
            let mut c = s5cmd_cmd(setup, server, endpoint);
            // The same per-file part concurrency trainctl's s5cmd engine passes (the job's
            // concurrency shared among its multipart files, at least 2): equal settings.
            let part = ["--concurrency".to_string(), part_concurrency(w).to_string(), "--part-size".to_string(), PART_MIB.to_string()];
            if upload {
                c.arg("cp").args(&part).args([format!("{local_s}/*"), url.to_string()]);
            } else {
                c.arg("cp").args(&part).args([format!("{url}*"), format!("{local_s}/")]);
            }
            if row.tool == Tool::S5cmdDurable {
                // The same command under `sh`, followed by a syncfs of the destination.
                let mut sh = Command::new("sh");
                sh.envs(c.get_envs().filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned()))));
                sh.args(["-c", "\"$0\" \"$@\" && exec sync -f \"$TRAINCTL_BENCH_DEST\""]).arg(c.get_program()).args(c.get_args());
                sh.env("TRAINCTL_BENCH_DEST", &local_s).stdout(Stdio::null());
                c = sh;
            }
            c
        }
        Tool::Rclone | Tool::RcloneChecksum => {
            let mut c = rclone_cmd(setup, server, endpoint);
            let remote = format!("garage:{}", url.trim_start_matches("s3://"));
            c.args(["copy", "--s3-no-check-bucket", "--transfers", &WORKERS.to_string()]);
            c.args(["--s3-chunk-size", &format!("{PART_MIB}M"), "--s3-upload-concurrency", &part_concurrency(w).to_string()]);
            c.args(["--multi-thread-streams", &part_concurrency(w).to_string(), "--multi-thread-cutoff", &format!("{PART_MIB}M")]);
            if row.tool == Tool::RcloneChecksum {
                c.arg("--checksum");
            }
            if upload {
                c.args([&local_s, &remote]);
            } else {
                c.args([&remote, &local_s]);
            }
            c
        }
        Tool::Aws => {
            let mut c = Command::new("aws");
            env_for(setup, server, &mut c);
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
// The child is reaped by `libc::wait4` (for its rusage), which clippy does not see.
#[allow(clippy::zombie_processes)]
fn measure(cmd: &mut Command) -> Sample {
    cmd.stderr(Stdio::piped());
    let start = Instant::now();
    #[allow(clippy::zombie_processes)] // reaped by wait4 on its pid below (for the rusage)
    let child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => {
            eprintln!("trainctl-bench: cannot start {:?}: {e} (is it installed? scripts/setup.sh installs the peers)", cmd.get_program());
            std::process::exit(2);
        }
    };
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
        // Program and arguments only: `{cmd:?}` would print the environment, which carries the
        // server's secret key.
        eprintln!("command failed: {:?} {:?}\n{err}", cmd.get_program(), cmd.get_args().collect::<Vec<_>>());
    }
    let self_rss_mb = err.lines().filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()).find_map(|v| v.get("self_maxrss_kb").and_then(|x| x.as_f64())).map(|kb| kb / 1024.0);
    let main_rss_mb = peak_kb.load(std::sync::atomic::Ordering::Relaxed) as f64 / 1024.0;
    Sample { wall, cpu: tv(ru.ru_utime) + tv(ru.ru_stime), tree_rss_mb: main_rss_mb, self_rss_mb, ok }
}

/// The median of the per-round ratios `walls[r] / s5cmd[r]`: each round runs every tool back to
/// back, so a slow spell of this shared machine (which lasts seconds to minutes) lands on both
/// sides of a ratio and mostly cancels, where it shifts a ratio of medians. NaN without s5cmd.
fn paired_ratio(walls: &[f64], s5cmd: &[f64]) -> f64 {
    let mut r: Vec<f64> = walls.iter().zip(s5cmd).map(|(w, s)| w / s).collect();
    if r.is_empty() {
        return f64::NAN;
    }
    r.sort_by(f64::total_cmp);
    let n = r.len();
    if n % 2 == 1 { r[n / 2] } else { (r[n / 2 - 1] + r[n / 2]) / 2.0 }
}

fn median(mut v: Vec<Sample>) -> Sample {
    v.sort_by(|a, b| a.wall.partial_cmp(&b.wall).unwrap());
    v[v.len() / 2].clone()
}

fn header(setup: &Setup, quick: bool, repeat: usize) -> String {
    let version = |cmd: &str, arg: &str| {
        Command::new(cmd).arg(arg).output().map(|o| {
            let text = String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
            text.lines().next().unwrap_or("").trim().to_string()
        })
    };
    let s5 = version(&setup.s5cmd.display().to_string(), "version").unwrap_or_default();
    let aws = version("aws", "--version").unwrap_or_default();
    let rclone = version("rclone", "version").unwrap_or_default();
    format!(
        "## Transfer benchmark ({})\n\nGarage 2.5.0 single node on loopback; {} cores; s5cmd {s5}; {rclone}; {aws}; workers {WORKERS}, part size {PART_MIB} MiB, \
         per-file part concurrency 16 ÷ multipart files (≥ 2) for s5cmd and rclone; median of {repeat} alternating run(s); \"paired\" = median of the per-round ratios to s5cmd (each round runs every tool back to back). CPU = user+sys of the whole process tree \
         (trainctl's includes its s5cmd child); peak RSS = VmHWM of the main process sampled every 50 ms (for trainctl's s5cmd engine that excludes the s5cmd child); \"self\" = trainctl's own VmHWM at exit. \
         trainctl fsyncs every downloaded file before renaming it into place; the other tools do not.\n\n",
        if quick { "quick sizes" } else { "full sizes" },
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
    )
}

fn table(w: &Workload, net: &str, dir: &str, rows: &[(Row, Sample, Vec<f64>)], load_before: &str, load_after: &str) -> String {
    let s5 = rows.iter().find(|(r, ..)| r.tool == Tool::S5cmd).map(|(_, s, _)| s.wall).unwrap_or(f64::NAN);
    let s5_walls = rows.iter().find(|(r, ..)| r.tool == Tool::S5cmd).map(|(_, _, w)| w.as_slice()).unwrap_or(&[]);
    let gib = (w.files as f64 * w.size as f64) / (1u64 << 30) as f64;
    let mut out = format!(
        "### {} × {} MiB, {dir}, {net} (load average {load_before} → {load_after})\n\n| tool | wall s (runs) | vs s5cmd | paired | CPU s (tree) | CPU s/GiB | peak RSS MB (main) | trainctl self RSS MB |\n|---|---:|---:|---:|---:|---:|---:|---:|\n",
        w.files,
        w.size >> 20
    );
    for (row, s, walls) in rows {
        let runs: Vec<String> = walls.iter().map(|x| format!("{x:.2}")).collect();
        out.push_str(&format!(
            "| {}{} | {:.2} ({}) | {:.2} | {:.2} | {:.2} | {:.2} | {:.1} | {} |\n",
            row.label(),
            if s.ok { "" } else { " (FAILED)" },
            s.wall,
            runs.join(" "),
            s.wall / s5,
            paired_ratio(walls, s5_walls),
            s.cpu,
            s.cpu / gib,
            s.tree_rss_mb,
            s.self_rss_mb.map(|m| format!("{m:.1}")).unwrap_or_else(|| "–".into())
        ));
    }
    out.push('\n');
    out
}
