//! Dedup on upload (`--dedup`): a file whose content already exists under the destination
//! prefix — or earlier in the same upload — is not sent again but copied on the server
//! (CopyObject; UploadPartCopy in parts above 5 GiB, `s3::rename::copy_one`).
//!
//! - **Hash** ([`plan_dedup`]): every file of the upload (from [`MIN_SIZE`]) is read once before
//!   anything is sent and its CRC64NVME computed — the checksum the native engine already stores
//!   with uploads, several GB/s on every core. It is recorded with the upload as
//!   `x-amz-meta-trainctl-crc64nvme` ([`META_CRC64NVME`]; compressed objects carry
//!   `trainctl-original-crc64nvme` from `--compress` already), so that later uploads find it. A
//!   file whose size, mtime or inode changed while it was hashed is uploaded in full, with no
//!   recorded hash.
//! - **Index**: one listing of the prefix gives every object's key and size. ListObjectsV2 does
//!   not return user metadata, so the recorded hash needs a HEAD; it is asked only of objects that
//!   could match — the size of a file being uploaded (compressed objects: the same codec suffix,
//!   their listed size being the compressed one). Files of one run rarely share a size by
//!   chance, so that is a handful of HEADs, not one per object under the prefix.
//! - **Trust**: an object is a copy source only when its HEAD shows the file's size and its
//!   hash: the recorded one and, where the store keeps one, its own full-object CRC64NVME, which
//!   must agree. An object whose metadata another tool stripped (and without a stored CRC64NVME)
//!   shows no hash: the file is uploaded, never copied on a guess. The copy is conditioned on the
//!   ETag that HEAD saw (`x-amz-copy-source-if-match`; a second HEAD right before on stores that
//!   ignore it, quirk `conditional_copy`), and the file is looked at again right before (one
//!   changed since it was hashed is uploaded instead).
//! - **Run** ([`DedupEngine`], around every engine): the copies from existing objects first,
//!   then the rest through the inner engine (s5cmd or native, compression included), then the
//!   copies whose source this job uploaded (HEADed and checked like any other source). A copy
//!   that fails is uploaded instead, so the job ends as it would have without `--dedup`.
//!
//! CRC64NVME is not a cryptographic hash: two different files of the same size collide by
//! accident with odds of about 2⁻⁶⁴, but one can be crafted to collide. Sources are objects under
//! the destination prefix only, and whoever can write there can already replace the run's
//! checkpoints; a second algorithm would cost another full read of every file.
//!
//! What it saves: the bytes of repeated files are not sent (bandwidth, time). What it does not:
//! each copy is a full object, stored and billed as such.

use super::{Engine, Outcome, TransferItem, TransferJob, TransferOptions};
use crate::error::{Error, Result};
use crate::event::{Direction, Event, Sink};
use crate::s3::list;
use crate::s3::rename::{copy_one, CopySizes, Move};
use crate::s3::Connection;
use futures::StreamExt;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use tokio_util::sync::CancellationToken;

mod refs;
pub use refs::RefPut;

/// Object metadata key (`x-amz-meta-…`) holding the CRC64NVME of a plain object's content,
/// base64 of its 8 big-endian bytes (as `x-amz-checksum-crc64nvme`).
pub const META_CRC64NVME: &str = "trainctl-crc64nvme";

/// Files smaller than this are sent: a copy costs a request, as their upload does.
pub const MIN_SIZE: u64 = 64 * 1024;

/// HEADs in flight while indexing the prefix.
const HEAD_PARALLELISM: usize = 16;

/// What a file was when it was hashed: compared again before its copy and after its upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stamp {
    size: u64,
    mtime_ns: i64,
    ino: u64,
}

impl Stamp {
    /// The file at `path` now (`None`: gone or unreadable).
    fn of(path: &Path) -> Option<Stamp> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path).ok()?;
        Some(Stamp { size: m.len(), mtime_ns: m.mtime() * 1_000_000_000 + m.mtime_nsec(), ino: m.ino() })
    }
}

