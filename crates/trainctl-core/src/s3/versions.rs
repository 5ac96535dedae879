//! Object versions of one key (versioned buckets): listed newest first, and an older version made
//! current again by copying it over the key — the newer versions stay, so a restore loses nothing
//! and can itself be undone.

use super::errors::SdkResultExt;
use super::Connection;
use crate::error::Result;
use serde::Serialize;

/// One version of a key.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ObjectVersion {
    pub key: String,
    /// `null` for the version written before versioning was enabled.
    pub version_id: Option<String>,
    pub is_latest: bool,
    /// A delete marker: the key looked deleted from this version on.
    pub delete_marker: bool,
    pub size: u64,
    pub etag: Option<String>,
    /// Seconds since the Unix epoch.
    pub last_modified: Option<i64>,
}

/// Every version (and delete marker) of exactly `key` — or, when `key` is a folder (`""` or
/// ending in `/`), of every key below it — newest first within each key.
pub async fn list_versions(conn: &Connection, bucket: &str, key: &str) -> Result<Vec<ObjectVersion>> {
    let folder = key.is_empty() || key.ends_with('/');
    let wanted = |k: Option<&str>| k.is_some_and(|k| if folder { k.starts_with(key) } else { k == key });
    let ctx = conn.ctx().bucket(bucket).key(key);
    let mut out = Vec::new();
    let (mut key_marker, mut version_marker): (Option<String>, Option<String>) = (None, None);
    loop {
        let page = conn
            .client
            .list_object_versions()
            .bucket(bucket)
            .prefix(key)
            .set_key_marker(key_marker.take())
            .set_version_id_marker(version_marker.take())
            .send()
            .await
            .or_s3(&ctx)?;
        for v in page.versions() {
            if wanted(v.key()) {
                out.push(ObjectVersion {
                    key: v.key().unwrap_or_default().to_string(),
                    version_id: v.version_id().filter(|id| *id != "null").map(str::to_string),
                    is_latest: v.is_latest() == Some(true),
                    delete_marker: false,
                    size: v.size().unwrap_or(0).max(0) as u64,
                    etag: v.e_tag().map(|e| e.trim_matches('"').to_string()),
                    last_modified: v.last_modified().map(|d| d.secs()),
                });
            }
        }
        for m in page.delete_markers() {
            if wanted(m.key()) {
                out.push(ObjectVersion {
                    key: m.key().unwrap_or_default().to_string(),
                    version_id: m.version_id().map(str::to_string),
                    is_latest: m.is_latest() == Some(true),
                    delete_marker: true,
                    size: 0,
                    etag: None,
                    last_modified: m.last_modified().map(|d| d.secs()),
                });
            }
        }
        // One key: keys sorting after it come once its versions are done; stop there instead of
        // paging every key that merely starts with it.
        let past = !folder && page.next_key_marker().is_some_and(|k| k != key);
        if page.is_truncated() != Some(true) || past {
            break;
        }
        key_marker = page.next_key_marker().map(str::to_string);
        version_marker = page.next_version_id_marker().map(str::to_string);
    }
    out.sort_by(|a, b| a.key.cmp(&b.key).then(b.is_latest.cmp(&a.is_latest)).then(b.last_modified.cmp(&a.last_modified)));
    Ok(out)
}

/// Makes `version_id` of `key` the current version again (a server-side copy onto the key).
/// Returns the new current version's id, when the bucket gives one.
pub async fn restore_version(conn: &Connection, bucket: &str, key: &str, version_id: &str) -> Result<Option<String>> {
    let source = format!("{bucket}/{}?versionId={}", encode_key(key), encode(version_id));
    let out = conn.client.copy_object().bucket(bucket).key(key).copy_source(source).send().await.or_s3(&conn.ctx().bucket(bucket).key(key))?;
    Ok(out.version_id().map(str::to_string))
}

/// A key in a copy source: every byte percent-encoded except `/` and the unreserved characters.
pub(crate) fn encode_key(key: &str) -> String {
    key.split('/').map(encode).collect::<Vec<_>>().join("/")
}

fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_sources_encode_awkward_keys_but_keep_slashes() {
        assert_eq!(encode_key("runs/a b/c#?%.pt"), "runs/a%20b/c%23%3F%25%2Ept");
        assert_eq!(encode_key("ünï/x"), "%C3%BCn%C3%AF/x");
    }
}
