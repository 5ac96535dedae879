//! Where manifests live: in the bucket, under a store prefix (default
//! `s3://<bucket>/.trainctl/datasets/`, so a whole team sees them), as `NAME/VERSION.jsonl.zst`;
//! and in a local cache (`$XDG_CACHE_HOME/trainctl/datasets/<store>/NAME/VERSION.jsonl.zst`) so
//! `show`, `diff` and local verification need no request once a version was seen.

use super::manifest::{Encoded, Manifest, Reader};
use crate::error::{Error, Result};
use crate::s3::{Connection, S3Url};
use futures::TryStreamExt;
use std::path::PathBuf;

/// The store prefix inside a bucket when none is configured.
pub const DEFAULT_PREFIX: &str = ".trainctl/datasets/";
const SUFFIX: &str = ".jsonl.zst";

/// `NAME@VERSION` (or `NAME` alone where a version is optional).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetRef {
    pub name: String,
    pub version: Option<String>,
}

impl DatasetRef {
    /// Parses `NAME` or `NAME@VERSION`; both parts are plain names (letters, digits, `.`, `_`,
    /// `-`; not starting with `.`), so they are safe as keys and file names.
    pub fn parse(s: &str) -> Result<DatasetRef> {
        let (name, version) = match s.split_once('@') {
            Some((n, v)) => (n, Some(v)),
            None => (s, None),
        };
        check_name(name, "dataset name")?;
        if let Some(v) = version {
            check_name(v, "version")?;
        }
        Ok(DatasetRef { name: name.to_string(), version: version.map(str::to_string) })
    }

    /// The version, or a usage error saying one is needed.
    pub fn version(&self) -> Result<&str> {
        self.version.as_deref().ok_or_else(|| Error::Usage(format!("name a version: {}@VERSION (`trainctl dataset list {}` shows them)", self.name, self.name)))
    }
}

impl std::fmt::Display for DatasetRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.version {
            Some(v) => write!(f, "{}@{v}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// Refuses anything but a plain name (no separators, no leading dot, at most 128 bytes).
pub fn check_name(s: &str, what: &str) -> Result<()> {
    let ok = !s.is_empty() && s.len() <= 128 && !s.starts_with('.') && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::Usage(format!("bad {what} `{s}`: use letters, digits, `.`, `_` and `-` (not starting with `.`)")))
    }
}

/// A place manifests are kept: a prefix in a bucket, or only the local cache (local-folder
/// snapshots without a bucket).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Store {
    Bucket(S3Url),
    LocalOnly,
}

impl Store {
    /// The default store of a bucket: `s3://bucket/.trainctl/datasets/`.
    pub fn default_for(bucket: &str) -> Store {
        Store::Bucket(S3Url { bucket: bucket.to_string(), key: DEFAULT_PREFIX.to_string() })
    }

    /// A store named by the user: `s3://bucket` alone means the default prefix there.
    pub fn parse(s: &str) -> Result<Store> {
        let url = S3Url::parse(s)?;
        if url.key.is_empty() {
            return Ok(Store::default_for(&url.bucket));
        }
        Ok(Store::Bucket(S3Url { bucket: url.bucket.clone(), key: url.dir_prefix() }))
    }

    /// Shown to the user.
    pub fn display(&self) -> String {
        match self {
            Store::Bucket(u) => u.to_string(),
            Store::LocalOnly => "the local cache".into(),
        }
    }

    /// The cache folder of this store.
    pub fn cache_dir(&self) -> PathBuf {
        let id = match self {
            Store::Bucket(u) => format!("{}_{}", u.bucket, &hex::encode(<sha2::Sha256 as sha2::Digest>::digest(u.key.as_bytes()))[..8]),
            Store::LocalOnly => "local".into(),
        };
        cache_root().join(id)
    }

    fn key_of(url: &S3Url, name: &str, version: &str) -> String {
        format!("{}{name}/{version}{SUFFIX}", url.key)
    }
}

