//! The Checkpoints view's calls: discover runs at a location, plan a cleanup (held by id), apply
//! exactly that plan, pin; and the bucket's lifecycle rules (plan held by id, savings, apply).
//!
//! A location is an `s3://` prefix on the live connection, or a local folder the user picked
//! (its grant token: the page cannot name a local path itself).

use super::App;
use crate::checkpoint::detect::{now_secs, DEFAULT_ABANDONED_AFTER, DEFAULT_GRACE};
use crate::checkpoint::{self, Action, DetectOptions, KeepBest, Location, Mode, Plan, PlanItem, Policy, Run};
use crate::error::{Error, Result};
use crate::event::Event;
use crate::lifecycle::{self, ApplyReport, LifecycleConfig, LifecyclePlan, LifecycleRequest, LifecycleSavings, Rule};
use crate::s3::{Connection, S3Url};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::time::Duration;

/// How checkpoints are recognised: the "still being written" window and an optional pattern.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Default, Deserialize)]
pub struct DetectForm {
    /// Seconds; `null` → the CLI's default (60 s).
    pub grace_secs: Option<u64>,
    pub pattern: Option<String>,
    /// Seconds after which an incomplete checkpoint nobody writes to is abandoned; `null` → 6 h.
    #[serde(default)]
    pub abandoned_after_secs: Option<u64>,
}

/// `--keep-best K --metric NAME --mode min|max`.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Deserialize)]
pub struct KeepBestForm {
    pub k: usize,
    pub metric: String,
    pub mode: Mode,
}

/// The planner's policy form (the CLI's retention flags).
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PolicyForm {
    pub keep_last_n: Option<usize>,
    pub keep_best: Option<KeepBestForm>,
    pub keep_every: Option<u64>,
    pub keep_since_secs: Option<u64>,
    #[serde(default)]
    pub force_all: bool,
    /// Delete abandoned checkpoints (crashed saves): the CLI's `--delete-abandoned`.
    #[serde(default)]
    pub delete_abandoned: bool,
}

/// What `checkpoints_discover` returns.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
pub struct CheckpointListing {
    /// The location as the core shows it (`s3://bucket/prefix/` or the folder).
    pub location: String,
    pub runs: Vec<Run>,
    /// Ids pinned in `.trainctl-pins.json` at the location.
    pub pins: Vec<String>,
    pub checkpoints: u64,
    pub bytes: u64,
}

/// One object (S3 key) or file (absolute path) a cleanup deletes.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
pub struct CleanupObject {
    pub checkpoint: String,
    pub key: String,
    pub size: u64,
}

/// A held cleanup plan, as the planner shows it.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
pub struct CleanupPlan {
    /// Pass this to `checkpoints_apply`; it names exactly this plan.
    pub plan_id: u64,
    pub location: String,
    /// The run the cleanup is limited to (`null`: every run at the location).
    pub run: Option<String>,
    /// Per run: every checkpoint with keep/delete and its reasons (runs outside `run` left out:
    /// they are kept whole).
    pub plans: Vec<Plan>,
    pub checkpoints_deleted: u64,
    pub objects: Vec<CleanupObject>,
    pub bytes_reclaimed: u64,
    /// Priced with the connection's table (S3 us-east-1 for a local folder).
    pub monthly_usd_saved: f64,
    /// What the plan does with abandoned checkpoints, in the CLI's words (`null`: none).
    pub abandoned_note: Option<String>,
}

/// What `checkpoints_apply` did.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
pub struct CleanupReport {
    pub checkpoints_deleted: u64,
    pub objects_deleted: u64,
    pub bytes_reclaimed: u64,
    pub failed: Vec<super::browse::DeleteFailure>,
    pub seconds: f64,
}

/// What the lifecycle editor opens with: the bucket's rules and the trainctl rule for the prefix
/// (the one on the server, or the checkpoint preset when there is none yet).
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
pub struct LifecycleView {
    pub config: LifecycleConfig,
    /// The prefix of the location (the trainctl rule's filter).
    pub prefix: String,
    pub suggested: Rule,
    /// True when `suggested` is already on the server.
    pub exists: bool,
}

/// A lifecycle plan as held: the diff to show, with the id `lifecycle_apply` takes.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
pub struct HeldLifecyclePlan {
    pub plan_id: u64,
    #[serde(flatten)]
    pub plan: LifecyclePlan,
}

/// A cleanup as applied: every run of the location (runs outside the scope all-keep, so the
/// staleness check still covers the whole location) plus how it was detected.
#[derive(Clone)]
pub(crate) struct StoredCleanup {
    loc: Location,
    plans: Vec<Plan>,
    opts: DetectOptions,
}

impl DetectForm {
    fn options(&self) -> Result<DetectOptions> {
        let pattern = self.pattern.as_deref().map(str::trim).filter(|p| !p.is_empty()).map(checkpoint::compile_pattern).transpose()?;
        let grace = self.grace_secs.map(Duration::from_secs).unwrap_or(DEFAULT_GRACE);
        let abandoned_after = self.abandoned_after_secs.map(Duration::from_secs).unwrap_or(DEFAULT_ABANDONED_AFTER);
        Ok(DetectOptions { pattern, grace, abandoned_after, now: now_secs() })
    }
}

