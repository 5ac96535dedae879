//! Listing: streaming ListObjectsV2 pages as [`ObjectEntry`] values (never a Vec of a whole bucket
//! unless the caller collects one), bucket listing, HeadObject and HeadBucket.

use super::client::Connection;
use super::errors::SdkResultExt;
use crate::error::Result;
use futures::stream::BoxStream;
use futures::{stream, StreamExt, TryStreamExt};
use serde::Serialize;

/// One object (or, with a delimiter, one common prefix) from a listing.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ObjectEntry {
    pub key: String,
    pub size: u64,
    /// Seconds since the Unix epoch.
    pub last_modified: Option<i64>,
    pub etag: Option<String>,
    pub storage_class: Option<String>,
    /// True for a common prefix ("directory") returned when listing with a delimiter.
    pub is_prefix: bool,
}

impl ObjectEntry {
    fn prefix(key: String) -> Self {
        ObjectEntry { key, size: 0, last_modified: None, etag: None, storage_class: None, is_prefix: true }
    }
}

/// One bucket visible to the credentials.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BucketEntry {
    pub name: String,
    /// Seconds since the Unix epoch.
    pub created: Option<i64>,
}

/// The buckets the credentials can see (ListBuckets).
pub async fn list_buckets(conn: &Connection) -> Result<Vec<BucketEntry>> {
    let out = conn.client.list_buckets().send().await.or_s3(&conn.ctx())?;
    Ok(out
        .buckets()
        .iter()
        .map(|b| BucketEntry { name: b.name().unwrap_or_default().to_string(), created: b.creation_date().map(|d| d.secs()) })
        .collect())
}

/// Streams every object under `prefix` (and, with a `delimiter`, the common prefixes), one
/// ListObjectsV2 page in memory at a time. Entries of a page come in key order. Boxed so it is
/// `Unpin + Send + 'static`: callers can `.next().await` it and move it into tasks.
pub fn list_objects(conn: &Connection, bucket: &str, prefix: &str, delimiter: Option<&str>) -> BoxStream<'static, Result<ObjectEntry>> {
    let (conn, bucket, prefix, delimiter) = (conn.clone(), bucket.to_string(), prefix.to_string(), delimiter.map(str::to_string));
    let pages = stream::try_unfold(Some(None::<String>), move |token| {
        let (conn, bucket, prefix, delimiter) = (conn.clone(), bucket.clone(), prefix.clone(), delimiter.clone());
        async move {
            let Some(token) = token else { return Ok(None) };
            let (entries, next) = list_page(&conn, &bucket, &prefix, delimiter.as_deref(), token).await?;
            Ok(Some((entries, next.map(Some))))
        }
    });
    pages.map_ok(|entries| stream::iter(entries.into_iter().map(Ok))).try_flatten().boxed()
}

/// One ListObjectsV2 page (objects and, with a delimiter, common prefixes, in key order) and the
/// continuation token of the next, if any.
pub async fn list_page(conn: &Connection, bucket: &str, prefix: &str, delimiter: Option<&str>, token: Option<String>) -> Result<(Vec<ObjectEntry>, Option<String>)> {
    let mut req = conn.client.list_objects_v2().bucket(bucket).set_continuation_token(token);
    if !prefix.is_empty() {
        req = req.prefix(prefix);
    }
    if let Some(d) = delimiter {
        req = req.delimiter(d);
    }
    let out = req.send().await.or_s3(&conn.ctx().bucket(bucket))?;
    let mut entries: Vec<ObjectEntry> = out.contents().iter().map(object_entry).collect();
    entries.extend(out.common_prefixes().iter().filter_map(|p| p.prefix()).map(|p| ObjectEntry::prefix(p.to_string())));
    entries.sort_by(|a, b| a.key.cmp(&b.key));
    let next = if out.is_truncated() == Some(true) { out.next_continuation_token().map(str::to_string) } else { None };
    Ok((entries, next))
}

fn object_entry(o: &aws_sdk_s3::types::Object) -> ObjectEntry {
    ObjectEntry {
        key: o.key().unwrap_or_default().to_string(),
        size: o.size().unwrap_or(0).max(0) as u64,
        last_modified: o.last_modified().map(|d| d.secs()),
        etag: o.e_tag().map(trim_etag),
        storage_class: o.storage_class().map(|s| s.as_str().to_string()),
        is_prefix: false,
    }
}

fn trim_etag(e: &str) -> String {
    e.trim_matches('"').to_string()
}

/// Size, mtime, ETag and storage class of one object (HeadObject); a missing key is `NotFound`.
pub async fn head_object(conn: &Connection, bucket: &str, key: &str) -> Result<ObjectEntry> {
    let out = conn.client.head_object().bucket(bucket).key(key).send().await.or_s3(&conn.ctx().bucket(bucket).key(key))?;
    Ok(ObjectEntry {
        key: key.to_string(),
        size: out.content_length().unwrap_or(0).max(0) as u64,
        last_modified: out.last_modified().map(|d| d.secs()),
        etag: out.e_tag().map(trim_etag),
        storage_class: out.storage_class().map(|s| s.as_str().to_string()),
        is_prefix: false,
    })
}

/// Checks that `bucket` exists and is accessible (HeadBucket): `NoSuchBucket` / `AccessDenied`
/// before any real work starts.
pub async fn check_bucket(conn: &Connection, bucket: &str) -> Result<()> {
    conn.client.head_bucket().bucket(bucket).send().await.or_s3(&conn.ctx().bucket(bucket))?;
    Ok(())
}

/// Drains a listing into a Vec, for callers (and tests) that know the listing is small.
pub async fn collect_objects(conn: &Connection, bucket: &str, prefix: &str, delimiter: Option<&str>) -> Result<Vec<ObjectEntry>> {
    list_objects(conn, bucket, prefix, delimiter).try_collect().await
}

/// One multipart upload started and not yet completed or aborted: invisible to a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadEntry {
    pub key: String,
    pub upload_id: String,
    /// When it was started (seconds since the epoch), when the server says.
    pub initiated: Option<i64>,
}

/// Every incomplete multipart upload under `prefix` (ListMultipartUploads, all pages). Kept in
/// memory: there are few (each is a started and never finished upload), unlike objects. Keys a
/// non-compliant server returns outside the prefix are dropped.
pub async fn list_multipart_uploads(conn: &Connection, bucket: &str, prefix: &str) -> Result<Vec<UploadEntry>> {
    let mut out = Vec::new();
    let mut markers: (Option<String>, Option<String>) = (None, None);
    loop {
        let mut req = conn.client.list_multipart_uploads().bucket(bucket).set_key_marker(markers.0.clone()).set_upload_id_marker(markers.1.clone());
        if !prefix.is_empty() {
            req = req.prefix(prefix);
        }
        let page = req.send().await.or_s3(&conn.ctx().bucket(bucket))?;
        for u in page.uploads() {
            if let (Some(k), Some(id)) = (u.key(), u.upload_id()) {
                if k.starts_with(prefix) {
                    out.push(UploadEntry { key: k.to_string(), upload_id: id.to_string(), initiated: u.initiated().map(|d| d.secs()) });
                }
            }
        }
        if page.is_truncated() != Some(true) {
            break;
        }
        let next = (page.next_key_marker().map(str::to_string), page.next_upload_id_marker().map(str::to_string));
        // No marker, or the same one again (a server that would be listed forever): done.
        if next.0.is_none() || next == markers {
            break;
        }
        markers = next;
    }
    Ok(out)
}
