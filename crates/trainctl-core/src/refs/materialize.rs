//! `trainctl s3 materialize`: references back into plain objects, for tools that do not know
//! them. Plan, then apply:
//!
//! - **Plan** ([`plan_materialize`]): one listing of the prefix (its references), their bodies,
//!   and the census of each scope they point into (every reference under it, inside the prefix
//!   or not, and its content objects). Any unusable reference or missing content object refuses
//!   the whole plan with an error naming both keys: nothing is changed. A reference whose
//!   logical key is a plain object already is kept (and listed). Content objects that no
//!   reference will point to any more are listed as reclaimable — those of the references
//!   materialized, and those of the content areas under the prefix that no reference points to
//!   already (a cleanup deleted their last reference) once they are older than the grace
//!   period (a `--dedup=refs` upload writes its content objects before their references).
//! - **Apply** ([`apply_materialize`]): per reference, a server-side copy of the content to the
//!   logical key (compressed content: to `KEY.zst` / `KEY.tcz`, with its codec metadata — the
//!   object `--compress` alone makes, which every trainctl read path decodes) (conditioned on the content's ETag, refused when the logical key appeared
//!   since), its size checked, then the reference deleted if it is still the one planned. Then
//!   each reclaimable content object is deleted only if a fresh census still finds no
//!   reference to it and it is unchanged.

use super::resolve::{self, Census, Content};
use super::{parse_content_key, Ref};
use crate::error::{Error, ErrorInfo, Result};
use crate::s3::rename::{copy_one, CopySizes, Move};
use crate::s3::{list, Connection, S3Url};
use crate::transfer::plan::{delete_if_unchanged, Verdict};
use futures::StreamExt;
use serde::Serialize;
use std::collections::{BTreeSet, HashMap, HashSet};

/// One reference to turn into a plain object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Materialize {
    pub reference: String,
    #[serde(skip)]
    reference_etag: Option<String>,
    #[serde(skip)]
    reference_size: u64,
    /// The key the plain object gets (compressed content: the logical key with the codec's
    /// suffix, the object `--compress` alone would have made).
    pub logical: String,
    pub content: String,
    #[serde(skip)]
    content_etag: Option<String>,
    /// The logical size.
    pub size: u64,
    /// The content object's size (compressed: smaller), what the copy must hold.
    #[serde(skip)]
    stored: u64,
}

/// A content object no reference points to once the plan is applied.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reclaim {
    pub key: String,
    pub size: u64,
    #[serde(skip)]
    etag: Option<String>,
}

/// What materializing a prefix would do: shown by `--dry-run`, applied exactly.
#[derive(Debug, Clone, Serialize)]
pub struct MaterializePlan {
    pub bucket: String,
    pub prefix: String,
    pub items: Vec<Materialize>,
    /// References left as they are, with why.
    pub kept: Vec<(String, String)>,
    /// Content objects deleted after the copies (no reference left).
    pub reclaim: Vec<Reclaim>,
    /// Logical bytes that become plain objects, and the bytes reclaimed.
    pub bytes: u64,
    pub reclaim_bytes: u64,
    /// The scopes whose census decided `reclaim`.
    pub scopes: Vec<String>,
}

/// What applying did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MaterializeReport {
    pub materialized: u64,
    pub bytes: u64,
    pub reclaimed: u64,
    pub reclaimed_bytes: u64,
    /// Items (or content objects) left alone, with why.
    pub kept: Vec<(String, String)>,
    pub failed: Vec<(String, ErrorInfo)>,
}

