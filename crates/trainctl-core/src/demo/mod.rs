//! The embedded demo: a real S3 endpoint inside the process (s3s over a local folder), seeded
//! with a realistic training layout, plus a simulated trainer that writes a new checkpoint every
//! ~20 s. It lets a researcher see every feature with no credentials (`trainctl demo`,
//! `trainctl-desktop --demo`), and gives the desktop e2e suite something live to watch.
//!
//! The demo credentials are fixed and public ([`DEMO_ACCESS_KEY`]): the server listens on
//! 127.0.0.1 only and holds generated data.

mod seed;
mod server;
mod trainer;

pub use seed::{seed_bucket, SeedSummary};
pub use server::DemoServer;
pub use trainer::{run_trainer, TrainerOptions};

use crate::error::Result;
use std::path::PathBuf;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Public, local-only credentials of the embedded demo server.
pub const DEMO_ACCESS_KEY: &str = "trainctl-demo";
pub const DEMO_SECRET_KEY: &str = "trainctl-demo-secret";
/// The bucket the demo seeds.
pub const DEMO_BUCKET: &str = "demo-training";
pub const DEMO_REGION: &str = "us-east-1";
/// The profile name the demo connection shows.
pub const DEMO_PROFILE: &str = "demo";
/// The demo's storage is priced as AWS S3 us-east-1: a local server has no prices of its own,
/// and a researcher trying cost commands on the demo should see real numbers, the same in the
/// CLI (`TRAINCTL_PRICES` from [`Demo::env`]) and the app ([`profile`]).
pub const DEMO_PRICES: &str = "aws/us-east-1";

/// The resolved profile of a connection to the demo at `endpoint_url` (its keys are public:
/// [`DEMO_ACCESS_KEY`]).
pub fn profile(endpoint_url: &str) -> crate::config::ResolvedProfile {
    crate::config::ResolvedProfile {
        name: DEMO_PROFILE.into(),
        provider: "other".into(),
        endpoint_url: Some(endpoint_url.to_string()),
        region: DEMO_REGION.into(),
        path_style: true,
        checksum_when_required: true,
        credentials: crate::config::CredentialSource::AwsChain,
        prices: Some(DEMO_PRICES.into()),
    }
}

/// How to start the demo.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Where the server keeps its objects; a fresh temp dir when `None`.
    pub data_dir: Option<PathBuf>,
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Seconds between simulated checkpoints; `None` disables the trainer.
    pub checkpoint_every: Option<Duration>,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions { data_dir: None, port: 0, checkpoint_every: Some(Duration::from_secs(20)) }
    }
}

/// A running demo: server + seeded bucket + (optionally) the simulated trainer.
pub struct Demo {
    pub server: DemoServer,
    pub seed: SeedSummary,
    cancel: CancellationToken,
}

impl Demo {
    /// Starts the server, seeds the bucket (skipped when it already exists in `data_dir`), and
    /// spawns the trainer.
    pub async fn start(opts: DemoOptions) -> Result<Demo> {
        let server = DemoServer::start(opts.data_dir.clone(), opts.port).await?;
        let client = server.client();
        let mut seed = seed_bucket(&client, DEMO_BUCKET, Some(server.data_dir())).await?;
        if seed.seeded {
            let conn = crate::s3::Connection::with_keys(&profile(&server.endpoint_url()), DEMO_ACCESS_KEY, DEMO_SECRET_KEY);
            seed::seed_dataset_versions(&conn, &mut seed, server.data_dir()).await?;
        }
        let cancel = CancellationToken::new();
        if let Some(every) = opts.checkpoint_every {
            let t = TrainerOptions { bucket: DEMO_BUCKET.into(), run_prefix: seed.live_run_prefix.clone(), start_step: seed.live_run_next_step, every, total_steps: 20_000 };
            tokio::spawn(run_trainer(client, t, cancel.clone()));
        }
        Ok(Demo { server, seed, cancel })
    }

    /// Environment that points AWS-chain tools (trainctl, s5cmd, aws-cli) at the demo, and
    /// trainctl's cost commands at the demo's price table.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID".into(), DEMO_ACCESS_KEY.into()),
            ("AWS_SECRET_ACCESS_KEY".into(), DEMO_SECRET_KEY.into()),
            ("AWS_REGION".into(), DEMO_REGION.into()),
            ("AWS_ENDPOINT_URL".into(), self.server.endpoint_url()),
            (crate::config::profile::PRICES_ENV.into(), DEMO_PRICES.into()),
        ]
    }

    /// Stops the trainer; the server stops when dropped.
    pub fn stop(&self) {
        self.cancel.cancel();
        self.server.stop();
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        self.stop();
    }
}
