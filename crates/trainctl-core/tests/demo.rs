//! The embedded demo serves real S3 over HTTP, seeds a realistic layout and its simulated trainer
//! writes complete checkpoints (trainer_state.json last).

use std::time::Duration;
use trainctl_core::demo::{Demo, DemoOptions, DEMO_BUCKET};

async fn keys(client: &aws_sdk_s3::Client, prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut pages = client.list_objects_v2().bucket(DEMO_BUCKET).prefix(prefix).into_paginator().send();
    while let Some(page) = pages.next().await {
        out.extend(page.unwrap().contents().iter().filter_map(|o| o.key().map(String::from)));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_seeds_runs_checkpoints_logs_and_a_dataset() {
    let demo = Demo::start(DemoOptions { checkpoint_every: None, ..Default::default() }).await.unwrap();
    assert!(demo.seed.seeded);
    let client = demo.server.client();
    let all = keys(&client, "").await;
    assert_eq!(all.len() as u64, demo.seed.objects);
    for expected in [
        "runs/llama-7b-sft/checkpoint-3000/trainer_state.json",
        "runs/llama-7b-sft/checkpoint-500/model.safetensors",
        "runs/llama-7b-sft/logs/train.log",
        "runs/resnet50-lightning/checkpoints/epoch=9-step=3899.ckpt",
        "runs/resnet50-lightning/checkpoints/last.ckpt",
        "runs/resnet50-lightning/lightning_logs/version_0/metrics.csv",
        "datasets/imagenet-mini/train-00000.tar",
    ] {
        assert!(all.iter().any(|k| k == expected), "missing {expected} in {all:?}");
    }
    let state = client.get_object().bucket(DEMO_BUCKET).key("runs/llama-7b-sft/checkpoint-3000/trainer_state.json").send().await.unwrap();
    let state: serde_json::Value = serde_json::from_slice(&state.body.collect().await.unwrap().into_bytes()).unwrap();
    assert_eq!(state["global_step"], 3000);
    assert!(state["log_history"].as_array().unwrap().iter().any(|e| e.get("loss").is_some()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_trainer_writes_a_new_complete_checkpoint() {
    let demo = Demo::start(DemoOptions { checkpoint_every: Some(Duration::from_millis(300)), ..Default::default() }).await.unwrap();
    let client = demo.server.client();
    let next = format!("{}checkpoint-{}/trainer_state.json", demo.seed.live_run_prefix, demo.seed.live_run_next_step);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        if keys(&client, &demo.seed.live_run_prefix).await.contains(&next) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "trainer did not write {next}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    demo.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_rejects_wrong_credentials() {
    let demo = Demo::start(DemoOptions { checkpoint_every: None, ..Default::default() }).await.unwrap();
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .endpoint_url(demo.server.endpoint_url())
        .credentials_provider(aws_sdk_s3::config::Credentials::new("trainctl-demo", "wrong", None, None, "t"))
        .force_path_style(true)
        .build();
    let bad = aws_sdk_s3::Client::from_conf(conf);
    assert!(bad.list_objects_v2().bucket(DEMO_BUCKET).send().await.is_err());
}
