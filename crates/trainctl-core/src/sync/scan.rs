//! Looking at both sides now: a walk of the folder and one listing of the prefix, each into
//! entries in path order, plus what is out of reach and why (symlinks, unreadable folders,
//! keys that cannot be local names).
//!
//! What is out of reach is also out of scope: its paths are neither copied nor deleted on either
//! side, and its snapshot entries are kept as they are. An unreadable folder must never look
//! like a folder whose files were all deleted.

use super::snapshot::{LocalEntry, RemoteEntry};
use crate::error::{Error, ErrorInfo, Result};
use crate::s3::Connection;
use crate::transfer::local_write::TEMP_SUFFIX;
use crate::transfer::plan::PathFilter;
use crate::transfer::safe_path::local_path_for_key;
use futures::StreamExt;
use serde::Serialize;
use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// A path left alone, and why (shown in the plan).
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "ts", ts(rename = "SyncSkipped"))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Skipped {
    pub path: String,
    pub side: String,
    pub reason: String,
    /// Set when it is an error the user should act on (unsafe key, unreadable folder).
    pub error: Option<ErrorInfo>,
}

/// One side as it is now.
#[derive(Debug)]
pub struct Scan<E> {
    pub entries: Vec<E>,
    pub skipped: Vec<Skipped>,
    /// Paths out of scope: an exact path, or a folder (ending in `/`) and all below it.
    pub out_of_scope: BTreeSet<String>,
}

impl<E> Default for Scan<E> {
    fn default() -> Self {
        Scan { entries: Vec::new(), skipped: Vec::new(), out_of_scope: BTreeSet::new() }
    }
}

impl<E> Scan<E> {
    fn skip(&mut self, path: String, side: &str, reason: impl Into<String>, error: Option<ErrorInfo>, scope: Option<String>) {
        if let Some(s) = scope {
            self.out_of_scope.insert(s);
        }
        self.skipped.push(Skipped { path, side: side.into(), reason: reason.into(), error });
    }
}

/// Whether `path` falls under an out-of-scope path or folder.
pub fn is_out_of_scope(scope: &BTreeSet<String>, path: &str) -> bool {
    if scope.contains(path) {
        return true;
    }
    // Every folder prefix of `path` (`a/`, `a/b/`) is checked.
    path.match_indices('/').any(|(i, _)| i + 1 < path.len() && scope.contains(&path[..=i]))
}

/// The content area (`…/.trainctl/content/`, `crate::refs`) `rel` lies in, if any.
fn content_area_of(rel: &str) -> Option<&str> {
    let at = if rel.starts_with(crate::refs::AREA) { 0 } else { rel.find(&format!("/{}", crate::refs::AREA))? + 1 };
    Some(&rel[..at + crate::refs::AREA.len()])
}

/// `rel` as the filter sees it (folders without their trailing `/`).
pub fn filtered_in(filter: &PathFilter, rel: &str) -> bool {
    filter.allows(rel.trim_end_matches('/'))
}

/// Walks the folder: regular files and empty folders. Symlinks are skipped (never followed),
/// as are special files; unreadable folders are skipped with their whole subtree out of scope.
pub fn scan_local(root: &Path, filter: &PathFilter) -> Scan<LocalEntry> {
    let mut scan = Scan::default();
    let mut dirs: Vec<String> = Vec::new();
    let mut non_empty: BTreeSet<String> = BTreeSet::new();
    for entry in walkdir::WalkDir::new(root).follow_links(false).min_depth(1) {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                let path = e.path().map(Path::to_path_buf).unwrap_or_else(|| root.to_path_buf());
                let rel = relative(root, &path).unwrap_or_default();
                let io = e.into_io_error().unwrap_or_else(|| std::io::Error::other("filesystem loop"));
                let err = Error::io(&path, io);
                // Out of scope as a file and as a folder: we cannot tell which it was.
                scan.out_of_scope.insert(format!("{rel}/"));
                scan.skip(rel.clone(), "local", "unreadable: left alone on both sides", Some(err.info()), Some(rel));
                continue;
            }
        };
        let Some(rel) = relative(root, entry.path()) else {
            let shown = entry.path().display().to_string();
            let err = Error::LocalIo { path: entry.path().to_path_buf(), source: std::io::Error::new(std::io::ErrorKind::InvalidData, "file name is not valid UTF-8") };
            scan.skip(shown, "local", "name is not UTF-8: left alone", Some(err.info()), None);
            continue;
        };
        let name = entry.file_name().to_string_lossy();
        if name.starts_with('.') && name.ends_with(TEMP_SUFFIX) {
            continue; // a download in progress (ours)
        }
        if let Some(parent) = rel.rfind('/').map(|i| rel[..=i].to_string()) {
            non_empty.insert(parent);
        }
        let ft = entry.file_type();
        if ft.is_symlink() {
            if filtered_in(filter, &rel) {
                scan.out_of_scope.insert(format!("{rel}/"));
                scan.skip(rel.clone(), "local", "symlink (not followed): left alone on both sides", None, Some(rel));
            }
            continue;
        }
        if ft.is_dir() {
            dirs.push(format!("{rel}/"));
            continue;
        }
        if !filtered_in(filter, &rel) {
            continue;
        }
        if !ft.is_file() {
            scan.skip(rel.clone(), "local", "not a regular file: left alone", None, Some(rel));
            continue;
        }
        match entry.metadata() {
            Ok(m) => scan.entries.push(local_entry(rel, &m)),
            Err(e) => {
                let err = Error::io(entry.path(), e.into_io_error().unwrap_or_else(|| std::io::Error::other("stat failed")));
                scan.skip(rel.clone(), "local", "cannot be read: left alone", Some(err.info()), Some(rel));
            }
        }
    }
    for d in dirs {
        if !non_empty.contains(&d) && filtered_in(filter, &d) && !is_out_of_scope(&scan.out_of_scope, &d) {
            let m = std::fs::symlink_metadata(root.join(d.trim_end_matches('/')));
            scan.entries.push(LocalEntry { path: d, size: 0, mtime_ns: 0, ino: m.map(|m| m.ino()).unwrap_or(0), md5: None });
        }
    }
    scan.entries.sort_by(|a, b| a.path.cmp(&b.path));
    scan
}