/// `$TRAINCTL_DATASET_CACHE`, else `$XDG_CACHE_HOME/trainctl/datasets`.
pub fn cache_root() -> PathBuf {
    if let Some(d) = std::env::var_os("TRAINCTL_DATASET_CACHE").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    dirs::cache_dir().unwrap_or_else(std::env::temp_dir).join("trainctl").join("datasets")
}

fn cache_file(store: &Store, name: &str, version: &str) -> PathBuf {
    store.cache_dir().join(name).join(format!("{version}{SUFFIX}"))
}

const STORE_FILE: &str = "store.txt";

/// Writes a manifest into the cache, with the store it came from (so a later command can find
/// the store by the dataset's name alone).
fn cache_write(store: &Store, name: &str, version: &str, src: &mut dyn std::io::Read) -> Result<()> {
    let url = match store {
        Store::Bucket(u) => u.to_string(),
        Store::LocalOnly => "local".into(),
    };
    crate::config::file::write_private(&store.cache_dir().join(STORE_FILE), url.as_bytes())?;
    crate::config::file::write_private_from(&cache_file(store, name, version), src)
}

/// Every store the cache has seen.
pub fn cached_stores() -> Vec<Store> {
    let root = cache_root();
    let mut out = Vec::new();
    for dir in read_dir_names(&root) {
        let Ok(text) = std::fs::read_to_string(root.join(&dir).join(STORE_FILE)) else { continue };
        let store = if text.trim() == "local" { Some(Store::LocalOnly) } else { Store::parse(text.trim()).ok() };
        out.extend(store.filter(|s| s.cache_dir() == root.join(&dir)));
    }
    out
}

/// The stores whose cache holds the dataset `name` (any version): how a command finds the store
/// when none is named.
pub fn stores_with(name: &str) -> Vec<Store> {
    cached_stores().into_iter().filter(|s| s.cache_dir().join(name).is_dir()).collect()
}

/// Writes a manifest file (see [`Manifest::write_temp`] and [`super::manifest::Writer`]) to the
/// store (if it is a bucket) and the cache, streamed from disk. A version that exists already is
/// refused ([`Error::DestinationExists`]): versions are immutable.
pub async fn save(conn: Option<&Connection>, store: &Store, m: &Encoded) -> Result<()> {
    let (name, version) = (&m.header.name, &m.header.version);
    if let (Store::Bucket(url), Some(conn)) = (store, conn) {
        let key = Store::key_of(url, name, version);
        let body = aws_sdk_s3::primitives::ByteStream::from_path(&m.path).await.map_err(|e| Error::io(&m.path, std::io::Error::other(e.to_string())))?;
        let put = conn.client.put_object().bucket(&url.bucket).key(&key).if_none_match("*").body(body).send().await;
        match put {
            Ok(_) => {}
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 412) => return Err(Error::DestinationExists(format!("{name}@{version} in {}", store.display()))),
            Err(e) => return Err(crate::s3::errors::map_sdk_error(e, &conn.ctx().bucket(&url.bucket).key(&key))),
        }
    } else if cache_file(store, name, version).exists() {
        return Err(Error::DestinationExists(format!("{name}@{version} in {}", store.display())));
    }
    let mut f = std::fs::File::open(&m.path).map_err(|e| Error::io(&m.path, e))?;
    cache_write(store, name, version, &mut f)
}

