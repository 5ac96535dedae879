//! What each side looked like after the last pass: one snapshot file per side, compared with
//! that side only (never local mtimes against S3 LastModified: two clocks).
//!
//! Format: JSON lines — a header naming the pair and the side, one line per entry in path
//! order, and a trailer with the entry count and a SHA-256 of the entry lines, so a truncated,
//! hand-edited or foreign file is refused ([`Error::SnapshotCorrupt`]) instead of making
//! everything look deleted. Written atomically (temp file, fsync, rename).

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::{BufRead, Write};
use std::path::Path;

/// A snapshot file is refused above this size (≈ 4 M entries).
const MAX_SNAPSHOT_BYTES: u64 = 1 << 30;
const FORMAT: u32 = 1;

/// A local file (or, with `dir`, an empty folder: `path` then ends in `/`).
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalEntry {
    /// Relative to the pair's folder, `/`-separated.
    pub path: String,
    pub size: u64,
    /// Modification time in nanoseconds since the Unix epoch.
    pub mtime_ns: i64,
    /// Inode: a rename keeps it, so renames are told from delete + create.
    pub ino: u64,
    /// Hex MD5 of the content, when known (a plain ETag of the object it was synced with).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub md5: Option<String>,
}

/// An object (or, when `path` ends in `/`, a folder marker).
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteEntry {
    /// Relative to the pair's prefix.
    pub path: String,
    pub size: u64,
    /// The ETag without quotes.
    pub etag: String,
    /// LastModified, seconds since the Unix epoch (shown; compared only by `--conflict newer`).
    #[serde(default)]
    pub mtime: Option<i64>,
}

impl LocalEntry {
    pub fn is_dir(&self) -> bool {
        self.path.ends_with('/')
    }

    /// Same file as in the snapshot: size, mtime and inode unchanged.
    pub fn same_as(&self, other: &LocalEntry) -> bool {
        self.size == other.size && self.mtime_ns == other.mtime_ns && self.ino == other.ino
    }
}

impl RemoteEntry {
    pub fn is_dir(&self) -> bool {
        self.path.ends_with('/')
    }

    pub fn same_as(&self, other: &RemoteEntry) -> bool {
        self.size == other.size && self.etag == other.etag
    }

    /// The MD5 of the content when the ETag is a plain MD5 (single-part, unencrypted uploads).
    pub fn md5(&self) -> Option<String> {
        match crate::transfer::verify::etag_kind(Some(&self.etag)) {
            crate::transfer::verify::EtagKind::Md5(m) => Some(m),
            _ => None,
        }
    }
}

/// An entry of either side, by path.
pub trait Entry: Serialize + for<'de> Deserialize<'de> + Clone {
    const SIDE: &'static str;
    fn path(&self) -> &str;
}

impl Entry for LocalEntry {
    const SIDE: &'static str = "local";
    fn path(&self) -> &str {
        &self.path
    }
}

impl Entry for RemoteEntry {
    const SIDE: &'static str = "remote";
    fn path(&self) -> &str {
        &self.path
    }
}

#[derive(Serialize, Deserialize)]
struct Header {
    trainctl_sync_snapshot: u32,
    pair: String,
    side: String,
}

#[derive(Serialize, Deserialize)]
struct Trailer {
    end: u64,
    sha256: String,
}

