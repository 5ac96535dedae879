//! Storage review: what uses a bucket (or a prefix), what it costs, and what a listing hides.
//!
//! Why a module of its own: `s5cmd du` and `aws s3 ls --summarize` give one total; a researcher
//! needs it by prefix, run, checkpoint, storage class and age, priced, on buckets of any size.
//! - [`review`]: a live listing, parallel across prefixes ([`listing`]), aggregated in constant
//!   memory ([`aggregate`], [`runs`]), plus hidden bytes ([`hidden`]) and duplicate objects
//!   ([`duplicates`]) with `detailed`.
//! - [`review_inventory`]: the same [`Report`] from an S3 Inventory report, without a LIST call.
//! - [`price`]: fills the `monthly_usd` fields from a cost table (or says which table is missing).
//! - [`snapshots`]: a small summary of each review kept locally, for growth over time.
//!
//! The JSON shape of [`Report`] is documented in `docs/review.md`.

pub mod aggregate;
pub mod compressible;
pub mod dedup_plan;
pub mod duplicates;
pub mod hidden;
pub mod inventory;
pub mod listing;
pub mod model;
pub mod progress;
pub mod references;
pub mod runs;
pub mod snapshots;
pub mod tally;

pub use inventory::review_inventory;
pub use model::*;

use crate::cost::PriceTable;
use crate::error::Result;
use crate::event::Sink;
use crate::s3::{list, Connection, S3Url};
use std::time::Instant;
use tokio_util::sync::CancellationToken;

/// How to review.
#[derive(Debug, Clone)]
pub struct ReviewOptions {
    /// Length of the largest-objects and largest-prefixes lists.
    pub top_n: usize,
    /// ListObjectsV2 requests in flight at once.
    pub concurrency: usize,
    /// Also look for hidden bytes (ListMultipartUploads + ListParts, ListObjectVersions) and
    /// for duplicate objects (from the same listing: no more requests).
    pub detailed: bool,
    /// How many duplicate groups a detailed review lists (`top_n` when `None`).
    pub duplicate_groups: Option<usize>,
    /// "Now" for age bands (seconds since the Unix epoch).
    pub now: i64,
}

impl Default for ReviewOptions {
    fn default() -> Self {
        ReviewOptions { top_n: 20, concurrency: 32, detailed: false, duplicate_groups: None, now: crate::checkpoint::detect::now_secs() }
    }
}

/// The prefix a URL names as a location: `s3://b/runs` and `s3://b/runs/` both mean `runs/`.
pub fn location_prefix(url: &S3Url) -> String {
    if url.key.is_empty() {
        String::new()
    } else {
        url.dir_prefix()
    }
}

/// Reviews everything under `url` with a live listing. An empty prefix is a report of zeros;
/// a missing bucket or denied listing is an error; a denied hidden-bytes call is a note in
/// `unseen`. Costs are not filled in: call [`price`].
pub async fn review(conn: &Connection, url: &S3Url, opts: &ReviewOptions, sink: &dyn Sink, cancel: &CancellationToken) -> Result<Report> {
    let started = Instant::now();
    list::check_bucket(conn, &url.bucket).await?;
    let prefix = location_prefix(url);
    let location = format!("s3://{}/{}", url.bucket, prefix);
    let mut agg = listing::list_into(conn, &url.bucket, &prefix, opts, sink, cancel).await?;
    let refs = std::mem::take(&mut agg.refs);
    let mut report = agg.into_report(&location, Source::Listing);
    if !refs.is_empty() {
        report.references = Some(refs.resolve(Some(conn), &url.bucket, report.totals.bytes).await);
    }
    if opts.detailed {
        let mut unseen = Vec::new();
        report.hidden = Some(hidden::find_hidden(conn, &url.bucket, &prefix, &mut unseen).await);
        report.unseen.extend(unseen);
        run_datasets(conn, &url.bucket, &prefix, &mut report).await;
    } else {
        report.unseen.push("hidden bytes (incomplete multipart uploads, old versions) and duplicate objects not checked: review with --detailed".into());
    }
    report.elapsed_ms = started.elapsed().as_millis() as u64;
    Ok(report)
}

