//! What a checkpoint is, independent of where it lives: the values discovery produces, retention
//! plans over, the CLI prints and the desktop view draws.

use serde::Serialize;
use std::collections::BTreeMap;

/// One file of a listing (a local walk or an S3 listing) relative to the listed root, with `/`
/// separators. Detection works on these alone, so local and S3 discovery share one code path.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct FileEntry {
    /// Path relative to the root, `/`-separated (`run1/checkpoint-100/model.safetensors`).
    pub path: String,
    pub size: u64,
    /// Seconds since the Unix epoch, when known.
    pub mtime: Option<i64>,
}

/// Which framework's layout a checkpoint was recognised by; decides how completeness is judged.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Layout {
    /// Hugging Face Trainer `checkpoint-<step>/` (complete once `trainer_state.json` exists).
    HfTrainer,
    /// A `save_pretrained` folder named `checkpoint-<step>/` without the Trainer's files (no
    /// optimizer, scheduler, rng state or training args): complete when its weights are all there
    /// (every shard its index names, or the single weights file).
    HfPretrained,
    /// PyTorch Lightning `*.ckpt` files (`epoch=E-step=S.ckpt`, `last.ckpt`, metric names).
    Lightning,
    /// DeepSpeed `global_step<N>/`, judged against the `latest` file.
    DeepSpeed,
    /// Megatron-LM `iter_<N>/`, judged against `latest_checkpointed_iteration.txt`.
    Megatron,
    /// torch.distributed.checkpoint directory (`.metadata` + `__<rank>_<n>.distcp`).
    TorchDcp,
    /// A single `step_<N>.pt` / `.safetensors` file.
    StepFile,
    /// `model-0000x-of-0000y.safetensors` shards (+ index JSON).
    ShardedSafetensors,
    /// A directory whose siblings carry a `_SUCCESS` marker.
    SuccessMarker,
    /// Matched by the user's `--pattern`.
    Pattern,
}

/// Whether a checkpoint can be trusted as finished, from the layout's own evidence.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Completeness {
    Complete,
    /// Missing its last-written file, a shard, a marker, or still being written.
    Incomplete { reason: String },
    /// Incomplete, and nothing was written to it for longer than the abandoned-after window with
    /// no writer in sight (on S3: no multipart upload into it): a save that crashed. Kept like
    /// any incomplete checkpoint unless the user asks to delete abandoned ones.
    Abandoned { reason: String },
}

impl Completeness {
    pub fn is_complete(&self) -> bool {
        matches!(self, Completeness::Complete)
    }

    pub fn is_abandoned(&self) -> bool {
        matches!(self, Completeness::Abandoned { .. })
    }

    /// `complete`, `incomplete` or `abandoned` (as serialized in `state`).
    pub fn state(&self) -> &'static str {
        match self {
            Completeness::Complete => "complete",
            Completeness::Incomplete { .. } => "incomplete",
            Completeness::Abandoned { .. } => "abandoned",
        }
    }
}

/// An epoch (HF epochs are fractional: 2.5) ordered totally, for "newest" orderings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpochKey(pub f64);

impl Eq for EpochKey {}

impl PartialOrd for EpochKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for EpochKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// One checkpoint: a directory prefix (`run1/checkpoint-100/`) or a file (`run1/last.ckpt`).
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Checkpoint {
    /// The run (the checkpoint's parent directory relative to the root; `""` for the root).
    pub run: String,
    /// Unique within a listing: the relative path; directories end with `/`.
    pub id: String,
    pub layout: Layout,
    pub step: Option<u64>,
    /// Fractional for HF (`2.5` after two and a half epochs), whole for Lightning.
    pub epoch: Option<f64>,
    /// Exactly as the framework wrote them (round-trip float parsing).
    pub metrics: BTreeMap<String, f64>,
    pub files: Vec<FileEntry>,
    pub bytes: u64,
    /// Newest mtime of its files (seconds since the Unix epoch).
    pub last_modified: Option<i64>,
    pub complete: Completeness,
    /// Set when the framework itself relies on this checkpoint (Lightning `last.ckpt`, the HF
    /// Trainer's `best_model_checkpoint`): retention always keeps it, with this reason.
    pub framework_keep: Option<String>,
    /// A Lightning `last.ckpt` has no step in its name (it lives inside the file): when it is
    /// byte-identical to a numbered checkpoint of its run (a link, a copy, the same ETag on S3),
    /// that checkpoint's id.
    pub same_as: Option<String>,
}

impl Checkpoint {
    /// True when the id names a directory (deleting it removes everything below).
    pub fn is_dir(&self) -> bool {
        self.id.ends_with('/')
    }

    /// Why it is incomplete, if it is.
    pub fn complete_reason(&self) -> Option<&str> {
        match &self.complete {
            Completeness::Complete => None,
            Completeness::Incomplete { reason } | Completeness::Abandoned { reason } => Some(reason),
        }
    }

    /// Ordering key for "newest": step (or epoch), then modification time.
    pub fn order_key(&self) -> (Option<u64>, Option<EpochKey>, Option<i64>) {
        (self.step, self.epoch.map(EpochKey), self.last_modified)
    }
}

/// The checkpoints of one run, oldest first.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Run {
    pub name: String,
    pub checkpoints: Vec<Checkpoint>,
}

/// Reads the contents of one listed file (relative path) or `None` when unavailable.
pub type Fetch<'a> = &'a dyn Fn(&str) -> Option<Vec<u8>>;

/// `a/b/c.bin` → (`a/b/`, `c.bin`); `c.bin` → (``, `c.bin`).
pub fn split_dir(path: &str) -> (&str, &str) {
    match path.rfind('/') {
        Some(i) => (&path[..=i], &path[i + 1..]),
        None => ("", path),
    }
}
