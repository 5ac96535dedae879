//! Metric series out of what trainers really write: the Hugging Face Trainer's
//! `trainer_state.json` (`log_history`), Lightning's CSVLogger `metrics.csv`, and log text —
//! JSON lines, Python dict reprs (`{'loss': 0.5, …}`, what the HF Trainer prints), `key=value` /
//! `key: value` lines and tqdm postfixes (`… 500/500 [00:10<00:00, 48.1it/s, loss=0.123]`).
//!
//! Why one parser for all: users point `trainctl metrics` (and the Runs view) at whatever file
//! they have, and should not have to say which format it is. Lines that carry no metric are
//! skipped and counted, never an error: a log is mostly prose.

use crate::error::{Error, Result};
use regex::Regex;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// Which format a file was read as.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricsFormat {
    /// HF Trainer `trainer_state.json`.
    TrainerState,
    /// Lightning CSVLogger `metrics.csv` (or any CSV with a header row).
    Csv,
    /// Log text: JSON lines, dict reprs, key=value, tqdm postfixes.
    Lines,
}

/// One metric over steps. `steps[i]` is the x of `values[i]`: the training step when the source
/// says it, otherwise the record number.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Series {
    pub name: String,
    pub steps: Vec<f64>,
    pub values: Vec<f64>,
}

impl Series {
    fn push(&mut self, step: f64, value: f64) {
        self.steps.push(step);
        self.values.push(value);
    }

    /// Last, min, max and count; `None` for an empty series.
    pub fn summary(&self) -> Option<SeriesSummary> {
        let last = *self.values.last()?;
        let finite = self.values.iter().copied().filter(|v| v.is_finite());
        let (min, max) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
        Some(SeriesSummary {
            name: self.name.clone(),
            last,
            last_step: self.steps.last().copied(),
            min,
            max,
            count: self.values.len(),
        })
    }
}

/// What `trainctl metrics` prints per series.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesSummary {
    pub name: String,
    pub last: f64,
    pub last_step: Option<f64>,
    pub min: f64,
    pub max: f64,
    pub count: usize,
}

/// Everything read from one source.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParsedMetrics {
    pub format: MetricsFormat,
    /// Series by metric name.
    pub series: BTreeMap<String, Series>,
    /// Records (lines, rows, log_history entries) that produced at least one value.
    pub records: u64,
    /// Non-empty lines or rows that carried no metric and were skipped.
    pub skipped: u64,
    /// Highest step seen.
    pub last_step: Option<u64>,
    /// The run's planned total steps, when the source says it (`max_steps`, a tqdm total).
    pub total_steps: Option<u64>,
}

impl ParsedMetrics {
    fn new(format: MetricsFormat) -> Self {
        ParsedMetrics { format, series: BTreeMap::new(), records: 0, skipped: 0, last_step: None, total_steps: None }
    }

    fn add(&mut self, name: &str, step: f64, value: f64) {
        self.series.entry(name.to_string()).or_insert_with(|| Series { name: name.to_string(), ..Default::default() }).push(step, value);
    }

    /// Closes one row/entry: a record at `step` when it held a number, else a skipped line.
    fn end_record(&mut self, step: f64, had_value: bool) {
        if had_value {
            self.records += 1;
            self.saw_step(step);
        } else {
            self.skipped += 1;
        }
    }

    fn saw_step(&mut self, step: f64) {
        if step.is_finite() && step >= 0.0 {
            let s = step as u64;
            self.last_step = Some(self.last_step.map_or(s, |l| l.max(s)));
        }
    }

    /// Summaries of every series, by name.
    pub fn summaries(&self) -> Vec<SeriesSummary> {
        self.series.values().filter_map(Series::summary).collect()
    }

    /// The last value of every series (for "final metrics" lines).
    pub fn last_values(&self) -> BTreeMap<String, f64> {
        self.series.iter().filter_map(|(k, s)| Some((k.clone(), *s.values.last()?))).collect()
    }
}

/// Reads `bytes` in the format its name and content suggest (see [`detect_format`]).
pub fn parse_metrics(name: &str, bytes: &[u8]) -> Result<ParsedMetrics> {
    let text = String::from_utf8_lossy(bytes);
    match detect_format(name, &text) {
        MetricsFormat::TrainerState => parse_trainer_state(&text),
        MetricsFormat::Csv => Ok(parse_csv(&text)),
        MetricsFormat::Lines => {
            let mut p = LineParser::default();
            p.feed(&text);
            Ok(p.finish())
        }
    }
}

