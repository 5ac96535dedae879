//! `trainctl dataset snapshot|list|show|diff|verify|repair|stage`: flags → core `dataset` →
//! tables or JSON lines. Behaviour lives in `trainctl_core::dataset`.

use super::transfer::EngineChoice;
use crate::render::{self, Mode, Renderer};
use crate::Globals;
use clap::{Args, Subcommand};
use std::path::PathBuf;
use tokio_util::sync::CancellationToken;
use trainctl_core::dataset::{self, stage, store, DatasetRef, Level, Manifest, Source, StageOptions, Store, VerifyReport};
use trainctl_core::s3::{Connection, S3Url};
use trainctl_core::transfer::{EnginePref, TransferOptions};
use trainctl_core::{Error, Result};

#[derive(Debug, Subcommand)]
pub enum DatasetCmd {
    /// Record what a prefix (or a local folder) holds now as a new dataset version
    Snapshot(SnapshotArgs),
    /// The datasets and versions of a store (default: every store this machine has seen)
    List(ListArgs),
    /// One version: source, files, bytes, digest (--files lists every file)
    Show(ShowArgs),
    /// What changed between two versions: NAME@A NAME@B (or NAME@A B)
    Diff(DiffArgs),
    /// Check a copy against a version: count, checksum (from the listing) or full (re-hash)
    Verify(VerifyArgs),
    /// Fetch again only the files of a local copy that are missing or changed
    Repair(RepairArgs),
    /// Download a version to local disk: free-space check, DIR.partial/, resume, verify, rename
    Stage(StageArgs),
}

#[derive(Debug, Clone, Args)]
pub struct StoreArg {
    /// Where manifests are kept: s3://bucket[/prefix] (default for a snapshot of s3://bucket/…:
    /// s3://bucket/.trainctl/datasets/; otherwise the store the local cache knows the name from)
    #[arg(long, value_name = "S3URL", env = "TRAINCTL_DATASET_STORE")]
    pub store: Option<String>,
}

#[derive(Debug, Args)]
#[command(disable_version_flag = true)]
pub struct SnapshotArgs {
    /// s3://bucket/prefix/ or a local folder
    pub source: String,
    #[arg(long)]
    pub name: String,
    /// Version name (default: the next vN)
    #[arg(long)]
    pub version: Option<String>,
    /// Read the objects from this S3 Inventory report (its manifest.json, a local path or
    /// s3://…) instead of listing the prefix: for buckets too large to list
    #[arg(long, value_name = "MANIFEST")]
    pub inventory: Option<String>,
    #[command(flatten)]
    pub store: StoreArg,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only this dataset
    pub name: Option<String>,
    #[command(flatten)]
    pub store: StoreArg,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// NAME@VERSION
    pub dataset: String,
    /// List every file
    #[arg(long)]
    pub files: bool,
    #[command(flatten)]
    pub store: StoreArg,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    pub from: String,
    pub to: String,
    #[command(flatten)]
    pub store: StoreArg,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// NAME@VERSION
    pub dataset: String,
    /// A local folder or s3://… (default: where the version was snapshotted from)
    pub target: Option<String>,
    #[arg(long, value_enum, default_value_t = LevelArg::Checksum)]
    pub level: LevelArg,
    #[command(flatten)]
    pub store: StoreArg,
}

#[derive(Debug, Args)]
pub struct RepairArgs {
    /// NAME@VERSION
    pub dataset: String,
    /// The local copy
    pub dir: PathBuf,
    /// Level of the check that decides what to fetch again
    #[arg(long, value_enum, default_value_t = LevelArg::Full)]
    pub level: LevelArg,
    #[command(flatten)]
    pub store: StoreArg,
    #[arg(long, value_enum, default_value_t = EngineChoice::Auto)]
    pub engine: EngineChoice,
}

