//! `trainctl checkpoint list|cleanup` and `trainctl s3 cleanup`: discover checkpoints, show a
//! retention plan with a reason per checkpoint, ask (or `--yes`), delete exactly that plan.

use crate::render::{self, Mode, Renderer};
use crate::Globals;
use clap::{Args, Subcommand, ValueEnum};
use std::time::Duration;
use trainctl_core::checkpoint::detect::now_secs;
use trainctl_core::cost;
use trainctl_core::checkpoint::{self, Action, Checkpoint, DetectOptions, Discovery, KeepBest, Location, Plan, Policy};
use trainctl_core::event::{Event, Sink};
use trainctl_core::s3::Connection;
use trainctl_core::{Error, Result};

#[derive(Debug, Subcommand)]
pub enum CheckpointCmd {
    /// List runs and checkpoints: trainctl checkpoint list ./outputs  (or s3://bucket/runs/)
    List(ListArgs),
    /// Delete old checkpoints by a retention policy, from a plan shown first:
    /// trainctl checkpoint cleanup ./outputs --keep-last-n 5
    Cleanup(CleanupArgs),
    /// Keep checkpoints whatever the policy says: trainctl checkpoint pin ./outputs run1/checkpoint-500
    Pin(PinArgs),
    /// Remove pins
    Unpin(PinArgs),
    /// Make identical files across checkpoints share their bytes (hard links or reflinks, never
    /// symlinks), from a plan shown first: trainctl checkpoint dedup ./outputs --dry-run
    Dedup(super::dedup::DedupArgs),
}

#[derive(Debug, Args)]
pub struct PinArgs {
    /// A local directory or an s3:// prefix (the pins file lives there)
    pub location: String,
    /// Checkpoint ids as `checkpoint list` shows them (relative to the location)
    #[arg(required = true)]
    pub ids: Vec<String>,
}

/// How checkpoints are recognised.
#[derive(Debug, Clone, Args)]
pub struct DetectArgs {
    /// Custom layout: a regex on relative paths with named groups `step`, `epoch`, `metric`
    /// (e.g. 'snap_(?P<step>\d+)/')
    #[arg(long, value_name = "RE")]
    pub pattern: Option<String>,
    /// A checkpoint whose newest file is younger than this is treated as still being written
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = humantime::parse_duration)]
    pub grace: Duration,
    /// An incomplete checkpoint nothing was written to for this long (and, on S3, with no upload
    /// into it) is shown as abandoned: a crashed save
    #[arg(long, value_name = "DURATION", default_value = "6h", value_parser = humantime::parse_duration)]
    pub abandoned_after: Duration,
}

impl DetectArgs {
    fn options(&self) -> Result<DetectOptions> {
        let pattern = self.pattern.as_deref().map(checkpoint::compile_pattern).transpose()?;
        Ok(DetectOptions { pattern, grace: self.grace, abandoned_after: self.abandoned_after, now: now_secs() })
    }
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// A local directory or an s3:// prefix
    pub location: String,
    #[command(flatten)]
    pub detect: DetectArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ModeArg {
    /// Lower is better (losses)
    Min,
    /// Higher is better (accuracies)
    Max,
}

/// Retention rules and confirmation flags, shared by `checkpoint cleanup` and `s3 cleanup`.
#[derive(Debug, Clone, Args)]
pub struct PolicyArgs {
    /// Keep the newest N complete checkpoints of each run
    #[arg(long, value_name = "N")]
    pub keep_last_n: Option<usize>,
    /// Keep the best K checkpoints by --metric (needs --metric and --mode)
    #[arg(long, value_name = "K", requires_all = ["metric", "mode"])]
    pub keep_best: Option<usize>,
    /// Metric name for --keep-best (e.g. eval_loss, val_loss)
    #[arg(long, value_name = "NAME", requires = "keep_best")]
    pub metric: Option<String>,
    /// Whether a lower (min) or higher (max) metric is better
    #[arg(long, value_enum, requires = "keep_best")]
    pub mode: Option<ModeArg>,
    /// Keep every checkpoint whose step is a multiple of N
    #[arg(long, value_name = "STEPS")]
    pub keep_every: Option<u64>,
    /// Keep checkpoints modified within this long (e.g. 7d, 12h)
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub keep_since: Option<Duration>,
    /// Allow --keep-last-n 0 (the newest complete and incomplete checkpoints are still kept)
    #[arg(long)]
    pub force_all: bool,
    /// Also delete abandoned checkpoints (crashed saves: incomplete, nothing written for
    /// --abandoned-after); off by default. In-progress ones are never deleted
    #[arg(long)]
    pub delete_abandoned: bool,
    /// Show the plan and change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask before deleting
    #[arg(short, long)]
    pub yes: bool,
    /// Keep applying the policy as new checkpoints appear (needs --yes); Ctrl-C stops
    #[arg(long, requires = "yes", conflicts_with = "dry_run")]
    pub watch: bool,
    /// How often --watch looks again
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = humantime::parse_duration)]
    pub interval: Duration,
    #[command(flatten)]
    pub detect: DetectArgs,
}