/// `trainer_state.json` (by name, or a JSON object with `log_history`), `*.csv` (or a first line
/// that is a comma-separated header naming `step` or `epoch`), otherwise log lines.
pub fn detect_format(name: &str, text: &str) -> MetricsFormat {
    let base = name.rsplit('/').next().unwrap_or(name);
    let head = text.trim_start();
    if base == "trainer_state.json" || (head.starts_with('{') && crate::limits::prefix_at_most(head, 4096).contains("\"log_history\"")) {
        return MetricsFormat::TrainerState;
    }
    if base.ends_with(".csv") {
        return MetricsFormat::Csv;
    }
    let first = head.lines().next().unwrap_or("");
    let header_like = first.contains(',') && !first.contains('=') && !first.contains(':') && !first.contains('{');
    if header_like && first.split(',').any(|c| matches!(c.trim(), "step" | "epoch")) {
        return MetricsFormat::Csv;
    }
    MetricsFormat::Lines
}

// ---------------------------------------------------------------------------------------------
// trainer_state.json

/// `log_history` entries: `step` is the x, every other number a series (`loss`, `eval_loss`,
/// `learning_rate`, `grad_norm`, `epoch`, the final `train_runtime`…). `max_steps` is the total.
pub fn parse_trainer_state(text: &str) -> Result<ParsedMetrics> {
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| Error::Usage(format!("trainer_state.json is not valid JSON: {e}")))?;
    let mut out = ParsedMetrics::new(MetricsFormat::TrainerState);
    out.total_steps = v.get("max_steps").and_then(|m| m.as_u64()).filter(|m| *m > 0);
    let history = v.get("log_history").and_then(|h| h.as_array()).cloned().unwrap_or_default();
    for (i, entry) in history.iter().enumerate() {
        let Some(obj) = entry.as_object() else {
            out.skipped += 1;
            continue;
        };
        let step = obj.get("step").and_then(|s| s.as_f64()).unwrap_or((i + 1) as f64);
        let mut any = false;
        for (k, val) in obj {
            if k == "step" {
                continue;
            }
            if let Some(x) = val.as_f64() {
                out.add(k, step, x);
                any = true;
            }
        }
        out.end_record(step, any);
    }
    if let Some(g) = v.get("global_step").and_then(|g| g.as_f64()) {
        out.saw_step(g);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// CSV (Lightning CSVLogger)

/// A header row, then rows; empty cells are "not logged in this row" (Lightning writes train and
/// validation metrics on separate rows). `step` is the x; rows whose cell count differs from
/// the header are skipped and counted.
pub fn parse_csv(text: &str) -> ParsedMetrics {
    let mut out = ParsedMetrics::new(MetricsFormat::Csv);
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let Some(header) = lines.next() else { return out };
    let cols: Vec<String> = split_csv(header).into_iter().map(|c| c.trim().to_string()).collect();
    let step_col = cols.iter().position(|c| c == "step");
    for (i, line) in lines.enumerate() {
        let cells = split_csv(line);
        if cells.len() != cols.len() {
            out.skipped += 1;
            continue;
        }
        let step = step_col.and_then(|c| cells[c].trim().parse::<f64>().ok()).unwrap_or((i + 1) as f64);
        let mut any = false;
        for (c, cell) in cells.iter().enumerate() {
            if Some(c) == step_col {
                continue;
            }
            if let Some(x) = parse_number(cell.trim()) {
                out.add(&cols[c], step, x);
                any = true;
            }
        }
        out.end_record(step, any);
    }
    out
}

/// Splits one CSV line, honouring double quotes (metric names rarely need them, but `csv.writer`
/// quotes any cell with a comma).
fn split_csv(line: &str) -> Vec<String> {
    let mut cells = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(ch) = chars.next() {
        match ch {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                cells.last_mut().unwrap().push('"');
            }
            '"' => quoted = !quoted,
            ',' if !quoted => cells.push(String::new()),
            _ => cells.last_mut().unwrap().push(ch),
        }
    }
    cells
}

/// A float as trainers print it (`0.5`, `1e-4`, `nan`, `inf`); `None` for text and empty cells.
fn parse_number(s: &str) -> Option<f64> {
    if s.is_empty() {
        return None;
    }
    match s.to_ascii_lowercase().as_str() {
        "nan" => Some(f64::NAN),
        "inf" | "+inf" | "infinity" => Some(f64::INFINITY),
        "-inf" | "-infinity" => Some(f64::NEG_INFINITY),
        _ => s.parse::<f64>().ok(),
    }
}

