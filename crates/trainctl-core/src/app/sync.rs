//! The Sync view's service: sync pairs (a granted folder ↔ a prefix) kept in `syncs.json`,
//! passes run as background jobs reporting their row through [`App::emit`], conflicts decided
//! by path from the list the app showed, deletions confirmed by plan id, continuous sync.
//!
//! The rules are the core `sync` module's (the CLI runs the same passes); what lives here is
//! what a window does over time: a pass the user starts first looks (a dry run); deletions are
//! held as a plan and shown with their bytes; conflicts wait for a decision (the view's pairs
//! use `--conflict fail` until the user picks keep local / keep remote / keep both). A
//! continuous pair agreed to its deletions when it was switched on (the delete guard still
//! stops a pass that would empty a side).

use super::notify::NewNotification;
use super::registry::{Registry, Row, Spec};
use super::{App, NotificationLevel, PlanStore};
use crate::error::{Error, Result};
pub use crate::event::{SyncPairInfo, SyncPairSpec, SyncProgress, SyncPrompt, SyncState};
use crate::event::{Event, Sink};
use crate::s3::S3Url;
use crate::sync::{self, ConflictPolicy, Pair, PassReport, SyncOptions};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const MAX_PAIRS: usize = 50;

/// A pass's deletions, held for `sync_confirm`.
#[derive(Clone)]
pub(crate) struct HeldPass {
    pair: u64,
    deletions: Vec<String>,
    force: bool,
}

/// Every sync pair of the session (`syncs.json`) and the deletions held for confirmation.
pub struct Syncs {
    pub(crate) pairs: Registry<SyncPairInfo>,
    pub(crate) held: PlanStore<HeldPass>,
}

impl Syncs {
    pub(crate) fn new(file: Option<PathBuf>) -> Syncs {
        Syncs { pairs: Registry::new(file), held: PlanStore::default() }
    }

    pub fn list(&self) -> Vec<SyncPairInfo> {
        self.pairs.list()
    }

    /// True while a continuous pair runs (closing the window keeps the app in the tray).
    pub fn any_running(&self) -> bool {
        self.pairs.any_running()
    }
}

impl Spec for SyncPairSpec {
    const ONE: &'static str = "sync pair";
    const MANY: &'static str = "sync pairs";
    const MAX: usize = MAX_PAIRS;
    fn id(&self) -> u64 {
        self.id
    }
    fn validate(&self) -> Result<()> {
        S3Url::parse(&self.remote)?;
        if !Path::new(&self.local).is_absolute() {
            return Err(Error::Usage("the local folder must be an absolute path".into()));
        }
        if !(self.interval_secs.is_finite() && (5.0..=86_400.0).contains(&self.interval_secs)) {
            return Err(Error::Usage(format!("interval_secs must be between 5 and 86400 (got {})", self.interval_secs)));
        }
        Ok(())
    }
}

impl Row for SyncPairInfo {
    type Spec = SyncPairSpec;
    fn new(spec: SyncPairSpec) -> SyncPairInfo {
        SyncPairInfo { spec, state: SyncState::Idle, last_pass_at: None, last_pass: None, pending_local: 0, pending_remote: 0, conflicts: Vec::new(), prompt: None, error: None, progress: None }
    }
    fn spec(&self) -> &SyncPairSpec {
        &self.spec
    }
}

/// Counts of a plan's changes per side: what each side will receive.
fn pending(r: &PassReport) -> (u64, u64) {
    let t = &r.totals;
    (t.downloads + t.local_deletes + t.renames, t.uploads + t.remote_deletes)
}

impl App {
    pub fn sync_pairs_list(&self) -> Vec<SyncPairInfo> {
        self.syncs.list()
    }

    /// Loads `syncs.json` and starts the continuous pairs.
    pub(crate) fn restore_syncs(&self) {
        for p in self.syncs.pairs.restore(self, "Sync pairs not restored") {
            if p.spec.continuous {
                self.start_continuous(p.spec.id);
            }
        }
    }

