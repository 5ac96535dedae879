//! Rename or move a key or a folder within a bucket. S3 has no rename: each object is copied to
//! its new key on the server (no bytes through this machine; objects above 5 GiB, a checkpoint
//! shard easily, are copied in parts), and only when every copy landed are the old keys deleted.
//! A plan lists every move first; applying it refuses when a source changed since (its ETag) or
//! a destination appeared, so nothing is overwritten or lost half-way.

use super::errors::SdkResultExt;
use super::list;
use super::Connection;
use crate::error::{Error, Result};
use futures::StreamExt;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use serde::Serialize;

/// The largest object one CopyObject may copy.
pub const SINGLE_COPY_MAX: u64 = 5 * 1024 * 1024 * 1024;
/// Part size of a multipart copy (S3 allows 5 MiB – 5 GiB).
const COPY_PART: u64 = 512 * 1024 * 1024;

/// One object and where it goes.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Move {
    pub from: String,
    pub to: String,
    pub size: u64,
    pub etag: Option<String>,
}

/// Every move of a rename, for the user to see before anything happens.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RenamePlanned {
    pub bucket: String,
    pub from: String,
    pub to: String,
    pub moves: Vec<Move>,
    pub bytes: u64,
    /// Destination keys that already exist: the rename is refused while there are any.
    pub conflicts: Vec<String>,
}

/// Plans moving `from` (a key, or a folder ending in `/`) to `to` (the same kind) in `bucket`.
pub async fn plan_rename(conn: &Connection, bucket: &str, from: &str, to: &str) -> Result<RenamePlanned> {
    let (from, to) = (from.trim_start_matches('/'), to.trim_start_matches('/'));
    if from.is_empty() || to.is_empty() {
        return Err(Error::Usage("name what to rename and its new name (a key, or a folder ending in /)".into()));
    }
    if from.ends_with('/') != to.ends_with('/') {
        return Err(Error::Usage(format!("`{from}` and `{to}`: a folder moves to a folder (both end in /), a key to a key")));
    }
    if from == to {
        return Err(Error::Usage("the new name is the old one".into()));
    }
    if from.ends_with('/') && to.starts_with(from) {
        return Err(Error::Usage(format!("`{to}` is inside `{from}`: a folder cannot move into itself")));
    }
    let sources = if from.ends_with('/') {
        list::collect_objects(conn, bucket, from, None).await?
    } else {
        vec![list::head_object(conn, bucket, from).await?]
    };
    if sources.is_empty() {
        return Err(Error::NotFound(format!("s3://{bucket}/{from}")));
    }
    let moves: Vec<Move> = sources
        .into_iter()
        .map(|o| Move { to: format!("{to}{}", o.key.strip_prefix(from).unwrap_or("")), from: o.key, size: o.size, etag: o.etag })
        .collect();
    let conflicts = existing(conn, bucket, to, &moves).await?;
    let bytes = moves.iter().map(|m| m.size).fold(0, u64::saturating_add);
    Ok(RenamePlanned { bucket: bucket.into(), from: from.into(), to: to.into(), moves, bytes, conflicts })
}

/// The destination keys of `moves` that exist already.
async fn existing(conn: &Connection, bucket: &str, to: &str, moves: &[Move]) -> Result<Vec<String>> {
    let taken: std::collections::HashSet<String> = if to.ends_with('/') {
        list::collect_objects(conn, bucket, to, None).await?.into_iter().map(|o| o.key).collect()
    } else {
        match list::head_object(conn, bucket, to).await {
            Ok(o) => [o.key].into(),
            Err(Error::NotFound(_)) => Default::default(),
            Err(e) => return Err(e),
        }
    };
    Ok(moves.iter().filter(|m| taken.contains(&m.to)).map(|m| m.to.clone()).collect())
}

/// What applying a rename did.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RenameReport {
    pub moved: u64,
    pub bytes: u64,
}

/// When a copy goes in parts, and how large they are. S3 copies at most 5 GiB in one call.
#[derive(Debug, Clone, Copy)]
pub struct CopySizes {
    pub single_max: u64,
    pub part: u64,
}

impl Default for CopySizes {
    fn default() -> Self {
        CopySizes { single_max: SINGLE_COPY_MAX, part: COPY_PART }
    }
}

/// Server-side copies in flight at once.
const COPY_PARALLELISM: usize = 8;

/// Applies `plan`: checks again that nothing changed and no destination appeared, copies every
/// object, then deletes the old keys. A failed copy stops before any deletion (the copies made so
/// far are removed again), so every object is at its old key or at both — never at neither.
pub async fn apply_rename(conn: &Connection, plan: &RenamePlanned) -> Result<RenameReport> {
    apply_rename_with(conn, plan, CopySizes::default()).await
}

