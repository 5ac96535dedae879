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

/// Creates and fills `bucket` unless it exists already. With the store's folder (`data_dir`, the
/// embedded server keeps each object as a file and reports its time), every object is dated as a
/// real bucket's would be: the finished runs days and hours ago, the live run minutes ago — so a
/// first `checkpoint list` shows complete checkpoints, one crashed save as abandoned, and only
/// the simulated trainer's newest checkpoint in flight.
pub async fn seed_bucket(client: &Client, bucket: &str, data_dir: Option<&std::path::Path>) -> Result<SeedSummary> {
    let live = "runs/gpt2-live/".to_string();
    if client.head_bucket().bucket(bucket).send().await.is_ok() {
        let next = next_live_step(client, bucket, &live).await;
        return Ok(SeedSummary { bucket: bucket.into(), objects: 0, bytes: 0, live_run_prefix: live, live_run_next_step: next, seeded: false });
    }
    client.create_bucket().bucket(bucket).send().await.map_err(|e| Error::Internal(format!("demo: create bucket: {e:?}")))?;
    let mut w = Writer::new(client, bucket);
    // A run finished two days ago, a checkpoint every ~50 minutes; then a save that crashed
    // (no trainer_state.json) and was never resumed: abandoned.
    // Its launcher recorded when it started and on what (the Runs view prices it).
    w.age = 2 * DAY + 2500 * 6 + 1800;
    let record = crate::dataset::gate::RunRecord {
        script: "train.py".into(),
        args: vec!["--model".into(), "llama-7b".into()],
        started: Some(crate::checkpoint::detect::now_secs() - w.age as i64),
        instance: Some("p4d.24xlarge".into()),
        count: Some(2),
        ..Default::default()
    };
    w.put("runs/llama-7b-sft/trainctl-run.json", serde_json::to_vec_pretty(&record).unwrap_or_default()).await?;
    seed_hf_run(&mut w, "runs/llama-7b-sft/", &[500, 1000, 1500, 2000, 2500, 3000], 3000, |step| 2 * DAY + (3000 - step.min(3000)) * 6).await?;
    w.age = 2 * DAY - 3000;
    write_crashed_hf_checkpoint(&mut w, "runs/llama-7b-sft/", 3500).await?;
    seed_lightning_run(&mut w, "runs/resnet50-lightning/").await?;
    // The live run: its seeded checkpoints a few minutes old, older than the 60 s grace window.
    seed_hf_run(&mut w, &live, &[100, 200, 300], 20_000, |step| 70 + (300 - step.min(300)) * 2 / 5).await?;
    w.age = 30 * DAY;
    seed_dataset(&mut w, "datasets/imagenet-mini/").await?;
    if let Some(dir) = data_dir {
        backdate(&dir.join(bucket), &w.ages);
    }
    Ok(SeedSummary { bucket: bucket.into(), objects: w.objects, bytes: w.bytes, live_run_prefix: live, live_run_next_step: 400, seeded: true })
}

const DAY: u64 = 86_400;

pub(super) struct Writer<'a> {
    pub client: &'a Client,
    pub bucket: &'a str,
    pub objects: u64,
    pub bytes: u64,
    /// Seconds before now that the next objects are dated (seeding only).
    pub age: u64,
    /// Every key written with its age.
    pub ages: Vec<(String, u64)>,
}

impl<'a> Writer<'a> {
    pub fn new(client: &'a Client, bucket: &'a str) -> Self {
        Writer { client, bucket, objects: 0, bytes: 0, age: 0, ages: Vec::new() }
    }