/// Opens `NAME@VERSION` for streaming ([`Reader`]): the cached file when its header reads, else
/// downloaded into the cache first (to disk, never into memory). Corruption past the header
/// surfaces as the reader's last item.
pub async fn open(conn: Option<&Connection>, store: &Store, name: &str, version: &str) -> Result<Reader<std::fs::File>> {
    let cached = cache_file(store, name, version);
    if let Ok(r) = Reader::open(&cached) {
        if r.header.name == name && r.header.version == version {
            return Ok(r);
        }
    }
    let (Store::Bucket(url), Some(conn)) = (store, conn) else {
        return Err(unknown(conn, store, name, Some(version)).await);
    };
    let key = Store::key_of(url, name, version);
    let what = format!("s3://{}/{key}", url.bucket);
    let mut out = get(conn, store, url, &key, name, version).await?;
    let tmp = tempfile::NamedTempFile::new().map_err(|e| Error::io(std::env::temp_dir(), e))?;
    {
        let mut w = std::io::BufWriter::new(tmp.as_file());
        while let Some(chunk) = out.body.try_next().await.map_err(|e| Error::Interrupted { what: what.clone(), reason: e.to_string() })? {
            std::io::Write::write_all(&mut w, &chunk).map_err(|e| Error::io(tmp.path(), e))?;
        }
        std::io::Write::flush(&mut w).map_err(|e| Error::io(tmp.path(), e))?;
    }
    let mut r = Reader::new(std::fs::File::open(tmp.path()).map_err(|e| Error::io(tmp.path(), e))?, &what)?;
    if r.header.name != name || r.header.version != version {
        return Err(Error::ManifestCorrupt { what, reason: format!("it describes {} instead", r.header.reference()) });
    }
    // Checked whole before it is cached (entries read and dropped: flat memory), so the cache
    // never keeps a damaged download.
    r.try_for_each(|e| e.map(drop))?;
    cache_write(store, name, version, &mut std::fs::File::open(tmp.path()).map_err(|e| Error::io(tmp.path(), e))?)?;
    Reader::open(&cached)
}

/// The header of `NAME@VERSION` ([`open`]: the first line of the cached file, fetched into the
/// cache first when it is not there) — what a listing of versions shows, without reading
/// millions of entries.
pub async fn header(conn: Option<&Connection>, store: &Store, name: &str, version: &str) -> Result<super::Header> {
    Ok(open(conn, store, name, version).await?.header)
}

/// GetObject of a manifest; a 404 is [`Error::DatasetUnknown`] listing what exists.
async fn get(conn: &Connection, store: &Store, url: &S3Url, key: &str, name: &str, version: &str) -> Result<aws_sdk_s3::operation::get_object::GetObjectOutput> {
    match conn.client.get_object().bucket(&url.bucket).key(key).send().await {
        Ok(o) => Ok(o),
        Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => {
            let err = crate::s3::errors::map_sdk_error(e, &conn.ctx().bucket(&url.bucket).key(key));
            if matches!(err, Error::NoSuchBucket(_)) {
                return Err(err);
            }
            Err(unknown(Some(conn), store, name, Some(version)).await)
        }
        Err(e) => Err(crate::s3::errors::map_sdk_error(e, &conn.ctx().bucket(&url.bucket).key(key))),
    }
}

/// Loads `NAME@VERSION`: from the cache when it is there and intact, else from the bucket (then
/// cached). An unknown name or version is [`Error::DatasetUnknown`] listing what exists.
pub async fn load(conn: Option<&Connection>, store: &Store, name: &str, version: &str) -> Result<Manifest> {
    let cached = cache_file(store, name, version);
    if let Ok(bytes) = std::fs::read(&cached) {
        if let Ok(m) = Manifest::decode(&bytes, &cached.display().to_string()) {
            return Ok(m);
        }
    }
    let (Store::Bucket(url), Some(conn)) = (store, conn) else {
        return Err(unknown(conn, store, name, Some(version)).await);
    };
    let key = Store::key_of(url, name, version);
    let out = get(conn, store, url, &key, name, version).await?;
    let bytes = out.body.collect().await.map_err(|e| Error::Interrupted { what: format!("s3://{}/{key}", url.bucket), reason: e.to_string() })?.into_bytes();
    let m = Manifest::decode(&bytes, &format!("s3://{}/{key}", url.bucket))?;
    if m.header.name != name || m.header.version != version {
        return Err(Error::ManifestCorrupt { what: format!("s3://{}/{key}", url.bucket), reason: format!("it describes {} instead", m.reference()) });
    }
    let _ = cache_write(store, name, version, &mut &bytes[..]);
    Ok(m)
}

