//! Checkpoint-aware grouping of a *streamed* listing: which directories are training runs, and
//! how big each run and each of its checkpoints is.
//!
//! Why not `checkpoint::detect`: it needs the whole listing in memory (and some file contents) to
//! judge completeness. A review only needs sizes, so this walks keys in listing order with a stack
//! of open directories (memory = depth, not objects): keys under a prefix are contiguous in
//! ListObjectsV2 order, so a directory is final when the first key outside it arrives. The layout
//! *rules* are the checkpoint module's own (named directories, step files, shards, DCP, `_SUCCESS`).
//!
//! Listings split across parallel tasks: each [`Walker`] covers one unit (a prefix) and leaves the
//! unit's ancestors open; [`Partials`] merges those across units and closes them deepest first.

use super::model::{CheckpointSize, Group, RunGroup, MAX_CHECKPOINTS_PER_RUN};
use super::tally::{Tally, TopK};
use crate::checkpoint::detect::{last_number, named_dir, shard_file, step_file, step_like};
use crate::checkpoint::model::split_dir;
use crate::checkpoint::Layout;
use std::collections::{BTreeMap, HashMap};

/// Most runs kept in a report; more are counted in `runs_overflow`.
pub const MAX_RUNS: usize = 5000;

/// One directory still being summed.
#[derive(Debug, Clone, Default)]
pub struct DirState {
    /// Relative to the reviewed location, ends with `/` (`""` is the location itself).
    pub path: String,
    pub tally: Tally,
    pub newest: Option<i64>,
    /// True when an ancestor is a named checkpoint directory: nothing inside is a run.
    pub inside_checkpoint: bool,
    /// True when the directory's own name makes it a checkpoint (`checkpoint-100/`, `iter_5/`).
    pub named: bool,
    /// Checkpoints that are direct children (directories or files) of this directory.
    pub checkpoints: Vec<CheckpointSize>,
    pub checkpoint_count: u64,
    pub checkpoint_bytes: u64,
    pub checkpoint_objects: u64,
    /// Loose `*-0000i-of-0000n.safetensors` files, by stem.
    pub shards: BTreeMap<String, (Tally, Option<i64>)>,
    /// Evidence for content-recognised layouts, from direct children.
    pub has_dcp: bool,
    pub has_success: bool,
    pub has_shard: bool,
}

impl DirState {
    fn new(path: String, inside_checkpoint: bool) -> Self {
        let named = !path.is_empty() && named_dir(&path).is_some();
        DirState { path, inside_checkpoint, named, ..DirState::default() }
    }

    /// True when checkpoints found directly inside belong to an enclosing checkpoint, not a run.
    fn claimed(&self) -> bool {
        self.inside_checkpoint || self.named
    }

    fn add_checkpoint(&mut self, c: CheckpointSize) {
        self.checkpoint_count += 1;
        self.checkpoint_bytes += c.bytes;
        self.checkpoint_objects += c.objects;
        if self.checkpoints.len() < MAX_CHECKPOINTS_PER_RUN {
            self.checkpoints.push(c);
        }
    }

    fn merge(&mut self, o: DirState) {
        self.tally.merge(&o.tally);
        self.newest = self.newest.max(o.newest);
        self.inside_checkpoint |= o.inside_checkpoint;
        self.checkpoint_count += o.checkpoint_count;
        self.checkpoint_bytes += o.checkpoint_bytes;
        self.checkpoint_objects += o.checkpoint_objects;
        let room = MAX_CHECKPOINTS_PER_RUN.saturating_sub(self.checkpoints.len());
        self.checkpoints.extend(o.checkpoints.into_iter().take(room));
        for (stem, (t, newest)) in o.shards {
            let slot = self.shards.entry(stem).or_default();
            slot.0.merge(&t);
            slot.1 = slot.1.max(newest);
        }
        self.has_dcp |= o.has_dcp;
        self.has_success |= o.has_success;
        self.has_shard |= o.has_shard;
    }
}