impl PolicyArgs {
    fn policy(&self) -> Policy {
        let keep_best = match (self.keep_best, &self.metric, self.mode) {
            (Some(k), Some(metric), Some(mode)) => Some(KeepBest {
                k,
                metric: metric.clone(),
                mode: match mode {
                    ModeArg::Min => checkpoint::Mode::Min,
                    ModeArg::Max => checkpoint::Mode::Max,
                },
            }),
            _ => None,
        };
        Policy {
            keep_last_n: self.keep_last_n,
            keep_best,
            keep_every_n_steps: self.keep_every,
            keep_since: self.keep_since,
            pins: Default::default(),
            force_all: self.force_all,
            delete_abandoned: self.delete_abandoned,
        }
    }
}

#[derive(Debug, Args)]
pub struct CleanupArgs {
    /// A local directory (an s3:// prefix works too; see `trainctl s3 cleanup`)
    pub location: String,
    #[command(flatten)]
    pub policy: PolicyArgs,
}

/// `trainctl s3 cleanup <s3://…>`.
#[derive(Debug, Args)]
pub struct S3CleanupArgs {
    /// The s3:// prefix holding the runs
    pub url: String,
    #[command(flatten)]
    pub policy: PolicyArgs,
}

pub async fn run(cmd: CheckpointCmd, g: &Globals) -> Result<i32> {
    match cmd {
        CheckpointCmd::List(a) => list(a, g).await,
        CheckpointCmd::Cleanup(a) => cleanup(&a.location, &a.policy, g).await,
        CheckpointCmd::Pin(a) => pin(a, true, g).await,
        CheckpointCmd::Unpin(a) => pin(a, false, g).await,
        CheckpointCmd::Dedup(a) => super::dedup::dedup(a, g).await,
    }
}

async fn pin(a: PinArgs, pin: bool, g: &Globals) -> Result<i32> {
    let (loc, conn) = open(&a.location, g).await?;
    let pins = checkpoint::pins::update_pins(&loc, conn.as_ref(), &a.ids, pin).await?;
    match Mode::from_globals(g) {
        Mode::Json => render::print_json(&serde_json::json!({ "pins": pins })),
        Mode::Human => eprintln!("{} pinned checkpoint(s) under {}: {}", pins.len(), loc.display(), pins.iter().cloned().collect::<Vec<_>>().join(", ")),
        Mode::Quiet => {}
    }
    Ok(0)
}

/// `trainctl s3 cleanup`: the same cleanup, with the location required to be on S3.
pub async fn s3_cleanup(a: S3CleanupArgs, g: &Globals) -> Result<i32> {
    if !a.url.starts_with("s3://") {
        return Err(Error::BadUrl { url: a.url, reason: "s3 cleanup needs an s3:// prefix (use `trainctl checkpoint cleanup` for a directory)".into() });
    }
    cleanup(&a.url, &a.policy, g).await
}

/// The location and, for S3, a connection.
async fn open(location: &str, g: &Globals) -> Result<(Location, Option<Connection>)> {
    let loc = Location::parse(location)?;
    let conn = match &loc {
        Location::S3(_) => Some(g.connect().await?),
        Location::Local(_) => None,
    };
    Ok((loc, conn))
}

async fn list(a: ListArgs, g: &Globals) -> Result<i32> {
    let opts = a.detect.options()?;
    let (loc, conn) = open(&a.location, g).await?;
    let found = checkpoint::discover(&loc, conn.as_ref(), &opts).await?;
    let mode = Mode::from_globals(g);
    if found.checkpoint_count() == 0 {
        say_none_found(&found, mode);
        return Ok(0);
    }
    for run in &found.runs {
        if mode == Mode::Human {
            println!("{} ({} checkpoints)", run_label(&run.name), run.checkpoints.len());
        }
        for c in &run.checkpoints {
            match mode {
                Mode::Json => render::print_json(&checkpoint_json(c)),
                _ => println!("  {}", checkpoint_row(c, &run.name, true)),
            }
        }
    }
    Ok(0)
}