/// One item written by a server-side copy instead of an upload.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Copy {
    /// The key it is written to (with the codec suffix when compressed).
    pub key: String,
    /// The file whose content it is.
    pub local: PathBuf,
    /// The file's size.
    pub size: u64,
    /// The key of the object holding the same content.
    pub from: String,
    /// `from`'s ETag as its HEAD saw it; `None` when `from` is uploaded by this job (HEADed
    /// right before the copy).
    pub from_etag: Option<String>,
    /// Bytes the copy does not send: the source object's size (compressed: its compressed
    /// size; the file's size while the source is still to be uploaded).
    pub bytes: u64,
    /// `from` is another item of this job, copied once its upload completed.
    pub in_job: bool,
    /// The CRC64NVME of the content (base64), as compared.
    pub crc64nvme: String,
    #[serde(skip)]
    stamp: Stamp,
    /// The item's compression plan, restored when it is uploaded after all.
    #[serde(skip)]
    compress: Option<super::compress::Planned>,
}

/// What [`plan_dedup`] did, for the user.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DedupPlanned {
    /// Files hashed.
    pub hashed: u64,
    /// Objects under the prefix HEADed for their recorded hash.
    pub looked_at: u64,
    /// Items that will be copied instead of sent, and their bytes.
    pub copies: u64,
    pub bytes_not_sent: u64,
    /// `--dedup=refs`: references planned, and the bytes the store will not hold twice: each
    /// reference's content at the size the store holds it (compressed content: compressed),
    /// less the content objects created.
    pub refs: u64,
    pub bytes_not_stored: u64,
    /// `bytes_not_stored` counts compressed content not compressed yet at a size estimated from
    /// a sample of its file (the upload's own figure is exact).
    pub bytes_not_stored_estimated: bool,
    /// Why some files are sent after all (changed while hashed; a store without copies).
    pub notes: Vec<String>,
}

/// The savings an upload job is planned with, as every face that uploads runs them (`s3 upload`,
/// `trainctl local --upload-to`, their `--dry-run`s): `--compress` first
/// ([`super::compress::plan_compression`]: each item's codec and stored key), then `--dedup`
/// ([`plan_dedup_with`] under `dedup`'s scope). Returns what dedup planned (the figures a dry
/// run prints: copies, references, `bytes_not_stored`); the default without `--dedup`.
pub async fn plan_savings(job: &mut TransferJob, conn: &Connection, compress: Option<crate::codec::Compress>, dedup: Option<(DedupMode, &str)>) -> Result<DedupPlanned> {
    if let Some(how) = compress {
        let rates = super::compress::rates::LinkRates::for_profile(&conn.profile);
        super::compress::plan_compression(job, how, rates.as_ref()).await?;
    }
    match dedup {
        Some((mode, scope)) => plan_dedup_with(job, conn, scope, mode).await,
        None => Ok(DedupPlanned::default()),
    }
}

/// What `--dedup` does with a repeated file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DedupMode {
    /// A full object at its key, made by a server-side copy (saves bandwidth, not storage).
    #[default]
    Copy,
    /// One content object in the scope's content area and a reference object at each key
    /// (saves storage too; `crate::refs`).
    Refs,
}

/// The content of a file or object: how it is stored (`None`: plain; else the codec name),
/// its original size and CRC64NVME.
type Content = (Option<String>, u64, u64);

/// An object under the prefix whose HEAD showed its content.
#[derive(Debug, Clone)]
struct Source {
    key: String,
    etag: Option<String>,
    /// The object's own size (compressed objects: compressed).
    stored: u64,
}

/// Plans `--dedup` for an upload job (after `compress::plan_compression`, so compressed keys and
/// codecs are known): hashes its files, indexes the objects under `scope` (a key prefix, usually
/// the destination folder), and moves every item whose content is already there — or is
/// uploaded earlier in this job — from `job.items` to `job.copies`. Every item still uploaded
/// gets its hash recorded in its metadata.
pub async fn plan_dedup(job: &mut TransferJob, conn: &Connection, scope: &str) -> Result<DedupPlanned> {
    plan_dedup_with(job, conn, scope, DedupMode::Copy).await
}

