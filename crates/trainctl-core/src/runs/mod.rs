//! Runs: what a training job says about itself while it runs.
//!
//! Why a module of its own: checkpoints tell *that* a run progresses, its logs tell *how*. Here
//! are the three pieces that read a run from outside without touching its code: [`follow`]
//! (tail a local file or a growing S3 object), [`metrics`] (series out of the formats trainers
//! really write) and [`local`] (run a script, stream its output, upload its checkpoints once each
//! as they complete and apply retention). [`status`] turns activity into running / finished /
//! stalled for the desktop Runs view. [`cost`] prices a run: its duration × an instance's hourly
//! price, plus its storage per month.

pub mod cost;
pub mod follow;
pub mod local;
pub mod metrics;
pub mod overview;
pub mod source;
pub mod status;

pub use follow::{follow, FollowOptions, FollowSource, FollowUpdate};
pub use metrics::{parse_metrics, LineParser, MetricsFormat, ParsedMetrics, Series, SeriesSummary};
