//! Where checkpoints live: a local directory or an `s3://` prefix, turned into the one listing
//! type detection reads, plus the few small files whose contents it needs.
//!
//! Why here and not in `detect`: detection stays pure and synchronous; this module does the I/O
//! (a symlink-safe walk, a streamed ListObjectsV2, parallel GetObjects) and hands it over.

use super::detect::{self, DetectOptions, PINS_FILE};
use super::model::{Checkpoint, FileEntry, Run};
use crate::error::{Error, Result};
use crate::s3::errors::SdkResultExt;
use crate::s3::{list, Connection, S3Url};
use futures::StreamExt;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// A local directory or an S3 prefix holding runs of checkpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Local(PathBuf),
    S3(S3Url),
}

impl Location {
    /// `s3://…` is a prefix (always treated as a directory); anything else a local path.
    pub fn parse(s: &str) -> Result<Location> {
        if s.starts_with("s3://") {
            let url = S3Url::parse(s)?;
            return Ok(Location::S3(url.with_key(url.dir_prefix())));
        }
        Ok(Location::Local(PathBuf::from(s)))
    }

    /// How the location is shown to the user.
    pub fn display(&self) -> String {
        match self {
            Location::Local(p) => p.display().to_string(),
            Location::S3(u) => u.to_string(),
        }
    }
}

/// A listing, the runs detected in it, and the pins stored next to them.
#[derive(Debug, Clone)]
pub struct Discovery {
    pub location: Location,
    pub entries: Vec<FileEntry>,
    pub runs: Vec<Run>,
    pub pins: BTreeSet<String>,
}

impl Discovery {
    /// Number of checkpoints over all runs.
    pub fn checkpoint_count(&self) -> usize {
        self.runs.iter().map(|r| r.checkpoints.len()).sum()
    }
}

/// Lists `loc`, fetches the contents detection wants, detects runs and reads pins.
/// `conn` is needed for S3 locations only.
pub async fn discover(loc: &Location, conn: Option<&Connection>, opts: &DetectOptions) -> Result<Discovery> {
    let entries = match loc {
        Location::Local(root) => list_local(root)?,
        Location::S3(url) => list_s3(s3_conn(conn)?, url).await?,
    };
    discover_listed(loc, conn, entries, opts).await
}

/// [`discover`] over a listing the caller already made (the Browser lists a folder once for its
/// sizes and its checkpoints): fetches what detection wants, detects runs and reads pins.
pub async fn discover_listed(loc: &Location, conn: Option<&Connection>, entries: Vec<FileEntry>, opts: &DetectOptions) -> Result<Discovery> {
    let contents = match loc {
        Location::Local(root) => read_local(root, &wanted(&entries)),
        Location::S3(url) => fetch_s3(s3_conn(conn)?, url, &wanted(&entries)).await?,
    };
    let fetch = |p: &str| contents.get(p).cloned();
    let mut runs = detect::detect(&entries, opts, &fetch);
    if let (Location::S3(url), Some(conn)) = (loc, conn) {
        // A marker can be listed while a shard is still a multipart upload (docs/checkpoints.md).
        let mut all: Vec<Checkpoint> = runs.iter_mut().flat_map(|r| std::mem::take(&mut r.checkpoints)).collect();
        super::inflight::check_in_flight(conn, &url.bucket, &s3_prefix(url), &mut all).await?;
        for c in all {
            if let Some(r) = runs.iter_mut().find(|r| r.name == c.run) {
                r.checkpoints.push(c);
            }
        }
    }
    mark_copies(loc, conn, &mut runs).await;
    let pins = contents.get(PINS_FILE).map(|b| super::pins_file::parse_pins(b)).transpose()?.unwrap_or_default();
    Ok(Discovery { location: loc.clone(), entries, runs, pins })
}

fn s3_conn(conn: Option<&Connection>) -> Result<&Connection> {
    conn.ok_or_else(|| Error::Internal("S3 discovery without a connection".into()))
}

fn wanted(entries: &[FileEntry]) -> Vec<String> {
    let mut w = detect::wanted_contents(entries);
    if entries.iter().any(|e| e.path == PINS_FILE) {
        w.push(PINS_FILE.to_string());
    }
    w
}

/// Every file (and symlink, as itself) below `root`, never following a link.
pub fn list_local(root: &Path) -> Result<Vec<FileEntry>> {
    let meta = std::fs::metadata(root).map_err(|e| Error::io(root, e))?;
    if !meta.is_dir() {
        return Err(Error::LocalKind { path: root.to_path_buf(), expected: "directory" });
    }
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(root).follow_links(false).min_depth(1) {
        let entry = entry.map_err(|e| walk_error(root, e))?;
        if entry.file_type().is_dir() {
            continue;
        }
        let Some(path) = relative_slash_path(root, entry.path()) else { continue };
        let m = entry.metadata().map_err(|e| walk_error(root, e))?;
        out.push(FileEntry { path, size: m.len(), mtime: mtime_secs(&m) });
    }
    out.sort();
    Ok(out)
}

