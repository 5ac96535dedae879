//! Deduplicating a location on S3 (the Dashboard's "deduplicate" savings action): of each group
//! of copies (same size and ETag, [`super::duplicates`]) one is kept and the others deleted, from
//! a plan the user saw.
//!
//! Which copy stays: every copy inside a run's newest complete checkpoint or an incomplete one
//! (the copies retention never deletes), else the first key in key order. Groups with more copies
//! than the review remembers keys for are left out (their other keys are unknown, and a plan
//! deletes only keys it names). Applying checks every key of every group again first (HEAD: same
//! size and ETag, still there) and refuses the whole plan when one changed — a copy that is no
//! longer a copy, or a kept copy that vanished, must never cost the last copy of the bytes.

use super::duplicates::KEYS_SHOWN;
use super::{location_prefix, DuplicateGroup, Duplicates};
use crate::checkpoint::{self, DetectOptions, Location};
use crate::codec::{BYTEPLANE_SUFFIX, ZSTD_SUFFIX};
use crate::cost::{PriceTable, Usage};
use crate::error::{Error, Result};
use crate::s3::{list, Connection, S3Url};
use serde::Serialize;
use std::collections::BTreeSet;

/// One group of copies: what stays and what goes.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DedupCopies {
    /// Size of one copy.
    pub bytes: u64,
    pub etag: String,
    pub storage_class: String,
    /// Kept (at least one).
    pub keep: Vec<String>,
    /// Deleted.
    pub delete: Vec<String>,
}

/// What `dedup_apply(plan_id)` deletes; shown in the confirm dialog first.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct S3DedupPlan {
    pub plan_id: u64,
    pub bucket: String,
    /// The reviewed prefix.
    pub prefix: String,
    pub groups: Vec<DedupCopies>,
    /// Objects deleted and their bytes.
    pub objects: u64,
    pub bytes: u64,
    /// What those bytes cost per month (`None` without a price table).
    pub monthly_usd_saved: Option<f64>,
    /// Groups left out and why.
    pub notes: Vec<String>,
}

/// Keys in a run's newest complete checkpoint or in an incomplete one, under `url`: the copies
/// a dedup never deletes. One listing plus what detection reads (markers, trainer states).
pub async fn protected_keys(conn: &Connection, url: &S3Url) -> Result<BTreeSet<String>> {
    let loc = Location::S3(url.clone());
    // S3 objects appear whole: a listed checkpoint with its marker is finished (as the Runs view
    // reads it); one without is incomplete and keeps its copies.
    let opts = DetectOptions { grace: std::time::Duration::ZERO, ..DetectOptions::new() };
    let found = checkpoint::discover(&loc, Some(conn), &opts).await?;
    let base = location_prefix(url);
    let mut out = BTreeSet::new();
    for run in &found.runs {
        let newest = run.checkpoints.iter().filter(|c| c.complete.is_complete()).max_by(|a, b| a.order_key().cmp(&b.order_key()).then_with(|| a.id.cmp(&b.id)));
        let kept = run.checkpoints.iter().filter(|c| !c.complete.is_complete()).chain(newest);
        for f in kept.flat_map(|c| &c.files) {
            let key = format!("{base}{}", f.path);
            // Detection reads `X.zst` as `X`: protect the stored names too.
            out.insert(format!("{key}{ZSTD_SUFFIX}"));
            out.insert(format!("{key}{BYTEPLANE_SUFFIX}"));
            out.insert(key);
        }
    }
    Ok(out)
}

/// Chooses, for each group, the copies kept and deleted ([module docs](self)); returns them
/// with notes on the groups left out.
pub fn choose_copies(groups: &[DuplicateGroup], protected: &BTreeSet<String>) -> (Vec<DedupCopies>, Vec<String>) {
    let mut out = Vec::new();
    let mut partial = 0u64;
    for g in groups {
        if g.copies as usize > g.keys.len() || g.keys.len() < 2 {
            partial += 1;
            continue;
        }
        let (mut keep, mut delete): (Vec<String>, Vec<String>) = g.keys.iter().cloned().partition(|k| protected.contains(k));
        if keep.is_empty() {
            keep.push(delete.remove(0));
        }
        if !delete.is_empty() {
            out.push(DedupCopies { bytes: g.bytes, etag: g.etag.clone(), storage_class: g.storage_class.clone(), keep, delete });
        }
    }
    let mut notes = Vec::new();
    if partial > 0 {
        notes.push(format!("{partial} group(s) with more than {KEYS_SHOWN} copies left out: list them with `trainctl s3 dedup` and delete the copies you choose"));
    }
    (out, notes)
}

