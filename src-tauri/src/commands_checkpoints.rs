//! The Checkpoints view's commands (docs/ipc.md, "Checkpoints"): discover runs at a location,
//! plan a cleanup, apply exactly the plan the user confirmed, pin/unpin. Thin over
//! `trainctl_core::checkpoint`.
//!
//! Why plans stay in the shell: the core's `Plan` is not deserializable and should not be —
//! the UI must not be able to hand back an edited plan. `checkpoints_plan` stores the plan under
//! an id and returns a copy to show; `checkpoints_apply` takes only the id, so what is deleted is
//! exactly what was shown. Before deleting, the core re-detects the location and refuses with
//! `plan_stale` if anything changed; the UI then offers to plan again.

use crate::commands::fail;
use crate::events::{dispatch, ShellEvent};
use crate::state::AppState;
use crate::types::DeleteFailure;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;
use tauri::{AppHandle, State};
use trainctl_core::checkpoint::detect::{now_secs, DEFAULT_GRACE};
use trainctl_core::checkpoint::{self, Action, DetectOptions, KeepBest, Location, Mode, Plan, PlanItem, Policy, Run};
use trainctl_core::error::{Error, ErrorInfo};
use trainctl_core::event::Event;
use trainctl_core::lifecycle::{self, ApplyReport, LifecycleConfig, LifecyclePlan, LifecycleRequest, LifecycleSavings, Rule};
use trainctl_core::s3::S3Url;

type Res<T> = Result<T, ErrorInfo>;

/// How checkpoints are recognised: the "still being written" window and an optional pattern.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct DetectForm {
    /// Seconds; `null` → the CLI's default (60 s).
    pub grace_secs: Option<u64>,
    pub pattern: Option<String>,
}

/// `--keep-best K --metric NAME --mode min|max`.
#[derive(Debug, Clone, Deserialize)]
pub struct KeepBestForm {
    pub k: usize,
    pub metric: String,
    pub mode: Mode,
}

/// The planner's policy form (the CLI's retention flags).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PolicyForm {
    pub keep_last_n: Option<usize>,
    pub keep_best: Option<KeepBestForm>,
    pub keep_every: Option<u64>,
    pub keep_since_secs: Option<u64>,
    #[serde(default)]
    pub force_all: bool,
}

/// What `checkpoints_discover` returns.
#[derive(Debug, Clone, Serialize)]
pub struct CheckpointListing {
    /// The location as the core shows it (`s3://bucket/prefix/` or the directory).
    pub location: String,
    pub runs: Vec<Run>,
    /// Ids pinned in `.trainctl-pins.json` at the location.
    pub pins: Vec<String>,
    pub checkpoints: u64,
    pub bytes: u64,
}

/// One object (S3 key) or file (absolute path) a cleanup deletes.
#[derive(Debug, Clone, Serialize)]
pub struct CleanupObject {
    pub checkpoint: String,
    pub key: String,
    pub size: u64,
}

/// A stored plan, as the planner shows it.
#[derive(Debug, Clone, Serialize)]
pub struct CleanupPlan {
    /// Pass this to `checkpoints_apply`; it names exactly this plan.
    pub plan_id: u64,
    pub location: String,
    /// The run the cleanup is limited to (`null`: every run at the location).
    pub run: Option<String>,
    /// Per run: every checkpoint with keep/delete and its reasons. Runs outside `run` are not
    /// included (they are kept whole).
    pub plans: Vec<Plan>,
    pub checkpoints_deleted: u64,
    pub objects: Vec<CleanupObject>,
    pub bytes_reclaimed: u64,
    /// At the S3 Standard list price (USD per GB-month).
    pub monthly_usd_saved: f64,
}

/// What `checkpoints_apply` did.
#[derive(Debug, Clone, Serialize)]
pub struct CleanupReport {
    pub checkpoints_deleted: u64,
    pub objects_deleted: u64,
    pub bytes_reclaimed: u64,
    pub failed: Vec<DeleteFailure>,
    pub seconds: f64,
}

/// A plan as applied: every run of the location (runs outside the scope all-keep, so the
/// staleness check still covers the whole location) plus how it was detected.
struct Stored {
    loc: Location,
    plans: Vec<Plan>,
    opts: DetectOptions,
}

