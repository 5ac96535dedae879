//! `trainctl s3 …`: the dispatcher of the verbs on S3. Each verb lives in its own module
//! (`transfer` for upload/download/ls, `sync`, `checkpoint`, `review`, `lifecycle`, `watch`).

use super::{checkpoint, lifecycle, object, refs, review, sync, transfer, watch};
use crate::Globals;
use clap::Subcommand;
use trainctl_core::Result;

#[derive(Debug, Subcommand)]
pub enum S3Cmd {
    /// Upload a file or directory: trainctl s3 upload ./ckpt s3://bucket/run1/ --recursive
    Upload(transfer::UploadArgs),
    /// Download an object or prefix: trainctl s3 download s3://bucket/data/ ./data --recursive
    Download(transfer::DownloadArgs),
    /// Make one side match the other, incrementally (size + mtime)
    Sync(sync::SyncArgs),
    /// List buckets (s3://), prefixes and objects (--versions: every version of a key)
    Ls(transfer::LsArgs),
    /// A link anyone can download one object with, for a while: trainctl s3 presign s3://b/k --expires-in 1h
    Presign(object::PresignArgs),
    /// Rename or move a key or folder within a bucket (server-side copies, then the old keys go):
    /// trainctl s3 mv s3://b/runs/old/ s3://b/runs/new/
    Mv(object::MvArgs),
    /// Show or replace an object's tags: trainctl s3 tag s3://b/k run=llama keep=yes
    Tag(object::TagArgs),
    /// Delete old checkpoints under a prefix by a retention policy (plan shown first):
    /// trainctl s3 cleanup s3://bucket/runs/ --keep-last-n 10
    Cleanup(checkpoint::S3CleanupArgs),
    /// What uses a bucket or prefix and what it costs, by prefix, run, class and age:
    /// trainctl s3 review s3://bucket/ --detailed
    Review(review::ReviewArgs),
    /// Objects stored more than once (same size and ETag) and the bytes one copy each would give
    /// back, from one listing (nothing downloaded, nothing changed): trainctl s3 dedup s3://bucket/runs/
    Dedup(review::DedupArgs),
    /// Turn content references (`--dedup=refs`) back into plain objects for tools that do not
    /// know them; content left without references is deleted (plan shown first):
    /// trainctl s3 materialize s3://bucket/runs/exp7/ --dry-run
    Materialize(refs::MaterializeArgs),
    /// Bucket lifecycle rules (transition, expire, abort multipart), merged by id, diff shown first:
    /// trainctl s3 lifecycle apply s3://bucket/runs/ --preset checkpoints
    #[command(subcommand)]
    Lifecycle(lifecycle::LifecycleCmd),
    /// Watch a prefix: new checkpoints (once, when complete), run finished / stalled, data arriving:
    /// trainctl s3 watch s3://bucket/runs/run1/ --interval 30 --notify
    Watch(watch::WatchArgs),
}

pub async fn run(cmd: S3Cmd, g: &Globals) -> Result<i32> {
    match cmd {
        S3Cmd::Upload(a) => transfer::upload(a, g).await,
        S3Cmd::Download(a) => transfer::download(a, g).await,
        S3Cmd::Sync(a) => sync::run(a, g).await,
        S3Cmd::Ls(a) => transfer::ls(a, g).await,
        S3Cmd::Presign(a) => object::presign(a, g).await,
        S3Cmd::Tag(a) => object::tag(a, g).await,
        S3Cmd::Mv(a) => object::mv(a, g).await,
        S3Cmd::Cleanup(a) => checkpoint::s3_cleanup(a, g).await,
        S3Cmd::Review(a) => review::run(a, g).await,
        S3Cmd::Dedup(a) => review::dedup(a, g).await,
        S3Cmd::Materialize(a) => refs::materialize(a, g).await,
        S3Cmd::Lifecycle(c) => lifecycle::run(c, g).await,
        S3Cmd::Watch(a) => watch::run(a, g).await,
    }
}
