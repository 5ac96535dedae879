//! The Dashboard's storage review (docs/ipc.md, "review"): thin commands over core `review` and
//! `cost`. `review_run` returns the core `Report` untouched — the numbers the CLI's
//! `trainctl s3 review --detailed --json` prints for the same location — plus the savings actions
//! the cost card offers, ranked and priced by core `cost::suggest_savings`.

use crate::commands::note_connection;
use crate::events::{dispatch, notify, ShellEvent};
use crate::state::AppState;
use crate::types::NotificationLevel;
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use tauri::{AppHandle, State};
use tokio_util::sync::CancellationToken;
use trainctl_core::cost::{self, PriceTable, SavingsAction};
use trainctl_core::error::{Error, ErrorInfo};
use trainctl_core::event::Event;
use trainctl_core::review::{self, snapshots, Report, ReviewOptions};
use trainctl_core::s3::S3Url;

type Res<T> = Result<T, ErrorInfo>;

/// The review in progress (one at a time: a new one cancels the old), for `review_cancel`.
static RUNNING: Mutex<Option<(u64, CancellationToken)>> = Mutex::new(None);
static NEXT_REVIEW: AtomicU64 = AtomicU64::new(1);

/// What `review_run` returns.
#[derive(Debug, Clone, Serialize)]
pub struct ReviewOutcome {
    pub report: Report,
    /// Best first (largest monthly saving), ranked by core `cost::suggest_savings`.
    pub savings: Vec<SavingsAction>,
}

fn watched<T>(app: &AppHandle, r: trainctl_core::Result<T>) -> Res<T> {
    r.map_err(|e| {
        note_connection(app, &e);
        e.info()
    })
}

#[tauri::command(rename_all = "snake_case")]
pub async fn review_run(app: AppHandle, state: State<'_, AppState>, bucket: String, prefix: String, budget_usd: Option<f64>) -> Res<ReviewOutcome> {
    let live = state.live().map_err(|e| e.info())?;
    let url = S3Url::parse(&format!("s3://{bucket}/{prefix}")).map_err(|e| e.info())?;
    let cancel = CancellationToken::new();
    let id = NEXT_REVIEW.fetch_add(1, Ordering::Relaxed);
    if let Some((_, old)) = RUNNING.lock().unwrap().replace((id, cancel.clone())) {
        old.cancel();
    }
    let sink_app = app.clone();
    let sink = move |e: Event| dispatch(&sink_app, ShellEvent::Core(e));
    let opts = ReviewOptions { detailed: true, ..ReviewOptions::default() };
    // Dropping the review future on cancel stops it at once (the core also checks the token
    // between listing units, but a unit can be long).
    let result = tokio::select! {
        r = review::review(&live.conn, &url, &opts, &sink, &cancel) => r,
        _ = cancel.cancelled() => Err(Error::Cancelled),
    };
    {
        let mut running = RUNNING.lock().unwrap();
        if running.as_ref().is_some_and(|(mine, _)| *mine == id) {
            running.take();
        }
    }
    let mut report = watched(&app, result)?;
    let table = price_table(&live.conn, live.info.demo);
    let savings = match &table {
        Ok(t) => cost::suggest_savings(&report, &url.bucket, &review::location_prefix(&url), t),
        Err(_) => Vec::new(),
    };
    review::price(&mut report, table);
    if let Err(e) = snapshots::save(&report) {
        tracing::warn!("review snapshot not saved: {e}");
    }
    warn_over_budget(&app, &report, budget_usd);
    Ok(ReviewOutcome { report, savings })
}

/// The table the CLI would use for this connection; the demo (a local server with no prices of its
/// own) is priced as AWS S3 us-east-1, the same built-in table `TRAINCTL_PRICES` can name.
fn price_table(conn: &trainctl_core::s3::Connection, demo: bool) -> trainctl_core::Result<PriceTable> {
    match review::table_for(conn, None) {
        Err(Error::PriceTableMissing { .. }) if demo => cost::price_table("aws", "us-east-1"),
        other => other,
    }
}

#[tauri::command(rename_all = "snake_case")]
pub async fn review_cancel() -> Res<()> {
    if let Some((_, c)) = RUNNING.lock().unwrap().take() {
        c.cancel();
    }
    Ok(())
}

#[tauri::command(rename_all = "snake_case")]
pub async fn review_snapshots(location: String) -> Res<Vec<snapshots::Snapshot>> {
    tauri::async_runtime::spawn_blocking(move || snapshots::list(Some(&location)))
        .await
        .map_err(|e| Error::Internal(format!("blocking task: {e}")).info())?
        .map_err(|e| e.info())
}

/// Over the budget set in the app: a popup (and the in-app list) through the one notify path.
fn warn_over_budget(app: &AppHandle, report: &Report, budget_usd: Option<f64>) {
    let (Some(budget), Some(usd)) = (budget_usd.filter(|b| *b > 0.0), report.totals.monthly_usd) else { return };
    if usd > budget {
        let body = format!("{}: ${usd:.2}/month, over the budget of ${budget:.2}/month by ${:.2}", report.location, usd - budget);
        notify(app, NotificationLevel::Warning, "Storage over budget".into(), body, None);
    }
}
