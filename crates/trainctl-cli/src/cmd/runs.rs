//! `trainctl logs follow`, `trainctl metrics`, `trainctl local`: a run seen from outside.
//! Flags become core values here; behaviour lives in `trainctl_core::runs`.

use super::transfer::EngineChoice;
use crate::render::{self, Mode};
use crate::Globals;
use clap::{Args, Subcommand};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use trainctl_core::event::{Event, Sink};
use trainctl_core::dataset::gate::{self, DatasetUse, RunRecord};
use trainctl_core::dataset::StageOptions;
use trainctl_core::runs::local::{self, LocalSpec, LocalSummary, RunOutput, Stream};
use trainctl_core::runs::metrics::{self, sparkline, ParsedMetrics};
use trainctl_core::runs::{follow, FollowOptions, FollowSource, FollowUpdate};
use trainctl_core::s3::{Connection, S3Url};
use trainctl_core::transfer::dedup::DedupMode;
use trainctl_core::transfer::EnginePref;
use trainctl_core::{Error, Result};

#[derive(Debug, Subcommand)]
pub enum LogsCmd {
    /// Print a log as it grows: trainctl logs follow s3://bucket/run/logs/train.log
    Follow(FollowArgs),
}

#[derive(Debug, Args)]
pub struct FollowArgs {
    /// A local file, an s3:// object, or an s3:// prefix (its newest object is followed)
    pub source: String,
    /// Print what is already there first (default: only what is appended from now on)
    #[arg(long)]
    pub from_start: bool,
    /// How often to look for new bytes
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = humantime::parse_duration)]
    pub interval: Duration,
    /// Stop after this long without a new line (for scripts); default: until Ctrl-C
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub idle_exit: Option<Duration>,
}

#[derive(Debug, Args)]
pub struct MetricsArgs {
    /// trainer_state.json, metrics.csv, a log file, or an s3:// object of one of those
    pub source: String,
    /// Print every point as CSV rows `metric,step,value` instead of summaries
    #[arg(long)]
    pub csv: bool,
    /// Only these metrics (repeatable)
    #[arg(long = "metric", value_name = "NAME")]
    pub metrics: Vec<String>,
}

#[derive(Debug, Args)]
pub struct LocalArgs {
    /// The training script (.py runs through $PYTHON or python3; anything else directly)
    pub script: PathBuf,
    /// Where the script writes checkpoints (watched for complete checkpoints)
    #[arg(long, value_name = "DIR")]
    pub checkpoints: Option<PathBuf>,
    /// Upload each complete checkpoint once to this s3:// prefix
    #[arg(long, value_name = "S3URL")]
    pub upload_to: Option<String>,
    /// After each upload keep only the newest N complete checkpoints, here and on S3
    #[arg(long, value_name = "N")]
    pub keep_last_n: Option<usize>,
    /// Log file for the script's output (default: trainctl-local-<time>.log here)
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// How often the checkpoint directory is looked at
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = humantime::parse_duration)]
    pub poll: Duration,
    /// A checkpoint whose newest file is younger than this is still being written
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = humantime::parse_duration)]
    pub grace: Duration,
    /// Transfer engine for the uploads
    #[arg(long, value_enum, default_value_t = EngineChoice::Auto)]
    pub engine: EngineChoice,
    /// Compress uploads: zstd[:LEVEL] or auto (as `trainctl s3 upload --compress`)
    #[arg(long, value_name = "zstd[:LEVEL]|auto", value_parser = super::transfer::parse_compress)]
    pub compress: Option<trainctl_core::codec::Compress>,
    /// Do not send a file whose content is already under --upload-to (another checkpoint's
    /// tokenizer, a frozen component): copy it on the server; --dedup=refs: store it once under
    /// --upload-to's .trainctl/content/ and write a reference in its place (docs/dedup-upload.md)
    #[arg(long, requires = "upload_to", value_name = "refs", num_args = 0..=1, default_missing_value = "copy", require_equals = true, value_parser = parse_dedup_mode)]
    pub dedup: Option<DedupMode>,
    /// Show what would run and be uploaded/pruned, run nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Stage and verify this dataset version before the script starts; the script is not started
    /// when it does not verify, and sees the folder in $TRAINCTL_DATASET_DIR
    #[arg(long, value_name = "NAME@VERSION", requires = "stage_to")]
    pub dataset: Option<String>,
    /// The folder --dataset is staged into (kept; staging the same version again only verifies)
    #[arg(long, value_name = "DIR")]
    pub stage_to: Option<PathBuf>,
    /// Verification of the staged dataset before the script starts
    #[arg(long, value_enum, default_value_t = super::dataset::LevelArg::Checksum)]
    pub dataset_verify: super::dataset::LevelArg,
    #[command(flatten)]
    pub dataset_store: super::dataset::StoreArg,
    /// Arguments for the script (after `--`)
    #[arg(last = true)]
    pub args: Vec<String>,
}

