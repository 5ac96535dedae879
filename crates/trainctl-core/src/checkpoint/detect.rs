//! Layout detectors: a flat listing of `(relative path, size, mtime)` → runs of checkpoints.
//!
//! Why one listing type: the same code must judge a local directory walk and an S3 listing, so
//! local and remote cleanups can never disagree about what a checkpoint is. Detection is pure;
//! the few small files whose *contents* matter (`trainer_state.json`, `latest`, shard indexes) are
//! named by [`wanted_contents`] and handed in through a fetch callback, so S3 callers can fetch
//! them in parallel beforehand.

use super::model::{Checkpoint, Completeness, FileEntry, Layout, Run};
use crate::error::{Error, Result};
use regex::Regex;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::OnceLock;
use std::time::Duration;

/// The pins file (ids kept whatever the policy says); never a checkpoint itself.
pub const PINS_FILE: &str = ".trainctl-pins.json";

/// Default window in which a checkpoint whose newest file changed counts as still being written.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(60);

/// Default age after which an incomplete checkpoint nobody writes to is abandoned (a crashed save).
pub const DEFAULT_ABANDONED_AFTER: Duration = Duration::from_secs(6 * 3600);

/// How to detect: an optional user pattern, the "still changing" window, the "abandoned" age
/// and the clock.
#[derive(Debug, Clone)]
pub struct DetectOptions {
    pub pattern: Option<Regex>,
    pub grace: Duration,
    /// An incomplete checkpoint whose newest file is older than this is abandoned (`--abandoned-after`).
    pub abandoned_after: Duration,
    /// "Now" in seconds since the Unix epoch (passed in so tests and re-plans are deterministic).
    pub now: i64,
}

impl DetectOptions {
    /// Built-in layouts, the default grace and abandoned windows, the current time.
    pub fn new() -> Self {
        DetectOptions { pattern: None, grace: DEFAULT_GRACE, abandoned_after: DEFAULT_ABANDONED_AFTER, now: now_secs() }
    }
}

impl Default for DetectOptions {
    fn default() -> Self {
        Self::new()
    }
}

/// Current time in seconds since the Unix epoch.
pub fn now_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(crate::limits::secs_i64).unwrap_or(0)
}

/// Compiles a `--pattern` (named groups `step`, `epoch`, `metric`, or any other numeric group);
/// an invalid regex is a usage error carrying the regex engine's explanation.
pub fn compile_pattern(pattern: &str) -> Result<Regex> {
    Regex::new(pattern).map_err(|e| Error::Usage(format!("invalid --pattern `{pattern}`: {e}")))
}

pub use super::model::{split_dir, Fetch};

/// Largest file whose contents detection reads (a trainer_state.json of a long run is a few MB).
pub const MAX_CONTENT: u64 = 16 << 20;

/// Files whose contents refine detection: HF `trainer_state.json`, DeepSpeed `latest`, Megatron
/// `latest_checkpointed_iteration.txt`, safetensors index JSON, Lightning's CSVLogger
/// `metrics.csv` (when the listing holds `.ckpt` files). Only small ones (< 16 MiB).
pub fn wanted_contents(entries: &[FileEntry]) -> Vec<String> {
    let lightning = entries.iter().any(|e| logical_name(&e.path).ends_with(".ckpt"));
    entries
        .iter()
        .filter(|e| e.size < MAX_CONTENT)
        .filter(|e| {
            let name = file_name(&e.path);
            name == "trainer_state.json"
                || name == "latest"
                || name == "latest_checkpointed_iteration.txt"
                || name.ends_with(".safetensors.index.json")
                || (lightning && name == "metrics.csv")
        })
        .map(|e| e.path.clone())
        .collect()
}

/// Groups a listing into runs of checkpoints (oldest first in each run, runs by name).
pub fn detect(entries: &[FileEntry], opts: &DetectOptions, fetch: Fetch) -> Vec<Run> {
    let entries: Vec<&FileEntry> = entries.iter().filter(|e| file_name(&e.path) != PINS_FILE).collect();
    let tree = Tree::new(&entries);
    let mut checkpoints = match &opts.pattern {
        Some(re) => detect_pattern(&entries, re, &tree),
        None => detect_builtin(&entries, &tree, fetch),
    };
    super::lightning_logs::apply_metrics(&mut checkpoints, &entries, fetch);
    for c in &mut checkpoints {
        apply_grace(c, opts);
        apply_abandoned(c, opts);
    }
    mark_hf_best(&mut checkpoints, fetch);
    into_runs(checkpoints)
}

