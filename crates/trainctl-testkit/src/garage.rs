//! Starting a single-node Garage 2.x: config, layout, an access key allowed to create buckets.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::process::{free_port, http_answers, log_tail, spawn_guarded, wait_until, ChildGuard};
use crate::server::{Kind, S3Server, Started};
use crate::tools::find_garage;

/// Name of the access key the harness creates; also what `key allow` refers to.
const KEY_NAME: &str = "trainctl-test";

/// Starts a fresh single-node Garage on free loopback ports, lays it out, creates an access key
/// that may create buckets, and waits until its S3 API serves that key.
///
/// Why: Garage is the strict, real-storage backend of the conformance suite (and of the
/// benchmarks); the harness sets it up the way an operator would, through its own CLI.
pub fn start_garage() -> Result<S3Server, String> {
    let bin = find_garage().ok_or(
        "garage binary not found ($GARAGE_BIN, ~/.cargo/bin/garage, PATH): run `make setup` \
         (cargo install garage --version 2.5.0 --locked)",
    )?;
    crate::process::with_port_retries(|| try_start(&bin))
}

/// The ports one Garage node listens on.
struct Ports {
    s3: u16,
    rpc: u16,
    admin: u16,
}

fn try_start(bin: &Path) -> Result<S3Server, String> {
    let dir = crate::process::server_dir("garage")?;
    let ports = Ports { s3: free_port(), rpc: free_port(), admin: free_port() };
    let conf = write_config(dir.path(), &ports)?;
    let log = dir.path().join("garage.log");
    let mut child = spawn_server(bin, &conf, &log)?;
    let admin = SocketAddr::from(([127, 0, 0, 1], ports.admin));
    let fail = |what: &str, child: &mut ChildGuard| {
        let status = child.exited().map(|s| format!(" (server exited: {s})")).unwrap_or_default();
        format!("garage {what}{status}:\n{}", log_tail(&log, 30))
    };
    if !wait_until(Duration::from_secs(60), || child.exited().is_some() || http_answers(admin, "/health")) {
        return Err(fail("admin API did not answer within 60 s", &mut child));
    }
    if child.exited().is_some() {
        return Err(fail("failed to start", &mut child));
    }
    let cli = Cli { bin: bin.to_path_buf(), conf };
    let (access_key, secret_key) = configure(&cli).map_err(|e| format!("{e}\n{}", fail("setup failed", &mut child)))?;
    let server = S3Server::from_started(Started {
        kind: Kind::Garage,
        addr: SocketAddr::from(([127, 0, 0, 1], ports.s3)),
        region: "garage".into(),
        access_key,
        secret_key,
        child,
        dir,
    });
    wait_for_s3(&server)?;
    Ok(server)
}

fn spawn_server(bin: &Path, conf: &Path, log: &Path) -> Result<ChildGuard, String> {
    let log_file = std::fs::File::create(log).map_err(|e| e.to_string())?;
    let mut cmd = Command::new(bin);
    cmd.arg("-c")
        .arg(conf)
        .arg("server")
        .env("RUST_LOG", "garage=warn")
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().map_err(|e| e.to_string())?)
        .stderr(log_file);
    spawn_guarded(cmd).map(ChildGuard).map_err(|e| format!("spawn {}: {e}", bin.display()))
}

/// Writes `garage.toml`: one replica, no compression (benchmarks move random bytes), loopback only.
fn write_config(dir: &Path, ports: &Ports) -> Result<PathBuf, String> {
    let text = format!(
        r#"metadata_dir = "{meta}"
data_dir = "{data}"
db_engine = "lmdb"
replication_factor = 1
compression_level = "none"
rpc_bind_addr = "127.0.0.1:{rpc}"
rpc_public_addr = "127.0.0.1:{rpc}"
rpc_secret = "{secret}"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:{s3}"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "127.0.0.1:{admin}"
admin_token = "{admin_token}"
"#,
        meta = dir.join("meta").display(),
        data = dir.join("data").display(),
        rpc = ports.rpc,
        s3 = ports.s3,
        admin = ports.admin,
        secret = random_hex(32)?,
        admin_token = random_hex(32)?,
    );
    let path = dir.join("garage.toml");
    std::fs::write(&path, text).map_err(|e| e.to_string())?;
    Ok(path)
}

