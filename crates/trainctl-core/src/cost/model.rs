//! The billing rules: what a month of stored usage costs in a table, and what deleting young
//! objects costs on top. Pure functions over aggregates, so they are exact to unit-test and cheap
//! to call for every row of a review.

use super::table::{ClassPrice, PriceTable};
use super::Usage;
use serde::{Deserialize, Serialize};

/// Objects below this size (128 KiB, what AWS calls "128 KB") are billed as this size in the
/// classes with a minimum billable size, and are not monitored by Intelligent-Tiering.
pub const SMALL_OBJECT_BYTES: u64 = 128 * 1024;

/// Days in a billing month for prorating early-deletion charges. AWS prorates by the days of
/// the calendar month; 30 makes a 30-day minimum cost exactly one month's storage.
pub const DAYS_PER_MONTH: f64 = 30.0;

/// Usage whose objects are all about `age_days` old: one row of an age histogram (or one
/// object). What early-deletion and transition math needs on top of [`Usage`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Aged {
    pub usage: Usage,
    /// Days since the objects were written (or last transitioned).
    pub age_days: f64,
}

impl Aged {
    /// One object of `bytes` in `class`, `age_days` old.
    pub fn object(class: &str, bytes: u64, age_days: f64) -> Aged {
        let mut usage = Usage::new(class);
        usage.add_object(bytes);
        Aged { usage, age_days }
    }
}

/// The monthly cost of one storage class's usage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassCost {
    /// The class as listed.
    pub class: String,
    /// The table row it was priced with (the default class when the table has no such row).
    pub priced_as: String,
    pub bytes: u64,
    pub objects: u64,
    /// Bytes billed at the class price: stored bytes, small objects rounded up to the minimum
    /// billable size, plus per-object metadata billed at the class price.
    pub billable_bytes: u64,
    /// Per-object metadata billed at the STANDARD price (GLACIER / DEEP_ARCHIVE: 8 KiB each).
    pub standard_overhead_bytes: u64,
    pub storage_usd: f64,
    /// Standard-priced metadata plus Intelligent-Tiering monitoring.
    pub overhead_usd: f64,
    pub monthly_usd: f64,
    /// USD per GB-month of the row used.
    pub usd_per_gb_month: f64,
}

/// Monthly storage cost of some usage, class by class, with the table it was priced with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostBreakdown {
    /// `provider/region` of the table.
    pub table: String,
    pub table_name: String,
    pub table_date: String,
    pub table_source: String,
    /// `built-in` or the custom file's path.
    pub table_origin: String,
    pub classes: Vec<ClassCost>,
    pub bytes: u64,
    pub objects: u64,
    pub monthly_usd: f64,
    /// Classes the table has no row for (priced as its default class).
    pub unpriced_classes: Vec<String>,
}

impl PriceTable {
    /// Storage cost per month of `usage`, in USD: every class's billable bytes at its price,
    /// plus per-object overheads and monitoring fees. Requests and retrievals are not included
    /// (they depend on traffic, not on what is stored).
    pub fn monthly_storage_usd(&self, usage: &[Usage]) -> f64 {
        sum_usd(usage.iter().map(|u| self.class_cost(u).monthly_usd))
    }

    /// What downloading `bytes` to the internet costs once (egress at the table's first paid
    /// tier); `None` when the table has no egress price (it is 0 for stores without egress fees).
    pub fn egress_usd(&self, bytes: u64) -> Option<f64> {
        (self.egress_per_gb >= 0.0).then(|| bytes as f64 / self.bytes_per_gb.max(1) as f64 * self.egress_per_gb)
    }