// ---------------------------------------------------------------------------------------------
// logs follow

pub async fn logs(cmd: LogsCmd, g: &Globals) -> Result<i32> {
    match cmd {
        LogsCmd::Follow(a) => follow_cmd(a, g).await,
    }
}

async fn follow_cmd(a: FollowArgs, g: &Globals) -> Result<i32> {
    let src = FollowSource::parse(&a.source)?;
    let conn = match &src {
        FollowSource::S3(_) => Some(g.connect().await?),
        FollowSource::Local(_) => None,
    };
    let opts = FollowOptions { from_start: a.from_start, interval: a.interval };
    let mode = Mode::from_globals(g);
    let cancel = CancellationToken::new();
    let stop = cancel.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        stop.cancel();
    });
    let last_line = Arc::new(std::sync::Mutex::new(std::time::Instant::now()));
    if let Some(idle) = a.idle_exit {
        let (stop, last) = (cancel.clone(), last_line.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(100)).await;
                if last.lock().unwrap().elapsed() >= idle {
                    stop.cancel();
                    return;
                }
            }
        });
    }
    let mut on = move |u: FollowUpdate| match u {
        FollowUpdate::Line { text, offset } => {
            *last_line.lock().unwrap() = std::time::Instant::now();
            match mode {
                Mode::Json => render::print_json(&serde_json::json!({ "event": "line", "text": text, "offset": offset })),
                _ => {
                    let mut out = std::io::stdout().lock();
                    let _ = writeln!(out, "{text}");
                    let _ = out.flush();
                }
            }
        }
        FollowUpdate::Notice(message) => match mode {
            Mode::Json => render::print_json(&serde_json::json!({ "event": "notice", "message": message })),
            Mode::Human => eprintln!("{message}"),
            Mode::Quiet => {}
        },
    };
    follow(&src, conn.as_ref(), &opts, &mut on, cancel).await?;
    Ok(0)
}

// ---------------------------------------------------------------------------------------------
// metrics

pub async fn metrics_cmd(a: MetricsArgs, g: &Globals) -> Result<i32> {
    let (name, bytes) = read_source(&a.source, g).await?;
    let parsed = metrics::parse_metrics(&name, &bytes)?;
    let mode = Mode::from_globals(g);
    let wanted = |n: &str| a.metrics.is_empty() || a.metrics.iter().any(|m| m == n);
    if let Some(missing) = a.metrics.iter().find(|m| !parsed.series.contains_key(*m)) {
        let known: Vec<&str> = parsed.series.keys().map(|s| s.as_str()).collect();
        return Err(Error::Usage(format!("no metric `{missing}` in {}; it has: {}", a.source, known.join(", "))));
    }
    if a.csv {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "metric,step,value");
        for s in parsed.series.values().filter(|s| wanted(&s.name)) {
            for (x, v) in s.steps.iter().zip(&s.values) {
                let _ = writeln!(out, "{},{},{}", s.name, x, v);
            }
        }
        return Ok(0);
    }
    match mode {
        Mode::Json => {
            for s in parsed.summaries().into_iter().filter(|s| wanted(&s.name)) {
                let spark = sparkline(&parsed.series[&s.name].values, 40);
                let mut v = serde_json::to_value(&s).unwrap_or_default();
                v["event"] = "series".into();
                v["sparkline"] = spark.into();
                render::print_json(&v);
            }
            render::print_json(&serde_json::json!({
                "event": "metrics_summary", "source": a.source, "format": parsed.format, "records": parsed.records,
                "skipped_lines": parsed.skipped, "last_step": parsed.last_step, "total_steps": parsed.total_steps,
            }));
        }
        Mode::Quiet => {}
        Mode::Human => print_metrics_table(&a.source, &parsed, &wanted),
    }
    Ok(0)
}

