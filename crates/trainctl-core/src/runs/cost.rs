//! What a run cost: instance-hours × the instance's hourly price, plus what its files cost to
//! keep per month.
//!
//! The duration comes from the run itself: `trainctl-run.json`'s `started` (written by
//! `trainctl local` before the script starts; a launcher may add `finished`) to its `finished`
//! or the newest checkpoint, else the first to the newest checkpoint (the time before the first
//! save is then not counted, and the result says so). `--hours` overrides both. Prices:
//! [`crate::cost::compute`] for the instance, the storage tables for the files.

use crate::checkpoint::{self, DetectOptions, Location, Run};
use crate::cost::compute::{ComputeTable, InstancePrice};
use crate::cost::{PriceBasis, PriceTable, Usage};
use crate::dataset::gate::{RunRecord, MAX_RECORD_BYTES, RUN_RECORD};
use crate::error::{Error, Result};
use crate::event::NullSink;
use crate::review::{self, ReviewOptions};
use crate::s3::Connection;
use serde::Serialize;

/// What the user asked.
#[derive(Debug, Clone)]
pub struct CostRequest {
    pub instance: String,
    pub region: String,
    pub spot: bool,
    /// Instances the run used.
    pub count: u32,
    /// Overrides the duration read from the run.
    pub hours: Option<f64>,
}

/// Where the duration came from.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DurationSource {
    /// `--hours`.
    Given,
    /// `trainctl-run.json` (its `started`, then `finished` or the newest checkpoint).
    RunRecord,
    /// First to newest checkpoint.
    Checkpoints,
}

/// A run's compute cost as the Runs view shows it beside the run.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComputeCost {
    pub instance: String,
    pub spot: bool,
    pub count: u32,
    pub usd_per_hour: f64,
    pub hours: f64,
    pub usd: f64,
    pub price_date: String,
    pub price_source: String,
    /// The span priced, seconds since the epoch (a budget counts the part inside its window).
    pub start: i64,
    pub end: i64,
}

/// The compute cost of `run` from its `trainctl-run.json`, when the record names an instance the
/// built-in table prices and the run's span can be told; `None` otherwise (the view shows
/// nothing rather than a guess).
pub fn compute_of(run: &Run, record: &RunRecord) -> Option<ComputeCost> {
    let req = CostRequest {
        instance: record.instance.clone()?,
        region: record.instance_region.clone().unwrap_or_else(|| "us-east-1".into()),
        spot: record.spot.unwrap_or(false),
        count: record.count.unwrap_or(1),
        hours: None,
    };
    let (price, usd_per_hour) = req.price(crate::cost::compute::builtin_compute_table()).ok()?;
    let s = span(std::slice::from_ref(run), Some(record)).ok()?;
    let hours = (s.end - s.start) as f64 / 3600.0;
    Some(ComputeCost {
        instance: price.instance.clone(),
        spot: req.spot,
        count: req.count,
        usd_per_hour,
        hours,
        usd: usd_per_hour * hours * f64::from(req.count),
        price_date: price.date.clone(),
        price_source: if req.spot { price.spot_source.clone().unwrap_or_else(|| price.source.clone()) } else { price.source.clone() },
        start: s.start,
        end: s.end,
    })
}

/// Days of compute a monthly budget counts: the last 30, like a month of storage.
pub const BUDGET_WINDOW_DAYS: u32 = 30;

/// Compute spent by runs in the [`BUDGET_WINDOW_DAYS`] before `now`, for a monthly budget that
/// covers storage and compute alike.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComputeSpend {
    pub usd: f64,
    /// Runs with compute inside the window (priced from their `trainctl-run.json`).
    pub runs: u32,
    pub window_days: u32,
}

