//! Reading references: their bodies (one GET per distinct ETag, capped), their content objects
//! (one HEAD per distinct content), and the census of a scope (every reference under it and
//! every content object of its area, from one listing) that reference counting needs.

use super::{Ref, MAX_BODY, SUFFIX};
use crate::error::{Error, Result};
use crate::s3::errors::SdkResultExt;
use crate::s3::{list, Connection};
use futures::StreamExt;
use std::collections::HashMap;

/// Requests in flight while reading references.
const PARALLEL: usize = 16;

/// A reference object as listed.
#[derive(Debug, Clone)]
pub struct Listed {
    pub key: String,
    pub size: u64,
    pub etag: Option<String>,
}

impl From<&list::ObjectEntry> for Listed {
    fn from(o: &list::ObjectEntry) -> Self {
        Listed { key: o.key.clone(), size: o.size, etag: o.etag.clone() }
    }
}

/// A content object as seen (listed or HEADed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Content {
    pub size: u64,
    pub etag: Option<String>,
    /// Seconds since the Unix epoch, when listed.
    pub last_modified: Option<i64>,
    /// Its version id, when HEADed on a versioned bucket (a dataset snapshot pins it).
    pub version_id: Option<String>,
}

/// The bodies of `refs`, in order: one GET per distinct ETag (identical references have
/// identical bodies), [`PARALLEL`] at a time; a listed size above [`MAX_BODY`] is refused
/// without a GET.
pub async fn read_all(conn: &Connection, bucket: &str, refs: &[Listed]) -> Vec<Result<Ref>> {
    let mut by_etag: HashMap<&str, usize> = HashMap::new();
    let mut fetch: Vec<usize> = Vec::new();
    for (i, r) in refs.iter().enumerate() {
        match r.etag.as_deref() {
            Some(e) if r.size <= MAX_BODY => {
                by_etag.entry(e).or_insert_with(|| {
                    fetch.push(i);
                    i
                });
            }
            _ => fetch.push(i),
        }
    }
    let fetched: HashMap<usize, Result<Ref>> = futures::stream::iter(fetch)
        .map(|i| async move { (i, read_one(conn, bucket, &refs[i]).await) })
        .buffer_unordered(PARALLEL)
        .collect()
        .await;
    refs.iter()
        .enumerate()
        .map(|(i, r)| {
            let source = match r.etag.as_deref() {
                Some(e) if r.size <= MAX_BODY => by_etag[e],
                _ => i,
            };
            match &fetched[&source] {
                // The body is the same; its check against this reference's own key is not.
                Ok(body) if source == i => Ok(body.clone()),
                Ok(body) => Ref::parse(bucket, &r.key, &body.body()),
                Err(e) => Err(same_error_for(e, bucket, &r.key)),
            }
        })
        .collect()
}

/// The error of another reference with the same body, reported for `key`.
fn same_error_for(e: &Error, bucket: &str, key: &str) -> Error {
    match e {
        Error::RefCorrupt { detail, .. } => Error::RefCorrupt { bucket: bucket.into(), reference: key.into(), detail: detail.clone() },
        other => Error::S3 { code: other.code().into(), message: format!("s3://{bucket}/{key}: {other}") },
    }
}

/// One reference's body, read and checked.
pub async fn read_one(conn: &Connection, bucket: &str, r: &Listed) -> Result<Ref> {
    if r.size > MAX_BODY {
        return Err(Error::RefCorrupt { bucket: bucket.into(), reference: r.key.clone(), detail: format!("it is {} bytes, more than the {MAX_BODY} a reference has", r.size) });
    }
    let ctx = conn.ctx().bucket(bucket).key(&r.key);
    let out = conn.client.get_object().bucket(bucket).key(&r.key).range(format!("bytes=0-{MAX_BODY}")).send().await.or_s3(&ctx)?;
    let body = out.body.collect().await.map_err(|e| Error::S3 { code: "ReadBody".into(), message: e.to_string() })?.into_bytes();
    Ref::parse(bucket, &r.key, &body)
}

/// The content objects `keys` name, each HEADed once (`None`: it does not exist); ETags as the
/// server gives them (quoted), fit for `If-Match`.
pub async fn contents(conn: &Connection, bucket: &str, keys: impl IntoIterator<Item = String>) -> Result<HashMap<String, Option<Content>>> {
    let mut keys: Vec<String> = keys.into_iter().collect();
    keys.sort();
    keys.dedup();
    let seen: Vec<(String, Result<Option<Content>>)> = futures::stream::iter(keys)
        .map(|k| async move {
            let ctx = conn.ctx().bucket(bucket).key(&k);
            let r = match conn.client.head_object().bucket(bucket).key(&k).send().await {
                Ok(h) => Ok(Some(Content { size: h.content_length().unwrap_or(0).max(0) as u64, etag: h.e_tag().map(str::to_string), last_modified: h.last_modified().map(|d| d.secs()), version_id: h.version_id().map(str::to_string) })),
                Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => Ok(None),
                Err(e) => Err(e).or_s3(&ctx).map(|_: aws_sdk_s3::operation::head_object::HeadObjectOutput| None),
            };
            (k, r)
        })
        .buffer_unordered(PARALLEL)
        .collect()
        .await;
    seen.into_iter().map(|(k, r)| r.map(|c| (k, c))).collect()
}

/// Every reference under a scope and every content object of its area.
#[derive(Debug, Default)]
pub struct Census {
    /// References (key, as listed, and what its body says).
    pub refs: Vec<(Listed, Result<Ref>)>,
    /// Content objects by key.
    pub content: HashMap<String, Content>,
}

impl Census {
    /// How many readable references point at each content key.
    pub fn counts(&self) -> HashMap<&str, usize> {
        let mut n = HashMap::new();
        for (_, r) in &self.refs {
            if let Ok(r) = r {
                *n.entry(r.content.as_str()).or_insert(0) += 1;
            }
        }
        n
    }
}

/// The census of `scope` (a prefix: empty or ending in `/`): one listing, one GET per distinct
/// reference body.
pub async fn census(conn: &Connection, bucket: &str, scope: &str) -> Result<Census> {
    let listed = list::collect_objects(conn, bucket, scope, None).await?;
    let mut refs = Vec::new();
    let mut content = HashMap::new();
    for o in &listed {
        if o.is_prefix {
            continue;
        }
        if super::parse_content_key(&o.key).is_some() {
            content.insert(o.key.clone(), Content { size: o.size, etag: o.etag.clone(), last_modified: o.last_modified, version_id: None });
        } else if o.key.ends_with(SUFFIX) && super::logical_key(&o.key).is_some() {
            refs.push(Listed::from(o));
        }
    }
    let bodies = read_all(conn, bucket, &refs).await;
    Ok(Census { refs: refs.into_iter().zip(bodies).collect(), content })
}