fn walk_error(root: &Path, e: walkdir::Error) -> Error {
    let path = e.path().unwrap_or(root).to_path_buf();
    match e.into_io_error() {
        Some(io) => Error::io(path, io),
        None => Error::LocalIo { path, source: std::io::Error::other("filesystem loop") },
    }
}

/// `root/a/b` → `a/b`; `None` for non-UTF-8 names (never checkpoints of a known layout).
pub(crate) fn relative_slash_path(root: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).ok()?;
    let parts: Option<Vec<&str>> = rel.components().map(|c| c.as_os_str().to_str()).collect();
    Some(parts?.join("/"))
}

fn mtime_secs(m: &std::fs::Metadata) -> Option<i64> {
    let d = m.modified().ok()?.duration_since(std::time::UNIX_EPOCH).ok()?;
    i64::try_from(d.as_secs()).ok()
}

/// Reads small files detection asked for; unreadable ones are simply absent (the detector then
/// falls back to weaker evidence, which only ever makes it keep more).
fn read_local(root: &Path, paths: &[String]) -> HashMap<String, Vec<u8>> {
    let read = |p: &String| crate::limits::read_capped(&root.join(p), detect::MAX_CONTENT, "checkpoint file").ok();
    paths.iter().filter_map(|p| read(p).map(|b| (p.clone(), b))).collect()
}

/// The key prefix of an S3 location: `""` for a whole bucket, else ending in `/`.
fn s3_prefix(url: &S3Url) -> String {
    let prefix = url.dir_prefix();
    if prefix == "/" { String::new() } else { prefix }
}

/// Every object under the prefix as a listing relative to it.
pub async fn list_s3(conn: &Connection, url: &S3Url) -> Result<Vec<FileEntry>> {
    list::check_bucket(conn, &url.bucket).await?;
    let prefix = s3_prefix(url);
    let objects = list::collect_objects(conn, &url.bucket, &prefix, None).await?;
    // Content references (`--dedup=refs`): their content objects are no files of a checkpoint
    // (cleanup never deletes them through one), and a reference counts its logical size.
    use crate::refs::listing::{view, ContentAreas};
    let seen = view(conn, &url.bucket, objects, |o: &list::ObjectEntry| o.into(), ContentAreas::Hidden { below: &prefix }, None).await;
    let mut out: Vec<FileEntry> = seen
        .into_iter()
        .filter_map(|(o, seen)| {
            let path = o.key.strip_prefix(&prefix)?.to_string();
            (!path.is_empty()).then_some(FileEntry { path, size: seen.size(o.size), mtime: o.last_modified })
        })
        .collect();
    out.sort();
    Ok(out)
}

/// GetObject of each wanted file, 16 at a time. A file that vanished or cannot be read is
/// absent, like locally: weaker evidence only ever makes detection keep more.
async fn fetch_s3(conn: &Connection, url: &S3Url, paths: &[String]) -> Result<HashMap<String, Vec<u8>>> {
    let prefix = s3_prefix(url);
    let found = futures::stream::iter(paths.iter().cloned())
        .map(|p| {
            let key = format!("{prefix}{p}");
            async move { get_small(conn, &url.bucket, &key).await.ok().map(|b| (p, b)) }
        })
        .buffer_unordered(16)
        .filter_map(|r| async move { r })
        .collect::<HashMap<_, _>>()
        .await;
    Ok(found)
}

async fn get_small(conn: &Connection, bucket: &str, key: &str) -> Result<Vec<u8>> {
    let ctx = conn.ctx().bucket(bucket).key(key);
    let out = conn.client.get_object().bucket(bucket).key(key).send().await.or_s3(&ctx)?;
    // Listed below the cap, but it may have been replaced by something bigger since.
    let size = out.content_length().unwrap_or(0).max(0) as u64;
    if size > crate::checkpoint::detect::MAX_CONTENT {
        return Err(Error::TooLarge { what: format!("s3://{bucket}/{key}"), size, limit: crate::checkpoint::detect::MAX_CONTENT });
    }
    let body = out.body.collect().await.map_err(|e| Error::S3 { code: "ReadBody".into(), message: e.to_string() })?;
    Ok(body.into_bytes().to_vec())
}

/// Local files larger than this are not compared byte by byte to find a `last.ckpt`'s twin.
const MAX_COMPARE: u64 = 2 << 30;

