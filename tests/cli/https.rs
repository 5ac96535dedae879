//! HTTPS through trainctl's own HTTP client (`s3::http`): a real TLS handshake against moto
//! serving a self-signed certificate. Trusted through `SSL_CERT_FILE`, a multipart upload and a
//! ranged download round-trip; not trusted, the command fails as a TLS error (exit 28) and leaves
//! no file. The other suites speak plain HTTP to their servers, so this is the one place the
//! TLS half of the client is exercised.

use crate::common::*;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A moto_server over TLS, killed when dropped.
struct TlsMoto {
    child: Child,
    port: u16,
}

impl Drop for TlsMoto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A self-signed certificate for `localhost` and 127.0.0.1 (`openssl`, part of every Debian).
fn self_signed(dir: &Path) {
    let status = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(dir.join("key.pem"))
        .arg("-out")
        .arg(dir.join("cert.pem"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl is needed for the HTTPS test");
    assert!(status.success(), "openssl req failed");
}

fn start(dir: &Path) -> TlsMoto {
    let bin = trainctl_testkit::tools::find_moto_server().expect("moto_server (make setup)");
    let port = trainctl_testkit::free_port();
    let log = std::fs::File::create(dir.join("moto.log")).unwrap();
    let child = Command::new(bin)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .arg("-c")
        .arg(dir.join("cert.pem"))
        .arg("-k")
        .arg(dir.join("key.pem"))
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("spawn moto_server");
    let moto = TlsMoto { child, port };
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(SocketAddr::from(([127, 0, 0, 1], port))).is_err() {
        assert!(Instant::now() < deadline, "moto_server over TLS did not listen within 60 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    moto
}

/// Creates `bucket` with a plain HTTPS PUT (moto does not check signatures), trusting `cert`.
fn create_bucket(port: u16, cert: &Path, bucket: &str) {
    let script = format!(
        "import ssl, urllib.request, time\n\
         ctx = ssl.create_default_context(cafile={cert:?})\n\
         for i in range(100):\n\
         \x20   try:\n\
         \x20       urllib.request.urlopen(urllib.request.Request('https://localhost:{port}/{bucket}', method='PUT'), context=ctx); break\n\
         \x20   except Exception as e:\n\
         \x20       if i == 99: raise\n\
         \x20       time.sleep(0.2)\n",
        cert = cert.display().to_string()
    );
    let status = Command::new("python3").args(["-c", &script]).status().expect("python3");
    assert!(status.success(), "could not create the bucket over HTTPS");
}

/// `trainctl` against the TLS server, with a private HOME; `cert` trusted when given.
fn trainctl_tls(port: u16, home: &Path, cert: Option<&Path>) -> Command {
    let mut cmd = trainctl_in(home);
    cmd.env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL", format!("https://localhost:{port}"));
    if let Some(cert) = cert {
        cmd.env("SSL_CERT_FILE", cert);
    }
    cmd
}

#[test]
fn https_round_trips_through_our_client_and_an_untrusted_certificate_is_a_tls_error() {
    let dir = scratch();
    self_signed(dir.path());
    let cert = dir.path().join("cert.pem");
    let moto = start(dir.path());
    create_bucket(moto.port, &cert, "tls");
    let home = new_home();

    // 40 MiB: a multipart upload (8 MiB parts) and a download in ranges, all over TLS.
    let src = dir.path().join("weights.bin");
    random_file(&src, 40 << 20);
    let mut up = trainctl_tls(moto.port, home.path(), Some(&cert));
    up.args(["-q", "s3", "upload"]).arg(&src).args(["s3://tls/run/weights.bin", "--engine", "native", "--part-size", "8"]);
    let out = run(&mut up);
    assert!(out.status.success(), "upload over HTTPS: {}", String::from_utf8_lossy(&out.stderr));
    let dest = dir.path().join("down.bin");
    let mut down = trainctl_tls(moto.port, home.path(), Some(&cert));
    down.args(["-q", "s3", "download", "s3://tls/run/weights.bin"]).arg(&dest).args(["--engine", "native", "--part-size", "8"]);
    let out = run(&mut down);
    assert!(out.status.success(), "download over HTTPS: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read(&dest).unwrap(), std::fs::read(&src).unwrap());

    // The same server, its certificate not trusted: a TLS error, nothing written.
    let untrusted = dir.path().join("untrusted.bin");
    let mut again = trainctl_tls(moto.port, home.path(), None);
    again.args(["s3", "download", "s3://tls/run/weights.bin"]).arg(&untrusted).args(["--engine", "native"]);
    let out = run(&mut again);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(28), "{stderr}");
    assert!(stderr.contains("TLS") && stderr.contains("certificate"), "{stderr}");
    assert!(!untrusted.exists());
}
