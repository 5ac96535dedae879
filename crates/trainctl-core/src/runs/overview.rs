//! The runs under a location, each with its state, progress and where its curves come from — what
//! the desktop Runs view shows — and one run's metric series.
//!
//! Why built on checkpoint discovery: a "run" is already what detection groups checkpoints by,
//! and the listing it makes holds every log and metrics file too, so one LIST (plus one small
//! GET per run for its newest `trainer_state.json`, and one for a `trainctl-run.json` naming the
//! run's instance type, whose compute cost is then shown) gives the whole overview.

use super::metrics::{parse_metrics, ParsedMetrics, Series};
use super::source::read_at;
use super::status::{judge, StatusJudgement};
use crate::checkpoint::{self, Checkpoint, DetectOptions, FileEntry, Location, Run};
use crate::dataset::gate::{RunRecord, MAX_RECORD_BYTES, RUN_RECORD};
use crate::error::{Error, Result};
use crate::s3::Connection;
use serde::Serialize;

/// Files that mean "this run is done" when found in its directory.
const FINISH_MARKERS: &[&str] = &["_SUCCESS", "DONE", "_DONE", "COMPLETE", "FINISHED", "training_done"];

/// One run as the Runs view lists it.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
pub struct RunOverview {
    /// The run's directory relative to the location (`""` for the location itself).
    pub name: String,
    /// The directory its logs live under (a Lightning run's `…/checkpoints` parent).
    pub root: String,
    pub status: StatusJudgement,
    pub latest_step: Option<u64>,
    pub total_steps: Option<u64>,
    pub checkpoints: usize,
    pub complete: usize,
    pub bytes: u64,
    /// Newest write of any of its files (seconds since the epoch).
    pub last_activity: Option<i64>,
    /// From the step and time of its first and newest complete checkpoints.
    pub steps_per_sec: Option<f64>,
    /// Seconds to `total_steps` at `steps_per_sec`, while running.
    pub eta_secs: Option<f64>,
    /// Where metrics can be read, best first (relative paths).
    pub metric_sources: Vec<String>,
    pub latest_checkpoint: Option<String>,
    /// The training gate's record (`trainctl-run.json` in the run's folder): script, git
    /// commit and the dataset versions the run trained on.
    pub record: Option<RunRecord>,
    /// What the run's instances cost, when its `trainctl-run.json` names an instance type
    /// (`runs::cost::compute_of`).
    pub compute: Option<super::cost::ComputeCost>,
}

/// One run's series, read from one source.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
pub struct RunMetrics {
    pub run: String,
    pub source: String,
    pub format: super::metrics::MetricsFormat,
    pub series: Vec<Series>,
    pub skipped: u64,
    pub last_step: Option<u64>,
    pub total_steps: Option<u64>,
}

/// Lists the runs under `loc` with their state. `now` is passed in for deterministic tests.
pub async fn list_runs(loc: &Location, conn: Option<&Connection>, now: i64) -> Result<Vec<RunOverview>> {
    // S3 objects appear whole, so a listed checkpoint with its marker is finished; a local
    // folder may hold files still being written, hence a short window there.
    let grace = match loc {
        Location::S3(_) => std::time::Duration::ZERO,
        Location::Local(_) => std::time::Duration::from_secs(10),
    };
    let opts = DetectOptions { now, grace, ..DetectOptions::new() };
    let found = checkpoint::discover(loc, conn, &opts).await?;
    let mut out = Vec::new();
    for run in &found.runs {
        let state = match newest_state(run) {
            Some(c) => read_at(loc, conn, &format!("{}trainer_state.json", c.id)).await.ok().and_then(|b| parse_metrics("trainer_state.json", &b).ok()),
            None => None,
        };
        let mut o = overview(run, &found.entries, state.as_ref(), now);
        let record = if o.root.is_empty() { RUN_RECORD.to_string() } else { format!("{}/{RUN_RECORD}", o.root) };
        if found.entries.iter().any(|e| e.path == record && e.size <= MAX_RECORD_BYTES) {
            if let Ok(bytes) = read_at(loc, conn, &record).await {
                o.record = RunRecord::parse(&bytes);
                o.compute = o.record.as_ref().and_then(|r| super::cost::compute_of(run, r));
            }
        }
        out.push(o);
    }
    Ok(out)
}