fn say_none_found(found: &Discovery, mode: Mode) {
    let message = format!("no checkpoints found under {} ({} files looked at); nothing to do", found.location.display(), found.entries.len());
    match mode {
        Mode::Json => render::print_json(&serde_json::json!({ "event": "no_checkpoints", "location": found.location.display(), "files": found.entries.len() })),
        _ => eprintln!("{message}"),
    }
}

async fn cleanup(location: &str, args: &PolicyArgs, g: &Globals) -> Result<i32> {
    let mut policy = args.policy();
    policy.validate()?;
    let mut opts = args.detect.options()?;
    let (loc, conn) = open(location, g).await?;
    let mode = Mode::from_globals(g);
    if args.watch {
        return watch(&loc, conn.as_ref(), &policy, &opts, args.interval, mode).await;
    }
    let mut attempts = 0;
    loop {
        attempts += 1;
        opts.now = now_secs();
        let found = checkpoint::discover(&loc, conn.as_ref(), &opts).await?;
        if found.checkpoint_count() == 0 {
            say_none_found(&found, mode);
            return Ok(0);
        }
        policy.pins = found.pins.clone();
        let plans = checkpoint::plan_all(&found.runs, &policy, opts.now)?;
        show_plan(&plans, conn.as_ref(), opts.now, mode);
        let doomed = plans.iter().map(|p| p.deletions().count()).sum::<usize>();
        if doomed == 0 || args.dry_run {
            finish_without_apply(doomed, args.dry_run, mode);
            return Ok(0);
        }
        if !args.yes {
            let bytes = plans.iter().map(|p| p.bytes_reclaimed).sum();
            render::confirm(&format!("Delete the {doomed} checkpoints marked DELETE above ({})?", render::bytes(bytes)))?;
        }
        let renderer = Renderer::new(mode);
        match checkpoint::apply(&plans, &loc, conn.as_ref(), &opts, &renderer).await {
            Err(Error::PlanStale(change)) if attempts < 3 => {
                renderer.send(Event::Notice { message: format!("the checkpoints changed since the plan ({change}); planning again") });
            }
            Err(e) => return Err(e),
            Ok(out) => return report_apply(&out, doomed, mode),
        }
    }
}

/// `--watch`: one unattended round (core `enforce`) per interval until Ctrl-C. A failing round
/// is reported and the watch goes on: a network blip must not end it.
async fn watch(loc: &Location, conn: Option<&Connection>, policy: &Policy, opts: &DetectOptions, every: Duration, mode: Mode) -> Result<i32> {
    let renderer = Renderer::new(mode);
    renderer.send(Event::Notice { message: format!("watching {} every {}; Ctrl-C stops", loc.display(), humantime::format_duration(every)) });
    loop {
        match checkpoint::enforce(loc, conn, policy, opts, &renderer).await {
            Ok(round) => {
                if let Some(out) = round.outcome {
                    let doomed = round.plans.iter().map(|p| p.deletions().count()).sum();
                    let _ = report_apply(&out, doomed, mode);
                }
            }
            Err(e) => render::print_error(&e, mode == Mode::Json),
        }
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(0),
            _ = tokio::time::sleep(every) => {}
        }
    }
}

fn finish_without_apply(doomed: usize, dry_run: bool, mode: Mode) {
    if mode != Mode::Human {
        return;
    }
    if doomed == 0 {
        eprintln!("nothing to delete: the policy keeps every checkpoint");
    } else if dry_run {
        eprintln!("dry run: would delete {doomed} checkpoints; nothing was changed");
    }
}

fn report_apply(out: &checkpoint::ApplyOutcome, doomed: usize, mode: Mode) -> Result<i32> {
    match mode {
        Mode::Json => render::print_json(&serde_json::json!({
            "event": "summary", "checkpoints_deleted": out.checkpoints_deleted, "objects_deleted": out.objects_deleted,
            "bytes_reclaimed": out.bytes_reclaimed, "failed": out.failed.len(), "seconds": out.seconds,
        })),
        Mode::Human => eprintln!(
            "deleted {} of {doomed} checkpoints ({} objects, {}) in {:.1}s; {} failed",
            out.checkpoints_deleted,
            out.objects_deleted,
            render::bytes(out.bytes_reclaimed),
            out.seconds,
            out.failed.len()
        ),
        Mode::Quiet => {}
    }
    if !out.failed.is_empty() {
        let total = out.objects_deleted + out.failed.len() as u64;
        return Err(Error::Partial { failed: out.failed.len() as u64, total });
    }
    Ok(0)
}