/// `garage -c CONF ...`, the operator's CLI talking to our node over RPC.
struct Cli {
    bin: PathBuf,
    conf: PathBuf,
}

impl Cli {
    fn run(&self, args: &[&str]) -> Result<String, String> {
        let out = Command::new(&self.bin)
            .arg("-c")
            .arg(&self.conf)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("run garage {}: {e}", args.join(" ")))?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            return Err(format!("`garage {}` failed ({}): {stdout}{stderr}", args.join(" "), out.status));
        }
        Ok(stdout)
    }

    /// Retries while the node is still coming up (RPC not yet listening).
    fn run_retrying(&self, args: &[&str]) -> Result<String, String> {
        let mut last = Err(String::new());
        wait_until(Duration::from_secs(30), || {
            last = self.run(args);
            last.is_ok()
        });
        last
    }
}

/// Layout (one node, zone dc1, 1 GB), then a key with the right to create buckets.
fn configure(cli: &Cli) -> Result<(String, String), String> {
    let node = cli.run_retrying(&["node", "id", "-q"])?;
    let node_id = node.trim().split('@').next().unwrap_or_default().to_string();
    if node_id.is_empty() {
        return Err(format!("could not read the node id from `garage node id`: {node:?}"));
    }
    cli.run_retrying(&["layout", "assign", "-z", "dc1", "-c", "1G", &node_id])?;
    cli.run_retrying(&["layout", "apply", "--version", "1"])?;
    let key_info = cli.run_retrying(&["key", "create", KEY_NAME])?;
    let creds = parse_key_info(&key_info)?;
    cli.run_retrying(&["key", "allow", "--create-bucket", KEY_NAME])?;
    Ok(creds)
}

/// Reads `Key ID:` and `Secret key:` from `garage key create` output.
fn parse_key_info(text: &str) -> Result<(String, String), String> {
    let field = |label: &str| {
        text.lines().find_map(|line| {
            let (name, value) = line.split_once(':')?;
            (name.trim().eq_ignore_ascii_case(label)).then(|| value.trim().to_string())
        })
    };
    match (field("Key ID"), field("Secret key")) {
        (Some(id), Some(secret)) if !id.is_empty() && !secret.is_empty() => Ok((id, secret)),
        _ => Err(format!("could not read Key ID / Secret key from `garage key create`:\n{text}")),
    }
}

/// Waits until the S3 API accepts the new key (the layout takes a moment to be served).
fn wait_for_s3(server: &S3Server) -> Result<(), String> {
    let client = server.client_for(&server.endpoint_url());
    let mut last = String::new();
    let ok = wait_until(Duration::from_secs(30), || {
        let c = client.clone();
        match crate::runtime::run(async move { c.list_buckets().send().await }) {
            Ok(_) => true,
            Err(e) => {
                last = crate::server::fmt_err(&e);
                false
            }
        }
    });
    ok.then_some(()).ok_or_else(|| format!("garage S3 API not ready within 30 s: {last}"))
}

/// `n` random bytes as hex, from the kernel's generator.
fn random_hex(n: usize) -> Result<String, String> {
    use std::io::Read;
    let mut buf = vec![0u8; n];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .map_err(|e| format!("read /dev/urandom: {e}"))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_info_is_read_from_garage_output() {
        let out = "==== ACCESS KEY INFORMATION ====\nKey ID:              GK31c2f218a2e44f485b94239e\n\
                   Key name:            trainctl-test\nSecret key:          b892c0665f0ada8a4755dae98baa3b133590e11dae3bcc1f9d769d67f16c3835\n";
        let (id, secret) = parse_key_info(out).unwrap();
        assert_eq!(id, "GK31c2f218a2e44f485b94239e");
        assert!(secret.starts_with("b892c0"));
    }

    #[test]
    fn missing_key_fields_are_an_error_with_the_output() {
        let err = parse_key_info("nothing here").unwrap_err();
        assert!(err.contains("nothing here"));
    }
}
