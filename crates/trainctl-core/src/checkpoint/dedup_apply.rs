//! Applying a [`DedupPlan`]: each planned file is replaced atomically by a name of the kept
//! inode, or left exactly as it was.
//!
//! Per group, the kept file is opened without following links, must still be the inode, size and
//! mtime the plan saw, and is re-hashed once. Per replaced file: its folder is reached from the
//! root one component at a time (`openat(O_DIRECTORY|O_NOFOLLOW)`, so a folder swapped for a link
//! is refused); the file is opened `O_NOFOLLOW`, must match the plan (inode, size, mtime) and is
//! re-hashed; the kept inode is linked (or reflinked) to a unique temp name
//! `.trainctl-dedup-<16 hex>` in that folder; the file is checked once more by `fstatat` and the
//! temp name is renamed over it (`renameat`, atomic: a reader sees the old bytes or the same
//! bytes). Any mismatch or error removes the temp name and leaves the file, with a reason.

use super::dedup::{DedupGroup, DedupPlan, Method, Replacement, Skipped};
use crate::dataset::local::sha256_of;
use crate::error::{Error, Result};
use rustix::fd::OwnedFd;
use rustix::fs::{AtFlags, Mode, OFlags, Timespec, Timestamps, CWD};
use rustix::io::Errno;
use serde::Serialize;
use std::path::Path;

/// What an apply did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DedupOutcome {
    /// Files now sharing the kept inode by a hard link ...
    pub linked: u64,
    /// ... or sharing its extents by a reflink.
    pub reflinked: u64,
    /// Bytes given back (the plan's count, less what was skipped).
    pub bytes_reclaimed: u64,
    pub skipped: Vec<Skipped>,
    /// Fallbacks that changed nothing (another filesystem, no reflink support).
    pub notes: Vec<String>,
}

/// Replaces exactly the files of `plan`, each re-checked right before (module docs). Blocking:
/// it hashes; call it from a blocking thread.
pub fn apply_dedup(plan: &DedupPlan) -> Result<DedupOutcome> {
    let root = open_dir(CWD, &plan.root).map_err(|e| Error::io(&plan.root, e.into()))?;
    let mut out = DedupOutcome::default();
    for g in &plan.groups {
        apply_group(&root, g, plan.method, &mut out);
    }
    Ok(out)
}

fn apply_group(root: &OwnedFd, g: &DedupGroup, method: Method, out: &mut DedupOutcome) {
    let keep = match open_keep(root, g) {
        Ok(k) => k,
        Err(reason) => {
            out.skipped.extend(g.replace.iter().map(|r| Skipped { path: r.path.clone(), reason: format!("kept copy {}: {reason}", g.keep) }));
            return;
        }
    };
    let mut freed_inodes = std::collections::BTreeMap::<u64, bool>::new();
    for r in &g.replace {
        let done = match replace_one(root, &keep, g, r, method) {
            Ok(Done::Linked) => {
                out.linked += 1;
                true
            }
            Ok(Done::Reflinked) => {
                out.reflinked += 1;
                true
            }
            Ok(Done::LeftAlone(note)) => {
                out.notes.push(format!("{}: {note}; nothing changed", r.path));
                false
            }
            Err(reason) => {
                out.skipped.push(Skipped { path: r.path.clone(), reason });
                false
            }
        };
        let all = freed_inodes.entry(r.ino).or_insert(true);
        *all &= done && r.frees;
    }
    out.bytes_reclaimed += freed_inodes.values().filter(|f| **f).count() as u64 * g.size;
}

/// The kept file: its folder, its name and an open handle, checked against the plan.
struct Keep {
    dir: OwnedFd,
    name: String,
    file: OwnedFd,
}

