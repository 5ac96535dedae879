//! `trainctl demo`: serves the embedded demo S3 endpoint (seeded training layout + a simulated
//! trainer) so every command can be tried without credentials.

use crate::render::{self, Mode};
use crate::Globals;
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;
use trainctl_core::demo::{Demo, DemoOptions, DEMO_BUCKET};
use trainctl_core::Result;

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Port on 127.0.0.1 (0 = any free port)
    #[arg(long, default_value_t = 9123)]
    pub port: u16,
    /// Keep the demo's objects in this folder (default: a temp folder removed on exit)
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Seconds between the simulated trainer's checkpoints (0 = no trainer)
    #[arg(long, default_value_t = 20)]
    pub checkpoint_every: u64,
}

pub async fn run(a: DemoArgs, g: &Globals) -> Result<i32> {
    let every = (a.checkpoint_every > 0).then(|| Duration::from_secs(a.checkpoint_every));
    let demo = Demo::start(DemoOptions { data_dir: a.data_dir, port: a.port, checkpoint_every: every }).await?;
    let env = demo.env();
    match Mode::from_globals(g) {
        Mode::Json => render::print_json(&serde_json::json!({
            "endpoint_url": demo.server.endpoint_url(), "bucket": DEMO_BUCKET, "seed": demo.seed,
            "env": env.iter().map(|(k, v)| (k.clone(), v.clone())).collect::<std::collections::BTreeMap<_, _>>(),
        })),
        _ => {
            println!("trainctl demo: S3 endpoint {} with bucket s3://{DEMO_BUCKET}", demo.server.endpoint_url());
            if demo.seed.seeded {
                println!("seeded {} objects ({})", demo.seed.objects, render::bytes(demo.seed.bytes));
            }
            if let Some(e) = every {
                println!("a simulated trainer writes {}checkpoint-N/ every {}s", demo.seed.live_run_prefix, e.as_secs());
            }
            println!("\nIn another shell (these demo credentials are public and local-only):\n");
            for (k, v) in &env {
                println!("  export {k}={v}");
            }
            println!("\n  trainctl s3 ls s3://{DEMO_BUCKET}/runs/");
            println!("  trainctl s3 download s3://{DEMO_BUCKET}/runs/llama-7b-sft/checkpoint-3000/ ./ckpt --recursive");
            println!("  trainctl s3 upload ./ckpt s3://{DEMO_BUCKET}/uploads/ckpt/ --recursive");
            println!("\nCtrl-C stops the demo.");
        }
    }
    let _ = tokio::signal::ctrl_c().await;
    demo.stop();
    Ok(0)
}
