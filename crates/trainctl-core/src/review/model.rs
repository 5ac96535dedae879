//! The review's result: one [`Report`] value that the CLI prints (table, `--json`, `--csv`), the
//! desktop Dashboard receives over IPC, and snapshots keep a summary of.
//!
//! Why one value: the CLI and the Dashboard must show the same numbers, and the e2e suite checks
//! exactly that. Field names are snake_case like the rest of core; the JSON shape is documented in
//! `docs/review.md`. Every list is bounded (top-N, capped group maps), so a report of a bucket
//! with billions of keys is as small as one of a hundred keys.

use serde::{Deserialize, Serialize};

/// Version of the report's JSON shape; bumped when a field changes meaning or disappears.
pub const REPORT_VERSION: u32 = 1;

/// Where a report's numbers came from.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// A live ListObjectsV2 walk of the prefix.
    Listing,
    /// An S3 Inventory report (manifest + CSV/Parquet data files): no LIST call at all.
    Inventory,
}

/// Everything a storage review found under one location.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// [`REPORT_VERSION`].
    pub version: u32,
    /// What was reviewed: `s3://bucket/prefix/` (for an inventory, the bucket/prefix it covers).
    pub location: String,
    pub source: Source,
    /// The inventory manifest read, for [`Source::Inventory`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<String>,
    /// When the review was made (seconds since the Unix epoch); ages are relative to it.
    pub generated_at: i64,
    /// Wall time of the review in milliseconds.
    pub elapsed_ms: u64,
    /// The whole location.
    pub totals: Group,
    /// One group per top-level prefix below the location (`"logs/"`), plus `"(top level)"` for
    /// objects directly in it. Largest first.
    pub by_prefix: Vec<Group>,
    /// Per storage class (`STANDARD`, `GLACIER_IR`…). Largest first.
    pub by_storage_class: Vec<Group>,
    /// Per age band of the last-modified time, always all bands in [`AGE_BANDS`] order
    /// (plus `"unknown"` when some objects had no date).
    pub by_age: Vec<Group>,
    /// Training runs: directories that directly hold checkpoints the checkpoint module's layouts
    /// recognise, with their checkpoint sizes. Largest first.
    pub by_run: Vec<RunGroup>,
    /// The N largest objects, largest first.
    pub largest_objects: Vec<ObjectItem>,
    /// The N largest directory prefixes at any depth (nested ones included), largest first.
    pub largest_prefixes: Vec<Group>,
    /// Bytes the bill includes but a listing does not show; `None` when not looked for
    /// (a review without `--detailed`, or an inventory).
    #[serde(default)]
    pub hidden: Option<Hidden>,
    /// The same bytes stored under several keys (same size and ETag); `None` when not looked
    /// for (a review without `--detailed`, or an inventory).
    #[serde(default)]
    pub duplicates: Option<Duplicates>,
    /// Content references (`--dedup=refs`) under the location: logical vs stored bytes; `None`
    /// when there are none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub references: Option<References>,
    /// Which price table priced the `monthly_usd` fields, or why none did.
    pub pricing: Pricing,
    /// Plain sentences saying what could not be seen (a denied call, a capped group list…).
    /// A review never fails for these; it says so here.
    pub unseen: Vec<String>,
}

/// Objects and bytes of one group, with the monthly storage cost when a price table is known.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Group {
    /// The group's label: a prefix (`"runs/"`), a storage class, an age band, `"total"`.
    pub name: String,
    pub objects: u64,
    pub bytes: u64,
    /// Storage cost per month in USD; `None` when no price table applies (see [`Report::pricing`]).
    pub monthly_usd: Option<f64>,
    /// Breakdown by storage class (what the price is computed from).
    #[serde(default)]
    pub classes: Vec<ClassUsage>,
}

/// Usage of one storage class inside a group: exactly what a price table needs (objects below
/// the 128 KiB minimum billable size counted apart). The cost module's type, so no conversion.
pub type ClassUsage = crate::cost::Usage;

