//! `s3://bucket/key` URLs, parsed once at the edge so the rest of the core handles a typed value.

use crate::error::{Error, Result};
use std::fmt;

/// A parsed `s3://bucket[/key]` URL. `key` may be empty (the whole bucket) or end in `/`
/// (a prefix). `s3://` alone (no bucket) is valid only for listing buckets: see [`S3Url::parse_any`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct S3Url {
    pub bucket: String,
    pub key: String,
}

impl S3Url {
    /// Parses a URL that must name a bucket.
    pub fn parse(s: &str) -> Result<Self> {
        match Self::parse_any(s)? {
            Some(u) => Ok(u),
            None => Err(bad(s, "a bucket name is required")),
        }
    }

    /// Parses `s3://` (returns `None`: all buckets) or `s3://bucket[/key]`.
    pub fn parse_any(s: &str) -> Result<Option<Self>> {
        let rest = s
            .strip_prefix("s3://")
            .or_else(|| s.strip_prefix("S3://"))
            .ok_or_else(|| bad(s, "it must start with s3://"))?;
        if rest.is_empty() {
            return Ok(None);
        }
        let (bucket, key) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, ""),
        };
        validate_bucket(s, bucket)?;
        if key.contains('\0') {
            return Err(bad(s, "the key contains a NUL byte"));
        }
        if key.len() > 1024 {
            return Err(bad(s, "keys are at most 1024 bytes"));
        }
        Ok(Some(S3Url { bucket: bucket.to_string(), key: key.to_string() }))
    }

    /// True when the key is empty or ends in `/`: the URL names a "directory".
    pub fn is_prefix(&self) -> bool {
        self.key.is_empty() || self.key.ends_with('/')
    }

    /// The key as a prefix (with a trailing `/` unless empty).
    pub fn dir_prefix(&self) -> String {
        if self.is_prefix() {
            self.key.clone()
        } else {
            format!("{}/", self.key)
        }
    }

    /// A new URL for `key` in the same bucket.
    pub fn with_key(&self, key: impl Into<String>) -> Self {
        S3Url { bucket: self.bucket.clone(), key: key.into() }
    }
}

impl fmt::Display for S3Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

impl std::str::FromStr for S3Url {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        S3Url::parse(s)
    }
}

fn bad(url: &str, reason: &str) -> Error {
    Error::BadUrl { url: url.to_string(), reason: reason.to_string() }
}

/// Bucket naming rules (S3's, relaxed to also accept the underscores and capitals some
/// S3-compatible stores allow for legacy buckets would be tempting; we follow AWS's rules
/// because a name outside them cannot be addressed virtual-host style anyway).
fn validate_bucket(url: &str, b: &str) -> Result<()> {
    if b.len() < 3 || b.len() > 63 {
        return Err(bad(url, "bucket names are 3 to 63 characters long"));
    }
    if !b.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.') {
        return Err(bad(url, "bucket names use only lowercase letters, digits, '.' and '-'"));
    }
    let first = b.chars().next().unwrap();
    let last = b.chars().last().unwrap();
    if !first.is_ascii_alphanumeric() || !last.is_ascii_alphanumeric() {
        return Err(bad(url, "bucket names start and end with a letter or digit"));
    }
    if b.contains("..") {
        return Err(bad(url, "bucket names have no two adjacent dots"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bucket_and_key() {
        let u = S3Url::parse("s3://my-bucket/runs/a/checkpoint-5/").unwrap();
        assert_eq!(u.bucket, "my-bucket");
        assert_eq!(u.key, "runs/a/checkpoint-5/");
        assert!(u.is_prefix());
        assert_eq!(u.to_string(), "s3://my-bucket/runs/a/checkpoint-5/");
    }

    #[test]
    fn bucket_only_is_a_prefix() {
        let u = S3Url::parse("s3://bucket").unwrap();
        assert_eq!(u.key, "");
        assert!(u.is_prefix());
        assert_eq!(u.dir_prefix(), "");
        assert_eq!(S3Url::parse("s3://bucket/x").unwrap().dir_prefix(), "x/");
    }

    #[test]
    fn rejects_malformed_urls() {
        for s in ["bucket/key", "http://b/k", "s3:/b", "s3://", "s3://AB/k", "s3://a/k", "s3://-ab/k", "s3://a..b/k", "s3://a_b/k"] {
            assert!(matches!(S3Url::parse(s), Err(Error::BadUrl { .. })), "{s} should be rejected");
        }
    }

    #[test]
    fn parse_any_accepts_root() {
        assert_eq!(S3Url::parse_any("s3://").unwrap(), None);
    }
}