/// Reads one run's metrics: from `source` (a path relative to the location) or its best source.
pub async fn run_metrics(loc: &Location, conn: Option<&Connection>, run: &str, source: Option<&str>) -> Result<RunMetrics> {
    let source = match source {
        Some(s) => s.to_string(),
        None => {
            let runs = list_runs(loc, conn, checkpoint::detect::now_secs()).await?;
            let r = runs.iter().find(|r| r.name == run).ok_or_else(|| Error::NotFound(format!("run `{run}` under {}", loc.display())))?;
            r.metric_sources.first().cloned().ok_or_else(|| Error::NotFound(format!("metrics of run `{run}` (no trainer_state.json, metrics.csv or log file)")))?
        }
    };
    let bytes = read_at(loc, conn, &source).await?;
    let parsed: ParsedMetrics = parse_metrics(&source, &bytes)?;
    Ok(RunMetrics {
        run: run.to_string(),
        source,
        format: parsed.format,
        skipped: parsed.skipped,
        last_step: parsed.last_step,
        total_steps: parsed.total_steps,
        series: parsed.series.into_values().collect(),
    })
}

fn newest_state(run: &Run) -> Option<&Checkpoint> {
    run.checkpoints
        .iter()
        .filter(|c| c.complete.is_complete() && c.is_dir() && c.files.iter().any(|f| f.path.ends_with("/trainer_state.json")))
        .max_by_key(|c| c.order_key())
}

/// The overview of one run from its checkpoints, the listing and its newest trainer state.
pub fn overview(run: &Run, entries: &[FileEntry], state: Option<&ParsedMetrics>, now: i64) -> RunOverview {
    let root = run_root(&run.name);
    let under = |p: &str| root.is_empty() || p.starts_with(&format!("{root}/"));
    let inside_checkpoint = |p: &str| run.checkpoints.iter().any(|c| c.is_dir() && p.starts_with(&c.id));
    let run_files: Vec<&FileEntry> = entries.iter().filter(|e| under(&e.path)).collect();
    let complete: Vec<&Checkpoint> = run.checkpoints.iter().filter(|c| c.complete.is_complete()).collect();
    let latest = complete.iter().copied().max_by_key(|c| c.order_key());
    let ckpt_step = latest.and_then(|c| c.step);
    let latest_step = state.and_then(|s| s.last_step).max(ckpt_step);
    let total_steps = state.and_then(|s| s.total_steps);
    let marker = run_files.iter().any(|e| FINISH_MARKERS.contains(&e.path.rsplit('/').next().unwrap_or("")) && !inside_checkpoint(&e.path));
    let finished = marker || matches!((latest_step, total_steps), (Some(l), Some(t)) if l >= t);
    let times: Vec<i64> = complete.iter().filter_map(|c| c.last_modified).chain(run_files.iter().filter(|e| !inside_checkpoint(&e.path)).filter_map(|e| e.mtime)).collect();
    let status = judge(&times, finished, now);
    let steps_per_sec = rate(&complete);
    let eta_secs = match (steps_per_sec, latest_step, total_steps, finished) {
        (Some(r), Some(l), Some(t), false) if r > 0.0 && t > l => Some((t - l) as f64 / r),
        _ => None,
    };
    RunOverview {
        name: run.name.clone(),
        root: root.clone(),
        status,
        latest_step,
        total_steps,
        checkpoints: run.checkpoints.len(),
        complete: complete.len(),
        bytes: run.checkpoints.iter().map(|c| c.bytes).sum(),
        last_activity: times.iter().copied().max(),
        steps_per_sec,
        eta_secs,
        metric_sources: metric_sources(&run_files, latest, &inside_checkpoint),
        latest_checkpoint: latest.map(|c| c.id.clone()),
        record: None,
        compute: None,
    }
}