impl PolicyForm {
    fn policy(&self, pins: BTreeSet<String>) -> Policy {
        Policy {
            keep_last_n: self.keep_last_n,
            keep_best: self.keep_best.as_ref().map(|b| KeepBest { k: b.k, metric: b.metric.trim().to_string(), mode: b.mode }),
            keep_every_n_steps: self.keep_every,
            keep_since: self.keep_since_secs.map(Duration::from_secs),
            pins,
            force_all: self.force_all,
            delete_abandoned: self.delete_abandoned,
        }
    }
}

impl App {
    /// A location a caller named: `s3://…` on the live connection, or a granted local folder.
    pub fn location(&self, location: &str) -> Result<(Location, Option<Connection>)> {
        let location = location.trim();
        if location.is_empty() {
            return Err(Error::Usage("choose a location: an s3:// prefix or a local folder".into()));
        }
        if location.starts_with("s3://") {
            return Ok((Location::parse(location)?, Some(self.session.conn()?)));
        }
        Ok((Location::Local(self.grants.folder(location)?), None))
    }

    pub async fn checkpoints_discover(&self, location: &str, detect: Option<DetectForm>) -> Result<CheckpointListing> {
        let (loc, conn) = self.location(location)?;
        let opts = detect.unwrap_or_default().options()?;
        let found = self.watched(checkpoint::discover(&loc, conn.as_ref(), &opts).await)?;
        let bytes = found.runs.iter().flat_map(|r| &r.checkpoints).map(|c| c.bytes).sum();
        Ok(CheckpointListing { location: loc.display(), checkpoints: found.checkpoint_count() as u64, bytes, pins: found.pins.into_iter().collect(), runs: found.runs })
    }

    /// Plans a cleanup of one run (or all) and holds it for `checkpoints_apply`.
    pub async fn checkpoints_plan(&self, location: &str, run: Option<String>, policy: PolicyForm, detect: Option<DetectForm>) -> Result<CleanupPlan> {
        let (loc, conn) = self.location(location)?;
        let opts = detect.unwrap_or_default().options()?;
        let found = self.watched(checkpoint::discover(&loc, conn.as_ref(), &opts).await)?;
        if let Some(r) = &run {
            if !found.runs.iter().any(|x| &x.name == r) {
                return Err(Error::NotFound(format!("run `{r}` under {} (it has no checkpoints now)", loc.display())));
            }
        }
        let policy = policy.policy(found.pins.clone());
        policy.validate()?;
        let in_scope = |name: &str| run.as_deref().is_none_or(|r| r == name);
        let plans = found
            .runs
            .iter()
            .map(|r| if in_scope(&r.name) { checkpoint::plan_retention(r, &policy, opts.now) } else { Ok(keep_all(r)) })
            .collect::<Result<Vec<_>>>()?;
        let shown: Vec<Plan> = plans.iter().filter(|p| in_scope(&p.run)).cloned().collect();
        let table = match &conn {
            Some(c) => self.price_table(c).await.ok(),
            None => None,
        }
        .unwrap_or_else(crate::cost::default_savings_table);
        let monthly_usd_saved = crate::cost::plan_savings(&shown, &table, now_secs()).monthly_usd;
        let objects = objects_of(&loc, &shown);
        let stored = StoredCleanup { loc: loc.clone(), plans, opts };
        let plan_id = self.cleanup_plans.insert(stored);
        Ok(CleanupPlan {
            plan_id,
            location: loc.display(),
            run,
            checkpoints_deleted: shown.iter().map(|p| p.deletions().count() as u64).sum(),
            objects,
            bytes_reclaimed: shown.iter().map(|p| p.bytes_reclaimed).sum(),
            monthly_usd_saved,
            abandoned_note: checkpoint::policy::abandoned_note(&shown),
            plans: shown,
        })
    }

    /// Deletes exactly held plan `plan_id`; `plan_stale` (nothing deleted) if the checkpoints
    /// changed since it was made.
    pub async fn checkpoints_apply(&self, plan_id: u64) -> Result<CleanupReport> {
        let stored = self.cleanup_plans.take(plan_id)?;
        let conn = match &stored.loc {
            Location::S3(_) => Some(self.session.conn()?),
            Location::Local(_) => None,
        };
        let app = self.me();
        let sink = move |ev: Event| {
            if matches!(ev, Event::CheckpointDeleted { .. } | Event::CleanupFinished { .. }) {
                app.emit(ev);
            }
        };
        // The apply future borrows key chunks across awaits and is not `Send`, which a caller's
        // future (a Tauri command) must be: run it on a blocking thread of this runtime.
        let handle = tokio::runtime::Handle::current();
        let applied = tokio::task::spawn_blocking(move || handle.block_on(checkpoint::apply(&stored.plans, &stored.loc, conn.as_ref(), &stored.opts, &sink)))
            .await
            .map_err(|e| Error::Internal(format!("cleanup task: {e}")))?;
        let out = self.watched(applied)?;
        Ok(CleanupReport {
            checkpoints_deleted: out.checkpoints_deleted,
            objects_deleted: out.objects_deleted,
            bytes_reclaimed: out.bytes_reclaimed,
            failed: out.failed.into_iter().map(|(key, error)| super::browse::DeleteFailure { key, error }).collect(),
            seconds: out.seconds,
        })
    }