#[allow(clippy::unnecessary_cast)]
fn open_keep(root: &OwnedFd, g: &DedupGroup) -> std::result::Result<Keep, String> {
    let (dir, name) = open_parent(root, &g.keep).map_err(|e| e.to_string())?;
    let file = rustix::fs::openat(&dir, name.as_str(), OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty()).map_err(|e| e.to_string())?;
    let st = rustix::fs::fstat(&file).map_err(|e| e.to_string())?;
    if st.st_ino != g.keep_ino || st.st_dev != g.keep_dev || st.st_size as u64 != g.size || mtime_ns(&st) != g.keep_mtime_ns {
        return Err("changed since the plan; run dedup again".into());
    }
    if rehash(&file)? != g.sha256 {
        return Err("its content changed since the plan; run dedup again".into());
    }
    Ok(Keep { dir, name, file })
}

enum Done {
    Linked,
    Reflinked,
    LeftAlone(String),
}

fn replace_one(root: &OwnedFd, keep: &Keep, g: &DedupGroup, r: &Replacement, method: Method) -> std::result::Result<Done, String> {
    let (dir, name) = open_parent(root, &r.path).map_err(|e| e.to_string())?;
    let file = rustix::fs::openat(&dir, name.as_str(), OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty()).map_err(|e| format!("cannot open: {e}"))?;
    let st = rustix::fs::fstat(&file).map_err(|e| e.to_string())?;
    if !same(&st, r, g.size) {
        return Err("changed since it was hashed; left as it is".into());
    }
    if rehash(&file)? != g.sha256 {
        return Err("its content changed since it was hashed; left as it is".into());
    }
    let tmp = temp_name();
    let made = match method {
        Method::Link => link(keep, &dir, &tmp),
        Method::Reflink => reflink(keep, &dir, &tmp, &st),
        Method::Auto => match reflink(keep, &dir, &tmp, &st) {
            Ok(Done::LeftAlone(_)) => link(keep, &dir, &tmp),
            other => other,
        },
    };
    let done = match made {
        Ok(Done::LeftAlone(note)) => return Ok(Done::LeftAlone(note)),
        Ok(d) => d,
        Err(e) => return Err(e),
    };
    // The last look before the rename: still the file that was hashed.
    let now = rustix::fs::statat(&dir, name.as_str(), AtFlags::SYMLINK_NOFOLLOW);
    if !now.as_ref().is_ok_and(|st| same(st, r, g.size)) {
        let _ = rustix::fs::unlinkat(&dir, tmp.as_str(), AtFlags::empty());
        return Err("changed while it was being replaced; left as it is".into());
    }
    if let Err(e) = rustix::fs::renameat(&dir, tmp.as_str(), &dir, name.as_str()) {
        let _ = rustix::fs::unlinkat(&dir, tmp.as_str(), AtFlags::empty());
        return Err(format!("cannot replace: {e}"));
    }
    let _ = rustix::fs::fsync(&dir);
    Ok(done)
}

/// A hard link of the kept inode at `dir/tmp`; a different filesystem or a full link count is a
/// note, not an error.
fn link(keep: &Keep, dir: &OwnedFd, tmp: &str) -> std::result::Result<Done, String> {
    match rustix::fs::linkat(&keep.dir, keep.name.as_str(), dir, tmp, AtFlags::empty()) {
        Ok(()) => {}
        Err(Errno::XDEV) => return Ok(Done::LeftAlone("on another filesystem than the kept copy (a hard link cannot cross it)".into())),
        Err(Errno::MLINK) => return Ok(Done::LeftAlone("the kept copy has the most links its filesystem allows".into())),
        Err(e) => return Err(format!("cannot link: {e}")),
    }
    // The new name must be the kept inode, not whatever a race put at the kept name.
    let st = rustix::fs::statat(dir, tmp, AtFlags::SYMLINK_NOFOLLOW);
    let kst = rustix::fs::fstat(&keep.file);
    match (st, kst) {
        (Ok(a), Ok(b)) if a.st_ino == b.st_ino && a.st_dev == b.st_dev => Ok(Done::Linked),
        _ => {
            let _ = rustix::fs::unlinkat(dir, tmp, AtFlags::empty());
            Err("the kept copy was replaced while linking; left as it is".into())
        }
    }
}

