//! The Dashboard's storage review: one review at a time (a new one cancels the old), priced with
//! the connection's table, with the ranked savings, a local snapshot for the growth chart, and a
//! notification when the month's cost is over the budget the user set.

use super::notify::{NewNotification, NotificationLevel};
use super::App;
use crate::cost::{self, SavingsAction};
use crate::error::{Error, Result};
use crate::review::{self, snapshots, Report, ReviewOptions};
use crate::runs::cost::{compute_spend, ComputeSpend};
use crate::runs::overview;
use crate::review::compressible::{self, CompressEstimate};
use crate::checkpoint::detect::now_secs;
use crate::s3::S3Url;
use serde::Serialize;
use std::sync::Mutex;
use tokio_util::sync::CancellationToken;

/// The review in progress, for `review_cancel`.
#[derive(Default)]
pub(crate) struct Running(Mutex<(Option<(u64, CancellationToken)>, u64)>);

/// What `review_run` returns: the same report as `trainctl s3 review --detailed --json`.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
pub struct ReviewOutcome {
    pub report: Report,
    /// Best first (largest monthly saving), ranked by `cost::suggest_savings`.
    pub savings: Vec<SavingsAction>,
    /// Compute spent in the last 30 days by the runs under the location (from their
    /// `trainctl-run.json`), counted against the budget with storage; only when a budget is set.
    pub compute: Option<ComputeSpend>,
    /// What `--compress auto` would save on the largest objects, measured on samples (the
    /// "compress" savings action's dialog); `None` when nothing was sampled.
    pub compress: Option<CompressEstimate>,
}

impl App {
    /// Reviews `s3://bucket/prefix`; progress arrives as `ReviewProgress` events.
    pub async fn review_run(&self, bucket: &str, prefix: &str, budget_usd: Option<f64>) -> Result<ReviewOutcome> {
        let conn = self.session.conn()?;
        let url = S3Url::parse(&format!("s3://{bucket}/{prefix}"))?;
        let cancel = CancellationToken::new();
        let id = {
            let mut g = self.review.0.lock().unwrap();
            g.1 += 1;
            let id = g.1;
            if let Some((_, old)) = g.0.replace((id, cancel.clone())) {
                old.cancel();
            }
            id
        };
        let app = self.me();
        let sink = move |e: crate::event::Event| app.emit(e);
        let opts = ReviewOptions { detailed: true, ..ReviewOptions::default() };
        // Dropping the review future on cancel stops it at once (the core also checks the token
        // between listing units, but a unit can be long).
        let result = tokio::select! {
            r = review::review(&conn, &url, &opts, &sink, &cancel) => r,
            _ = cancel.cancelled() => Err(Error::Cancelled),
        };
        {
            let mut g = self.review.0.lock().unwrap();
            if g.0.as_ref().is_some_and(|(mine, _)| *mine == id) {
                g.0.take();
            }
        }
        let mut report = self.watched(result)?;
        let table = self.price_table(&conn).await;
        let base = review::location_prefix(&url);
        let mut savings = match &table {
            Ok(t) => cost::suggest_savings(&report, &url.bucket, &base, t),
            Err(_) => Vec::new(),
        };
        let compress = match compressible::estimate(&conn, &url.bucket, &report.largest_objects, table.as_ref().ok()).await {
            Ok(e) if !e.objects.is_empty() => Some(e),
            Ok(_) => None,
            Err(e) => {
                tracing::warn!("compression not measured: {e}");
                None
            }
        };
        if table.is_ok() {
            savings.extend(compress.as_ref().and_then(|e| cost::compress_action(e, &base)));
            cost::rank(&mut savings);
        }
        review::price(&mut report, table);
        if let Err(e) = snapshots::save(&report) {
            tracing::warn!("review snapshot not saved: {e}");
        }
        let budget_usd = budget_usd.filter(|b| b.is_finite() && *b > 0.0);
        let compute = match budget_usd {
            Some(_) => self.compute_spend(&url).await,
            None => None,
        };
        self.warn_over_budget(&report, compute.as_ref(), budget_usd);
        Ok(ReviewOutcome { report, savings, compute, compress })
    }

