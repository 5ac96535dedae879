//! Seeds the demo bucket with what a researcher's bucket really looks like: an HF Trainer run
//! with `checkpoint-N/` directories, a Lightning run with `.ckpt` files and a CSVLogger, a live run
//! the simulated trainer extends, and a dataset prefix. Contents are deterministic filler; the
//! metadata files (trainer_state.json, metrics.csv, logs) are real-format with real-looking values.

use crate::error::{Error, Result};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;

const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;

/// What the seed wrote, and where the live run continues.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SeedSummary {
    pub bucket: String,
    pub objects: u64,
    pub bytes: u64,
    pub live_run_prefix: String,
    pub live_run_next_step: u64,
    /// False when the bucket already existed (a persistent demo folder) and was left as is.
    pub seeded: bool,
}

/// Creates and fills `bucket` unless it exists already.
pub async fn seed_bucket(client: &Client, bucket: &str) -> Result<SeedSummary> {
    let live = "runs/gpt2-live/".to_string();
    if client.head_bucket().bucket(bucket).send().await.is_ok() {
        let next = next_live_step(client, bucket, &live).await;
        return Ok(SeedSummary { bucket: bucket.into(), objects: 0, bytes: 0, live_run_prefix: live, live_run_next_step: next, seeded: false });
    }
    client.create_bucket().bucket(bucket).send().await.map_err(|e| Error::Internal(format!("demo: create bucket: {e:?}")))?;
    let mut w = Writer { client, bucket, objects: 0, bytes: 0 };
    seed_hf_run(&mut w, "runs/llama-7b-sft/", &[500, 1000, 1500, 2000, 2500, 3000], 3000).await?;
    seed_lightning_run(&mut w, "runs/resnet50-lightning/").await?;
    seed_hf_run(&mut w, &live, &[100, 200, 300], 20_000).await?;
    seed_dataset(&mut w, "datasets/imagenet-mini/").await?;
    Ok(SeedSummary { bucket: bucket.into(), objects: w.objects, bytes: w.bytes, live_run_prefix: live, live_run_next_step: 400, seeded: true })
}

pub(super) struct Writer<'a> {
    pub client: &'a Client,
    pub bucket: &'a str,
    pub objects: u64,
    pub bytes: u64,
}

impl Writer<'_> {
    pub async fn put(&mut self, key: &str, body: Vec<u8>) -> Result<()> {
        self.bytes += body.len() as u64;
        self.objects += 1;
        self.client
            .put_object()
            .bucket(self.bucket)
            .key(key)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| Error::Internal(format!("demo: put {key}: {e:?}")))?;
        Ok(())
    }
}