// ---------------------------------------------------------------------------------------------
// The directory tree of a listing

/// Direct children (file names) of every directory prefix (`""` is the root, others end in `/`).
struct Tree {
    children: HashMap<String, HashSet<String>>,
    /// Parents of `checkpoint-N/` folders holding any of the HF Trainer's own files: every
    /// `checkpoint-N/` there is a Trainer checkpoint (one that crashed before writing them is too).
    trainer_runs: HashSet<String>,
}

/// Files only the HF Trainer writes into a `checkpoint-N/` (a `save_pretrained` folder has none).
fn is_trainer_file(name: &str) -> bool {
    matches!(name, "trainer_state.json" | "training_args.bin" | "optimizer.pt" | "scheduler.pt" | "scaler.pt")
        || (name.starts_with("rng_state") && name.ends_with(".pth"))
        || name.starts_with("optimizer.")
}

impl Tree {
    fn new(entries: &[&FileEntry]) -> Self {
        let mut children: HashMap<String, HashSet<String>> = HashMap::new();
        for e in entries {
            let (dir, name) = split_dir(&e.path);
            children.entry(dir.to_string()).or_default().insert(logical_name(name).to_string());
        }
        let trainer_runs = children
            .iter()
            .filter(|(dir, names)| hf_dir().is_match(dir_name(dir)) && names.iter().any(|n| is_trainer_file(n)))
            .map(|(dir, _)| split_dir(dir.trim_end_matches('/')).0.to_string())
            .collect();
        Tree { children, trainer_runs }
    }

    fn has(&self, dir: &str, name: &str) -> bool {
        self.children.get(dir).is_some_and(|c| c.contains(name))
    }

    fn any(&self, dir: &str, pred: impl Fn(&str) -> bool) -> bool {
        self.children.get(dir).is_some_and(|c| c.iter().any(|n| pred(n)))
    }
}


fn file_name(path: &str) -> &str {
    split_dir(path).1
}

/// A file's name as the layouts read it: a compressed `model.safetensors.zst` (`--compress`)
/// is the `model.safetensors` it was made from, so completeness and step numbers do not
/// depend on whether a checkpoint was uploaded compressed. Only names are read this way; the
/// checkpoint's files (what cleanup deletes) keep their real keys.
fn logical_name(name: &str) -> &str {
    crate::refs::logical_name(name)
}

/// The directory prefixes of a path, outermost first: `a/b/c` → [`a/`, `a/b/`].
fn dir_prefixes(path: &str) -> Vec<&str> {
    path.match_indices('/').map(|(i, _)| &path[..=i]).collect()
}

/// Last path segment of a directory prefix: `a/b/` → `b`.
fn dir_name(prefix: &str) -> &str {
    file_name(prefix.trim_end_matches('/'))
}

// ---------------------------------------------------------------------------------------------
// Built-in layouts

fn re(cell: &'static OnceLock<Regex>, pattern: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pattern).expect("built-in regex"))
}

fn hf_dir() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    re(&R, r"^checkpoint-(\d+)$")
}
fn deepspeed_dir() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    re(&R, r"^global_step(\d+)$")
}
fn megatron_dir() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    re(&R, r"^iter_(\d+)$")
}
pub(crate) fn step_file() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    re(&R, r"^(step|iter|epoch)[_-]?(\d+)\.(pt|pth|bin|safetensors)$")
}
pub(crate) fn shard_file() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    re(&R, r"^(.+)-(\d+)-of-(\d+)\.safetensors$")
}
fn lightning_pair() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    re(&R, r"(?:^|-)([A-Za-z_][A-Za-z0-9_]*)=(-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)")
}

