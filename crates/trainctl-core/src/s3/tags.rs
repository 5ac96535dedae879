//! What an object carries besides its bytes: user metadata (`x-amz-meta-*`, read by HEAD) and tags
//! (a separate sub-resource). Edits never overwrite a concurrent change unseen: metadata is
//! rewritten with a copy conditioned on the ETag the user saw; tags are written only when a HEAD
//! right before still shows that ETag (tagging itself has no condition in S3's API).

use super::errors::SdkResultExt;
use super::Connection;
use crate::error::{Error, Result};
use aws_sdk_s3::types::{MetadataDirective, Tag, Tagging};
use serde::Serialize;
use std::collections::BTreeMap;

/// The most tags S3 allows on one object.
pub const MAX_TAGS: usize = 10;

/// One object's details as the Browser's side panel shows them.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ObjectDetails {
    pub bucket: String,
    pub key: String,
    pub size: u64,
    /// Pass it back with an edit: the edit is refused if the object changed since.
    pub etag: Option<String>,
    pub last_modified: Option<i64>,
    pub storage_class: Option<String>,
    pub content_type: Option<String>,
    pub version_id: Option<String>,
    pub metadata: BTreeMap<String, String>,
    /// `null` when the store does not implement tagging (or denies reading it): said in `tags_note`.
    pub tags: Option<BTreeMap<String, String>>,
    pub tags_note: Option<String>,
}

/// HEAD plus the tags of one object.
pub async fn details(conn: &Connection, bucket: &str, key: &str) -> Result<ObjectDetails> {
    let ctx = conn.ctx().bucket(bucket).key(key);
    let head = conn.client.head_object().bucket(bucket).key(key).send().await.or_s3(&ctx)?;
    let (tags, tags_note) = match conn.client.get_object_tagging().bucket(bucket).key(key).send().await.or_s3(&ctx) {
        Ok(t) => (Some(t.tag_set().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect()), None),
        Err(e) => (None, Some(format!("tags could not be read: {e}"))),
    };
    Ok(ObjectDetails {
        bucket: bucket.to_string(),
        key: key.to_string(),
        size: head.content_length().unwrap_or(0).max(0) as u64,
        etag: head.e_tag().map(|e| e.trim_matches('"').to_string()),
        last_modified: head.last_modified().map(|d| d.secs()),
        storage_class: head.storage_class().map(|s| s.as_str().to_string()),
        content_type: head.content_type().map(str::to_string),
        version_id: head.version_id().map(str::to_string),
        metadata: head.metadata().cloned().unwrap_or_default().into_iter().collect(),
        tags,
        tags_note,
    })
}

/// Checks tag keys and values against S3's rules before anything is sent.
pub fn validate_tags(tags: &BTreeMap<String, String>) -> Result<()> {
    if tags.len() > MAX_TAGS {
        return Err(Error::Usage(format!("{} tags: S3 allows at most {MAX_TAGS} on one object", tags.len())));
    }
    for (k, v) in tags {
        if k.is_empty() || k.chars().count() > 128 || v.chars().count() > 256 {
            return Err(Error::Usage(format!("tag `{k}`: keys are 1-128 characters and values at most 256")));
        }
        if k.starts_with("aws:") {
            return Err(Error::Usage(format!("tag `{k}`: keys starting with `aws:` are reserved")));
        }
    }
    Ok(())
}

/// Refuses when `key` is no longer the object with `expected` ETag.
async fn still(conn: &Connection, bucket: &str, key: &str, expected: &str) -> Result<()> {
    let head = conn.client.head_object().bucket(bucket).key(key).send().await.or_s3(&conn.ctx().bucket(bucket).key(key))?;
    match head.e_tag().map(|e| e.trim_matches('"')) {
        Some(now) if now == expected => Ok(()),
        _ => Err(changed(bucket, key)),
    }
}

/// Replaces the tags of `key`, unless the object is no longer the one with `expected_etag`.
pub async fn set_tags(conn: &Connection, bucket: &str, key: &str, expected_etag: Option<&str>, tags: &BTreeMap<String, String>) -> Result<()> {
    validate_tags(tags)?;
    let ctx = conn.ctx().bucket(bucket).key(key);
    if let Some(expected) = expected_etag {
        still(conn, bucket, key, expected).await?;
    }
    let set = tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect::<std::result::Result<Vec<_>, _>>().map_err(|e| Error::Usage(e.to_string()))?;
    let tagging = Tagging::builder().set_tag_set(Some(set)).build().map_err(|e| Error::Usage(e.to_string()))?;
    conn.client.put_object_tagging().bucket(bucket).key(key).tagging(tagging).send().await.or_s3(&ctx)?;
    Ok(())
}

/// Replaces the user metadata of `key` by copying it onto itself, only if its ETag is still
/// `expected_etag`: checked by a HEAD first (not every store honours the copy's condition — moto
/// does not), and again by S3 itself through `x-amz-copy-source-if-match` where it does.
pub async fn set_metadata(conn: &Connection, bucket: &str, key: &str, expected_etag: &str, metadata: &BTreeMap<String, String>) -> Result<()> {
    still(conn, bucket, key, expected_etag).await?;
    let source = format!("{bucket}/{}", super::versions::encode_key(key));
    let r = conn
        .client
        .copy_object()
        .bucket(bucket)
        .key(key)
        .copy_source(source)
        .copy_source_if_match(format!("\"{expected_etag}\""))
        .metadata_directive(MetadataDirective::Replace)
        .set_metadata(Some(metadata.clone().into_iter().collect()))
        .send()
        .await
        .or_s3(&conn.ctx().bucket(bucket).key(key));
    match r {
        Ok(_) => Ok(()),
        Err(Error::S3 { code, .. }) if code == "PreconditionFailed" => Err(changed(bucket, key)),
        Err(e) => Err(e),
    }
}

fn changed(bucket: &str, key: &str) -> Error {
    Error::PlanStale(format!("s3://{bucket}/{key} changed since it was shown; nothing was written"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_follow_s3s_rules() {
        let ok: BTreeMap<String, String> = [("run".into(), "llama".into())].into();
        assert!(validate_tags(&ok).is_ok());
        let reserved: BTreeMap<String, String> = [("aws:x".into(), "1".into())].into();
        assert_eq!(validate_tags(&reserved).unwrap_err().code(), "usage");
        let many: BTreeMap<String, String> = (0..11).map(|i| (format!("k{i}"), "v".into())).collect();
        assert_eq!(validate_tags(&many).unwrap_err().code(), "usage");
    }
}
