//! Local paths a caller may use: only those the host saw the user choose — a native drop or a
//! native folder dialog — each handed out as an unguessable token.
//!
//! Why tokens: the caller (a webview) is untrusted. If it could name paths, a compromised page
//! could upload `~/.aws/credentials` or download into `~/.ssh`. With tokens, the worst a forged
//! call can do is use a file or folder the user already dropped or picked.

use crate::error::{Error, Result};
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// How many grants are kept; the oldest are forgotten beyond this (a drop of a 50,000-file folder
/// is one grant: the folder).
const MAX_GRANTS: usize = 4096;

/// A local file or folder the user handed over, as the caller sees it.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LocalGrant {
    /// Pass this back to name the path (`upload_dropped`, `download_keys`, a local location).
    pub token: String,
    /// The last component, for labels (`checkpoint-500`).
    pub name: String,
    /// The full path, for display only.
    pub path: String,
    pub is_dir: bool,
}

struct Held {
    path: PathBuf,
    is_dir: bool,
    seq: u64,
}

/// The grants of one app session.
#[derive(Default)]
pub struct Grants {
    held: Mutex<(HashMap<String, Held>, u64)>,
}

impl Grants {
    /// Grants `path` (what a native drop or dialog returned). The path must exist; it is made
    /// absolute without resolving links (a dropped link is what the user dropped).
    pub fn grant(&self, path: &Path) -> Result<LocalGrant> {
        let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
        let path = std::path::absolute(path).map_err(|e| Error::io(path, e))?;
        let token = new_token();
        let grant = LocalGrant {
            token: token.clone(),
            name: path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| path.display().to_string()),
            path: path.display().to_string(),
            is_dir: meta.is_dir(),
        };
        let mut held = self.held.lock().unwrap();
        held.1 += 1;
        let seq = held.1;
        held.0.insert(token, Held { path, is_dir: meta.is_dir(), seq });
        if held.0.len() > MAX_GRANTS {
            if let Some(oldest) = held.0.iter().min_by_key(|(_, h)| h.seq).map(|(t, _)| t.clone()) {
                held.0.remove(&oldest);
            }
        }
        Ok(grant)
    }

    /// The path behind `token`, and whether it was a folder when granted.
    pub fn resolve(&self, token: &str) -> Result<(PathBuf, bool)> {
        self.held.lock().unwrap().0.get(token).map(|h| (h.path.clone(), h.is_dir)).ok_or_else(|| forged(token))
    }

    /// A granted folder (a download destination, a local checkpoint location).
    pub fn folder(&self, token: &str) -> Result<PathBuf> {
        match self.resolve(token)? {
            (path, true) => Ok(path),
            (path, false) => Err(Error::LocalKind { path, expected: "folder" }),
        }
    }
}

fn forged(token: &str) -> Error {
    let shown: String = token.chars().take(40).collect();
    Error::Usage(format!("`{shown}` is not a file or folder you dropped or picked here: drop it on the window or choose it with the folder button"))
}

/// 128 random bits from the OS, hex: unguessable by a page that never saw it.
fn new_token() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the OS random source works");
    format!("grant-{}", hex::encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_granted_folder_resolves_and_a_made_up_token_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let grants = Grants::default();
        let g = grants.grant(dir.path()).unwrap();
        assert!(g.is_dir && g.token.starts_with("grant-") && g.token.len() == 38);
        assert_eq!(grants.folder(&g.token).unwrap(), dir.path());
        for forged in ["", "grant-00000000000000000000000000000000", dir.path().to_str().unwrap()] {
            assert_eq!(grants.resolve(forged).unwrap_err().code(), "usage", "{forged}");
        }
    }

    #[test]
    fn a_file_is_not_a_folder_and_a_missing_path_is_not_granted() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a.bin");
        std::fs::write(&f, b"x").unwrap();
        let grants = Grants::default();
        let g = grants.grant(&f).unwrap();
        assert_eq!(grants.folder(&g.token).unwrap_err().code(), "local_kind");
        assert_eq!(grants.grant(&dir.path().join("nope")).unwrap_err().code(), "local_missing");
    }
}