/// [`plan_dedup`] in either mode: with [`DedupMode::Refs`], a content held more than once
/// (twice in this upload, in the scope's content area already, or in an object under the
/// scope) is stored once in the content area and every item holding it becomes a reference
/// (`job.refs`); a compressed item's content object is stored compressed (`NAME.zst`/`.tcz` in
/// the content area, format-2 references).
pub async fn plan_dedup_with(job: &mut TransferJob, conn: &Connection, scope: &str, mode: DedupMode) -> Result<DedupPlanned> {
    let mut report = DedupPlanned::default();
    if job.direction != Direction::Upload {
        return Ok(report);
    }
    if !crate::config::quirks::get_or_other(&conn.profile.provider).server_side_copy {
        report.notes.push(format!("{} does not copy objects on the server: --dedup uploads everything", conn.profile.provider));
        return Ok(report);
    }
    let todo: Vec<(usize, PathBuf)> = job.items.iter().enumerate().filter(|(_, i)| i.size >= MIN_SIZE && i.write_if.is_none()).map(|(n, i)| (n, i.local.clone())).collect();
    let hashed = tokio::task::spawn_blocking(move || todo.into_iter().map(|(n, p)| (n, hash_file(&p), p)).collect::<Vec<_>>())
        .await
        .map_err(|e| Error::Internal(format!("dedup hashing: {e}")))?;
    let mut contents: Vec<Option<(Content, Stamp)>> = vec![None; job.items.len()];
    for (n, result, path) in hashed {
        match result {
            Ok((stamp, crc)) if stamp.size == job.items[n].size => {
                report.hashed += 1;
                let form = job.compress.get(&job.items[n].key).map(|p| p.codec.name());
                contents[n] = Some(((form, stamp.size, crc), stamp));
            }
            Ok(_) | Err(_) => report.notes.push(format!("{} changed while it was hashed: uploaded in full", path.display())),
        }
    }
    let (index, area) = index(job, conn, scope, &contents, &mut report).await?;
    let items: Vec<(TransferItem, Option<(Content, Stamp)>)> = std::mem::take(&mut job.items).into_iter().zip(contents).collect();
    // `--dedup=refs`: what may be referenced is planned there; the rest (text metadata,
    // compressed files) is deduplicated by copies, as without it.
    let items = if mode == DedupMode::Refs { refs::plan(job, scope, items, &index, &area, &mut report) } else { items };
    if !job.refs.is_empty() {
        (report.bytes_not_stored, report.bytes_not_stored_estimated) = refs::planned_not_stored(job).await;
    }
    let mut first_in_job: HashMap<Content, String> = HashMap::new();
    for (item, c) in items {
        let Some((content, stamp)) = c else {
            job.items.push(item);
            continue;
        };
        let crc64nvme = crate::codec::crc64_base64(content.2);
        let (from, from_etag, bytes, in_job) = match (index.get(&content), first_in_job.get(&content)) {
            (Some(s), _) => (s.key.clone(), s.etag.clone(), s.stored, false),
            (None, Some(first)) => (first.clone(), None, item.size, true),
            (None, None) => {
                first_in_job.insert(content.clone(), item.key.clone());
                // Compressed objects record the hash of the bytes they were made from when they
                // are staged: always right, nothing to record or take back here.
                if content.0.is_none() {
                    job.metadata.entry(item.key.clone()).or_default().insert(META_CRC64NVME.into(), crc64nvme);
                    job.recorded.insert(item.key.clone(), stamp);
                }
                job.items.push(item);
                continue;
            }
        };
        report.copies += 1;
        report.bytes_not_sent += bytes;
        let compress = job.compress.remove(&item.key);
        job.copies.push(Copy { key: item.key, local: item.local, size: item.size, from, from_etag, bytes, in_job, crc64nvme, stamp, compress });
    }
    Ok(report)
}

/// The CRC64NVME of a file and what it was while hashed; `Err` when it changed meanwhile.
/// Blocking.
fn hash_file(path: &Path) -> std::result::Result<(Stamp, u64), ()> {
    let before = Stamp::of(path).ok_or(())?;
    let file = std::fs::File::open(path).map_err(|_| ())?;
    let recipe = super::checksum::Recipe { algorithm: super::checksum::Algorithm::Crc64Nvme, cut: super::checksum::Cut::Any };
    let digest = super::verify::hash_file(&file, before.size, recipe).map_err(|_| ())?;
    let after = Stamp::of(path).ok_or(())?;
    if before != after || file.metadata().map_err(|_| ())?.len() != before.size {
        return Err(());
    }
    Ok((before, crc_of(&digest).ok_or(())?))
}

