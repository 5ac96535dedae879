//! `trainctl s3 sync LOCAL s3://b/p/ --direction both`: parse, one core call
//! (`trainctl_core::sync`), render. Deletions are shown first and asked for (or `--yes`); the
//! pass then applies exactly the deletions shown, or refuses (`plan_stale`).

use super::transfer::{execute, EngineArgs, EngineChoice};
use crate::render::{self, Mode, Renderer};
use crate::Globals;
use clap::{Args, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use trainctl_core::event::Direction;
use trainctl_core::s3::S3Url;
use trainctl_core::sync::{self, Action, ConflictPolicy, MaxDelete, Pair, PassReport, SyncOptions};
use trainctl_core::transfer::{plan, TransferOptions};
use trainctl_core::{Error, Result};

/// Flags of `--direction both`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SyncDirection {
    /// local → S3
    Up,
    /// S3 → local
    Down,
    /// both ways: each side against its own snapshot (conflicts, delete guard, journal)
    Both,
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    pub local: PathBuf,
    pub remote: String,
    #[arg(long, value_enum)]
    pub direction: SyncDirection,
    /// Also delete what exists only at the destination (shown first; asks unless --yes)
    #[arg(long)]
    pub delete: bool,
    /// Do not ask before deleting
    #[arg(short, long)]
    pub yes: bool,
    #[arg(long, value_name = "GLOB")]
    pub include: Vec<String>,
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    #[command(flatten)]
    pub two_way: TwoWayArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
}

#[derive(Debug, Clone, Args)]
pub struct TwoWayArgs {
    /// Both sides changed a file differently: keep-both (the local copy renamed
    /// NAME.conflict-DATE-local.EXT), newer, local, remote, or fail
    #[arg(long, value_name = "POLICY", default_value = "keep-both")]
    pub conflict: String,
    /// Most deletions one pass may make on one side: a count (100) or a percent of it (25%)
    #[arg(long, value_name = "N|P%", default_value = "50%")]
    pub max_delete: String,
    /// Go on although the delete guard refuses the pass (many deletions, an emptied side)
    #[arg(long)]
    pub force: bool,
    /// Forget the pair's snapshots: a first pass again (a union; nothing deleted)
    #[arg(long)]
    pub resync: bool,
    /// Create the local folder if it does not exist
    #[arg(long)]
    pub create: bool,
    /// Seconds a checkpoint's newest file must be old before the checkpoint counts as complete
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub grace: u64,
    /// Keep syncing: a pass on every local change (debounced) and every --interval (needs --yes)
    #[arg(long)]
    pub watch: bool,
    /// Seconds between remote polls in --watch mode (a no-change pass is one listing)
    #[arg(long, value_name = "SECS", default_value_t = 60.0)]
    pub interval: f64,
}

impl TwoWayArgs {
    /// The two-way flags mean nothing to `up`/`down`: refuse rather than ignore them.
    pub fn refuse_for_one_way(&self) -> Result<()> {
        if self.force || self.resync || self.create || self.watch || self.conflict != "keep-both" || self.max_delete != "50%" {
            return Err(Error::Usage("--conflict, --max-delete, --force, --resync, --create and --watch are for --direction both".into()));
        }
        Ok(())
    }
}

fn options(a: &SyncArgs) -> Result<SyncOptions> {
    let t = &a.two_way;
    if a.delete {
        return Err(Error::Usage("--delete is for --direction up/down: two-way sync propagates deletions itself (shown first; --yes skips the prompt)".into()));
    }
    if matches!(a.engine.engine, EngineChoice::S5cmd) {
        return Err(Error::Usage("--direction both writes conditionally (never over a concurrent change), which only the native engine can: drop --engine s5cmd".into()));
    }
    if !(t.interval.is_finite() && (1.0..=86_400.0).contains(&t.interval)) {
        return Err(Error::Usage(format!("--interval must be between 1 and 86400 seconds (got {})", t.interval)));
    }
    Ok(SyncOptions {
        conflict: ConflictPolicy::parse(&t.conflict)?,
        max_delete: MaxDelete::parse(&t.max_delete)?,
        force: t.force,
        resync: t.resync,
        create_local: t.create,
        dry_run: a.engine.dry_run,
        include: a.include.clone(),
        exclude: a.exclude.clone(),
        grace: Duration::from_secs(t.grace),
        transfer: TransferOptions { concurrency: a.engine.concurrency.max(1), part_size: a.engine.part_size.max(5) * 1024 * 1024, verify_checksum: true, upload_checksum: a.engine.upload_checksum },
        ..SyncOptions::default()
    })
}