#[derive(Debug, Args)]
pub struct StageArgs {
    /// NAME@VERSION
    pub dataset: String,
    /// The folder to stage into (created; must be new or empty, or hold this version already)
    pub dir: PathBuf,
    /// Verification after the download (and of a folder already staged)
    #[arg(long, value_enum, default_value_t = LevelArg::Checksum)]
    pub verify: LevelArg,
    #[command(flatten)]
    pub store: StoreArg,
    #[arg(long, value_enum, default_value_t = EngineChoice::Auto)]
    pub engine: EngineChoice,
    /// Objects/parts in flight at once
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum LevelArg {
    Count,
    Checksum,
    Full,
}

impl From<LevelArg> for Level {
    fn from(l: LevelArg) -> Level {
        match l {
            LevelArg::Count => Level::Count,
            LevelArg::Checksum => Level::Checksum,
            LevelArg::Full => Level::Full,
        }
    }
}

pub fn engine_pref(e: EngineChoice) -> EnginePref {
    match e {
        EngineChoice::Auto => EnginePref::Auto,
        EngineChoice::S5cmd => EnginePref::S5cmd,
        EngineChoice::Native => EnginePref::Native,
    }
}

pub async fn run(cmd: DatasetCmd, g: &Globals) -> Result<i32> {
    match cmd {
        DatasetCmd::Snapshot(a) => snapshot(a, g).await,
        DatasetCmd::List(a) => list(a, g).await,
        DatasetCmd::Show(a) => show(a, g).await,
        DatasetCmd::Diff(a) => diff(a, g).await,
        DatasetCmd::Verify(a) => verify(a, g).await,
        DatasetCmd::Repair(a) => repair(a, g).await,
        DatasetCmd::Stage(a) => stage_cmd(a, g).await,
    }
}

/// The store a command works on: the flag, else the one store the cache knows `name` from.
pub fn resolve_store(flag: &StoreArg, name: &str) -> Result<Store> {
    if let Some(s) = &flag.store {
        return Store::parse(s);
    }
    let mut found = store::stores_with(name);
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(Error::Usage(format!("where are the manifests of `{name}`? pass --store s3://BUCKET (or set TRAINCTL_DATASET_STORE)"))),
        _ => Err(Error::Usage(format!(
            "`{name}` is known from several stores ({}); pass --store",
            found.iter().map(Store::display).collect::<Vec<_>>().join(", ")
        ))),
    }
}

async fn connect_for(store: &Store, g: &Globals) -> Result<Option<Connection>> {
    match store {
        Store::Bucket(_) => Ok(Some(g.connect().await?)),
        Store::LocalOnly => Ok(None),
    }
}

/// Loads `NAME@VERSION` and opens a connection whatever the store (staging and repair fetch
/// from the version's source).
pub async fn load_connected(reference: &str, flag: &StoreArg, g: &Globals) -> Result<(Manifest, Connection)> {
    let (m, _, conn) = load(reference, flag, g).await?;
    let conn = match conn {
        Some(c) => c,
        None => g.connect().await?,
    };
    Ok((m, conn))
}

/// Loads `NAME@VERSION` from the store the flags name.
pub async fn load(reference: &str, flag: &StoreArg, g: &Globals) -> Result<(Manifest, Store, Option<Connection>)> {
    let r = DatasetRef::parse(reference)?;
    let version = r.version()?.to_string();
    let store = resolve_store(flag, &r.name)?;
    let conn = connect_for(&store, g).await?;
    let m = store::load(conn.as_ref(), &store, &r.name, &version).await?;
    Ok((m, store, conn))
}

async fn snapshot(a: SnapshotArgs, g: &Globals) -> Result<i32> {
    let source = Source::parse(&a.source)?;
    let store = match (&a.store.store, &source) {
        (Some(s), _) => Store::parse(s)?,
        (None, Source::S3(u)) => Store::default_for(&u.bucket),
        (None, Source::Local(_)) => Store::LocalOnly,
    };
    let conn = match (&source, &store) {
        (Source::S3(_), _) | (_, Store::Bucket(_)) => Some(g.connect().await?),
        _ => None,
    };
    let mode = Mode::from_globals(g);
    let renderer = Renderer::new(mode);
    let m = dataset::snapshot_with(conn.as_ref(), &source, &store, &a.name, a.version.as_deref(), a.inventory.as_deref(), &renderer).await;
    renderer.finish();
    let m = m?;
    match mode {
        Mode::Json => render::print_json(&serde_json::json!({ "event": "snapshot", "store": store.display(), "manifest": m.header })),
        Mode::Human => {
            eprintln!("{}: {} files, {}, {}", m.header.reference(), m.header.files, render::bytes(m.header.bytes), m.header.digest);
            eprintln!("  from {}{}", m.header.source, if m.header.versioned { " (versioned: each file pinned at its version id)" } else { "" });
            eprintln!("  manifest kept in {}", store.display());
        }
        Mode::Quiet => {}
    }
    Ok(0)
}

async fn list(a: ListArgs, g: &Globals) -> Result<i32> {
    let stores = match (&a.store.store, &a.name) {
        (Some(s), _) => vec![Store::parse(s)?],
        (None, Some(n)) => vec![resolve_store(&a.store, n)?],
        (None, None) => store::cached_stores(),
    };
    let mode = Mode::from_globals(g);
    if stores.is_empty() && mode == Mode::Human {
        eprintln!("no dataset seen on this machine yet; pass --store s3://BUCKET to list a bucket's");
    }
    for st in stores {
        let conn = connect_for(&st, g).await?;
        for v in dataset::list(conn.as_ref(), &st, a.name.as_deref()).await? {
            match mode {
                Mode::Json => render::print_json(&serde_json::json!({ "store": st.display(), "name": v.name, "version": v.version, "header": v.header })),
                Mode::Quiet => {}
                Mode::Human => match &v.header {
                    Some(h) => println!("{}@{}\t{} files\t{}\t{}\t{}", v.name, v.version, h.files, render::bytes(h.bytes), render::time(h.created), h.source),
                    None => println!("{}@{}\t(not cached: `trainctl dataset show` reads it)", v.name, v.version),
                },
            }
        }
    }
    Ok(0)
}

