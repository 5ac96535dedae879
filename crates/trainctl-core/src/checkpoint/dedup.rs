//! Local dedup: identical files across the checkpoints of a folder become one set of bytes.
//!
//! Why: a run keeps the same tokenizer, config and frozen components in every checkpoint, and
//! people copy the same weights to `best/` and `final/`. On one filesystem those copies can share
//! their blocks — a hard link (one inode, several names) or, where the filesystem can, a reflink
//! (two inodes sharing copy-on-write extents). Never a symlink: a later cleanup that deletes the
//! checkpoint holding the target would leave every other checkpoint with a dangling link, while a
//! hard link keeps the bytes alive until the last name goes.
//!
//! Plan, then apply: [`plan_dedup`] walks the folder (never following a link, never leaving it),
//! groups files by size, hashes the candidates on every core with the dataset hash cache
//! (`$XDG_CACHE_HOME/trainctl/hashes/`, rows keyed by relative path, size, mtime in ns, inode and
//! device), and returns the groups, what would be replaced and the bytes that would come back.
//! [`apply_dedup`](super::dedup_apply::apply_dedup) replaces exactly those files, each re-checked
//! right before (details there).

use crate::dataset::local::{self, HashKind, LocalFile};
use crate::error::{Error, Result};
use crate::event::Sink;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// How a replaced file shares the bytes of the kept one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// A reflink (FICLONE) where the filesystem supports it, else a hard link.
    #[default]
    Auto,
    /// Always a hard link: one inode, several names (`ls -l` shows the link count).
    Link,
    /// Only reflinks; files on a filesystem without them are left as they are, with a note.
    Reflink,
}

/// What the user asked of a dedup.
#[derive(Debug, Clone, Default)]
pub struct DedupOptions {
    pub method: Method,
    /// Files modified within this many seconds are left alone: a trainer may still write them.
    pub grace_secs: i64,
    /// Now, in seconds since the epoch (a parameter so tests can pin it).
    pub now: i64,
}

/// One file the plan replaces by a link to the group's kept file, with what it was when hashed
/// (apply refuses to replace it if any of it changed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Replacement {
    /// Relative to the root, `/`-separated.
    pub path: String,
    pub mtime_ns: i64,
    pub ino: u64,
    pub dev: u64,
    /// Unix permission bits before and, when they differ, after (a hard link shares the kept
    /// file's mode; the kept file is the group's most restrictive).
    pub mode: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode_after: Option<u32>,
    /// True when this name is the last one of its inode in the folder, so replacing it (with its
    /// inode's other names here) frees `size` bytes; false when the inode has names outside the
    /// folder and keeps its bytes.
    pub frees: bool,
}

/// Identical files (same size and SHA-256) on one filesystem and owner: one is kept, the others
/// are replaced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DedupGroup {
    pub sha256: String,
    pub size: u64,
    /// The file whose inode the others will share.
    pub keep: String,
    pub keep_mtime_ns: i64,
    pub keep_ino: u64,
    pub keep_dev: u64,
    /// Names already sharing the kept inode (nothing to do for them).
    pub already_linked: Vec<String>,
    pub replace: Vec<Replacement>,
    /// Bytes the group gives back: `size` × distinct inodes whose every name is replaced.
    pub bytes_reclaimed: u64,
}

/// A file the plan leaves alone, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    pub path: String,
    pub reason: String,
}

/// What a dedup would do: shown first (`--dry-run` stops there), applied exactly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DedupPlan {
    pub root: PathBuf,
    pub method: Method,
    pub files_scanned: u64,
    pub bytes_scanned: u64,
    pub groups: Vec<DedupGroup>,
    pub files_to_replace: u64,
    pub bytes_reclaimed: u64,
    /// Files hashed now, and answered by the hash cache (unchanged since an earlier run).
    pub hashed: u64,
    pub from_cache: u64,
    pub bytes_hashed: u64,
    /// Symlinks met in the walk: never followed, never replaced.
    pub symlinks: u64,
    pub skipped: Vec<Skipped>,
    /// Things worth knowing that change nothing (identical files on another filesystem...).
    pub notes: Vec<String>,
}

/// A regular file of the walk with what grouping needs beyond [`LocalFile`].
#[derive(Debug, Clone)]
pub(crate) struct Found {
    pub file: LocalFile,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub nlink: u64,
}

/// Names trainctl writes itself (pins, dedup temp links): never deduplicated.
const OWN_PREFIX: &str = ".trainctl-";