fn crc_of(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}

/// The objects under `scope` that hold the content of a hashed item, by content: one listing,
/// then a HEAD of each object that could match (see the module documentation).
/// Also returns the content keys the scope's content area holds (`crate::refs`; plain ones
/// with the listed size their name says).
async fn index(job: &TransferJob, conn: &Connection, scope: &str, contents: &[Option<(Content, Stamp)>], report: &mut DedupPlanned) -> Result<(HashMap<Content, Source>, HashSet<String>)> {
    let wanted: HashSet<&Content> = contents.iter().flatten().map(|(c, _)| c).collect();
    let plain_sizes: HashSet<u64> = wanted.iter().filter(|c| c.0.is_none()).map(|c| c.1).collect();
    let suffixes: HashSet<&'static str> = job.compress.values().map(|p| p.codec.suffix()).collect();
    if wanted.is_empty() {
        return Ok(Default::default());
    }
    let mine: HashSet<&str> = job.items.iter().map(|i| i.key.as_str()).collect();
    let listed = list::collect_objects(conn, &job.bucket, scope, None).await?;
    // Plain content by name and listed size; compressed content (listed size: compressed) by
    // name, its decoding checked whenever it is read.
    let area: HashSet<String> = listed
        .iter()
        .filter(|o| match crate::refs::parse_content_key(&o.key) {
            Some((s, _, size)) => s == scope && (size == o.size || (crate::refs::content_codec_suffix(&o.key).is_some() && o.size > 0)),
            None => false,
        })
        .map(|o| o.key.clone())
        .collect();
    let candidates: Vec<list::ObjectEntry> = listed
        .into_iter()
        .filter(|o| !o.is_prefix && !mine.contains(o.key.as_str()))
        .filter(|o| plain_sizes.contains(&o.size) || suffixes.iter().any(|s| o.key.ends_with(s)))
        .collect();
    report.looked_at = candidates.len() as u64;
    let bucket = job.bucket.as_str();
    let seen: Vec<Option<(Content, Source)>> = futures::stream::iter(candidates).map(|o| async move { head_content(conn, bucket, &o.key).await }).buffer_unordered(HEAD_PARALLELISM).collect().await;
    let mut out = HashMap::new();
    for (content, source) in seen.into_iter().flatten() {
        if wanted.contains(&content) {
            out.entry(content).or_insert(source);
        }
    }
    Ok((out, area))
}

/// What the HEAD of `key` shows of its content, when it shows it trustworthily.
async fn head_content(conn: &Connection, bucket: &str, key: &str) -> Option<(Content, Source)> {
    let req = conn.client.head_object().bucket(bucket).key(key).customize();
    let head = super::verify::with_checksum_mode(req).send().await.ok()?;
    let stored = u64::try_from(head.content_length()?).ok()?;
    let etag = head.e_tag().map(str::to_string);
    let content = content_of(head.metadata(), stored_crc64(&head, etag.as_deref()), stored)?;
    Some((content, Source { key: key.to_string(), etag, stored }))
}

/// The store's own full-object CRC64NVME of an object, when it keeps one.
fn stored_crc64(head: &aws_sdk_s3::operation::head_object::HeadObjectOutput, etag: Option<&str>) -> Option<u64> {
    let stored = super::verify::stored_of(super::verify::StoredFields::of_head(head), etag).ok()??;
    (stored.algorithm == super::checksum::Algorithm::Crc64Nvme && stored.composite_parts.is_none()).then(|| crc_of(&stored.value)).flatten()
}

