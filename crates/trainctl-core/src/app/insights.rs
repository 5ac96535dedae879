//! What the Browser knows about a folder beyond its listing: which child folders (or files) are
//! checkpoints — with step, size, age, completeness, the run's metric, and the markers "newest
//! complete", "best" and "pinned" — which hold runs (count, size, $/month), and how big each child
//! folder is. One recursive listing of the folder (⌈N/1000⌉ LISTs, no HEAD per object), capped so a
//! dataset folder of millions of objects is not listed behind the user's back: above the cap the
//! answer says so, and the same call with `full` lists everything (with progress).

use super::App;
use crate::checkpoint::{self, Checkpoint, DetectOptions, FileEntry, Layout, Location, Run};
use crate::error::Result;
use crate::event::Event;
use crate::s3::{list, Connection, S3Url};
use futures::TryStreamExt;
use serde::Serialize;
use std::collections::BTreeMap;

/// Objects listed before insights give up unless asked for in full.
pub const INSIGHTS_CAP: u64 = 20_000;

/// One checkpoint shown in the Browser (keys are full S3 keys).
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckpointRow {
    /// The row it annotates: the checkpoint's folder (`…/checkpoint-500/`) or file.
    pub key: String,
    /// The run's folder (S3 prefix).
    pub run: String,
    pub layout: Layout,
    pub step: Option<u64>,
    pub epoch: Option<f64>,
    pub bytes: u64,
    pub files: u64,
    pub last_modified: Option<i64>,
    pub complete: bool,
    /// A crashed save: incomplete, nothing written for the abandoned-after window, no writer.
    pub abandoned: bool,
    /// Why it is incomplete (or abandoned).
    pub reason: Option<String>,
    /// A `last.ckpt` byte-identical to this numbered checkpoint (full key).
    pub same_as: Option<String>,
    /// The metric the run is ranked by, when it has one (`eval_loss`, `val_loss`…).
    pub metric: Option<MetricValue>,
    /// The newest complete checkpoint of its run (the one retention never deletes).
    pub newest: bool,
    /// The best of its run: the Trainer's `best_model_checkpoint`, else the lowest loss metric.
    pub best: bool,
    pub pinned: bool,
    /// A command to fetch it and resume training from it.
    pub resume_command: String,
    /// What downloading it costs in egress at the connection's prices (`null`: no price table).
    pub download_usd: Option<f64>,
}

/// A metric name and value.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricValue {
    pub name: String,
    pub value: f64,
}

/// A child folder that holds a run.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunRow {
    /// The row it annotates: the child folder the run lives in.
    pub key: String,
    pub runs: u64,
    pub checkpoints: u64,
    pub complete: u64,
    pub bytes: u64,
    /// Storage cost of everything under the folder a month (`null`: no price table).
    pub monthly_usd: Option<f64>,
}

/// Size of one child folder (everything below it).
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FolderSize {
    pub key: String,
    pub objects: u64,
    pub bytes: u64,
}

/// What `folder_insights` returns.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FolderInsights {
    pub bucket: String,
    pub prefix: String,
    pub checkpoints: Vec<CheckpointRow>,
    pub runs: Vec<RunRow>,
    pub folders: Vec<FolderSize>,
    pub objects_listed: u64,
    /// More than [`INSIGHTS_CAP`] objects below: nothing was computed; ask again with `full`.
    pub too_large: bool,
    /// The price table the dollars come from.
    pub price_table: Option<String>,
}

impl App {
    /// Checkpoints, runs and folder sizes of `s3://bucket/prefix` (see the module docs).
    pub async fn folder_insights(&self, bucket: &str, prefix: &str, full: bool) -> Result<FolderInsights> {
        let conn = self.session.conn()?;
        let mut out = FolderInsights { bucket: bucket.into(), prefix: prefix.into(), checkpoints: vec![], runs: vec![], folders: vec![], objects_listed: 0, too_large: false, price_table: None };
        let entries = match self.watched(listing(&conn, bucket, prefix, (!full).then_some(INSIGHTS_CAP), self).await)? {
            Some(e) => e,
            None => {
                out.too_large = true;
                out.objects_listed = INSIGHTS_CAP;
                return Ok(out);
            }
        };
        out.objects_listed = entries.len() as u64;
        out.folders = folder_sizes(prefix, &entries);
        let url = S3Url { bucket: bucket.into(), key: prefix.into() };
        let loc = Location::S3(url);
        // As in the Runs view: S3 objects appear whole, so a listed checkpoint with its marker is
        // finished (no "still changing" window; uploads still in flight are checked by discovery).
        let opts = DetectOptions { now: checkpoint::detect::now_secs(), grace: std::time::Duration::ZERO, ..DetectOptions::new() };
        let found = self.watched(checkpoint::discover_listed(&loc, Some(&conn), entries.clone(), &opts).await)?;
        let table = self.price_table(&conn).await.ok();
        out.price_table = table.as_ref().map(|t| t.id());
        for run in &found.runs {
            rows_of_run(run, bucket, prefix, &found.pins, table.as_ref(), &mut out.checkpoints);
        }
        out.runs = run_rows(prefix, &found.runs, &entries, table.as_ref());
        Ok(out)
    }
}

