//! Plans for what a user selected at once: several dropped files and folders to upload under one
//! prefix, or several keys and folders of the Browser to download into one folder. Each source
//! is planned like the CLI plans it, and the plans are merged into one job; a source that cannot
//! be planned is rejected on its own (the rest still move), unless its error ends the job.

use super::plan::{plan_download, plan_upload, SkipRule, UploadPlanOptions};
use super::safe_path::local_path_for_key;
use super::TransferJob;
use crate::error::Result;
use crate::event::Direction;
use crate::s3::{Connection, S3Url};
use std::path::{Path, PathBuf};

/// One local source of an upload: a path and whether it was a folder when the user chose it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Source {
    pub path: PathBuf,
    pub is_dir: bool,
}

/// Uploads each source under `prefix` (a folder as `prefix/<name>/…`, a file as `prefix/<name>`),
/// skipping objects already there with the same size.
pub async fn plan_upload_sources(conn: &Connection, sources: &[Source], bucket: &str, prefix: &str) -> Result<TransferJob> {
    let prefix = folder_prefix(prefix);
    let mut job = TransferJob::new(Direction::Upload, bucket, "");
    let opts = UploadPlanOptions { recursive: true, skip_existing: SkipRule::SameSize, ..Default::default() };
    for src in sources {
        let key = match (src.is_dir, src.path.file_name()) {
            (true, Some(name)) => format!("{prefix}{}/", name.to_string_lossy()),
            _ => prefix.clone(),
        };
        let planned = plan_upload(&src.path, &S3Url { bucket: bucket.to_string(), key }, &opts, conn).await;
        merge(&mut job, planned, &src.path.display().to_string())?;
    }
    Ok(job)
}

/// Downloads each selected key into `dest`: an object as `dest/<name>`, a folder (a key ending
/// in `/`) as `dest/<name>/…`. The folder's local name goes through the key-to-path rules, so a
/// listed folder `../` or `./` is rejected instead of writing above `dest`.
pub async fn plan_download_selection(conn: &Connection, bucket: &str, keys: &[String], dest: &Path) -> Result<TransferJob> {
    std::fs::create_dir_all(dest).map_err(|e| crate::Error::io(dest, e))?;
    let mut job = TransferJob::new(Direction::Download, bucket, dest);
    for key in keys {
        let url = S3Url { bucket: bucket.to_string(), key: key.clone() };
        let planned = match key.strip_suffix('/') {
            Some(folder) => {
                let parent = folder.rfind('/').map(|i| &folder[..=i]).unwrap_or("");
                match local_path_for_key(dest, parent, folder) {
                    Ok(local) => plan_download(&url, &local, true, conn).await,
                    Err(e) => Err(e),
                }
            }
            None => plan_download(&url, dest, false, conn).await,
        };
        merge(&mut job, planned, key)?;
    }
    Ok(job)
}

/// Adds one source's plan to the job; a failure that ends the job ends planning too, any other
/// rejects just that source.
fn merge(job: &mut TransferJob, planned: Result<TransferJob>, source: &str) -> Result<()> {
    match planned {
        Ok(sub) => {
            job.items.extend(sub.items);
            job.skipped.extend(sub.skipped);
            job.rejected.extend(sub.rejected);
            Ok(())
        }
        Err(e) if e.scope().ends_job() => Err(e),
        Err(e) => {
            job.rejected.push((source.to_string(), e.info()));
            Ok(())
        }
    }
}

/// `runs` → `runs/`; `""` stays the bucket root.
pub fn folder_prefix(prefix: &str) -> String {
    if prefix.is_empty() || prefix.ends_with('/') {
        prefix.to_string()
    } else {
        format!("{prefix}/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_prefix_is_a_folder() {
        assert_eq!(folder_prefix(""), "");
        assert_eq!(folder_prefix("runs"), "runs/");
        assert_eq!(folder_prefix("runs/"), "runs/");
    }
}