async fn show(a: ShowArgs, g: &Globals) -> Result<i32> {
    let r = DatasetRef::parse(&a.dataset)?;
    let store = resolve_store(&a.store, &r.name)?;
    let conn = connect_for(&store, g).await?;
    // Streamed: the files are printed as they are read; a damaged manifest ends in its error.
    let entries = store::open(conn.as_ref(), &store, &r.name, r.version()?).await?;
    let h = entries.header.clone();
    let mode = Mode::from_globals(g);
    match mode {
        Mode::Json => render::print_json(&h),
        Mode::Quiet => {}
        Mode::Human => println!(
            "{}\n  source   {}\n  files    {}\n  bytes    {} ({})\n  digest   {}\n  created  {}\n  versioned {}",
            h.reference(),
            h.source,
            h.files,
            h.bytes,
            render::bytes(h.bytes),
            h.digest,
            render::time(h.created),
            h.versioned
        ),
    }
    for e in entries {
        let e = e?;
        match mode {
            _ if !a.files => {}
            Mode::Json => render::print_json(&e),
            Mode::Quiet => {}
            // Compressed content: the original's CRC64NVME, not the compressed object's ETag.
            Mode::Human if e.codec.is_some() => println!("{}\t{}\t{}", e.key, e.size, e.content_id()),
            Mode::Human => println!("{}\t{}\t{}", e.key, e.size, e.etag.as_deref().unwrap_or("-")),
        }
    }
    Ok(0)
}

async fn diff(a: DiffArgs, g: &Globals) -> Result<i32> {
    let from = DatasetRef::parse(&a.from)?;
    let to = if a.to.contains('@') { a.to.clone() } else { format!("{}@{}", from.name, a.to) };
    let (ma, _, _) = load(&a.from, &a.store, g).await?;
    let (mb, _, _) = load(&to, &a.store, g).await?;
    let d = dataset::manifest::diff(&ma, &mb);
    match Mode::from_globals(g) {
        Mode::Json => render::print_json(&d),
        Mode::Quiet => {}
        Mode::Human => {
            for e in &d.added {
                println!("+ {}\t{}", e.key, render::bytes(e.size));
            }
            for e in &d.removed {
                println!("- {}\t{}", e.key, render::bytes(e.size));
            }
            for (x, y) in &d.changed {
                println!("~ {}\t{} → {}", x.key, render::bytes(x.size), render::bytes(y.size));
            }
            eprintln!(
                "{} → {}: {} added, {} removed, {} changed, {} unchanged; +{} −{}",
                d.from,
                d.to,
                d.added.len(),
                d.removed.len(),
                d.changed.len(),
                d.unchanged,
                render::bytes(d.bytes_added),
                render::bytes(d.bytes_removed)
            );
        }
    }
    Ok(0)
}

async fn verify(a: VerifyArgs, g: &Globals) -> Result<i32> {
    let r = DatasetRef::parse(&a.dataset)?;
    let version = r.version()?.to_string();
    let store = resolve_store(&a.store, &r.name)?;
    let conn = connect_for(&store, g).await?;
    // Streamed from the cached file: a prefix of millions of keys verifies in flat memory.
    let reader = store::open(conn.as_ref(), &store, &r.name, &version).await?;
    let header = reader.header.clone();
    let target = a.target.clone().unwrap_or_else(|| header.source.clone());
    let mode = Mode::from_globals(g);
    let renderer = Renderer::new(mode);
    let job = trainctl_core::event::next_job_id();
    let report = if target.starts_with("s3://") {
        let url = S3Url::parse(&target)?;
        let conn = match conn {
            Some(c) => c,
            None => g.connect().await?,
        };
        dataset::verify::verify_s3_stream(&conn, &header, reader, &url, a.level.into(), job, &renderer).await
    } else {
        let entries = reader.collect::<Result<Vec<_>>>()?;
        let m = Manifest { header, entries };
        dataset::verify::verify_local(&m, std::path::Path::new(&target), a.level.into(), job, &renderer).await
    };
    renderer.finish();
    let report = report?;
    print_report(&report, mode);
    report.into_result().map(|_| 0)
}

