//! Checkpoints: discovery in real training layouts, retention plans, and deletion from a plan.
//!
//! Why a module of its own: no other tool knows what a checkpoint is. s5cmd sees keys, each
//! framework sees only its own files. Here one detector reads local walks and S3 listings alike
//! ([`detect`]), a policy turns runs into an explained plan ([`policy`]), and apply deletes exactly
//! that plan, refusing when the listing changed since ([`apply`]). [`dedup`] makes identical files
//! across checkpoints share their bytes (hard links or reflinks), from a plan shown first.

pub mod apply;
pub mod dedup;
pub mod dedup_apply;
pub mod detect;
pub mod inflight;
pub mod lightning_logs;
pub mod model;
pub mod pins;
pub mod pins_file;
pub mod policy;
pub mod source;

pub use apply::{apply, enforce, enforce_within, ApplyOutcome, Enforced};
pub use dedup::{plan_dedup, DedupGroup, DedupOptions, DedupPlan, Method as DedupMethod};
pub use dedup_apply::{apply_dedup, DedupOutcome};
pub use detect::{compile_pattern, detect, DetectOptions};
pub use model::{Checkpoint, Completeness, FileEntry, Layout, Run};
pub use policy::{plan_all, plan_retention, plan_within, Action, KeepBest, Mode, Plan, PlanItem, Policy};
pub use source::{discover, discover_listed, Discovery, Location};