    /// After a (re)connection: every continuous pair runs on the new connection.
    pub(crate) fn restart_syncs(&self) {
        for id in self.syncs.pairs.ids_where(|p| p.spec.continuous) {
            self.syncs.pairs.stop(id);
            self.start_continuous(id);
        }
    }

    /// Adds a pair of a granted folder and an `s3://` prefix.
    pub fn sync_pair_add(&self, local_token: &str, remote: &str) -> Result<SyncPairInfo> {
        let local = self.grants.folder(local_token)?;
        let url = S3Url::parse(remote.trim())?;
        let remote = format!("s3://{}/{}", url.bucket, if url.key.is_empty() { String::new() } else { url.dir_prefix() });
        let local = local.display().to_string();
        let id = self.syncs.pairs.add(
            |id| SyncPairSpec { id, local: local.clone(), remote: remote.clone(), continuous: false, interval_secs: 60.0 },
            |s| (s.local == local && s.remote == remote).then(|| format!("{local} and {remote} are already a pair (pair {})", s.id)),
        )?;
        self.emit_sync(id);
        self.syncs.pairs.get(id)
    }

    pub fn sync_pair_remove(&self, id: u64) -> Result<()> {
        self.syncs.pairs.remove(id)?;
        self.emit(Event::SyncRemoved { id });
        Ok(())
    }

    /// "Sync now": looks first; deletions wait for `sync_confirm`, conflicts for `sync_resolve`.
    pub fn sync_run(&self, id: u64) -> Result<SyncPairInfo> {
        self.start_pass(id, BTreeMap::new(), None)
    }

    /// Applies the held deletions of plan `plan_id` (exactly those, or `plan_stale`).
    pub fn sync_confirm(&self, plan_id: u64) -> Result<SyncPairInfo> {
        let held = self.syncs.held.take(plan_id)?;
        self.syncs.pairs.update(held.pair, |i| i.prompt = None);
        self.start_pass(held.pair, BTreeMap::new(), Some((held.deletions, held.force)))
    }

    /// Decides one listed conflict: `keep-both`, `local` or `remote`.
    pub fn sync_resolve(&self, id: u64, path: &str, choice: ConflictPolicy) -> Result<SyncPairInfo> {
        let info = self.syncs.pairs.get(id)?;
        if !info.conflicts.iter().any(|c| c.path == path) {
            return Err(Error::PlanStale(format!("{path} is not a conflict of this pair any more: sync again to see the current ones")));
        }
        if !matches!(choice, ConflictPolicy::KeepBoth | ConflictPolicy::Local | ConflictPolicy::Remote) {
            return Err(Error::Usage("decide a conflict with keep-both, local or remote".into()));
        }
        self.start_pass(id, BTreeMap::from([(path.to_string(), choice)]), None)
    }

    /// Switches continuous sync on (a pass on every local change and every interval) or off.
    pub fn sync_set_continuous(&self, id: u64, on: bool) -> Result<SyncPairInfo> {
        self.syncs.pairs.update(id, |i| i.spec.continuous = on).ok_or_else(|| Error::NotFound(format!("sync pair {id}")))?;
        self.syncs.pairs.save()?;
        self.syncs.pairs.stop(id);
        if on {
            self.start_continuous(id);
        } else {
            self.syncs.pairs.update(id, |i| i.state = SyncState::Idle);
        }
        self.emit_sync(id);
        self.syncs.pairs.get(id)
    }

    fn emit_sync(&self, id: u64) {
        self.syncs.pairs.report(id, |info| self.emit(Event::SyncUpdated(info.clone())));
    }

    fn pair_of(&self, spec: &SyncPairSpec, conn: &crate::s3::Connection) -> Result<Pair> {
        Pair::new(Path::new(&spec.local), &S3Url::parse(&spec.remote)?, conn)
    }