pub async fn both(a: SyncArgs, remote: S3Url, g: &Globals) -> Result<i32> {
    let mut opts = options(&a)?;
    if a.two_way.watch && !a.yes && !opts.dry_run {
        return Err(Error::NotConfirmed("--watch deletes on one side what is deleted on the other without asking each time: add --yes to agree (the delete guard still applies)".into()));
    }
    let conn = g.connect().await?;
    let pair = Pair::new(&a.local, &remote, &conn)?;
    let mode = Mode::from_globals(g);
    let renderer = Renderer::new(mode);
    let cancel = CancellationToken::new();
    let on_ctrl_c = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_ctrl_c.cancel();
        }
    });
    if a.two_way.watch && !opts.dry_run {
        let interval = Duration::from_secs_f64(a.two_way.interval);
        let on_pass = |r: Result<PassReport>| match r {
            Ok(r) => summary(&r, mode),
            Err(e) => render::print_error(&e, mode == Mode::Json),
        };
        sync::watch::run(&conn, &pair, &opts, interval, &renderer, &cancel, &on_pass).await?;
        return Ok(0);
    }
    if opts.dry_run {
        let report = sync::pass(&conn, &pair, &opts, &renderer, &cancel).await?;
        show_plan(&report, mode);
        return Ok(0);
    }
    if !a.yes {
        let preview = sync::pass(&conn, &pair, &SyncOptions { dry_run: true, ..opts.clone() }, &renderer, &cancel).await?;
        let deletions = preview.deletions();
        if !deletions.is_empty() {
            show_plan(&preview, mode);
            refuse_if_guarded(&preview, &opts, mode)?;
            let bytes: u64 = preview.actions.iter().filter_map(deleted_bytes).sum();
            render::confirm(&format!("Apply this pass, which deletes the {} item(s) above ({})?", deletions.len(), render::bytes(bytes)))?;
        }
        opts.expect_deletes = Some(deletions);
    }
    let report = sync::run(&conn, &pair, &opts, &renderer, &cancel).await;
    renderer.finish();
    let report = report?;
    if report.done.is_none() {
        show_plan(&report, mode);
        refuse_if_guarded(&report, &opts, mode)?;
    }
    summary(&report, mode);
    report.into_result().map(|_| 0)
}

fn deleted_bytes(a: &Action) -> Option<u64> {
    match a {
        Action::DeleteLocal { bytes, .. } | Action::DeleteRemote { bytes, .. } => Some(*bytes),
        _ => None,
    }
}

/// The delete guard's refusal, with the exact line that goes on anyway.
fn refuse_if_guarded(r: &PassReport, opts: &SyncOptions, mode: Mode) -> Result<()> {
    let Some(detail) = r.guard.refused.clone().filter(|_| !opts.force) else { return Ok(()) };
    let force_line = format!("trainctl {} --force", std::env::args().skip(1).collect::<Vec<_>>().join(" "));
    match mode {
        Mode::Json => render::print_json(&serde_json::json!({ "delete_guard": r.guard, "force_command": force_line })),
        _ => eprintln!("to delete them anyway: {force_line}"),
    }
    Err(Error::DeleteGuard { detail })
}

/// The plan, per side: every action (human: the first 200), conflicts, what waits, what is left alone.
fn show_plan(r: &PassReport, mode: Mode) {
    if mode == Mode::Json {
        for a in &r.actions {
            render::print_json(&serde_json::json!({ "plan": a }));
        }
        for c in &r.conflicts {
            render::print_json(&serde_json::json!({ "conflict": c }));
        }
        for d in &r.deferred {
            render::print_json(&serde_json::json!({ "deferred": d }));
        }
        for s in &r.skipped {
            render::print_json(&serde_json::json!({ "skipped": s }));
        }
        render::print_json(&serde_json::json!({ "sync_plan": { "pair": r.pair, "first_pass": r.first_pass, "totals": r.totals, "unchanged": r.unchanged, "guard": r.guard } }));
        return;
    }
    if mode == Mode::Quiet {
        return;
    }
    let local = |p: &str| format!("{}/{p}", r.local.trim_end_matches('/'));
    let remote = |p: &str| format!("{}{p}", r.remote);
    for a in r.actions.iter().take(200) {
        let line = match a {
            Action::Upload { path, bytes, reason, .. } => format!("upload    {} → {} ({}) — {reason}", local(path), remote(path), render::bytes(*bytes)),
            Action::Download { path, bytes, reason, .. } => format!("download  {} → {} ({}) — {reason}", remote(path), local(path), render::bytes(*bytes)),
            Action::DeleteRemote { path, bytes, reason, .. } => format!("delete    {} ({}) — {reason}", remote(path), render::bytes(*bytes)),
            Action::DeleteLocal { path, bytes, reason, .. } => format!("delete    {} ({}) — {reason}", local(path), render::bytes(*bytes)),
            Action::RenameLocal { from, to, reason } => format!("rename    {} → {to} — {reason}", local(from)),
        };
        println!("{line}");
    }
    if r.actions.len() > 200 {
        println!("… and {} more (--json lists all)", r.actions.len() - 200);
    }
    for c in &r.conflicts {
        println!("conflict  {}: {}", c.path, c.resolution);
    }
    for d in &r.deferred {
        eprintln!("waiting   {}: {}", d.path, d.reason);
    }
    for s in &r.skipped {
        match &s.error {
            Some(e) => eprintln!("skipped   {} ({}): {} — {}", s.path, s.side, e.message, s.reason),
            None => eprintln!("skipped   {} ({}): {}", s.path, s.side, s.reason),
        }
    }
    let t = &r.totals;
    eprintln!(
        "{}plan: {} upload(s) ({}), {} download(s) ({}), {} local and {} S3 deletion(s), {} conflict(s); {} unchanged{}",
        if r.first_pass { "first pass (a union, nothing deleted) — " } else { "" },
        t.uploads,
        render::bytes(t.bytes_up),
        t.downloads,
        render::bytes(t.bytes_down),
        t.local_deletes,
        t.remote_deletes,
        r.conflicts.len(),
        r.unchanged,
        if r.dry_run { "; dry run: nothing was changed" } else { "" }
    );
    if let Some(why) = &r.guard.refused {
        eprintln!("the delete guard refuses this pass: {why}");
    }
}

