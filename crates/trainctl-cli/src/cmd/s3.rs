//! `trainctl s3 …`: upload, download, sync, ls. Each verb plans a job in the core, shows it with
//! `--dry-run`, then runs it through the chosen engine with a progress bar or JSON lines.

use crate::render::{self, Mode, Renderer};
use crate::Globals;
use clap::{Args, Subcommand, ValueEnum};
use futures::StreamExt;
use std::path::PathBuf;
use tokio_util::sync::CancellationToken;
use trainctl_core::event::Direction;
use trainctl_core::s3::{list, Connection, S3Url};
use trainctl_core::transfer::{self, plan, EnginePref, TransferJob, TransferOptions};
use trainctl_core::{config, Error, Result};

#[derive(Debug, Subcommand)]
pub enum S3Cmd {
    /// Upload a file or directory: trainctl s3 upload ./ckpt s3://bucket/run1/ --recursive
    Upload(UploadArgs),
    /// Download an object or prefix: trainctl s3 download s3://bucket/data/ ./data --recursive
    Download(DownloadArgs),
    /// Make one side match the other, incrementally (size + mtime)
    Sync(SyncArgs),
    /// List buckets (s3://), prefixes and objects
    Ls(LsArgs),
    /// Delete old checkpoints under a prefix by a retention policy (plan shown first):
    /// trainctl s3 cleanup s3://bucket/runs/ --keep-last-n 10
    Cleanup(super::checkpoint::S3CleanupArgs),
    /// What uses a bucket or prefix and what it costs, by prefix, run, class and age:
    /// trainctl s3 review s3://bucket/ --detailed
    Review(super::review::ReviewArgs),
    /// Bucket lifecycle rules (transition, expire, abort multipart), merged by id, diff shown first:
    /// trainctl s3 lifecycle apply s3://bucket/runs/ --preset checkpoints
    #[command(subcommand)]
    Lifecycle(super::lifecycle::LifecycleCmd),
    /// Watch a prefix: new checkpoints (once, when complete), run finished / stalled, data arriving:
    /// trainctl s3 watch s3://bucket/runs/run1/ --interval 30 --notify
    Watch(super::watch::WatchArgs),
}

