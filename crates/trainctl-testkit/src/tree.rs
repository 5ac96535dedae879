//! Deterministic file trees and byte-exact tree comparison.
//!
//! Why: round-trip tests need content that differs per file (so a swapped or truncated file is
//! caught) yet is reproducible without storing fixtures: the bytes of a file are a function of
//! its relative path and size.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};

/// Writes each `(relative path, size)` under `dir`, creating parent directories.
/// A path ending in `/` creates an empty directory (its size is ignored).
pub fn write_tree(dir: &Path, entries: &[(&str, u64)]) {
    for (rel, size) in entries {
        let path = dir.join(rel);
        if rel.ends_with('/') {
            std::fs::create_dir_all(&path).unwrap_or_else(|e| panic!("mkdir {}: {e}", path.display()));
        } else {
            write_pattern(&path, &seed_of(rel, *size), *size)
                .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        }
    }
}

/// Writes `size` deterministic bytes to `path` (seeded by the whole path and the size).
pub fn random_file(path: &Path, size: u64) {
    write_pattern(path, &seed_of(&path.to_string_lossy(), size), size)
        .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// The bytes `write_tree` would give the file `name` of `size` bytes, for in-memory objects.
pub fn pattern_bytes(name: &str, size: usize) -> Vec<u8> {
    let mut gen = Pattern::new(&seed_of(name, size as u64));
    let mut out = vec![0u8; size];
    gen.fill(&mut out);
    out
}

/// Panics with a list of differences unless the regular files under `a` and `b` have the same
/// relative paths and the same bytes. Directories themselves are not compared (S3 has none).
pub fn assert_trees_equal(a: &Path, b: &Path) {
    let (fa, fb) = (files_under(a), files_under(b));
    let mut diffs = Vec::new();
    for rel in fa.keys().filter(|k| !fb.contains_key(*k)) {
        diffs.push(format!("only in {}: {rel}", a.display()));
    }
    for rel in fb.keys().filter(|k| !fa.contains_key(*k)) {
        diffs.push(format!("only in {}: {rel}", b.display()));
    }
    for (rel, pa) in &fa {
        if let Some(pb) = fb.get(rel) {
            if let Some(why) = content_difference(pa, pb) {
                diffs.push(format!("differs: {rel}: {why}"));
            }
        }
    }
    if !diffs.is_empty() {
        let shown: Vec<_> = diffs.iter().take(50).cloned().collect();
        panic!(
            "trees differ ({} differences, {} vs {} files):\n  {}",
            diffs.len(),
            fa.len(),
            fb.len(),
            shown.join("\n  ")
        );
    }
}

/// Relative path (with `/`) → absolute path of every regular file under `root`.
fn files_under(root: &Path) -> BTreeMap<String, PathBuf> {
    walkdir::WalkDir::new(root)
        .into_iter()
        .map(|e| e.unwrap_or_else(|e| panic!("walk {}: {e}", root.display())))
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let rel = e.path().strip_prefix(root).expect("under root");
            let rel = rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
            (rel, e.into_path())
        })
        .collect()
}

/// `None` when equal, else a short reason (sizes, or the first differing offset).
fn content_difference(a: &Path, b: &Path) -> Option<String> {
    let (la, lb) = (len(a), len(b));
    if la != lb {
        return Some(format!("size {la} vs {lb}"));
    }
    let (mut ra, mut rb) = (open(a), open(b));
    let (mut ba, mut bb) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    let mut offset = 0u64;
    loop {
        let n = read_full(&mut ra, &mut ba);
        let m = read_full(&mut rb, &mut bb);
        if let Some(i) = ba[..n].iter().zip(&bb[..m]).position(|(x, y)| x != y) {
            return Some(format!("first difference at byte {}", offset + i as u64));
        }
        if n != m {
            return Some(format!("length differs after byte {}", offset + n.min(m) as u64));
        }
        if n == 0 {
            return None;
        }
        offset += n as u64;
    }
}

fn len(p: &Path) -> u64 {
    p.metadata().unwrap_or_else(|e| panic!("stat {}: {e}", p.display())).len()
}

fn open(p: &Path) -> BufReader<File> {
    BufReader::new(File::open(p).unwrap_or_else(|e| panic!("open {}: {e}", p.display())))
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> usize {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => panic!("read: {e}"),
        }
    }
    filled
}

fn seed_of(name: &str, size: u64) -> String {
    format!("{name}\0{size}")
}

