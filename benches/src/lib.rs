//! Pieces shared by the benchmark binaries.

use std::path::Path;
use std::process::{Command, Stdio};

/// The testkit's latency proxy (`trainctl-proxy`) as a separate process, so its buffers do not
/// inflate the bench process — whose RSS at spawn time would otherwise count in every child's
/// peak RSS.
pub struct ProxyProcess {
    child: std::process::Child,
    pub url: String,
}

impl ProxyProcess {
    /// Starts `bin` (the `trainctl-proxy` binary) in front of `upstream` with `rtt_ms` of added
    /// round-trip time and waits for the address it prints.
    pub fn start(bin: &Path, upstream: std::net::SocketAddr, rtt_ms: u64) -> ProxyProcess {
        ProxyProcess::start_limited(bin, upstream, rtt_ms, 0)
    }

    /// [`ProxyProcess::start`] with the link limited to `mbps` MB/s each way (0: unlimited).
    pub fn start_limited(bin: &Path, upstream: std::net::SocketAddr, rtt_ms: u64, mbps: u64) -> ProxyProcess {
        let mut child = Command::new(bin)
            .args(["--upstream", &upstream.to_string(), "--rtt-ms", &rtt_ms.to_string(), "--mbps", &mbps.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e} (cargo build --release -p trainctl-testkit)", bin.display()));
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
        let addr = line.trim().rsplit(' ').next().unwrap().to_string();
        ProxyProcess { child, url: format!("http://{addr}") }
    }
}

impl Drop for ProxyProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
