//! Subcommands. Each module parses its flags into a plain struct and calls the core.

pub mod checkpoint;
pub mod cost;
pub mod dataset;
pub mod dedup;
pub mod demo;
pub mod lifecycle;
pub mod object;
pub mod profile;
pub mod refs;
pub mod review;
pub mod runs;
pub mod s3;
pub mod sync;
pub mod transfer;
pub mod watch;

use crate::Globals;
use trainctl_core::Result;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Manage connection profiles (endpoints, regions, credential sources)
    #[command(subcommand)]
    Profile(profile::ProfileCmd),
    /// Move and list data on S3: upload, download, sync, ls
    #[command(subcommand)]
    S3(s3::S3Cmd),
    /// Find checkpoints in a directory or on S3 and clean them up by a retention policy
    #[command(subcommand)]
    Checkpoint(checkpoint::CheckpointCmd),
    /// What storage costs a month, by storage class, from a price table with its source and date
    #[command(subcommand)]
    Cost(cost::CostCmd),
    /// Serve a local demo S3 endpoint with a seeded training layout (no credentials needed)
    Demo(demo::DemoArgs),
    /// Follow a log as it grows (local file or S3 object)
    #[command(subcommand)]
    Logs(runs::LogsCmd),
    /// Metric series of a run (trainer_state.json, metrics.csv, a log) with sparklines
    Metrics(runs::MetricsArgs),
    /// Run a training script; upload its complete checkpoints once each; prune old ones
    Local(runs::LocalArgs),
    /// Dataset versions as manifests: snapshot, list, show, diff, verify, repair, stage
    #[command(subcommand)]
    Dataset(dataset::DatasetCmd),
}

/// Runs a command; returns the process exit code for successful runs.
pub async fn run(cmd: Command, globals: &Globals) -> Result<i32> {
    match cmd {
        Command::Profile(c) => profile::run(c, globals).await,
        Command::S3(c) => s3::run(c, globals).await,
        Command::Checkpoint(c) => checkpoint::run(c, globals).await,
        Command::Cost(c) => cost::run(c, globals).await,
        Command::Demo(a) => demo::run(a, globals).await,
        Command::Logs(c) => runs::logs(c, globals).await,
        Command::Metrics(a) => runs::metrics_cmd(a, globals).await,
        Command::Local(a) => runs::local_cmd(a, globals).await,
        Command::Dataset(c) => dataset::run(c, globals).await,
    }
}