/// A directory recognised by its name alone (the strongest evidence), with the step it names.
pub(crate) fn named_dir(prefix: &str) -> Option<(Layout, u64)> {
    let name = dir_name(prefix);
    [(hf_dir(), Layout::HfTrainer), (deepspeed_dir(), Layout::DeepSpeed), (megatron_dir(), Layout::Megatron)]
        .into_iter()
        .find_map(|(re, layout)| re.captures(name).and_then(|c| c[1].parse().ok()).map(|step| (layout, step)))
}

/// A directory recognised by what it holds (DCP files; a `_SUCCESS` marker or shards in a
/// directory named like a step).
fn content_dir(prefix: &str, tree: &Tree) -> Option<Layout> {
    if tree.has(prefix, ".metadata") || tree.any(prefix, |n| n.ends_with(".distcp")) {
        return Some(Layout::TorchDcp);
    }
    if tree.has(prefix, "_SUCCESS") && step_like(dir_name(prefix)) {
        return Some(Layout::SuccessMarker);
    }
    (step_like(dir_name(prefix)) && tree.any(prefix, |n| shard_file().is_match(n))).then_some(Layout::ShardedSafetensors)
}

/// A directory name that is a step number (`step_1000`, `ckpt-5`, `000300`), not merely one with
/// a digit in it (`exp1`, `llama2-7b`: an experiment holding a final export must not be rotated).
pub(crate) fn step_like(name: &str) -> bool {
    static R: OnceLock<Regex> = OnceLock::new();
    re(&R, r"(?i)^(step|ckpt|checkpoint|iter|iteration|epoch|global_step)?[_-]?\d+$").is_match(name)
}

/// `step_100` → `step_#`: siblings with the same shape are the same kind of checkpoint.
fn shape(name: &str) -> Option<String> {
    static R: OnceLock<Regex> = OnceLock::new();
    let digits = re(&R, r"\d+");
    digits.is_match(name).then(|| digits.replace_all(name, "#").into_owned())
}

/// Which directory (if any) claims each entry: the outermost named directory, else the outermost
/// content directory, else a numbered sibling shaped like a content directory (an unfinished one).
fn claim_dirs(entries: &[&FileEntry], tree: &Tree) -> HashMap<String, (String, Layout)> {
    let all_dirs: HashSet<&str> = entries.iter().flat_map(|e| dir_prefixes(&e.path)).collect();
    let mut content: HashMap<&str, Layout> = all_dirs.iter().filter_map(|d| content_dir(d, tree).map(|l| (*d, l))).collect();
    let shapes: HashMap<(&str, String), Layout> =
        content.iter().filter_map(|(d, l)| Some(((split_dir(d.trim_end_matches('/')).0, shape(dir_name(d))?), *l))).collect();
    for d in &all_dirs {
        if let Some(s) = shape(dir_name(d)) {
            if let Some(l) = shapes.get(&(split_dir(d.trim_end_matches('/')).0, s)) {
                content.entry(d).or_insert(*l);
            }
        }
    }
    let mut claims = HashMap::new();
    for e in entries {
        let dirs = dir_prefixes(&e.path);
        let named = dirs.iter().find(|d| named_dir(d).is_some()).map(|d| (*d, named_dir(d).unwrap().0));
        if let Some((d, l)) = named.or_else(|| dirs.iter().find_map(|d| content.get(d).map(|l| (*d, *l)))) {
            claims.insert(e.path.clone(), (d.to_string(), l));
        }
    }
    claims
}

fn detect_builtin(entries: &[&FileEntry], tree: &Tree, fetch: Fetch) -> Vec<Checkpoint> {
    let claims = claim_dirs(entries, tree);
    let mut dirs: BTreeMap<String, (Layout, Vec<FileEntry>)> = BTreeMap::new();
    let mut loose: Vec<&FileEntry> = Vec::new();
    for e in entries {
        match claims.get(&e.path) {
            Some((owner, l)) => dirs.entry(owner.clone()).or_insert_with(|| (*l, Vec::new())).1.push((*e).clone()),
            None => loose.push(e),
        }
    }
    let mut out: Vec<Checkpoint> = dirs.into_iter().map(|(id, (layout, files))| dir_checkpoint(id, layout, files, tree, fetch)).collect();
    out.extend(file_checkpoints(&loose, fetch));
    out
}