/// Walks `root` without following links; regular files only.
fn walk(root: &Path) -> Result<(Vec<Found>, u64, Vec<Skipped>)> {
    let meta = std::fs::symlink_metadata(root).map_err(|e| Error::io(root, e))?;
    if !meta.is_dir() {
        return Err(Error::LocalKind { path: root.to_path_buf(), expected: "directory" });
    }
    let (mut files, mut symlinks, mut skipped) = (Vec::new(), 0u64, Vec::new());
    for entry in walkdir::WalkDir::new(root).follow_links(false).min_depth(1) {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                let path = e.path().and_then(|p| p.strip_prefix(root).ok()).map(|p| p.display().to_string()).unwrap_or_default();
                skipped.push(Skipped { path, reason: format!("cannot read: {e}") });
                continue;
            }
        };
        let kind = entry.file_type();
        if kind.is_symlink() {
            symlinks += 1;
            continue;
        }
        if !kind.is_file() || entry.file_name().to_string_lossy().starts_with(OWN_PREFIX) {
            continue;
        }
        let Some(rel) = entry.path().strip_prefix(root).ok().and_then(|r| r.components().map(|c| c.as_os_str().to_str()).collect::<Option<Vec<_>>>()) else {
            skipped.push(Skipped { path: entry.path().display().to_string(), reason: "name is not valid UTF-8".into() });
            continue;
        };
        let rel = rel.join("/");
        match entry.metadata() {
            Ok(m) => files.push(Found {
                file: LocalFile { rel, path: entry.path().to_path_buf(), size: m.len(), mtime_ns: local::mtime_ns(&m), ino: m.ino(), dev: m.dev() },
                mode: m.permissions().mode() & 0o7777,
                uid: m.uid(),
                gid: m.gid(),
                nlink: m.nlink(),
            }),
            Err(e) => skipped.push(Skipped { path: rel, reason: format!("cannot stat: {e}") }),
        }
    }
    files.sort_by(|a, b| a.file.rel.cmp(&b.file.rel));
    Ok((files, symlinks, skipped))
}

/// Plans a dedup of `root`: walk, group by size, hash the candidates (one name per inode, on
/// every core, unchanged files answered by the cache), group by hash.
pub async fn plan_dedup(root: &Path, opts: &DedupOptions, job: u64, sink: &dyn Sink) -> Result<DedupPlan> {
    let (found, symlinks, mut skipped) = walk(root)?;
    let root = root.canonicalize().map_err(|e| Error::io(root, e))?;
    let files_scanned = found.len() as u64;
    let bytes_scanned = found.iter().map(|f| f.file.size).sum();
    let too_new_ns = (opts.now - opts.grace_secs).saturating_mul(1_000_000_000);
    let mut eligible = Vec::new();
    for f in found {
        if f.file.size == 0 {
            continue;
        }
        if opts.grace_secs > 0 && f.file.mtime_ns > too_new_ns {
            skipped.push(Skipped { path: f.file.rel.clone(), reason: format!("modified in the last {}s: may still be written", opts.grace_secs) });
            continue;
        }
        eligible.push(f);
    }
    let reps = candidates(&eligible);
    let rep_files: Vec<LocalFile> = reps.iter().map(|&i| eligible[i].file.clone()).collect();
    let kinds = vec![Some(HashKind::Sha256); rep_files.len()];
    let (hashes, stats) = local::hash_files(&root, rep_files, kinds, job, sink).await?;
    let mut by_inode: HashMap<(u64, u64), String> = HashMap::new();
    for (&i, h) in reps.iter().zip(hashes) {
        let f = &eligible[i].file;
        match h {
            Ok(Some(h)) if unchanged(f) => {
                by_inode.insert((f.dev, f.ino), h);
            }
            Ok(_) => skipped.push(Skipped { path: f.rel.clone(), reason: "changed while it was hashed; run again once it is written".into() }),
            Err(e) => skipped.push(Skipped { path: f.rel.clone(), reason: format!("cannot read: {e}") }),
        }
    }
    let mut notes = Vec::new();
    let mut groups = group(&eligible, &by_inode, &mut notes);
    groups.sort_by_key(|g| std::cmp::Reverse((g.bytes_reclaimed, g.size)));
    Ok(DedupPlan {
        root,
        method: opts.method,
        files_scanned,
        bytes_scanned,
        files_to_replace: groups.iter().map(|g| g.replace.len() as u64).sum(),
        bytes_reclaimed: groups.iter().map(|g| g.bytes_reclaimed).sum(),
        groups,
        hashed: stats.hashed,
        from_cache: stats.from_cache,
        bytes_hashed: stats.bytes_hashed,
        symlinks,
        skipped,
        notes,
    })
}