/// Objects below this size are billed as this size in the IA and Glacier classes.
pub use crate::cost::SMALL_OBJECT_BYTES;

/// Age bands, youngest first: (label, upper bound in days, exclusive). The last is open-ended.
pub const AGE_BANDS: [(&str, Option<i64>); 5] =
    [("<7d", Some(7)), ("7-30d", Some(30)), ("30-90d", Some(90)), ("90-365d", Some(365)), (">1y", None)];

/// Label of objects without a last-modified time.
pub const AGE_UNKNOWN: &str = "unknown";

/// Label of the objects directly in the reviewed location (no `/` after it).
pub const TOP_LEVEL: &str = "(top level)";

/// Label of what did not fit in a capped group list.
pub const OTHER: &str = "(other)";

/// A training run found by its checkpoints.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunGroup {
    /// The run directory relative to the location (`"exp1/"`; `""` when the location itself is
    /// the run).
    pub run: String,
    /// Everything under the run directory (checkpoints, logs, configs).
    pub total: Group,
    /// Number of checkpoints, and their bytes and objects.
    pub checkpoints: u64,
    pub checkpoint_bytes: u64,
    pub checkpoint_objects: u64,
    /// The checkpoints, oldest step first; at most [`MAX_CHECKPOINTS_PER_RUN`] (counts above stay exact).
    pub checkpoint_sizes: Vec<CheckpointSize>,
    /// Newest last-modified time of anything in the run (seconds since the Unix epoch).
    pub last_modified: Option<i64>,
    /// `NAME@VERSION` of the datasets the run trained on, from its `trainctl-run.json` (the
    /// training gate's record); filled by a detailed review only.
    #[serde(default)]
    pub datasets: Vec<String>,
}

/// Most checkpoints listed per run in [`RunGroup::checkpoint_sizes`].
pub const MAX_CHECKPOINTS_PER_RUN: usize = 1000;

/// The size of one checkpoint (a directory or a file) of a run.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointSize {
    /// Relative to the location; directories end with `/` (same ids as `checkpoint list`).
    pub id: String,
    /// The layout it was recognised by (snake_case name of `checkpoint::Layout`).
    pub layout: String,
    pub step: Option<u64>,
    pub objects: u64,
    pub bytes: u64,
    pub last_modified: Option<i64>,
}

/// One object of the largest-objects list (ordered by key, for deterministic ties).
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ObjectItem {
    /// Full key in the bucket.
    pub key: String,
    pub bytes: u64,
    pub storage_class: String,
    pub last_modified: Option<i64>,
}

/// Content references under a location (`review::references`): what the files amount to
/// (logical) against what the store holds (stored, = the listed bytes).
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct References {
    /// Reference objects and their own (stored) bytes.
    pub refs: u64,
    pub ref_bytes: u64,
    /// The bytes the references stand for.
    pub logical_bytes: u64,
    /// Content objects and their bytes.
    pub content_objects: u64,
    pub content_bytes: u64,
    /// References whose body could not be read (counted at their stored size).
    pub unread: u64,
    /// Every file at its logical size: the listed bytes less references and content objects,
    /// plus what the references stand for.
    pub logical_total: u64,
    /// Every listed byte.
    pub stored_total: u64,
    /// What storing every file plainly would add: `logical_total - stored_total` (0 when the
    /// references and their content take more than the files would).
    #[serde(default)]
    pub saved_bytes: u64,
    /// `saved_bytes` per month at the location's average price per byte (its total cost over
    /// its stored bytes); `None` when unpriced.
    #[serde(default)]
    pub monthly_usd_saved: Option<f64>,
}

