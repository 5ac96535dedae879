//! Verification of a copy (a local folder or an S3 prefix) against a manifest, at one of three
//! levels:
//!
//! - `count`: the same relative keys with the same sizes;
//! - `checksum`: and the same content id. Remotely from the listing alone (the ETag each listed
//!   object carries; zero HEAD, zero GET — a prefix holding content references adds one GET per
//!   distinct reference body and one HEAD per content, `super::refs`); locally a copy has no stored checksum, so this hashes
//!   the files, as `full` does, through the hash cache;
//! - `full`: every byte re-hashed: local files on all cores (cached by path, size, mtime and file
//!   id), remote objects streamed through a hasher (no disk); compressed content of references
//!   (`Entry::codec`) streamed through the decoder, which checks the original's size and
//!   CRC64NVME.
//!
//! The report names missing, extra and changed files; a failed one is
//! [`Error::DatasetVerifyFailed`] with its own exit code.

use super::local::{self, HashKind, LocalFile};
use super::manifest::{Entry, Header, Manifest};
use crate::error::{Error, Result};
use crate::event::{Event, Progress, Sink};
use crate::s3::errors::SdkResultExt;
use crate::s3::{Connection, S3Url};
use crate::transfer::verify::{etag_kind, EtagHasher, EtagKind};
use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::Path;
use std::time::Instant;

/// How thoroughly to verify.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Count,
    #[default]
    Checksum,
    Full,
}

impl std::str::FromStr for Level {
    type Err = Error;
    fn from_str(s: &str) -> Result<Level> {
        match s {
            "count" => Ok(Level::Count),
            "checksum" => Ok(Level::Checksum),
            "full" => Ok(Level::Full),
            _ => Err(Error::Usage(format!("unknown verification level `{s}` (count, checksum or full)"))),
        }
    }
}

/// One file that differs.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Changed {
    pub key: String,
    pub detail: String,
}

/// What a verification found.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct VerifyReport {
    /// `NAME@VERSION`.
    pub dataset: String,
    pub digest: String,
    /// The copy verified: a local folder or `s3://…`.
    pub target: String,
    pub level: Level,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub files: u64,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub bytes: u64,
    /// Files that match at the level asked.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub ok: u64,
    pub missing: Vec<String>,
    pub extra: Vec<String>,
    pub changed: Vec<Changed>,
    /// Files that match by size but whose content could not be compared (an opaque ETag).
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub size_only: u64,
    /// Files read and hashed now; files whose hash came from the cache.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub hashed: u64,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub from_cache: u64,
    pub seconds: f64,
}

impl VerifyReport {
    pub fn passed(&self) -> bool {
        self.missing.is_empty() && self.extra.is_empty() && self.changed.is_empty()
    }

    /// `Ok` when it passed, else [`Error::DatasetVerifyFailed`].
    pub fn into_result(self) -> Result<VerifyReport> {
        if self.passed() {
            return Ok(self);
        }
        let first = self
            .missing
            .first()
            .map(|k| format!("{k} is missing"))
            .or_else(|| self.changed.first().map(|c| format!("{}: {}", c.key, c.detail)))
            .or_else(|| self.extra.first().map(|k| format!("{k} is not in the dataset")))
            .unwrap_or_default();
        Err(Error::DatasetVerifyFailed {
            dataset: self.dataset,
            target: self.target,
            missing: self.missing.len() as u64,
            extra: self.extra.len() as u64,
            changed: self.changed.len() as u64,
            first,
        })
    }

    fn new(m: &Manifest, target: String, level: Level) -> VerifyReport {
        VerifyReport::from_header(&m.header, target, level)
    }

    fn from_header(h: &Header, target: String, level: Level) -> VerifyReport {
        VerifyReport { dataset: h.reference(), digest: h.digest.clone(), target, level, files: h.files, bytes: h.bytes, ..Default::default() }
    }
}

