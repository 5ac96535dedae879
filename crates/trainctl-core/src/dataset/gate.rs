//! The training gate's record: which script ran with which arguments, at which git commit, on
//! which dataset versions (by digest) — `trainctl-run.json`, written before the script starts,
//! beside the run's checkpoints (and uploaded beside them when they are uploaded).

use crate::error::{Error, Result};
use crate::s3::{Connection, S3Url};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The record's file name.
pub const RUN_RECORD: &str = "trainctl-run.json";

/// One dataset a run trained on.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetUse {
    /// `NAME@VERSION`.
    pub dataset: String,
    pub digest: String,
    /// Where the script read it (`TRAINCTL_DATASET_DIR`).
    pub dir: PathBuf,
}

/// What `trainctl-run.json` holds. `trainctl local` writes script, arguments, commit, start and
/// datasets; a launcher may add when the run finished and what it ran on (the Runs view and
/// `trainctl cost run` price the compute from those). Every field may be absent, so records
/// written by older or newer trainctl versions, by a launcher or by hand are read alike.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    #[serde(default)]
    pub script: PathBuf,
    #[serde(default)]
    pub args: Vec<String>,
    /// `git rev-parse HEAD` in the script's folder, when it is in a repository.
    #[serde(default)]
    pub git_commit: Option<String>,
    /// Seconds since the epoch.
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub started: Option<i64>,
    /// Seconds since the epoch, when a launcher recorded the end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional, type = "number"))]
    pub finished: Option<i64>,
    #[serde(default)]
    pub datasets: Vec<DatasetUse>,
    /// An instance type a launcher recorded (`p4d.24xlarge`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub instance: Option<String>,
    /// Its region (us-east-1 when absent), whether it ran on spot, and how many instances.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub instance_region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub spot: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub count: Option<u32>,
}

impl RunRecord {
    pub fn new(script: &Path, args: &[String], datasets: Vec<DatasetUse>) -> RunRecord {
        RunRecord {
            script: script.to_path_buf(),
            args: args.to_vec(),
            git_commit: git_commit(script),
            started: Some(crate::checkpoint::detect::now_secs()),
            datasets,
            ..RunRecord::default()
        }
    }
}

/// The largest record read back (a real one is a few hundred bytes; anything bigger is not ours).
pub const MAX_RECORD_BYTES: u64 = 64 * 1024;

impl RunRecord {
    /// A record read back from a run's folder or prefix: `None` when it is too large or not a
    /// record (another tool's file of the same name is not an error, only not shown).
    pub fn parse(bytes: &[u8]) -> Option<RunRecord> {
        if bytes.len() as u64 > MAX_RECORD_BYTES {
            return None;
        }
        serde_json::from_slice(bytes).ok()
    }

    /// `NAME@VERSION` of each dataset the run trained on.
    pub fn dataset_refs(&self) -> Vec<String> {
        self.datasets.iter().map(|d| d.dataset.clone()).collect()
    }
}

/// The record at `key`, if there is one (absent, denied, too large or not a record: `None`).
/// One GET; used by the detailed review, which cannot tell from its listing aggregates which
/// runs have one.
pub async fn read_record_s3(conn: &Connection, bucket: &str, key: &str) -> Option<RunRecord> {
    let out = conn.client.get_object().bucket(bucket).key(key).range(format!("bytes=0-{}", MAX_RECORD_BYTES)).send().await.ok()?;
    let body = out.body.collect().await.ok()?.into_bytes();
    RunRecord::parse(&body)
}

/// The commit checked out where `script` lives, if git is there and it is a repository.
pub fn git_commit(script: &Path) -> Option<String> {
    let dir = script.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let out = std::process::Command::new("git").arg("-C").arg(dir).args(["rev-parse", "HEAD"]).stderr(std::process::Stdio::null()).output().ok()?;
    let sha = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && sha.len() >= 40).then_some(sha)
}

/// Writes the record into `dir` (created if needed) and, with `upload_to`, puts it beside the
/// checkpoints there. Returns the local path and the object URL.
pub async fn write_record(rec: &RunRecord, dir: &Path, upload: Option<(&Connection, &S3Url)>) -> Result<(PathBuf, Option<String>)> {
    let bytes = serde_json::to_vec_pretty(rec).map_err(|e| Error::Internal(e.to_string()))?;
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let path = dir.join(RUN_RECORD);
    std::fs::write(&path, &bytes).map_err(|e| Error::io(&path, e))?;
    let mut url = None;
    if let Some((conn, to)) = upload {
        let key = format!("{}{RUN_RECORD}", to.dir_prefix());
        conn.client
            .put_object()
            .bucket(&to.bucket)
            .key(&key)
            .content_type("application/json")
            .body(bytes.into())
            .send()
            .await
            .map_err(|e| crate::s3::errors::map_sdk_error(e, &conn.ctx().bucket(&to.bucket).key(&key)))?;
        url = Some(format!("s3://{}/{key}", to.bucket));
    }
    Ok((path, url))
}
