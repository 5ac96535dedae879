//! Starting `moto_server` (from `pip install 'moto[server]'`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::process::{free_port, http_answers, log_tail, spawn_guarded, wait_until, ChildGuard};
use crate::server::{Kind, S3Server, Started};
use crate::tools::find_moto_server;

/// Starts a fresh `moto_server` on a free loopback port and waits until it answers HTTP.
///
/// Why: moto is the fast, permissive backend of the conformance suite; any key/secret is
/// accepted. Retries on a new port if another process grabbed the chosen one.
pub fn start_moto() -> Result<S3Server, String> {
    let bin = find_moto_server()
        .ok_or("moto_server not found on PATH: run `make setup` (pip install 'moto[server]')")?;
    crate::process::with_port_retries(|| try_start(&bin))
}

fn try_start(bin: &std::path::Path) -> Result<S3Server, String> {
    let m = launch("moto", |port| {
        let mut cmd = Command::new(bin);
        cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
        cmd
    })?;
    Ok(S3Server::from_started(Started {
        kind: Kind::Moto,
        addr: m.addr,
        region: "us-east-1".into(),
        access_key: "testing".into(),
        secret_key: "testing".into(),
        child: m.child,
        dir: m.dir,
    }))
}

/// A moto process that answers HTTP on a free loopback port, with its log in its own directory.
pub(crate) struct Launched {
    pub child: ChildGuard,
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
    pub log: PathBuf,
}

/// Spawns the command `command(port)` builds (output to `<dir>/moto.log`) and waits until it
/// answers on `/moto-api/`: what the plain and the policy-enforcing moto share.
pub(crate) fn launch(kind: &str, command: impl FnOnce(u16) -> Command) -> Result<Launched, String> {
    let dir = crate::process::server_dir(kind)?;
    let log = dir.path().join("moto.log");
    let log_file = std::fs::File::create(&log).map_err(|e| e.to_string())?;
    let port = free_port();
    let mut cmd = command(port);
    let program = cmd.get_program().to_string_lossy().into_owned();
    cmd.stdin(Stdio::null()).stdout(log_file.try_clone().map_err(|e| e.to_string())?).stderr(log_file);
    let child = spawn_guarded(cmd).map_err(|e| format!("spawn {program}: {e}"))?;
    let mut child = ChildGuard(child);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let answered = wait_until(Duration::from_secs(60), || child.exited().is_some() || http_answers(addr, "/moto-api/"));
    if let Some(status) = child.exited() {
        return Err(format!("moto_server exited ({status}):\n{}", log_tail(&log, 20)));
    }
    if !answered {
        return Err(format!("moto_server on {addr} did not answer within 60 s:\n{}", log_tail(&log, 20)));
    }
    Ok(Launched { child, addr, dir, log })
}