/// Prints a verification report: every failing file, then one summary line.
pub fn print_report(r: &VerifyReport, mode: Mode) {
    match mode {
        Mode::Json => render::print_json(&serde_json::json!({ "event": "verify", "report": r })),
        Mode::Quiet => {}
        Mode::Human => {
            for k in r.missing.iter().take(50) {
                eprintln!("missing  {k}");
            }
            for c in r.changed.iter().take(50) {
                eprintln!("changed  {}: {}", c.key, c.detail);
            }
            for k in r.extra.iter().take(50) {
                eprintln!("extra    {k}");
            }
            let shown = r.missing.len().min(50) + r.changed.len().min(50) + r.extra.len().min(50);
            let all = r.missing.len() + r.changed.len() + r.extra.len();
            if all > shown {
                eprintln!("… and {} more (--json lists every one)", all - shown);
            }
            let verdict = if r.passed() { "OK" } else { "FAILED" };
            let level = serde_json::to_value(r.level).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
            let cache = if r.from_cache > 0 { format!(", {} from the hash cache", r.from_cache) } else { String::new() };
            let size_only = if r.size_only > 0 { format!(", {} by size only (no comparable checksum)", r.size_only) } else { String::new() };
            eprintln!(
                "{verdict}: {} at {level} in {}: {} of {} files match, {} missing, {} changed, {} extra ({} hashed{cache}{size_only}) in {:.1}s",
                r.dataset,
                r.target,
                r.ok,
                r.files,
                r.missing.len(),
                r.changed.len(),
                r.extra.len(),
                r.hashed,
                r.seconds
            );
        }
    }
}

fn cancel_on_ctrl_c() -> CancellationToken {
    let cancel = CancellationToken::new();
    let on = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on.cancel();
        }
    });
    cancel
}

async fn repair(a: RepairArgs, g: &Globals) -> Result<i32> {
    let (m, conn) = load_connected(&a.dataset, &a.store, g).await?;
    let mode = Mode::from_globals(g);
    let renderer = Renderer::new(mode);
    let opts = StageOptions { verify: a.level.into(), engine: engine_pref(a.engine), transfer: TransferOptions::default() };
    let r = stage::repair(&conn, &m, &a.dir, &opts, &renderer, cancel_on_ctrl_c()).await;
    renderer.finish();
    let r = r?;
    match mode {
        Mode::Json => render::print_json(&serde_json::json!({ "event": "repair", "report": r })),
        Mode::Quiet => {}
        Mode::Human => {
            for k in &r.fetched {
                eprintln!("fetched  {k}");
            }
            for k in &r.extra {
                eprintln!("extra    {k} (not in the dataset; left alone)");
            }
            eprintln!("{}: {} file(s) fetched again; the copy verifies at {}", r.dataset, r.fetched.len(), serde_json::to_value(r.verify.level).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default());
        }
    }
    Ok(0)
}

async fn stage_cmd(a: StageArgs, g: &Globals) -> Result<i32> {
    let (m, conn) = load_connected(&a.dataset, &a.store, g).await?;
    let mode = Mode::from_globals(g);
    let opts = StageOptions {
        verify: a.verify.into(),
        engine: engine_pref(a.engine),
        transfer: TransferOptions { concurrency: a.concurrency.max(1), ..TransferOptions::default() },
    };
    let r = run_stage(&conn, &m, &a.dir, &opts, mode).await?;
    print_stage(&r, mode);
    Ok(0)
}

/// Stages with a progress bar (shared with `trainctl local --dataset`).
pub async fn run_stage(conn: &Connection, m: &Manifest, dir: &std::path::Path, opts: &StageOptions, mode: Mode) -> Result<dataset::StageReport> {
    let renderer = Renderer::new(mode);
    let r = stage::stage(conn, m, dir, opts, &renderer, cancel_on_ctrl_c()).await;
    renderer.finish();
    if let Err(Error::DatasetVerifyFailed { .. }) = &r {
        if mode == Mode::Human && stage::partial_dir(dir).exists() {
            eprintln!("the files that failed were removed from {}; `trainctl dataset stage` again fetches just those", stage::partial_dir(dir).display());
        }
    }
    r
}

pub fn print_stage(r: &dataset::StageReport, mode: Mode) {
    match mode {
        Mode::Json => render::print_json(&serde_json::json!({ "event": "staged", "report": r })),
        Mode::Quiet => {}
        Mode::Human if r.already_staged => eprintln!("{} already staged in {} (verified: {} files)", r.dataset, r.dir.display(), r.verify.ok),
        Mode::Human => eprintln!(
            "{} staged in {}: {} files downloaded ({}){}{}, verified in {:.1}s",
            r.dataset,
            r.dir.display(),
            r.downloaded,
            render::bytes(r.bytes_downloaded),
            if r.resumed > 0 { format!(", {} kept from an interrupted stage", r.resumed) } else { String::new() },
            if r.pinned { ", at the pinned versions" } else { "" },
            r.seconds
        ),
    }
}
