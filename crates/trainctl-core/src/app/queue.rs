//! The transfer queue on disk. Every job that has not ended is written to `transfers.json`
//! (beside `watches.json`), so a job cut off by a crash, a kill or a quit is listed again after a
//! restart, as `interrupted`, with a Resume (the same request run again: complete objects are
//! skipped, multipart uploads continue from their saved parts, ranged downloads from their
//! part files). Nothing resumes by itself: the user sees what was cut off and decides.
//!
//! Why a file of requests and not of records: the request (sources, bucket, prefix or keys,
//! destination) is what Resume needs; the paths in it came from the user's drop or folder pick in
//! the session that made it, which is the same trust as a grant.

use super::transfers::Request;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Entries kept at most (a file that grew past this is not read back).
const MAX_QUEUED: usize = 200;

/// One job that had not ended when last written.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Queued {
    /// The profile it was running on: it is offered again only on that connection.
    pub profile: String,
    pub started_at: i64,
    pub request: Request,
}

#[derive(Default)]
struct State {
    /// Jobs of this session that have not ended, by job id.
    live: BTreeMap<u64, Queued>,
    /// Jobs read back from the file at start, not yet offered (waiting for their profile).
    pending: Vec<Queued>,
    loaded: bool,
}

/// The queue; `file` is `None` in tests that persist nothing, or after the file on disk was
/// found unreadable (it is then left alone for the user).
pub(crate) struct Queue {
    file: Mutex<Option<PathBuf>>,
    state: Mutex<State>,
}

impl Queue {
    pub fn new(file: Option<PathBuf>) -> Queue {
        Queue { file: Mutex::new(file), state: Mutex::default() }
    }

    /// Records that job `id` runs `request` on `profile` (written at once: a kill a second later
    /// still finds it).
    pub fn started(&self, id: u64, profile: String, started_at: i64, request: Request) {
        self.load();
        self.state.lock().unwrap().live.insert(id, Queued { profile, started_at, request });
        self.save();
    }

    /// Job `id` ended (done, failed, or cancelled by the user): it is not offered again.
    pub fn ended(&self, id: u64) {
        if self.state.lock().unwrap().live.remove(&id).is_some() {
            self.save();
        }
    }

    /// The jobs a previous run left unfinished on `profile`, taken out of the pending list
    /// (each is offered once); they stay on disk until resumed or dismissed.
    pub fn take_interrupted(&self, profile: &str) -> Result<Vec<Queued>> {
        self.load_checked()?;
        let mut st = self.state.lock().unwrap();
        let (mine, rest) = std::mem::take(&mut st.pending).into_iter().partition(|q| q.profile == profile);
        st.pending = rest;
        Ok(mine)
    }

    /// Keeps an offered interrupted job on disk under its new record's id, until it is resumed
    /// or dismissed.
    pub fn offered(&self, id: u64, q: Queued) {
        self.state.lock().unwrap().live.insert(id, q);
        self.save();
    }

    fn load(&self) {
        let _ = self.load_checked();
    }

    /// Reads the file once; an unreadable one disables writing (and is reported once).
    fn load_checked(&self) -> Result<()> {
        let mut st = self.state.lock().unwrap();
        if st.loaded {
            return Ok(());
        }
        st.loaded = true;
        let Some(path) = self.file.lock().unwrap().clone() else { return Ok(()) };
        match read(&path) {
            Ok(entries) => {
                st.pending = entries;
                Ok(())
            }
            Err(e) => {
                *self.file.lock().unwrap() = None;
                Err(e)
            }
        }
    }

    /// Writes the live jobs and the ones not offered yet (so a run on another profile keeps them).
    fn save(&self) {
        let Some(path) = self.file.lock().unwrap().clone() else { return };
        let entries: Vec<Queued> = {
            let st = self.state.lock().unwrap();
            st.live.values().chain(st.pending.iter()).take(MAX_QUEUED).cloned().collect()
        };
        let written = serde_json::to_vec_pretty(&entries).map_err(|e| Error::Internal(e.to_string())).and_then(|b| crate::config::file::write_private(&path, &b));
        if let Err(e) = written {
            tracing::warn!("the transfer queue was not saved: {e}");
        }
    }
}

/// Reads `transfers.json`; missing is empty. Bounded and validated: it names local paths.
fn read(path: &Path) -> Result<Vec<Queued>> {
    let corrupt = |reason: String| Error::StateCorrupt { path: path.to_path_buf(), reason };
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(path, e)),
    };
    if bytes.len() > 4 << 20 {
        return Err(corrupt("larger than 4 MiB".into()));
    }
    let entries: Vec<Queued> = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
    if entries.len() > MAX_QUEUED {
        return Err(corrupt(format!("{} entries (at most {MAX_QUEUED})", entries.len())));
    }
    for q in &entries {
        q.request.validate().map_err(|e| corrupt(e.to_string()))?;
    }
    Ok(entries)
}
