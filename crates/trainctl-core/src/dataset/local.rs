//! The local side: walking a copy, and hashing its files on every core with a cache keyed by
//! (path, size, mtime, file id), so a second full verification of an unchanged copy reads
//! nothing. The cache lives in `$XDG_CACHE_HOME/trainctl/hashes/` (one file per folder).

use crate::error::{Error, Result};
use crate::event::{Event, Progress, Sink};
use crate::transfer::verify::{etag_kind, md5_etag_of_file, EtagKind};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Files whose name starts with this, at the top of a staged folder, are trainctl's own
/// (`.trainctl-dataset.json`) and not part of the data.
pub const OWN_PREFIX: &str = ".trainctl-";

/// One regular file of a local copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalFile {
    /// Relative to the root, `/`-separated.
    pub rel: String,
    pub path: PathBuf,
    pub size: u64,
    pub mtime_ns: i64,
    pub ino: u64,
    /// The filesystem's device id: with `ino`, the file's identity (a cache row of another
    /// filesystem mounted at the same path never matches).
    pub dev: u64,
}

/// Files that could not be walked or read, with why.
pub type Unreadable = Vec<(String, Error)>;

/// Every regular file under `root` (symlinks to files followed, links to folders not), sorted
/// by relative key as S3 sorts keys. Names that are not UTF-8 are reported in `unreadable`.
pub fn walk(root: &Path) -> Result<(Vec<LocalFile>, Unreadable)> {
    if !std::fs::metadata(root).map_err(|e| Error::io(root, e))?.is_dir() {
        return Err(Error::LocalKind { path: root.to_path_buf(), expected: "directory" });
    }
    let mut files = Vec::new();
    let mut bad = Vec::new();
    for entry in walkdir::WalkDir::new(root).follow_links(false).min_depth(1) {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                let path = e.path().map(Path::to_path_buf).unwrap_or_else(|| root.to_path_buf());
                let io = e.into_io_error().unwrap_or_else(|| std::io::Error::other("filesystem loop"));
                bad.push((path.display().to_string(), Error::io(path, io)));
                continue;
            }
        };
        if entry.file_type().is_dir() {
            continue;
        }
        let path = entry.path();
        let rel = match path.strip_prefix(root).ok().and_then(|r| r.components().map(|c| c.as_os_str().to_str()).collect::<Option<Vec<_>>>()) {
            Some(parts) => parts.join("/"),
            None => {
                bad.push((path.display().to_string(), Error::LocalIo { path: path.to_path_buf(), source: std::io::Error::new(std::io::ErrorKind::InvalidData, "file name is not valid UTF-8") }));
                continue;
            }
        };
        if entry.depth() == 1 && rel.starts_with(OWN_PREFIX) {
            continue;
        }
        match std::fs::metadata(path) {
            Ok(m) if m.is_file() => files.push(LocalFile { rel, path: path.to_path_buf(), size: m.len(), mtime_ns: mtime_ns(&m), ino: m.ino(), dev: m.dev() }),
            Ok(_) => {}
            Err(e) => bad.push((rel, Error::io(path, e))),
        }
    }
    files.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok((files, bad))
}

/// Modification time in nanoseconds since the epoch (what the hash cache compares).
pub fn mtime_ns(m: &std::fs::Metadata) -> i64 {
    m.mtime().saturating_mul(1_000_000_000).saturating_add(m.mtime_nsec())
}

/// What to compute of a file so it compares with an entry's ETag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashKind {
    /// Plain MD5 hex (single-part ETags, local snapshots).
    Md5,
    /// Multipart ETag over parts of this size.
    Multipart(u64),
    /// SHA-256 hex: where equal hashes decide that two files may share their bytes (local
    /// dedup), a hash nobody can collide on purpose.
    Sha256,
    /// `crc64nvme:<base64>`: files stored as references to compressed content, whose manifest
    /// entry records the original's CRC64NVME, not an ETag of its bytes.
    Crc64Nvme,
}

impl HashKind {
    /// The hash that reproduces `etag` (with the part size learnt at snapshot time), or `None`
    /// when it cannot be reproduced (an opaque ETag, a multipart one without its part size).
    pub fn for_etag(etag: Option<&str>, part_size: Option<u64>, size: u64) -> Option<HashKind> {
        match etag_kind(etag) {
            EtagKind::Md5(_) => Some(HashKind::Md5),
            EtagKind::Multipart { parts: 1, .. } => Some(HashKind::Multipart(part_size.unwrap_or(size).max(1))),
            EtagKind::Multipart { .. } => part_size.map(HashKind::Multipart),
            EtagKind::Opaque => None,
        }
    }

    /// The hash that reproduces `e`'s content id ([`Entry::content_id`](super::Entry::content_id)).
    pub fn for_entry(e: &super::Entry) -> Option<HashKind> {
        if e.codec.is_some() {
            return e.original_crc64().map(|_| HashKind::Crc64Nvme);
        }
        HashKind::for_etag(e.etag.as_deref(), e.part_size, e.size)
    }