/// Flags shared by the verbs that move bytes.
#[derive(Debug, Clone, Args)]
pub struct EngineArgs {
    /// Transfer engine: s5cmd when found, else native (aws-sdk-s3)
    #[arg(long, value_enum, default_value_t = EngineChoice::Auto)]
    pub engine: EngineChoice,
    /// Objects/parts in flight at once
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Multipart part size in MiB
    #[arg(long, default_value_t = 32, value_name = "MIB")]
    pub part_size: u64,
    /// Show what would be transferred and change nothing
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum EngineChoice {
    Auto,
    S5cmd,
    Native,
}

#[derive(Debug, Args)]
pub struct UploadArgs {
    pub local: PathBuf,
    pub dest: String,
    /// Upload a directory's contents
    #[arg(short, long)]
    pub recursive: bool,
    /// Only upload paths matching this glob (relative, `/`-separated; repeatable)
    #[arg(long, value_name = "GLOB")]
    pub include: Vec<String>,
    /// Skip paths matching this glob (wins over --include; repeatable)
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Storage class, e.g. STANDARD, STANDARD_IA, INTELLIGENT_TIERING, GLACIER_IR
    #[arg(long)]
    pub storage_class: Option<String>,
    #[command(flatten)]
    pub engine: EngineArgs,
}

#[derive(Debug, Args)]
pub struct DownloadArgs {
    pub src: String,
    pub local: PathBuf,
    /// Download everything under the prefix
    #[arg(short, long)]
    pub recursive: bool,
    /// Check sizes only, not checksums (faster on huge files)
    #[arg(long)]
    pub size_only: bool,
    #[command(flatten)]
    pub engine: EngineArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SyncDirection {
    /// local → S3
    Up,
    /// S3 → local
    Down,
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
    pub engine: EngineArgs,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// s3:// for buckets, s3://bucket/prefix/ for a level, add -r for everything below
    #[arg(default_value = "s3://")]
    pub url: String,
    #[arg(short, long)]
    pub recursive: bool,
}

pub async fn run(cmd: S3Cmd, g: &Globals) -> Result<i32> {
    match cmd {
        S3Cmd::Upload(a) => upload(a, g).await,
        S3Cmd::Download(a) => download(a, g).await,
        S3Cmd::Sync(a) => sync(a, g).await,
        S3Cmd::Ls(a) => ls(a, g).await,
        S3Cmd::Cleanup(a) => super::checkpoint::s3_cleanup(a, g).await,
        S3Cmd::Review(a) => super::review::run(a, g).await,
        S3Cmd::Lifecycle(c) => super::lifecycle::run(c, g).await,
        S3Cmd::Watch(a) => super::watch::run(a, g).await,
    }
}

/// Resolves the profile and connects (no network call yet).
pub async fn connect(g: &Globals) -> Result<Connection> {
    let profile = config::profile::resolve(&g.overrides())?;
    Connection::open(&profile).await
}

async fn upload(a: UploadArgs, g: &Globals) -> Result<i32> {
    let dest = S3Url::parse(&a.dest)?;
    if !a.local.exists() {
        return Err(Error::LocalMissing(a.local));
    }
    let conn = connect(g).await?;
    let opts = plan::UploadPlanOptions {
        recursive: a.recursive,
        include: a.include,
        exclude: a.exclude,
        storage_class: a.storage_class,
        ..Default::default()
    };
    let job = plan::plan_upload(&a.local, &dest, &opts, &conn).await?;
    execute(&conn, job, &a.engine, true, g).await
}

async fn download(a: DownloadArgs, g: &Globals) -> Result<i32> {
    let src = S3Url::parse(&a.src)?;
    let conn = connect(g).await?;
    let job = plan::plan_download(&src, &a.local, a.recursive, &conn).await?;
    execute(&conn, job, &a.engine, !a.size_only, g).await
}

async fn sync(a: SyncArgs, g: &Globals) -> Result<i32> {
    let remote = S3Url::parse(&a.remote)?;
    let direction = match a.direction {
        SyncDirection::Up => Direction::Upload,
        SyncDirection::Down => Direction::Download,
    };
    if direction == Direction::Upload && !a.local.exists() {
        return Err(Error::LocalMissing(a.local));
    }
    let conn = connect(g).await?;
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
            render::print_json(&serde_json::json!({ "deleted": report.deleted, "failed": report.failed }));
        } else if mode == Mode::Human {
            eprintln!("deleted {} items", report.deleted);
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
    match d {
        plan::Deletion::Object { bucket, key } => format!("s3://{bucket}/{key}"),
        plan::Deletion::LocalFile { path } => path.display().to_string(),
    }
}

/// Runs a planned job (or prints it with --dry-run) and turns its outcome into an exit code.
async fn execute(conn: &Connection, job: TransferJob, e: &EngineArgs, verify: bool, g: &Globals) -> Result<i32> {
    let mode = Mode::from_globals(g);
    for (key, err) in &job.rejected {
        match mode {
            Mode::Json => render::print_json(&serde_json::json!({ "event": "object_rejected", "key": key, "error": err })),
            _ => eprintln!("skipped {key}: {} ({})", err.message, err.hint),
        }
    }
    if e.dry_run {
        print_plan(&job, mode);
        return Ok(if job.rejected.is_empty() { 0 } else { Error::Partial { failed: 0, total: 0 }.exit_code() });
    }
    let pref = match e.engine {
        EngineChoice::Auto => EnginePref::Auto,
        EngineChoice::S5cmd => EnginePref::S5cmd,
        EngineChoice::Native => EnginePref::Native,
    };
    let renderer = Renderer::new(mode);
    let engine = transfer::choose_engine(pref, conn, &renderer)?;
    let opts = TransferOptions { concurrency: e.concurrency.max(1), part_size: e.part_size.max(5) * 1024 * 1024, verify_checksum: verify };
    let cancel = CancellationToken::new();
    let on_ctrl_c = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_ctrl_c.cancel();
        }
    });
    let outcome = engine.run(&job, &opts, &renderer, cancel.clone()).await;
    renderer.finish();
    let outcome = outcome?;
    if cancel.is_cancelled() {
        return Err(Error::Cancelled);
    }
    let failed = outcome.failed.len() as u64 + job.rejected.len() as u64;
    match mode {
        Mode::Json => render::print_json(&serde_json::json!({
            "event": "summary", "engine": engine.name(), "done": outcome.done, "skipped": job.skipped.len(),
            "failed": failed, "bytes": outcome.bytes_done, "seconds": outcome.seconds,
        })),
        Mode::Human => eprintln!(
            "{} {} objects ({}) in {:.1}s with {}; {} skipped as complete; {} failed",
            if job.direction == Direction::Upload { "uploaded" } else { "downloaded" },
            outcome.done,
            render::bytes(outcome.bytes_done),
            outcome.seconds,
            engine.name(),
            job.skipped.len(),
            failed
        ),
        Mode::Quiet => {}
    }
    if failed > 0 {
        if outcome.done == 0 && job.rejected.is_empty() {
            if let Some(e) = whole_job_error(&job, &outcome.failed) {
                return Err(e);
            }
        }
        return Err(Error::Partial { failed, total: failed + outcome.done });
    }
    Ok(0)
}