fn print_metrics_table(source: &str, parsed: &ParsedMetrics, wanted: &dyn Fn(&str) -> bool) {
    let total = parsed.total_steps.map(|t| format!(" of {t}")).unwrap_or_default();
    let step = parsed.last_step.map(|s| format!(", step {s}{total}")).unwrap_or_default();
    eprintln!("{source}: {:?} format, {} records, {} lines skipped{step}", parsed.format, parsed.records, parsed.skipped);
    if parsed.series.is_empty() {
        eprintln!("no metrics found");
        return;
    }
    let width = parsed.series.keys().map(|k| k.len()).max().unwrap_or(6).max(6);
    println!("{:<width$}  {:>12}  {:>12}  {:>12}  {:>6}  curve", "metric", "last", "min", "max", "count");
    for s in parsed.summaries().into_iter().filter(|s| wanted(&s.name)) {
        let spark = sparkline(&parsed.series[&s.name].values, 40);
        println!("{:<width$}  {:>12}  {:>12}  {:>12}  {:>6}  {spark}", s.name, num(s.last), num(s.min), num(s.max), s.count);
    }
}

/// Short, readable numbers: 4 significant digits, scientific for tiny/huge values.
fn num(v: f64) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    let a = v.abs();
    if a != 0.0 && !(1e-3..1e6).contains(&a) {
        format!("{v:.3e}")
    } else {
        let s = format!("{v:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// The bytes of a local file or an S3 object, with a name to guess the format from.
async fn read_source(source: &str, g: &Globals) -> Result<(String, Vec<u8>)> {
    use trainctl_core::runs::source::{read_metrics_file, MetricsFile};
    let read = if source.starts_with("s3://") || source.starts_with("S3://") {
        let url = S3Url::parse(source)?;
        if url.is_prefix() {
            return Err(Error::Usage(format!("{source} is a prefix; name a file (trainer_state.json, metrics.csv, a log)")));
        }
        let conn: Connection = g.connect().await?;
        (url.key.clone(), read_metrics_file(MetricsFile::S3 { conn: &conn, bucket: &url.bucket, key: &url.key }).await?)
    } else {
        let path = PathBuf::from(source);
        if path.is_dir() {
            return Err(Error::LocalKind { path, expected: "file (trainer_state.json, metrics.csv or a log)" });
        }
        (source.to_string(), read_metrics_file(MetricsFile::Local(&path)).await?)
    };
    if read.1.skipped > 0 && !g.json {
        eprintln!("note: {source} is large; read its last {} (skipped the first {})", render::bytes(read.1.bytes.len() as u64), render::bytes(read.1.skipped));
    }
    Ok((read.0, read.1.bytes))
}

// ---------------------------------------------------------------------------------------------
// local

/// Writes the script's output to our own stdout/stderr as it arrives (`--json`: as lines).
struct TerminalOutput {
    json: bool,
}

impl RunOutput for TerminalOutput {
    fn output(&self, stream: Stream, bytes: &[u8]) {
        if self.json {
            render::print_json(&serde_json::json!({ "event": "output", "stream": stream, "text": String::from_utf8_lossy(bytes) }));
            return;
        }
        let _ = match stream {
            Stream::Stdout => {
                let mut o = std::io::stdout().lock();
                o.write_all(bytes).and_then(|_| o.flush())
            }
            Stream::Stderr => {
                let mut e = std::io::stderr().lock();
                e.write_all(bytes).and_then(|_| e.flush())
            }
        };
    }
}

/// Shows trainctl's own notices (uploads, pruning), prefixed so they stand out from the
/// script's output; transfer progress is not drawn (it would tear the script's output).
struct LocalNotices {
    mode: Mode,
}

impl Sink for LocalNotices {
    fn send(&self, event: Event) {
        match (&event, self.mode) {
            (_, Mode::Quiet) => {}
            (Event::Notice { message }, Mode::Human) => eprintln!("[trainctl] {message}"),
            (Event::ObjectFailed { key, error, .. } | Event::ObjectRejected { key, error, .. }, Mode::Human) => eprintln!("[trainctl] failed: {key}: {}", error.message),
            (Event::CheckpointDeleted { id, .. }, Mode::Human) => eprintln!("[trainctl] deleted {id}"),
            (Event::ObjectCopied { key, from, .. }, Mode::Human) => tracing::debug!("copied {from} to {key} on the server"),
            (Event::Notice { .. } | Event::ObjectFailed { .. } | Event::ObjectRejected { .. } | Event::CheckpointDeleted { .. } | Event::ObjectCopied { .. }, Mode::Json) => render::print_json(&event),
            _ => {}
        }
    }
}

pub async fn local_cmd(a: LocalArgs, g: &Globals) -> Result<i32> {
    let upload_to = a.upload_to.as_deref().map(S3Url::parse).transpose()?;
    let log = a.log.clone().unwrap_or_else(|| PathBuf::from(format!("trainctl-local-{}.log", trainctl_core::checkpoint::detect::now_secs())));
    let mut spec = LocalSpec {
        script: a.script.clone(),
        args: a.args.clone(),
        checkpoints: a.checkpoints.clone(),
        upload_to,
        keep_last_n: a.keep_last_n,
        log,
        poll: a.poll,
        grace: a.grace,
        engine: match a.engine {
            EngineChoice::Auto => EnginePref::Auto,
            EngineChoice::S5cmd => EnginePref::S5cmd,
            EngineChoice::Native => EnginePref::Native,
        },
        env: Vec::new(),
        compress: a.compress,
        dedup: a.dedup,
    };
    let mode = Mode::from_globals(g);
    local::validate(&spec, spec.upload_to.is_some())?;
    if a.dry_run {
        show_dry_run(&spec, mode);
        if spec.plans_savings() {
            let conn = g.connect().await?;
            let now = local::plan_upload_now(&spec, &conn).await?;
            show_upload_now(&now, mode);
        }
        if mode == Mode::Human {
            eprintln!("dry run: nothing was run");
        }
        return Ok(0);
    }
    if let (true, Some(d)) = (mode == Mode::Human, &a.dataset) {
        let to = a.stage_to.as_deref().unwrap_or(std::path::Path::new("?")).display().to_string();
        eprintln!("[trainctl] staging {d} into {to} and verifying it before the script starts");
    }
    let datasets = match &a.dataset {
        Some(d) => vec![dataset_gate(d, &a, &mut spec, g, mode).await?],
        None => Vec::new(),
    };
    let conn = match &spec.upload_to {
        Some(u) => {
            let c = g.connect().await?;
            trainctl_core::s3::list::check_bucket(&c, &u.bucket).await?;
            Some(c)
        }
        None => None,
    };
    if !datasets.is_empty() {
        let record = RunRecord::new(&spec.script, &spec.args, datasets);
        let dir = spec.checkpoints.clone().or_else(|| spec.log.parent().filter(|p| !p.as_os_str().is_empty()).map(PathBuf::from)).unwrap_or_else(|| PathBuf::from("."));
        let upload = conn.as_ref().zip(spec.upload_to.as_ref());
        let (path, url) = gate::write_record(&record, &dir, upload).await?;
        if mode == Mode::Human {
            eprintln!("[trainctl] run record: {}{}", path.display(), url.map(|u| format!(" and {u}")).unwrap_or_default());
        }
    }
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while tokio::signal::ctrl_c().await.is_ok() {
            if tx.send(()).is_err() {
                return;
            }
        }
    });
    let sink: Arc<dyn Sink> = Arc::new(LocalNotices { mode });
    let out: Arc<dyn RunOutput> = Arc::new(TerminalOutput { json: mode == Mode::Json });
    let summary = local::run_local(&spec, conn, sink, out, rx).await?;
    print_summary(&summary, mode);
    if summary.exit_code == 0 && !summary.upload_failures.is_empty() && !summary.not_uploaded.is_empty() {
        return Err(Error::RunUploadsFailed { failed: summary.not_uploaded.len() as u64 });
    }
    Ok(summary.exit_code)
}