    fn tag(self) -> String {
        match self {
            HashKind::Crc64Nvme => "crc64nvme".into(),
            HashKind::Md5 => "md5".into(),
            HashKind::Multipart(p) => format!("mp{p}"),
            HashKind::Sha256 => "sha256".into(),
        }
    }

    fn compute(self, path: &Path) -> std::io::Result<String> {
        match self {
            HashKind::Md5 => md5_etag_of_file(path, None),
            HashKind::Multipart(p) => md5_etag_of_file(path, Some(p)),
            HashKind::Sha256 => sha256_of(&mut std::fs::File::open(path)?),
            HashKind::Crc64Nvme => crc64nvme_id_of(path),
        }
    }
}

/// `crc64nvme:<base64>` of the file at `path` (what [`super::Entry::content_id`] says of
/// compressed content), hashed as uploads and downloads hash it.
fn crc64nvme_id_of(path: &Path) -> std::io::Result<String> {
    use crate::transfer::checksum::{Algorithm, Cut, Recipe};
    let file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    let digest = crate::transfer::verify::hash_file(&file, len, Recipe { algorithm: Algorithm::Crc64Nvme, cut: Cut::Any })?;
    let crc = u64::from_be_bytes(digest.as_slice().try_into().map_err(|_| std::io::Error::other("a CRC64NVME is 8 bytes"))?);
    Ok(format!("crc64nvme:{}", crate::codec::crc64_base64(crc)))
}

/// SHA-256 hex of everything `r` yields.
pub fn sha256_of(r: &mut impl std::io::Read) -> std::io::Result<String> {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match r.read(&mut buf)? {
            0 => return Ok(hex::encode(h.finalize())),
            n => h.update(&buf[..n]),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct CacheRow {
    size: u64,
    mtime_ns: i64,
    ino: u64,
    /// 0 in rows written before the device was recorded: such a row is re-hashed once.
    #[serde(default)]
    dev: u64,
    kind: String,
    hash: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct CacheFile {
    root: PathBuf,
    files: HashMap<String, CacheRow>,
}

fn cache_path(root: &Path) -> PathBuf {
    let base = std::env::var_os("TRAINCTL_DATASET_CACHE").map(PathBuf::from).unwrap_or_else(super::store::cache_root);
    let id = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(root.as_os_str().as_encoded_bytes()));
    base.parent().unwrap_or(&base).join("hashes").join(format!("{}.json", &id[..24]))
}

fn load_cache(root: &Path) -> CacheFile {
    std::fs::read(cache_path(root))
        .ok()
        .and_then(|b| serde_json::from_slice::<CacheFile>(&b).ok())
        .filter(|c| c.root == root)
        .unwrap_or_else(|| CacheFile { root: root.to_path_buf(), files: HashMap::new() })
}

/// What [`hash_files`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HashStats {
    pub hashed: u64,
    pub from_cache: u64,
    pub bytes_hashed: u64,
}

/// Hashes `files[i]` by `kinds[i]` (skipping `None`) on every core; a file whose (size, mtime,
/// inode) and kind match the cache is not read. Returns one result per file (`Ok(None)` where no
/// kind was asked) and what was read. Progress goes to `sink` as [`Event::Progress`] of `job`.
pub async fn hash_files(root: &Path, files: Vec<LocalFile>, kinds: Vec<Option<HashKind>>, job: u64, sink: &dyn Sink) -> Result<(Vec<Result<Option<String>>>, HashStats)> {
    let root = root.canonicalize().map_err(|e| Error::io(root, e))?;
    let mut cache = load_cache(&root);
    let total_bytes: u64 = files.iter().zip(&kinds).filter(|(_, k)| k.is_some()).map(|(f, _)| f.size).sum();
    let total_files = kinds.iter().filter(|k| k.is_some()).count() as u64;
    let mut results: Vec<Option<Result<Option<String>>>> = Vec::new();
    results.resize_with(files.len(), || None);
    let mut todo = Vec::new();
    let mut stats = HashStats::default();
    for (i, (f, k)) in files.iter().zip(&kinds).enumerate() {
        let Some(k) = k else {
            results[i] = Some(Ok(None));
            continue;
        };
        match cache.files.get(&f.rel) {
            Some(row) if row.size == f.size && row.mtime_ns == f.mtime_ns && row.ino == f.ino && row.dev == f.dev && row.kind == k.tag() => {
                results[i] = Some(Ok(Some(row.hash.clone())));
                stats.from_cache += 1;
            }
            _ => todo.push(i),
        }
    }
    let progress = Arc::new((AtomicU64::new(0), AtomicU64::new(stats.from_cache)));
    let cached_bytes: u64 = files.iter().zip(&kinds).enumerate().filter(|(i, (_, k))| k.is_some() && results[*i].is_some()).map(|(_, (f, _))| f.size).sum();
    progress.0.store(cached_bytes, Ordering::Relaxed);
    let done = Arc::new(AtomicBool::new(false));
    let work = {
        let (files, kinds, todo, progress, done) = (files.clone(), kinds.clone(), todo.clone(), progress.clone(), done.clone());
        tokio::task::spawn_blocking(move || {
            let out = hash_pool(&files, &kinds, &todo, &progress);
            done.store(true, Ordering::Relaxed);
            out
        })
    };
    tokio::pin!(work);
    let send = |p: &(AtomicU64, AtomicU64)| {
        sink.send(Event::Progress(Progress {
            job,
            bytes_done: p.0.load(Ordering::Relaxed),
            bytes_total: total_bytes,
            objects_done: p.1.load(Ordering::Relaxed),
            objects_total: total_files,
            bytes_per_sec: 0.0,
            eta_secs: None,
        }))
    };
    let computed = loop {
        tokio::select! {
            r = &mut work => break r.map_err(|e| Error::Internal(format!("hash task: {e}")))?,
            _ = tokio::time::sleep(std::time::Duration::from_millis(250)) => send(&progress),
        }
    };
    send(&progress);
    for (i, r) in todo.iter().zip(computed) {
        let f = &files[*i];
        let r = match r {
            Ok(h) => {
                stats.hashed += 1;
                stats.bytes_hashed += f.size;
                let kind = kinds[*i].expect("asked").tag();
                cache.files.insert(f.rel.clone(), CacheRow { size: f.size, mtime_ns: f.mtime_ns, ino: f.ino, dev: f.dev, kind, hash: h.clone() });
                Ok(Some(h))
            }
            Err(e) => Err(Error::io(&f.path, e)),
        };
        results[*i] = Some(r);
    }
    if stats.hashed > 0 {
        // Rows of files that are gone are dropped, so the cache never outgrows the folder.
        let live: std::collections::HashSet<&str> = files.iter().map(|f| f.rel.as_str()).collect();
        cache.files.retain(|k, _| live.contains(k.as_str()));
        if let Ok(bytes) = serde_json::to_vec(&cache) {
            let _ = crate::config::file::write_private(&cache_path(&root), &bytes);
        }
    }
    Ok((results.into_iter().map(|r| r.unwrap_or_else(|| Err(Error::Internal("hash missing".into())))).collect(), stats))
}

/// Hashes `todo` (indices into `files`) on `available_parallelism` threads.
fn hash_pool(files: &[LocalFile], kinds: &[Option<HashKind>], todo: &[usize], progress: &(AtomicU64, AtomicU64)) -> Vec<std::io::Result<String>> {
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(todo.len().max(1));
    let next = AtomicUsize::new(0);
    let out: Mutex<Vec<Option<std::io::Result<String>>>> = Mutex::new((0..todo.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                let Some(&i) = todo.get(n) else { return };
                let r = kinds[i].expect("asked").compute(&files[i].path);
                progress.0.fetch_add(files[i].size, Ordering::Relaxed);
                progress.1.fetch_add(1, Ordering::Relaxed);
                out.lock().unwrap_or_else(|p| p.into_inner())[n] = Some(r);
            });
        }
    });
    out.into_inner().unwrap_or_else(|p| p.into_inner()).into_iter().map(|r| r.unwrap_or_else(|| Err(std::io::Error::other("not hashed")))).collect()
}

