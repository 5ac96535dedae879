//! Shared helpers of the CLI end-to-end suite.
//!
//! Why: every CLI test needs the same things: a real S3 backend with a bucket of its own, a
//! `trainctl` child that sees that backend and nothing of the developer's own config, and a way
//! to run the same test against every backend (`conformance!`).

#![allow(dead_code, unused_imports)]

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

pub use trainctl_testkit::tools::find_s5cmd;
pub use trainctl_testkit::{
    assert_trees_equal, pattern_bytes, random_file, write_tree, FaultProxy, Kind, S3Server,
};

/// The `trainctl` binary cargo built for this test run.
pub const TRAINCTL: &str = env!("CARGO_BIN_EXE_trainctl");

/// One backend of the conformance suite as a test sees it: the shared server plus a private,
/// empty HOME for the `trainctl` children of this test.
pub struct Backend {
    server: &'static S3Server,
    home: tempfile::TempDir,
}

impl Backend {
    /// The process-wide moto server.
    pub fn moto() -> Backend {
        Backend::on(trainctl_testkit::shared_moto())
    }

    /// The process-wide Garage server, or `None` when its binary is missing and
    /// `TRAINCTL_ALLOW_SKIP=1` (the kit says so on stderr). Without that variable a missing
    /// Garage fails the test.
    pub fn garage() -> Option<Backend> {
        trainctl_testkit::shared_garage_or_skip().map(Backend::on)
    }

    fn on(server: &'static S3Server) -> Backend {
        Backend { server, home: new_home() }
    }

    /// The S3 server behind this backend (credentials, `put_object`, `list_keys`, …).
    pub fn server(&self) -> &'static S3Server {
        self.server
    }

    /// This test's HOME (`~/.config/trainctl` lives under it).
    pub fn home(&self) -> &Path {
        self.home.path()
    }

    /// A `trainctl` command reaching this backend, with this test's private HOME.
    pub fn trainctl(&self) -> Command {
        trainctl_with(self.server, &self.server.endpoint_url(), self.home())
    }

    /// A `trainctl` command reaching this backend through `endpoint_url` (e.g. a `FaultProxy`).
    pub fn trainctl_via(&self, endpoint_url: &str) -> Command {
        trainctl_with(self.server, endpoint_url, self.home())
    }
}

impl std::ops::Deref for Backend {
    type Target = S3Server;
    fn deref(&self) -> &S3Server {
        self.server
    }
}

/// A `trainctl` command for `server` with a clean environment and an empty shared HOME.
pub fn trainctl(server: &S3Server) -> Command {
    static HOME: OnceLock<tempfile::TempDir> = OnceLock::new();
    let home = HOME.get_or_init(new_home);
    trainctl_with(server, &server.endpoint_url(), home.path())
}

/// The clean environment: PATH kept; HOME/XDG dirs under `home` so no real config or AWS
/// profile is read; the server's credentials and endpoint; `TRAINCTL_S5CMD` when s5cmd exists.
pub fn trainctl_with(server: &S3Server, endpoint_url: &str, home: &Path) -> Command {
    let mut cmd = trainctl_in(home);
    cmd.envs(server.env_with_endpoint(endpoint_url));
    if let Some(s5) = find_s5cmd() {
        cmd.env("TRAINCTL_S5CMD", s5);
    }
    cmd
}

/// A `trainctl` command with nothing of the developer's environment but PATH: HOME/XDG dirs
/// and AWS files under `home`, no credentials or endpoint yet (the caller adds them).
pub fn trainctl_in(home: &Path) -> Command {
    let mut cmd = Command::new(TRAINCTL);
    cmd.env_clear();
    for keep in ["PATH", "TMPDIR", "RUST_BACKTRACE"] {
        if let Some(v) = std::env::var_os(keep) {
            cmd.env(keep, v);
        }
    }
    cmd.env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_CACHE_HOME", home.join(".cache"))
        .env("XDG_DATA_HOME", home.join(".local/share"))
        .env("XDG_STATE_HOME", home.join(".local/state"))
        .env("AWS_CONFIG_FILE", home.join(".aws/config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join(".aws/credentials"))
        .env("LANG", "C.UTF-8")
        .env("NO_COLOR", "1");
    cmd.stdin(std::process::Stdio::null());
    cmd
}

/// A private HOME for `trainctl` children (see [`trainctl_in`]), removed when dropped.
pub fn new_home() -> tempfile::TempDir {
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli-homes");
    std::fs::create_dir_all(&root).expect("create cli-homes dir");
    let home = tempfile::Builder::new().prefix("home-").tempdir_in(root).expect("create test HOME");
    // Empty AWS files, as after `aws configure` with nothing in it: the SDK warns on stderr
    // about AWS_CONFIG_FILE pointing at a missing file, which would clutter error assertions.
    std::fs::create_dir_all(home.path().join(".aws")).expect("create ~/.aws");
    for f in ["config", "credentials"] {
        std::fs::write(home.path().join(".aws").join(f), "").expect("write ~/.aws file");
    }
    home
}

/// A scratch directory for local trees, removed when dropped.
pub fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("trainctl-cli-").tempdir().expect("create scratch dir")
}

/// Runs `cmd` and returns its output, whatever the exit status.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Runs `cmd`, panicking with its stdout/stderr unless it exits 0.
pub fn ok(cmd: &mut Command) -> Output {
    let out = run(cmd);
    assert!(out.status.success(), "expected success from {}\n{}", describe(cmd), show(&out));
    out
}

/// Runs `cmd`, panicking unless it exits with `code`.
pub fn fails_with(cmd: &mut Command, code: i32) -> Output {
    let out = run(cmd);
    assert_eq!(out.status.code(), Some(code), "unexpected exit from {}\n{}", describe(cmd), show(&out));
    out
}

/// Stdout as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Stderr as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn describe(cmd: &Command) -> String {
    let args: Vec<OsString> = cmd.get_args().map(|a| a.to_os_string()).collect();
    format!("trainctl {}", args.iter().map(|a| a.to_string_lossy()).collect::<Vec<_>>().join(" "))
}

