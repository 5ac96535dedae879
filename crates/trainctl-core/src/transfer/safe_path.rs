//! The one function that turns an object key into a local path.
//!
//! Object keys are hostile input: a bucket can hold `../../.ssh/authorized_keys`, `/etc/passwd`,
//! `a/./b`, `C:\x` or a key with a NUL byte. Every local path built from a key goes through
//! [`local_path_for_key`], which refuses anything that would land outside `dest`, instead of
//! "cleaning" it into something the user did not ask for.

use crate::error::{Error, Result};
use std::path::{Component, Path, PathBuf};

/// Builds `dest/<relative>` for the object `key` downloaded from under `prefix`.
///
/// `relative` is `key` with `prefix` removed. It must be a plain relative path of normal
/// components: no `..`, no `.`, no empty segment (`a//b`), no absolute path, no backslash, no
/// NUL. A key that ends in `/` is a "directory marker" and is refused too (callers skip markers
/// of size 0 before calling this). The check is lexical, so it holds whether or not the path
/// exists; callers that write must also refuse to follow symlinks already inside `dest`
/// (see [`ensure_no_symlink_escape`]).
pub fn local_path_for_key(dest: &Path, prefix: &str, key: &str) -> Result<PathBuf> {
    let unsafe_key = |reason: &str| Error::UnsafeKey { key: key.to_string(), reason: reason.to_string() };
    let relative = key.strip_prefix(prefix).ok_or_else(|| unsafe_key("key is not under the listed prefix"))?;
    // `runs/a` as the prefix of `runs/a/b`: the separator belongs to the prefix. Any other leading
    // `/` (an absolute-looking key) is refused below as an empty segment.
    let relative = match relative.strip_prefix('/') {
        Some(rest) if !prefix.is_empty() && !prefix.ends_with('/') => rest,
        _ => relative,
    };
    if relative.is_empty() {
        return Err(unsafe_key("key names no file below the prefix"));
    }
    if relative.contains('\0') {
        return Err(unsafe_key("key contains a NUL byte"));
    }
    if relative.contains('\\') {
        return Err(unsafe_key("key contains a backslash, which some systems treat as a separator"));
    }
    if relative.ends_with('/') {
        return Err(unsafe_key("key is a directory marker"));
    }
    let mut out = dest.to_path_buf();
    for segment in relative.split('/') {
        match segment {
            "" => return Err(unsafe_key("key has an empty path segment (`//`)")),
            "." | ".." => return Err(unsafe_key("key has a `.` or `..` segment that would escape the destination")),
            s => {
                let mut comps = Path::new(s).components();
                match (comps.next(), comps.next()) {
                    (Some(Component::Normal(_)), None) => out.push(s),
                    _ => return Err(unsafe_key("key segment is not a plain file name")),
                }
            }
        }
    }
    debug_assert!(out.starts_with(dest));
    Ok(out)
}

/// Refuses to write `path` if any existing ancestor between `dest` and `path` is a symlink,
/// so that a pre-existing link inside the destination cannot redirect a download outside it.
pub fn ensure_no_symlink_escape(dest: &Path, path: &Path) -> Result<()> {
    let rel = path.strip_prefix(dest).map_err(|_| Error::UnsafeKey {
        key: path.display().to_string(),
        reason: "path is outside the destination".into(),
    })?;
    let mut cur = dest.to_path_buf();
    for comp in rel.components() {
        // `dest/../x` starts with `dest` lexically: only plain names may follow the destination.
        if !matches!(comp, Component::Normal(_)) {
            return Err(Error::UnsafeKey { key: path.display().to_string(), reason: "path leaves the destination (`..` or `.`)".into() });
        }
        cur.push(comp);
        match std::fs::symlink_metadata(&cur) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(Error::UnsafeKey {
                    key: path.display().to_string(),
                    reason: format!("{} is a symlink; refusing to write through it", cur.display()),
                })
            }
            Ok(_) => {}
            Err(_) => break, // does not exist yet: nothing further can be a link
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(prefix: &str, key: &str) -> PathBuf {
        local_path_for_key(Path::new("/dest"), prefix, key).unwrap()
    }
    fn refused(prefix: &str, key: &str) -> bool {
        matches!(local_path_for_key(Path::new("/dest"), prefix, key), Err(Error::UnsafeKey { .. }))
    }

    #[test]
    fn plain_keys_land_under_dest() {
        assert_eq!(ok("runs/", "runs/a/b.pt"), PathBuf::from("/dest/a/b.pt"));
        assert_eq!(ok("", "x y/ünï cödé.txt"), PathBuf::from("/dest/x y/ünï cödé.txt"));
        assert_eq!(ok("runs/a", "runs/a/b"), PathBuf::from("/dest/b"));
        assert_eq!(ok("", "a..b/c..d"), PathBuf::from("/dest/a..b/c..d"));
    }

    #[test]
    fn escaping_keys_are_refused() {
        for key in ["../x", "a/../../x", "a/..", "./a", "a/./b", "/etc/passwd", "a//b", "a\\..\\b", "a\0b", "a/"] {
            assert!(refused("", key), "{key:?} must be refused");
        }
        assert!(refused("runs/", "other/x"));
        assert!(refused("runs/", "runs/"));
    }

    #[test]
    fn a_path_that_only_looks_inside_the_destination_is_refused() {
        let dest = tempfile::tempdir().unwrap();
        let sneaky = dest.path().join("models/../../.bashrc");
        assert_eq!(ensure_no_symlink_escape(&dest.path().join("models"), &sneaky).unwrap_err().code(), "unsafe_key");
        assert!(ensure_no_symlink_escape(dest.path(), &dest.path().join("a/b.bin")).is_ok());
    }
}
