//! Share links: a presigned GET of one object, valid for a chosen time (at most 7 days, S3's own
//! limit for SigV4). The link is signed locally with the connection's credentials — no request is
//! made — so it lives only as long as they do: temporary (STS, SSO) credentials end it early, and
//! the link says when.

use super::Connection;
use crate::error::{Error, Result};
use aws_credential_types::provider::ProvideCredentials;
use aws_sdk_s3::presigning::PresigningConfig;
use serde::Serialize;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The longest a SigV4 presigned URL can be valid.
pub const MAX_EXPIRY: Duration = Duration::from_secs(7 * 24 * 3600);

/// A presigned download link.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShareLink {
    pub url: String,
    /// When the link stops working (seconds since the Unix epoch): the requested time, or the
    /// credentials' own expiry when that comes first.
    pub expires_at: i64,
    /// The credentials are temporary (a session token): the link dies with them.
    pub temporary_credentials: bool,
    /// What the user should know about the link, in words (`null` when nothing).
    pub warning: Option<String>,
}

/// Presigns a GET of `bucket/key` valid for `expires_in` (1 s to 7 days).
pub async fn share_link(conn: &Connection, bucket: &str, key: &str, expires_in: Duration) -> Result<ShareLink> {
    if expires_in.is_zero() || expires_in > MAX_EXPIRY {
        return Err(Error::Usage(format!("a share link lasts from 1 second to 7 days (asked: {})", humantime::format_duration(expires_in))));
    }
    if key.is_empty() || key.ends_with('/') {
        return Err(Error::Usage(format!("s3://{bucket}/{key} is a folder: a share link names one object")));
    }
    let no_signer = || Error::NoCredentials(": a share link is signed with your credentials, and this connection has none (anonymous)".into());
    let provider = conn.credentials.clone().ok_or_else(no_signer)?;
    let creds = provider.provide_credentials().await.map_err(|_| no_signer())?;
    let now = SystemTime::now();
    let wanted = now + expires_in;
    let (ends, temporary) = match creds.expiry() {
        Some(cred_end) if cred_end < wanted => (cred_end, true),
        Some(_) => (wanted, true),
        None => (wanted, creds.session_token().is_some()),
    };
    let config = PresigningConfig::expires_in(expires_in).map_err(|e| Error::Usage(e.to_string()))?;
    let req = conn.client.get_object().bucket(bucket).key(key).presigned(config).await.map_err(|e| Error::Internal(format!("presigning: {e}")))?;
    let expires_at = ends.duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    let warning = match (temporary, ends < wanted) {
        (true, true) => Some(format!(
            "these credentials are temporary and expire in {}: the link stops working then, not in {}",
            humantime::format_duration(Duration::from_secs(ends.duration_since(now).map(|d| d.as_secs()).unwrap_or(0))),
            humantime::format_duration(expires_in)
        )),
        (true, false) => Some("these credentials are temporary (a session token): if they are revoked or end early, the link stops working".into()),
        _ => None,
    };
    Ok(ShareLink { url: req.uri().to_string(), expires_at, temporary_credentials: temporary, warning })
}