/// What closing directories produces: runs and the largest directories.
#[derive(Debug)]
pub struct RunsOut {
    pub runs: HashMap<String, RunGroup>,
    pub runs_overflow: u64,
    pub largest_dirs: TopK<String>,
    /// Directory totals keyed by path, for [`largest_dirs`](Self::largest_dirs) (kept as `Group`s later).
    pub dir_tally: HashMap<String, Tally>,
}

impl RunsOut {
    pub fn new(top_n: usize) -> Self {
        RunsOut { runs: HashMap::new(), runs_overflow: 0, largest_dirs: TopK::new(top_n), dir_tally: HashMap::new() }
    }

    fn add_run(&mut self, run: RunGroup) {
        if let Some(r) = self.runs.get_mut(&run.run) {
            merge_run(r, run);
        } else if self.runs.len() < MAX_RUNS {
            self.runs.insert(run.run.clone(), run);
        } else {
            self.runs_overflow += 1;
        }
    }

    /// Offers a closed directory to the largest-directories list (keeping its tally only while
    /// it is in the list, so memory stays O(top N)).
    fn offer_dir(&mut self, path: &str, tally: &Tally) {
        if path.is_empty() {
            return;
        }
        let bytes = tally.bytes();
        let mut inserted = false;
        self.largest_dirs.offer_tied(bytes, |kept| path < kept.as_str(), || {
            inserted = true;
            path.to_string()
        });
        if inserted {
            self.dir_tally.insert(path.to_string(), tally.clone());
            if self.dir_tally.len() > 4 * self.largest_dirs.capacity().max(16) {
                let keep: std::collections::HashSet<&String> = self.largest_dirs.items().collect();
                self.dir_tally.retain(|k, _| keep.contains(k));
            }
        }
    }

    pub fn merge(&mut self, o: RunsOut) {
        for (_, r) in o.runs {
            self.add_run(r);
        }
        self.runs_overflow += o.runs_overflow;
        for (_, path) in o.largest_dirs.into_sorted() {
            if let Some(t) = o.dir_tally.get(&path) {
                self.offer_dir(&path, t);
            }
        }
    }

    /// The largest directories as groups, largest first.
    pub fn largest_prefixes(&self) -> Vec<Group> {
        self.largest_dirs.clone().into_sorted().into_iter().filter_map(|(_, p)| self.dir_tally.get(&p).map(|t| t.group(&p))).collect()
    }
}

fn merge_run(r: &mut RunGroup, o: RunGroup) {
    let mut t = Tally { classes: r.total.classes.clone() };
    t.merge(&Tally { classes: o.total.classes });
    r.total = t.group(&r.run);
    r.checkpoints += o.checkpoints;
    r.checkpoint_bytes += o.checkpoint_bytes;
    r.checkpoint_objects += o.checkpoint_objects;
    // A checkpoint split across two units (e.g. two inventory data files) is one checkpoint.
    for c in o.checkpoint_sizes {
        let room = r.checkpoint_sizes.len() < MAX_CHECKPOINTS_PER_RUN;
        match r.checkpoint_sizes.iter_mut().find(|x| x.id == c.id) {
            Some(x) => {
                x.objects += c.objects;
                x.bytes += c.bytes;
                x.last_modified = x.last_modified.max(c.last_modified);
                r.checkpoints -= 1;
            }
            None if room => r.checkpoint_sizes.push(c),
            None => {}
        }
    }
    r.checkpoint_sizes.sort_by(|a, b| a.step.cmp(&b.step).then_with(|| a.id.cmp(&b.id)));
    r.last_modified = r.last_modified.max(o.last_modified);
}

/// Walks the keys of one listing unit in key order.
pub struct Walker {
    /// Open directories, outermost first; `stack[0]` is the location (`""`).
    stack: Vec<DirState>,
    /// How many stack entries are the unit's root and its ancestors (left open at the end).
    pinned: usize,
    pub out: RunsOut,
}