    /// [`Self::monthly_storage_usd`] with the detail: one [`ClassCost`] per usage row (rows of
    /// the same class are merged), sorted by cost, dearest first.
    pub fn breakdown(&self, usage: &[Usage]) -> CostBreakdown {
        let mut merged: std::collections::BTreeMap<String, Usage> = std::collections::BTreeMap::new();
        for u in usage {
            let class = super::normalize_class(Some(&u.storage_class));
            merged.entry(class.clone()).or_insert_with(|| Usage::new(&class)).merge(u);
        }
        let mut classes: Vec<ClassCost> = merged.values().map(|u| self.class_cost(u)).collect();
        classes.sort_by(|a, b| b.monthly_usd.total_cmp(&a.monthly_usd).then_with(|| a.class.cmp(&b.class)));
        let unpriced_classes = classes.iter().filter(|c| c.priced_as != c.class).map(|c| c.class.clone()).collect();
        CostBreakdown {
            table: self.id(),
            table_name: self.name.clone(),
            table_date: self.date.clone(),
            table_source: self.source.clone(),
            table_origin: self.origin.clone(),
            bytes: crate::limits::sum_sizes(classes.iter().map(|c| c.bytes)),
            objects: crate::limits::sum_sizes(classes.iter().map(|c| c.objects)),
            monthly_usd: sum_usd(classes.iter().map(|c| c.monthly_usd)),
            classes,
            unpriced_classes,
        }
    }

    /// The monthly cost of one usage row.
    pub fn class_cost(&self, u: &Usage) -> ClassCost {
        let class = super::normalize_class(Some(&u.storage_class));
        let (price, fallback) = self.class(&class);
        let priced_as = if fallback { self.default_class.clone() } else { class.clone() };
        let billable_bytes = billable_bytes(price, u);
        let standard_overhead_bytes = u.objects.saturating_mul(price.overhead_standard_bytes);
        let storage_usd = self.gb(billable_bytes) * price.storage_gb_month;
        let monitored = u.objects.saturating_sub(u.small_objects);
        let overhead_usd =
            self.gb(standard_overhead_bytes) * self.standard_price() + monitored as f64 / 1000.0 * price.monitoring_per_1000_objects;
        ClassCost {
            class,
            priced_as,
            bytes: u.bytes,
            objects: u.objects,
            billable_bytes,
            standard_overhead_bytes,
            storage_usd,
            overhead_usd,
            monthly_usd: storage_usd + overhead_usd,
            usd_per_gb_month: price.storage_gb_month,
        }
    }

    /// The one-time charge for deleting (or overwriting, or transitioning away) `items` now:
    /// for objects younger than their class's minimum duration, the storage of the remaining
    /// days, prorated at [`DAYS_PER_MONTH`].
    pub fn early_deletion_usd(&self, items: &[Aged]) -> f64 {
        sum_usd(items.iter().map(|a| self.early_deletion_one(a)))
    }

    fn early_deletion_one(&self, a: &Aged) -> f64 {
        let (price, _) = self.class(&a.usage.storage_class);
        let remaining_days = (price.min_days as f64 - a.age_days.max(0.0)).max(0.0);
        if remaining_days == 0.0 {
            return 0.0;
        }
        self.gb(billable_bytes(price, &a.usage)) * price.storage_gb_month * remaining_days / DAYS_PER_MONTH
    }

    /// Bytes in this table's billing unit.
    pub(crate) fn gb(&self, bytes: u64) -> f64 {
        bytes as f64 / self.bytes_per_gb as f64
    }

    /// The STANDARD price (what per-object metadata of the archive classes is billed at).
    fn standard_price(&self) -> f64 {
        self.classes.get("STANDARD").unwrap_or(&self.classes[&self.default_class]).storage_gb_month
    }
}

/// Sums dollars from +0.0: `f64::sum` of nothing is −0.0, which JSON shows as `-0.0`.
fn sum_usd(values: impl Iterator<Item = f64>) -> f64 {
    values.fold(0.0, |a, b| a + b)
}

/// Bytes billed at the class price: small objects rounded up to the minimum billable size, plus
/// per-object metadata billed at the class price.
///
/// The aggregate only knows the objects below 128 KiB, so a custom minimum other than 128 KiB is
/// approximated: `max(small bytes, small objects × minimum)` for the small objects.
fn billable_bytes(price: &ClassPrice, u: &Usage) -> u64 {
    let large_bytes = u.bytes.saturating_sub(u.small_bytes);
    // Saturating: a custom table's sizes are user input, and `u64` overflow would panic.
    let small_billed = if price.min_object_bytes > 0 { u.small_bytes.max(u.small_objects.saturating_mul(price.min_object_bytes)) } else { u.small_bytes };
    large_bytes.saturating_add(small_billed).saturating_add(u.objects.saturating_mul(price.overhead_bytes))
}