/// The run a checkpoint belongs to: its parent folder; for Lightning `.ckpt` files in a
/// `checkpoints/` folder, the folder holding it (where `lightning_logs/` and `metrics.csv` live).
pub(crate) fn run_of(id: &str, layout: Layout) -> String {
    let parent = split_dir(id.trim_end_matches('/')).0.trim_end_matches('/');
    match (layout, parent.rsplit_once('/')) {
        (Layout::Lightning, Some((run, "checkpoints"))) => run.to_string(),
        (Layout::Lightning, None) if parent == "checkpoints" => String::new(),
        _ => parent.to_string(),
    }
}

/// A new checkpoint with its totals computed from `files`.
fn checkpoint(id: String, layout: Layout, files: Vec<FileEntry>) -> Checkpoint {
    let run = run_of(&id, layout);
    let bytes = crate::limits::sum_sizes(files.iter().map(|f| f.size));
    let last_modified = files.iter().filter_map(|f| f.mtime).max();
    Checkpoint {
        run,
        id,
        layout,
        step: None,
        epoch: None,
        metrics: BTreeMap::new(),
        files,
        bytes,
        last_modified,
        complete: Completeness::Complete,
        framework_keep: None,
        same_as: None,
    }
}

pub(crate) fn last_number(name: &str) -> Option<u64> {
    static R: OnceLock<Regex> = OnceLock::new();
    re(&R, r"\d+").find_iter(name).last().and_then(|m| m.as_str().parse().ok())
}

fn dir_checkpoint(id: String, layout: Layout, files: Vec<FileEntry>, tree: &Tree, fetch: Fetch) -> Checkpoint {
    let mut c = checkpoint(id, layout, files);
    c.step = named_dir(&c.id).map(|(_, s)| s).or_else(|| last_number(dir_name(&c.id)));
    let parent = split_dir(c.id.trim_end_matches('/')).0.to_string();
    let parent_has_trainer = tree.trainer_runs.contains(&parent);
    c.complete = match layout {
        Layout::HfTrainer if !parent_has_trainer => {
            c.layout = Layout::HfPretrained;
            pretrained_complete(&c.id, tree, fetch)
        }
        Layout::HfTrainer => hf_complete(&mut c, tree, fetch),
        Layout::DeepSpeed => pointer_complete(c.step, &format!("{parent}latest"), "`latest`", fetch),
        Layout::Megatron => pointer_complete(c.step, &format!("{parent}latest_checkpointed_iteration.txt"), "`latest_checkpointed_iteration.txt`", fetch),
        Layout::TorchDcp => evidence(tree.has(&c.id, ".metadata"), "no .metadata yet (torch.distributed.checkpoint writes it last)"),
        Layout::SuccessMarker => evidence(tree.has(&c.id, "_SUCCESS"), "no _SUCCESS marker yet"),
        Layout::ShardedSafetensors => shards_complete(&c.id, tree, fetch),
        _ => Completeness::Complete,
    };
    c
}

fn evidence(ok: bool, missing: &str) -> Completeness {
    if ok {
        Completeness::Complete
    } else {
        Completeness::Incomplete { reason: missing.to_string() }
    }
}

/// HF Trainer: complete once `trainer_state.json` exists; it also carries step, epoch, metrics.
/// One that was read and does not parse (cut short by a crash) is not evidence of a finished save.
fn hf_complete(c: &mut Checkpoint, tree: &Tree, fetch: Fetch) -> Completeness {
    if !tree.has(&c.id, "trainer_state.json") {
        return evidence(false, "no trainer_state.json yet (the HF Trainer writes it last)");
    }
    match fetch(&format!("{}trainer_state.json", c.id)).map(|b| serde_json::from_slice::<serde_json::Value>(&b)) {
        Some(Ok(state)) => apply_trainer_state(c, &state),
        Some(Err(e)) => return evidence(false, &format!("trainer_state.json does not parse ({e}): cut short while being written?")),
        // Too big to read (over 16 MiB) or gone since the listing: it exists, which is the marker.
        None => {}
    }
    Completeness::Complete
}