/// The content an object holds, from its user metadata, its stored CRC64NVME and its size;
/// `None` when it does not say, or says two different things. Pure.
fn content_of(meta: Option<&HashMap<String, String>>, stored_crc: Option<u64>, size: u64) -> Option<Content> {
    let get = |k: &str| meta.and_then(|m| m.get(k)).map(String::as_str);
    if let Some(codec) = get(crate::codec::META_CODEC) {
        let original = get(crate::codec::META_ORIGINAL_SIZE)?.parse().ok()?;
        let crc = crate::codec::crc64_of_base64(get(crate::codec::META_ORIGINAL_CRC64NVME)?)?;
        return Some((Some(codec.to_string()), original, crc));
    }
    let recorded = match get(META_CRC64NVME) {
        Some(v) => Some(crate::codec::crc64_of_base64(v)?),
        None => None,
    };
    match (recorded, stored_crc) {
        (Some(a), Some(b)) if a != b => None,
        (Some(c), _) | (None, Some(c)) => Some((None, size, c)),
        (None, None) => None,
    }
}

/// An engine with `--dedup` copies around it (see the module documentation); `choose_engine`
/// wraps every engine in one. Jobs without copies go straight to the inner engine.
pub struct DedupEngine {
    conn: Connection,
    inner: Box<dyn Engine>,
}

impl DedupEngine {
    pub fn new(conn: Connection, inner: Box<dyn Engine>) -> Self {
        DedupEngine { conn, inner }
    }
}

#[async_trait::async_trait]
impl Engine for DedupEngine {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn compresses_uploads(&self, job: &TransferJob) -> bool {
        self.inner.compresses_uploads(job)
    }

    async fn run(&self, job: &TransferJob, opts: &TransferOptions, sink: &dyn Sink, cancel: CancellationToken) -> Result<Outcome> {
        if job.direction == Direction::Download && !job.ref_of_local.is_empty() {
            return self.inner.run(job, opts, &refs::NameRefs::new(job, sink), cancel).await;
        }
        if job.direction != Direction::Upload || (job.copies.is_empty() && job.recorded.is_empty() && job.refs.is_empty()) {
            return self.inner.run(job, opts, sink, cancel).await;
        }
        let started = std::time::Instant::now();
        let hold = Hold { inner: sink, started: Mutex::new(false) };
        let (from_store, from_job): (Vec<usize>, Vec<usize>) = (0..job.copies.len()).partition(|&i| !job.copies[i].in_job);
        let mut tally = Tally::default();
        let first = self.copy_all(job, &from_store, opts).await;
        let mut rest = job.clone();
        rest.copies.clear();
        rest.refs.clear();
        tally.add_copies(&job.copies, first, &mut rest, sink);
        let mut outcome = self.inner.run(&rest, opts, &hold, cancel.clone()).await?;
        self.forget_changed(&rest, sink).await;
        if !cancel.is_cancelled() && !from_job.is_empty() {
            let second = self.copy_all(job, &from_job, opts).await;
            let mut again = TransferJob { items: Vec::new(), skipped: Vec::new(), rejected: Vec::new(), copies: Vec::new(), recorded: HashMap::new(), refs: Vec::new(), ..job.clone() };
            again.compress.clear();
            tally.add_copies(&job.copies, second, &mut again, sink);
            if !again.items.is_empty() {
                let o = self.inner.run(&again, opts, &hold, cancel.clone()).await?;
                self.forget_changed(&again, sink).await;
                outcome.done += o.done;
                outcome.bytes_done += o.bytes_done;
                outcome.failed.extend(o.failed);
            }
        }
        if !cancel.is_cancelled() && !job.refs.is_empty() {
            self.write_refs(job, opts, &hold, &mut outcome, cancel.clone()).await?;
        }
        outcome.done += tally.copied;
        outcome.copied = tally.copied;
        outcome.bytes_not_sent = tally.bytes;
        outcome.seconds = started.elapsed().as_secs_f64();
        if tally.copied > 0 {
            let b = humansize::format_size(tally.bytes, humansize::BINARY);
            sink.send(Event::Notice { message: format!("copied {} objects on the server instead of sending them ({b} not sent)", tally.copied) });
        }
        super::announce_finished(job, &outcome, sink);
        if cancel.is_cancelled() {
            return Err(Error::Cancelled);
        }
        Ok(outcome)
    }
}

