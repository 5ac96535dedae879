//! What storage costs: price tables as data (one per provider + region, each row with its source
//! and date) and the billing rules that turn a listing into dollars per month — the 128 KB minimum
//! billable size of the infrequent-access classes, the 40 KB per-object overhead of the archive
//! classes, minimum storage durations (early-deletion charges), lifecycle transition requests.
//!
//! Why a model and not `bytes × price`: a checkpoint cleanup of objects uploaded to GLACIER_IR
//! last week, or a lifecycle rule moving millions of 50 KB shards to STANDARD_IA, can *cost*
//! money. The numbers a researcher acts on have to include those rules.
//!
//! Entry points:
//! - [`choose_table`] (the one choice for CLI and app) / [`table_for_profile`] / [`tables`]: which prices apply.
//! - [`PriceTable::monthly_storage_usd`] / [`PriceTable::breakdown`]: cost of usage by class.
//! - [`PriceTable::early_deletion_usd`]: charge for deleting objects younger than the class minimum.
//! - [`plan_savings`]: what a checkpoint cleanup plan saves per month, net of early deletion.
//! - [`transition_savings`]: what moving usage to another class saves, and its payback time.
//! - [`suggest_savings`]: the ranked cleanup and lifecycle actions for a review (the app's cost card).
//! - [`compute`]: GPU instance prices per hour (what `trainctl cost run` multiplies a run's
//!   duration by).
//!
//! Design notes and data sources: `docs/cost.md`.

pub mod compute;
mod model;
mod savings;
mod suggest;
mod table;

pub use model::{Aged, ClassCost, CostBreakdown, SMALL_OBJECT_BYTES};
pub use suggest::{compress_action, rank, suggest_savings, SavingsAction, SavingsKind};
pub use savings::{default_savings_table, plan_savings, plan_savings_in_class, savings_table, transition_savings, PlanSavings, TransitionSavings};
pub use table::{
    builtin_id, builtin_tables, choose_table, price_table, table_for_profile, table_from_spec, tables, ClassPrice, PriceBasis, PriceTable, TableSummary,
    PRICES_ENV,
};

use serde::{Deserialize, Serialize};

/// Stored usage of one storage class (an aggregate of a listing; never a list of objects).
///
/// `small_*` count the objects below [`SMALL_OBJECT_BYTES`] (128 KiB): the classes with a minimum
/// billable object size bill each of them as 128 KiB, and Intelligent-Tiering does not charge its
/// monitoring fee for them.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// As S3 reports it (`STANDARD`, `GLACIER_IR`, ...); empty means STANDARD.
    pub storage_class: String,
    pub bytes: u64,
    pub objects: u64,
    /// Objects smaller than 128 KiB ...
    pub small_objects: u64,
    /// ... and their bytes.
    pub small_bytes: u64,
}

impl Usage {
    /// An empty aggregate for `class`.
    pub fn new(class: &str) -> Usage {
        Usage { storage_class: class.to_string(), ..Usage::default() }
    }

    /// Counts one object of `size` bytes.
    pub fn add_object(&mut self, size: u64) {
        self.bytes += size;
        self.objects += 1;
        if size < SMALL_OBJECT_BYTES {
            self.small_objects += 1;
            self.small_bytes += size;
        }
    }

    /// Adds another aggregate (of the same class) into this one.
    pub fn merge(&mut self, other: &Usage) {
        self.bytes += other.bytes;
        self.objects += other.objects;
        self.small_objects += other.small_objects;
        self.small_bytes += other.small_bytes;
    }
}

/// The storage class S3 means by a listing's class field: missing or empty is `STANDARD`.
pub fn normalize_class(class: Option<&str>) -> String {
    match class.map(str::trim) {
        None | Some("") => "STANDARD".to_string(),
        Some(c) => c.to_ascii_uppercase(),
    }
}

/// Aggregates objects `(size, storage class)` into one [`Usage`] per class, sorted by class.
pub fn usage_by_class<'a>(objects: impl IntoIterator<Item = (u64, Option<&'a str>)>) -> Vec<Usage> {
    let mut by: std::collections::BTreeMap<String, Usage> = std::collections::BTreeMap::new();
    for (size, class) in objects {
        let class = normalize_class(class);
        by.entry(class.clone()).or_insert_with(|| Usage::new(&class)).add_object(size);
    }
    by.into_values().collect()
}

#[cfg(test)]
mod tests;

/// What every pricing test starts from: the us-east-1 table (so each expected value can be
/// checked with a calculator), size units, and an exact float comparison.
#[cfg(test)]
pub(crate) mod testing {
    use super::{price_table, PriceTable};

    pub const GIB: u64 = 1 << 30;
    pub const KIB: u64 = 1024;

    pub fn us_east_1() -> PriceTable {
        price_table("aws", "us-east-1").unwrap()
    }

    pub fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-12 * b.abs().max(1.0), "{a} != {b}");
    }
}
