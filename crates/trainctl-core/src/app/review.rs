//! The Dashboard's storage review: one review at a time (a new one cancels the old), priced with
//! the connection's table, with the ranked savings, a local snapshot for the growth chart, and a
//! notification when the month's cost is over the budget the user set.

use super::notify::{NewNotification, NotificationLevel};
use super::App;
use crate::cost::{self, SavingsAction};
use crate::error::{Error, Result};
use crate::review::{self, snapshots, Report, ReviewOptions};
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
        let savings = match &table {
            Ok(t) => cost::suggest_savings(&report, &url.bucket, &review::location_prefix(&url), t),
            Err(_) => Vec::new(),
        };
        review::price(&mut report, table);
        if let Err(e) = snapshots::save(&report) {
            tracing::warn!("review snapshot not saved: {e}");
        }
        self.warn_over_budget(&report, budget_usd);
        Ok(ReviewOutcome { report, savings })
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

    fn warn_over_budget(&self, report: &Report, budget_usd: Option<f64>) {
        let (Some(budget), Some(usd)) = (budget_usd.filter(|b| b.is_finite() && *b > 0.0), report.totals.monthly_usd) else { return };
        if usd > budget {
            let body = format!("{}: ${usd:.2}/month, over the budget of ${budget:.2}/month by ${:.2}", report.location, usd - budget);
            self.notify(NewNotification::new(NotificationLevel::Warning, "Storage over budget", body));
        }
    }
}