/// Lightning keeps checkpoints in `<run>/checkpoints/` and logs in `<run>/lightning_logs/`.
fn run_root(name: &str) -> String {
    let n = name.trim_end_matches('/');
    match n.rsplit_once('/') {
        Some((parent, "checkpoints")) => parent.to_string(),
        None if n == "checkpoints" => String::new(),
        _ => n.to_string(),
    }
}

/// Steps per second between the first and newest complete checkpoints with a step and a time.
fn rate(complete: &[&Checkpoint]) -> Option<f64> {
    let mut pts: Vec<(u64, i64)> = complete.iter().filter_map(|c| Some((c.step?, c.last_modified?))).collect();
    pts.sort();
    let (first, last) = (pts.first()?, pts.last()?);
    let dt = (last.1 - first.1) as f64;
    // Modification times have one-second resolution: below a few seconds apart (a copied or
    // seeded run) the ratio says nothing about training speed.
    (dt >= 10.0 && last.0 > first.0).then(|| (last.0 - first.0) as f64 / dt)
}

/// trainer_state.json of the newest checkpoint, then metrics.csv, JSON lines, CSVs, logs.
fn metric_sources(files: &[&FileEntry], latest: Option<&Checkpoint>, inside_checkpoint: &dyn Fn(&str) -> bool) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(c) = latest {
        if let Some(f) = c.files.iter().find(|f| f.path.ends_with("/trainer_state.json")) {
            out.push(f.path.clone());
        }
    }
    let rank = |p: &str| {
        let name = p.rsplit('/').next().unwrap_or(p);
        if name == "metrics.csv" {
            Some(0)
        } else if name.ends_with(".jsonl") {
            Some(1)
        } else if name.ends_with(".csv") {
            Some(2)
        } else if name.ends_with(".log") || name.ends_with(".out") || name.ends_with(".txt") && name.contains("log") {
            Some(3)
        } else {
            None
        }
    };
    let mut others: Vec<(u8, &str)> = files.iter().filter(|e| !inside_checkpoint(&e.path) && e.size < 256 << 20).filter_map(|e| Some((rank(&e.path)?, e.path.as_str()))).collect();
    others.sort();
    out.extend(others.into_iter().map(|(_, p)| p.to_string()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_local_hf_run_shows_progress_eta_and_its_trainer_state_first() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("exp1");
        for step in [10u64, 20] {
            let d = run.join(format!("checkpoint-{step}"));
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("model.safetensors"), vec![0u8; 100]).unwrap();
            let state = serde_json::json!({"global_step": step, "max_steps": 40, "log_history": [{"loss": 1.0, "step": step}]});
            std::fs::write(d.join("trainer_state.json"), state.to_string()).unwrap();
        }
        std::fs::create_dir_all(run.join("logs")).unwrap();
        std::fs::write(run.join("logs/train.log"), "step=5 loss=2.0\n").unwrap();
        let loc = Location::Local(dir.path().to_path_buf());
        let now = checkpoint::detect::now_secs() + 120;
        let runs = list_runs(&loc, None, now).await.unwrap();
        assert_eq!(runs.len(), 1);
        let r = &runs[0];
        assert_eq!(r.name, "exp1");
        assert_eq!((r.latest_step, r.total_steps, r.complete), (Some(20), Some(40), 2));
        assert_eq!(r.metric_sources, ["exp1/checkpoint-20/trainer_state.json", "exp1/logs/train.log"]);
        let m = run_metrics(&loc, None, "exp1", Some(&r.metric_sources[0])).await.unwrap();
        assert_eq!(m.series.iter().find(|s| s.name == "loss").unwrap().values, vec![1.0]);
        let m = run_metrics(&loc, None, "exp1", Some("exp1/logs/train.log")).await.unwrap();
        assert_eq!(m.series[0].steps, vec![5.0]);
    }

    #[test]
    fn lightning_runs_read_logs_next_to_their_checkpoints_folder() {
        assert_eq!(run_root("runs/resnet/checkpoints"), "runs/resnet");
        assert_eq!(run_root("runs/llama"), "runs/llama");
        assert_eq!(run_root(""), "");
    }
}
