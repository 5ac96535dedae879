//! A `moto_server` that enforces IAM policies, for tests of what trainctl does when a call is
//! denied (a review that may list objects but not versions or multipart uploads).
//!
//! Why a separate instance: moto checks policies only when started with
//! `INITIAL_NO_AUTH_ACTION_COUNT=<n>`: the first n requests are let through unchecked (they
//! create the IAM users here), every later request is checked against its caller's policies. The
//! shared moto of the suites accepts any key and must stay that way.
//!
//! Verified with moto 5.2 (2026-11-29): with the policy below, ListObjectVersions and
//! ListMultipartUploads answer 403 `AccessDenied` and ListObjectsV2 succeeds. moto names the
//! HeadBucket action `s3:HeadBucket` (AWS checks `s3:ListBucket` for it), so the policy allows
//! both.
//!
//! One moto bug is worked around: in server mode its signature check rebuilds the canonical
//! query string from the *decoded* URL, so every request with a `/` in a query value
//! (`prefix=runs/`, `delimiter=/`: every listing trainctl makes) fails with
//! `SignatureDoesNotMatch` (getmoto/moto#5948, open). The server is therefore started through
//! [`LAUNCHER`], which re-encodes the query values (RFC 3986, as SigV4 signs them) before moto
//! checks the signature. Policies are enforced exactly as moto does it.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

use crate::process::log_tail;
use crate::server::{Kind, S3Server, Started};
use crate::tools::find_moto_server;

/// A policy that may list and read objects (and read the versioning status) but is denied the
/// listings of hidden bytes: ListObjectVersions and ListMultipartUploads.
pub const DENY_HIDDEN_LISTINGS_POLICY: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    { "Effect": "Allow",
      "Action": ["s3:ListBucket", "s3:GetObject", "s3:HeadBucket", "s3:ListAllMyBuckets", "s3:GetBucketVersioning", "s3:GetBucketLocation"],
      "Resource": "*" },
    { "Effect": "Deny",
      "Action": ["s3:ListBucketVersions", "s3:ListBucketMultipartUploads"],
      "Resource": "*" }
  ]
}"#;

/// Starts `moto.server.main` with the signature check fed a properly encoded query string
/// (see the module doc). Arguments are moto_server's.
const LAUNCHER: &str = r#"
import sys
from urllib.parse import quote, unquote
import moto.iam.access_control as ac

_init = ac.IAMRequestBase.__init__

def _init_encoded(self, account_id, method, path, data, body, headers, action):
    base, _, query = path.partition("?")
    if query:
        pairs = [p.partition("=") for p in query.split("&")]
        enc = lambda x: quote(unquote(x), safe="-_.~")
        path = base + "?" + "&".join(enc(k) + "=" + enc(v) for k, _, v in pairs)
    _init(self, account_id, method, path, data, body, headers, action)

ac.IAMRequestBase.__init__ = _init_encoded
from moto.server import main
main(sys.argv[1:])
"#;

/// The Python that runs moto: the interpreter of the `moto_server` script when it names one
/// (a virtualenv install), else `python3` on PATH (a pyenv shim resolves to the same version).
fn moto_python(bin: &std::path::Path) -> std::path::PathBuf {
    let text = std::fs::read(bin).unwrap_or_default();
    let first = String::from_utf8_lossy(&text[..text.len().min(200)]).lines().next().unwrap_or_default().to_string();
    match first.strip_prefix("#!") {
        Some(interp) if interp.contains("python") && !interp.contains("env ") => interp.trim().into(),
        _ => "python3".into(),
    }
}

/// Everything on the admin user (bucket setup by the test).
const ADMIN_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:*","iam:*"],"Resource":"*"}]}"#;

/// IAM calls made before enforcement starts: 3 per user (CreateUser, PutUserPolicy,
/// CreateAccessKey) for the admin and the restricted user.
const SETUP_ACTIONS: u32 = 6;

/// A policy-enforcing moto: `server` carries the admin's keys (full S3 access, for setting up
/// buckets), `user_*` the keys of the user the policy restricts.
pub struct PolicyMoto {
    pub server: S3Server,
    pub user_access_key: String,
    pub user_secret_key: String,
}

impl PolicyMoto {
    /// The environment of a `trainctl` child acting as the restricted user: the server's
    /// environment with the user's keys.
    pub fn user_env(&self) -> Vec<(String, String)> {
        self.server
            .env()
            .into_iter()
            .map(|(k, v)| match k.as_str() {
                "AWS_ACCESS_KEY_ID" => (k, self.user_access_key.clone()),
                "AWS_SECRET_ACCESS_KEY" => (k, self.user_secret_key.clone()),
                _ => (k, v),
            })
            .collect()
    }
}

