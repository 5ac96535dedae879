//! Provider quirks as data: which S3-compatible stores need path-style addressing, which reject
//! the flexible checksums newer SDKs send by default, their usual region and endpoint shape.
//!
//! The facts live in `data/quirks/providers.toml` (with a source and date per row) so a change in
//! a provider is a data edit, not a code change. The rule on top: any non-AWS endpoint gets
//! path-style and `WhenRequired` checksums unless the profile says otherwise.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::OnceLock;

const PROVIDERS_TOML: &str = include_str!("../../data/quirks/providers.toml");

/// The quirks of one provider, one row of `providers.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quirks {
    /// Human name ("Cloudflare R2").
    pub name: String,
    pub path_style: bool,
    pub checksum_when_required: bool,
    pub default_region: String,
    /// How the endpoint URL usually looks, for `profile add` help and the desktop form.
    pub endpoint_hint: String,
    /// Host suffixes that identify this provider from an endpoint URL.
    #[serde(default)]
    pub host_suffixes: Vec<String>,
    pub supports_lifecycle: bool,
    /// The lifecycle actions the store executes when it supports only some: `transition`,
    /// `expiration`, `abort_multipart`, `noncurrent_expiration`. Empty = all of them.
    #[serde(default)]
    pub lifecycle_actions: Vec<String>,
    /// The store can send S3 Event Notifications to an SQS queue (`s3 watch --events`).
    #[serde(default = "yes")]
    pub sqs_notifications: bool,
    /// DeleteObject honours `If-Match: <etag>` (answers 412 when the object changed), so
    /// `sync --delete` can delete "only if unchanged" in one request. Absent = false: trainctl
    /// then HEADs each victim right before deleting it (a small window remains).
    #[serde(default)]
    pub conditional_delete: bool,
    /// PutObject honours `If-None-Match: *` (412 when the key exists): two-way sync creates a
    /// key "only if still absent" in one request. Absent = false: a HEAD right before the write.
    #[serde(default)]
    pub conditional_put: bool,
    /// PutObject honours `If-Match: <etag>` (412 when the object changed): two-way sync
    /// overwrites "only if unchanged since the snapshot". Absent = false: a HEAD right before.
    #[serde(default)]
    pub conditional_overwrite: bool,
    /// The checksum the native engine writes with every upload (`crc64nvme`, `crc32c`,
    /// `crc32`); `None`: the store is not known to keep one, so none is sent.
    #[serde(default)]
    pub upload_checksum: Option<String>,
    /// The stored checksums the store keeps and returns correctly (tested for moto and Garage).
    #[serde(default)]
    pub checksums_kept: Vec<String>,
    /// The store recomputes uploaded checksums and refuses a mismatch.
    #[serde(default)]
    pub verifies_checksums: bool,
    /// The store copies objects on the server (CopyObject, and UploadPartCopy above 5 GiB):
    /// `--dedup` sends a repeated file as a copy of the object that already holds its content.
    /// Absent = true (every store listed documents it); `false` makes `--dedup` upload
    /// everything (with a note).
    #[serde(default = "yes")]
    pub server_side_copy: bool,
    /// CopyObject honours `x-amz-copy-source-if-match` (412 when the source changed), so a
    /// `--dedup` copy is "only of the object whose hash was checked" in one request. Absent =
    /// false: a HEAD of the source right before the copy (a small window remains).
    #[serde(default)]
    pub conditional_copy: bool,
    /// Where the row's facts come from.
    pub source: String,
    /// When the row was last checked (YYYY-MM-DD).
    pub date: String,
}

impl Quirks {
    /// The checksum uploads write here ([`Quirks::upload_checksum`]), parsed.
    pub fn upload_algorithm(&self) -> Option<crate::transfer::checksum::Algorithm> {
        self.upload_checksum.as_deref().and_then(crate::transfer::checksum::Algorithm::parse)
    }

    /// True when the store executes lifecycle action `action` (see [`Quirks::lifecycle_actions`]).
    pub fn lifecycle_supports(&self, action: &str) -> bool {
        self.supports_lifecycle && (self.lifecycle_actions.is_empty() || self.lifecycle_actions.iter().any(|a| a == action))
    }
}

