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

/// Deterministic bytes (xorshift), distinct per seed: incompressible like trained weights.
pub fn pseudo_random_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        out.extend_from_slice(&s.to_le_bytes());
    }
    out.truncate(n);
    out
}

/// A run of `ckpts` HF-style checkpoints of `mib` MiB each, `shared` of whose bytes are the same
/// files in every one (a tokenizer and a frozen "vision tower"), the rest distinct weights.
/// Returns the bytes written. Used by the dedup and refs benches.
pub fn make_shared_run(root: &Path, ckpts: usize, mib: usize, shared: f64) -> u64 {
    let size = mib << 20;
    let shared_bytes = (size as f64 * shared) as usize;
    let tokenizer = (shared_bytes / 16).max(1);
    let (tok, froz) = (pseudo_random_bytes(tokenizer, 1), pseudo_random_bytes(shared_bytes - tokenizer, 2));
    let mut total = 0u64;
    for c in 0..ckpts {
        let d = root.join(format!("checkpoint-{}", (c + 1) * 1000));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("tokenizer.json"), &tok).unwrap();
        std::fs::write(d.join("vision_tower.safetensors"), &froz).unwrap();
        std::fs::write(d.join("model.safetensors"), pseudo_random_bytes(size - shared_bytes, 100 + c as u64)).unwrap();
        let state = format!("{{\"global_step\": {}}}", (c + 1) * 1000);
        std::fs::write(d.join("trainer_state.json"), &state).unwrap();
        total += (size + state.len()) as u64;
    }
    total
}