fn summary(r: &PassReport, mode: Mode) {
    let Some(d) = &r.done else { return };
    match mode {
        Mode::Json => render::print_json(&serde_json::json!({ "event": "sync_summary", "pair": r.pair, "done": d, "conflicts": r.conflicts, "deferred": r.deferred, "skipped": r.skipped, "unchanged": r.unchanged, "seconds": r.seconds })),
        Mode::Quiet => {}
        Mode::Human => {
            for c in &r.conflicts {
                eprintln!("conflict  {}: {}", c.path, c.resolution);
            }
            for d in &r.deferred {
                eprintln!("waiting   {}: {}", d.path, d.reason);
            }
            for f in &d.failed {
                eprintln!("failed    {}: {} ({})", f.path, f.error.message, f.error.hint);
            }
            eprintln!(
                "synced in {:.1}s: {} uploaded ({}), {} downloaded ({}), {} deleted locally, {} deleted on S3, {} conflict(s), {} failed; {} unchanged",
                r.seconds,
                d.uploaded,
                render::bytes(d.bytes_up),
                d.downloaded,
                render::bytes(d.bytes_down),
                d.deleted_local,
                d.deleted_remote,
                r.conflicts.len(),
                d.failed.len(),
                r.unchanged
            );
        }
    }
}

/// `trainctl s3 sync`: one way (`up`, `down`) through the transfer engines, or `both`.
pub async fn run(a: SyncArgs, g: &Globals) -> Result<i32> {
    let remote = S3Url::parse(&a.remote)?;
    let direction = match a.direction {
        SyncDirection::Up => Direction::Upload,
        SyncDirection::Down => Direction::Download,
        SyncDirection::Both => return both(a, remote, g).await,
    };
    a.two_way.refuse_for_one_way()?;
    if direction == Direction::Upload && !a.local.exists() {
        return Err(Error::LocalMissing(a.local));
    }
    let conn = g.connect().await?;
    let opts = plan::SyncOptions { delete: a.delete, include: a.include, exclude: a.exclude, storage_class: None };
    let sync_plan = plan::plan_sync(&a.local, &remote, direction, &opts, &conn).await?;
    let mode = Mode::from_globals(g);
    if !sync_plan.deletions.is_empty() {
        show_deletions(&sync_plan, mode);
        if a.engine.dry_run {
            return execute(&conn, sync_plan.job, &a.engine, true, g).await;
        }
        if !a.yes {
            render::confirm(&format!("Delete the {} items above, which exist only at the destination?", sync_plan.deletions.len()))?;
        }
    }
    let code = execute(&conn, sync_plan.job.clone(), &a.engine, true, g).await?;
    if !sync_plan.deletions.is_empty() && !a.engine.dry_run {
        let report = plan::apply_deletions(&sync_plan, &conn).await?;
        if mode == Mode::Json {
            render::print_json(&serde_json::json!({ "deleted": report.deleted, "failed": report.failed, "skipped": report.skipped }));
        } else if mode == Mode::Human {
            eprintln!("deleted {} items", report.deleted);
        }
        if mode != Mode::Json {
            for (what, why) in &report.skipped {
                eprintln!("kept {what}: {why}");
            }
        }
        if !report.failed.is_empty() {
            for (what, err) in &report.failed {
                eprintln!("failed to delete {what}: {}", err.message);
            }
            return Err(Error::Partial { failed: report.failed.len() as u64, total: sync_plan.deletions.len() as u64 });
        }
    }
    Ok(code)
}

fn show_deletions(p: &plan::SyncPlan, mode: Mode) {
    match mode {
        Mode::Json => {
            for d in &p.deletions {
                render::print_json(&serde_json::json!({ "plan": "delete", "target": d }));
            }
        }
        _ => {
            eprintln!("would delete {} items that exist only at the destination:", p.deletions.len());
            for d in p.deletions.iter().take(50) {
                eprintln!("  delete {}", deletion_target(d));
            }
            if p.deletions.len() > 50 {
                eprintln!("  … and {} more (use --json for the full list)", p.deletions.len() - 50);
            }
        }
    }
}

fn deletion_target(d: &plan::Deletion) -> String {
    d.target()
}