/// Starts a fresh policy-enforcing moto on a free port with an admin user and one user
/// restricted by `policy_json` (an IAM policy document, e.g. [`DENY_HIDDEN_LISTINGS_POLICY`]).
pub fn start_moto_with_policy(policy_json: &str) -> Result<PolicyMoto, String> {
    let bin = find_moto_server().ok_or("moto_server not found on PATH: run `make setup` (pip install 'moto[server]')")?;
    crate::process::with_port_retries(|| try_start(&bin, policy_json))
}

fn try_start(bin: &std::path::Path, policy_json: &str) -> Result<PolicyMoto, String> {
    let crate::moto::Launched { child, addr, dir, log } = crate::moto::launch("moto-iam", |port| {
        let mut cmd = Command::new(moto_python(bin));
        cmd.args(["-c", LAUNCHER, "-H", "127.0.0.1", "-p", &port.to_string()])
            .env("INITIAL_NO_AUTH_ACTION_COUNT", SETUP_ACTIONS.to_string())
            .env("PYTHONUNBUFFERED", "1");
        cmd
    })?;
    let setup = |what: &str, e: String| format!("IAM setup ({what}) on {addr}: {e}\n{}", log_tail(&log, 20));
    let (admin_key, admin_secret) = create_user(addr, "trainctl-admin", ADMIN_POLICY).map_err(|e| setup("admin", e))?;
    let (user_key, user_secret) = create_user(addr, "trainctl-restricted", policy_json).map_err(|e| setup("restricted user", e))?;
    let server = S3Server::from_started(Started {
        kind: Kind::Moto,
        addr,
        region: "us-east-1".into(),
        access_key: admin_key,
        secret_key: admin_secret,
        child,
        dir,
    });
    Ok(PolicyMoto { server, user_access_key: user_key, user_secret_key: user_secret })
}

/// CreateUser + PutUserPolicy + CreateAccessKey; returns the user's (key id, secret).
fn create_user(addr: SocketAddr, name: &str, policy_json: &str) -> Result<(String, String), String> {
    iam_call(addr, &[("Action", "CreateUser"), ("UserName", name)])?;
    iam_call(addr, &[("Action", "PutUserPolicy"), ("UserName", name), ("PolicyName", "trainctl-test"), ("PolicyDocument", policy_json)])?;
    let body = iam_call(addr, &[("Action", "CreateAccessKey"), ("UserName", name)])?;
    match (xml_text(&body, "AccessKeyId"), xml_text(&body, "SecretAccessKey")) {
        (Some(k), Some(s)) => Ok((k, s)),
        _ => Err(format!("CreateAccessKey answered without keys: {body}")),
    }
}

/// One IAM query-API call (form-encoded POST). These are the unauthenticated setup actions, so
/// the signature is a placeholder; the credential scope tells moto the service is IAM.
fn iam_call(addr: SocketAddr, params: &[(&str, &str)]) -> Result<String, String> {
    let body: String = params.iter().chain([("Version", "2010-05-08")].iter()).map(|(k, v)| format!("{k}={}", form_encode(v))).collect::<Vec<_>>().join("&");
    let send = || -> io::Result<String> {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        write!(
            s,
            "POST / HTTP/1.0\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded; charset=utf-8\r\n\
             Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0\r\n\
             X-Amz-Date: 20260101T000000Z\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )?;
        let mut out = String::new();
        s.read_to_string(&mut out)?;
        Ok(out)
    };
    let reply = send().map_err(|e| format!("{}: {e}", params[0].1))?;
    let ok = reply.lines().next().is_some_and(|status| status.contains(" 200 "));
    if ok {
        Ok(reply)
    } else {
        Err(format!("{} answered: {}", params[0].1, reply.chars().take(600).collect::<String>()))
    }
}

/// `application/x-www-form-urlencoded` value encoding.
fn form_encode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The text of the first `<tag>…</tag>`.
fn xml_text(xml: &str, tag: &str) -> Option<String> {
    let start = xml.find(&format!("<{tag}>"))? + tag.len() + 2;
    let end = xml[start..].find(&format!("</{tag}>"))? + start;
    Some(xml[start..end].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_policies_and_reads_keys() {
        assert_eq!(form_encode(r#"{"a": "s3:*"}"#), "%7B%22a%22%3A%20%22s3%3A%2A%22%7D");
        assert_eq!(xml_text("<R><AccessKeyId>AK</AccessKeyId></R>", "AccessKeyId").as_deref(), Some("AK"));
        assert_eq!(xml_text("<R/>", "AccessKeyId"), None);
    }
}