    /// Pins (or unpins) checkpoint ids at the location; returns the new pin set.
    pub async fn checkpoints_pin(&self, location: &str, ids: &[String], pin: bool) -> Result<Vec<String>> {
        let (loc, conn) = self.location(location)?;
        let pins = self.watched(checkpoint::pins::update_pins(&loc, conn.as_ref(), ids, pin).await)?;
        Ok(pins.into_iter().collect())
    }

    pub async fn lifecycle_show(&self, location: &str) -> Result<LifecycleView> {
        let url = bucket_url(location)?;
        let conn = self.session.conn()?;
        let config = self.watched(lifecycle::read(&conn, &url).await)?;
        let prefix = url.dir_prefix();
        let id = lifecycle::default_rule_id(&prefix);
        let existing = config.rules.iter().find(|r| r.id == id).cloned();
        Ok(LifecycleView { exists: existing.is_some(), suggested: existing.unwrap_or_else(|| lifecycle::preset_checkpoints(&prefix)), prefix, config })
    }

    /// Reads the bucket's rules again and merges the request: the diff and warnings to show, held
    /// for `lifecycle_apply`.
    pub async fn lifecycle_plan(&self, location: &str, request: LifecycleRequest) -> Result<HeldLifecyclePlan> {
        let url = bucket_url(location)?;
        let conn = self.session.conn()?;
        let config = self.watched(lifecycle::read(&conn, &url).await)?;
        let plan = lifecycle::plan(&config, &request)?;
        Ok(HeldLifecyclePlan { plan_id: self.lifecycle_plans.insert(plan.clone()), plan })
    }

    /// What held plan `plan_id` saves on the objects stored now (or `after_days` from now).
    pub async fn lifecycle_savings(&self, plan_id: u64, after_days: u32) -> Result<LifecycleSavings> {
        let plan = self.lifecycle_plans.get(plan_id)?;
        let conn = self.session.conn()?;
        let table = self.price_table(&conn).await;
        Ok(lifecycle::savings(&conn, &plan, table, now_secs(), after_days).await)
    }

    /// Writes exactly held plan `plan_id` (`plan_stale` if the bucket's rules changed since).
    pub async fn lifecycle_apply(&self, plan_id: u64) -> Result<ApplyReport> {
        let plan = self.lifecycle_plans.take(plan_id)?;
        let conn = self.session.conn()?;
        self.watched(lifecycle::apply(&conn, &plan).await)
    }
}

/// A run outside the cleanup's scope: every checkpoint kept.
fn keep_all(run: &Run) -> Plan {
    let items = run.checkpoints.iter().map(|c| PlanItem { checkpoint: c.clone(), action: Action::Keep, reasons: vec!["another run (not part of this cleanup)".into()] }).collect();
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

/// The bucket URL of an `s3://` location; lifecycle rules do not exist for a local folder.
fn bucket_url(location: &str) -> Result<S3Url> {
    match location.trim() {
        l if l.starts_with("s3://") => S3Url::parse(l),
        _ => Err(Error::Usage("lifecycle rules belong to a bucket: choose an s3:// location".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_form_reads_the_ui_shape() {
        let f: PolicyForm = serde_json::from_str(r#"{"keep_last_n":2,"keep_best":{"k":1,"metric":"eval_loss","mode":"min"},"keep_every":null,"keep_since_secs":86400}"#).unwrap();
        let p = f.policy(BTreeSet::new());
        assert_eq!(p.keep_last_n, Some(2));
        assert_eq!(p.keep_best.unwrap().mode, Mode::Min);
        assert_eq!(p.keep_since, Some(Duration::from_secs(86400)));
        assert!(!p.force_all);
    }

    #[test]
    fn only_s3_urls_have_lifecycle_rules() {
        assert_eq!(bucket_url("/tmp/runs").unwrap_err().code(), "usage");
        assert_eq!(bucket_url("s3://bkt/runs").unwrap().dir_prefix(), "runs/");
    }

    #[tokio::test]
    async fn a_typed_local_path_is_refused_and_s3_needs_a_connection() {
        let app = App::new(std::sync::Arc::new(crate::event::NullSink), None);
        assert_eq!(app.location("/tmp").unwrap_err().code(), "usage", "a path the user did not pick");
        assert_eq!(app.location("  ").unwrap_err().code(), "usage");
        assert_eq!(app.location("s3://bkt/p").unwrap_err().code(), "usage", "no connection yet");
        let dir = tempfile::tempdir().unwrap();
        let g = app.grants.grant(dir.path()).unwrap();
        assert!(matches!(app.location(&g.token).unwrap().0, Location::Local(_)));
    }
}