    /// Stops the review in progress (it then fails with `cancelled`).
    pub fn review_cancel(&self) {
        if let Some((_, c)) = self.review.0.lock().unwrap().0.take() {
            c.cancel();
        }
    }

    /// Local review snapshots of one location, oldest first.
    pub async fn review_snapshots(&self, location: String) -> Result<Vec<snapshots::Snapshot>> {
        super::connection::blocking(move || snapshots::list(Some(&location))).await
    }

    /// The compute the runs under `url` spent in the budget's window; `None` when they cannot
    /// be listed (the storage alert still stands on its own).
    async fn compute_spend(&self, url: &S3Url) -> Option<ComputeSpend> {
        let conn = self.session.conn().ok()?;
        let loc = crate::checkpoint::Location::S3(url.clone());
        match overview::list_runs(&loc, Some(&conn), now_secs()).await {
            Ok(runs) => Some(compute_spend(runs.iter().filter_map(|r| r.compute.as_ref()), now_secs())),
            Err(e) => {
                tracing::warn!("compute spend not counted: {e}");
                None
            }
        }
    }

    fn warn_over_budget(&self, report: &Report, compute: Option<&ComputeSpend>, budget_usd: Option<f64>) {
        if let Some((title, body)) = over_budget(report, compute, budget_usd) {
            self.notify(NewNotification::new(NotificationLevel::Warning, title, body));
        }
    }
}

/// The budget alert, when storage per month plus the compute of the last 30 days is over a
/// budget that is set: (title, body). Why one budget: a researcher budgets a project, not a
/// line item; the body splits the two so they see which one to act on.
pub fn over_budget(report: &Report, compute: Option<&ComputeSpend>, budget_usd: Option<f64>) -> Option<(&'static str, String)> {
    let budget = budget_usd.filter(|b| b.is_finite() && *b > 0.0)?;
    let storage = report.totals.monthly_usd.unwrap_or(0.0);
    let compute_usd = compute.map_or(0.0, |c| c.usd);
    let total = storage + compute_usd;
    if total <= budget || (report.totals.monthly_usd.is_none() && compute_usd == 0.0) {
        return None;
    }
    let loc = &report.location;
    Some(match compute.filter(|c| c.usd > 0.0) {
        None => ("Storage over budget", format!("{loc}: ${storage:.2}/month, over the budget of ${budget:.2}/month by ${:.2}", total - budget)),
        Some(c) => (
            "Storage and compute over budget",
            format!("{loc}: ${total:.2} (storage ${storage:.2}/month + compute ${compute_usd:.2} over the last {} days, {} runs), over the budget of ${budget:.2}/month by ${:.2}", c.window_days, c.runs, total - budget),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::review::Source;

    fn report(storage_usd: f64) -> Report {
        let mut r = Report::empty("s3://b/runs/", Source::Listing, 0);
        r.totals.monthly_usd = Some(storage_usd);
        r
    }

    #[test]
    fn compute_of_the_last_30_days_counts_against_the_budget_with_storage() {
        let spend = ComputeSpend { usd: 70.0, runs: 2, window_days: 30 };
        assert_eq!(over_budget(&report(40.0), None, Some(100.0)), None);
        let (title, body) = over_budget(&report(40.0), Some(&spend), Some(100.0)).unwrap();
        assert_eq!(title, "Storage and compute over budget");
        assert!(body.contains("storage $40.00/month + compute $70.00 over the last 30 days, 2 runs"), "{body}");
        assert!(body.ends_with("by $10.00"), "{body}");
        let (title, _) = over_budget(&report(140.0), Some(&ComputeSpend { usd: 0.0, runs: 0, window_days: 30 }), Some(100.0)).unwrap();
        assert_eq!(title, "Storage over budget");
        assert_eq!(over_budget(&report(500.0), Some(&spend), None), None);
        assert_eq!(over_budget(&report(500.0), Some(&spend), Some(f64::NAN)), None);
    }
}
