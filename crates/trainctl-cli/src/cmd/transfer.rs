//! `trainctl s3 upload|download|sync|ls`: each verb plans a job in the core, shows it with
//! `--dry-run`, then runs it through the chosen engine with a progress bar or JSON lines.

use crate::render::{self, Mode, Renderer};
use crate::Globals;
use clap::{Args, ValueEnum};
use futures::StreamExt;
use std::path::PathBuf;
use tokio_util::sync::CancellationToken;
use trainctl_core::event::Direction;
use trainctl_core::s3::{list, Connection, S3Url};
use trainctl_core::transfer::{self, plan, EnginePref, TransferJob, TransferOptions, UploadChecksum};
use trainctl_core::codec::Compress;
use trainctl_core::transfer::dedup::DedupMode;
use trainctl_core::{Error, Result};

/// Flags shared by the verbs that move bytes.
#[derive(Debug, Clone, Args)]
pub struct EngineArgs {
    /// Transfer engine: auto = per job, the one measured faster for its shape (docs/benchmarks.md)
    #[arg(long, value_enum, default_value_t = EngineChoice::Auto)]
    pub engine: EngineChoice,
    /// Checksum stored with uploads: auto (the provider's: CRC64NVME on AWS and Garage), off,
    /// crc64nvme, crc32c, crc32 (native engine; later downloads verify by it)
    #[arg(long, default_value = "auto", value_name = "KIND", value_parser = parse_upload_checksum)]
    pub upload_checksum: UploadChecksum,
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

fn parse_upload_checksum(s: &str) -> std::result::Result<UploadChecksum, String> {
    UploadChecksum::parse(s).ok_or_else(|| format!("`{s}` is not one of auto, off, crc64nvme, crc32c, crc32"))
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
    /// Compress before upload: zstd[:LEVEL] (every file but text metadata, as NAME.zst) or
    /// auto (files >= 1 MiB that a sample shows shrink by >= 5%; tensors may be byte-plane split,
    /// NAME.tcz). trainctl downloads decode them transparently
    #[arg(long, value_name = "zstd[:LEVEL]|auto", value_parser = parse_compress)]
    pub compress: Option<Compress>,
    /// Do not send a file whose content is already under the destination folder (or under
    /// --dedup=s3://BUCKET/PREFIX/, e.g. the whole run): copy it on the server instead. Saves
    /// bandwidth and time, not storage. --dedup=refs[:s3://BUCKET/PREFIX/] stores a repeated file
    /// once (PREFIX/.trainctl/content/) and writes KEY.trainctl-ref in its place: saves storage
    /// too; trainctl reads resolve them, `trainctl s3 materialize` undoes them (docs/dedup-upload.md)
    #[arg(long, value_name = "[refs:]s3://BUCKET/PREFIX/", num_args = 0..=1, default_missing_value = "", require_equals = true)]
    pub dedup: Option<String>,
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// `--compress` values (shared with `trainctl local`).
pub(crate) fn parse_compress(s: &str) -> std::result::Result<Compress, String> {
    Compress::parse(s).ok_or_else(|| format!("`{s}` is not one of zstd, zstd:LEVEL (1-19), auto"))
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

#[derive(Debug, Args)]
pub struct LsArgs {
    /// s3:// for buckets, s3://bucket/prefix/ for a level, add -r for everything below
    #[arg(default_value = "s3://")]
    pub url: String,
    #[arg(short, long)]
    pub recursive: bool,
    /// Every version of the key (or of every key under the prefix), delete markers included
    #[arg(long)]
    pub versions: bool,
    /// Also list the content areas of content references (`--dedup=refs`), which are otherwise
    /// hidden: references show as the files they stand for
    #[arg(long)]
    pub show_content: bool,
}

pub async fn upload(a: UploadArgs, g: &Globals) -> Result<i32> {
    let dest = S3Url::parse(&a.dest)?;
    if !a.local.exists() {
        return Err(Error::LocalMissing(a.local));
    }
    let conn = g.connect().await?;
    let opts = plan::UploadPlanOptions {
        recursive: a.recursive,
        include: a.include,
        exclude: a.exclude,
        storage_class: a.storage_class,
        ..Default::default()
    };
    let dedup = a.dedup.as_deref().map(|d| dedup_flag(d, &dest)).transpose()?;
    let mut job = plan::plan_upload(&a.local, &dest, &opts, &conn).await?;
    let planned = transfer::dedup::plan_savings(&mut job, &conn, a.compress, dedup.as_ref().map(|(m, scope)| (*m, scope.as_str()))).await?;
    print_savings_plan(&planned, a.engine.dry_run, Mode::from_globals(g));
    execute(&conn, job, &a.engine, true, g).await
}

/// What `--dedup` planned, as every uploading command shows it (`s3 upload`, `trainctl local`):
/// its notes, and with `--dry-run` the references' summary (`bytes_not_stored`).
pub(crate) fn print_savings_plan(planned: &transfer::dedup::DedupPlanned, dry_run: bool, mode: Mode) {
    for note in &planned.notes {
        match mode {
            Mode::Json => render::print_json(&trainctl_core::event::Event::Notice { message: note.clone() }),
            _ => eprintln!("{note}"),
        }
    }
    if dry_run && planned.refs > 0 {
        let (n, bytes, estimated) = (planned.refs, planned.bytes_not_stored, planned.bytes_not_stored_estimated);
        match mode {
            Mode::Json => render::print_json(&serde_json::json!({ "plan": "refs_summary", "references": n, "bytes_not_stored": bytes, "estimated": estimated })),
            Mode::Quiet => {}
            Mode::Human => {
                let how = if estimated { "about " } else { "" };
                let why = if estimated { " (compressed content estimated from a sample of each file)" } else { "" };
                eprintln!("dry run: {n} references: {how}{} not stored twice{why}", render::bytes(bytes));
            }
        }
    }
}

/// `--dedup[=[refs][:]s3://…]`: the mode and the scope (shared with `trainctl local`).
pub(crate) fn dedup_flag(flag: &str, dest: &S3Url) -> Result<(DedupMode, String)> {
    match flag.strip_prefix("refs") {
        Some(rest) if rest.is_empty() || rest.starts_with(':') => Ok((DedupMode::Refs, dedup_scope(rest.trim_start_matches(':'), dest)?)),
        _ => Ok((DedupMode::Copy, dedup_scope(flag, dest)?)),
    }
}

/// The prefix `--dedup` looks for copies under: the destination's folder, or the one named
/// (in the destination's bucket, containing the destination).
fn dedup_scope(flag: &str, dest: &S3Url) -> Result<String> {
    let folder = |key: &str| key.rfind('/').map_or(String::new(), |i| key[..=i].to_string());
    if flag.is_empty() {
        return Ok(folder(&dest.key));
    }
    let named = S3Url::parse(flag)?;
    let prefix = if named.key.is_empty() || named.key.ends_with('/') { named.key.clone() } else { format!("{}/", named.key) };
    if named.bucket != dest.bucket || !dest.key.starts_with(&prefix) {
        return Err(Error::Usage(format!("--dedup={flag}: name a folder of s3://{} that contains the destination (copies are made within one bucket)", dest.bucket)));
    }
    Ok(prefix)
}

pub async fn download(a: DownloadArgs, g: &Globals) -> Result<i32> {
    let src = S3Url::parse(&a.src)?;
    let conn = g.connect().await?;
    let job = plan::plan_download(&src, &a.local, a.recursive, &conn).await?;
    execute(&conn, job, &a.engine, !a.size_only, g).await
}

/// Runs a planned job (or prints it with --dry-run) and turns its outcome into an exit code.
pub(super) async fn execute(conn: &Connection, job: TransferJob, e: &EngineArgs, verify: bool, g: &Globals) -> Result<i32> {
    let mode = Mode::from_globals(g);
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
    let opts = TransferOptions { concurrency: e.concurrency.max(1), part_size: e.part_size.max(5) * 1024 * 1024, verify_checksum: verify, upload_checksum: e.upload_checksum };
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
    let failed = outcome.failed.len();
    let mut copied = if outcome.copied > 0 { format!(" ({} copied on the server: {} not sent)", outcome.copied, render::bytes(outcome.bytes_not_sent)) } else { String::new() };
    if outcome.referenced > 0 {
        copied.push_str(&format!(" ({} references: {} not stored twice)", outcome.referenced, render::bytes(outcome.bytes_not_stored)));
    }
    match mode {
        Mode::Json => render::print_json(&serde_json::json!({
            "event": "summary", "engine": engine.name(), "done": outcome.done, "skipped": job.skipped.len(),
            "failed": failed, "bytes": outcome.bytes_done, "seconds": outcome.seconds,
            "copied": outcome.copied, "bytes_not_sent": outcome.bytes_not_sent,
            "referenced": outcome.referenced, "bytes_not_stored": outcome.bytes_not_stored,
            "compression": outcome.compression,
        })),
        Mode::Human => eprintln!(
            "{} {} objects{copied} ({}) in {:.1}s with {}; {} skipped as complete; {} failed",
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
    outcome.into_result(&job).map(|_| 0)
}

fn print_plan(job: &TransferJob, mode: Mode) {
    let verb = if job.direction == Direction::Upload { "upload" } else { "download" };
    for (key, error) in &job.rejected {
        match mode {
            Mode::Json => render::print_json(&trainctl_core::event::Event::ObjectRejected { job: job.id, key: key.clone(), error: error.clone() }),
            _ => eprintln!("{}", render::rejected_line(key, error)),
        }
    }
    match mode {
        Mode::Json => {
            for i in &job.items {
                let mut line = serde_json::json!({ "plan": verb, "local": i.local, "key": i.key, "bytes": i.size, "compress": job.compress.get(&i.key) });
                if let Some(why) = job.plain_reasons.get(&i.key) {
                    line["plain_because"] = serde_json::json!(why);
                }
                render::print_json(&line);
            }
            for c in &job.copies {
                render::print_json(&serde_json::json!({ "plan": "copy", "local": c.local, "key": c.key, "from": c.from, "bytes": c.size, "bytes_not_sent": c.bytes, "after_upload": c.in_job }));
            }
            for r in &job.refs {
                render::print_json(&serde_json::json!({ "plan": "ref", "local": r.local, "key": r.key, "logical": r.logical, "content": r.content, "bytes": r.size, "new_content": r.new_content }));
            }
            for (key, reason) in &job.skipped {
                render::print_json(&serde_json::json!({ "plan": "skip", "key": key, "reason": reason }));
            }
        }
        _ => {
            for i in &job.items {
                let how = match (job.compress.get(&i.key), job.plain_reasons.get(&i.key)) {
                    (Some(p), _) => compress_note(p),
                    (None, Some(why)) => format!(", plain: {why}"),
                    (None, None) => String::new(),
                };
                println!("{verb} {} -> s3://{}/{} ({}{how})", i.local.display(), job.bucket, i.key, render::bytes(i.size));
            }
            for c in &job.copies {
                let when = if c.in_job { ", once that is uploaded" } else { "" };
                println!("copy s3://{b}/{} -> s3://{b}/{} (same content as {}: {} not sent{when})", c.from, c.key, c.local.display(), render::bytes(c.bytes), b = job.bucket);
            }
            for r in &job.refs {
                let stored = if r.new_content { "stored once there by this upload" } else { "already stored" };
                println!("ref {} -> s3://{b}/{} (content s3://{b}/{}, {}: {stored})", r.local.display(), r.key, r.content, render::bytes(r.size), b = job.bucket);
            }
            let refs = if job.refs.is_empty() { String::new() } else { format!(", write {} references", job.refs.len()) };
            let copies = if job.copies.is_empty() {
                String::new()
            } else {
                format!(", copy {} on the server ({} not sent)", job.copies.len(), render::bytes(job.copies.iter().map(|c| c.bytes).sum()))
            };
            eprintln!(
                "dry run: would {verb} {} objects ({}){copies}{refs}; {} already complete; nothing was changed",
                job.items.len(),
                render::bytes(job.bytes_total()),
                job.skipped.len()
            );
        }
    }
}

/// `, zstd-byteplane-2 level 1, sample 0.62x, plane 2 entropy-coded` after a planned item's
/// size (planes numbered from 1, the low byte first).
fn compress_note(p: &transfer::compress::Planned) -> String {
    let sample = p.sample_ratio.map(|r| format!(", sample {r:.2}x")).unwrap_or_default();
    let planes: Vec<String> = (0..8).filter(|k| p.entropy_planes & (1 << k) != 0).map(|k| (k + 1).to_string()).collect();
    let entropy = match planes.len() {
        0 => String::new(),
        1 => format!(", plane {} entropy-coded", planes[0]),
        _ => format!(", planes {} entropy-coded", planes.join(",")),
    };
    let note = p.note.as_deref().map(|n| format!("; {n}")).unwrap_or_default();
    format!(", {} level {}{sample}{entropy}{note}", p.codec.name(), p.level)
}

pub async fn ls(a: LsArgs, g: &Globals) -> Result<i32> {
    let url = S3Url::parse_any(&a.url)?;
    let conn = g.connect().await?;
    let mode = Mode::from_globals(g);
    if a.versions {
        let url = url.ok_or_else(|| Error::Usage("--versions lists the versions of a key or a prefix: s3://bucket/key".into()))?;
        return super::object::print_versions(&conn, &url, mode).await;
    }
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
    let mut pages = Box::pin(list::list_objects(&conn, &url.bucket, &url.key, delimiter).chunks(1000));
    let (mut count, mut bytes) = (0u64, 0u64);
    while let Some(page) = pages.next().await {
        let page = page.into_iter().collect::<Result<Vec<_>>>()?;
        for shown in trainctl_core::refs::listing::shown(&conn, &url.bucket, page, a.show_content).await {
            let o = &shown.entry;
            count += 1;
            bytes += o.size;
            let marker = match (&shown.reference, shown.unreadable) {
                (Some(_), false) => "  (reference)",
                (Some(_), true) => "  (reference, unreadable: its own size)",
                _ => "",
            };
            match mode {
                Mode::Json => render::print_json(&shown),
                _ if o.is_prefix => println!("{:>29}  {:>10}  s3://{}/{}", "", "PRE", url.bucket, o.key),
                _ => println!(
                    "{:>29}  {:>10}  s3://{}/{}{marker}",
                    o.last_modified.map(render::time).unwrap_or_default(),
                    render::bytes(o.size),
                    url.bucket,
                    o.key
                ),
            }
        }
    }
    if mode == Mode::Human {
        eprintln!("{count} entries, {}", render::bytes(bytes));
    }
    Ok(0)
}