/// Plans materializing every reference under `url` (see the module documentation); orphaned
/// content objects modified less than `grace_secs` before `now` are left alone.
pub async fn plan_materialize(conn: &Connection, url: &S3Url, now: i64, grace_secs: i64) -> Result<MaterializePlan> {
    let bucket = url.bucket.as_str();
    let prefix = if url.key.is_empty() || url.key.ends_with('/') { url.key.clone() } else { format!("{}/", url.key) };
    list::check_bucket(conn, bucket).await?;
    let listed = list::collect_objects(conn, bucket, &prefix, None).await?;
    let plain: HashSet<&str> = listed.iter().filter(|o| !o.is_prefix && super::logical_key(&o.key).is_none()).map(|o| o.key.as_str()).collect();
    let refs: Vec<resolve::Listed> = listed.iter().filter(|o| !o.is_prefix && super::logical_key(&o.key).is_some() && !super::in_content_area(&prefix, &o.key)).map(resolve::Listed::from).collect();
    let bodies: Vec<Ref> = resolve::read_all(conn, bucket, &refs).await.into_iter().collect::<Result<_>>()?;
    let in_prefix_areas = listed.iter().filter_map(|o| parse_content_key(&o.key).map(|(s, _, _)| s.to_string()));
    let scopes: BTreeSet<String> = bodies.iter().filter_map(|r| parse_content_key(&r.content).map(|(s, _, _)| s.to_string())).chain(in_prefix_areas).collect();
    let mut censuses: HashMap<String, Census> = HashMap::new();
    for s in &scopes {
        censuses.insert(s.clone(), resolve::census(conn, bucket, s).await?);
    }
    let content_of = |key: &str| -> Option<&Content> { censuses.values().find_map(|c| c.content.get(key)) };
    let mut plan = MaterializePlan { bucket: bucket.into(), prefix: prefix.clone(), items: Vec::new(), kept: Vec::new(), reclaim: Vec::new(), bytes: 0, reclaim_bytes: 0, scopes: scopes.iter().cloned().collect() };
    for (l, r) in refs.iter().zip(&bodies) {
        let logical = format!("{}{}", super::logical_key(&l.key).unwrap_or_default(), r.compressed().unwrap_or_default());
        let content = match content_of(&r.content) {
            Some(c) if c.size == r.size || (r.compressed().is_some() && c.size > 0) => c,
            Some(c) => return Err(Error::RefCorrupt { bucket: bucket.into(), reference: l.key.clone(), detail: format!("its content object {} holds {} bytes, not {}", r.content, c.size, r.size) }),
            None => return Err(Error::RefContentMissing { bucket: bucket.into(), reference: l.key.clone(), content: r.content.clone() }),
        };
        let bare = super::logical_key(&l.key).unwrap_or_default();
        if let Some(there) = [logical.as_str(), bare].into_iter().find(|k| plain.contains(k)) {
            plan.kept.push((l.key.clone(), format!("a plain object {there} is there already")));
            continue;
        }
        plan.bytes += r.size;
        plan.items.push(Materialize { reference: l.key.clone(), reference_etag: l.etag.clone(), reference_size: l.size, logical, content: r.content.clone(), content_etag: content.etag.clone(), size: r.size, stored: content.size });
    }
    let going: HashMap<&str, usize> = plan.items.iter().fold(HashMap::new(), |mut m, i| {
        *m.entry(i.content.as_str()).or_insert(0) += 1;
        m
    });
    let mut reclaim: BTreeSet<(String, u64, Option<String>)> = BTreeSet::new();
    for (scope, census) in &censuses {
        if let Some((l, _)) = census.refs.iter().find(|(_, r)| r.is_err()) {
            // A reference that cannot be read may point anywhere in its area: keep it all.
            plan.kept.push((format!("{scope}{}", super::AREA), format!("no content deleted: the reference {} cannot be read", l.key)));
            continue;
        }
        let counts = census.counts();
        for (key, c) in &census.content {
            let pointing = counts.get(key.as_str()).copied().unwrap_or(0);
            let leaving = going.get(key.as_str()).copied().unwrap_or(0);
            let settled = c.last_modified.is_some_and(|t| now.saturating_sub(t) >= grace_secs);
            let under_prefix = key.starts_with(&prefix);
            if (leaving > 0 && pointing <= leaving) || (pointing == 0 && under_prefix && settled) {
                reclaim.insert((key.to_string(), c.size, c.etag.clone()));
            }
        }
    }
    plan.reclaim_bytes = reclaim.iter().map(|r| r.1).sum();
    plan.reclaim = reclaim.into_iter().map(|(key, size, etag)| Reclaim { key, size, etag }).collect();
    Ok(plan)
}