/// Matches sorted manifest entries with sorted copies by key; calls `both` for pairs, records
/// missing and extra keys in the report.
fn merge<'a, T>(entries: &'a [Entry], copies: Vec<T>, key: impl Fn(&T) -> &str, report: &mut VerifyReport) -> Vec<(&'a Entry, T)> {
    let mut pairs = Vec::new();
    let mut copies = copies.into_iter().peekable();
    for e in entries {
        while let Some(c) = copies.next_if(|c| key(c) < e.key.as_str()) {
            report.extra.push(key(&c).to_string());
        }
        match copies.next_if(|c| key(c) == e.key) {
            Some(c) => pairs.push((e, c)),
            None => report.missing.push(e.key.clone()),
        }
    }
    report.extra.extend(copies.map(|c| key(&c).to_string()));
    pairs
}

fn size_differs(e: &Entry, size: u64) -> Option<Changed> {
    (e.size != size).then(|| Changed { key: e.key.clone(), detail: format!("{size} bytes, the dataset has {}", e.size) })
}

/// Verifies a local folder.
pub async fn verify_local(m: &Manifest, root: &Path, level: Level, job: u64, sink: &dyn Sink) -> Result<VerifyReport> {
    verify_local_trusting(m, root, level, &HashSet::new(), job, sink).await
}