/// [`apply_rename`] with chosen copy sizes (tests exercise multipart copies on small objects).
pub async fn apply_rename_with(conn: &Connection, plan: &RenamePlanned, sizes: CopySizes) -> Result<RenameReport> {
    let fresh = plan_rename(conn, &plan.bucket, &plan.from, &plan.to).await?;
    if let Some(first) = fresh.conflicts.first() {
        return Err(Error::DestinationExists(format!("s3://{}/{first}", plan.bucket)));
    }
    let now: std::collections::HashMap<&str, &Move> = fresh.moves.iter().map(|m| (m.from.as_str(), m)).collect();
    if fresh.moves.len() != plan.moves.len() || plan.moves.iter().any(|m| now.get(m.from.as_str()).is_none_or(|n| n.etag != m.etag || n.size != m.size)) {
        return Err(Error::PlanStale(format!("objects under s3://{}/{} changed since the plan", plan.bucket, plan.from)));
    }
    // By index, not `&Move`: a closure over a borrowed item makes the future higher-ranked,
    // and the desktop's command futures must be Send.
    let results: Vec<(usize, Result<()>)> = futures::stream::iter(0..plan.moves.len())
        .map(|i| async move { (i, copy_one(conn, &plan.bucket, &plan.moves[i], sizes, None).await) })
        .buffer_unordered(COPY_PARALLELISM)
        .collect()
        .await;
    let (done, failed): (Vec<_>, Vec<_>) = results.into_iter().partition(|(_, r)| r.is_ok());
    if let Some((_, Err(e))) = failed.into_iter().next() {
        let undo: Vec<&str> = done.iter().map(|(i, _)| plan.moves[*i].to.as_str()).collect();
        super::delete::delete_all(conn, &plan.bucket, &undo).await.ok();
        return Err(e);
    }
    let sources: Vec<&str> = plan.moves.iter().map(|m| m.from.as_str()).collect();
    super::delete::delete_all(conn, &plan.bucket, &sources).await?;
    Ok(RenameReport { moved: plan.moves.len() as u64, bytes: plan.bytes })
}

/// A server-side copy of one object, conditioned on the ETag the plan saw. Above
/// `sizes.single_max` it goes in parts, and the content type, user metadata and tags (which a
/// single CopyObject carries by itself) are copied explicitly.
///
/// Shared with `--dedup` uploads (`transfer::dedup`), which copy a repeated file from the object
/// already holding its content; `storage_class` is the upload's (`None`: the store's default).
pub(crate) async fn copy_one(conn: &Connection, bucket: &str, m: &Move, sizes: CopySizes, storage_class: Option<&str>) -> Result<()> {
    let class = storage_class.map(aws_sdk_s3::types::StorageClass::from);
    let ctx = conn.ctx().bucket(bucket).key(&m.to);
    let source = format!("{bucket}/{}", super::versions::encode_key(&m.from));
    let if_match = m.etag.as_ref().map(|e| format!("\"{}\"", e.trim_matches('"')));
    if m.size <= sizes.single_max {
        conn.client.copy_object().bucket(bucket).key(&m.to).copy_source(&source).set_copy_source_if_match(if_match).set_storage_class(class).send().await.or_s3(&ctx)?;
        return Ok(());
    }
    let head = conn.client.head_object().bucket(bucket).key(&m.from).send().await.or_s3(&conn.ctx().bucket(bucket).key(&m.from))?;
    let tagging = match conn.client.get_object_tagging().bucket(bucket).key(&m.from).send().await {
        Ok(t) if !t.tag_set().is_empty() => Some(t.tag_set().iter().map(|t| format!("{}={}", encode(t.key()), encode(t.value()))).collect::<Vec<_>>().join("&")),
        _ => None, // no tags, or a store without tagging
    };
    let upload = conn
        .client
        .create_multipart_upload()
        .bucket(bucket)
        .key(&m.to)
        .set_content_type(head.content_type().map(str::to_string))
        .set_metadata(head.metadata().cloned())
        .set_tagging(tagging)
        .set_storage_class(class)
        .send()
        .await
        .or_s3(&ctx)?;
    let id = upload.upload_id().ok_or_else(|| Error::Internal("no upload id for a multipart copy".into()))?.to_string();
    let parts = async {
        let mut parts = Vec::new();
        for (n, start) in (0..m.size).step_by(sizes.part.max(1) as usize).enumerate() {
            let end = (start + sizes.part).min(m.size) - 1;
            let out = conn
                .client
                .upload_part_copy()
                .bucket(bucket)
                .key(&m.to)
                .upload_id(&id)
                .part_number(n as i32 + 1)
                .copy_source(&source)
                .copy_source_range(format!("bytes={start}-{end}"))
                .set_copy_source_if_match(if_match.clone())
                .send()
                .await
                .or_s3(&ctx)?;
            let etag = out.copy_part_result().and_then(|r| r.e_tag()).map(str::to_string);
            parts.push(CompletedPart::builder().part_number(n as i32 + 1).set_e_tag(etag).build());
        }
        let done = CompletedMultipartUpload::builder().set_parts(Some(parts)).build();
        match conn.client.complete_multipart_upload().bucket(bucket).key(&m.to).upload_id(&id).multipart_upload(done).send().await {
            Ok(_) => Ok(()),
            // moto 5.2 answers `200` with a root element the SDK does not parse: the copy
            // landed if the object now has the source's size and a multipart ETag.
            Err(e) if super::errors::unreadable_ok(&e) => {
                let head = conn.client.head_object().bucket(bucket).key(&m.to).send().await.or_s3(&ctx)?;
                match head.content_length() == Some(m.size as i64) && head.e_tag().is_some_and(|t| t.contains('-')) {
                    true => Ok(()),
                    false => Err(Error::Integrity { what: format!("s3://{bucket}/{}", m.to), detail: "completing the multipart copy returned an unreadable answer".into() }),
                }
            }
            Err(e) => Err(super::errors::map_sdk_error(e, &ctx)),
        }
    };
    let r: Result<()> = parts.await;
    if r.is_err() {
        let _ = conn.client.abort_multipart_upload().bucket(bucket).key(&m.to).upload_id(&id).send().await;
    }
    r
}

fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}