// ---------------------------------------------------------------------------------------------
// Rendering

fn show_plan(plans: &[Plan], conn: Option<&Connection>, now: i64, mode: Mode) {
    match mode {
        Mode::Json => plans.iter().flat_map(|p| &p.items).for_each(|i| {
            let mut v = checkpoint_json(&i.checkpoint);
            v["plan"] = serde_json::json!(if i.action == Action::Delete { "delete" } else { "keep" });
            v["reasons"] = serde_json::json!(i.reasons);
            render::print_json(&v);
        }),
        Mode::Quiet => {}
        Mode::Human => {
            for p in plans {
                println!("{}", run_label(&p.run));
                for i in &p.items {
                    let verb = if i.action == Action::Delete { "DELETE" } else { "keep  " };
                    println!("  {verb}  {}  — {}", checkpoint_row(&i.checkpoint, &p.run, false), i.reasons.join("; "));
                }
            }
        }
    }
    let (bytes, doomed): (u64, usize) = plans.iter().fold((0, 0), |(b, n), p| (b + p.bytes_reclaimed, n + p.deletions().count()));
    let table = cost::savings_table(conn);
    let s = cost::plan_savings(plans, &table, now);
    let abandoned = checkpoint::policy::abandoned_note(plans);
    match mode {
        Mode::Json => render::print_json(&serde_json::json!({
            "event": "plan_summary", "delete": doomed, "bytes_reclaimed": bytes, "monthly_usd_saved": s.monthly_usd,
            "early_deletion_usd": s.early_deletion_usd, "net_first_month_usd": s.net_first_month_usd,
            "price_table": s.table, "storage_class": s.storage_class, "abandoned": abandoned,
        })),
        Mode::Human => {
            if let Some(note) = &abandoned {
                eprintln!("abandoned: {note}");
            }
            let early = if s.early_deletion_usd > 0.0 { format!(", minus ${:.2} once for early deletion", s.early_deletion_usd) } else { String::new() };
            eprintln!(
                "plan: delete {doomed} checkpoints, reclaim {} (≈ ${:.2}/month at {} {} prices{early})",
                render::bytes(bytes),
                s.monthly_usd,
                s.table,
                s.storage_class
            )
        }
        Mode::Quiet => {}
    }
}

fn run_label(name: &str) -> String {
    if name.is_empty() { "run .".to_string() } else { format!("run {name}") }
}

/// One line: name within its run, step/epoch, size, state (with its reason if asked), metrics.
fn checkpoint_row(c: &Checkpoint, run: &str, why_incomplete: bool) -> String {
    let name = c.id.strip_prefix(run).map(|s| s.trim_start_matches('/')).unwrap_or(&c.id);
    let mut parts = vec![format!("{name:<28}")];
    parts.push(c.step.map(|s| format!("step {s}")).unwrap_or_else(|| "step -".into()));
    if let Some(e) = c.epoch {
        // `{}` of an f64 is its shortest exact form: 2.5, 3 (never 2.4999999).
        parts.push(format!("epoch {e}"));
    }
    parts.push(render::bytes(c.bytes));
    let state = if c.complete.is_abandoned() { "ABANDONED" } else { "INCOMPLETE" };
    parts.push(match c.complete_reason() {
        None => "complete".into(),
        Some(r) if why_incomplete => format!("{state} ({r})"),
        Some(_) => state.into(),
    });
    if let Some(twin) = &c.same_as {
        let twin = twin.strip_prefix(run).map(|s| s.trim_start_matches('/')).unwrap_or(twin);
        parts.push(format!("same bytes as {twin}"));
    }
    parts.extend(c.metrics.iter().map(|(k, v)| format!("{k}={v}")));
    parts.join("  ")
}

/// A checkpoint as one JSON object (file count, not the file list).
fn checkpoint_json(c: &Checkpoint) -> serde_json::Value {
    serde_json::json!({
        "run": c.run, "id": c.id, "layout": c.layout, "step": c.step, "epoch": c.epoch, "metrics": c.metrics,
        "files": c.files.len(), "bytes": c.bytes, "last_modified": c.last_modified,
        "complete": c.complete.is_complete(), "state": c.complete.state(), "incomplete_reason": c.complete_reason(),
        "framework_keep": c.framework_keep, "same_as": c.same_as,
    })
}