/// Plans kept for apply; the oldest are dropped beyond [`KEEP_PLANS`].
static PLANS: Mutex<BTreeMap<u64, Stored>> = Mutex::new(BTreeMap::new());
static NEXT_PLAN: AtomicU64 = AtomicU64::new(1);
const KEEP_PLANS: usize = 16;

fn detect_options(form: &DetectForm) -> Result<DetectOptions, Error> {
    let pattern = form.pattern.as_deref().map(str::trim).filter(|p| !p.is_empty()).map(checkpoint::compile_pattern).transpose()?;
    let grace = form.grace_secs.map(Duration::from_secs).unwrap_or(DEFAULT_GRACE);
    Ok(DetectOptions { pattern, grace, now: now_secs() })
}

fn policy_of(form: &PolicyForm, pins: BTreeSet<String>) -> Policy {
    Policy {
        keep_last_n: form.keep_last_n,
        keep_best: form.keep_best.as_ref().map(|b| KeepBest { k: b.k, metric: b.metric.trim().to_string(), mode: b.mode }),
        keep_every_n_steps: form.keep_every,
        keep_since: form.keep_since_secs.map(Duration::from_secs),
        pins,
        force_all: form.force_all,
    }
}

#[tauri::command(rename_all = "snake_case")]
pub async fn checkpoints_discover(app: AppHandle, state: State<'_, AppState>, location: String, detect: Option<DetectForm>) -> Res<CheckpointListing> {
    let (loc, conn) = state.open_location(&location).map_err(|e| fail(&app, e))?;
    let opts = detect_options(&detect.unwrap_or_default()).map_err(|e| e.info())?;
    let found = checkpoint::discover(&loc, conn.as_ref(), &opts).await.map_err(|e| fail(&app, e))?;
    let bytes = found.runs.iter().flat_map(|r| &r.checkpoints).map(|c| c.bytes).sum();
    Ok(CheckpointListing {
        location: loc.display(),
        checkpoints: found.checkpoint_count() as u64,
        bytes,
        pins: found.pins.into_iter().collect(),
        runs: found.runs,
    })
}

#[tauri::command(rename_all = "snake_case")]
pub async fn checkpoints_plan(
    app: AppHandle,
    state: State<'_, AppState>,
    location: String,
    run: Option<String>,
    policy: PolicyForm,
    detect: Option<DetectForm>,
) -> Res<CleanupPlan> {
    let (loc, conn) = state.open_location(&location).map_err(|e| fail(&app, e))?;
    let opts = detect_options(&detect.unwrap_or_default()).map_err(|e| e.info())?;
    let found = checkpoint::discover(&loc, conn.as_ref(), &opts).await.map_err(|e| fail(&app, e))?;
    if let Some(r) = &run {
        if !found.runs.iter().any(|x| &x.name == r) {
            return Err(Error::NotFound(format!("run `{r}` under {} (it has no checkpoints now)", loc.display())).info());
        }
    }
    let policy = policy_of(&policy, found.pins.clone());
    let mut plans = Vec::new();
    for r in &found.runs {
        let in_scope = run.as_ref().is_none_or(|name| name == &r.name);
        plans.push(if in_scope { checkpoint::plan_retention(r, &policy, opts.now).map_err(|e| e.info())? } else { keep_all(r) });
    }
    if found.runs.is_empty() {
        policy.validate().map_err(|e| e.info())?;
    }
    let shown: Vec<Plan> = plans.iter().filter(|p| run.as_ref().is_none_or(|name| name == &p.run)).cloned().collect();
    let objects = objects_of(&loc, &shown);
    let bytes_reclaimed = shown.iter().map(|p| p.bytes_reclaimed).sum();
    let plan_id = NEXT_PLAN.fetch_add(1, Ordering::Relaxed);
    let out = CleanupPlan {
        plan_id,
        location: loc.display(),
        run,
        checkpoints_deleted: shown.iter().map(|p| p.deletions().count() as u64).sum(),
        objects,
        bytes_reclaimed,
        monthly_usd_saved: trainctl_core::cost::plan_savings(&shown, &trainctl_core::cost::savings_table(conn.as_ref()), now_secs()).monthly_usd,
        plans: shown,
    };
    let mut stored = PLANS.lock().unwrap();
    stored.insert(plan_id, Stored { loc, plans, opts });
    while stored.len() > KEEP_PLANS {
        stored.pop_first();
    }
    Ok(out)
}