    /// One pass in the background (manual: look first, hold deletions; confirmed: apply).
    fn start_pass(&self, id: u64, resolve: BTreeMap<String, ConflictPolicy>, confirmed: Option<(Vec<String>, bool)>) -> Result<SyncPairInfo> {
        let spec = self.syncs.pairs.get(id)?.spec;
        let conn = self.session.conn()?;
        let pair = self.pair_of(&spec, &conn)?;
        let cancel = CancellationToken::new();
        {
            let mut g = self.syncs.pairs.entries.lock().unwrap();
            let e = g.get_mut(&id).ok_or_else(|| Error::NotFound(format!("sync pair {id}")))?;
            if e.info.state == SyncState::Running {
                return Err(Error::SyncLocked { holder: "a pass of this pair started in this window".into() });
            }
            e.info.state = SyncState::Running;
            e.info.error = None;
            e.info.progress = None;
        }
        self.emit_sync(id);
        let app = self.me();
        tokio::spawn(async move {
            let opts = SyncOptions { conflict: ConflictPolicy::Fail, resolve, grace: Duration::from_secs(60), ..SyncOptions::default() };
            let sink = PassSink::new(app.clone(), id);
            let result = match confirmed {
                Some((deletions, force)) => sync::run(&conn, &pair, &SyncOptions { expect_deletes: Some(deletions), force, ..opts }, &sink, &cancel).await,
                None => app.look_then_run(&conn, &pair, id, opts, &sink, &cancel).await,
            };
            let result = app.watched(result);
            app.end_pass(id, result);
        });
        self.syncs.pairs.get(id)
    }

    /// A manual pass: a dry run first; deletions are held for confirmation, else it runs.
    async fn look_then_run(&self, conn: &crate::s3::Connection, pair: &Pair, id: u64, opts: SyncOptions, sink: &dyn Sink, cancel: &CancellationToken) -> Result<PassReport> {
        let look = sync::pass(conn, pair, &SyncOptions { dry_run: true, ..opts.clone() }, sink, cancel).await?;
        let deletions = look.deletions();
        if deletions.is_empty() && look.guard.refused.is_none() {
            return sync::run(conn, pair, &SyncOptions { expect_deletes: Some(Vec::new()), ..opts }, sink, cancel).await;
        }
        let sizes: BTreeMap<String, u64> = look
            .actions
            .iter()
            .filter_map(|a| match a {
                sync::Action::DeleteLocal { path, bytes, .. } => Some((format!("local:{path}"), *bytes)),
                sync::Action::DeleteRemote { path, bytes, .. } => Some((format!("remote:{path}"), *bytes)),
                _ => None,
            })
            .collect();
        let force = look.guard.refused.is_some();
        let plan_id = self.syncs.held.insert(HeldPass { pair: id, deletions: deletions.clone(), force });
        let listed: Vec<(String, u64)> = deletions.iter().map(|d| (d.clone(), sizes.get(d).copied().unwrap_or(0))).collect();
        let bytes = listed.iter().map(|(_, b)| b).sum();
        let prompt = SyncPrompt { plan_id, deletions: listed, bytes, guard: look.guard.refused.clone() };
        let (pl, pr) = pending(&look);
        self.syncs.pairs.update(id, |i| {
            (i.pending_local, i.pending_remote) = (pl, pr);
            i.prompt = Some(prompt);
        });
        Ok(look)
    }