/// When nothing completed and every item failed for the same job-wide reason (no permission,
/// wrong key or secret, no bucket, disk full), that reason is the error and its exit code, not
/// "partial" (3), which promises that the rest completed.
fn whole_job_error(job: &TransferJob, failed: &[(String, trainctl_core::error::ErrorInfo)]) -> Option<Error> {
    let bucket = job.bucket.as_str();
    let code = failed.first()?.1.code.as_str();
    if failed.iter().any(|(_, e)| e.code != code) {
        return None;
    }
    match code {
        "access_denied" => Some(Error::AccessDenied(format!("s3://{bucket} ({} of {} items)", failed.len(), failed.len()))),
        "bad_secret" => Some(Error::BadSecret),
        "bad_access_key" => Some(Error::BadAccessKey),
        "no_such_bucket" => Some(Error::NoSuchBucket(bucket.to_string())),
        "disk_full" => job.local_root.clone().map(Error::DiskFull),
        _ => None,
    }
}

fn print_plan(job: &TransferJob, mode: Mode) {
    let verb = if job.direction == Direction::Upload { "upload" } else { "download" };
    match mode {
        Mode::Json => {
            for i in &job.items {
                render::print_json(&serde_json::json!({ "plan": verb, "local": i.local, "key": i.key, "bytes": i.size }));
            }
            for (key, reason) in &job.skipped {
                render::print_json(&serde_json::json!({ "plan": "skip", "key": key, "reason": reason }));
            }
        }
        _ => {
            for i in &job.items {
                println!("{verb} {} -> s3://{}/{} ({})", i.local.display(), job.bucket, i.key, render::bytes(i.size));
            }
            eprintln!(
                "dry run: would {verb} {} objects ({}); {} already complete; nothing was changed",
                job.items.len(),
                render::bytes(job.bytes_total()),
                job.skipped.len()
            );
        }
    }
}

async fn ls(a: LsArgs, g: &Globals) -> Result<i32> {
    let url = S3Url::parse_any(&a.url)?;
    let conn = connect(g).await?;
    let mode = Mode::from_globals(g);
    let Some(url) = url else {
        for b in list::list_buckets(&conn).await? {
            match mode {
                Mode::Json => render::print_json(&b),
                _ => println!("s3://{}", b.name),
            }
        }
        return Ok(0);
    };
    // No HeadBucket first: its answer has no body, so a wrong secret would look like "access
    // denied". The first ListObjectsV2 page reports a missing bucket or bad credentials by code.
    let delimiter = if a.recursive { None } else { Some("/") };
    let mut stream = Box::pin(list::list_objects(&conn, &url.bucket, &url.key, delimiter));
    let (mut count, mut bytes) = (0u64, 0u64);
    while let Some(entry) = stream.next().await {
        let o = entry?;
        count += 1;
        bytes += o.size;
        match mode {
            Mode::Json => render::print_json(&o),
            _ if o.is_prefix => println!("{:>29}  {:>10}  s3://{}/{}", "", "PRE", url.bucket, o.key),
            _ => println!(
                "{:>29}  {:>10}  s3://{}/{}",
                o.last_modified.map(fmt_time).unwrap_or_default(),
                render::bytes(o.size),
                url.bucket,
                o.key
            ),
        }
    }
    if mode == Mode::Human {
        eprintln!("{count} entries, {}", render::bytes(bytes));
    }
    Ok(0)
}

fn fmt_time(secs: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs.max(0) as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}
