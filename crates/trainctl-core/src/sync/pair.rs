//! A sync pair — one local folder and one S3 prefix on one endpoint — and where its state lives:
//! `$XDG_STATE_HOME/trainctl/sync/<pair id>/` (`$TRAINCTL_SYNC_STATE_DIR` instead, for tests).
//!
//! Why an id from all three parts: the same folder synced with two prefixes (or the same prefix
//! on two endpoints) are two pairs with two histories; mixing their snapshots would make one
//! side's files look deleted.

use crate::error::{Error, Result};
use crate::s3::{Connection, S3Url};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Overrides where pair state lives (tests, portable installs).
pub const STATE_ENV: &str = "TRAINCTL_SYNC_STATE_DIR";

/// One local folder ↔ one prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pair {
    /// Absolute path of the local folder (links in it are not resolved: it is the user's name).
    pub local: PathBuf,
    /// The endpoint the prefix lives on (`https://s3.amazonaws.com`, `http://127.0.0.1:3900`).
    pub endpoint: String,
    pub bucket: String,
    /// The key prefix, empty or ending in `/`.
    pub prefix: String,
}

impl Pair {
    /// The pair of `local` and `remote` on `conn`'s endpoint. `local` is made absolute.
    pub fn new(local: &Path, remote: &S3Url, conn: &Connection) -> Result<Pair> {
        let local = std::path::absolute(local).map_err(|e| Error::io(local, e))?;
        let prefix = if remote.key.is_empty() { String::new() } else { remote.dir_prefix() };
        Ok(Pair { local, endpoint: conn.endpoint_display().trim_end_matches('/').to_string(), bucket: remote.bucket.clone(), prefix })
    }

    /// `s3://bucket/prefix/`.
    pub fn remote_url(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
    }

    /// Stable id: 16 hex digits of a SHA-256 over the three parts.
    pub fn id(&self) -> String {
        let mut h = Sha256::new();
        for part in [self.local.to_string_lossy().as_bytes(), self.endpoint.as_bytes(), self.bucket.as_bytes(), self.prefix.as_bytes()] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part);
        }
        hex::encode(&h.finalize()[..8])
    }

    /// The folder holding this pair's snapshots, journal and lock.
    pub fn state_dir(&self) -> PathBuf {
        state_root().join(self.id())
    }

    /// "`/home/me/runs` ↔ `s3://b/runs/`", for messages.
    pub fn describe(&self) -> String {
        format!("{} ↔ {}", self.local.display(), self.remote_url())
    }
}

/// Where every pair's state folder lives.
pub fn state_root() -> PathBuf {
    if let Some(dir) = std::env::var_os(STATE_ENV).filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let base = dirs::state_dir().or_else(dirs::data_local_dir).unwrap_or_else(std::env::temp_dir);
    base.join("trainctl").join("sync")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(local: &str, prefix: &str) -> Pair {
        Pair { local: local.into(), endpoint: "http://e".into(), bucket: "b".into(), prefix: prefix.into() }
    }

    #[test]
    fn each_part_makes_another_pair() {
        let a = pair("/d", "p/");
        assert_eq!(a.id().len(), 16);
        assert_eq!(a.id(), pair("/d", "p/").id());
        assert_ne!(a.id(), pair("/d", "q/").id());
        assert_ne!(a.id(), pair("/e", "p/").id());
        // Length-prefixed parts: moving a character from one part to the next is another pair.
        assert_ne!(pair("/d", "ap/").id(), Pair { local: "/da".into(), ..pair("/d", "p/") }.id());
    }
}