/// Sums the compute of `costs` inside the window ending at `now`. Why prorated: a run that
/// started 40 days ago and finished 20 days ago spent half its hours in this month's window, so
/// half its cost counts against this month's budget; a run still going counts up to `now`.
pub fn compute_spend<'a>(costs: impl IntoIterator<Item = &'a ComputeCost>, now: i64) -> ComputeSpend {
    let from = now - i64::from(BUDGET_WINDOW_DAYS) * 86_400;
    let (mut usd, mut runs) = (0.0, 0);
    for c in costs {
        let inside = (c.end.min(now) - c.start.max(from)).max(0);
        if inside == 0 && !(c.start == c.end && (from..=now).contains(&c.start)) {
            continue;
        }
        let span = c.end - c.start;
        usd += if span > 0 { c.usd * inside as f64 / span as f64 } else { c.usd };
        runs += 1;
    }
    ComputeSpend { usd, runs, window_days: BUDGET_WINDOW_DAYS }
}

/// A run's span in seconds since the epoch and where it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub start: i64,
    pub end: i64,
    pub source: DurationSource,
}

/// What a run cost.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunCost {
    pub location: String,
    pub instance: String,
    pub region: String,
    pub gpu: String,
    pub gpus: u32,
    pub spot: bool,
    pub count: u32,
    /// USD per instance-hour.
    pub usd_per_hour: f64,
    pub hours: f64,
    pub duration_from: DurationSource,
    /// Seconds since the epoch, when read from the run.
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub started: Option<i64>,
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub ended: Option<i64>,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub checkpoints: u64,
    /// `usd_per_hour × hours × count`.
    pub compute_usd: f64,
    pub price_source: String,
    pub price_date: String,
    /// `published`, `best-knowledge` or `custom`.
    pub price_basis: String,
    pub price_note: Option<String>,
    /// `built-in` or the custom table's path.
    pub compute_table: String,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub storage_bytes: u64,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub storage_objects: u64,
    pub storage_monthly_usd: f64,
    /// `aws/us-east-1`.
    pub storage_table: String,
    pub storage_table_date: String,
    pub notes: Vec<String>,
}

/// The run's span from its record and checkpoints ([module docs](self)).
pub fn span(runs: &[Run], record: Option<&RunRecord>) -> std::result::Result<Span, String> {
    let times: Vec<i64> = runs.iter().flat_map(|r| &r.checkpoints).filter_map(|c| c.last_modified).collect();
    let (first, last) = (times.iter().min().copied(), times.iter().max().copied());
    let s = match record.and_then(|r| r.started) {
        Some(start) => {
            let end = record.and_then(|r| r.finished).or(last).ok_or_else(|| format!("{RUN_RECORD} has a start time but no end, and there is no checkpoint"))?;
            Span { start, end, source: DurationSource::RunRecord }
        }
        None => match (first, last) {
            (Some(start), Some(end)) if times.len() >= 2 => Span { start, end, source: DurationSource::Checkpoints },
            _ => return Err(format!("{} checkpoint time(s) and no {RUN_RECORD} with a start time", times.len())),
        },
    };
    if s.end < s.start {
        return Err(format!("it ends ({}) before it starts ({})", s.end, s.start));
    }
    Ok(s)
}

impl CostRequest {
    /// Checks the flags and finds the hourly price, before anything is listed or another table
    /// is chosen: bad input fails first.
    pub fn price<'t>(&self, compute: &'t ComputeTable) -> Result<(&'t InstancePrice, f64)> {
        if let Some(h) = self.hours {
            if !h.is_finite() || h <= 0.0 {
                return Err(Error::Usage(format!("--hours must be a number of hours above 0 (got {h})")));
            }
        }
        if self.count == 0 {
            return Err(Error::Usage("--count must be 1 or more".into()));
        }
        let price = compute.price(&self.instance, &self.region)?;
        let usd_per_hour = match (self.spot, price.spot_hour) {
            (false, _) => price.on_demand_hour,
            (true, Some(s)) => s,
            (true, None) => return Err(Error::InstanceUnknown { instance: format!("{} on spot in {}", price.instance, price.region), close: "its on-demand price (drop --spot)".into() }),
        };
        Ok((price, usd_per_hour))
    }
}