/// A file's entry from its metadata (not following links).
pub fn local_entry(path: String, m: &std::fs::Metadata) -> LocalEntry {
    LocalEntry { path, size: m.len(), mtime_ns: m.mtime() * 1_000_000_000 + m.mtime_nsec(), ino: m.ino(), md5: None }
}

fn relative(root: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).ok()?;
    let parts: Option<Vec<&str>> = rel.components().map(|c| c.as_os_str().to_str()).collect();
    Some(parts?.join("/"))
}

/// Lists the prefix once: objects, and folder markers (`x/`, size 0) that have nothing below
/// them (a marker above objects adds nothing a folder would not). Keys that cannot be a local
/// name (`..`, `//`, a backslash…) are skipped as unsafe and out of scope.
pub async fn scan_remote(conn: &Connection, bucket: &str, prefix: &str, filter: &PathFilter) -> Result<Scan<RemoteEntry>> {
    let mut scan = Scan::default();
    let mut pending_marker: Option<RemoteEntry> = None;
    let mut stream = crate::s3::list::list_objects(conn, bucket, prefix, None);
    let root = Path::new("/");
    while let Some(o) = stream.next().await {
        let o = o?;
        let Some(rel) = o.key.strip_prefix(prefix).map(str::to_string) else { continue };
        if rel.is_empty() {
            continue;
        }
        if let Some(m) = pending_marker.take() {
            if !rel.starts_with(&m.path) {
                scan.entries.push(m);
            }
        }
        if !filtered_in(filter, &rel) {
            continue;
        }
        if let Some(area) = content_area_of(&rel) {
            // Content of references (`--dedup=refs`): reached through them, never a file here.
            if scan.out_of_scope.insert(area.to_string()) {
                scan.skipped.push(Skipped { path: area.to_string(), side: "remote".into(), reason: "content of trainctl references: left alone".into(), error: None });
            }
            continue;
        }
        if let Some(logical) = crate::refs::logical_key(&rel) {
            // Two-way sync does not resolve references: the reference and the file it stands
            // for are left alone on both sides (`trainctl s3 materialize` makes them plain).
            scan.out_of_scope.insert(logical.to_string());
            scan.skip(rel.clone(), "remote", format!("a content reference standing for {logical}: left alone (trainctl s3 materialize makes it a plain object)"), None, Some(rel.clone()));
            continue;
        }
        let etag = o.etag.as_deref().unwrap_or_default().trim_matches('"').to_string();
        let entry = RemoteEntry { path: rel.clone(), size: o.size, etag, mtime: o.last_modified };
        if rel.ends_with('/') {
            let as_file = rel.trim_end_matches('/');
            if o.size == 0 && !as_file.is_empty() && local_path_for_key(root, "", as_file).is_ok() {
                pending_marker = Some(entry);
            } else {
                let err = Error::UnsafeKey { key: o.key.clone(), reason: "a folder marker with content, or an unusable folder name".into() };
                scan.skip(rel.clone(), "remote", "cannot be a local folder: left alone", Some(err.info()), Some(rel));
            }
            continue;
        }
        match local_path_for_key(root, "", &rel) {
            Ok(_) => scan.entries.push(entry),
            Err(e) => scan.skip(rel.clone(), "remote", "cannot be a local file name: left alone", Some(e.info()), Some(rel)),
        }
    }
    scan.entries.extend(pending_marker);
    Ok(scan)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_areas_are_found_at_any_depth() {
        assert_eq!(content_area_of(".trainctl/content/00-1"), Some(".trainctl/content/"));
        assert_eq!(content_area_of("run/.trainctl/content/00-1"), Some("run/.trainctl/content/"));
        assert_eq!(content_area_of("run/x.trainctl/content/00-1"), None);
        assert_eq!(content_area_of("run/model.bin"), None);
    }

    #[test]
    fn the_walk_finds_files_and_empty_folders_and_skips_links() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("a/empty")).unwrap();
        std::fs::create_dir_all(d.path().join("full")).unwrap();
        std::fs::write(d.path().join("full/x.txt"), b"x").unwrap();
        std::fs::write(d.path().join("a.txt"), b"aa").unwrap();
        std::fs::write(d.path().join(format!(".0123456789abcdef{TEMP_SUFFIX}")), b"").unwrap();
        std::os::unix::fs::symlink("/etc", d.path().join("link")).unwrap();
        let scan = scan_local(d.path(), &PathFilter::new(&[], &[]).unwrap());
        let paths: Vec<&str> = scan.entries.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["a.txt", "a/empty/", "full/x.txt"]);
        assert_eq!(scan.skipped.len(), 1);
        assert!(is_out_of_scope(&scan.out_of_scope, "link"));
        assert!(is_out_of_scope(&scan.out_of_scope, "link/passwd"));
        assert!(!is_out_of_scope(&scan.out_of_scope, "linked"));
    }
}