/// Stages and verifies `reference` into `--stage-to` before the script starts (an error here
/// means the script is not started), and hands the folder to the script through its
/// environment. Returns what the run record says of it.
async fn dataset_gate(reference: &str, a: &LocalArgs, spec: &mut LocalSpec, g: &Globals, mode: Mode) -> Result<DatasetUse> {
    let dir = a.stage_to.clone().ok_or_else(|| Error::Usage("--dataset needs --stage-to DIR".into()))?;
    let (m, conn) = super::dataset::load_connected(reference, &a.dataset_store, g).await?;
    let opts = StageOptions { verify: a.dataset_verify.into(), engine: spec.engine, ..StageOptions::default() };
    let staged = super::dataset::run_stage(&conn, &m, &dir, &opts, mode).await;
    let staged = match staged {
        Ok(s) => s,
        Err(e) => {
            if mode == Mode::Human {
                eprintln!("[trainctl] {reference} did not stage and verify: the script was not started");
            }
            return Err(e);
        }
    };
    super::dataset::print_stage(&staged, mode);
    let abs = dir.canonicalize().map_err(|e| Error::io(&dir, e))?;
    spec.env.push(("TRAINCTL_DATASET_DIR".into(), abs.display().to_string()));
    spec.env.push(("TRAINCTL_DATASET".into(), m.reference()));
    spec.env.push(("TRAINCTL_DATASET_DIGEST".into(), m.header.digest.clone()));
    Ok(DatasetUse { dataset: m.reference(), digest: m.header.digest.clone(), dir: abs })
}