/// Prices a run: its span (or `req.hours`) × the instance's price × `req.count`, and its files'
/// monthly storage with `storage`.
pub async fn run_cost(loc: &Location, conn: Option<&Connection>, req: &CostRequest, compute: &ComputeTable, storage: &PriceTable) -> Result<RunCost> {
    let (price, usd_per_hour) = req.price(compute)?;
    let opts = DetectOptions { grace: std::time::Duration::ZERO, ..DetectOptions::new() };
    let found = checkpoint::discover(loc, conn, &opts).await?;
    let record = match found.entries.iter().any(|e| e.path == RUN_RECORD && e.size <= MAX_RECORD_BYTES) {
        true => super::source::read_at(loc, conn, RUN_RECORD).await.ok().and_then(|b| RunRecord::parse(&b)),
        false => None,
    };
    let mut notes = Vec::new();
    let span = span(&found.runs, record.as_ref());
    let (hours, duration_from, started, ended) = match (req.hours, span) {
        (Some(h), s) => (h, DurationSource::Given, s.as_ref().ok().map(|s| s.start), s.as_ref().ok().map(|s| s.end)),
        (None, Ok(s)) => ((s.end - s.start) as f64 / 3600.0, s.source, Some(s.start), Some(s.end)),
        (None, Err(reason)) => return Err(Error::RunDurationUnknown { location: loc.display(), reason }),
    };
    if duration_from == DurationSource::Checkpoints {
        notes.push("duration from the first to the newest checkpoint: the time before the first save is not counted (pass --hours for the whole run)".into());
    }
    if found.runs.len() > 1 {
        notes.push(format!("{} runs under this location: the span covers all of them", found.runs.len()));
    }
    if req.spot {
        notes.push("spot: a typical price, not a quote (spot prices move; see the source)".into());
    }
    let usage = storage_usage(loc, conn, &found.entries).await?;
    let breakdown = storage.breakdown(&usage);
    Ok(RunCost {
        location: loc.display(),
        instance: price.instance.clone(),
        region: price.region.clone(),
        gpu: price.gpu.clone(),
        gpus: price.gpus,
        spot: req.spot,
        count: req.count,
        usd_per_hour,
        hours,
        duration_from,
        started,
        ended,
        checkpoints: found.checkpoint_count() as u64,
        compute_usd: usd_per_hour * hours * f64::from(req.count),
        price_source: if req.spot { price.spot_source.clone().unwrap_or_else(|| price.source.clone()) } else { price.source.clone() },
        price_date: price.date.clone(),
        price_basis: basis_name(price.basis).into(),
        price_note: price.note.clone(),
        compute_table: compute.origin.clone(),
        storage_bytes: breakdown.bytes,
        storage_objects: breakdown.objects,
        storage_monthly_usd: breakdown.monthly_usd,
        storage_table: breakdown.table.clone(),
        storage_table_date: breakdown.table_date.clone(),
        notes,
    })
}

fn basis_name(b: PriceBasis) -> &'static str {
    match b {
        PriceBasis::Published => "published",
        PriceBasis::BestKnowledge => "best-knowledge",
        PriceBasis::Custom => "custom",
    }
}

