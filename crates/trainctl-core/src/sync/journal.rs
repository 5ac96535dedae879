//! The journal of a pass: one line per completed item, appended as it completes, so a pass that
//! is killed (Ctrl-C, a crash, a reboot) loses nothing: the next pass first replays the journal
//! into the snapshots — what completed is then "in sync" — and plans only what is left. No
//! forced resync after an interruption.
//!
//! Lines are written as items complete (they survive the process being killed) and fsynced at
//! most every [`SYNC_EVERY`]. A tail lost in a power cut is harmless: those paths then look
//! changed on both sides with the same content, which a pass records without copying.

use super::snapshot::{LocalEntry, RemoteEntry};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const SYNC_EVERY: Duration = Duration::from_secs(2);

/// What both sides hold at `path` once an item completed: the new agreed state (`None` = gone).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub path: String,
    pub local: Option<LocalEntry>,
    pub remote: Option<RemoteEntry>,
}

#[derive(Serialize, Deserialize)]
struct Header {
    trainctl_sync_journal: u32,
    pair: String,
}

/// An open journal, appended to by the pass (shared by its tasks).
pub struct Journal {
    path: PathBuf,
    file: Mutex<(std::fs::File, Instant)>,
    /// Records written by this process, also kept for the end of the pass.
    written: Mutex<Vec<Record>>,
}

impl Journal {
    /// Starts a journal for `pair_id` at `path` (after any previous one was replayed).
    pub fn create(path: &Path, pair_id: &str) -> Result<Journal> {
        let mut file = std::fs::OpenOptions::new().create(true).write(true).truncate(true).open(path).map_err(|e| Error::io(path, e))?;
        let header = serde_json::to_string(&Header { trainctl_sync_journal: 1, pair: pair_id.into() }).map_err(|e| Error::Internal(e.to_string()))?;
        writeln!(file, "{header}").map_err(|e| Error::io(path, e))?;
        file.sync_all().map_err(|e| Error::io(path, e))?;
        Ok(Journal { path: path.to_path_buf(), file: Mutex::new((file, Instant::now())), written: Mutex::default() })
    }

    /// Appends one completed item.
    pub fn append(&self, record: Record) -> Result<()> {
        let line = serde_json::to_string(&record).map_err(|e| Error::Internal(e.to_string()))?;
        let mut g = self.file.lock().unwrap();
        g.0.write_all(format!("{line}\n").as_bytes()).map_err(|e| Error::io(&self.path, e))?;
        if g.1.elapsed() >= SYNC_EVERY {
            let _ = g.0.sync_data();
            g.1 = Instant::now();
        }
        drop(g);
        self.written.lock().unwrap().push(record);
        Ok(())
    }