/// Most runs whose `trainctl-run.json` a detailed review reads (the largest ones).
const MAX_RUN_RECORDS: usize = 200;

/// Which dataset versions each run trained on, from the record the training gate wrote beside
/// its checkpoints: one small GET per run (a run without one costs a 404), largest runs first.
async fn run_datasets(conn: &Connection, bucket: &str, prefix: &str, report: &mut Report) {
    use futures::StreamExt;
    let keys: Vec<String> = report.by_run.iter().take(MAX_RUN_RECORDS).map(|r| format!("{prefix}{}{}", r.run, crate::dataset::gate::RUN_RECORD)).collect();
    // Owned keys: a closure over borrowed ones trips the `Send` check of the desktop's command.
    let found: Vec<Option<Vec<String>>> = futures::stream::iter(keys)
        .map(|k| async move { crate::dataset::gate::read_record_s3(conn, bucket, &k).await.map(|r| r.dataset_refs()) })
        .buffered(16)
        .collect()
        .await;
    for (run, datasets) in report.by_run.iter_mut().zip(found) {
        run.datasets = datasets.unwrap_or_default();
    }
}

/// Most duplicate groups [`find_duplicates`] lists.
pub const MAX_DUPLICATE_GROUPS: usize = 100_000;

/// Every group of duplicate objects under `url` (up to [`MAX_DUPLICATE_GROUPS`]), from one
/// listing (no HEAD, nothing downloaded), priced with `table` when there is one. What a detailed
/// review finds, without the review's other calls.
pub async fn find_duplicates(conn: &Connection, url: &S3Url, table: Result<PriceTable>, sink: &dyn Sink, cancel: &CancellationToken) -> Result<(Duplicates, Vec<String>)> {
    list::check_bucket(conn, &url.bucket).await?;
    let opts = ReviewOptions { top_n: 1, detailed: true, duplicate_groups: Some(MAX_DUPLICATE_GROUPS), ..ReviewOptions::default() };
    let agg = listing::list_into(conn, &url.bucket, &location_prefix(url), &opts, sink, cancel).await?;
    let mut report = agg.into_report("", Source::Listing);
    price(&mut report, table);
    let notes = report.unseen.into_iter().filter(|u| u.starts_with("duplicates")).collect();
    Ok((report.duplicates.unwrap_or_default(), notes))
}

/// Fills every `monthly_usd` of the report from `table`; without one, records which table is
/// missing (the report stays valid, with costs `None`).
pub fn price(report: &mut Report, table: Result<PriceTable>) {
    let table = match table {
        Ok(t) => t,
        Err(e) => {
            report.pricing = Pricing { provider: None, region: None, missing: Some(e.to_string()) };
            return;
        }
    };
    report.pricing = Pricing { provider: Some(table.provider.clone()), region: Some(table.region.clone()), missing: None };
    let cost = |g: &mut Group| g.monthly_usd = Some(table.monthly_storage_usd(&g.classes));
    cost(&mut report.totals);
    report.by_prefix.iter_mut().for_each(cost);
    report.by_storage_class.iter_mut().for_each(cost);
    report.by_age.iter_mut().for_each(cost);
    report.largest_prefixes.iter_mut().for_each(cost);
    for r in &mut report.by_run {
        cost(&mut r.total);
    }
    if let Some(h) = report.hidden.as_mut() {
        h.monthly_usd = Some(table.monthly_storage_usd(&h.classes));
    }
    if let Some(d) = report.duplicates.as_mut() {
        d.monthly_usd = Some(table.monthly_storage_usd(&d.classes));
    }
    if let (Some(r), Some(total)) = (report.references.as_mut(), report.totals.monthly_usd) {
        r.monthly_usd_saved = Some(saved_usd(total, r.saved_bytes, r.stored_total));
    }
}

/// What `saved` bytes cost a month at the average price per byte of `stored` bytes costing
/// `total_usd` (the bytes references saved would have been stored like the rest).
fn saved_usd(total_usd: f64, saved: u64, stored: u64) -> f64 {
    if stored == 0 {
        return 0.0;
    }
    total_usd * saved as f64 / stored as f64
}

