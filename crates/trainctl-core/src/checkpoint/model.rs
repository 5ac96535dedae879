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
}

impl Completeness {
    pub fn is_complete(&self) -> bool {
        matches!(self, Completeness::Complete)
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
    pub epoch: Option<u64>,
    pub metrics: BTreeMap<String, f64>,
    pub files: Vec<FileEntry>,
    pub bytes: u64,
    /// Newest mtime of its files (seconds since the Unix epoch).
    pub last_modified: Option<i64>,
    pub complete: Completeness,
    /// Set when the framework itself relies on this checkpoint (Lightning `last.ckpt`, the HF
    /// Trainer's `best_model_checkpoint`): retention always keeps it, with this reason.
    pub framework_keep: Option<String>,
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
            Completeness::Incomplete { reason } => Some(reason),
        }
    }

    /// Ordering key for "newest": step (or epoch), then modification time.
    pub fn order_key(&self) -> (Option<u64>, Option<u64>, Option<i64>) {
        (self.step, self.epoch, self.last_modified)
    }
}

/// The checkpoints of one run, oldest first.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Run {
    pub name: String,
    pub checkpoints: Vec<Checkpoint>,
}
