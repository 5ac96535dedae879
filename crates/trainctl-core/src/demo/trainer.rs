//! A simulated trainer for the demo: every `every`, it writes the next HF-style checkpoint of the
//! live run (weights first, `trainer_state.json` last, like the real Trainer) and appends log
//! lines, so watches, popups and run views have something live to show.

use super::seed::{hf_log_lines, write_hf_checkpoint, Writer};
use aws_sdk_s3::Client;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// What the simulated trainer writes and how often.
#[derive(Debug, Clone)]
pub struct TrainerOptions {
    pub bucket: String,
    pub run_prefix: String,
    pub start_step: u64,
    pub every: Duration,
    pub total_steps: u64,
}

/// Runs until cancelled or `total_steps` is reached; then writes a `_SUCCESS` marker.
pub async fn run_trainer(client: Client, opts: TrainerOptions, cancel: CancellationToken) {
    let mut step = opts.start_step;
    let mut log = hf_log_lines(0, opts.start_step.saturating_sub(100));
    while step <= opts.total_steps {
        tokio::select! {
            _ = tokio::time::sleep(opts.every) => {}
            _ = cancel.cancelled() => return,
        }
        let mut w = Writer::new(&client, &opts.bucket);
        if let Err(e) = write_hf_checkpoint(&mut w, &opts.run_prefix, step, opts.total_steps).await {
            tracing::warn!("demo trainer: {e}");
            continue;
        }
        log.push_str(&hf_log_lines(step.saturating_sub(100), step));
        let _ = w.put(&format!("{}logs/train.log", opts.run_prefix), log.clone().into_bytes()).await;
        step += 100;
    }
    let mut w = Writer::new(&client, &opts.bucket);
    let _ = w.put(&format!("{}_SUCCESS", opts.run_prefix), Vec::new()).await;
}
