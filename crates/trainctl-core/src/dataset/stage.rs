//! Staging a dataset version to local disk, and repairing a local copy.
//!
//! Stage: refuse early (a folder holding other data, not enough free space — checked before the
//! first byte), download into `DIR.partial/` through the transfer engine (its safe writes, its
//! per-item refusal of hostile keys, its ETag check of every file), resume by skipping files
//! already complete there, verify, then rename into place and leave a marker
//! (`.trainctl-dataset.json`) so staging the same version again returns at once after a verify.
//!
//! Files stored as references to compressed content (`Entry::codec`) are decoded as their
//! compressed content object arrives (`transfer::native`, `codec::stream`): only the original
//! bytes are written, to a temp file under the file's own name, verified against the original's
//! size and CRC64NVME before the rename; free space counts them at their decoded size. A body
//! that breaks is continued from where it broke; a stage interrupted for good leaves nothing of
//! such a file, and the next run fetches it again.
//!
//! Pinning: on a versioned bucket each file is fetched at the version id the manifest recorded,
//! so data overwritten after the snapshot still stages as it was. On an unversioned bucket the
//! listing is compared first and a changed source is [`Error::DatasetSourceChanged`].

use super::local;
use super::manifest::Manifest;
use super::verify::{self, Level, VerifyReport};
use crate::error::{Error, Result};
use crate::event::{Direction, NullSink, Sink};
use crate::s3::{Connection, S3Url};
use crate::transfer::safe_path::{ensure_no_symlink_escape, local_path_for_key};
use crate::transfer::{self, EnginePref, TransferItem, TransferJob, TransferOptions};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use tokio_util::sync::CancellationToken;

/// The marker a staged folder holds.
pub const MARKER: &str = ".trainctl-dataset.json";

/// How to stage.
#[derive(Debug, Clone)]
pub struct StageOptions {
    /// Level of the verification after the download (and of an already staged copy).
    pub verify: Level,
    pub engine: EnginePref,
    pub transfer: TransferOptions,
}

impl Default for StageOptions {
    fn default() -> Self {
        StageOptions { verify: Level::Checksum, engine: EnginePref::Auto, transfer: TransferOptions::default() }
    }
}

/// What a stage did.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
pub struct StageReport {
    pub dataset: String,
    pub digest: String,
    pub dir: PathBuf,
    /// The folder already held this version (verified again, nothing downloaded).
    pub already_staged: bool,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub downloaded: u64,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub bytes_downloaded: u64,
    /// Files found complete in `DIR.partial/` from an earlier, interrupted stage.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub resumed: u64,
    /// Fetched at their pinned version ids.
    pub pinned: bool,
    pub verify: VerifyReport,
    pub seconds: f64,
}

#[derive(Debug, Serialize, Deserialize)]
struct Marker {
    dataset: String,
    digest: String,
    staged: i64,
}

/// The S3 prefix a manifest was snapshotted from.
pub fn source_url(m: &Manifest) -> Result<S3Url> {
    source_url_of(&m.header)
}

/// [`source_url`] from a header alone (a streamed manifest).
pub fn source_url_of(h: &super::Header) -> Result<S3Url> {
    if !h.source.starts_with("s3://") {
        return Err(Error::Usage(format!("{} was snapshotted from the local folder {}; only a snapshot of an s3:// prefix can be staged or repaired", h.reference(), h.source)));
    }
    S3Url::parse(&h.source)
}

/// `DIR.partial` beside `dir`.
pub fn partial_dir(dir: &Path) -> PathBuf {
    let mut name = dir.file_name().map(|n| n.to_os_string()).unwrap_or_else(|| "dataset".into());
    name.push(".partial");
    dir.with_file_name(name)
}

/// Whether `dir` holds a stage of exactly this manifest (by its marker).
pub fn staged_digest(dir: &Path) -> Option<String> {
    let bytes = std::fs::read(dir.join(MARKER)).ok()?;
    serde_json::from_slice::<Marker>(&bytes).ok().map(|m| m.digest)
}

