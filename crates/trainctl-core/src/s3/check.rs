//! The cheap connection test behind `trainctl profile test` and the desktop app's "Test"
//! buttons: one call, explained in plain words.

use super::client::{endpoint_display, Connection};
use crate::config::ResolvedProfile;
use crate::error::{Error, ErrorInfo, Result};
use serde::Serialize;
use std::time::Instant;

/// The outcome of [`test_connection`]: serializable so the CLI prints it with `--json` and the
/// desktop app shows it in its profile form.
#[derive(Debug, Clone, Serialize)]
pub struct TestReport {
    pub profile: ResolvedProfile,
    pub endpoint: String,
    /// The call that was made: `list_buckets` or `head_bucket`.
    pub check: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    pub ok: bool,
    /// Number of buckets visible (for `list_buckets`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub buckets: Option<usize>,
    pub elapsed_ms: u64,
    /// One plain sentence: what worked, or what is wrong.
    pub diagnosis: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorInfo>,
}

/// Makes one cheap call (ListBuckets, or HeadBucket when `bucket` is given) and explains the result.
pub async fn test_connection(profile: &ResolvedProfile, bucket: Option<&str>) -> TestReport {
    let started = Instant::now();
    let result = match Connection::open(profile).await {
        Ok(conn) => run_check(&conn, bucket).await,
        Err(e) => Err(e),
    };
    let (ok, buckets, error) = match result {
        Ok(n) => (true, n, None),
        Err(e) => (false, None, Some(e)),
    };
    TestReport {
        profile: profile.clone(),
        endpoint: endpoint_display(profile),
        check: if bucket.is_some() { "head_bucket" } else { "list_buckets" }.to_string(),
        bucket: bucket.map(str::to_string),
        ok,
        buckets,
        elapsed_ms: started.elapsed().as_millis() as u64,
        diagnosis: diagnose(error.as_ref(), bucket),
        error: error.map(|e| e.info()),
    }
}

async fn run_check(conn: &Connection, bucket: Option<&str>) -> Result<Option<usize>> {
    match bucket {
        Some(b) => super::list::check_bucket(conn, b).await.map(|_| None),
        None => super::list::list_buckets(conn).await.map(|v| Some(v.len())),
    }
}

/// A plain-words diagnosis of a connection test's outcome.
pub fn diagnose(error: Option<&Error>, bucket: Option<&str>) -> String {
    let Some(e) = error else {
        return match bucket {
            Some(b) => format!("OK: the endpoint answers, the credentials are accepted and bucket `{b}` is reachable"),
            None => "OK: the endpoint answers and the credentials are accepted".to_string(),
        };
    };
    match e {
        Error::Dns(_) => "DNS: the endpoint's host name does not resolve; check its spelling and your network".into(),
        Error::Unreachable { reason, .. } => format!("Cannot connect ({reason}): the server is down, the port is wrong, or a firewall is in the way"),
        Error::Tls { .. } => "TLS failed: check http:// vs https:// in the endpoint URL and the server's certificate".into(),
        Error::BadAccessKey => "Bad access key: the server does not know this access key id".into(),
        Error::BadSecret => "Bad secret: the access key id is known but the secret key is wrong".into(),
        Error::AccessDenied(_) => "No permission: the credentials are valid but may not make this call (ask for s3:ListAllMyBuckets, or test with --bucket)".into(),
        Error::NoCredentials(_) => "No credentials: nothing in the profile, keychain, environment or ~/.aws supplied a key".into(),
        Error::NoSuchBucket(b) => format!("The endpoint and credentials work, but bucket `{b}` does not exist"),
        other => format!("Failed: {other}"),
    }
}