/// [`verify_local`], except that at [`Level::Checksum`] the files in `verified` (dataset keys) are
/// not read: a download that just checked them against the manifest's ETag (`If-Match` it, and
/// the bytes against the object's checksum as they arrived) already did what this level does.
/// They are still counted and their sizes compared; [`Level::Full`] re-hashes them all the same.
pub async fn verify_local_trusting(m: &Manifest, root: &Path, level: Level, verified: &HashSet<String>, job: u64, sink: &dyn Sink) -> Result<VerifyReport> {
    let started = Instant::now();
    let mut report = VerifyReport::new(m, root.display().to_string(), level);
    let (files, unreadable) = local::walk(root)?;
    for (k, e) in unreadable {
        report.changed.push(Changed { key: k, detail: e.to_string() });
    }
    let pairs = merge(&m.entries, files, |f: &LocalFile| f.rel.as_str(), &mut report);
    let mut same_size = Vec::new();
    for (e, f) in pairs {
        match size_differs(e, f.size) {
            Some(c) => report.changed.push(c),
            None => same_size.push((e, f)),
        }
    }
    if level == Level::Count {
        report.ok = same_size.len() as u64;
    } else {
        if level == Level::Checksum && !verified.is_empty() {
            let before = same_size.len();
            same_size.retain(|(e, _)| !verified.contains(&e.key));
            report.ok += (before - same_size.len()) as u64;
        }
        let kinds: Vec<Option<HashKind>> = same_size.iter().map(|(e, _)| HashKind::for_entry(e)).collect();
        let files: Vec<LocalFile> = same_size.iter().map(|(_, f)| f.clone()).collect();
        let (hashes, stats) = local::hash_files(root, files, kinds, job, sink).await?;
        report.hashed = stats.hashed;
        report.from_cache = stats.from_cache;
        for ((e, _), h) in same_size.iter().zip(hashes) {
            match h {
                Ok(Some(h)) if h == e.content_id() => report.ok += 1,
                Ok(Some(h)) => report.changed.push(Changed { key: e.key.clone(), detail: format!("content differs (hash {h}, the dataset has {})", e.content_id()) }),
                Ok(None) => {
                    report.ok += 1;
                    report.size_only += 1;
                }
                Err(err) => report.changed.push(Changed { key: e.key.clone(), detail: err.to_string() }),
            }
        }
    }
    report.changed.sort_by(|a, b| a.key.cmp(&b.key));
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Whether two ETags can be compared (both plain MD5s, or both multipart), and if so whether
/// they are equal.
fn etags_match(want: &Entry, got: Option<&str>) -> Option<bool> {
    match (etag_kind(want.etag.as_deref()), etag_kind(got)) {
        (EtagKind::Md5(a), EtagKind::Md5(b)) => Some(a == b),
        (EtagKind::Multipart { etag: a, .. }, EtagKind::Multipart { etag: b, .. }) => Some(a == b),
        (EtagKind::Opaque, EtagKind::Opaque) => match (want.etag.as_deref(), got) {
            (Some(a), Some(b)) => Some(a.trim_matches('"') == b.trim_matches('"')),
            _ => None,
        },
        _ => None,
    }
}

/// Compares a listed file `got` with the manifest's `want` without reading it: `None` when
/// nothing but the size can be compared, else whether it is the same (with why not). Files
/// stored as compressed content compare the original's CRC64NVME their references record, and
/// the compressed object's ETag (overwritten since the snapshot?).
fn listed_matches(want: &Entry, got: &Entry) -> Option<std::result::Result<(), String>> {
    if want.codec.is_none() && got.codec.is_none() {
        return etags_match(want, got.etag.as_deref()).map(|same| {
            if same {
                Ok(())
            } else {
                Err(format!("ETag {} differs from the dataset's {} (overwritten since the snapshot)", got.etag.as_deref().unwrap_or_default(), want.content_id()))
            }
        });
    }
    if want.codec.is_none() || got.codec.is_none() {
        let (now, then) = if got.codec.is_some() { ("compressed content", "a plain object") } else { ("a plain object", "compressed content") };
        return Some(Err(format!("stored as {now}, the dataset has {then} (replaced since the snapshot)")));
    }
    if want.content_id() != got.content_id() {
        return Some(Err(format!("its reference records {}, the dataset has {} (changed since the snapshot)", got.content_id(), want.content_id())));
    }
    match etags_match(want, got.etag.as_deref()) {
        Some(false) => Some(Err(format!(
            "its compressed content object {} has ETag {}, the dataset's {} (overwritten since the snapshot)",
            got.content.as_deref().unwrap_or_default(),
            got.etag.as_deref().unwrap_or_default(),
            want.etag.as_deref().unwrap_or_default()
        ))),
        _ => Some(Ok(())),
    }
}

/// Verifies the objects under `url` against an in-memory manifest (see [`verify_s3_stream`]).
pub async fn verify_s3(conn: &Connection, m: &Manifest, url: &S3Url, level: Level, job: u64, sink: &dyn Sink) -> Result<VerifyReport> {
    verify_s3_stream(conn, &m.header, m.entries.iter().cloned().map(Ok), url, level, job, sink).await
}

/// Objects `full` streams through a hasher at once.
const HASHING: usize = 8;

/// Verifies the objects under `url` (one listing; `full` also streams every object through a
/// hasher, at most [`HASHING`] at a time, as the merge reaches them). The manifest's entries and
/// the listing are both sorted by key, so they are merged as two streams: memory is flat in the
/// number of files (only differences are kept). A manifest
/// that turns out corrupt at its end fails the verification with its own error.
pub async fn verify_s3_stream(
    conn: &Connection,
    header: &Header,
    entries: impl Iterator<Item = Result<Entry>>,
    url: &S3Url,
    level: Level,
    job: u64,
    sink: &dyn Sink,
) -> Result<VerifyReport> {
    let started = Instant::now();
    let prefix = url.dir_prefix();
    let mut report = VerifyReport::from_header(header, format!("s3://{}/{prefix}", url.bucket), level);
    crate::s3::list::check_bucket(conn, &url.bucket).await?;
    let mut listing = super::snapshot::listed(conn, url, Some(super::store::DEFAULT_PREFIX).filter(|_| prefix.is_empty()));
    let mut listed = 0u64;
    let mut next = listing.try_next().await?;
    let hashed = Hashed { bytes: Default::default(), files: Default::default(), totals: (header.bytes, header.files), job };
    let mut hashing = futures::stream::FuturesUnordered::new();
    // The listing's progress, except at `full`, whose progress is the hashing's.
    let progress = |n: u64| if level != Level::Full { sink.send(Event::Progress(Progress { job, objects_done: n, objects_total: header.files, ..Progress::default() })) };
    // The listing's next entry, after `prev`: refused unless sorted, since the merge relies on it.
    let mut advance = |prev: &str, next: Option<Entry>| -> Result<Option<Entry>> {
        if let Some(b) = next.as_ref().filter(|b| b.key.as_str() <= prev) {
            return Err(Error::S3 { code: "UnsortedListing".into(), message: format!("the server listed `{}` after `{prev}`: a listing must be sorted by key", b.key) });
        }
        listed += 1;
        if listed.is_multiple_of(1000) {
            progress(listed);
        }
        Ok(next)
    };
    for e in entries {
        let e = e?;
        while let Some(o) = next.take_if(|o| o.key < e.key) {
            next = advance(&o.key, listing.try_next().await?)?;
            report.extra.push(o.key);
        }
        let Some(o) = next.take_if(|o| o.key == e.key) else {
            report.missing.push(e.key);
            continue;
        };
        next = advance(&o.key, listing.try_next().await?)?;
        // A reference's bytes are its content object's.
        let stored = o.stored_key(&prefix);
        if let Some(c) = size_differs(&e, o.size) {
            report.changed.push(c);
            continue;
        }
        match (level, listed_matches(&e, &o)) {
            (Level::Count, _) => report.ok += 1,
            (_, Some(Err(detail))) => report.changed.push(Changed { key: e.key.clone(), detail }),
            (Level::Checksum, Some(Ok(()))) => report.ok += 1,
            (Level::Checksum, None) => {
                report.ok += 1;
                report.size_only += 1;
            }
            (Level::Full, _) => {
                // At most HASHING objects streamed at once, started as the merge finds them.
                if hashing.len() >= HASHING {
                    if let Some((e, r)) = hashing.next().await {
                        record_hash(&mut report, e, r)?;
                    }
                }
                hashing.push(hash_object(conn, url, stored, e, &hashed, sink));
            }
        }
    }
    while let Some(o) = next.take() {
        next = advance(&o.key, listing.try_next().await?)?;
        report.extra.push(o.key);
    }
    progress(listed);
    while let Some((e, r)) = hashing.next().await {
        record_hash(&mut report, e, r)?;
    }
    report.changed.sort_by(|a, b| a.key.cmp(&b.key));
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Bytes and objects hashed so far, and of what totals (progress of `full`, as `job`).
struct Hashed {
    bytes: std::sync::atomic::AtomicU64,
    files: std::sync::atomic::AtomicU64,
    totals: (u64, u64),
    job: u64,
}

impl Hashed {
    /// One more object hashed: progress.
    fn object_done(&self, sink: &dyn Sink) {
        use std::sync::atomic::Ordering::Relaxed;
        let n = self.files.fetch_add(1, Relaxed) + 1;
        let (bytes_total, objects_total) = self.totals;
        sink.send(Event::Progress(Progress { job: self.job, bytes_done: self.bytes.load(Relaxed), bytes_total, objects_done: n, objects_total, ..Progress::default() }));
    }
}

/// Streams the compressed content object at `key` (entry `e`'s bytes, [`Entry::codec`])
/// through the decoder downloads use (`codec::stream`, nothing written to disk), which checks
/// the decoded bytes against the object's header, and the header against the original size and
/// CRC64NVME the entry records. Returns the decoded bytes' content id; a corrupt object is an
/// error naming it (`compressed_corrupt`), a body that broke off an interruption. `bytes`
/// counts decoded bytes (progress).
async fn decode_object(conn: &Connection, bucket: &str, key: &str, e: &Entry, bytes: &std::sync::atomic::AtomicU64) -> Result<Option<String>> {
    let what = format!("s3://{bucket}/{key}");
    let out = conn.client.get_object().bucket(bucket).key(key).send().await.or_s3(&conn.ctx().bucket(bucket).key(key))?;
    let mut decoder = crate::codec::stream::StreamDecoder::start(std::io::sink());
    let mut body = out.body;
    let mut fed = Ok(());
    loop {
        match body.try_next().await {
            Ok(Some(chunk)) => {
                // The decoder stops reading at corrupt bytes: the rest is not needed.
                if !decoder.feed(chunk).await {
                    break;
                }
            }
            Ok(None) => break,
            Err(err) => {
                fed = Err(Error::Interrupted { what: what.clone(), reason: err.to_string() });
                break;
            }
        }
    }
    let (decoded, _) = decoder.finish().await.map_err(Error::Internal)?;
    // A body that broke off is that error, whatever the decoder made of the bytes it got.
    fed?;
    let h = crate::transfer::compress::decoded_as_expected(decoded, &what, (e.size, e.original_crc64()), |err| Error::Internal(format!("decoding into nothing: {err}")))?;
    bytes.fetch_add(h.original_size, std::sync::atomic::Ordering::Relaxed);
    Ok(Some(format!("crc64nvme:{}", crate::codec::crc64_base64(h.original_crc64nvme))))
}

/// Streams the object at `key` (entry `e`'s bytes) through the hasher its ETag calls for
/// (`None`: an opaque ETag, nothing to compare). Returns the entry with the result.
async fn hash_object(conn: &Connection, url: &S3Url, key: String, e: Entry, hashed: &Hashed, sink: &dyn Sink) -> (Entry, Result<Option<String>>) {
    use std::sync::atomic::Ordering::Relaxed;
    if e.codec.is_some() {
        let r = decode_object(conn, &url.bucket, &key, &e, &hashed.bytes).await;
        if r.is_ok() {
            hashed.object_done(sink);
        }
        return (e, r);
    }
    let Some(kind) = HashKind::for_etag(e.etag.as_deref(), e.part_size, e.size) else { return (e, Ok(None)) };
    let r = async {
        let out = conn.client.get_object().bucket(&url.bucket).key(&key).send().await.or_s3(&conn.ctx().bucket(&url.bucket).key(&key))?;
        // `for_etag` gives Md5 or Multipart only (Sha256 is local dedup's).
        let mut hasher = EtagHasher::new(match kind {
            HashKind::Multipart(p) => Some(p),
            HashKind::Md5 | HashKind::Sha256 | HashKind::Crc64Nvme => None,
        });
        let mut body = out.body;
        while let Some(chunk) = body.try_next().await.map_err(|err| Error::Interrupted { what: format!("s3://{}/{key}", url.bucket), reason: err.to_string() })? {
            hasher.update(&chunk);
            hashed.bytes.fetch_add(chunk.len() as u64, Relaxed);
        }
        hashed.object_done(sink);
        Ok(Some(hasher.finish()))
    }
    .await;
    (e, r)
}

/// Puts one hashed object in the report; an error that ends the job (connection, credentials)
/// ends the verification.
fn record_hash(report: &mut VerifyReport, e: Entry, r: Result<Option<String>>) -> Result<()> {
    match r {
        Ok(Some(h)) if h == e.content_id() => {
            report.ok += 1;
            report.hashed += 1;
        }
        Ok(Some(h)) => report.changed.push(Changed { key: e.key.clone(), detail: format!("content differs (hash {h}, the dataset has {})", e.content_id()) }),
        Ok(None) => {
            report.ok += 1;
            report.size_only += 1;
        }
        Err(err) if err.scope().ends_job() => return Err(err),
        Err(err) => report.changed.push(Changed { key: e.key, detail: err.to_string() }),
    }
    Ok(())
}
