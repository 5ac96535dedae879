//! Bytes the bill counts and a listing does not show: the parts of incomplete multipart uploads
//! and, on versioned buckets, noncurrent versions and delete markers.
//!
//! Why it matters: a crashed upload of a 40 GB checkpoint leaves 40 GB of invisible parts billed
//! until a lifecycle rule aborts them; an overwritten `last.ckpt` on a versioned bucket keeps every
//! old copy. A denied call is not a failure of the review: it becomes a sentence in `unseen`.

use super::model::Hidden;
use crate::error::{Error, Result};
use crate::s3::errors::SdkResultExt;
use crate::s3::Connection;
use futures::StreamExt;

/// Incomplete uploads whose parts are listed at once.
const PARTS_CONCURRENCY: usize = 16;

/// Looks for hidden bytes under `prefix`; what could not be seen is appended to `unseen`.
pub async fn find_hidden(conn: &Connection, bucket: &str, prefix: &str, unseen: &mut Vec<String>) -> Hidden {
    let mut h = Hidden::default();
    if let Err(e) = multipart(conn, bucket, prefix, &mut h, unseen).await {
        unseen.push(format!("incomplete multipart uploads not checked: ListMultipartUploads failed ({e})"));
    }
    let status = match versioning(conn, bucket).await {
        Ok(status) => status,
        Err(e @ Error::AccessDenied(_)) => {
            unseen.push(format!("noncurrent versions and delete markers not checked: GetBucketVersioning denied ({e})"));
            return h;
        }
        // An answer the SDK cannot read (moto names its root element differently): look anyway.
        Err(_) => Some("unknown".to_string()),
    };
    h.versioning = status.clone();
    if status.is_some() {
        match versions(conn, bucket, prefix, &mut h).await {
            Ok(versioned) if status.as_deref() == Some("unknown") => h.versioning = versioned.then(|| "Enabled".to_string()),
            Ok(_) => {}
            Err(e) => unseen.push(format!("noncurrent versions and delete markers not checked: ListObjectVersions failed ({e})")),
        }
    }
    h
}

/// One incomplete upload (key, id, initiated).
type Upload = (String, String, Option<i64>);

async fn multipart(conn: &Connection, bucket: &str, prefix: &str, h: &mut Hidden, unseen: &mut Vec<String>) -> Result<()> {
    let uploads = list_uploads(conn, bucket, prefix).await?;
    h.multipart_uploads = uploads.len() as u64;
    h.oldest_upload = uploads.iter().filter_map(|u| u.2).min();
    let mut unparts: Vec<String> = Vec::new();
    let mut parts = futures::stream::iter(uploads.into_iter().map(|(key, id, _)| async move { upload_parts(conn, bucket, &key, &id).await }))
        .buffer_unordered(PARTS_CONCURRENCY);
    while let Some(r) = parts.next().await {
        match r {
            Ok((n, b)) => {
                h.multipart_parts += n;
                h.multipart_bytes += b;
                h.add_usage("STANDARD", n, b);
            }
            // Completed or aborted since it was listed: nothing hidden any more.
            Err(Error::NotFound(_)) => {}
            Err(e) => unparts.push(e.to_string()),
        }
    }
    if let Some(first) = unparts.first() {
        unseen.push(format!("parts of {} incomplete upload(s) not counted: ListParts failed ({first})", unparts.len()));
    }
    Ok(())
}

/// Every incomplete upload under the prefix.
async fn list_uploads(conn: &Connection, bucket: &str, prefix: &str) -> Result<Vec<Upload>> {
    let uploads = crate::s3::list::list_multipart_uploads(conn, bucket, prefix).await?;
    Ok(uploads.into_iter().map(|u| (u.key, u.upload_id, u.initiated)).collect())
}

/// Parts and their bytes of one upload (ListParts, paginated).
async fn upload_parts(conn: &Connection, bucket: &str, key: &str, id: &str) -> Result<(u64, u64)> {
    let (mut n, mut b) = (0u64, 0u64);
    let mut marker: Option<String> = None;
    loop {
        let page = conn
            .client
            .list_parts()
            .bucket(bucket)
            .key(key)
            .upload_id(id)
            .set_part_number_marker(marker.take())
            .send()
            .await
            .or_s3(&conn.ctx().bucket(bucket).key(key))?;
        for p in page.parts() {
            n += 1;
            b += p.size().unwrap_or(0).max(0) as u64;
        }
        if page.is_truncated() != Some(true) {
            break;
        }
        marker = page.next_part_number_marker().map(str::to_string);
        if marker.is_none() {
            break;
        }
    }
    Ok((n, b))
}

/// `Some("Enabled" | "Suspended")`, or `None` for a bucket that never had versioning.
async fn versioning(conn: &Connection, bucket: &str) -> Result<Option<String>> {
    let out = conn.client.get_bucket_versioning().bucket(bucket).send().await.or_s3(&conn.ctx().bucket(bucket))?;
    Ok(out.status().map(|s| s.as_str().to_string()).filter(|s| !s.is_empty()))
}

/// Counts noncurrent versions (and their bytes) and delete markers, streaming the pages.
/// Returns whether any version had a real version id (the bucket is or was versioned).
async fn versions(conn: &Connection, bucket: &str, prefix: &str, h: &mut Hidden) -> Result<bool> {
    let mut versioned = false;
    let (mut key_marker, mut vid_marker): (Option<String>, Option<String>) = (None, None);
    loop {
        let mut req = conn.client.list_object_versions().bucket(bucket).set_key_marker(key_marker.take()).set_version_id_marker(vid_marker.take());
        if !prefix.is_empty() {
            req = req.prefix(prefix);
        }
        let page = req.send().await.or_s3(&conn.ctx().bucket(bucket))?;
        for v in page.versions().iter().filter(|v| v.is_latest() != Some(true)) {
            h.noncurrent_versions += 1;
            h.noncurrent_bytes += v.size().unwrap_or(0).max(0) as u64;
            let class = v.storage_class().map(|c| c.as_str()).unwrap_or("STANDARD");
            h.add_usage(class, 1, v.size().unwrap_or(0).max(0) as u64);
        }
        h.delete_markers += page.delete_markers().len() as u64;
        versioned |= !page.delete_markers().is_empty() || page.versions().iter().any(|v| v.version_id().is_some_and(|id| id != "null"));
        if page.is_truncated() != Some(true) {
            break;
        }
        key_marker = page.next_key_marker().map(str::to_string);
        vid_marker = page.next_version_id_marker().map(str::to_string);
        if key_marker.is_none() {
            break;
        }
    }
    Ok(versioned)
}
