//! The Dashboard's storage review (docs/ipc.md, "review"): thin commands over core `review` and
//! `cost`. `review_run` returns the core `Report` untouched — the numbers the CLI's
//! `trainctl s3 review --detailed --json` prints for the same location — plus the savings actions
//! the cost card offers, each priced by core `cost` from the report's aggregates.

use crate::commands::note_connection;
use crate::events::{dispatch, notify, ShellEvent};
use crate::state::AppState;
use crate::types::NotificationLevel;
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use tauri::{AppHandle, State};
use tokio_util::sync::CancellationToken;
use trainctl_core::cost::{self, Aged, PriceTable, Usage};
use trainctl_core::error::{Error, ErrorInfo};
use trainctl_core::event::Event;
use trainctl_core::review::{self, snapshots, Report, ReviewOptions};
use trainctl_core::s3::S3Url;

type Res<T> = Result<T, ErrorInfo>;

/// The review in progress (one at a time: a new one cancels the old), for `review_cancel`.
static RUNNING: Mutex<Option<(u64, CancellationToken)>> = Mutex::new(None);
static NEXT_REVIEW: AtomicU64 = AtomicU64::new(1);

/// Checkpoints a suggested cleanup keeps per run (the newest ones).
const KEEP_NEWEST: usize = 2;
/// The class a suggested lifecycle rule moves a prefix to, and after how many days.
const COLD_CLASS: &str = "GLACIER_IR";
const TRANSITION_AFTER_DAYS: f64 = 30.0;

/// What `review_run` returns.
#[derive(Debug, Clone, Serialize)]
pub struct ReviewOutcome {
    pub report: Report,
    /// Best first (largest monthly saving).
    pub savings: Vec<SavingsAction>,
}