fn show_dry_run(spec: &LocalSpec, mode: Mode) {
    let (program, lead) = local::command_for(&spec.script).unwrap_or_default();
    let argv: Vec<String> = std::iter::once(program.display().to_string()).chain(lead.iter().map(|p| p.display().to_string())).chain(spec.args.iter().cloned()).collect();
    if mode == Mode::Json {
        render::print_json(&serde_json::json!({
            "event": "local_plan", "command": argv, "log": spec.log, "checkpoints": spec.checkpoints,
            "upload_to": spec.upload_to.as_ref().map(|u| u.to_string()), "keep_last_n": spec.keep_last_n,
            "compress": spec.compress, "dedup": spec.dedup.is_some(), "dedup_mode": spec.dedup,
        }));
        return;
    }
    eprintln!("would run: {}", argv.join(" "));
    eprintln!("  output to the terminal and {}", spec.log.display());
    if let Some(d) = &spec.checkpoints {
        eprintln!("  watch {} for complete checkpoints", d.display());
    }
    if let Some(u) = &spec.upload_to {
        eprintln!("  upload each complete checkpoint once to {u}");
        if let Some(c) = spec.compress {
            let how = match c {
                trainctl_core::codec::Compress::Zstd { level } => format!("zstd level {level} (every file but text metadata)"),
                trainctl_core::codec::Compress::Auto => "auto (files >= 1 MiB that a sample shows shrink by >= 5%)".into(),
            };
            eprintln!("  compressed: {how}");
        }
        if spec.dedup == Some(DedupMode::Refs) {
            eprintln!("  dedup: a file whose content is held more than once under {u} is stored once there (.trainctl/content/) and referenced");
        } else if spec.dedup.is_some() {
            eprintln!("  dedup: a file whose content is already under {u} is copied on the server, not sent");
        }
    }
    if let Some(n) = spec.keep_last_n {
        eprintln!("  after each upload keep the newest {n} complete checkpoints here{}", if spec.upload_to.is_some() { " and on S3" } else { "" });
    }
}