/// Stages `m` into `dir`.
pub async fn stage(conn: &Connection, m: &Manifest, dir: &Path, opts: &StageOptions, sink: &dyn Sink, cancel: CancellationToken) -> Result<StageReport> {
    let started = std::time::Instant::now();
    let src = source_url(m)?;
    let job_id = crate::event::next_job_id();
    if staged_digest(dir).as_deref() == Some(m.header.digest.as_str()) {
        let report = verify::verify_local(m, dir, opts.verify, job_id, sink).await?.into_result()?;
        return Ok(finish(m, dir, true, None, report, started));
    }
    if std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some()) {
        return Err(Error::DestinationExists(format!("{} (it holds other data; stage into a new or empty folder)", dir.display())));
    }
    if dir.exists() && !dir.is_dir() {
        return Err(Error::LocalKind { path: dir.to_path_buf(), expected: "directory" });
    }
    let partial = partial_dir(dir);
    let job = plan(m, &src, &partial)?;
    let need = space_needed(&job);
    let free = local::free_bytes(&partial)?;
    if need > free {
        return Err(Error::InsufficientSpace { path: partial, needed: need, available: free });
    }
    check_source(conn, m, &src).await?;
    std::fs::create_dir_all(&partial).map_err(|e| Error::io(&partial, e))?;
    let (outcome, resumed) = download(conn, m, &job, opts, sink, cancel).await?;
    // At `checksum` only the files kept from an interrupted stage are read again (a second MD5
    // pass over everything doubled the time of a stage).
    let report = verify::verify_local_trusting(m, &partial, opts.verify, &checked_by_download(&job, &src, opts), job_id, sink).await?;
    if !report.passed() {
        // What failed is removed, so running the stage again fetches just that.
        for c in &report.changed {
            let _ = std::fs::remove_file(partial.join(&c.key));
        }
        report.into_result()?;
        unreachable!("a failed report is an error");
    }
    let marker = Marker { dataset: m.reference(), digest: m.header.digest.clone(), staged: crate::checkpoint::detect::now_secs() };
    let bytes = serde_json::to_vec_pretty(&marker).map_err(|e| Error::Internal(e.to_string()))?;
    std::fs::write(partial.join(MARKER), bytes).map_err(|e| Error::io(partial.join(MARKER), e))?;
    if dir.exists() {
        std::fs::remove_dir(dir).map_err(|e| Error::io(dir, e))?;
    }
    std::fs::rename(&partial, dir).map_err(|e| Error::io(dir, e))?;
    let mut out = finish(m, dir, false, Some(&outcome), VerifyReport { target: dir.display().to_string(), ..report }, started);
    out.resumed = resumed;
    Ok(out)
}

fn finish(m: &Manifest, dir: &Path, already: bool, outcome: Option<&transfer::Outcome>, verify: VerifyReport, started: std::time::Instant) -> StageReport {
    StageReport {
        dataset: m.reference(),
        digest: m.header.digest.clone(),
        dir: dir.to_path_buf(),
        already_staged: already,
        downloaded: outcome.map_or(0, |o| o.done),
        bytes_downloaded: outcome.map_or(0, |o| o.bytes_done),
        resumed: 0,
        pinned: m.header.versioned,
        verify,
        seconds: started.elapsed().as_secs_f64(),
    }
}

/// One download item per entry not already complete under `root` (same size); hostile keys
/// are refused per item, as every download does.
fn plan(m: &Manifest, src: &S3Url, root: &Path) -> Result<TransferJob> {
    let prefix = src.dir_prefix();
    let mut job = TransferJob::new(Direction::Download, &src.bucket, root);
    for e in &m.entries {
        let key = format!("{prefix}{}", e.key);
        let path = match safe_local_path(root, &prefix, &key) {
            Ok(p) => p,
            Err(err) => {
                job.rejected.push((key, err.info()));
                continue;
            }
        };
        if std::fs::metadata(&path).is_ok_and(|md| md.is_file() && md.len() == e.size) {
            job.skipped.push((key, "already downloaded".into()));
            continue;
        }
        push_item(&mut job, e, &prefix, path);
    }
    Ok(job)
}

/// Free space a download job needs: every file at its own size, a compressed one at the size
/// it decodes to (`expected_original`; its compressed bytes are never written).
fn space_needed(job: &TransferJob) -> u64 {
    job.items.iter().map(|i| job.expected_original.get(&i.key).map_or(i.size, |&(size, _)| size)).fold(0u64, u64::saturating_add)
}

/// The local path of `key` under `root`, through the one key → path rule and refusing to write
/// through a symlink.
fn safe_local_path(root: &Path, prefix: &str, key: &str) -> Result<PathBuf> {
    let path = local_path_for_key(root, prefix, key)?;
    ensure_no_symlink_escape(root, &path)?;
    Ok(path)
}

/// Adds the download of entry `e` to `path` (at its pinned version, if any; `If-Match` its
/// ETag). A file stored as a content reference is its content object, which must have the
/// reference's CRC64NVME, and its events name the reference. Compressed content is decoded to
/// `path` as it arrives, which requires the original's size and CRC64NVME
/// (`expected_original`) of the object's header and of the decoded bytes.
fn push_item(job: &mut TransferJob, e: &super::Entry, prefix: &str, path: PathBuf) {
    let key = e.stored_key(prefix);
    if let Some(v) = &e.version_id {
        job.version_ids.insert(key.clone(), v.clone());
    }
    let mut size = e.size;
    if e.content.is_some() {
        let reference = format!("{prefix}{}{}", e.key, crate::refs::SUFFIX);
        match (e.codec.as_ref(), e.stored_size, e.original_crc64()) {
            (Some(_), Some(stored), Some(crc)) => {
                job.expected_original.insert(key.clone(), (e.size, crc));
                size = stored;
            }
            _ => {
                if let Some(crc) = e.original_crc64() {
                    job.expected_crc64.insert(key.clone(), crc);
                }
            }
        }
        job.ref_of_local.insert(path.clone(), reference);
    }
    job.items.push(TransferItem { local: path, key, size, etag: e.etag.as_ref().map(|t| format!("\"{}\"", t.trim_matches('"'))), write_if: None });
}