fn show(out: &Output) -> String {
    format!("status: {}\n--- stdout ---\n{}\n--- stderr ---\n{}", out.status, stdout(out), stderr(out))
}

/// Declares tests once and runs each against every backend: for `fn name(b: &Backend)` it
/// generates `moto::name` and `garage::name` (filter with `cargo test --test cli moto::`).
///
/// ```ignore
/// conformance! {
///     fn upload_roundtrips(b: &Backend) {
///         let bucket = b.new_bucket("upload");
///         ok(b.trainctl().args(["s3", "ls", &format!("s3://{bucket}/")]));
///     }
/// }
/// ```
macro_rules! conformance {
    ($( $(#[$meta:meta])* fn $name:ident($b:ident : &Backend) $body:block )*) => {
        mod moto {
            #[allow(unused_imports)]
            use super::*;
            $(
                $(#[$meta])*
                #[test]
                fn $name() {
                    let backend = $crate::common::Backend::moto();
                    let $b: &$crate::common::Backend = &backend;
                    $body
                }
            )*
        }
        mod garage {
            #[allow(unused_imports)]
            use super::*;
            $(
                $(#[$meta])*
                #[test]
                fn $name() {
                    let Some(backend) = $crate::common::Backend::garage() else { return };
                    let $b: &$crate::common::Backend = &backend;
                    $body
                }
            )*
        }
    };
}

// ---------------------------------------------------------------------------------------------
// Helpers of the conformance files (transfers, safety, sync, bad input, interrupt, profile).

/// Both transfer engines; transfer tests loop over them so each behaviour is checked on both.
pub const ENGINES: [&str; 2] = ["s5cmd", "native"];

/// Every stdout line of a `--json` run, parsed; panics on a line that is not JSON.
pub fn json_lines(out: &Output) -> Vec<serde_json::Value> {
    stdout(out)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}\n{}", show(out))))
        .collect()
}

/// The `{"event":"summary",…}` line of a `--json` transfer run.
pub fn summary(out: &Output) -> serde_json::Value {
    json_lines(out)
        .into_iter()
        .rev()
        .find(|v| v["event"] == "summary")
        .unwrap_or_else(|| panic!("no summary line\n{}", show(out)))
}

/// `(done, skipped, failed, bytes)` of a `--json` transfer run's summary.
pub fn counts(out: &Output) -> (u64, u64, u64, u64) {
    let s = summary(out);
    let n = |k: &str| s[k].as_u64().unwrap_or_else(|| panic!("summary has no {k}: {s}"));
    (n("done"), n("skipped"), n("failed"), n("bytes"))
}

/// Asserts the human error shape: exactly one `error:` line and a `hint:` line on stderr.
pub fn assert_error_shape(out: &Output) {
    let err = stderr(out);
    let errors = err.lines().filter(|l| l.starts_with("error:")).count();
    assert_eq!(errors, 1, "expected one `error:` line\n{}", show(out));
    assert!(err.lines().any(|l| l.trim_start().starts_with("hint:")), "expected a `hint:` line\n{}", show(out));
}

/// One 110 MiB file shared by every test of this binary (multipart on both engines); written
/// once, never modified.
pub fn big_file() -> &'static Path {
    static BIG: OnceLock<PathBuf> = OnceLock::new();
    BIG.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli-big");
        std::fs::create_dir_all(&dir).expect("create cli-big dir");
        let path = dir.join("big-110MiB.bin");
        let size = 110 * 1024 * 1024;
        if std::fs::metadata(&path).map(|m| m.len()).ok() != Some(size) {
            let tmp = dir.join(format!("big.{}.tmp", std::process::id()));
            random_file(&tmp, size);
            std::fs::rename(&tmp, &path).expect("rename big file");
        }
        path
    })
}

/// Every regular file under `dir`, relative and `/`-separated, sorted.
pub fn local_files(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(rd) = std::fs::read_dir(dir) else { return };
        for e in rd.flatten() {
            let p = e.path();
            let t = e.file_type().unwrap();
            if t.is_dir() {
                walk(root, &p, out);
            } else {
                out.push(p.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/"));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Sorted keys under `prefix`.
pub fn keys(b: &Backend, bucket: &str, prefix: &str) -> Vec<String> {
    let mut k = b.list_keys(bucket, prefix);
    k.sort();
    k
}

/// `s3://bucket/path`.
pub fn s3(bucket: &str, path: &str) -> String {
    format!("s3://{bucket}/{path}")
}

/// The Garage operator CLI of the shared Garage server (`garage -c <its config> …`), for tests
/// that need what only an operator can set up (a read-only key). `None` on moto.
///
/// The testkit keeps the config path private; the server's `Debug` shows its data directory,
/// where `garage.toml` lives.
pub fn garage_admin(server: &S3Server) -> Option<Command> {
    if server.kind() != Kind::Garage {
        return None;
    }
    let dbg = format!("{server:?}");
    let dir = dbg.split("dir: \"").nth(1)?.split('"').next()?;
    let conf = Path::new(dir).join("garage.toml");
    let bin = trainctl_testkit::tools::find_garage()?;
    let mut cmd = Command::new(bin);
    cmd.arg("-c").arg(conf);
    Some(cmd)
}