/// The recursive listing relative to `prefix`, or `None` when it holds more than `cap` objects.
async fn listing(conn: &Connection, bucket: &str, prefix: &str, cap: Option<u64>, app: &App) -> Result<Option<Vec<FileEntry>>> {
    let mut stream = list::list_objects(conn, bucket, prefix, None);
    let mut out = Vec::new();
    while let Some(o) = stream.try_next().await? {
        let Some(path) = o.key.strip_prefix(prefix).filter(|p| !p.is_empty()) else { continue };
        out.push(FileEntry { path: path.to_string(), size: o.size, mtime: o.last_modified });
        if cap.is_some_and(|c| out.len() as u64 > c) {
            return Ok(None);
        }
        if out.len() % 10_000 == 0 {
            app.emit(Event::ReviewProgress { objects: out.len() as u64, bytes: out.iter().map(|e| e.size).sum(), units_done: 0, units_total: 1 });
        }
    }
    Ok(Some(out))
}

/// Objects and bytes below each child folder of `prefix`.
fn folder_sizes(prefix: &str, entries: &[FileEntry]) -> Vec<FolderSize> {
    let mut by: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for e in entries {
        if let Some((child, _)) = e.path.split_once('/') {
            let s = by.entry(child).or_default();
            s.0 += 1;
            s.1 = s.1.saturating_add(e.size);
        }
    }
    by.into_iter().map(|(child, (objects, bytes))| FolderSize { key: format!("{prefix}{child}/"), objects, bytes }).collect()
}

/// The rows of one run's checkpoints that sit directly in the browsed folder or below it.
fn rows_of_run(run: &Run, bucket: &str, prefix: &str, pins: &std::collections::BTreeSet<String>, table: Option<&crate::cost::PriceTable>, out: &mut Vec<CheckpointRow>) {
    let newest = run.checkpoints.iter().filter(|c| c.complete.is_complete() && c.step.is_some()).max_by_key(|c| c.order_key()).map(|c| c.id.clone());
    let best = best_of(run);
    for c in &run.checkpoints {
        let metric = ranking_metric(c);
        out.push(CheckpointRow {
            key: format!("{prefix}{}", c.id),
            run: if run.name.is_empty() { prefix.to_string() } else { format!("{prefix}{}/", run.name) },
            layout: c.layout,
            step: c.step,
            epoch: c.epoch,
            bytes: c.bytes,
            files: c.files.len() as u64,
            last_modified: c.last_modified,
            complete: c.complete.is_complete(),
            abandoned: c.complete.is_abandoned(),
            reason: c.complete_reason().map(str::to_string),
            same_as: c.same_as.as_ref().map(|s| format!("{prefix}{s}")),
            metric,
            newest: newest.as_deref() == Some(c.id.as_str()),
            best: best.as_deref() == Some(c.id.as_str()),
            pinned: pins.contains(&c.id),
            resume_command: resume_command(bucket, prefix, c),
            download_usd: table.and_then(|t| t.egress_usd(c.bytes)),
        });
    }
}

/// The metric a run is ranked by: a loss the checkpoint carries (eval first, then validation).
fn ranking_metric(c: &Checkpoint) -> Option<MetricValue> {
    ["eval_loss", "val_loss", "validation_loss", "loss"]
        .iter()
        .find_map(|name| c.metrics.get(*name).filter(|v| v.is_finite()).map(|v| MetricValue { name: name.to_string(), value: *v }))
}