/// The checkpoints already complete that the first round would upload, with the savings planned
/// on them (the same figures as `s3 upload --dry-run`).
fn show_upload_now(now: &local::UploadNow, mode: Mode) {
    if now.checkpoints.is_empty() {
        if mode == Mode::Human {
            eprintln!("  no complete checkpoint there yet: nothing to plan the savings of");
        }
        return;
    }
    match mode {
        Mode::Json => render::print_json(&serde_json::json!({ "plan": "upload_now", "checkpoints": now.checkpoints, "files": now.files, "bytes": now.bytes, "copies": now.dedup.copies, "bytes_not_sent": now.dedup.bytes_not_sent })),
        Mode::Quiet => {}
        Mode::Human => {
            let copies = if now.dedup.copies > 0 { format!("; {} files copied on the server, {} not sent", now.dedup.copies, render::bytes(now.dedup.bytes_not_sent)) } else { String::new() };
            eprintln!("  complete now, uploaded first: {} checkpoints ({} files, {}){copies}", now.checkpoints.len(), now.files, render::bytes(now.bytes));
        }
    }
    super::transfer::print_savings_plan(&now.dedup, true, mode);
}

fn print_summary(s: &LocalSummary, mode: Mode) {
    match mode {
        Mode::Json => {
            let mut v = serde_json::to_value(s).unwrap_or_default();
            v["event"] = "local_summary".into();
            render::print_json(&v);
        }
        Mode::Quiet => {}
        Mode::Human => {
            let how = if s.interrupted {
                format!("interrupted; the script exited with code {}", s.exit_code)
            } else if s.exit_code != 0 {
                format!("the script FAILED with exit code {}", s.exit_code)
            } else {
                "the script finished (exit code 0)".to_string()
            };
            eprintln!("[trainctl] {how} after {:.1}s", s.seconds);
            let step = match (s.last_step, s.total_steps) {
                (Some(l), Some(t)) => format!("{l} of {t}"),
                (Some(l), None) => l.to_string(),
                _ => "-".into(),
            };
            eprintln!(
                "[trainctl] steps: {step}; checkpoints: {} complete, {} uploaded ({}{}), {} deleted here, {} deleted on S3",
                s.checkpoints.len(),
                s.uploaded.len(),
                render::bytes(s.uploaded_bytes),
                if s.copied > 0 || s.referenced > 0 {
                    format!(" sent; {} files copied on the server, {} not sent; {} references, {} not stored twice", s.copied, render::bytes(s.bytes_not_sent), s.referenced, render::bytes(s.bytes_not_stored))
                } else {
                    String::new()
                },
                s.deleted_local.len(),
                s.deleted_remote.len()
            );
            if !s.not_uploaded.is_empty() {
                eprintln!("[trainctl] not uploaded: {}", s.not_uploaded.join(", "));
            }
            let finals: Vec<String> = s.final_metrics.iter().filter(|(k, _)| k.contains("loss") || k.contains("acc")).map(|(k, v)| format!("{k}={}", num(*v))).collect();
            if !finals.is_empty() {
                eprintln!("[trainctl] final metrics: {}", finals.join(" "));
            }
            eprintln!("[trainctl] log: {} ({} metric lines, {} other lines skipped)", s.log.display(), s.metric_lines, s.skipped_lines);
        }
    }
}

/// `--dedup` (`copy`, the default) or `--dedup=refs`.
fn parse_dedup_mode(s: &str) -> std::result::Result<DedupMode, String> {
    match s {
        "copy" => Ok(DedupMode::Copy),
        "refs" => Ok(DedupMode::Refs),
        other => Err(format!("`{other}` is not `refs` (or nothing: server-side copies)")),
    }
}