/// Weights file names `save_pretrained` writes when it does not shard.
const SINGLE_WEIGHTS: &[&str] = &["model.safetensors", "pytorch_model.bin", "adapter_model.safetensors", "adapter_model.bin", "tf_model.h5", "flax_model.msgpack"];

/// A `save_pretrained` folder: complete when its index (written after the shards) is there and
/// every shard it names is, or (unsharded) its single weights file. Shards without an index are
/// a save in progress — or the first checkpoint of a Trainer that has not written its own files
/// yet, which must not look finished either.
fn pretrained_complete(dir: &str, tree: &Tree, fetch: Fetch) -> Completeness {
    if tree.any(dir, |n| n.ends_with(".index.json")) {
        return shards_complete(dir, tree, fetch);
    }
    if tree.any(dir, |n| shard_file().is_match(n)) {
        return evidence(false, "shards without their index yet (save_pretrained writes the index after the shards)");
    }
    evidence(
        SINGLE_WEIGHTS.iter().any(|w| tree.has(dir, w)),
        "no weights yet (neither a shard index nor model.safetensors / pytorch_model.bin): save_pretrained has not finished",
    )
}

/// Step, epoch and the metrics logged at that step, from a `trainer_state.json` value.
fn apply_trainer_state(c: &mut Checkpoint, state: &serde_json::Value) {
    let step = state.get("global_step").and_then(|v| v.as_u64()).or(c.step);
    c.step = step;
    c.epoch = state.get("epoch").and_then(|v| v.as_f64()).filter(|e| e.is_finite());
    let logs = state.get("log_history").and_then(|v| v.as_array()).cloned().unwrap_or_default();
    for entry in logs.iter().filter(|e| e.get("step").and_then(|s| s.as_u64()) == step) {
        for (k, v) in entry.as_object().into_iter().flatten() {
            if let (false, Some(x)) = (k == "step" || k == "epoch", v.as_f64()) {
                c.metrics.insert(k.clone(), x);
            }
        }
    }
}

/// DeepSpeed / Megatron: a step directory is complete when the pointer file the framework writes
/// after saving names this step or a later one.
///
/// The reason for a newer one says what the pointer is, not that a save is running: DeepSpeed
/// writes `latest` only after every rank's model and optimizer states are on disk, so a save that
/// crashed (the real one in `tests/fixtures/frameworks/runs/deepspeed-crashed/`: model states
/// written, optimizer states not) stays newer than `latest` forever, and once abandoned its
/// reason must not claim it is "still being saved".
fn pointer_complete(step: Option<u64>, pointer: &str, what: &str, fetch: Fetch) -> Completeness {
    let latest = fetch(pointer).and_then(|b| last_number(String::from_utf8_lossy(&b).trim()));
    match (step, latest) {
        (Some(s), Some(l)) if s <= l => Completeness::Complete,
        (Some(_), Some(l)) => evidence(false, &format!("newer than the step {what} names ({l}; the framework writes it after a save finishes)")),
        _ => evidence(false, &format!("no {what} file names it")),
    }
}

/// Sharded safetensors in `dir` (a prefix): every shard the index names (or, without an index,
/// every `i` of `-of-N`) must be present.
fn shards_complete(dir: &str, tree: &Tree, fetch: Fetch) -> Completeness {
    let names: Vec<String> = tree.children.get(dir).map(|c| c.iter().cloned().collect()).unwrap_or_default();
    shard_gaps(dir, &names, fetch).completeness()
}

/// Shard totals above this are not believed: the series is simply incomplete. Why a cap: the
/// total comes from a file name anyone can write (`x-1-of-99999999999.safetensors`), and no real
/// checkpoint has more than a few thousand shards; without it detection would enumerate 10¹¹
/// names in every listing, cleanup, watch poll and `trainctl local` round.
pub const MAX_SHARDS: u64 = 100_000;

/// Missing shard names listed in a reason; the rest are counted.
const SHOWN_MISSING: usize = 5;

/// What is missing from a set of shards: a count, the first few names, or a total not believed.
#[derive(Debug, Default)]
struct ShardGaps {
    missing: u64,
    examples: Vec<String>,
    implausible: Option<String>,
    /// A shard the index names outside the checkpoint's folder (refused, not followed).
    outside: Option<String>,
}

