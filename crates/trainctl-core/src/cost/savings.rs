//! What an action saves: a checkpoint cleanup plan (delete) or a lifecycle transition (move to a
//! cheaper class). Both are net of the one-time charges the action triggers, because a cleanup of
//! week-old GLACIER_IR checkpoints or a transition of millions of small files can cost more than
//! it saves.

use super::model::Aged;
use super::table::PriceTable;
use super::Usage;
use crate::checkpoint::Plan;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// What deleting the `Delete` items of some cleanup plans saves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanSavings {
    /// `provider/region` of the table used.
    pub table: String,
    /// The class the checkpoints are assumed to be stored in.
    pub storage_class: String,
    pub objects: u64,
    pub bytes: u64,
    /// Storage no longer billed, per month.
    pub monthly_usd: f64,
    /// One-time charge for deleting objects younger than the class minimum duration.
    pub early_deletion_usd: f64,
    /// `monthly_usd − early_deletion_usd`: what the first month actually saves.
    pub net_first_month_usd: f64,
    /// Files without a modification time (assumed old enough to carry no early-deletion charge).
    pub unknown_age_objects: u64,
}

/// The prices a cleanup's savings are quoted in: the connection's table (`trainctl cost`), else
/// S3 us-east-1 — a local directory, or an endpoint without a table (MinIO, Garage, the demo),
/// is priced as if it were on S3, which is what moving it there would cost. One choice for the
/// CLI and the app, so both quote the same figure.
pub fn savings_table(conn: Option<&crate::s3::Connection>) -> PriceTable {
    conn.and_then(|c| super::table_for_profile(&c.profile, None).ok()).unwrap_or_else(default_savings_table)
}

/// S3 us-east-1: what a cleanup is quoted in when its storage has no table of its own.
pub fn default_savings_table() -> PriceTable {
    super::price_table("aws", "us-east-1").expect("the built-in aws/us-east-1 table exists")
}

/// The savings of deleting what `plans` mark `Delete`, priced in the table's default class
/// (STANDARD: checkpoint listings carry no storage class). `now` is Unix seconds.
pub fn plan_savings(plans: &[Plan], table: &PriceTable, now: i64) -> PlanSavings {
    plan_savings_in_class(plans, table, &table.default_class, now)
}

/// [`plan_savings`] for checkpoints stored in `class` (e.g. `GLACIER_IR`).
pub fn plan_savings_in_class(plans: &[Plan], table: &PriceTable, class: &str, now: i64) -> PlanSavings {
    let class = super::normalize_class(Some(class));
    let mut total = Usage::new(&class);
    let mut aged = Vec::new();
    let mut unknown_age_objects = 0;
    for item in plans.iter().flat_map(|p| p.deletions()) {
        for f in &item.checkpoint.files {
            total.add_object(f.size);
            match f.mtime {
                Some(t) => aged.push(Aged::object(&class, f.size, (now - t).max(0) as f64 / 86_400.0)),
                None => unknown_age_objects += 1,
            }
        }
    }
    let monthly_usd = table.monthly_storage_usd(std::slice::from_ref(&total));
    let early_deletion_usd = table.early_deletion_usd(&aged);
    PlanSavings {
        table: table.id(),
        storage_class: class,
        objects: total.objects,
        bytes: total.bytes,
        monthly_usd,
        early_deletion_usd,
        net_first_month_usd: monthly_usd - early_deletion_usd,
        unknown_age_objects,
    }
}

/// What moving usage to another class with a lifecycle rule saves, and what it costs once.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransitionSavings {
    pub table: String,
    pub to_class: String,
    /// Objects and bytes that would move.
    pub objects_moved: u64,
    pub bytes_moved: u64,
    /// Objects left where they are: already in the target class, or below 128 KiB (S3
    /// lifecycle does not transition those by default since September 2024).
    pub objects_staying: u64,
    pub monthly_before_usd: f64,
    pub monthly_after_usd: f64,
    /// `before − after`; negative when the move costs more per month (small objects, overheads).
    pub monthly_savings_usd: f64,
    /// Lifecycle transition requests, once.
    pub transition_usd: f64,
    /// Early-deletion charges of the source classes for objects moved before their minimum.
    pub early_deletion_usd: f64,
    /// `(transition + early deletion) / monthly savings`; `None` when it never pays back.
    pub payback_months: Option<f64>,
}

/// The savings of transitioning `items` (usage by class and age) to `to_class` now.
///
/// Objects below 128 KiB stay (the S3 lifecycle default); objects already in `to_class` stay.
/// Each moved object pays one transition request at the target class's price, and moved objects
/// younger than their source class's minimum duration pay the rest of it.
pub fn transition_savings(table: &PriceTable, items: &[Aged], to_class: &str) -> Result<TransitionSavings> {
    let to = super::normalize_class(Some(to_class));
    let Some(target) = table.classes.get(&to) else {
        return Err(Error::Usage(format!(
            "the price table {} has no storage class {to} (it has {})",
            table.id(),
            table.classes.keys().cloned().collect::<Vec<_>>().join(", ")
        )));
    };
    if to == "STANDARD" || to == "REDUCED_REDUNDANCY" {
        return Err(Error::Usage(format!("lifecycle rules cannot transition objects to {to}; pick a colder class")));
    }
    let mut before = Vec::new();
    let mut after = Vec::new();
    let mut moved_aged = Vec::new();
    let mut moved = Usage::new(&to);
    let mut objects_staying = 0;
    for a in items {
        let u = &a.usage;
        before.push(u.clone());
        if super::normalize_class(Some(&u.storage_class)) == to {
            objects_staying += u.objects;
            after.push(u.clone());
            continue;
        }
        // The small objects stay in their class; the rest move.
        let small = Usage {
            storage_class: u.storage_class.clone(),
            bytes: u.small_bytes,
            objects: u.small_objects,
            small_objects: u.small_objects,
            small_bytes: u.small_bytes,
        };
        let large = Usage {
            storage_class: u.storage_class.clone(),
            bytes: u.bytes.saturating_sub(u.small_bytes),
            objects: u.objects.saturating_sub(u.small_objects),
            small_objects: 0,
            small_bytes: 0,
        };
        objects_staying += small.objects;
        after.push(small);
        moved.merge(&Usage { storage_class: to.clone(), ..large.clone() });
        moved_aged.push(Aged { usage: large, age_days: a.age_days });
    }
    after.push(moved.clone());
    let monthly_before_usd = table.monthly_storage_usd(&before);
    let monthly_after_usd = table.monthly_storage_usd(&after);
    let monthly_savings_usd = monthly_before_usd - monthly_after_usd;
    let transition_usd = moved.objects as f64 / 1000.0 * target.transition_per_1000;
    let early_deletion_usd = table.early_deletion_usd(&moved_aged);
    let one_time = transition_usd + early_deletion_usd;
    let payback_months = if monthly_savings_usd > 0.0 { Some(one_time / monthly_savings_usd) } else { None };
    Ok(TransitionSavings {
        table: table.id(),
        to_class: to,
        objects_moved: moved.objects,
        bytes_moved: moved.bytes,
        objects_staying,
        monthly_before_usd,
        monthly_after_usd,
        monthly_savings_usd,
        transition_usd,
        early_deletion_usd,
        payback_months,
    })
}