/// On an unversioned bucket the objects must still be what the manifest says (one listing,
/// compared by size and ETag); a versioned manifest fetches its pinned versions instead.
async fn check_source(conn: &Connection, m: &Manifest, src: &S3Url) -> Result<()> {
    if m.header.versioned {
        return Ok(());
    }
    let report = verify::verify_s3(conn, m, src, Level::Checksum, 0, &NullSink).await?;
    let changed = report.missing.len() + report.changed.len();
    if changed == 0 {
        return Ok(());
    }
    let first = report.missing.first().map(|k| format!("{k} is gone")).or_else(|| report.changed.first().map(|c| format!("{}: {}", c.key, c.detail))).unwrap_or_default();
    Err(Error::DatasetSourceChanged { dataset: m.reference(), origin: m.header.source.clone(), changed: changed as u64, first })
}

async fn download(conn: &Connection, m: &Manifest, job: &TransferJob, opts: &StageOptions, sink: &dyn Sink, cancel: CancellationToken) -> Result<(transfer::Outcome, u64)> {
    let resumed = job.skipped.len() as u64;
    let pref = if m.header.versioned { EnginePref::Native } else { opts.engine };
    let engine = transfer::choose_engine(pref, conn, sink)?;
    let outcome = engine.run(job, &opts.transfer, sink, cancel.clone()).await?;
    if cancel.is_cancelled() {
        return Err(Error::Cancelled);
    }
    Ok((outcome.into_result(job)?, resumed))
}

/// The dataset keys of a download job that completed: every item was checked by the engine
/// against the manifest's ETag (`If-Match`, and the bytes against the object's checksum as they
/// arrived), so a `checksum` verification need not read them again. Empty when the transfer was
/// told not to verify checksums.
fn checked_by_download(job: &TransferJob, src: &S3Url, opts: &StageOptions) -> HashSet<String> {
    if !opts.transfer.verify_checksum {
        return HashSet::new();
    }
    let prefix = src.dir_prefix();
    // A reference's item fetches its content object: its dataset key is the reference's.
    let key_of = |i: &TransferItem| job.ref_of_local.get(&i.local).and_then(|r| crate::refs::logical_key(r)).unwrap_or(i.key.as_str()).strip_prefix(prefix.as_str()).map(str::to_string);
    job.items.iter().filter_map(key_of).collect()
}

/// What a repair did.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
pub struct RepairReport {
    pub dataset: String,
    pub dir: PathBuf,
    /// Files fetched again (missing or changed before).
    pub fetched: Vec<String>,
    /// Files not in the dataset: reported, left alone.
    pub extra: Vec<String>,
    /// The verification after the repair.
    pub verify: VerifyReport,
}

/// Verifies `dir` at `level` and fetches again only what is missing or changed; extra files are
/// reported and left alone. Fails when the copy still does not verify afterwards.
pub async fn repair(conn: &Connection, m: &Manifest, dir: &Path, opts: &StageOptions, sink: &dyn Sink, cancel: CancellationToken) -> Result<RepairReport> {
    let src = source_url(m)?;
    let before = verify::verify_local(m, dir, opts.verify, crate::event::next_job_id(), sink).await?;
    let mut wanted: Vec<&str> = before.missing.iter().map(String::as_str).chain(before.changed.iter().map(|c| c.key.as_str())).collect();
    wanted.sort_unstable();
    let mut fetched = Vec::new();
    let mut trusted = HashSet::new();
    if !wanted.is_empty() {
        let subset = Manifest { header: m.header.clone(), entries: m.entries.iter().filter(|e| wanted.binary_search(&e.key.as_str()).is_ok()).cloned().collect() };
        check_source(conn, &subset, &src).await?;
        // Everything wanted is fetched again whatever its size (a changed file may keep it).
        let prefix = src.dir_prefix();
        let mut job = TransferJob::new(Direction::Download, &src.bucket, dir);
        for e in &subset.entries {
            let key = format!("{prefix}{}", e.key);
            match safe_local_path(dir, &prefix, &key) {
                Ok(path) => push_item(&mut job, e, &prefix, path),
                Err(err) => job.rejected.push((key, err.info())),
            }
        }
        download(conn, m, &job, opts, sink, cancel).await?;
        fetched = subset.entries.iter().map(|e| e.key.clone()).collect();
        trusted = checked_by_download(&job, &src, opts);
    }
    let after = verify::verify_local_trusting(m, dir, opts.verify, &trusted, crate::event::next_job_id(), sink).await?;
    let extra = after.extra.clone();
    let only_extra = after.missing.is_empty() && after.changed.is_empty();
    let verify = if only_extra { after } else { after.into_result()? };
    Ok(RepairReport { dataset: m.reference(), dir: dir.to_path_buf(), fetched, extra, verify })
}