/// Applies `plan` exactly (see the module documentation).
pub async fn apply_materialize(conn: &Connection, plan: &MaterializePlan) -> Result<MaterializeReport> {
    let bucket = plan.bucket.as_str();
    let conditional = crate::config::quirks::get_or_other(&conn.profile.provider).conditional_delete;
    let results: Vec<(usize, std::result::Result<(), Outcome>)> = futures::stream::iter(0..plan.items.len())
        .map(|i| async move { (i, materialize_one(conn, bucket, &plan.items[i], conditional).await) })
        .buffer_unordered(8)
        .collect()
        .await;
    let mut report = MaterializeReport::default();
    let mut done_contents: HashSet<&str> = HashSet::new();
    let mut failed_contents: HashSet<&str> = HashSet::new();
    for (i, r) in results {
        let item = &plan.items[i];
        match r {
            Ok(()) => {
                report.materialized += 1;
                report.bytes += item.size;
                done_contents.insert(&item.content);
            }
            Err(Outcome::Kept(why)) => {
                failed_contents.insert(&item.content);
                report.kept.push((item.reference.clone(), why));
            }
            Err(Outcome::Failed(e)) => {
                failed_contents.insert(&item.content);
                report.failed.push((item.reference.clone(), e));
            }
        }
    }
    if plan.reclaim.is_empty() {
        return Ok(report);
    }
    // Reference counting again, right before deleting: a reference written since the plan (or
    // one that could not be materialized) keeps its content.
    let mut counts: HashMap<String, usize> = HashMap::new();
    for s in &plan.scopes {
        for (k, n) in resolve::census(conn, bucket, s).await?.counts() {
            *counts.entry(k.to_string()).or_insert(0) += n;
        }
    }
    for c in &plan.reclaim {
        if failed_contents.contains(c.key.as_str()) || counts.get(&c.key).copied().unwrap_or(0) > 0 {
            report.kept.push((c.key.clone(), "a reference still points to it".into()));
            continue;
        }
        let etag = c.etag.as_deref().map(|e| format!("\"{}\"", e.trim_matches('"')));
        match delete_if_unchanged(conn, bucket, &c.key, (c.size, etag.as_deref()), conditional).await {
            Verdict::Deleted => {
                report.reclaimed += 1;
                report.reclaimed_bytes += c.size;
            }
            Verdict::Skipped(why) => report.kept.push((c.key.clone(), why)),
            Verdict::Failed(e) => report.failed.push((c.key.clone(), e)),
        }
    }
    Ok(report)
}

/// Why one reference was not materialized.
enum Outcome {
    Kept(String),
    Failed(ErrorInfo),
}

/// Copy, check, then delete the reference (see the module documentation).
async fn materialize_one(conn: &Connection, bucket: &str, m: &Materialize, conditional: bool) -> std::result::Result<(), Outcome> {
    match list::head_object(conn, bucket, &m.logical).await {
        Ok(_) => return Err(Outcome::Kept(format!("{} appeared since the plan", m.logical))),
        Err(Error::NotFound(_)) => {}
        Err(e) => return Err(Outcome::Failed(e.info())),
    }
    let mv = Move { from: m.content.clone(), to: m.logical.clone(), size: m.stored, etag: m.content_etag.clone() };
    copy_one(conn, bucket, &mv, CopySizes::default(), None).await.map_err(|e| Outcome::Failed(e.info()))?;
    let copied = list::head_object(conn, bucket, &m.logical).await.map_err(|e| Outcome::Failed(e.info()))?;
    if copied.size != m.stored {
        let e = Error::Integrity { what: format!("s3://{bucket}/{}", m.logical), detail: format!("the copy holds {} bytes, not {}", copied.size, m.stored) };
        return Err(Outcome::Failed(e.info()));
    }
    let etag = m.reference_etag.as_deref().map(|e| format!("\"{}\"", e.trim_matches('"')));
    match delete_if_unchanged(conn, bucket, &m.reference, (m.reference_size, etag.as_deref()), conditional).await {
        Verdict::Deleted => Ok(()),
        Verdict::Skipped(why) => Err(Outcome::Kept(format!("{} is a plain object now, but the reference was left: {why}", m.logical))),
        Verdict::Failed(e) => Err(Outcome::Failed(e)),
    }
}