    /// The records appended so far, handed over (not copied: a first pass over 100,000 files
    /// journals 100,000 of them).
    pub fn take_records(&self) -> Vec<Record> {
        std::mem::take(&mut *self.written.lock().unwrap())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Reads the journal a previous pass left (`Ok(None)`: none). A torn last line (the process died
/// mid-write) is dropped; damage anywhere else is [`Error::SnapshotCorrupt`].
pub fn load(path: &Path, pair_id: &str) -> Result<Option<Vec<Record>>> {
    let corrupt = |reason: String| Error::SnapshotCorrupt { path: path.to_path_buf(), reason };
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(path, e)),
    };
    let lines: Vec<String> = std::io::BufReader::new(file).lines().collect::<std::io::Result<_>>().map_err(|e| corrupt(e.to_string()))?;
    let Some((first, rest)) = lines.split_first() else { return Ok(Some(Vec::new())) };
    let header: Header = serde_json::from_str(first).map_err(|e| corrupt(format!("not a trainctl sync journal ({e})")))?;
    if header.pair != pair_id {
        return Err(corrupt(format!("it was written for another pair ({}), not this one ({pair_id})", header.pair)));
    }
    let mut out = Vec::new();
    for (i, line) in rest.iter().enumerate() {
        match serde_json::from_str::<Record>(line) {
            Ok(r) => out.push(r),
            Err(_) if i + 1 == rest.len() => break,
            Err(e) => return Err(corrupt(format!("line {}: {e}", i + 2))),
        }
    }
    Ok(Some(out))
}

/// Applies records (later ones win) to both sides' snapshots, keeping them in path order. The
/// records are consumed: their entries move into the snapshots (a first pass over 100,000 files
/// replays 100,000 records; copying them would double the pass's peak memory).
pub fn replay(local: Vec<LocalEntry>, remote: Vec<RemoteEntry>, records: Vec<Record>) -> (Vec<LocalEntry>, Vec<RemoteEntry>) {
    let mut last: BTreeMap<String, (Option<LocalEntry>, Option<RemoteEntry>)> = BTreeMap::new();
    for r in records {
        last.insert(r.path, (r.local, r.remote));
    }
    let (mut locals, mut remotes) = (Vec::with_capacity(last.len()), Vec::with_capacity(last.len()));
    for (path, (l, r)) in last {
        locals.push((path.clone(), l));
        remotes.push((path, r));
    }
    (merge(local, locals, |e| &e.path), merge(remote, remotes, |e| &e.path))
}

/// Merges path-sorted `records` (`None`: the path is gone) into the path-sorted `old` entries.
fn merge<E>(old: Vec<E>, records: Vec<(String, Option<E>)>, path: impl Fn(&E) -> &String) -> Vec<E> {
    let mut out = Vec::with_capacity(old.len() + records.len());
    let mut recs = records.into_iter().peekable();
    for e in old {
        while let Some((p, _)) = recs.peek() {
            if p.as_str() < path(&e).as_str() {
                out.extend(recs.next().and_then(|(_, r)| r));
            } else {
                break;
            }
        }
        match recs.peek() {
            Some((p, _)) if p == path(&e) => out.extend(recs.next().and_then(|(_, r)| r)),
            _ => out.push(e),
        }
    }
    out.extend(recs.filter_map(|(_, r)| r));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(p: &str, size: u64) -> LocalEntry {
        LocalEntry { path: p.into(), size, mtime_ns: 1, ino: 1, md5: None }
    }
    fn r(p: &str, size: u64) -> RemoteEntry {
        RemoteEntry { path: p.into(), size, etag: "e".into(), mtime: None }
    }

    #[test]
    fn replay_adds_replaces_and_removes_in_order() {
        let recs = vec![
            Record { path: "b".into(), local: Some(l("b", 2)), remote: Some(r("b", 2)) },
            Record { path: "a".into(), local: None, remote: None },
            Record { path: "d".into(), local: Some(l("d", 4)), remote: Some(r("d", 4)) },
            Record { path: "b".into(), local: Some(l("b", 9)), remote: Some(r("b", 9)) },
        ];
        let (local, remote) = replay(vec![l("a", 1), l("c", 3)], vec![r("a", 1), r("c", 3)], recs);
        assert_eq!(local, vec![l("b", 9), l("c", 3), l("d", 4)]);
        assert_eq!(remote, vec![r("b", 9), r("c", 3), r("d", 4)]);
    }

    #[test]
    fn a_torn_last_line_is_dropped_and_a_foreign_journal_refused() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("journal");
        let j = Journal::create(&p, "pair").unwrap();
        j.append(Record { path: "a".into(), local: Some(l("a", 1)), remote: Some(r("a", 1)) }).unwrap();
        drop(j);
        let mut text = std::fs::read_to_string(&p).unwrap();
        text.push_str("{\"path\":\"b\",\"lo");
        std::fs::write(&p, &text).unwrap();
        assert_eq!(load(&p, "pair").unwrap().unwrap().len(), 1);
        assert_eq!(load(&p, "other").unwrap_err().code(), "snapshot_corrupt");
    }
}