/// Indices of the files worth hashing: one name per inode, in sizes held by two inodes or more.
fn candidates(files: &[Found]) -> Vec<usize> {
    let mut by_size: BTreeMap<u64, BTreeMap<(u64, u64), usize>> = BTreeMap::new();
    for (i, f) in files.iter().enumerate() {
        by_size.entry(f.file.size).or_default().entry((f.file.dev, f.file.ino)).or_insert(i);
    }
    by_size.into_values().filter(|inodes| inodes.len() > 1).flat_map(BTreeMap::into_values).collect()
}

/// True when `f` still has the size, mtime and identity it was hashed with (a write during the
/// hashing moves its mtime).
fn unchanged(f: &LocalFile) -> bool {
    std::fs::symlink_metadata(&f.path).is_ok_and(|m| m.is_file() && m.len() == f.size && local::mtime_ns(&m) == f.mtime_ns && m.ino() == f.ino && m.dev() == f.dev)
}

/// Groups hashed files by (size, hash), then by filesystem and owner (a hard link can neither
/// cross a filesystem nor give a file another owner), and picks what each group keeps.
pub(crate) fn group(files: &[Found], hashes: &HashMap<(u64, u64), String>, notes: &mut Vec<String>) -> Vec<DedupGroup> {
    let mut by_content: BTreeMap<(u64, &str), Vec<&Found>> = BTreeMap::new();
    for f in files {
        if let Some(h) = hashes.get(&(f.file.dev, f.file.ino)) {
            by_content.entry((f.file.size, h)).or_default().push(f);
        }
    }
    let mut groups = Vec::new();
    for ((size, hash), names) in by_content {
        let mut parts: BTreeMap<(u64, u32, u32), Vec<&Found>> = BTreeMap::new();
        for f in names {
            parts.entry((f.file.dev, f.uid, f.gid)).or_default().push(f);
        }
        if parts.len() > 1 {
            let first = &parts.values().next().expect("two parts")[0].file.rel;
            let devs: std::collections::BTreeSet<u64> = parts.keys().map(|k| k.0).collect();
            let why = if devs.len() > 1 { "on another filesystem" } else { "with another owner" };
            notes.push(format!("{first}: identical copies {why} are deduplicated separately (a hard link cannot join them)"));
        }
        for part in parts.into_values() {
            if let Some(g) = group_of(size, hash, &part) {
                groups.push(g);
            }
        }
    }
    groups
}

/// One group over the names of identical files on one filesystem and owner, or `None` when they
/// already share one inode.
fn group_of(size: u64, hash: &str, names: &[&Found]) -> Option<DedupGroup> {
    let mut inodes: BTreeMap<u64, Vec<&Found>> = BTreeMap::new();
    for f in names {
        inodes.entry(f.file.ino).or_default().push(f);
    }
    if inodes.len() < 2 {
        return None;
    }
    // Keep the most restrictive mode (a read-only copy stays read-only, and a trainer that
    // tries to rewrite a shared file in place fails instead of changing every checkpoint), then
    // the inode with the most names (fewest replacements), then the first path.
    let keep_ino = *inodes
        .iter()
        .min_by_key(|(_, fs)| (fs[0].mode.count_ones(), fs[0].mode, std::cmp::Reverse(fs.len()), fs[0].file.rel.clone()))
        .map(|(ino, _)| ino)
        .expect("two inodes");
    let keep = inodes[&keep_ino][0];
    let mut replace = Vec::new();
    let mut bytes_reclaimed = 0;
    for (ino, fs) in &inodes {
        if *ino == keep_ino {
            continue;
        }
        let frees = fs[0].nlink <= fs.len() as u64;
        if frees {
            bytes_reclaimed += size;
        }
        for f in fs {
            let mode_after = (f.mode != keep.mode).then_some(keep.mode);
            replace.push(Replacement { path: f.file.rel.clone(), mtime_ns: f.file.mtime_ns, ino: *ino, dev: f.file.dev, mode: f.mode, mode_after, frees });
        }
    }
    replace.sort_by(|a, b| a.path.cmp(&b.path));
    Some(DedupGroup {
        sha256: hash.to_string(),
        size,
        keep: keep.file.rel.clone(),
        keep_mtime_ns: keep.file.mtime_ns,
        keep_ino,
        keep_dev: keep.file.dev,
        already_linked: inodes[&keep_ino].iter().skip(1).map(|f| f.file.rel.clone()).collect(),
        replace,
        bytes_reclaimed,
    })
}