/// A run outside the cleanup's scope: every checkpoint kept.
fn keep_all(run: &Run) -> Plan {
    let items = run
        .checkpoints
        .iter()
        .map(|c| PlanItem { checkpoint: c.clone(), action: Action::Keep, reasons: vec!["another run (not part of this cleanup)".into()] })
        .collect();
    Plan { run: run.name.clone(), items, bytes_reclaimed: 0 }
}

/// Every object the plans delete, named as the user knows it (S3 key or absolute path).
fn objects_of(loc: &Location, plans: &[Plan]) -> Vec<CleanupObject> {
    let name = |rel: &str| match loc {
        Location::S3(url) => format!("{}{rel}", url.dir_prefix()),
        Location::Local(root) => root.join(rel).display().to_string(),
    };
    plans
        .iter()
        .flat_map(|p| p.deletions())
        .flat_map(|i| i.checkpoint.files.iter().map(move |f| (i.checkpoint.id.clone(), f)))
        .map(|(id, f)| CleanupObject { checkpoint: id, key: name(&f.path), size: f.size })
        .collect()
}

#[tauri::command(rename_all = "snake_case")]
pub async fn checkpoints_apply(app: AppHandle, state: State<'_, AppState>, plan_id: u64) -> Res<CleanupReport> {
    let stored = PLANS.lock().unwrap().remove(&plan_id);
    let Some(stored) = stored else {
        return Err(Error::PlanStale(format!("plan {plan_id} is no longer held (it was applied already or replaced)")).info());
    };
    let conn = match &stored.loc {
        Location::S3(_) => Some(state.live().map_err(|e| e.info())?.conn),
        Location::Local(_) => None,
    };
    let app2 = app.clone();
    // Per-object failures come back in the report; they are not transfer-job events.
    let sink = move |ev: Event| {
        if matches!(ev, Event::CheckpointDeleted { .. } | Event::CleanupFinished { .. }) {
            dispatch(&app2, ShellEvent::Core(ev));
        }
    };
    // The core's apply future is not `Send` for every lifetime (its DeleteObjects stream borrows
    // key chunks), which a command future must be: drive it on a blocking thread instead.
    let applied = tauri::async_runtime::spawn_blocking(move || {
        tauri::async_runtime::block_on(checkpoint::apply(&stored.plans, &stored.loc, conn.as_ref(), &stored.opts, &sink))
    })
    .await
    .map_err(|e| Error::Internal(format!("cleanup task: {e}")).info())?;
    let out = applied.map_err(|e| fail(&app, e))?;
    Ok(CleanupReport {
        checkpoints_deleted: out.checkpoints_deleted,
        objects_deleted: out.objects_deleted,
        bytes_reclaimed: out.bytes_reclaimed,
        failed: out.failed.into_iter().map(|(key, error)| DeleteFailure { key, error }).collect(),
        seconds: out.seconds,
    })
}

/// Pins (`pin = true`) or unpins checkpoint ids at the location; returns the new pin set.
#[tauri::command(rename_all = "snake_case")]
pub async fn checkpoints_pin(app: AppHandle, state: State<'_, AppState>, location: String, ids: Vec<String>, pin: bool) -> Res<Vec<String>> {
    let (loc, conn) = state.open_location(&location).map_err(|e| fail(&app, e))?;
    let pins = checkpoint::pins::update_pins(&loc, conn.as_ref(), &ids, pin).await.map_err(|e| fail(&app, e))?;
    Ok(pins.into_iter().collect())
}

// ---- lifecycle (core `lifecycle`, docs/lifecycle.md) --------------------------------------------

/// What the lifecycle editor opens with: the bucket's rules and the trainctl rule for the prefix
/// (the one on the server, or the checkpoint preset when there is none yet).
#[derive(Debug, Clone, Serialize)]
pub struct LifecycleView {
    pub config: LifecycleConfig,
    /// The prefix of the location (the trainctl rule's filter).
    pub prefix: String,
    pub suggested: Rule,
    /// True when `suggested` is already on the server.
    pub exists: bool,
}