// ---------------------------------------------------------------------------------------------
// Log lines

/// Keys that name the x axis rather than a metric.
const STEP_KEYS: &[&str] = &["step", "global_step", "iter", "iteration", "trainer/global_step"];

/// Reads log text incrementally (a followed file arrives in chunks): complete lines are parsed
/// as they arrive, a trailing partial line waits for its end. `\r` ends a line too, since tqdm
/// redraws its bar with carriage returns.
#[derive(Debug)]
pub struct LineParser {
    out: ParsedMetrics,
    partial: String,
    /// Step last seen on any line (tqdm or a `step` key), used for lines that carry none.
    current_step: Option<f64>,
    /// Record counter, the x when no step was ever seen.
    record: u64,
}

impl Default for LineParser {
    fn default() -> Self {
        LineParser { out: ParsedMetrics::new(MetricsFormat::Lines), partial: String::new(), current_step: None, record: 0 }
    }
}

impl LineParser {
    /// Feeds a chunk of text (any split, not necessarily at line ends).
    pub fn feed(&mut self, chunk: &str) {
        self.partial.push_str(chunk);
        while let Some(i) = self.partial.find(['\n', '\r']) {
            let line: String = self.partial.drain(..=i).collect();
            self.line(line.trim_end_matches(['\n', '\r']));
        }
    }

    /// The metrics so far (a trailing line without its newline is not included yet).
    pub fn snapshot(&self) -> &ParsedMetrics {
        &self.out
    }

    /// Parses the trailing partial line too and returns everything.
    pub fn finish(mut self) -> ParsedMetrics {
        let rest = std::mem::take(&mut self.partial);
        self.line(&rest);
        self.out
    }

    /// Parses one line; returns true when it carried a metric.
    pub fn line(&mut self, line: &str) -> bool {
        let line = line.trim();
        if line.is_empty() {
            return false;
        }
        let Some(record) = parse_line(line) else {
            self.out.skipped += 1;
            return false;
        };
        if let Some(total) = record.total {
            self.out.total_steps = Some(total);
        }
        if let Some(s) = record.step {
            self.current_step = Some(s);
        }
        if record.values.is_empty() {
            // A bare progress line (tqdm without postfix): it moves the step, it is not prose.
            if let Some(s) = record.step {
                self.out.saw_step(s);
            }
            return false;
        }
        self.record += 1;
        let x = record.step.or(self.current_step).unwrap_or(self.record as f64);
        for (k, v) in &record.values {
            self.out.add(k, x, *v);
        }
        self.out.records += 1;
        self.out.saw_step(x);
        true
    }
}

/// What one log line says.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LineRecord {
    pub step: Option<f64>,
    pub total: Option<u64>,
    pub values: Vec<(String, f64)>,
}

/// One line as a record, or `None` when it carries nothing numeric we recognise.
pub fn parse_line(line: &str) -> Option<LineRecord> {
    let line = line.trim();
    if line.starts_with('{') {
        if let Some(r) = parse_json_like(line) {
            return Some(r);
        }
    }
    if let Some(r) = parse_tqdm(line) {
        return Some(r);
    }
    parse_key_values(line).or_else(|| parse_prefixed_pairs(line))
}

/// A JSON object, or a Python dict repr (`{'loss': 0.5, 'epoch': 0.1}`) read as JSON after
/// swapping quotes and Python's `nan`/`inf` spellings.
fn parse_json_like(line: &str) -> Option<LineRecord> {
    let value: serde_json::Value = serde_json::from_str(line).ok().or_else(|| {
        let swapped = line.replace('\'', "\"");
        let swapped = python_specials().replace_all(&swapped, ": null").into_owned();
        let swapped = swapped.replace(": True", ": true").replace(": False", ": false").replace(": None", ": null");
        serde_json::from_str(&swapped).ok()
    })?;
    let obj = value.as_object()?;
    let mut rec = LineRecord::default();
    for (k, v) in obj {
        let Some(x) = v.as_f64() else { continue };
        if STEP_KEYS.contains(&k.as_str()) {
            rec.step = Some(x);
        } else {
            rec.values.push((k.clone(), x));
        }
    }
    (rec.step.is_some() || !rec.values.is_empty()).then_some(rec)
}

fn python_specials() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r":\s*-?(?:nan|inf)\b").unwrap())
}

