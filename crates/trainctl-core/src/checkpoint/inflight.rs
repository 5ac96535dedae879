//! In-flight multipart uploads as evidence that an S3 checkpoint is still being written.
//!
//! Why: `aws s3 sync` and s5cmd upload a checkpoint's files in parallel, so its small marker
//! (`trainer_state.json`, `latest`, `.metadata`, `_SUCCESS`) can be listed while a 10 GB shard is
//! still a multipart upload — invisible to ListObjectsV2 until it completes. Judged on the marker
//! alone that checkpoint is "complete", becomes the newest, and `--keep-last-n 1` deletes the last
//! good one. So a checkpoint whose directory (or shard group) has an upload in flight is
//! incomplete, whatever its marker says.
//!
//! Cost: one ListMultipartUploads of the whole location per discovery (not one per checkpoint),
//! and none at all when no checkpoint could be affected. Single-file checkpoints are never
//! affected: a single object appears whole (one PUT, or at CompleteMultipartUpload).

use super::detect::{shard_stem, split_dir};
use super::model::{Checkpoint, Completeness, Layout};
use crate::error::{Error, Result};
use crate::s3::list::{list_multipart_uploads, UploadEntry};
use crate::s3::Connection;

/// True when an in-flight upload could contradict `c`'s completeness: a complete directory or
/// shard group, or an abandoned one (an upload into it means a writer is still there).
pub fn could_be_in_flight(c: &Checkpoint) -> bool {
    (c.complete.is_complete() || c.complete.is_abandoned()) && (c.is_dir() || c.layout == Layout::ShardedSafetensors)
}

/// Whether an upload of `rel` (a key relative to the listed location) writes into `c`.
pub fn writes_into(c: &Checkpoint, rel: &str) -> bool {
    if c.is_dir() {
        return rel.starts_with(&c.id);
    }
    let Some(group) = c.id.strip_suffix("-*.safetensors") else { return false };
    let (dir, stem) = split_dir(group);
    let (udir, name) = split_dir(rel);
    udir == dir && shard_stem(name).as_deref() == Some(stem)
}

/// What a listing of in-flight uploads found, relative to the location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InFlight {
    /// The uploads (keys relative to the location).
    Listed(Vec<UploadEntry>),
    /// The store would not say (ListMultipartUploads denied): why.
    Unknown(String),
}

/// Lists the uploads in flight under `prefix` of `bucket` (`""` or ending in `/`), once.
/// Access denied is [`InFlight::Unknown`]. A store that does not implement the call at all (the
/// embedded demo's s3s-fs, some minimal stores) has nothing to list: judged on the marker, as
/// before. Other failures (the network) are errors, as for the listing itself.
pub async fn list_in_flight(conn: &Connection, bucket: &str, prefix: &str) -> Result<InFlight> {
    match list_multipart_uploads(conn, bucket, prefix).await {
        Ok(uploads) => Ok(InFlight::Listed(
            uploads
                .into_iter()
                .filter_map(|u| Some(UploadEntry { key: u.key.strip_prefix(prefix)?.to_string(), ..u }))
                .collect(),
        )),
        Err(e @ Error::AccessDenied(_)) => Ok(InFlight::Unknown(format!("ListMultipartUploads was denied ({e})"))),
        Err(Error::S3 { code, .. }) if code == "NotImplemented" => Ok(InFlight::Listed(Vec::new())),
        Err(e) => Err(e),
    }
}

/// Marks every checkpoint an upload in flight writes into as incomplete (with the upload's key
/// in the reason); with [`InFlight::Unknown`], every checkpoint that could be affected, since
/// nothing says it is not. Returns the ids it marked.
pub fn mark_in_flight(checkpoints: &mut [Checkpoint], found: &InFlight) -> Vec<String> {
    let mut marked = Vec::new();
    for c in checkpoints.iter_mut().filter(|c| could_be_in_flight(c)) {
        let reason = match found {
            InFlight::Listed(uploads) => match uploads.iter().find(|u| writes_into(c, &u.key)) {
                Some(u) => format!("a multipart upload of {} is still in flight (its marker came first); an abandoned one is removed by `trainctl s3 lifecycle` --abort-multipart-days", u.key),
                None => continue,
            },
            InFlight::Unknown(why) => format!("uploads in flight could not be checked: {why}; kept to be safe"),
        };
        c.complete = Completeness::Incomplete { reason };
        marked.push(c.id.clone());
    }
    marked
}

/// Lists in-flight uploads only when some checkpoint could be affected, then marks them.
pub async fn check_in_flight(conn: &Connection, bucket: &str, prefix: &str, checkpoints: &mut [Checkpoint]) -> Result<Vec<String>> {
    if !checkpoints.iter().any(could_be_in_flight) {
        return Ok(Vec::new());
    }
    let found = list_in_flight(conn, bucket, prefix).await?;
    Ok(mark_in_flight(checkpoints, &found))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::detect::{detect, DetectOptions};
    use crate::checkpoint::model::FileEntry;

    fn detected(paths: &[&str]) -> Vec<Checkpoint> {
        let entries: Vec<FileEntry> = paths.iter().map(|p| FileEntry { path: p.to_string(), size: 10, mtime: Some(0) }).collect();
        let opts = DetectOptions { grace: std::time::Duration::ZERO, now: 1000, ..DetectOptions::new() };
        detect(&entries, &opts, &|_: &str| None).into_iter().flat_map(|r| r.checkpoints).collect()
    }

    fn upload(key: &str) -> UploadEntry {
        UploadEntry { key: key.into(), upload_id: "u".into(), initiated: None }
    }

    #[test]
    fn a_marker_first_directory_with_a_shard_in_flight_is_incomplete_and_its_neighbours_are_not() {
        let mut cs = detected(&["run/step_1/_SUCCESS", "run/step_1/a.bin", "run/step_2/_SUCCESS", "run/step_2/a.bin"]);
        let marked = mark_in_flight(&mut cs, &InFlight::Listed(vec![upload("run/step_2/b.bin"), upload("other/x")]));
        assert_eq!(marked, ["run/step_2/"]);
        assert!(cs[0].complete.is_complete());
        assert!(cs[1].complete_reason().unwrap().contains("run/step_2/b.bin"), "{:?}", cs[1].complete);
    }

    #[test]
    fn a_shard_group_is_held_by_an_upload_of_one_of_its_shards_only() {
        let mut cs = detected(&["exp/model-00001-of-00002.safetensors", "exp/model-00002-of-00002.safetensors"]);
        assert!(cs[0].complete.is_complete());
        assert!(mark_in_flight(&mut cs, &InFlight::Listed(vec![upload("exp/other-00001-of-00002.safetensors"), upload("exp/sub/model-00001-of-00002.safetensors")])).is_empty());
        assert_eq!(mark_in_flight(&mut cs, &InFlight::Listed(vec![upload("exp/model-00002-of-00002.safetensors")])).len(), 1);
    }

    #[test]
    fn single_files_are_never_held_and_unknown_uploads_hold_every_directory() {
        let mut cs = detected(&["r/step_100.pt", "r/step_1/_SUCCESS"]);
        let marked = mark_in_flight(&mut cs, &InFlight::Unknown("denied".into()));
        assert_eq!(marked, ["r/step_1/"]);
        assert!(cs.iter().find(|c| c.id == "r/step_100.pt").unwrap().complete.is_complete());
    }
}