/// The bucket URL of an `s3://` location; lifecycle rules do not exist for a local folder.
fn bucket_url(location: &str) -> Result<S3Url, Error> {
    match Location::parse(location.trim())? {
        Location::S3(url) => Ok(url),
        Location::Local(_) => Err(Error::Usage("lifecycle rules belong to a bucket: choose an s3:// location".into())),
    }
}

#[tauri::command(rename_all = "snake_case")]
pub async fn lifecycle_show(app: AppHandle, state: State<'_, AppState>, location: String) -> Res<LifecycleView> {
    let url = bucket_url(&location).map_err(|e| e.info())?;
    let conn = state.live().map_err(|e| e.info())?.conn;
    let config = lifecycle::read(&conn, &url).await.map_err(|e| fail(&app, e))?;
    let prefix = url.dir_prefix();
    let id = lifecycle::default_rule_id(&prefix);
    let existing = config.rules.iter().find(|r| r.id == id).cloned();
    Ok(LifecycleView { exists: existing.is_some(), suggested: existing.unwrap_or_else(|| lifecycle::preset_checkpoints(&prefix)), prefix, config })
}

/// Reads the bucket's rules again and merges the request: the diff and the warnings to show.
#[tauri::command(rename_all = "snake_case")]
pub async fn lifecycle_plan(app: AppHandle, state: State<'_, AppState>, location: String, request: LifecycleRequest) -> Res<LifecyclePlan> {
    let url = bucket_url(&location).map_err(|e| e.info())?;
    let conn = state.live().map_err(|e| e.info())?.conn;
    let config = lifecycle::read(&conn, &url).await.map_err(|e| fail(&app, e))?;
    lifecycle::plan(&config, &request).map_err(|e| e.info())
}

/// What a plan saves on the objects stored now (core `lifecycle::savings`, docs/lifecycle.md
/// "Savings"): one listing of the new rules' prefixes, priced with the connection's table. Without
/// a table (a local test server, an unknown provider) the answer says which table is missing; a
/// failed listing is said the same way (as in the CLI, the savings never fail the plan).
#[tauri::command(rename_all = "snake_case")]
pub async fn lifecycle_savings(state: State<'_, AppState>, plan: LifecyclePlan, after_days: Option<u32>) -> Res<LifecycleSavings> {
    let conn = state.live().map_err(|e| e.info())?.conn;
    let table = trainctl_core::cost::table_for_profile(&conn.profile, None);
    let now = now_secs();
    Ok(match lifecycle::savings(&conn, &plan, table, now, after_days.unwrap_or(0)).await {
        Ok(s) => s,
        Err(e) => LifecycleSavings::not_estimated(&plan.bucket, format!("listing the objects failed: {e}"), now),
    })
}

/// Writes exactly the plan the user confirmed (`plan_stale` if the bucket's rules changed since).
#[tauri::command(rename_all = "snake_case")]
pub async fn lifecycle_apply(app: AppHandle, state: State<'_, AppState>, plan: LifecyclePlan) -> Res<ApplyReport> {
    let conn = state.live().map_err(|e| e.info())?.conn;
    lifecycle::apply(&conn, &plan).await.map_err(|e| fail(&app, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_form_reads_the_ui_shape() {
        let f: PolicyForm = serde_json::from_str(r#"{"keep_last_n":2,"keep_best":{"k":1,"metric":"eval_loss","mode":"min"},"keep_every":null,"keep_since_secs":86400}"#).unwrap();
        let p = policy_of(&f, BTreeSet::new());
        assert_eq!(p.keep_last_n, Some(2));
        assert_eq!(p.keep_best.unwrap().mode, Mode::Min);
        assert_eq!(p.keep_since, Some(Duration::from_secs(86400)));
        assert!(!p.force_all);
    }

    #[test]
    fn relative_local_paths_are_refused() {
        let state = AppState::default();
        assert_eq!(state.open_location("outputs").unwrap_err().code(), "usage");
        assert_eq!(state.open_location("  ").unwrap_err().code(), "usage");
        assert!(matches!(state.open_location("/tmp").unwrap().0, Location::Local(_)));
        assert_eq!(state.open_location("s3://bkt/p").unwrap_err().code(), "usage", "no connection yet");
        assert_eq!(bucket_url("/tmp/runs").unwrap_err().code(), "usage");
        assert_eq!(bucket_url("s3://bkt/runs").unwrap().dir_prefix(), "runs/");
    }
}
