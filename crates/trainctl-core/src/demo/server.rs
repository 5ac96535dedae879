//! The in-process S3 endpoint of the demo: s3s + s3s-fs over a folder, on 127.0.0.1.

use super::{DEMO_ACCESS_KEY, DEMO_REGION, DEMO_SECRET_KEY};
use crate::error::{Error, Result};
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// A running demo S3 server. Dropping it (or [`DemoServer::stop`]) stops accepting connections.
pub struct DemoServer {
    addr: SocketAddr,
    root: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    /// The lock on the temp folder's [`OWNER_LOCK`], held while the server lives.
    _owner: Option<std::fs::File>,
    stop: CancellationToken,
}

/// In a temp demo folder: the file a live server holds an exclusive lock on. A killed process
/// (an app closed by SIGKILL, a test harness stopping it) runs no destructor and leaves its
/// ~100 MB folder behind; the lock is released by the kernel, so the next demo knows the folder
/// is nobody's and removes it.
const OWNER_LOCK: &str = "owner.lock";

/// Removes temp demo folders whose owner is gone (their lock can be taken). Folders younger than
/// a minute are left alone: their server may be between creating the lock file and locking it.
fn sweep_orphans() {
    let Ok(dir) = std::fs::read_dir(std::env::temp_dir()) else { return };
    for e in dir.flatten() {
        if !e.file_name().to_string_lossy().starts_with("trainctl-demo") || !e.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let Ok(f) = std::fs::File::open(e.path().join(OWNER_LOCK)) else { continue };
        let young = f.metadata().and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok()).is_none_or(|age| age.as_secs() < 60);
        if !young && rustix::fs::flock(&f, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_ok() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// A new temp demo folder (`trainctl-demoXXXX/data/` is served) and the held lock that says it
/// is in use.
fn temp_root() -> Result<(PathBuf, tempfile::TempDir, std::fs::File)> {
    sweep_orphans();
    let t = tempfile::Builder::new().prefix("trainctl-demo").tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))?;
    let lock_path = t.path().join(OWNER_LOCK);
    let lock = std::fs::File::create(&lock_path).map_err(|e| Error::io(&lock_path, e))?;
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockExclusive).map_err(|e| Error::io(&lock_path, e.into()))?;
    let root = t.path().join("data");
    std::fs::create_dir(&root).map_err(|e| Error::io(&root, e))?;
    Ok((root, t, lock))
}

impl DemoServer {
    /// Binds 127.0.0.1:`port` (0 = free port) and serves `data_dir` (a new temp dir if `None`).
    pub async fn start(data_dir: Option<PathBuf>, port: u16) -> Result<DemoServer> {
        let (root, tmp, owner) = match data_dir {
            Some(d) => {
                std::fs::create_dir_all(&d).map_err(|e| Error::io(&d, e))?;
                (d, None, None)
            }
            None => {
                let (root, t, lock) = temp_root()?;
                (root, Some(t), Some(lock))
            }
        };
        let fs = s3s_fs::FileSystem::new(&root).map_err(|e| Error::Internal(format!("demo storage: {e:?}")))?;
        let mut builder = S3ServiceBuilder::new(fs);
        builder.set_auth(SimpleAuth::from_single(DEMO_ACCESS_KEY, DEMO_SECRET_KEY));
        let service = builder.build();
        let listener = TcpListener::bind(("127.0.0.1", port)).await.map_err(|e| Error::Unreachable {
            endpoint: format!("127.0.0.1:{port}"),
            reason: format!("cannot listen: {e}"),
        })?;
        let addr = listener.local_addr().map_err(|e| Error::Internal(e.to_string()))?;
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        tokio::spawn(async move {
            let http = ConnBuilder::new(TokioExecutor::new());
            loop {
                let socket = tokio::select! {
                    r = listener.accept() => match r { Ok((s, _)) => s, Err(_) => continue },
                    _ = stopped.cancelled() => break,
                };
                let conn = http.serve_connection(TokioIo::new(socket), service.clone()).into_owned();
                let stopped = stopped.clone();
                tokio::spawn(async move {
                    tokio::select! { _ = conn => {}, _ = stopped.cancelled() => {} }
                });
            }
        });
        Ok(DemoServer { addr, root, _tmp: tmp, _owner: owner, stop })
    }

    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn data_dir(&self) -> &Path {
        &self.root
    }

    /// A client for the demo server (path-style, checksums only when required).
    pub fn client(&self) -> aws_sdk_s3::Client {
        let conf = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(DEMO_REGION))
            .endpoint_url(self.endpoint_url())
            .credentials_provider(Credentials::new(DEMO_ACCESS_KEY, DEMO_SECRET_KEY, None, None, "trainctl-demo"))
            .force_path_style(true)
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }

    pub fn stop(&self) {
        self.stop.cancel();
    }
}

impl Drop for DemoServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