/// Reads a side's snapshot: `Ok(None)` when there is none (a first pass). Entries come back in
/// path order.
pub fn load<E: Entry>(path: &Path, pair_id: &str) -> Result<Option<Vec<E>>> {
    let corrupt = |reason: String| Error::SnapshotCorrupt { path: path.to_path_buf(), reason };
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(path, e)),
    };
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    if len > MAX_SNAPSHOT_BYTES {
        return Err(corrupt(format!("{len} bytes, more than a snapshot ever holds")));
    }
    let mut lines = std::io::BufReader::new(file).lines();
    let mut next = |what: &str| -> Result<String> {
        match lines.next() {
            Some(Ok(l)) => Ok(l),
            Some(Err(e)) => Err(corrupt(format!("unreadable {what}: {e}"))),
            None => Err(corrupt(format!("it ends before its {what} (truncated)"))),
        }
    };
    let header: Header = serde_json::from_str(&next("header")?).map_err(|e| corrupt(format!("not a trainctl sync snapshot ({e})")))?;
    if header.trainctl_sync_snapshot != FORMAT {
        return Err(corrupt(format!("format {} (this trainctl reads {FORMAT})", header.trainctl_sync_snapshot)));
    }
    if header.pair != pair_id {
        return Err(corrupt(format!("it was written for another pair ({}), not this one ({pair_id})", header.pair)));
    }
    if header.side != E::SIDE {
        return Err(corrupt(format!("it is the {} side's snapshot, not the {} side's", header.side, E::SIDE)));
    }
    let mut hash = Sha256::new();
    let mut entries: Vec<E> = Vec::new();
    loop {
        let line = next("trailer")?;
        if line.starts_with("{\"end\"") {
            let t: Trailer = serde_json::from_str(&line).map_err(|e| corrupt(format!("bad trailer ({e})")))?;
            if t.end != entries.len() as u64 || t.sha256 != hex::encode(hash.finalize()) {
                return Err(corrupt("its entries do not match its trailer (edited or damaged)".into()));
            }
            break;
        }
        hash.update(line.as_bytes());
        hash.update(b"\n");
        let e: E = serde_json::from_str(&line).map_err(|e| corrupt(format!("entry {}: {e}", entries.len() + 1)))?;
        if entries.last().is_some_and(|p| p.path() >= e.path()) {
            return Err(corrupt(format!("entry {} is out of order", entries.len() + 1)));
        }
        entries.push(e);
    }
    Ok(Some(entries))
}

/// Writes a side's snapshot atomically (entries must be in path order).
pub fn save<E: Entry>(path: &Path, pair_id: &str, entries: &[E]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| Error::io(dir, e))?;
    {
        let mut w = std::io::BufWriter::new(tmp.as_file_mut());
        let io = |e: std::io::Error| Error::io(path, e);
        let header = Header { trainctl_sync_snapshot: FORMAT, pair: pair_id.into(), side: E::SIDE.into() };
        writeln!(w, "{}", serde_json::to_string(&header).map_err(|e| Error::Internal(e.to_string()))?).map_err(io)?;
        let mut hash = Sha256::new();
        for e in entries {
            let line = serde_json::to_string(e).map_err(|e| Error::Internal(e.to_string()))?;
            hash.update(line.as_bytes());
            hash.update(b"\n");
            writeln!(w, "{line}").map_err(io)?;
        }
        let t = Trailer { end: entries.len() as u64, sha256: hex::encode(hash.finalize()) };
        writeln!(w, "{}", serde_json::to_string(&t).map_err(|e| Error::Internal(e.to_string()))?).map_err(io)?;
        w.flush().map_err(io)?;
    }
    tmp.as_file().sync_all().map_err(|e| Error::io(path, e))?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(p: &str) -> RemoteEntry {
        RemoteEntry { path: p.into(), size: 3, etag: "e".into(), mtime: Some(1) }
    }

    #[test]
    fn a_snapshot_reads_back_and_refuses_damage_and_other_pairs() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("remote.snap");
        assert!(load::<RemoteEntry>(&p, "pair").unwrap().is_none());
        save(&p, "pair", &[entry("a"), entry("b/c")]).unwrap();
        assert_eq!(load::<RemoteEntry>(&p, "pair").unwrap().unwrap(), vec![entry("a"), entry("b/c")]);
        assert_eq!(load::<RemoteEntry>(&p, "other").unwrap_err().code(), "snapshot_corrupt");
        assert_eq!(load::<LocalEntry>(&p, "pair").unwrap_err().code(), "snapshot_corrupt");
        let text = std::fs::read_to_string(&p).unwrap();
        std::fs::write(&p, text.replace("b/c", "b/x")).unwrap();
        assert!(load::<RemoteEntry>(&p, "pair").unwrap_err().to_string().contains("trailer"));
        let lines: Vec<&str> = text.lines().collect();
        std::fs::write(&p, lines[..2].join("\n")).unwrap();
        assert!(load::<RemoteEntry>(&p, "pair").unwrap_err().to_string().contains("truncated"));
        std::fs::write(&p, "garbage").unwrap();
        assert_eq!(load::<RemoteEntry>(&p, "pair").unwrap_err().code(), "snapshot_corrupt");
    }
}
