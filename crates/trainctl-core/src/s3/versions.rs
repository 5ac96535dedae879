//! Object versions of one key (versioned buckets), or streamed for a whole prefix: listed newest first, and an older version made
//! current again by copying it over the key — the newer versions stay, so a restore loses nothing
//! and can itself be undone.

use super::errors::SdkResultExt;
use super::Connection;
use crate::error::Result;
use futures::stream::{self, BoxStream};
use futures::{StreamExt, TryStreamExt};
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
    let mut out = Vec::new();
    let mut markers = Some((None, None));
    while let Some(m) = markers {
        let (page, next, past) = version_page(conn, bucket, key, folder, m).await?;
        out.extend(page);
        // One key: keys sorting after it come once its versions are done; stop there instead of
        // paging every key that merely starts with it.
        markers = next.filter(|_| !past);
    }
    out.sort_by(newest_first);
    Ok(out)
}

/// Key order, then the latest first, then newer first.
fn newest_first(a: &ObjectVersion, b: &ObjectVersion) -> std::cmp::Ordering {
    a.key.cmp(&b.key).then(b.is_latest.cmp(&a.is_latest)).then(b.last_modified.cmp(&a.last_modified))
}

/// Every version under the folder `prefix`, streamed one ListObjectVersions page at a time (a
/// page in memory, never the whole listing): keys in order, and within a page a key's versions
/// newest first. A key's versions may run over two pages, but its latest comes first, so the
/// current objects alone are strictly sorted.
pub fn version_stream(conn: &Connection, bucket: &str, prefix: &str) -> BoxStream<'static, Result<ObjectVersion>> {
    let (conn, bucket, prefix) = (conn.clone(), bucket.to_string(), prefix.to_string());
    let pages = stream::try_unfold(Some((None, None)), move |markers| {
        let (conn, bucket, prefix) = (conn.clone(), bucket.clone(), prefix.clone());
        async move {
            let Some(m) = markers else { return Ok(None) };
            let (mut page, next, _) = version_page(&conn, &bucket, &prefix, true, m).await?;
            page.sort_by(newest_first);
            Ok(Some((page, next)))
        }
    });
    pages.map_ok(|page| stream::iter(page.into_iter().map(Ok))).try_flatten().boxed()
}

type Markers = (Option<String>, Option<String>);

/// One ListObjectVersions page of `key` (a folder, or exactly that key): its versions and delete
/// markers, the markers of the next page if any, and whether the page went past a single key.
async fn version_page(conn: &Connection, bucket: &str, key: &str, folder: bool, (key_marker, version_marker): Markers) -> Result<(Vec<ObjectVersion>, Option<Markers>, bool)> {
    let wanted = |k: Option<&str>| k.is_some_and(|k| if folder { k.starts_with(key) } else { k == key });
    let ctx = conn.ctx().bucket(bucket).key(key);
    let page = conn.client.list_object_versions().bucket(bucket).prefix(key).set_key_marker(key_marker).set_version_id_marker(version_marker).send().await.or_s3(&ctx)?;
    let mut out = Vec::new();
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
    let past = !folder && page.next_key_marker().is_some_and(|k| k != key);
    let next = (page.is_truncated() == Some(true)).then(|| (page.next_key_marker().map(str::to_string), page.next_version_id_marker().map(str::to_string)));
    Ok((out, next, past))
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