/// A cleanup or lifecycle change the cost card offers, with what it saves.
#[derive(Debug, Clone, Serialize)]
pub struct SavingsAction {
    /// `cleanup` (opens the cleanup planner) or `lifecycle` (opens the lifecycle editor).
    pub kind: &'static str,
    pub title: String,
    pub bucket: String,
    /// Absolute prefix in the bucket: the run, or the prefix a rule would filter on.
    pub prefix: String,
    pub objects: u64,
    pub bytes: u64,
    pub monthly_usd_saved: f64,
    /// Early-deletion and transition-request charges, once.
    pub one_time_usd: f64,
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
        Ok(t) => suggest_savings(&report, &url.bucket, &review::location_prefix(&url), t),
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

/// The savings actions worth offering for a priced report: per run, deleting all but the newest
/// checkpoints; per top-level prefix, a lifecycle rule to a colder class. Priced by core `cost`
/// (net of early deletion and transition requests); zero or negative savings are dropped.
pub fn suggest_savings(report: &Report, bucket: &str, base: &str, table: &PriceTable) -> Vec<SavingsAction> {
    let mut out: Vec<SavingsAction> = report.by_run.iter().filter_map(|r| cleanup_action(r, bucket, base, table, report.generated_at)).collect();
    out.extend(report.by_prefix.iter().filter_map(|g| lifecycle_action(g, bucket, base, table)));
    out.retain(|a| a.monthly_usd_saved > 0.0);
    out.sort_by(|a, b| b.monthly_usd_saved.total_cmp(&a.monthly_usd_saved).then(a.title.cmp(&b.title)));
    out
}

fn cleanup_action(run: &review::RunGroup, bucket: &str, base: &str, table: &PriceTable, now: i64) -> Option<SavingsAction> {
    let n = run.checkpoint_sizes.len();
    if n <= KEEP_NEWEST {
        return None;
    }
    let old = &run.checkpoint_sizes[..n - KEEP_NEWEST];
    // Checkpoints are stored in the run's main class (listings rarely mix classes inside a run).
    let class = run.total.classes.iter().max_by_key(|c| c.bytes).map(|c| cost::normalize_class(Some(&c.storage_class))).unwrap_or_else(|| table.default_class.clone());
    let aged: Vec<Aged> = old
        .iter()
        .map(|c| Aged {
            usage: Usage { storage_class: class.clone(), bytes: c.bytes, objects: c.objects, ..Usage::default() },
            age_days: c.last_modified.map(|t| (now - t).max(0) as f64 / 86_400.0).unwrap_or(365.0),
        })
        .collect();
    let usage: Vec<Usage> = aged.iter().map(|a| a.usage.clone()).collect();
    let monthly = table.monthly_storage_usd(&usage);
    let name = if run.run.is_empty() { base.to_string() } else { run.run.clone() };
    Some(SavingsAction {
        kind: "cleanup",
        title: format!("Delete {} old checkpoints of {name} (keep the newest {KEEP_NEWEST})", old.len()),
        bucket: bucket.to_string(),
        prefix: format!("{base}{}", run.run),
        objects: old.iter().map(|c| c.objects).sum(),
        bytes: old.iter().map(|c| c.bytes).sum(),
        monthly_usd_saved: monthly,
        one_time_usd: table.early_deletion_usd(&aged),
    })
}

fn lifecycle_action(g: &review::Group, bucket: &str, base: &str, table: &PriceTable) -> Option<SavingsAction> {
    if g.name == review::TOP_LEVEL || g.name == review::OTHER || g.classes.is_empty() {
        return None;
    }
    let items: Vec<Aged> = g.classes.iter().map(|u| Aged { usage: u.clone(), age_days: TRANSITION_AFTER_DAYS }).collect();
    let t = cost::transition_savings(table, &items, COLD_CLASS).ok()?;
    if t.objects_moved == 0 {
        return None;
    }
    Some(SavingsAction {
        kind: "lifecycle",
        title: format!("Transition {} to {COLD_CLASS} after {TRANSITION_AFTER_DAYS} days", g.name),
        bucket: bucket.to_string(),
        prefix: format!("{base}{}", g.name),
        objects: t.objects_moved,
        bytes: t.bytes_moved,
        monthly_usd_saved: t.monthly_savings_usd,
        one_time_usd: t.transition_usd + t.early_deletion_usd,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use trainctl_core::review::{CheckpointSize, Group, RunGroup, Source};

    const GB: u64 = 1_000_000_000;
    const NOW: i64 = 1_800_000_000;

    fn standard(bytes: u64, objects: u64) -> Vec<Usage> {
        vec![Usage { storage_class: "STANDARD".into(), bytes, objects, ..Usage::default() }]
    }

    fn report() -> Report {
        let mut r = Report::empty("s3://b/exp/", Source::Listing, NOW);
        let ckpt = |i: u64| CheckpointSize { id: format!("runs/a/checkpoint-{i}/"), layout: "hf_trainer".into(), step: Some(i), objects: 3, bytes: 10 * GB, last_modified: Some(NOW - 90 * 86_400) };
        r.by_run = vec![
            RunGroup { run: "runs/a/".into(), total: Group { name: "runs/a/".into(), objects: 16, bytes: 51 * GB, monthly_usd: None, classes: standard(51 * GB, 16) }, checkpoints: 5, checkpoint_sizes: (1..=5).map(ckpt).collect(), ..RunGroup::default() },
            RunGroup { run: "runs/b/".into(), total: Group { name: "runs/b/".into(), objects: 6, bytes: 20 * GB, monthly_usd: None, classes: standard(20 * GB, 6) }, checkpoints: 2, checkpoint_sizes: (1..=2).map(ckpt).collect(), ..RunGroup::default() },
        ];
        r.by_prefix = vec![
            Group { name: "datasets/".into(), objects: 1000, bytes: 500 * GB, monthly_usd: None, classes: standard(500 * GB, 1000) },
            Group { name: review::TOP_LEVEL.into(), objects: 1, bytes: GB, monthly_usd: None, classes: standard(GB, 1) },
        ];
        r
    }

    #[test]
    fn suggests_deleting_all_but_the_newest_checkpoints_and_moving_cold_prefixes() {
        let table = cost::price_table("aws", "us-east-1").unwrap();
        let s = suggest_savings(&report(), "b", "exp/", &table);
        let lifecycle = s.iter().find(|a| a.kind == "lifecycle").expect("a lifecycle action");
        assert_eq!((lifecycle.prefix.as_str(), lifecycle.objects, lifecycle.bytes), ("exp/datasets/", 1000, 500 * GB));
        assert!(lifecycle.one_time_usd > 0.0, "transition requests cost something");
        let cleanup = s.iter().find(|a| a.kind == "cleanup").expect("a cleanup action");
        assert_eq!((cleanup.prefix.as_str(), cleanup.objects, cleanup.bytes), ("exp/runs/a/", 9, 30 * GB));
        let expected = table.monthly_storage_usd(&standard(30 * GB, 9));
        assert!((cleanup.monthly_usd_saved - expected).abs() < 1e-12);
        assert_eq!(cleanup.one_time_usd, 0.0, "STANDARD has no minimum duration");
        // runs/b keeps its two checkpoints; the top-level files get no lifecycle rule.
        assert_eq!(s.len(), 2, "{s:?}");
        assert!(s[0].monthly_usd_saved >= s[1].monthly_usd_saved);
    }
}