/// Sets `same_as` of each Lightning `last*.ckpt` that is byte-identical to a numbered checkpoint
/// of its run: a link to it (`save_last="link"`), or the same bytes (a local copy compared byte
/// by byte; on S3 the same size and ETag, a few HEADs). Unknown (`None`) when nothing says so.
async fn mark_copies(loc: &Location, conn: Option<&Connection>, runs: &mut [Run]) {
    for run in runs.iter_mut() {
        let mut numbered: Vec<(u64, String, u64)> = run
            .checkpoints
            .iter()
            .filter(|c| c.layout == super::Layout::Lightning && c.step.is_some() && !is_last(&c.id))
            .map(|c| (c.step.unwrap_or(0), c.id.clone(), c.bytes))
            .collect();
        // The key of each file checkpoint (its id is the original name when it was uploaded
        // compressed: `last.ckpt` for `last.ckpt.zst`).
        let keys: HashMap<String, String> = run.checkpoints.iter().filter_map(|c| Some((c.id.clone(), c.files.first()?.path.clone()))).collect();
        numbered.sort_by(|a, b| b.cmp(a));
        for c in run.checkpoints.iter_mut().filter(|c| c.layout == super::Layout::Lightning && is_last(&c.id)) {
            c.same_as = match loc {
                Location::Local(root) => local_twin(root, &c.id, &numbered),
                Location::S3(url) => match conn {
                    Some(conn) => s3_twin(conn, url, &c.id, c.bytes, &numbered, &keys).await,
                    None => None,
                },
            };
        }
    }
}

fn is_last(id: &str) -> bool {
    let name = detect::split_dir(id).1;
    name == "last.ckpt" || (name.starts_with("last-v") && name.ends_with(".ckpt"))
}

/// The numbered sibling a local `last.ckpt` links to or equals byte for byte.
fn local_twin(root: &Path, id: &str, numbered: &[(u64, String, u64)]) -> Option<String> {
    let path = root.join(id);
    let dir = detect::split_dir(id).0;
    let meta = std::fs::symlink_metadata(&path).ok()?;
    if meta.file_type().is_symlink() {
        let target = std::fs::read_link(&path).ok()?;
        let name = target.to_str()?.trim_start_matches("./");
        let twin = format!("{dir}{name}");
        return numbered.iter().any(|(_, n, _)| *n == twin).then_some(twin);
    }
    let size = meta.len();
    if size > MAX_COMPARE {
        return None;
    }
    numbered.iter().filter(|(_, _, bytes)| *bytes == size).find(|(_, n, _)| same_bytes(&path, &root.join(n))).map(|(_, n, _)| n.clone())
}

fn same_bytes(a: &Path, b: &Path) -> bool {
    use std::io::Read;
    let (Ok(mut fa), Ok(mut fb)) = (std::fs::File::open(a), std::fs::File::open(b)) else { return false };
    let (mut ba, mut bb) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    loop {
        let (Ok(na), Ok(nb)) = (read_full(&mut fa, &mut ba), read_full(&mut fb, &mut bb)) else { return false };
        if na != nb || ba[..na] != bb[..nb] {
            return false;
        }
        if na == 0 {
            return true;
        }
    }
    fn read_full(f: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut n = 0;
        while n < buf.len() {
            match f.read(&mut buf[n..])? {
                0 => break,
                k => n += k,
            }
        }
        Ok(n)
    }
}

/// The numbered sibling with the same size and ETag as `last.ckpt` on S3.
async fn s3_twin(conn: &Connection, url: &S3Url, id: &str, size: u64, numbered: &[(u64, String, u64)], keys: &HashMap<String, String>) -> Option<String> {
    let candidates: Vec<&String> = numbered.iter().filter(|(_, _, b)| *b == size).map(|(_, n, _)| n).take(4).collect();
    if candidates.is_empty() {
        return None;
    }
    let prefix = s3_prefix(url);
    let prefix = prefix.as_str();
    let etag = |id: String| async move {
        let rel = keys.get(&id).cloned().unwrap_or(id);
        list::head_object(conn, &url.bucket, &format!("{prefix}{rel}")).await.ok().and_then(|o| o.etag)
    };
    let last = etag(id.to_string()).await?;
    for c in candidates {
        if etag(c.clone()).await.as_deref() == Some(last.as_str()) {
            return Some(c.clone());
        }
    }
    None
}

/// What the plan depends on: each checkpoint's id, state (`complete`, `incomplete`,
/// `abandoned`) and files (path, size). Apply compares this before deleting; any difference
/// means the plan is stale.
pub type Fingerprint = BTreeMap<String, (&'static str, Vec<(String, u64)>)>;

/// The fingerprint of some checkpoints.
pub fn fingerprint<'a>(checkpoints: impl IntoIterator<Item = &'a super::model::Checkpoint>) -> Fingerprint {
    checkpoints
        .into_iter()
        .map(|c| (c.id.clone(), (c.complete.state(), c.files.iter().map(|f| (f.path.clone(), f.size)).collect())))
        .collect()
}
