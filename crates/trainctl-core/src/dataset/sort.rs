//! Sorting more entries than should sit in memory: an S3 Inventory report lists keys in no
//! promised order (and across several data files), while a manifest is sorted. Entries are kept
//! in runs of [`RUN`], each sorted and spilled to a zstd file; the runs are then merged one entry
//! at a time. Memory: one run while collecting, one entry per run while merging.

use super::manifest::Entry;
use crate::error::{Error, Result};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{BufRead, Write};
use std::path::PathBuf;

/// Entries sorted in memory before a run is spilled (~25 MB of entries).
pub const RUN: usize = 100_000;

/// Collects entries, spilling sorted runs to a temporary folder.
pub struct Sorter {
    dir: tempfile::TempDir,
    buf: Vec<Entry>,
    runs: Vec<PathBuf>,
    run: usize,
}

fn io(path: &std::path::Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::io(path, e)
}

impl Sorter {
    pub fn new() -> Result<Sorter> {
        Sorter::with_run(RUN)
    }

    /// A sorter spilling every `run` entries (tests use small runs).
    pub fn with_run(run: usize) -> Result<Sorter> {
        let dir = tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))?;
        Ok(Sorter { dir, buf: Vec::new(), runs: Vec::new(), run: run.max(1) })
    }

    pub fn push(&mut self, e: Entry) -> Result<()> {
        self.buf.push(e);
        if self.buf.len() >= self.run {
            self.spill()?;
        }
        Ok(())
    }

    fn spill(&mut self) -> Result<()> {
        self.buf.sort_unstable_by(|a, b| a.key.cmp(&b.key));
        let path = self.dir.path().join(format!("run-{}.zst", self.runs.len()));
        let file = std::fs::File::create(&path).map_err(io(&path))?;
        let mut enc = zstd::Encoder::new(std::io::BufWriter::new(file), 1).map_err(io(&path))?;
        // A small window: the merge holds one decoder (and its window) per run.
        enc.window_log(17).map_err(io(&path))?;
        for e in self.buf.drain(..) {
            let line = serde_json::to_string(&e).map_err(|e| Error::Internal(format!("json: {e}")))?;
            enc.write_all(line.as_bytes()).and_then(|_| enc.write_all(b"\n")).map_err(io(&path))?;
        }
        enc.finish().and_then(|mut w| w.flush()).map_err(io(&path))?;
        self.runs.push(path);
        Ok(())
    }

    /// Every entry pushed, in key order (duplicates adjacent).
    pub fn finish(mut self) -> Result<Merged> {
        if self.runs.is_empty() {
            self.buf.sort_unstable_by(|a, b| a.key.cmp(&b.key));
            return Ok(Merged { _dir: self.dir, memory: self.buf.into_iter(), runs: Vec::new(), heap: BinaryHeap::new(), heads: Vec::new() });
        }
        if !self.buf.is_empty() {
            self.spill()?;
        }
        let mut runs = Vec::with_capacity(self.runs.len());
        for path in &self.runs {
            let file = std::fs::File::open(path).map_err(io(path))?;
            let dec = zstd::Decoder::new(file).map_err(io(path))?;
            runs.push(Box::new(std::io::BufReader::new(dec).lines()) as RunLines);
        }
        let mut m = Merged { _dir: self.dir, memory: Vec::new().into_iter(), heads: vec![None; runs.len()], runs, heap: BinaryHeap::new() };
        for i in 0..m.runs.len() {
            m.advance(i)?;
        }
        Ok(m)
    }
}

type RunLines = Box<dyn Iterator<Item = std::io::Result<String>> + Send>;

/// The merged, sorted entries.
pub struct Merged {
    _dir: tempfile::TempDir,
    memory: std::vec::IntoIter<Entry>,
    runs: Vec<RunLines>,
    /// (key, run) of each run's head.
    heap: BinaryHeap<Reverse<(String, usize)>>,
    heads: Vec<Option<Entry>>,
}

impl Merged {
    fn advance(&mut self, i: usize) -> Result<()> {
        let bad = |e: String| Error::Internal(format!("a sorted run on disk: {e}"));
        if let Some(line) = self.runs[i].next() {
            let line = line.map_err(|e| bad(e.to_string()))?;
            let e: Entry = serde_json::from_str(&line).map_err(|e| bad(e.to_string()))?;
            self.heap.push(Reverse((e.key.clone(), i)));
            self.heads[i] = Some(e);
        }
        Ok(())
    }
}

impl Iterator for Merged {
    type Item = Result<Entry>;

    fn next(&mut self) -> Option<Result<Entry>> {
        if self.runs.is_empty() {
            return self.memory.next().map(Ok);
        }
        let Reverse((_, i)) = self.heap.pop()?;
        let e = self.heads[i].take()?;
        match self.advance(i) {
            Ok(()) => Some(Ok(e)),
            Err(err) => Some(Err(err)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &str) -> Entry {
        Entry { key: key.into(), size: 1, etag: Some("e".into()), part_size: None, checksum: None, version_id: None, content: None, codec: None, stored_size: None }
    }

    #[test]
    fn runs_on_disk_merge_into_one_sorted_sequence() {
        for run in [1, 3, 1000] {
            let mut s = Sorter::with_run(run).unwrap();
            let keys: Vec<String> = (0..50u32).map(|i| format!("k{:03}", (i * 37) % 50)).collect();
            for k in &keys {
                s.push(entry(k)).unwrap();
            }
            s.push(entry("k007")).unwrap();
            let out: Vec<String> = s.finish().unwrap().map(|e| e.unwrap().key).collect();
            let mut want = keys.clone();
            want.push("k007".into());
            want.sort();
            assert_eq!(out, want, "run {run}");
        }
    }
}