/// tqdm's `n/total [elapsed<remaining, rate, k=v, …]`; the postfix pairs are the metrics.
fn parse_tqdm(line: &str) -> Option<LineRecord> {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| Regex::new(r"\|\s*(\d+)/(\d+|\?)\s*\[([^\]]*)\]").unwrap());
    let caps = re.captures_iter(line).last()?;
    let step: f64 = caps[1].parse().ok()?;
    let mut rec = LineRecord { step: Some(step), total: caps[2].parse().ok(), values: Vec::new() };
    for part in caps[3].split(',').skip(1) {
        let Some((k, v)) = part.split_once('=') else { continue };
        let (k, v) = (k.trim(), v.trim());
        if let (true, Some(x)) = (is_metric_name(k), parse_number(v)) {
            if k == "v_num" {
                continue;
            }
            rec.values.push((k.to_string(), x));
        }
    }
    Some(rec)
}

/// `key=value` and `key: value` pairs anywhere in the line (`step=100 loss=0.52 lr: 1e-4`).
fn parse_key_values(line: &str) -> Option<LineRecord> {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| {
        Regex::new(r"(?:^|[\s,;|(\[{])([A-Za-z_][A-Za-z0-9_./-]*)\s*(?:=\s*|:\s+)([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|nan|inf)(?:$|[\s,;|)\]}%])")
            .unwrap()
    });
    let mut rec = LineRecord::default();
    // Matches may touch (`a=1 b=2` shares the space), so scan from each match's value end.
    let mut at = 0;
    while let Some(c) = re.captures_at(line, at) {
        let key = c.get(1).unwrap().as_str();
        let value = parse_number(c.get(2).unwrap().as_str());
        at = c.get(2).unwrap().end();
        // `Num examples = 4,000` is a count with a thousands separator, not a metric.
        if line[at..].starts_with(',') && line[at + 1..].starts_with(|ch: char| ch.is_ascii_digit()) {
            continue;
        }
        let Some(x) = value else { continue };
        let lower = key.to_ascii_lowercase();
        if STEP_KEYS.contains(&lower.as_str()) {
            rec.step = Some(x);
        } else {
            rec.values.push((key.to_string(), x));
        }
    }
    (rec.step.is_some() || !rec.values.is_empty()).then_some(rec)
}

/// nanoGPT-style `step 100: train loss 2.3456, val loss 2.4567` / `iter 100: loss 2.3, time 12.3ms`:
/// a step prefix, then `words number[unit]` pairs separated by commas.
fn parse_prefixed_pairs(line: &str) -> Option<LineRecord> {
    static HEAD: OnceLock<Regex> = OnceLock::new();
    static PAIR: OnceLock<Regex> = OnceLock::new();
    let head = HEAD.get_or_init(|| Regex::new(r"(?i)^(?:step|iter|iteration)\s+(\d+)\s*:\s*(.*)$").unwrap());
    let pair = PAIR.get_or_init(|| Regex::new(r"^([A-Za-z_][A-Za-z0-9_ ]*?)\s+([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*[A-Za-z%]*$").unwrap());
    let caps = head.captures(line)?;
    let mut rec = LineRecord { step: caps[1].parse().ok(), ..Default::default() };
    for part in caps[2].split(',') {
        if let Some(p) = pair.captures(part.trim()) {
            if let Some(x) = parse_number(&p[2]) {
                rec.values.push((p[1].split_whitespace().collect::<Vec<_>>().join("_"), x));
            }
        }
    }
    (!rec.values.is_empty()).then_some(rec)
}

fn is_metric_name(k: &str) -> bool {
    k.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_') && k.chars().all(|c| c.is_ascii_alphanumeric() || "_./-".contains(c))
}

// ---------------------------------------------------------------------------------------------
// Sparkline

/// A terminal sparkline of `values` in at most `width` Unicode block characters (each the mean
/// of its bucket; non-finite values are ignored).
pub fn sparkline(values: &[f64], width: usize) -> String {
    const BLOCKS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if finite.is_empty() || width == 0 {
        return String::new();
    }
    let buckets = finite.len().min(width);
    let means: Vec<f64> = (0..buckets)
        .map(|b| {
            let (lo, hi) = (b * finite.len() / buckets, ((b + 1) * finite.len() / buckets).max(b * finite.len() / buckets + 1));
            finite[lo..hi].iter().sum::<f64>() / (hi - lo) as f64
        })
        .collect();
    let (min, max) = means.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
    let span = max - min;
    means
        .iter()
        .map(|v| if span <= 0.0 { BLOCKS[3] } else { BLOCKS[(((v - min) / span) * 7.0).round() as usize] })
        .collect()
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod tests;