/// What a listing does not show and the bill still counts.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Hidden {
    /// Incomplete multipart uploads under the location (ListMultipartUploads).
    pub multipart_uploads: u64,
    /// Their uploaded parts and the parts' bytes (ListParts).
    pub multipart_parts: u64,
    pub multipart_bytes: u64,
    /// The oldest incomplete upload's start (seconds since the Unix epoch).
    pub oldest_upload: Option<i64>,
    /// Bucket versioning status as the server reports it: `Enabled`, `Suspended`, or `None` when
    /// never enabled (then there are no noncurrent versions to look for).
    pub versioning: Option<String>,
    /// Noncurrent (overwritten or deleted) versions and their bytes (ListObjectVersions).
    pub noncurrent_versions: u64,
    pub noncurrent_bytes: u64,
    /// Delete markers (no bytes, but each one is a billed object entry and hides a version).
    pub delete_markers: u64,
    /// Cost of the hidden bytes per month (parts at STANDARD, versions at their class).
    pub monthly_usd: Option<f64>,
    /// Hidden usage by storage class (what `monthly_usd` is computed from).
    #[serde(default)]
    pub classes: Vec<ClassUsage>,
}

impl Hidden {
    /// Counts `n` hidden objects of `bytes` in `class` (sizes per object unknown: not small).
    pub fn add_usage(&mut self, class: &str, n: u64, bytes: u64) {
        match self.classes.iter_mut().find(|c| c.storage_class == class) {
            Some(c) => {
                c.objects += n;
                c.bytes += bytes;
            }
            None => self.classes.push(ClassUsage { storage_class: class.to_string(), objects: n, bytes, ..ClassUsage::default() }),
        }
    }

    /// All hidden bytes.
    pub fn bytes(&self) -> u64 {
        self.multipart_bytes + self.noncurrent_bytes
    }
}

/// Copies of the same bytes under several keys (see `review::duplicates` for how they are found).
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Duplicates {
    /// Groups of two or more copies, most reclaimable first (the first N; `groups_total` counts
    /// them all).
    pub groups: Vec<DuplicateGroup>,
    pub groups_total: u64,
    /// Objects in all groups.
    pub objects: u64,
    /// What every copy but one of each group takes: the bytes a dedup would give back.
    pub reclaimable_bytes: u64,
    /// Their storage cost per month.
    pub monthly_usd: Option<f64>,
    /// Objects smaller than this were not compared.
    pub min_object_bytes: u64,
    /// Objects large enough that were listed without an ETag, so not compared (some stores,
    /// e.g. the embedded demo's, do not report one).
    #[serde(default)]
    pub without_etag: u64,
    /// The reclaimable bytes by storage class (what `monthly_usd` is computed from).
    #[serde(default)]
    pub classes: Vec<ClassUsage>,
}

/// Objects with the same size and ETag.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DuplicateGroup {
    /// Size of one copy.
    pub bytes: u64,
    pub etag: String,
    pub copies: u64,
    /// `bytes × (copies − 1)`.
    pub reclaimable_bytes: u64,
    /// The storage class of the first copy seen.
    pub storage_class: String,
    /// Up to `review::duplicates::KEYS_SHOWN` keys, in key order.
    pub keys: Vec<String>,
}

/// Which price table was used.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Pricing {
    /// Provider and region of the table (`aws`/`us-east-1`), when one was found.
    pub provider: Option<String>,
    pub region: Option<String>,
    /// Set when no table applies: which table is missing and why (costs are then `None`).
    pub missing: Option<String>,
}

impl Report {
    /// An empty report of `location`: all zeros, every age band present.
    pub fn empty(location: &str, source: Source, generated_at: i64) -> Report {
        Report {
            version: REPORT_VERSION,
            location: location.to_string(),
            source,
            manifest: None,
            generated_at,
            elapsed_ms: 0,
            totals: Group { name: "total".into(), ..Group::default() },
            by_prefix: Vec::new(),
            by_storage_class: Vec::new(),
            by_age: AGE_BANDS.iter().map(|(name, _)| Group { name: name.to_string(), ..Group::default() }).collect(),
            by_run: Vec::new(),
            largest_objects: Vec::new(),
            largest_prefixes: Vec::new(),
            hidden: None,
            duplicates: None,
            references: None,
            pricing: Pricing::default(),
            unseen: Vec::new(),
        }
    }
}