/// Plans deduplicating `url` from a review's duplicates; the caller gives it its id.
pub async fn plan(conn: &Connection, url: &S3Url, d: &Duplicates, table: Option<&PriceTable>) -> Result<S3DedupPlan> {
    let protected = protected_keys(conn, url).await?;
    let (groups, mut notes) = choose_copies(&d.groups, &protected);
    if d.groups_total > d.groups.len() as u64 {
        notes.push(format!("only the largest {} of {} groups are in this plan; plan again after applying it", d.groups.len(), d.groups_total));
    }
    let objects: u64 = groups.iter().map(|g| g.delete.len() as u64).sum();
    let bytes = crate::limits::sum_sizes(groups.iter().map(|g| g.bytes.saturating_mul(g.delete.len() as u64)));
    let usage: Vec<Usage> = groups
        .iter()
        .map(|g| Usage { storage_class: g.storage_class.clone(), bytes: g.bytes * g.delete.len() as u64, objects: g.delete.len() as u64, ..Usage::default() })
        .collect();
    let monthly_usd_saved = table.map(|t| t.monthly_storage_usd(&usage));
    Ok(S3DedupPlan { plan_id: 0, bucket: url.bucket.clone(), prefix: location_prefix(url), groups, objects, bytes, monthly_usd_saved, notes })
}

/// Checks that every key of the plan is still there with the size and ETag it was planned with;
/// `plan_stale` naming the first that is not.
pub async fn check_unchanged(conn: &Connection, plan: &S3DedupPlan) -> Result<()> {
    for g in &plan.groups {
        for key in g.keep.iter().chain(&g.delete) {
            let now = match list::head_object(conn, &plan.bucket, key).await {
                Ok(o) => o,
                Err(Error::NotFound(_)) => return Err(Error::PlanStale(format!("s3://{}/{key} is gone since the plan: plan again", plan.bucket))),
                Err(e) => return Err(e),
            };
            let etag = now.etag.as_deref().map(|e| e.trim_matches('"'));
            if now.size != g.bytes || etag != Some(g.etag.as_str()) {
                return Err(Error::PlanStale(format!("s3://{}/{key} changed since the plan (it is no longer a copy): plan again", plan.bucket)));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(keys: &[&str], copies: u64) -> DuplicateGroup {
        DuplicateGroup { bytes: 10, etag: "e".into(), copies, reclaimable_bytes: 10 * (copies - 1), storage_class: "STANDARD".into(), keys: keys.iter().map(|k| k.to_string()).collect() }
    }

    #[test]
    fn the_first_key_stays_unless_a_copy_is_in_a_newest_checkpoint() {
        let groups = [group(&["a/best/m.bin", "a/checkpoint-1/m.bin", "a/checkpoint-2/m.bin"], 3), group(&["x/1", "y/1"], 2)];
        let protected: BTreeSet<String> = ["a/checkpoint-2/m.bin".to_string()].into();
        let (plan, notes) = choose_copies(&groups, &protected);
        assert!(notes.is_empty());
        assert_eq!(plan[0].keep, ["a/checkpoint-2/m.bin"]);
        assert_eq!(plan[0].delete, ["a/best/m.bin", "a/checkpoint-1/m.bin"]);
        assert_eq!(plan[1].keep, ["x/1"]);
        assert_eq!(plan[1].delete, ["y/1"]);
    }

    #[test]
    fn groups_whose_keys_are_not_all_known_or_all_protected_delete_nothing() {
        let groups = [group(&["a", "b"], 12), group(&["p", "q"], 2)];
        let protected: BTreeSet<String> = ["p".to_string(), "q".to_string()].into();
        let (plan, notes) = choose_copies(&groups, &protected);
        assert!(plan.is_empty(), "{plan:?}");
        assert_eq!(notes.len(), 1);
        assert!(notes[0].contains("more than 8 copies"), "{notes:?}");
    }
}