/// A reflink (FICLONE) of the kept file at `dir/tmp`, with the replaced file's mode and times;
/// a filesystem without reflinks is a note.
fn reflink(keep: &Keep, dir: &OwnedFd, tmp: &str, was: &rustix::fs::Stat) -> std::result::Result<Done, String> {
    let mode = Mode::from_raw_mode(was.st_mode & 0o7777);
    let fd = rustix::fs::openat(dir, tmp, OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::RUSR | Mode::WUSR)
        .map_err(|e| format!("cannot create a temp file: {e}"))?;
    let cleanup = |why: String| {
        let _ = rustix::fs::unlinkat(dir, tmp, AtFlags::empty());
        why
    };
    match rustix::fs::ioctl_ficlone(&fd, &keep.file) {
        Ok(()) => {}
        Err(Errno::OPNOTSUPP | Errno::INVAL | Errno::NOTTY | Errno::XDEV | Errno::BADF) => {
            cleanup(String::new());
            return Ok(Done::LeftAlone("this filesystem cannot reflink".into()));
        }
        Err(e) => return Err(cleanup(format!("cannot reflink: {e}"))),
    }
    let times = Timestamps {
        last_access: Timespec { tv_sec: was.st_atime as _, tv_nsec: was.st_atime_nsec as _ },
        last_modification: Timespec { tv_sec: was.st_mtime as _, tv_nsec: was.st_mtime_nsec as _ },
    };
    rustix::fs::fchmod(&fd, mode).and_then(|_| rustix::fs::futimens(&fd, &times)).and_then(|_| rustix::fs::fsync(&fd)).map_err(|e| cleanup(format!("cannot finish the reflink: {e}")))?;
    Ok(Done::Reflinked)
}

/// The folder of `rel` reached from `root` one component at a time without following links,
/// and the file name.
fn open_parent(root: &OwnedFd, rel: &str) -> std::io::Result<(OwnedFd, String)> {
    let mut parts: Vec<&str> = rel.split('/').collect();
    let name = parts.pop().filter(|n| !n.is_empty() && *n != "." && *n != "..").ok_or_else(|| std::io::Error::other("not a plain relative path"))?;
    let mut dir = rustix::io::dup(root)?;
    for p in parts {
        if p.is_empty() || p == "." || p == ".." {
            return Err(std::io::Error::other("not a plain relative path"));
        }
        dir = open_dir(&dir, Path::new(p))?;
    }
    Ok((dir, name.to_string()))
}

fn open_dir(at: impl rustix::fd::AsFd, p: &Path) -> rustix::io::Result<OwnedFd> {
    rustix::fs::openat(at, p, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())
}

#[allow(clippy::unnecessary_cast)]
fn same(st: &rustix::fs::Stat, r: &Replacement, size: u64) -> bool {
    st.st_ino == r.ino && st.st_dev == r.dev && st.st_size as u64 == size && mtime_ns(st) == r.mtime_ns
}

// The field types differ between platforms (i64 on Linux x86-64, others elsewhere).
#[allow(clippy::unnecessary_cast)]
fn mtime_ns(st: &rustix::fs::Stat) -> i64 {
    (st.st_mtime as i64).saturating_mul(1_000_000_000).saturating_add(st.st_mtime_nsec as i64)
}

/// SHA-256 of an open file from its start (a duplicate of the handle, so the caller's offset
/// does not matter).
fn rehash(fd: &OwnedFd) -> std::result::Result<String, String> {
    let mut f = std::fs::File::from(rustix::io::dup(fd).map_err(|e| e.to_string())?);
    std::io::Seek::rewind(&mut f).map_err(|e| e.to_string())?;
    sha256_of(&mut f).map_err(|e| format!("cannot read: {e}"))
}