    pub async fn put(&mut self, key: &str, body: Vec<u8>) -> Result<()> {
        self.bytes += body.len() as u64;
        self.objects += 1;
        self.ages.push((key.to_string(), self.age));
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

/// Dates each seeded object's file (the embedded store reports a file's time as LastModified).
/// Best effort: a file that cannot be dated keeps "now", which only makes it look fresher.
fn backdate(bucket_dir: &std::path::Path, ages: &[(String, u64)]) {
    let now = std::time::SystemTime::now();
    for (key, age) in ages {
        let when = now - std::time::Duration::from_secs(*age);
        if let Ok(f) = std::fs::File::options().write(true).open(bucket_dir.join(key)) {
            let _ = f.set_modified(when);
        }
    }
}

/// A Trainer checkpoint whose save crashed: weights, optimizer and arguments, no trainer_state.json.
async fn write_crashed_hf_checkpoint(w: &mut Writer<'_>, run: &str, step: u64) -> Result<()> {
    let dir = format!("{run}checkpoint-{step}/");
    w.put(&format!("{dir}config.json"), br#"{"architectures":["LlamaForCausalLM"],"hidden_size":4096,"num_hidden_layers":32}"#.to_vec()).await?;
    w.put(&format!("{dir}model.safetensors"), filler(step, 3 * MIB)).await?;
    w.put(&format!("{dir}training_args.bin"), filler(step + 4, 5 * KIB)).await?;
    w.put(&format!("{dir}optimizer.pt"), filler(step + 1, 2 * MIB)).await
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

async fn seed_hf_run(w: &mut Writer<'_>, run: &str, steps: &[u64], max_steps: u64, age_of: impl Fn(u64) -> u64) -> Result<()> {
    for &step in steps {
        w.age = age_of(step);
        write_hf_checkpoint(w, run, step, max_steps).await?;
    }
    let last = *steps.last().unwrap();
    w.put(&format!("{run}logs/train.log"), hf_log_lines(0, last).into_bytes()).await
}

/// A Lightning run that finished five hours ago, an epoch every 12 minutes. Its `metrics.csv`
/// rows of a checkpoint saved at global step N are logged at step N − 1, as Lightning does, and
/// `last.ckpt` holds the same bytes as the newest numbered checkpoint (`save_last=True`).
async fn seed_lightning_run(w: &mut Writer<'_>, run: &str) -> Result<()> {
    let mut csv = String::from("epoch,step,train_loss,val_loss\n");
    let age_of = |epoch: u64| 5 * 3600 + (9 - epoch) * 720;
    for epoch in 0..10u64 {
        let step = (epoch + 1) * 390;
        let val = loss_at(step * 3) * 0.4;
        csv.push_str(&format!("{epoch},{},{:.4},\n{epoch},{},,{val:.4}\n", step - 1, loss_at(step * 3) * 0.45, step - 1));
        if epoch % 2 == 1 || epoch >= 7 {
            w.age = age_of(epoch);
            w.put(&format!("{run}checkpoints/epoch={epoch}-step={step}.ckpt"), filler(10_000 + epoch, 3 * MIB / 2)).await?;
        }
    }
    w.age = age_of(8);
    w.put(&format!("{run}checkpoints/epoch=8-val_loss=0.21.ckpt"), filler(20_000, 3 * MIB / 2)).await?;
    w.age = age_of(9);
    w.put(&format!("{run}checkpoints/last.ckpt"), filler(10_009, 3 * MIB / 2)).await?;
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

/// Two versions of the demo dataset (v2 adds a shard) with their manifests in the bucket, and
/// the training gate's record of the Lightning run naming v2 — so the Datasets view has a diff
/// to show and the Runs view and `s3 review --detailed` say which data a run trained on.
/// Through the real snapshot path (the manifests are what `trainctl dataset snapshot` writes).
pub(super) async fn seed_dataset_versions(conn: &crate::s3::Connection, summary: &mut SeedSummary, data_dir: &std::path::Path) -> Result<()> {
    use crate::dataset::{self, gate, Source, Store};
    let (prefix, name) = ("datasets/imagenet-mini/", "imagenet-mini");
    let store = Store::default_for(&summary.bucket);
    let src = Source::S3(crate::s3::S3Url { bucket: summary.bucket.clone(), key: prefix.into() });
    let sink = crate::event::NullSink;
    let v1 = dataset::snapshot(Some(conn), &src, &store, name, Some("v1"), &sink).await?;
    let mut w = Writer::new(&conn.client, &summary.bucket);
    w.age = 20 * DAY;
    w.put(&format!("{prefix}train-00008.tar"), filler(30_008, 4 * MIB)).await?;
    let v2 = dataset::snapshot(Some(conn), &src, &store, name, Some("v2"), &sink).await?;
    let record = gate::RunRecord {
        script: "train_resnet.py".into(),
        args: vec!["--data".into(), "/nvme/data/imagenet-mini".into(), "--max-epochs".into(), "10".into()],
        git_commit: Some("3f9c2d1e8b7a6c5d4e3f2a1b0c9d8e7f6a5b4c3d".into()),
        started: Some(crate::checkpoint::detect::now_secs() - 6 * DAY as i64),
        datasets: vec![gate::DatasetUse { dataset: v2.header.reference(), digest: v2.header.digest.clone(), dir: "/nvme/data/imagenet-mini".into() }],
        ..gate::RunRecord::default()
    };
    let body = serde_json::to_vec_pretty(&record).map_err(|e| Error::Internal(e.to_string()))?;
    // Dated when the run started, as `trainctl local` writes it (a fresh date would make the
    // finished run look active).
    w.age = 6 * DAY;
    w.put(&format!("runs/resnet50-lightning/{}", gate::RUN_RECORD), body).await?;
    backdate(&data_dir.join(&summary.bucket), &w.ages);
    let manifests = [v1.manifest_len, v2.manifest_len];
    summary.objects += w.objects + manifests.len() as u64;
    summary.bytes += w.bytes + manifests.iter().sum::<u64>();
    Ok(())
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