/// A plan of `root` hashed in this thread without the cache (tests of apply).
#[cfg(test)]
pub(crate) fn plan_uncached(root: &Path, method: Method) -> DedupPlan {
    let (found, symlinks, skipped) = walk(root).unwrap();
    let hashes = found.iter().map(|f| ((f.file.dev, f.file.ino), local::sha256_of(&mut std::fs::File::open(&f.file.path).unwrap()).unwrap())).collect();
    let mut notes = Vec::new();
    let groups = group(&found, &hashes, &mut notes);
    DedupPlan {
        root: root.canonicalize().unwrap(),
        method,
        files_scanned: found.len() as u64,
        bytes_scanned: 0,
        files_to_replace: groups.iter().map(|g| g.replace.len() as u64).sum(),
        bytes_reclaimed: groups.iter().map(|g| g.bytes_reclaimed).sum(),
        groups,
        hashed: 0,
        from_cache: 0,
        bytes_hashed: 0,
        symlinks,
        skipped,
        notes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(rel: &str, size: u64, ino: u64, dev: u64, mode: u32, nlink: u64) -> Found {
        Found { file: LocalFile { rel: rel.into(), path: rel.into(), size, mtime_ns: 1, ino, dev }, mode, uid: 1, gid: 1, nlink }
    }

    fn hashes(files: &[Found], h: &str) -> HashMap<(u64, u64), String> {
        files.iter().map(|f| ((f.file.dev, f.file.ino), h.to_string())).collect()
    }

    #[test]
    fn the_most_restrictive_copy_is_kept_and_every_other_inode_is_replaced() {
        let files = [found("a/tok.json", 10, 1, 7, 0o644, 1), found("b/tok.json", 10, 2, 7, 0o444, 1), found("c/tok.json", 10, 3, 7, 0o644, 1)];
        let mut notes = Vec::new();
        let g = group(&files, &hashes(&files, "h"), &mut notes);
        assert_eq!(g.len(), 1);
        assert_eq!(g[0].keep, "b/tok.json");
        assert_eq!(g[0].replace.iter().map(|r| (r.path.as_str(), r.mode_after)).collect::<Vec<_>>(), [("a/tok.json", Some(0o444)), ("c/tok.json", Some(0o444))]);
        assert_eq!(g[0].bytes_reclaimed, 20);
        assert!(notes.is_empty());
    }

    #[test]
    fn names_already_sharing_an_inode_count_once_and_links_outside_free_nothing() {
        // Inode 1 has two names here; inode 2 has one name here and one elsewhere.
        let files = [found("a/w", 10, 1, 7, 0o644, 2), found("b/w", 10, 1, 7, 0o644, 2), found("c/w", 10, 2, 7, 0o644, 2)];
        let g = group(&files, &hashes(&files, "h"), &mut Vec::new());
        assert_eq!(g[0].keep, "a/w");
        assert_eq!(g[0].already_linked, ["b/w"]);
        assert_eq!(g[0].replace.len(), 1);
        assert!(!g[0].replace[0].frees);
        assert_eq!(g[0].bytes_reclaimed, 0);
    }

    #[test]
    fn copies_on_another_filesystem_are_grouped_apart_with_a_note() {
        let files = [found("a/w", 10, 1, 7, 0o644, 1), found("mnt/w", 10, 1, 8, 0o644, 1), found("b/w", 10, 2, 7, 0o644, 1)];
        let mut notes = Vec::new();
        let g = group(&files, &hashes(&files, "h"), &mut notes);
        assert_eq!(g.len(), 1, "{g:?}");
        assert!(g[0].replace.iter().all(|r| r.dev == 7));
        assert!(notes[0].contains("another filesystem"), "{notes:?}");
    }

    #[test]
    fn one_inode_alone_is_no_group_and_sizes_held_once_are_not_hashed() {
        let files = [found("a/w", 10, 1, 7, 0o644, 2), found("b/w", 10, 1, 7, 0o644, 2), found("c/x", 11, 2, 7, 0o644, 1)];
        assert!(group(&files, &hashes(&files, "h"), &mut Vec::new()).is_empty());
        assert!(candidates(&files).is_empty());
    }
}