/// Free bytes for an unprivileged writer on the filesystem holding `path` (or its nearest
/// existing ancestor). In debug builds `TRAINCTL_TEST_FREE_BYTES` stands in for the answer, so
/// tests can refuse a stage without filling a disk.
pub fn free_bytes(path: &Path) -> Result<u64> {
    #[cfg(debug_assertions)]
    if let Some(v) = std::env::var("TRAINCTL_TEST_FREE_BYTES").ok().and_then(|v| v.parse().ok()) {
        return Ok(v);
    }
    let mut probe = path;
    while !probe.exists() {
        probe = probe.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    }
    let st = rustix::fs::statvfs(probe).map_err(|e| Error::io(probe, e.into()))?;
    Ok(st.f_bavail.saturating_mul(st.f_frsize))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_walk_is_sorted_as_s3_sorts_keys_and_skips_trainctls_own_files() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("a")).unwrap();
        for f in ["a/b", "a.txt", ".trainctl-dataset.json", "z"] {
            std::fs::write(d.path().join(f), b"x").unwrap();
        }
        let (files, bad) = walk(d.path()).unwrap();
        assert!(bad.is_empty());
        assert_eq!(files.iter().map(|f| f.rel.as_str()).collect::<Vec<_>>(), ["a.txt", "a/b", "z"]);
    }

    #[test]
    fn kinds_follow_the_etag() {
        assert_eq!(HashKind::for_etag(Some("\"0123456789abcdef0123456789abcdef\""), None, 3), Some(HashKind::Md5));
        assert_eq!(HashKind::for_etag(Some("0123456789abcdef0123456789abcdef-3"), Some(8), 20), Some(HashKind::Multipart(8)));
        assert_eq!(HashKind::for_etag(Some("0123456789abcdef0123456789abcdef-3"), None, 20), None);
        assert_eq!(HashKind::for_etag(Some("opaque"), None, 20), None);
    }
}