/// Deterministic filler bytes (xorshift), so sizes are real and content is not all zeros.
pub(super) fn filler(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A plausible loss curve: decays with noise.
pub(super) fn loss_at(step: u64) -> f64 {
    let s = step as f64;
    let noise = ((s * 12.9898).sin() * 43758.5453).fract() * 0.04;
    2.8 * (-s / 2500.0).exp() + 0.35 + noise
}

/// Writes one HF Trainer checkpoint; `trainer_state.json` last, as the Trainer does.
pub(super) async fn write_hf_checkpoint(w: &mut Writer<'_>, run: &str, step: u64, max_steps: u64) -> Result<()> {
    let dir = format!("{run}checkpoint-{step}/");
    w.put(&format!("{dir}config.json"), br#"{"architectures":["LlamaForCausalLM"],"hidden_size":4096,"num_hidden_layers":32}"#.to_vec()).await?;
    w.put(&format!("{dir}model.safetensors"), filler(step, 3 * MIB)).await?;
    w.put(&format!("{dir}optimizer.pt"), filler(step + 1, 2 * MIB)).await?;
    w.put(&format!("{dir}scheduler.pt"), filler(step + 2, KIB)).await?;
    w.put(&format!("{dir}rng_state.pth"), filler(step + 3, 14 * KIB)).await?;
    w.put(&format!("{dir}training_args.bin"), filler(step + 4, 5 * KIB)).await?;
    w.put(&format!("{dir}trainer_state.json"), trainer_state(step, max_steps).into_bytes()).await
}

fn trainer_state(step: u64, max_steps: u64) -> String {
    let history: Vec<serde_json::Value> = (1..=step / 50)
        .map(|i| i * 50)
        .map(|s| serde_json::json!({"epoch": s as f64 / 1000.0, "learning_rate": 2e-5, "loss": (loss_at(s) * 1e4).round() / 1e4, "step": s}))
        .chain((1..=step / 500).map(|i| i * 500).map(|s| serde_json::json!({"epoch": s as f64 / 1000.0, "eval_loss": ((loss_at(s) + 0.08) * 1e4).round() / 1e4, "step": s})))
        .collect();
    let best_step = (step / 500).max(1) * 500;
    serde_json::to_string_pretty(&serde_json::json!({
        "best_metric": loss_at(best_step) + 0.08,
        "best_model_checkpoint": format!("checkpoint-{best_step}"),
        "epoch": step as f64 / 1000.0,
        "global_step": step,
        "max_steps": max_steps,
        "log_history": history,
        "logging_steps": 50,
        "save_steps": 500,
    }))
    .unwrap()
}

/// HF-style log lines (`{'loss': …}`), plus a tqdm-like line, for the log follower.
pub(super) fn hf_log_lines(from: u64, to: u64) -> String {
    let mut s = String::new();
    let mut step = from - from % 50 + 50;
    while step <= to {
        s.push_str(&format!("{{'loss': {:.4}, 'grad_norm': 1.{:02}, 'learning_rate': 2e-05, 'epoch': {:.2}}}\n", loss_at(step), step % 97, step as f64 / 1000.0));
        step += 50;
    }
    s
}

async fn seed_hf_run(w: &mut Writer<'_>, run: &str, steps: &[u64], max_steps: u64) -> Result<()> {
    for &step in steps {
        write_hf_checkpoint(w, run, step, max_steps).await?;
    }
    let last = *steps.last().unwrap();
    w.put(&format!("{run}logs/train.log"), hf_log_lines(0, last).into_bytes()).await
}

async fn seed_lightning_run(w: &mut Writer<'_>, run: &str) -> Result<()> {
    let mut csv = String::from("epoch,step,train_loss,val_loss\n");
    for epoch in 0..10u64 {
        let step = (epoch + 1) * 390 - 1;
        let val = loss_at(step * 3) * 0.4;
        csv.push_str(&format!("{epoch},{step},{:.4},\n{epoch},{step},,{val:.4}\n", loss_at(step * 3) * 0.45));
        if epoch % 2 == 1 || epoch >= 7 {
            w.put(&format!("{run}checkpoints/epoch={epoch}-step={step}.ckpt"), filler(10_000 + epoch, 3 * MIB / 2)).await?;
        }
    }
    w.put(&format!("{run}checkpoints/epoch=8-val_loss=0.21.ckpt"), filler(20_000, 3 * MIB / 2)).await?;
    w.put(&format!("{run}checkpoints/last.ckpt"), filler(20_001, 3 * MIB / 2)).await?;
    w.put(&format!("{run}lightning_logs/version_0/metrics.csv"), csv.into_bytes()).await?;
    w.put(&format!("{run}lightning_logs/version_0/hparams.yaml"), b"lr: 0.1\nbatch_size: 256\nmax_epochs: 10\n".to_vec()).await
}

async fn seed_dataset(w: &mut Writer<'_>, prefix: &str) -> Result<()> {
    for i in 0..8u64 {
        w.put(&format!("{prefix}train-{i:05}.tar"), filler(30_000 + i, 4 * MIB)).await?;
    }
    w.put(&format!("{prefix}val-00000.tar"), filler(31_000, 2 * MIB)).await?;
    w.put(&format!("{prefix}README.md"), b"# imagenet-mini\nA 1000-class subset in WebDataset shards.\n".to_vec()).await
}

async fn next_live_step(client: &Client, bucket: &str, live: &str) -> u64 {
    let mut max = 0;
    if let Ok(out) = client.list_objects_v2().bucket(bucket).prefix(live).delimiter("/").send().await {
        for p in out.common_prefixes() {
            let step = p.prefix().and_then(|p| p.trim_end_matches('/').rsplit("checkpoint-").next()).and_then(|s| s.parse::<u64>().ok());
            max = max.max(step.unwrap_or(0));
        }
    }
    max + 100
}
