//! Lightning's metrics for its checkpoints, from the run's CSVLogger `metrics.csv`.
//!
//! Why: a `.ckpt` name carries a metric only when the user put `{val_loss}` in the filename
//! template; otherwise the values live in `<run>/lightning_logs/version_N/metrics.csv` (or
//! `<run>/metrics.csv` in Lightning's default layout, where the run is `version_N/` itself).
//! Without them `--keep-best --metric val_loss` has nothing to rank by. A checkpoint saved at
//! global step N belongs to the rows logged with `step` N − 1 (Lightning logs the step before
//! the increment); one with only an epoch belongs to the last row of that epoch.

use super::model::{split_dir, Checkpoint, Fetch, FileEntry, Layout};
use crate::runs::metrics::{parse_csv, ParsedMetrics};
use std::collections::BTreeMap;

/// The `metrics.csv` files of run `run` (a folder relative to the root, `""` for the root),
/// oldest version first: `<run>/metrics.csv`, `<run>/<logger name>/version_<n>/metrics.csv`.
pub fn csv_files<'a>(run: &str, entries: &'a [&FileEntry]) -> Vec<&'a str> {
    let base = if run.is_empty() {
        String::new()
    } else {
        format!("{run}/")
    };
    let mut found: Vec<(u64, &str)> = entries
        .iter()
        .filter_map(|e| {
            let rest = e.path.strip_prefix(&base)?;
            if rest == "metrics.csv" {
                return Some((0, e.path.as_str()));
            }
            let mut parts = rest.split('/');
            let (_logger, version, file) = (parts.next()?, parts.next()?, parts.next()?);
            let n = version.strip_prefix("version_")?.parse::<u64>().ok()?;
            (file == "metrics.csv" && parts.next().is_none())
                .then_some((n.saturating_add(1), e.path.as_str()))
        })
        .collect();
    found.sort();
    found.into_iter().map(|(_, p)| p).collect()
}

/// Fills each Lightning checkpoint's metrics from its run's `metrics.csv` (exact values; they
/// override the rounded ones of a file name). Files whose contents were not fetched (too big)
/// add nothing: such a checkpoint keeps only the metrics its name carries.
pub fn apply_metrics(checkpoints: &mut [Checkpoint], entries: &[&FileEntry], fetch: Fetch) {
    let mut parsed: BTreeMap<String, Vec<ParsedMetrics>> = BTreeMap::new();
    for c in checkpoints
        .iter_mut()
        .filter(|c| c.layout == Layout::Lightning)
    {
        let logs = parsed.entry(c.run.clone()).or_insert_with(|| {
            csv_files(&c.run, entries)
                .into_iter()
                .filter_map(fetch)
                .filter_map(|b| parse_log(&String::from_utf8_lossy(&b)))
                .collect()
        });
        for log in logs.iter() {
            for (name, value) in values_for(log, c.step, c.epoch) {
                c.metrics.insert(name, value);
            }
        }
    }
}

/// A CSVLogger file: one whose header names a `step` column (without one, rows cannot be tied
/// to a checkpoint's step: the file is ignored).
fn parse_log(text: &str) -> Option<ParsedMetrics> {
    let header = text.lines().find(|l| !l.trim().is_empty())?;
    header
        .split(',')
        .any(|c| c.trim().trim_matches('"') == "step")
        .then(|| parse_csv(text))
}

/// The values logged for a checkpoint saved at global step `step` (rows at `step - 1`), or with
/// only an epoch, at the last step logged in that epoch.
fn values_for(log: &ParsedMetrics, step: Option<u64>, epoch: Option<f64>) -> Vec<(String, f64)> {
    let row = match (step, epoch) {
        (Some(s), _) if s > 0 => Some((s - 1) as f64),
        (None, Some(e)) => log.series.get("epoch").and_then(|ep| {
            ep.steps
                .iter()
                .zip(&ep.values)
                .filter(|(_, v)| **v == e)
                .map(|(s, _)| *s)
                .reduce(f64::max)
        }),
        _ => None,
    };
    let Some(row) = row else { return Vec::new() };
    log.series
        .iter()
        .filter(|(name, _)| name.as_str() != "epoch")
        .filter_map(|(name, s)| {
            let i = s.steps.iter().rposition(|x| *x == row)?;
            Some((name.clone(), s.values[i]))
        })
        .collect()
}

/// The run folder of a Lightning checkpoint directory listing: `a/checkpoints/x.ckpt` → `a`.
pub fn run_folder(checkpoint_dir: &str) -> &str {
    let dir = checkpoint_dir.trim_end_matches('/');
    match split_dir(dir) {
        (parent, "checkpoints") => parent.trim_end_matches('/'),
        _ => dir,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(p: &str) -> FileEntry {
        FileEntry {
            path: p.into(),
            size: 1,
            mtime: None,
        }
    }

    #[test]
    fn a_runs_csv_files_are_found_in_both_lightning_layouts_oldest_version_first() {
        let es = [
            e("r/lightning_logs/version_1/metrics.csv"),
            e("r/lightning_logs/version_0/metrics.csv"),
            e("r/x/metrics.csv"),
            e("r/metrics.csv"),
            e("q/metrics.csv"),
        ];
        let refs: Vec<&FileEntry> = es.iter().collect();
        assert_eq!(
            csv_files("r", &refs),
            [
                "r/metrics.csv",
                "r/lightning_logs/version_0/metrics.csv",
                "r/lightning_logs/version_1/metrics.csv"
            ]
        );
        assert_eq!(csv_files("", &refs), Vec::<&str>::new());
    }

    #[test]
    fn a_checkpoint_at_step_n_takes_the_rows_of_step_n_minus_one_and_nan_stays_nan() {
        let log = parse_log(
            "epoch,step,train_loss,val_loss\n0,4,0.5,\n0,5,0.25,\n0,5,,nan\n1,11,,0.125\n",
        )
        .unwrap();
        let mut v = values_for(&log, Some(6), None);
        v.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(v[0], ("train_loss".to_string(), 0.25));
        assert!(v[1].0 == "val_loss" && v[1].1.is_nan());
        assert_eq!(
            values_for(&log, None, Some(1.0)),
            vec![("val_loss".to_string(), 0.125)]
        );
        assert!(values_for(&log, Some(0), None).is_empty());
        assert!(
            parse_log("a,b\n1,2\n,,,\n").is_none(),
            "no step column: not a CSVLogger file"
        );
        assert!(
            values_for(
                &parse_log("step,val_loss\n1\n,,,\n1,x\n").unwrap(),
                Some(2),
                None
            )
            .is_empty(),
            "ragged rows, text: nothing, no panic"
        );
    }

    #[test]
    fn the_run_folder_holds_checkpoints() {
        assert_eq!(run_folder("runs/a/checkpoints/"), "runs/a");
        assert_eq!(run_folder("runs/a/"), "runs/a");
    }
}