pub(crate) async fn unknown(conn: Option<&Connection>, store: &Store, name: &str, version: Option<&str>) -> Error {
    let all = list(conn, store).await.unwrap_or_default();
    let versions: Vec<&str> = all.iter().filter(|(n, _)| n == name).map(|(_, v)| v.as_str()).collect();
    let available = if versions.is_empty() || version.is_none() {
        let mut names: Vec<&str> = all.iter().map(|(n, _)| n.as_str()).collect();
        names.dedup();
        if names.is_empty() { "none".into() } else { format!("datasets: {}", names.join(", ")) }
    } else {
        format!("versions of {name}: {}", versions.join(", "))
    };
    let what = match version {
        Some(v) if !versions.is_empty() => format!("{name}@{v}"),
        _ => name.to_string(),
    };
    Error::DatasetUnknown { what, store: store.display(), available }
}

/// Every (name, version) in the store, sorted (versions in natural order: v2 before v10). For a
/// bucket store this is one listing of the store prefix; for the local-only store the cache.
pub async fn list(conn: Option<&Connection>, store: &Store) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    match (store, conn) {
        (Store::Bucket(url), Some(conn)) => {
            let mut stream = crate::s3::list::list_objects(conn, &url.bucket, &url.key, None);
            while let Some(o) = stream.try_next().await? {
                if let Some(pair) = o.key.strip_prefix(&url.key).and_then(split_key) {
                    out.push(pair);
                }
            }
        }
        _ => {
            let dir = store.cache_dir();
            for name in read_dir_names(&dir) {
                for file in read_dir_names(&dir.join(&name)) {
                    if let Some(pair) = split_key(&format!("{name}/{file}")) {
                        out.push(pair);
                    }
                }
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| natural_cmp(&a.1, &b.1)));
    Ok(out)
}

/// The next free `vN` of `name` (v1 for a new dataset).
pub fn next_version(existing: &[(String, String)], name: &str) -> String {
    let n = existing.iter().filter(|(n, _)| n == name).filter_map(|(_, v)| v.strip_prefix('v')?.parse::<u64>().ok()).max().unwrap_or(0);
    format!("v{}", n + 1)
}

fn split_key(rel: &str) -> Option<(String, String)> {
    let (name, file) = rel.split_once('/')?;
    let version = file.strip_suffix(SUFFIX)?;
    (check_name(name, "").is_ok() && check_name(version, "").is_ok()).then(|| (name.to_string(), version.to_string()))
}

fn read_dir_names(dir: &std::path::Path) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(dir) else { return Vec::new() };
    rd.filter_map(|e| e.ok()?.file_name().into_string().ok()).collect()
}

/// Orders `v2` before `v10`: digit runs compare as numbers.
pub fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let key = |s: &str| -> Vec<(u8, u64, String)> {
        let mut out = Vec::new();
        let mut chars = s.chars().peekable();
        while let Some(&c) = chars.peek() {
            let digit = c.is_ascii_digit();
            let mut run = String::new();
            while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit() == digit) {
                run.push(d);
                chars.next();
            }
            out.push(if digit { (0, run.parse().unwrap_or(u64::MAX), String::new()) } else { (1, 0, run) });
        }
        out
    };
    key(a).cmp(&key(b)).then_with(|| a.cmp(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_parse_and_refuse_paths() {
        assert_eq!(DatasetRef::parse("imagenet@v3").unwrap(), DatasetRef { name: "imagenet".into(), version: Some("v3".into()) });
        assert!(DatasetRef::parse("imagenet").unwrap().version.is_none());
        for bad in ["../x@v1", "a/b", "x@../v", ".hidden", "", "x@"] {
            assert!(DatasetRef::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn versions_sort_naturally_and_the_next_one_counts_up() {
        let mut v = vec!["v10", "v2", "v1"];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(v, ["v1", "v2", "v10"]);
        let existing = vec![("a".to_string(), "v2".to_string()), ("a".into(), "v10".into()), ("b".into(), "v7".into())];
        assert_eq!(next_version(&existing, "a"), "v11");
        assert_eq!(next_version(&existing, "new"), "v1");
    }

    #[test]
    fn a_bucket_alone_is_the_default_store() {
        assert_eq!(Store::parse("s3://team").unwrap(), Store::default_for("team"));
        assert_eq!(Store::parse("s3://team/meta").unwrap(), Store::Bucket(S3Url { bucket: "team".into(), key: "meta/".into() }));
    }
}