impl Walker {
    /// A walker for the unit rooted at `unit_root` (relative, `""` or ending in `/`).
    pub fn new(unit_root: &str, top_n: usize) -> Self {
        let mut w = Walker { stack: vec![DirState::new(String::new(), false)], pinned: 1, out: RunsOut::new(top_n) };
        for d in dir_prefixes(unit_root) {
            w.push(d.to_string());
        }
        w.pinned = w.stack.len();
        w
    }

    fn push(&mut self, path: String) {
        let inside = self.stack.last().is_some_and(DirState::claimed);
        self.stack.push(DirState::new(path, inside));
    }

    /// Adds one object (`rel` relative to the location). Keys must come in listing order within
    /// the unit; a key out of order only splits a directory's sums (closing it twice merges by path).
    pub fn add(&mut self, rel: &str, size: u64, mtime: Option<i64>, storage_class: &str) {
        let (dir, name) = split_dir(rel);
        while self.stack.len() > self.pinned && !dir.starts_with(self.stack.last().unwrap().path.as_str()) {
            self.close_top();
        }
        let open = self.stack.last().unwrap().path.len();
        for d in dir_prefixes(dir).into_iter().filter(|d| d.len() > open) {
            self.push(d.to_string());
        }
        for s in self.stack.iter_mut() {
            s.tally.add(storage_class, size);
            s.newest = s.newest.max(mtime);
        }
        let parent = self.stack.last_mut().unwrap();
        if parent.path != dir {
            // A key outside the pinned unit root: count it, never classify it against the wrong directory.
            return;
        }
        classify_file(parent, rel, name, size, mtime, storage_class);
    }

    fn close_top(&mut self) {
        let d = self.stack.pop().unwrap();
        let parent = self.stack.last_mut().unwrap();
        close_into(d, Some(parent), &mut self.out, false);
    }

    /// Closes everything below the unit root; returns the unit root and its ancestors, open.
    pub fn finish(mut self) -> (Vec<DirState>, RunsOut) {
        while self.stack.len() > self.pinned {
            self.close_top();
        }
        (self.stack, self.out)
    }
}

/// A file that is itself a checkpoint (or a shard of one), counted in its directory.
fn classify_file(parent: &mut DirState, rel: &str, name: &str, size: u64, mtime: Option<i64>, storage_class: &str) {
    if name == ".metadata" || name.ends_with(".distcp") {
        parent.has_dcp = true;
    }
    if name == "_SUCCESS" {
        parent.has_success = true;
    }
    if parent.claimed() {
        return;
    }
    let single = |layout: Layout, step: Option<u64>| CheckpointSize { id: rel.to_string(), layout: layout_name(layout), step, objects: 1, bytes: size, last_modified: mtime };
    if let Some(stem) = name.strip_suffix(".ckpt") {
        parent.add_checkpoint(single(Layout::Lightning, lightning_step(stem)));
    } else if let Some(c) = step_file().captures(name) {
        let n = c[2].parse().ok();
        parent.add_checkpoint(single(Layout::StepFile, n));
    } else if let Some(c) = shard_file().captures(name) {
        parent.has_shard = true;
        let slot = parent.shards.entry(c[1].to_string()).or_default();
        slot.0.add(storage_class, size);
        slot.1 = slot.1.max(mtime);
    }
}

fn lightning_step(stem: &str) -> Option<u64> {
    stem.split('-').find_map(|p| p.strip_prefix("step=")).and_then(|s| s.parse().ok())
}

/// Closes directory `d`: a checkpoint of its parent, a run, or neither; offers it to the largest
/// directories. `parent` is `None` for the location itself.
fn close_into(mut d: DirState, parent: Option<&mut DirState>, out: &mut RunsOut, _root: bool) {
    out.offer_dir(&d.path, &d.tally);
    let layout = if d.path.is_empty() { None } else { dir_layout(&d) };
    if let (Some((layout, step)), Some(p)) = (layout, parent.as_deref()) {
        if !p.claimed() {
            let c = CheckpointSize {
                id: d.path.clone(),
                layout: layout_name(layout),
                step,
                objects: d.tally.objects(),
                bytes: d.tally.bytes(),
                last_modified: d.newest,
            };
            let p = parent.unwrap();
            p.add_checkpoint(c);
            return;
        }
    }
    if layout.is_none() && !d.inside_checkpoint {
        let dir = d.path.clone();
        for (stem, (t, newest)) in std::mem::take(&mut d.shards) {
            d.add_checkpoint(CheckpointSize {
                id: format!("{dir}{stem}-*.safetensors"),
                layout: layout_name(Layout::ShardedSafetensors),
                step: None,
                objects: t.objects(),
                bytes: t.bytes(),
                last_modified: newest,
            });
        }
        if d.checkpoint_count > 0 {
            out.add_run(run_group(d));
        }
    }
}

