//! `trainctl-proxy`: the testkit's latency proxy as a standalone program, for benchmarks.
//!
//! Usage: `trainctl-proxy --listen 127.0.0.1:9000 --upstream 127.0.0.1:3900 --rtt-ms 20
//! [--mbps 50]` (`--mbps`: a link of that many MB/s each way, as `FaultProxy::set_bandwidth`).
//! Prints `listening on ADDR` on stdout once ready, then runs until killed.

use std::net::SocketAddr;
use std::time::Duration;

use trainctl_testkit::FaultProxy;

/// Parsed command line.
struct Args {
    listen: SocketAddr,
    upstream: SocketAddr,
    rtt: Duration,
    /// Bytes per second each way (0: unlimited).
    bandwidth: u64,
}

const USAGE: &str = "usage: trainctl-proxy --upstream HOST:PORT [--listen 127.0.0.1:PORT] [--rtt-ms N] [--mbps N]";

fn parse_args(mut it: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut listen = SocketAddr::from(([127, 0, 0, 1], 0));
    let (mut upstream, mut rtt, mut bandwidth) = (None, Duration::ZERO, 0);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value\n{USAGE}"));
        match flag.as_str() {
            "--listen" => listen = value()?.parse().map_err(|e| format!("--listen: {e}"))?,
            "--upstream" => upstream = Some(value()?.parse().map_err(|e| format!("--upstream: {e}"))?),
            "--rtt-ms" => rtt = Duration::from_millis(value()?.parse().map_err(|e| format!("--rtt-ms: {e}"))?),
            "--mbps" => bandwidth = value()?.parse::<u64>().map_err(|e| format!("--mbps: {e}"))? * 1_000_000,
            "-h" | "--help" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    let upstream = upstream.ok_or(format!("--upstream is required\n{USAGE}"))?;
    Ok(Args { listen, upstream, rtt, bandwidth })
}

fn main() {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let proxy = FaultProxy::start_on(args.listen, args.upstream).unwrap_or_else(|e| {
        eprintln!("trainctl-proxy: cannot listen on {}: {e}", args.listen);
        std::process::exit(1);
    });
    proxy.set_rtt(args.rtt);
    if args.bandwidth > 0 {
        proxy.set_bandwidth(args.bandwidth);
    }
    println!("listening on {}", proxy.addr());
    loop {
        std::thread::park();
    }
}
