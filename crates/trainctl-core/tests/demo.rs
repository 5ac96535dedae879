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
        "runs/resnet50-lightning/checkpoints/epoch=9-step=3900.ckpt",
        "runs/resnet50-lightning/checkpoints/last.ckpt",
        "runs/resnet50-lightning/lightning_logs/version_0/metrics.csv",
        "datasets/imagenet-mini/train-00000.tar",
        "datasets/imagenet-mini/train-00008.tar",
        ".trainctl/datasets/imagenet-mini/v1.jsonl.zst",
        ".trainctl/datasets/imagenet-mini/v2.jsonl.zst",
        "runs/resnet50-lightning/trainctl-run.json",
    ] {
        assert!(all.iter().any(|k| k == expected), "missing {expected} in {all:?}");
    }
    let state = client.get_object().bucket(DEMO_BUCKET).key("runs/llama-7b-sft/checkpoint-3000/trainer_state.json").send().await.unwrap();
    let state: serde_json::Value = serde_json::from_slice(&state.body.collect().await.unwrap().into_bytes()).unwrap();
    assert_eq!(state["global_step"], 3000);
    assert!(state["log_history"].as_array().unwrap().iter().any(|e| e.get("loss").is_some()));
    // The Lightning run says which dataset version it trained on, as the Runs view reads it.
    let conn = trainctl_core::s3::Connection::with_keys(&trainctl_core::demo::profile(&demo.server.endpoint_url()), trainctl_core::demo::DEMO_ACCESS_KEY, trainctl_core::demo::DEMO_SECRET_KEY);
    let loc = trainctl_core::checkpoint::Location::S3(trainctl_core::s3::S3Url::parse(&format!("s3://{DEMO_BUCKET}/runs/")).unwrap());
    let runs = trainctl_core::runs::overview::list_runs(&loc, Some(&conn), trainctl_core::checkpoint::detect::now_secs()).await.unwrap();
    let lightning = runs.iter().find(|r| r.root == "resnet50-lightning").expect("the Lightning run");
    assert_eq!(lightning.record.as_ref().map(|r| r.dataset_refs()), Some(vec!["imagenet-mini@v2".to_string()]));
    let llama = runs.iter().find(|r| r.root == "llama-7b-sft").expect("the HF run");
    assert_eq!(llama.record.as_ref().map(|r| r.datasets.len()), Some(0), "its record names an instance, no dataset");
    assert!(runs.iter().find(|r| r.root == "gpt2-live").is_some_and(|r| r.record.is_none()));
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

/// A newcomer's first look (issue #16): right after the seed, with the CLI's default 60 s grace,
/// every seeded checkpoint is complete except the one crashed save (abandoned, days old); the
/// Lightning run is named by its folder, its metrics come from metrics.csv, and last.ckpt is the
/// same bytes as the newest numbered checkpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_checkpoints_carry_the_ages_of_a_real_run_from_the_first_look() {
    use trainctl_core::checkpoint::{self, DetectOptions, Location};
    let demo = Demo::start(DemoOptions { checkpoint_every: None, ..Default::default() }).await.unwrap();
    let profile = trainctl_core::demo::profile(&demo.server.endpoint_url());
    let conn = trainctl_core::s3::Connection::with_keys(&profile, trainctl_core::demo::DEMO_ACCESS_KEY, trainctl_core::demo::DEMO_SECRET_KEY);
    let loc = Location::parse("s3://demo-training/runs/").unwrap();
    let found = checkpoint::discover(&loc, Some(&conn), &DetectOptions::new()).await.unwrap();
    let all: Vec<&checkpoint::Checkpoint> = found.runs.iter().flat_map(|r| &r.checkpoints).collect();
    let not_complete: Vec<(&str, &str)> = all.iter().filter(|c| !c.complete.is_complete()).map(|c| (c.id.as_str(), c.complete.state())).collect();
    assert_eq!(not_complete, [("llama-7b-sft/checkpoint-3500/", "abandoned")]);
    let names: Vec<&str> = found.runs.iter().map(|r| r.name.as_str()).collect();
    assert!(names.contains(&"resnet50-lightning"), "{names:?}");
    let last = all.iter().find(|c| c.id == "resnet50-lightning/checkpoints/last.ckpt").unwrap();
    assert_eq!(last.same_as.as_deref(), Some("resnet50-lightning/checkpoints/epoch=9-step=3900.ckpt"));
    let e9 = all.iter().find(|c| c.id == "resnet50-lightning/checkpoints/epoch=9-step=3900.ckpt").unwrap();
    assert!(e9.metrics.contains_key("val_loss") && e9.metrics.contains_key("train_loss"), "{:?}", e9.metrics);
}

/// A demo killed without its destructor (SIGKILL) leaves its temp folder; the next demo removes
/// it, and never one whose server still runs (its lock is held) or a folder that is not a demo's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_demo_removes_the_temp_folders_of_killed_ones_only() {
    let tmp = std::env::temp_dir();
    let old = std::time::SystemTime::now() - Duration::from_secs(3600);
    let make = |name: &str| {
        let d = tmp.join(name);
        std::fs::create_dir_all(d.join("data/demo-training")).unwrap();
        let lock = std::fs::File::create(d.join("owner.lock")).unwrap();
        lock.set_modified(old).unwrap();
        (d, lock)
    };
    let pid = std::process::id();
    let (orphan, _) = make(&format!("trainctl-demo-orphan-{pid}"));
    let (alive, held) = make(&format!("trainctl-demo-alive-{pid}"));
    rustix::fs::flock(&held, rustix::fs::FlockOperation::NonBlockingLockExclusive).unwrap();
    let foreign = tmp.join(format!("trainctl-demo-foreign-{pid}"));
    std::fs::create_dir_all(&foreign).unwrap();
    let demo = Demo::start(DemoOptions { checkpoint_every: None, ..Default::default() }).await.unwrap();
    assert!(!orphan.exists(), "the killed demo's folder is removed");
    assert!(alive.exists(), "a running demo's folder stays");
    assert!(foreign.exists(), "a folder without an owner lock is not a demo's to remove");
    assert!(demo.server.data_dir().starts_with(&tmp));
    drop(demo);
    for d in [alive, foreign] {
        std::fs::remove_dir_all(d).unwrap();
    }
}