/// A bare file name: no separator, not `.`/`..`, not empty.
fn plain_file_name(s: &str) -> bool {
    !s.is_empty() && s != "." && s != ".." && !s.contains('/') && !s.contains('\\') && !s.contains('\0')
}

impl ShardGaps {
    fn completeness(&self) -> Completeness {
        if let Some(name) = &self.outside {
            return evidence(false, &format!("the shard index names `{name}`, outside the checkpoint's folder: refused, not followed"));
        }
        if let Some(name) = &self.implausible {
            return evidence(false, &format!("shard total in `{name}` is implausible (above {MAX_SHARDS}); treated as incomplete"));
        }
        let more = self.missing.saturating_sub(self.examples.len() as u64);
        let suffix = if more > 0 { format!(" (and {more} more)") } else { String::new() };
        evidence(self.missing == 0, &format!("missing shard(s): {}{suffix}", self.examples.join(", ")))
    }

    fn add(&mut self, name: String) {
        self.missing += 1;
        if self.examples.len() < SHOWN_MISSING {
            self.examples.push(name);
        }
    }
}

/// The shards missing from `names` (the files of `dir`): those the index names, or without a
/// readable index those implied by `-0000x-of-0000y`. Work is bounded by the names present
/// (and the index's size), never by a total read from a name.
fn shard_gaps(dir: &str, names: &[String], fetch: Fetch) -> ShardGaps {
    let present: HashSet<&str> = names.iter().map(String::as_str).collect();
    let index = names.iter().find(|n| n.ends_with(".index.json"));
    let from_index: Option<std::collections::BTreeSet<String>> = index.and_then(|i| fetch(&format!("{dir}{i}"))).and_then(|b| {
        let v: serde_json::Value = serde_json::from_slice(&b).ok()?;
        Some(v.get("weight_map")?.as_object()?.values().filter_map(|f| f.as_str().map(str::to_string)).collect())
    });
    let mut gaps = ShardGaps::default();
    // An index is a file anyone can write: a shard named outside the folder (`../x.safetensors`,
    // `/etc/x`, `a/b`) is never looked for elsewhere; the checkpoint is simply not complete.
    if let Some(outside) = from_index.as_ref().and_then(|e| e.iter().find(|s| !plain_file_name(s))) {
        gaps.outside = Some(crate::limits::prefix_at_most(outside, 80).to_string());
        return gaps;
    }
    match from_index {
        Some(expected) => expected.into_iter().filter(|s| !present.contains(s.as_str())).for_each(|s| gaps.add(s)),
        None => count_gaps(names, &mut gaps),
    }
    gaps
}

/// Gaps in each `stem-i-of-total` series: every `i` in 1..=total must be present (compared as
/// numbers, so `-1-of-10` and `-10-of-10` are one series), names shown zero-padded like the first
/// one present.
fn count_gaps(names: &[String], gaps: &mut ShardGaps) {
    let mut series: BTreeMap<(String, String), (usize, HashSet<u64>)> = BTreeMap::new();
    for n in names {
        let Some(c) = shard_file().captures(n) else { continue };
        let slot = series.entry((c[1].to_string(), c[3].to_string())).or_insert_with(|| (c[2].len(), HashSet::new()));
        if let Ok(i) = c[2].parse::<u64>() {
            slot.1.insert(i);
        }
    }
    for ((stem, total_text), (width, present)) in series {
        let total = match total_text.parse::<u64>() {
            Ok(t) if t <= MAX_SHARDS => t,
            _ => {
                gaps.implausible.get_or_insert_with(|| format!("{stem}-…-of-{total_text}.safetensors"));
                continue;
            }
        };
        let found = present.iter().filter(|i| (1..=total).contains(*i)).count() as u64;
        gaps.missing += total - found;
        // The first few gaps: at most |present| + SHOWN_MISSING numbers are looked at.
        let shown = (1..=total).filter(|i| !present.contains(i)).take(SHOWN_MISSING.saturating_sub(gaps.examples.len()));
        gaps.examples.extend(shown.map(|i| format!("{stem}-{i:0width$}-of-{total_text}.safetensors")).collect::<Vec<_>>());
    }
}