fn temp_name() -> String {
    format!(".trainctl-dedup-{:016x}", fastrand::u64(..))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::dedup::plan_uncached;
    use std::os::unix::fs::MetadataExt;

    /// `a/w`, `b/w`, `c/w`: three copies of the same bytes.
    fn three_copies() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for c in ["a", "b", "c"] {
            std::fs::create_dir(d.path().join(c)).unwrap();
            std::fs::write(d.path().join(c).join("w"), vec![7u8; 10_000]).unwrap();
        }
        d
    }

    fn ino(d: &Path, rel: &str) -> u64 {
        std::fs::metadata(d.join(rel)).unwrap().ino()
    }

    #[test]
    fn a_file_changed_since_it_was_hashed_is_left_as_it_is_and_the_others_are_linked() {
        let d = three_copies();
        let plan = plan_uncached(d.path(), Method::Link);
        assert_eq!((plan.groups[0].keep.as_str(), plan.files_to_replace), ("a/w", 2));
        // Same size, other bytes, mtime moved: a trainer rewrote c/w after the plan.
        std::fs::write(d.path().join("c/w"), vec![8u8; 10_000]).unwrap();
        let out = apply_dedup(&plan).unwrap();
        assert_eq!((out.linked, out.bytes_reclaimed), (1, 10_000));
        assert_eq!(out.skipped.len(), 1);
        assert_eq!(out.skipped[0].path, "c/w");
        assert!(out.skipped[0].reason.contains("changed since it was hashed"), "{:?}", out.skipped);
        assert_eq!(std::fs::read(d.path().join("c/w")).unwrap(), vec![8u8; 10_000]);
        assert_eq!(ino(d.path(), "a/w"), ino(d.path(), "b/w"));
    }

    #[test]
    fn a_kept_copy_changed_since_the_plan_leaves_its_whole_group_alone() {
        let d = three_copies();
        let plan = plan_uncached(d.path(), Method::Link);
        std::fs::write(d.path().join("a/w"), vec![9u8; 10_000]).unwrap();
        let out = apply_dedup(&plan).unwrap();
        assert_eq!((out.linked, out.bytes_reclaimed, out.skipped.len()), (0, 0, 2));
        assert!(out.skipped[0].reason.contains("kept copy a/w"), "{:?}", out.skipped);
        assert_eq!(std::fs::read(d.path().join("b/w")).unwrap(), vec![7u8; 10_000]);
    }

    #[test]
    fn a_folder_swapped_for_a_symlink_after_the_plan_is_not_followed() {
        let d = three_copies();
        let elsewhere = tempfile::tempdir().unwrap();
        std::fs::write(elsewhere.path().join("w"), vec![7u8; 10_000]).unwrap();
        let plan = plan_uncached(d.path(), Method::Link);
        std::fs::remove_dir_all(d.path().join("c")).unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), d.path().join("c")).unwrap();
        let out = apply_dedup(&plan).unwrap();
        assert_eq!(out.linked, 1);
        assert_eq!(out.skipped[0].path, "c/w");
        assert_eq!(std::fs::symlink_metadata(elsewhere.path().join("w")).unwrap().nlink(), 1, "the outside file is untouched");
    }

    #[test]
    fn reflink_only_on_a_filesystem_without_reflinks_changes_nothing_and_auto_falls_back_to_links() {
        let d = three_copies();
        let before = [ino(d.path(), "a/w"), ino(d.path(), "b/w"), ino(d.path(), "c/w")];
        let out = apply_dedup(&plan_uncached(d.path(), Method::Reflink)).unwrap();
        if out.reflinked == 0 {
            assert_eq!(out.notes.len(), 2, "{out:?}");
            assert!(out.notes[0].contains("cannot reflink"), "{out:?}");
            assert_eq!([ino(d.path(), "a/w"), ino(d.path(), "b/w"), ino(d.path(), "c/w")], before);
            let out = apply_dedup(&plan_uncached(d.path(), Method::Auto)).unwrap();
            assert_eq!((out.linked, out.bytes_reclaimed), (2, 20_000));
        } else {
            // A filesystem with reflinks (btrfs, XFS): separate inodes, shared extents.
            assert_eq!(out.reflinked, 2);
            assert_eq!(std::fs::read(d.path().join("c/w")).unwrap(), vec![7u8; 10_000]);
        }
        assert!(std::fs::read_dir(d.path().join("b")).unwrap().count() == 1, "no temp file is left");
    }
}