/// The copies made so far.
#[derive(Default)]
struct Tally {
    copied: u64,
    bytes: u64,
}

impl Tally {
    /// Counts the copies that landed and puts the others back in `job` as uploads (with their
    /// compression plan, and their hash recorded unless the file changed).
    fn add_copies(&mut self, copies: &[Copy], results: Vec<(usize, std::result::Result<u64, Fallback>)>, job: &mut TransferJob, sink: &dyn Sink) {
        for (i, r) in results {
            let c = &copies[i];
            match r {
                Ok(bytes) => {
                    self.copied += 1;
                    self.bytes += bytes;
                    sink.send(Event::ObjectCopied { job: job.id, key: c.key.clone(), from: c.from.clone(), local: c.local.display().to_string(), bytes });
                }
                Err(f) => {
                    sink.send(Event::Notice { message: format!("{}: {}; uploading it instead", c.key, f.why) });
                    if let Some(p) = &c.compress {
                        job.compress.insert(c.key.clone(), p.clone());
                    } else if !f.changed {
                        job.metadata.entry(c.key.clone()).or_default().insert(META_CRC64NVME.into(), c.crc64nvme.clone());
                        job.recorded.insert(c.key.clone(), c.stamp);
                    }
                    job.items.push(TransferItem { local: c.local.clone(), key: c.key.clone(), size: Stamp::of(&c.local).map_or(c.size, |s| s.size), etag: None, write_if: None });
                }
            }
        }
    }
}

/// Why a copy was not made (the item is uploaded instead).
struct Fallback {
    why: String,
    /// The file changed since it was hashed: its hash is not recorded.
    changed: bool,
}

impl DedupEngine {
    /// Makes `copies`, several at once; each result is the bytes not sent, or why it fell back.
    /// By index, not `&Copy`: a closure over a borrowed item makes the future higher-ranked.
    async fn copy_all(&self, job: &TransferJob, which: &[usize], opts: &TransferOptions) -> Vec<(usize, std::result::Result<u64, Fallback>)> {
        futures::stream::iter(which.to_vec()).map(|i| async move { (i, self.copy(job, &job.copies[i]).await) }).buffer_unordered(opts.concurrency.clamp(1, 16)).collect().await
    }

    /// One copy: the file must still be what was hashed; a source uploaded by this job is
    /// HEADed and must show the same content; the copy is conditioned on the source's ETag.
    async fn copy(&self, job: &TransferJob, c: &Copy) -> std::result::Result<u64, Fallback> {
        let local = c.local.clone();
        let now = tokio::task::spawn_blocking(move || Stamp::of(&local)).await.ok().flatten();
        if now != Some(c.stamp) {
            return Err(Fallback { why: "the file changed since it was hashed".into(), changed: true });
        }
        let (etag, bytes) = match &c.from_etag {
            Some(etag) if crate::config::quirks::get_or_other(&self.conn.profile.provider).conditional_copy => (Some(etag.clone()), c.bytes),
            Some(etag) => {
                // The store would ignore x-amz-copy-source-if-match: look right before instead.
                let now = self.conn.client.head_object().bucket(&job.bucket).key(&c.from).send().await.ok().and_then(|h| h.e_tag().map(str::to_string));
                if now.as_deref() != Some(etag.as_str()) {
                    return Err(Fallback { why: format!("{} changed since it was looked at", c.from), changed: false });
                }
                (Some(etag.clone()), c.bytes)
            }
            None => {
                let form = c.compress.as_ref().map(|p| p.codec.name());
                let Some(crc) = crate::codec::crc64_of_base64(&c.crc64nvme) else { return Err(Fallback { why: "no hash".into(), changed: false }) };
                match head_content(&self.conn, &job.bucket, &c.from).await {
                    Some((content, source)) if content == (form, c.size, crc) => (source.etag, source.stored),
                    _ => return Err(Fallback { why: format!("{} does not hold the same content (its upload failed or it changed)", c.from), changed: false }),
                }
            }
        };
        let m = Move { from: c.from.clone(), to: c.key.clone(), size: bytes, etag };
        match copy_one(&self.conn, &job.bucket, &m, CopySizes::default(), job.storage_class.as_deref()).await {
            Ok(()) => Ok(bytes),
            Err(e) => Err(Fallback { why: format!("the server-side copy from {} failed ({e})", c.from), changed: false }),
        }
    }