/// Stored usage by class: on S3 from the review engine (the classes `cost estimate` sees), a
/// local folder as STANDARD (what keeping it on S3 would cost).
async fn storage_usage(loc: &Location, conn: Option<&Connection>, entries: &[checkpoint::FileEntry]) -> Result<Vec<Usage>> {
    match (loc, conn) {
        (Location::S3(url), Some(conn)) => {
            let opts = ReviewOptions { top_n: 1, ..ReviewOptions::default() };
            let report = review::review(conn, url, &opts, &NullSink, &tokio_util::sync::CancellationToken::new()).await?;
            Ok(report.totals.classes)
        }
        _ => {
            let mut u = Usage::new("STANDARD");
            entries.iter().for_each(|e| u.add_object(e.size));
            Ok(vec![u])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::{Checkpoint, Completeness, Layout};

    fn run(times: &[i64]) -> Run {
        let checkpoints = times
            .iter()
            .enumerate()
            .map(|(i, t)| Checkpoint {
                run: "r".into(),
                id: format!("r/checkpoint-{i}/"),
                layout: Layout::HfTrainer,
                step: Some(i as u64),
                epoch: None,
                metrics: Default::default(),
                files: vec![],
                bytes: 0,
                last_modified: Some(*t),
                complete: Completeness::Complete,
                framework_keep: None,
                same_as: None,
            })
            .collect();
        Run { name: "r".into(), checkpoints }
    }

    fn cost(usd: f64, start: i64, end: i64) -> ComputeCost {
        ComputeCost { instance: "p4d.24xlarge".into(), spot: false, count: 1, usd_per_hour: 1.0, hours: 0.0, usd, price_date: String::new(), price_source: String::new(), start, end }
    }

    #[test]
    fn a_budget_counts_the_part_of_each_run_inside_its_30_days() {
        const DAY: i64 = 86_400;
        let now = 1_800_000_000;
        let inside = cost(100.0, now - 5 * DAY, now - 4 * DAY);
        let straddling = cost(80.0, now - 40 * DAY, now - 20 * DAY);
        let before = cost(1000.0, now - 90 * DAY, now - 60 * DAY);
        let spend = compute_spend([&inside, &straddling, &before], now);
        assert_eq!(spend.runs, 2);
        assert!((spend.usd - 140.0).abs() < 1e-9, "{spend:?}");
        assert_eq!(spend.window_days, 30);
        assert_eq!(compute_spend([], now).usd, 0.0);
    }

    #[test]
    fn compute_of_records_the_span_it_priced() {
        let record = RunRecord { started: Some(1000), finished: Some(1000 + 7200), instance: Some("p4d.24xlarge".into()), ..RunRecord::default() };
        let c = compute_of(&run(&[1500]), &record).unwrap();
        assert_eq!((c.start, c.end), (1000, 8200));
        assert!((c.hours - 2.0).abs() < 1e-9);
    }

    #[test]
    fn the_span_is_first_to_newest_checkpoint_without_a_record() {
        assert_eq!(span(&[run(&[1000, 4600, 8200])], None), Ok(Span { start: 1000, end: 8200, source: DurationSource::Checkpoints }));
        assert!(span(&[run(&[1000])], None).unwrap_err().contains("1 checkpoint time"));
    }

    #[test]
    fn the_record_start_wins_and_its_finish_ends_the_span() {
        let rec = RunRecord { started: Some(100), ..RunRecord::default() };
        assert_eq!(span(&[run(&[1000, 8200])], Some(&rec)).unwrap(), Span { start: 100, end: 8200, source: DurationSource::RunRecord });
        let rec = RunRecord { started: Some(100), finished: Some(9000), ..RunRecord::default() };
        assert_eq!(span(&[run(&[1000])], Some(&rec)).unwrap().end, 9000);
        let rec = RunRecord { started: Some(100), ..RunRecord::default() };
        assert!(span(&[], Some(&rec)).is_err());
        let rec = RunRecord { started: Some(9000), finished: Some(100), ..RunRecord::default() };
        assert!(span(&[], Some(&rec)).unwrap_err().contains("before it starts"));
    }

    #[test]
    fn the_view_prices_a_run_whose_record_names_an_instance() {
        let rec = RunRecord { started: Some(0), instance: Some("p4d.24xlarge".into()), count: Some(2), ..RunRecord::default() };
        let c = compute_of(&run(&[3600, 9000]), &rec).unwrap();
        assert_eq!((c.hours, c.usd_per_hour, c.count, c.spot), (2.5, 21.96, 2, false));
        assert!((c.usd - 21.96 * 2.5 * 2.0).abs() < 1e-9);
        assert!(compute_of(&run(&[3600]), &RunRecord { instance: None, ..rec.clone() }).is_none(), "no instance: no price");
        assert!(compute_of(&run(&[3600]), &RunRecord { instance: Some("x1.nope".into()), ..rec }).is_none());
    }

    #[test]
    fn a_record_with_other_fields_is_read() {
        let r: RunRecord = serde_json::from_str(r#"{"script":"t.py","args":[],"git_commit":null,"started":5,"datasets":[],"instance":"g5.xlarge"}"#).unwrap();
        assert_eq!((r.started, r.instance.as_deref()), (Some(5), Some("g5.xlarge")));
    }
}
