//! Datasets: versions as manifests, validation without downloading, staging to local disk, and
//! the record of which version a run trained on.
//!
//! - [`manifest`]: the format (one JSON line per file, sorted, a location-independent digest, a
//!   format version), its encoding (zstd) and [`manifest::diff`];
//! - [`store`]: where manifests live (`s3://bucket/.trainctl/datasets/NAME/VERSION.jsonl.zst`
//!   by default) and the local cache; `NAME@VERSION` references;
//! - [`snapshot`]: a manifest from an S3 prefix (pinning version ids on a versioned bucket) or a
//!   local folder, streamed into the file ([`manifest::Writer`]);
//! - [`inventory`]: the same manifest from an S3 Inventory report, sorted on disk ([`sort`]);
//! - [`refs`]: a listing read as the files it holds when it has content references
//!   (`--dedup=refs`): logical keys and sizes, content keys to fetch;
//! - [`verify`]: `count` / `checksum` / `full` against a local copy or a prefix;
//! - [`local`]: walking a copy and hashing it on all cores, cached;
//! - [`stage`]: free space first, `DIR.partial/`, resume, verify, rename; and repair;
//! - [`gate`]: `trainctl-run.json` for `trainctl local --dataset`.
//!
//! Every download goes through the transfer engines (`transfer`), so staging inherits their
//! safe writes, hostile-key refusal and ETag checks.

pub mod gate;
pub mod inventory;
pub mod local;
pub mod manifest;
pub mod refs;
pub mod snapshot;
pub mod sort;
pub mod stage;
pub mod store;
pub mod verify;

pub use manifest::{Diff, Entry, Header, Manifest};
pub use stage::{RepairReport, StageOptions, StageReport};
pub use store::{DatasetRef, Store};
pub use verify::{Level, VerifyReport};

use crate::error::Result;
use crate::event::Sink;
use crate::s3::{Connection, S3Url};
use serde::Serialize;

/// One dataset version as listed (`trainctl dataset list`, the Datasets view).
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VersionInfo {
    pub name: String,
    pub version: String,
    /// Present when the manifest was read (cached, or `--long`).
    pub header: Option<Header>,
}

/// What to snapshot.
#[derive(Debug, Clone)]
pub enum Source {
    S3(S3Url),
    Local(std::path::PathBuf),
}

impl Source {
    /// `s3://…` is a prefix, anything else a local folder.
    pub fn parse(s: &str) -> Result<Source> {
        Ok(if s.starts_with("s3://") { Source::S3(S3Url::parse(s)?) } else { Source::Local(s.into()) })
    }
}

/// A saved snapshot: its header and the size of its manifest file.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub header: Header,
    pub manifest_len: u64,
}

/// Snapshots `source` as `name` (version `version`, or the next free `vN`) and saves the
/// manifest in `store` and the cache.
pub async fn snapshot(conn: Option<&Connection>, source: &Source, store: &Store, name: &str, version: Option<&str>, sink: &dyn Sink) -> Result<Snapshot> {
    snapshot_with(conn, source, store, name, version, None, sink).await
}

/// [`snapshot`], from the S3 Inventory report `inventory` (a local or `s3://` manifest.json)
/// instead of a listing when one is given (S3 sources only).
pub async fn snapshot_with(conn: Option<&Connection>, source: &Source, store: &Store, name: &str, version: Option<&str>, inventory: Option<&str>, sink: &dyn Sink) -> Result<Snapshot> {
    store::check_name(name, "dataset name")?;
    let version = match version {
        Some(v) => {
            store::check_name(v, "version")?;
            v.to_string()
        }
        None => store::next_version(&store::list(conn, store).await?, name),
    };
    let job = crate::event::next_job_id();
    let m = match (source, conn) {
        (Source::S3(url), Some(conn)) => {
            let skip = match store {
                Store::Bucket(s) if s.bucket == url.bucket => Some(s.key.clone()),
                _ => None,
            };
            match inventory {
                Some(inv) => inventory::snapshot_inventory(conn, url, inv, name, &version, skip.as_deref(), job, sink).await?,
                None => snapshot::snapshot_s3(conn, url, name, &version, skip.as_deref(), job, sink).await?,
            }
        }
        (Source::S3(_), None) => return Err(crate::Error::Internal("an s3 snapshot without a connection".into())),
        (Source::Local(_), _) if inventory.is_some() => return Err(crate::Error::Usage("--inventory snapshots an s3:// prefix, not a local folder".into())),
        (Source::Local(dir), _) => snapshot::snapshot_local(dir, name, &version, job, sink).await?.write_temp()?,
    };
    store::save(conn, store, &m).await?;
    Ok(Snapshot { header: m.header.clone(), manifest_len: m.len })
}

/// Every version in `store`, with the header of those in the local cache.
pub async fn list(conn: Option<&Connection>, store: &Store, name: Option<&str>) -> Result<Vec<VersionInfo>> {
    let mut out = Vec::new();
    for (n, v) in store::list(conn, store).await? {
        if name.is_some_and(|want| want != n) {
            continue;
        }
        let header = store::header(None, store, &n, &v).await.ok();
        out.push(VersionInfo { name: n, version: v, header });
    }
    if out.is_empty() {
        if let Some(n) = name {
            return Err(store::unknown(conn, store, n, None).await);
        }
    }
    Ok(out)
}