    /// Removes the recorded hash of uploaded objects whose file changed after it was hashed (the
    /// bytes sent may not be the bytes hashed), so no later `--dedup` trusts it: a copy of the
    /// object onto itself with its metadata replaced.
    async fn forget_changed(&self, job: &TransferJob, sink: &dyn Sink) {
        for (key, stamp) in &job.recorded {
            let Some(item) = job.items.iter().find(|i| &i.key == key) else { continue };
            if Stamp::of(&item.local) == Some(*stamp) {
                continue;
            }
            let source = format!("{}/{}", job.bucket, crate::s3::versions::encode_key(key));
            let kept: HashMap<String, String> = job.metadata.get(key).map(|m| m.iter().filter(|(k, _)| k.as_str() != META_CRC64NVME).map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default();
            let r = self.conn.client.copy_object().bucket(&job.bucket).key(key).copy_source(source).metadata_directive(aws_sdk_s3::types::MetadataDirective::Replace).set_metadata(Some(kept)).send().await;
            let message = match r {
                Ok(_) => format!("{} changed while it was uploaded: its recorded hash was removed, so no --dedup copies it", item.local.display()),
                Err(_) => format!("{} changed while it was uploaded and its recorded hash could not be removed: upload it again", item.local.display()),
            };
            sink.send(Event::Notice { message });
        }
    }
}

/// The sink the inner engine reports to: one `TransferStarted` (the first run's), no
/// `TransferFinished` (the dedup engine sends the job's own, copies counted).
struct Hold<'a> {
    inner: &'a dyn Sink,
    started: Mutex<bool>,
}

impl Sink for Hold<'_> {
    fn send(&self, event: Event) {
        match event {
            Event::TransferStarted { .. } => {
                let mut started = self.started.lock().unwrap_or_else(|p| p.into_inner());
                if !*started {
                    *started = true;
                    self.inner.send(event);
                }
            }
            Event::TransferFinished { .. } => {}
            other => self.inner.send(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn an_object_is_trusted_only_when_what_it_says_agrees() {
        let crc = crate::codec::crc64_base64(42);
        assert_eq!(content_of(Some(&meta(&[(META_CRC64NVME, &crc)])), None, 100), Some((None, 100, 42)));
        assert_eq!(content_of(Some(&meta(&[(META_CRC64NVME, &crc)])), Some(42), 100), Some((None, 100, 42)));
        assert_eq!(content_of(None, Some(42), 100), Some((None, 100, 42)), "the store's own CRC64NVME");
        assert_eq!(content_of(Some(&meta(&[(META_CRC64NVME, &crc)])), Some(43), 100), None, "two different hashes");
        assert_eq!(content_of(Some(&meta(&[(META_CRC64NVME, "not base64!")])), Some(42), 100), None, "a mangled value");
        assert_eq!(content_of(Some(&meta(&[])), None, 100), None, "metadata stripped");
        let compressed = meta(&[(crate::codec::META_CODEC, "zstd"), (crate::codec::META_ORIGINAL_SIZE, "5000"), (crate::codec::META_ORIGINAL_CRC64NVME, &crc)]);
        assert_eq!(content_of(Some(&compressed), Some(7), 900), Some((Some("zstd".into()), 5000, 42)), "compressed: the original's");
        let partial = meta(&[(crate::codec::META_CODEC, "zstd"), (crate::codec::META_ORIGINAL_CRC64NVME, &crc)]);
        assert_eq!(content_of(Some(&partial), None, 900), None);
    }

    #[test]
    fn a_file_is_hashed_with_what_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"123456789").unwrap();
        let (stamp, crc) = hash_file(&p).unwrap();
        assert_eq!(stamp.size, 9);
        assert_eq!(crc.to_be_bytes().to_vec(), super::super::checksum::Algorithm::Crc64Nvme.digest(b"123456789"));
        assert!(hash_file(&dir.path().join("gone")).is_err());
    }
}