fn run_group(mut d: DirState) -> RunGroup {
    d.checkpoints.sort_by(|a, b| a.step.cmp(&b.step).then_with(|| a.id.cmp(&b.id)));
    // Lightning keeps its `.ckpt` files in `<run>/checkpoints/` next to `lightning_logs/`: the run
    // is the folder holding both (as `checkpoint list` and the app name it).
    let lightning = layout_name(Layout::Lightning);
    if dir_name(&d.path) == "checkpoints" && d.checkpoints.iter().all(|c| c.layout == lightning) {
        d.path = split_dir(d.path.trim_end_matches('/')).0.to_string();
    }
    RunGroup {
        total: d.tally.group(&d.path),
        run: d.path,
        checkpoints: d.checkpoint_count,
        checkpoint_bytes: d.checkpoint_bytes,
        checkpoint_objects: d.checkpoint_objects,
        checkpoint_sizes: d.checkpoints,
        last_modified: d.newest,
        datasets: Vec::new(),
    }
}

/// The layout a closed directory is a checkpoint of: by its name (HF, DeepSpeed, Megatron) or by
/// its direct children (DCP files; `_SUCCESS` or shards in a step-named directory).
fn dir_layout(d: &DirState) -> Option<(Layout, Option<u64>)> {
    if let Some((l, step)) = named_dir(&d.path) {
        return Some((l, Some(step)));
    }
    let name = dir_name(&d.path);
    let step = last_number(name);
    if d.has_dcp {
        return Some((Layout::TorchDcp, step));
    }
    if step_like(name) && d.has_success {
        return Some((Layout::SuccessMarker, step));
    }
    (step_like(name) && d.has_shard).then_some((Layout::ShardedSafetensors, step))
}

/// Open directories left by many walkers, merged by path and closed deepest first.
#[derive(Default)]
pub struct Partials {
    dirs: HashMap<String, DirState>,
}

impl Partials {
    pub fn add(&mut self, states: Vec<DirState>) {
        for s in states {
            match self.dirs.get_mut(&s.path) {
                Some(d) => d.merge(s),
                None => {
                    self.dirs.insert(s.path.clone(), s);
                }
            }
        }
    }

    /// Takes over another set of open directories.
    pub fn add_all(&mut self, other: Partials) {
        self.add(other.dirs.into_values().collect());
    }

    /// Closes every open directory, deepest first, into `out` (the location itself last).
    pub fn close(mut self, out: &mut RunsOut) {
        let mut paths: Vec<String> = self.dirs.keys().cloned().collect();
        paths.sort_by_key(|p| std::cmp::Reverse((p.matches('/').count(), p.clone())));
        for path in paths {
            let Some(d) = self.dirs.remove(&path) else { continue };
            if path.is_empty() {
                close_into(d, None, out, true);
                continue;
            }
            let parent_path = split_dir(path.trim_end_matches('/')).0.to_string();
            let parent = self.dirs.entry(parent_path.clone()).or_insert_with(|| DirState::new(parent_path, false));
            close_into(d, Some(parent), out, false);
        }
    }
}

/// snake_case name of a layout, as `checkpoint list --json` writes it.
pub fn layout_name(l: Layout) -> String {
    serde_json::to_value(l).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}


fn dir_prefixes(path: &str) -> Vec<&str> {
    path.match_indices('/').map(|(i, _)| &path[..=i]).collect()
}

fn dir_name(prefix: &str) -> &str {
    split_dir(prefix.trim_end_matches('/')).1
}