/// Checkpoints that are single files (or groups of shard files) outside any checkpoint directory.
fn file_checkpoints(loose: &[&FileEntry], fetch: Fetch) -> Vec<Checkpoint> {
    let mut out = Vec::new();
    let mut groups: BTreeMap<(String, String), Vec<FileEntry>> = BTreeMap::new();
    for e in loose {
        let (dir, name) = split_dir(&e.path);
        let name = logical_name(name);
        if let Some(stem) = name.strip_suffix(".ckpt") {
            out.push(lightning(e, stem));
        } else if let Some(c) = step_file().captures(name) {
            let mut ck = checkpoint(logical_name(&e.path).to_string(), Layout::StepFile, vec![(*e).clone()]);
            let n: Option<u64> = c[2].parse().ok();
            if &c[1] == "epoch" { ck.epoch = n.map(|e| e as f64) } else { ck.step = n }
            out.push(ck);
        } else if let Some(stem) = shard_stem(name) {
            groups.entry((dir.to_string(), stem)).or_default().push((*e).clone());
        }
    }
    for ((dir, stem), files) in groups {
        let mut c = checkpoint(format!("{dir}{stem}-*.safetensors"), Layout::ShardedSafetensors, files);
        c.framework_keep = Some("a sharded model export without a step number; retention does not rotate it".into());
        let names: Vec<String> = c.files.iter().map(|f| logical_name(file_name(&f.path)).to_string()).collect();
        c.complete = if names.iter().any(|n| shard_file().is_match(n)) {
            shard_gaps(&dir, &names, fetch).completeness()
        } else {
            evidence(false, "an index without any shard yet")
        };
        out.push(c);
    }
    out
}

/// `model-00001-of-00002.safetensors` / `model.safetensors.index.json` → `model`.
pub(crate) fn shard_stem(name: &str) -> Option<String> {
    if let Some(c) = shard_file().captures(name) {
        return Some(c[1].to_string());
    }
    name.strip_suffix(".safetensors.index.json").map(str::to_string)
}

/// A Lightning `.ckpt`: every `name=value` pair of the stem (epoch, step, metrics).
fn lightning(e: &FileEntry, stem: &str) -> Checkpoint {
    let mut c = checkpoint(logical_name(&e.path).to_string(), Layout::Lightning, vec![e.clone()]);
    for cap in lightning_pair().captures_iter(stem) {
        let (name, value) = (&cap[1], &cap[2]);
        match name {
            "epoch" => c.epoch = value.parse::<f64>().ok().filter(|e| e.is_finite()),
            "step" => c.step = value.parse().ok(),
            _ => {
                if let Ok(v) = value.parse() {
                    c.metrics.insert(name.to_string(), v);
                }
            }
        }
    }
    if stem == "last" || stem.starts_with("last-v") {
        c.framework_keep = Some("Lightning's resume point (last.ckpt is overwritten by each save)".into());
    }
    c
}

// ---------------------------------------------------------------------------------------------
// User pattern