fn yes() -> bool {
    true
}

/// Provider id used when no endpoint is set: plain AWS.
pub const AWS: &str = "aws";
/// Provider id for any endpoint we do not recognise.
pub const OTHER: &str = "other";

/// All known providers keyed by id, parsed once from the embedded data file.
pub fn all() -> &'static BTreeMap<String, Quirks> {
    static TABLE: OnceLock<BTreeMap<String, Quirks>> = OnceLock::new();
    TABLE.get_or_init(|| toml::from_str(PROVIDERS_TOML).expect("data/quirks/providers.toml is valid (checked by a test)"))
}

/// The quirks of provider `id`, or `None` for an unknown id.
pub fn get(id: &str) -> Option<&'static Quirks> {
    all().get(id)
}

/// The quirks of provider `id`, falling back to `other` for unknown ids.
pub fn get_or_other(id: &str) -> &'static Quirks {
    get(id).unwrap_or_else(|| get(OTHER).expect("`other` row exists"))
}

/// Guesses the provider id from an endpoint URL; `None` means plain AWS (no endpoint).
/// Unknown hosts, localhost and IP addresses are `other` (path-style, WhenRequired).
pub fn detect(endpoint_url: Option<&str>) -> &'static str {
    let Some(url) = endpoint_url else { return AWS };
    let host = host_of(url).to_ascii_lowercase();
    for (id, q) in all() {
        if q.host_suffixes.iter().any(|s| host == *s || host.ends_with(&format!(".{s}"))) {
            return id.as_str();
        }
    }
    OTHER
}

/// The host part of an endpoint URL (`https://user@host:port/path` → `host`).
fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if let Some(v6) = host_port.strip_prefix('[') {
        return v6.split(']').next().unwrap_or("");
    }
    host_port.split(':').next().unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_file_parses_with_every_listed_provider() {
        for id in ["aws", "r2", "minio", "garage", "b2", "coreweave", "wasabi", "gcs-interop", "moto", "other"] {
            let q = get(id).unwrap_or_else(|| panic!("{id} missing"));
            assert!(!q.source.is_empty() && q.date.len() == 10, "{id} needs source and date");
        }
    }

    #[test]
    fn upload_checksums_are_crcs_the_store_keeps() {
        use crate::transfer::checksum::Algorithm;
        for (id, q) in all() {
            for kept in &q.checksums_kept {
                assert!(Algorithm::parse(kept).is_some_and(|a| a != Algorithm::Md5), "{id}: {kept}");
            }
            if let Some(name) = &q.upload_checksum {
                let a = q.upload_algorithm().unwrap_or_else(|| panic!("{id}: unknown upload_checksum {name}"));
                assert!(a.combinable(), "{id}: multipart uploads need a full-object CRC, not {a}");
                assert!(q.checksums_kept.contains(name), "{id}: writes {name} but does not keep it");
            }
        }
    }

    #[test]
    fn every_non_aws_provider_uses_when_required_checksums() {
        for (id, q) in all() {
            if id != AWS {
                assert!(q.checksum_when_required, "{id}");
            }
        }
    }

    #[test]
    fn detects_provider_from_endpoint_host() {
        assert_eq!(detect(None), "aws");
        assert_eq!(detect(Some("https://abc123.r2.cloudflarestorage.com")), "r2");
        assert_eq!(detect(Some("https://s3.us-west-004.backblazeb2.com/")), "b2");
        assert_eq!(detect(Some("https://s3.eu-central-1.wasabisys.com")), "wasabi");
        assert_eq!(detect(Some("https://storage.googleapis.com")), "gcs-interop");
        assert_eq!(detect(Some("https://s3.us-east-2.amazonaws.com")), "aws");
        assert_eq!(detect(Some("http://localhost:9000")), "other");
        assert_eq!(detect(Some("http://127.0.0.1:5000")), "other");
        assert_eq!(detect(Some("http://[::1]:3900")), "other");
    }

    #[test]
    fn unknown_provider_falls_back_to_path_style() {
        let q = get_or_other("no-such-provider");
        assert!(q.path_style && q.checksum_when_required);
    }
}
