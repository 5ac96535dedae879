//! Resume state of multipart uploads: one small JSON file per upload in
//! `$XDG_STATE_HOME/trainctl/uploads/`, so a rerun after Ctrl-C, a crash or a network failure
//! sends only the parts the server does not have yet.
//!
//! The file is named after (endpoint, bucket, key, local path) and records the local file's
//! size and mtime: if the file changed, the old upload is stale and is aborted. The parts listed
//! in the file are informational; what counts is what `ListParts` says (trust the server).

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::PathBuf;

/// Environment variable that overrides the state directory (tests, portable installs).
pub const STATE_DIR_ENV: &str = "TRAINCTL_STATE_DIR";

/// Where upload resume files live: `$TRAINCTL_STATE_DIR`, else
/// `$XDG_STATE_HOME/trainctl/uploads` (falling back to the local data dir on systems without
/// a state dir).
pub fn state_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(STATE_DIR_ENV).filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let base = dirs::state_dir().or_else(dirs::data_local_dir).unwrap_or_else(std::env::temp_dir);
    base.join("trainctl").join("uploads")
}

/// Which upload a state file belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct UploadIdent {
    pub endpoint: String,
    pub bucket: String,
    pub key: String,
    pub local: PathBuf,
    pub size: u64,
    pub mtime_ns: u128,
}

/// One part the upload has sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct DonePart {
    pub number: i32,
    pub etag: String,
    /// Its checksum (base64) when the upload writes one; parts found on the server when
    /// resuming have it recomputed from the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
}

/// The persisted state of one in-progress multipart upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct UploadState {
    pub ident: UploadIdent,
    pub upload_id: String,
    pub part_size: u64,
    pub parts: Vec<DonePart>,
    /// The checksum the upload was created with (every part must carry one of this kind); an
    /// upload of another kind is not resumed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<crate::transfer::checksum::Algorithm>,
}

impl UploadIdent {
    /// The state file of this upload (independent of size and mtime, so a changed file still
    /// finds — and aborts — its stale upload).
    pub fn state_path(&self) -> PathBuf {
        let mut h = Sha256::new();
        for field in [self.endpoint.as_bytes(), self.bucket.as_bytes(), self.key.as_bytes(), self.local.as_os_str().as_encoded_bytes()] {
            h.update((field.len() as u64).to_le_bytes());
            h.update(field);
        }
        state_dir().join(format!("{}.json", &hex::encode(h.finalize())[..32]))
    }

    /// Whether `self` describes the same local content as `other` (same size and mtime).
    pub fn same_file(&self, other: &UploadIdent) -> bool {
        self == other
    }
}

/// Reads the state file of `ident`'s upload; `None` if there is none, or it is unreadable or
/// fails [`UploadState`]'s check (a corrupt state file only costs a fresh upload).
pub(super) fn load(ident: &UploadIdent) -> Option<UploadState> {
    crate::config::state::load_json(&ident.state_path(), 4 << 20).ok().flatten()
}

/// S3's limits on a multipart upload: what a state file may claim.
const MAX_PARTS: u64 = 10_000;
const MAX_PART_SIZE: u64 = 5 << 30;

impl crate::config::state::Checked for UploadState {
    /// Values an edited or foreign file could use to make the upload divide by zero, overflow
    /// or send parts S3 refuses.
    fn check(&self) -> std::result::Result<(), String> {
        if self.upload_id.is_empty() {
            return Err("upload_id: empty".into());
        }
        if self.part_size == 0 || self.part_size > MAX_PART_SIZE {
            return Err(format!("part_size: {} is not between 1 and {MAX_PART_SIZE}", self.part_size));
        }
        let count = self.ident.size.div_ceil(self.part_size);
        if count > MAX_PARTS {
            return Err(format!("part_size: {} cuts {} bytes into {count} parts (S3 allows {MAX_PARTS})", self.part_size, self.ident.size));
        }
        match self.parts.iter().find(|p| p.number < 1 || p.number as u64 > count) {
            Some(p) => Err(format!("parts: number {} is outside 1..={count}", p.number)),
            None => Ok(()),
        }
    }
}

/// Writes the state atomically (temp file + rename), so a crash never leaves half a file.
pub(super) fn save(state: &UploadState) -> Result<()> {
    let path = state.ident.state_path();
    let dir = path.parent().expect("state path has a parent");
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let tmp = path.with_extension("json.tmp");
    let text = serde_json::to_vec_pretty(state).map_err(|e| Error::Internal(format!("resume state: {e}")))?;
    std::fs::write(&tmp, text).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))
}

/// Deletes the state file (upload completed or abandoned).
pub(super) fn remove(ident: &UploadIdent) {
    let _ = std::fs::remove_file(ident.state_path());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ident(size: u64) -> UploadIdent {
        UploadIdent { endpoint: "http://e".into(), bucket: "b".into(), key: "k".into(), local: "/x/y".into(), size, mtime_ns: 7 }
    }

    #[test]
    fn changed_file_keeps_its_state_path_but_is_not_the_same_file() {
        assert_eq!(ident(1).state_path(), ident(2).state_path());
        assert!(!ident(1).same_file(&ident(2)));
        let mut other_key = ident(1);
        other_key.key = "k2".into();
        assert_ne!(ident(1).state_path(), other_key.state_path());
    }
}