fn detect_pattern(entries: &[&FileEntry], re: &Regex, tree: &Tree) -> Vec<Checkpoint> {
    let mut found: BTreeMap<String, (Vec<FileEntry>, regex::Captures<'_>)> = BTreeMap::new();
    for e in entries {
        let Some(caps) = re.captures(&e.path) else { continue };
        let id = pattern_id(&e.path, caps.get(0).map_or(0, |m| m.end()));
        found.entry(id).or_insert_with(|| (Vec::new(), caps)).0.push((*e).clone());
    }
    let any_marker = found.keys().any(|id| id.ends_with('/') && tree.has(id, "_SUCCESS"));
    found
        .into_iter()
        .map(|(id, (files, caps))| {
            let mut c = checkpoint(id, Layout::Pattern, files);
            apply_groups(&mut c, re, &caps);
            if any_marker && c.is_dir() {
                c.complete = evidence(tree.has(&c.id, "_SUCCESS"), "no _SUCCESS marker yet (its siblings have one)");
            }
            c
        })
        .collect()
}

/// The checkpoint a match names: the whole path when the match reaches its end, else the
/// directory the match ends in.
fn pattern_id(path: &str, end: usize) -> String {
    if end >= path.len() {
        return path.to_string();
    }
    if end > 0 && path.as_bytes()[end - 1] == b'/' {
        return path[..end].to_string();
    }
    match path[end..].find('/') {
        Some(i) => path[..=end + i].to_string(),
        None => path.to_string(),
    }
}

fn apply_groups(c: &mut Checkpoint, re: &Regex, caps: &regex::Captures<'_>) {
    for name in re.capture_names().flatten() {
        let Some(m) = caps.name(name) else { continue };
        match name {
            "step" => c.step = m.as_str().parse().ok(),
            "epoch" => c.epoch = m.as_str().parse::<f64>().ok().filter(|e| e.is_finite()),
            _ => {
                if let Ok(v) = m.as_str().parse() {
                    c.metrics.insert(name.to_string(), v);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Cross-checkpoint rules

/// A checkpoint whose newest file changed within the grace window is still being written.
fn apply_grace(c: &mut Checkpoint, opts: &DetectOptions) {
    let Some(t) = c.last_modified else { return };
    let age = opts.now.saturating_sub(t);
    if c.complete.is_complete() && age < crate::limits::secs_i64(opts.grace) {
        c.complete = Completeness::Incomplete {
            reason: format!("still changing: last write {}s ago (grace window {}s)", age.max(0), opts.grace.as_secs()),
        };
    }
}

/// An incomplete checkpoint nothing was written to for `abandoned_after` is abandoned: its writer
/// is gone (a crashed save). Without a time it cannot be judged and stays incomplete.
fn apply_abandoned(c: &mut Checkpoint, opts: &DetectOptions) {
    let (Completeness::Incomplete { reason }, Some(t)) = (&c.complete, c.last_modified) else { return };
    let age = opts.now.saturating_sub(t);
    // Never sooner than the grace window: a checkpoint written to within it is in progress.
    if age >= crate::limits::secs_i64(opts.abandoned_after.max(opts.grace)) {
        let idle = humantime::format_duration(Duration::from_secs(age.max(0) as u64 / 60 * 60));
        c.complete = Completeness::Abandoned { reason: format!("{reason}; nothing written for {idle} (abandoned after {})", humantime::format_duration(opts.abandoned_after)) };
    }
}

/// The HF Trainer's `best_model_checkpoint` (from the newest trainer_state.json of a run) is
/// needed by `load_best_model_at_end`: mark it so retention keeps it.
fn mark_hf_best(checkpoints: &mut [Checkpoint], fetch: Fetch) {
    let mut best: HashMap<String, (u64, String)> = HashMap::new();
    for c in checkpoints.iter().filter(|c| c.layout == Layout::HfTrainer && c.complete.is_complete()) {
        let Some(state) = fetch(&format!("{}trainer_state.json", c.id)).and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok()) else { continue };
        let Some(path) = state.get("best_model_checkpoint").and_then(|v| v.as_str()) else { continue };
        let step = c.step.unwrap_or(0);
        if best.get(&c.run).is_none_or(|(s, _)| step > *s) {
            best.insert(c.run.clone(), (step, file_name(path.trim_end_matches('/')).to_string()));
        }
    }
    for c in checkpoints.iter_mut().filter(|c| c.layout == Layout::HfTrainer) {
        if best.get(&c.run).is_some_and(|(_, name)| name == dir_name(&c.id)) {
            c.framework_keep = Some("the HF Trainer's best_model_checkpoint (load_best_model_at_end needs it)".into());
        }
    }
}

fn into_runs(checkpoints: Vec<Checkpoint>) -> Vec<Run> {
    let mut runs: BTreeMap<String, Vec<Checkpoint>> = BTreeMap::new();
    for c in checkpoints {
        runs.entry(c.run.clone()).or_default().push(c);
    }
    runs.into_iter()
        .map(|(name, mut checkpoints)| {
            checkpoints.sort_by(|a, b| a.order_key().cmp(&b.order_key()).then_with(|| a.id.cmp(&b.id)));
            Run { name, checkpoints }
        })
        .collect()
}

#[cfg(test)]
#[path = "detect_tests.rs"]
mod tests;