    /// Records how a pass ended on the pair's row, and asks for decisions when needed.
    fn end_pass(&self, id: u64, result: Result<PassReport>) {
        let now = crate::checkpoint::detect::now_secs();
        let mut ask = None;
        self.syncs.pairs.update(id, |i| {
            i.progress = None;
            match &result {
                Ok(r) if r.done.is_none() => {
                    i.state = if i.prompt.is_some() { SyncState::NeedsConfirmation } else { SyncState::Idle };
                    i.conflicts = r.conflicts.iter().filter(|c| c.policy == ConflictPolicy::Fail).cloned().collect();
                }
                Ok(r) => {
                    let d = r.done.clone().unwrap_or_default();
                    i.conflicts = r.conflicts.iter().filter(|c| c.policy == ConflictPolicy::Fail).cloned().collect();
                    i.state = if i.conflicts.is_empty() { SyncState::Idle } else { SyncState::NeedsDecision };
                    (i.pending_local, i.pending_remote) = (0, 0);
                    i.last_pass_at = Some(now);
                    i.last_pass = Some(format!(
                        "{} up, {} down, {} deleted here, {} deleted on S3{}{}",
                        d.uploaded,
                        d.downloaded,
                        d.deleted_local,
                        d.deleted_remote,
                        if d.failed.is_empty() { String::new() } else { format!(", {} failed", d.failed.len()) },
                        if i.conflicts.is_empty() { String::new() } else { format!(", {} conflict(s) to decide", i.conflicts.len()) }
                    ));
                    if !i.conflicts.is_empty() {
                        ask = Some(format!("{} conflict(s) between {} and {}: keep local, keep remote or keep both", i.conflicts.len(), i.spec.local, i.spec.remote));
                    }
                }
                Err(e) => {
                    i.state = if e.scope() == crate::error::Scope::Connection { SyncState::NoConnection } else { SyncState::Error };
                    i.error = Some(e.info());
                }
            }
        });
        if let Some(body) = ask {
            self.notify(NewNotification::new(NotificationLevel::Warning, "Sync needs a decision", body));
        }
        self.emit_sync(id);
    }

    /// The continuous loop of pair `id` (on the live connection).
    fn start_continuous(&self, id: u64) {
        let Ok(spec) = self.syncs.pairs.get(id).map(|i| i.spec) else { return };
        let Ok(conn) = self.session.conn() else {
            self.syncs.pairs.update(id, |i| i.state = SyncState::NoConnection);
            return self.emit_sync(id);
        };
        let pair = match self.pair_of(&spec, &conn) {
            Ok(p) => p,
            Err(e) => {
                self.syncs.pairs.update(id, |i| (i.state, i.error) = (SyncState::Error, Some(e.info())));
                return self.emit_sync(id);
            }
        };
        let cancel = CancellationToken::new();
        if !self.syncs.pairs.start_task(id, cancel.clone(), |i| i.spec.continuous) {
            return; // turned off meanwhile
        }
        let app = self.me();
        tokio::spawn(async move {
            let opts = SyncOptions { conflict: ConflictPolicy::Fail, ..SyncOptions::default() };
            let sink = PassSink::new(app.clone(), id);
            let on_pass = |r: Result<PassReport>| app.end_pass(id, r);
            let interval = Duration::from_secs_f64(spec.interval_secs);
            if let Err(e) = sync::watch::run(&conn, &pair, &opts, interval, &sink, &cancel, &on_pass).await {
                app.end_pass(id, Err(e));
            }
        });
    }
}

/// Engine events of a pass: the copy jobs' progress becomes the pair's `progress` (both
/// directions summed); notices go on; per-object events are not rows of this view.
struct PassSink {
    app: std::sync::Arc<App>,
    pair: u64,
    jobs: Mutex<BTreeMap<crate::event::JobId, SyncProgress>>,
}

impl PassSink {
    fn new(app: std::sync::Arc<App>, pair: u64) -> PassSink {
        PassSink { app, pair, jobs: Mutex::default() }
    }
}

impl Sink for PassSink {
    fn send(&self, event: Event) {
        match event {
            Event::Notice { .. } => self.app.emit(event),
            Event::Progress(p) => {
                let sum = {
                    let mut jobs = self.jobs.lock().unwrap();
                    jobs.insert(p.job, SyncProgress { bytes_done: p.bytes_done, bytes_total: p.bytes_total, objects_done: p.objects_done, objects_total: p.objects_total });
                    jobs.values().fold(SyncProgress::default(), |a, j| SyncProgress {
                        bytes_done: a.bytes_done + j.bytes_done,
                        bytes_total: a.bytes_total + j.bytes_total,
                        objects_done: a.objects_done + j.objects_done,
                        objects_total: a.objects_total + j.objects_total,
                    })
                };
                if self.app.syncs.pairs.update(self.pair, |i| i.progress = Some(sum)).is_some() {
                    self.app.emit_sync(self.pair);
                }
            }
            _ => {}
        }
    }
}
