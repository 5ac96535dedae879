//! Child processes that cannot outlive the test process, free ports, and readiness polling.

use std::collections::HashSet;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

type LaunchRequest = (Command, mpsc::Sender<io::Result<Child>>);

/// The one thread that forks long-lived servers.
///
/// Why: `PR_SET_PDEATHSIG` fires when the *thread* that forked the child exits, not the process.
/// `cargo test` runs each test on a thread that ends with the test, so a server shared by many
/// tests must be forked from a thread that lives as long as the process.
fn launcher() -> &'static Mutex<mpsc::Sender<LaunchRequest>> {
    static LAUNCHER: OnceLock<Mutex<mpsc::Sender<LaunchRequest>>> = OnceLock::new();
    LAUNCHER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<LaunchRequest>();
        std::thread::Builder::new()
            .name("testkit-launcher".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
            })
            .expect("spawn testkit-launcher thread");
        Mutex::new(tx)
    })
}

/// Spawns `cmd` so that the kernel kills it (SIGKILL) when the test process dies, even by a
/// signal or a panic that skips destructors.
pub(crate) fn spawn_guarded(mut cmd: Command) -> io::Result<Child> {
    let parent = std::process::id();
    // SAFETY: only async-signal-safe libc calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            if libc::getppid() as u32 != parent {
                libc::_exit(1); // the parent died before prctl took effect
            }
            Ok(())
        });
    }
    let (reply_tx, reply_rx) = mpsc::channel();
    launcher()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .send((cmd, reply_tx))
        .map_err(|_| io::Error::other("testkit launcher thread is gone"))?;
    reply_rx
        .recv()
        .map_err(|_| io::Error::other("testkit launcher thread is gone"))?
}

/// A child that is killed and reaped when dropped.
#[derive(Debug)]
pub(crate) struct ChildGuard(pub Child);

impl ChildGuard {
    /// Kills and reaps the child through `&self`, for the exit hook of shared servers
    /// (statics are never dropped).
    pub fn kill_now(&self) {
        let pid = self.0.id() as libc::pid_t;
        // SAFETY: plain syscalls on our own child's pid.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
            libc::waitpid(pid, std::ptr::null_mut(), 0);
        }
    }

    /// Why: a server that exited during startup should fail fast with its log, not time out.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.0.try_wait().ok().flatten()
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Sends SIGINT to a child process, as Ctrl-C in a terminal would.
///
/// Why here: tests of interrupt handling need it, and the kit already owns the libc calls
/// so test crates do not each need their own libc dependency.
pub fn interrupt(child: &std::process::Child) {
    // SAFETY: kill(2) on a child of ours that has not been reaped yet.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
}

/// A loopback TCP port that was free a moment ago, never handed out twice by this process.
///
/// Why: servers are told their port on the command line, so the kit picks one by binding
/// `127.0.0.1:0`; remembering what it handed out avoids two servers of one process racing
/// for the same port.
pub fn free_port() -> u16 {
    static GIVEN: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    let given = GIVEN.get_or_init(Default::default);
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("bind 127.0.0.1:0")
            .port();
        if given.lock().unwrap_or_else(|p| p.into_inner()).insert(port) {
            return port;
        }
    }
}

/// Polls `ready` every 50 ms until it returns true or `timeout` passes.
pub(crate) fn wait_until(timeout: Duration, mut ready: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if ready() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// True when something at `addr` answers an HTTP request with any status line.
pub(crate) fn http_answers(addr: SocketAddr, path: &str) -> bool {
    let attempt = || -> io::Result<bool> {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(500))?;
        s.set_read_timeout(Some(Duration::from_secs(2)))?;
        write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
        let mut head = [0u8; 12];
        s.read_exact(&mut head)?;
        Ok(head.starts_with(b"HTTP/"))
    };
    attempt().unwrap_or(false)
}

/// The last `n` lines of a log file, for error messages about a server that did not start.
pub(crate) fn log_tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A temp dir `trainctl-<kind>-<pid>-XXXX` for one server's data and logs.
///
/// Why: a test process killed by a signal cannot remove its servers' data (Garage may hold
/// gigabytes after a benchmark), so each new server first removes dirs whose process is gone.
pub(crate) fn server_dir(kind: &str) -> Result<tempfile::TempDir, String> {
    sweep_stale_dirs(kind);
    tempfile::Builder::new()
        .prefix(&format!("trainctl-{kind}-{}-", std::process::id()))
        .tempdir()
        .map_err(|e| format!("create temp dir: {e}"))
}

fn sweep_stale_dirs(kind: &str) {
    let prefix = format!("trainctl-{kind}-");
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let owner = name.strip_prefix(&prefix).and_then(|rest| rest.split('-').next()?.parse().ok());
        if owner.is_some_and(|pid| !process_exists(pid)) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn process_exists(pid: libc::pid_t) -> bool {
    // SAFETY: signal 0 only checks whether the process exists.
    unsafe { libc::kill(pid, 0) == 0 || *libc::__errno_location() != libc::ESRCH }
}

/// Runs a server start attempt up to three times: between choosing a free port and the server
/// binding it, another process can take the port. Returns the last error if all attempts fail.
pub(crate) fn with_port_retries<T>(mut attempt: impl FnMut() -> Result<T, String>) -> Result<T, String> {
    let mut last_err = String::new();
    for _ in 0..3 {
        match attempt() {
            Ok(v) => return Ok(v),
            Err(e) => last_err = e,
        }
    }
    Err(last_err)
}