/// The best checkpoint of a run: the one the Trainer named best, else the lowest ranking loss.
fn best_of(run: &Run) -> Option<String> {
    if let Some(c) = run.checkpoints.iter().find(|c| c.framework_keep.as_deref().is_some_and(|k| k.contains("best_model_checkpoint"))) {
        return Some(c.id.clone());
    }
    let name = run.checkpoints.iter().find_map(ranking_metric)?.name;
    run.checkpoints
        .iter()
        .filter(|c| c.complete.is_complete())
        .filter_map(|c| c.metrics.get(&name).filter(|v| v.is_finite()).map(|v| (c, *v)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(c, _)| c.id.clone())
}

/// `trainctl s3 download …` of the checkpoint, then how the framework resumes from it.
fn resume_command(bucket: &str, prefix: &str, c: &Checkpoint) -> String {
    let key = format!("{prefix}{}", c.id);
    let name = c.id.trim_end_matches('/').rsplit('/').next().unwrap_or(&c.id);
    // A key can hold anything (`;`, `$`, quotes): quoted for a POSIX shell, or refused when it
    // cannot be (a NUL byte), so pasting the command never runs something else.
    let quoted = |s: &str| shlex::try_quote(s).map(|q| q.into_owned()).unwrap_or_else(|_| "'<unquotable key>'".to_string());
    let (src, local) = (quoted(&format!("s3://{bucket}/{key}")), quoted(&format!("./{name}")));
    let fetch = if c.is_dir() { format!("trainctl s3 download {src} {local} --recursive") } else { format!("trainctl s3 download {src} {local}") };
    match c.layout {
        Layout::HfTrainer => format!("{fetch} && python train.py --resume_from_checkpoint {local}"),
        Layout::Lightning => format!("{fetch} && python train.py  # trainer.fit(model, ckpt_path={local})"),
        Layout::DeepSpeed => format!("{fetch} && python train.py  # model_engine.load_checkpoint({local})"),
        _ => fetch,
    }
}

/// Run summaries of the child folders that hold runs.
fn run_rows(prefix: &str, runs: &[Run], entries: &[FileEntry], table: Option<&crate::cost::PriceTable>) -> Vec<RunRow> {
    let mut by: BTreeMap<String, RunRow> = BTreeMap::new();
    for run in runs.iter().filter(|r| !r.name.is_empty()) {
        let child = run.name.split('/').next().unwrap_or(&run.name);
        let row = by.entry(child.to_string()).or_insert_with(|| RunRow { key: format!("{prefix}{child}/"), runs: 0, checkpoints: 0, complete: 0, bytes: 0, monthly_usd: None });
        row.runs += 1;
        row.checkpoints += run.checkpoints.len() as u64;
        row.complete += run.checkpoints.iter().filter(|c| c.complete.is_complete()).count() as u64;
    }
    for row in by.values_mut() {
        let child = row.key.strip_prefix(prefix).unwrap_or(&row.key);
        let under: Vec<&FileEntry> = entries.iter().filter(|e| e.path.starts_with(child)).collect();
        row.bytes = under.iter().map(|e| e.size).fold(0, u64::saturating_add);
        row.monthly_usd = table.map(|t| t.monthly_storage_usd(&crate::cost::usage_by_class(under.iter().map(|e| (e.size, None)))));
    }
    by.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ckpt(id: &str, layout: Layout) -> Checkpoint {
        Checkpoint { run: String::new(), id: id.into(), layout, step: Some(5), epoch: None, metrics: Default::default(), files: vec![], bytes: 1, last_modified: None, complete: checkpoint::Completeness::Complete, framework_keep: None, same_as: None }
    }

    #[test]
    fn resume_commands_quote_awkward_names_and_fit_the_framework() {
        let hf = resume_command("b", "runs/r1/", &ckpt("checkpoint-5/", Layout::HfTrainer));
        assert_eq!(hf, "trainctl s3 download s3://b/runs/r1/checkpoint-5/ ./checkpoint-5 --recursive && python train.py --resume_from_checkpoint ./checkpoint-5");
        let pl = resume_command("b", "r a/", &ckpt("last.ckpt", Layout::Lightning));
        assert!(pl.starts_with("trainctl s3 download 's3://b/r a/last.ckpt' ./last.ckpt &&") && pl.contains("ckpt_path=./last.ckpt"), "{pl}");
        let evil = resume_command("b", "", &ckpt("x';rm -rf ~;'.pt", Layout::StepFile));
        assert_eq!(shlex::split(&evil).unwrap()[3], "s3://b/x';rm -rf ~;'.pt", "{evil}");
    }

    #[test]
    fn folder_sizes_add_up_per_child() {
        let e = |p: &str, s: u64| FileEntry { path: p.into(), size: s, mtime: None };
        let sizes = folder_sizes("runs/", &[e("a/x", 1), e("a/b/y", 2), e("c/z", 4), e("top.txt", 8)]);
        assert_eq!(sizes, vec![FolderSize { key: "runs/a/".into(), objects: 2, bytes: 3 }, FolderSize { key: "runs/c/".into(), objects: 1, bytes: 4 }]);
    }
}