fn write_pattern(path: &Path, seed: &str, size: u64) -> io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut file = File::create(path)?;
    let mut gen = Pattern::new(seed);
    let mut buf = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        gen.fill(&mut buf[..n]);
        file.write_all(&buf[..n])?;
        left -= n as u64;
    }
    file.flush()
}

/// splitmix64 seeded by FNV-1a of the seed string: fast, deterministic, no repeats in practice.
struct Pattern {
    state: u64,
}

impl Pattern {
    fn new(seed: &str) -> Self {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in seed.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        Pattern { state: h }
    }

    fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Fills `buf`; a buffer boundary never changes the stream as long as chunks are 8-aligned.
    fn fill(&mut self, buf: &mut [u8]) {
        let mut chunks = buf.chunks_exact_mut(8);
        for c in &mut chunks {
            c.copy_from_slice(&self.next().to_le_bytes());
        }
        let rest = chunks.into_remainder();
        if !rest.is_empty() {
            let last = self.next().to_le_bytes();
            rest.copy_from_slice(&last[..rest.len()]);
        }
    }
}

/// A digest of everything under `dir`: each entry's relative path, kind, size, mtime and (for
/// files) MD5 of the bytes, links as their target. Equal digests before and after an operation
/// mean it changed no byte, name or time (a dry run).
pub fn tree_digest(dir: &Path) -> String {
    use md5::{Digest, Md5};
    let mut h = Md5::new();
    let mut entries: Vec<walkdir::DirEntry> = walkdir::WalkDir::new(dir).follow_links(false).into_iter().map(|e| e.unwrap()).collect();
    entries.sort_by(|a, b| a.path().cmp(b.path()));
    for e in entries {
        let meta = e.path().symlink_metadata().unwrap();
        h.update(e.path().strip_prefix(dir).unwrap().to_string_lossy().as_bytes());
        h.update(format!("|{:?}|{}|{:?}|", meta.file_type(), meta.len(), meta.modified().ok()).as_bytes());
        if meta.file_type().is_symlink() {
            h.update(std::fs::read_link(e.path()).unwrap().to_string_lossy().as_bytes());
        } else if meta.is_file() {
            h.update(std::fs::read(e.path()).unwrap());
        }
    }
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_path_and_size_give_same_bytes_different_paths_do_not() {
        let d = tempfile::tempdir().unwrap();
        write_tree(d.path(), &[("a/x.bin", 3000), ("b/x.bin", 3000), ("c/", 0), ("e.txt", 0)]);
        let x1 = std::fs::read(d.path().join("a/x.bin")).unwrap();
        assert_eq!(x1, pattern_bytes("a/x.bin", 3000));
        assert_ne!(x1, std::fs::read(d.path().join("b/x.bin")).unwrap());
        assert!(d.path().join("c").is_dir());
        assert_eq!(std::fs::read(d.path().join("e.txt")).unwrap().len(), 0);
    }

    #[test]
    fn large_files_match_the_in_memory_pattern_across_buffer_boundaries() {
        let d = tempfile::tempdir().unwrap();
        let size = (1 << 20) * 2 + 5;
        write_tree(d.path(), &[("big", size as u64)]);
        assert_eq!(std::fs::read(d.path().join("big")).unwrap(), pattern_bytes("big", size));
    }

    #[test]
    fn equal_trees_pass() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let entries = [("k/ü n i.txt", 10), ("deep/er/f", 70_000), ("z", 0)];
        write_tree(a.path(), &entries);
        write_tree(b.path(), &entries);
        assert_trees_equal(a.path(), b.path());
    }

    #[test]
    fn differing_trees_list_every_difference() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        write_tree(a.path(), &[("same", 10), ("only-a", 1), ("changed", 100)]);
        write_tree(b.path(), &[("same", 10), ("only-b", 1), ("changed", 100)]);
        let mut bytes = std::fs::read(b.path().join("changed")).unwrap();
        bytes[42] ^= 1;
        std::fs::write(b.path().join("changed"), bytes).unwrap();
        let err = std::panic::catch_unwind(|| assert_trees_equal(a.path(), b.path())).unwrap_err();
        let msg = err.downcast_ref::<String>().unwrap();
        assert!(msg.contains("3 differences"), "{msg}");
        assert!(msg.contains("only-a") && msg.contains("only-b"), "{msg}");
        assert!(msg.contains("changed: first difference at byte 42"), "{msg}");
    }
}
