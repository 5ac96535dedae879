//! Transfers: plan a [`TransferJob`] (what moves where, what is already complete), then run it
//! through an [`Engine`] — `s5cmd` (a child process, fastest) or `native` (aws-sdk-s3).
//!
//! Both engines take the same job, send the same [`Event`](crate::event::Event)s and return
//! the same [`Outcome`], so callers and tests do not care which one ran.

pub mod auto;
pub mod checksum;
pub mod compress;
pub mod dedup;
pub mod local_write;
pub mod native;
pub mod plan;
pub mod progress;
pub mod s5cmd;
pub mod safe_path;
pub mod selection;
pub mod verify;

use crate::error::{ErrorInfo, Result};
use crate::event::{Direction, JobId, Sink};
use serde::Serialize;
use std::path::PathBuf;
use tokio_util::sync::CancellationToken;

/// One object to move: a local file and the key it corresponds to.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TransferItem {
    /// Local file (source for uploads, final destination for downloads).
    pub local: PathBuf,
    /// Object key in `TransferJob::bucket`.
    pub key: String,
    /// Size in bytes (of the local file for uploads, of the object for downloads).
    pub size: u64,
    /// ETag of the object (downloads only), used for verification.
    pub etag: Option<String>,
    /// What the destination must still be for the item to be written (two-way sync); `None`
    /// writes whatever is there. Only the native engine honours it (s5cmd refuses such items).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub write_if: Option<WriteIf>,
}

/// A condition on the destination of one write: what it must still be when the bytes land, so
/// a change made by someone else since it was looked at is never overwritten.
///
/// Uploads: `If-None-Match: *` / `If-Match: <etag>` on PutObject where the provider honours them
/// (quirks `conditional_put`, `conditional_overwrite`), a HEAD right before the write elsewhere
/// and before completing a multipart upload. Downloads: checked on the destination name under the
/// folder lock right before the rename (`Absent` renames with `RENAME_NOREPLACE`).
/// A refused write is [`Error::RemoteChanged`](crate::Error::RemoteChanged) /
/// [`Error::LocalChanged`](crate::Error::LocalChanged), an item failure.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WriteIf {
    /// Nothing exists at the destination.
    Absent,
    /// Upload: the object still has this ETag.
    ObjectIs { etag: String },
    /// Download: the local file is still this one.
    FileIs { size: u64, mtime_ns: i64, ino: u64 },
}

/// A planned transfer: exactly what an engine will do. Produced by [`plan`], shown by
/// `--dry-run`, executed by [`Engine::run`].
#[derive(Debug, Clone, Serialize)]
pub struct TransferJob {
    pub id: JobId,
    pub direction: Direction,
    pub bucket: String,
    /// Downloads: the destination directory every item's `local` lies under. Engines refuse to
    /// write through a symlink between it and the file (`safe_path::ensure_no_symlink_escape`).
    /// `None` for uploads.
    pub local_root: Option<PathBuf>,
    pub items: Vec<TransferItem>,
    /// Items already complete at the destination (skipped), with the reason.
    pub skipped: Vec<(String, String)>,
    /// Keys refused before transfer (unsafe keys, unreadable files), with the error.
    pub rejected: Vec<(String, ErrorInfo)>,
    /// Storage class for uploads (`STANDARD`, `STANDARD_IA`, `GLACIER_IR`, ...).
    pub storage_class: Option<String>,
    /// Downloads: the object version to fetch, by key (a dataset pinned on a versioned bucket);
    /// keys not here fetch the current version. Only the native engine fetches versions (s5cmd
    /// hands such jobs to it).
    #[serde(skip_serializing_if = "std::collections::HashMap::is_empty")]
    pub version_ids: std::collections::HashMap<String, String>,
    /// Uploads: user metadata (`x-amz-meta-*`) to store with an object, by key (both engines;
    /// s5cmd as `cp --metadata`). Set by [`compress`] for compressed objects and by [`dedup`]
    /// (the content's recorded hash).
    #[serde(skip_serializing_if = "std::collections::HashMap::is_empty")]
    pub metadata: std::collections::HashMap<String, std::collections::HashMap<String, String>>,
    /// Uploads with `--compress`: how each compressed item is stored, by its (suffixed) key
    /// ([`compress::plan_compression`]); the engine compresses them as the job runs.
    #[serde(skip_serializing_if = "std::collections::HashMap::is_empty")]
    pub compress: std::collections::HashMap<String, compress::Planned>,
    /// Uploads with `--compress auto`: files `auto` would have compressed but sends plain, with
    /// the reason (compressed uploads measured slower on this endpoint, `compress::rates`), by key.
    #[serde(skip_serializing_if = "std::collections::HashMap::is_empty")]
    pub plain_reasons: std::collections::HashMap<String, String>,
    /// Uploads with `--dedup`: items not sent but copied on the server from an object holding
    /// the same content ([`dedup::plan_dedup`]); not in `items`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub copies: Vec<dedup::Copy>,
    /// Uploads with `--dedup`: what each file whose hash is recorded in its metadata was when it
    /// was hashed, by key; a file changed by the end of its upload has the record removed.
    #[serde(skip)]
    pub recorded: std::collections::HashMap<String, dedup::Stamp>,
    /// Uploads with `--dedup=refs`: reference objects written once their content object exists
    /// ([`dedup::plan_dedup`], `crate::refs`); not in `items`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub refs: Vec<dedup::RefPut>,
    /// Downloads of resolved references: the CRC64NVME the content object must have, by its key
    /// (checked whatever the store keeps; only the native engine checks it, s5cmd hands such
    /// jobs to it).
    #[serde(skip)]
    pub expected_crc64: std::collections::HashMap<String, u64>,
    /// Downloads of references to compressed content (`--dedup=refs --compress …`): the
    /// original size and CRC64NVME the decoded content object must have, by its key (its
    /// header must say them, and decoding verifies them; `compress::CodecEngine`).
    #[serde(skip)]
    pub expected_original: std::collections::HashMap<String, (u64, u64)>,
    /// Downloads: references whose content object is missing (rejected), reference key →
    /// content key, so the job's error can name both.
    #[serde(skip)]
    pub missing_content: std::collections::HashMap<String, String>,
    /// Downloads of resolved references: the reference key each local path comes from, so
    /// events name the reference rather than its content object ([`dedup::DedupEngine`]).
    #[serde(skip)]
    pub ref_of_local: std::collections::HashMap<PathBuf, String>,
}

impl TransferJob {
    /// An empty job with a fresh id; planners fill `items`, `skipped` and `rejected`.
    /// `local_root` is recorded for downloads only (see the field).
    pub fn new(direction: Direction, bucket: impl Into<String>, local_root: impl Into<PathBuf>) -> Self {
        TransferJob {
            id: crate::event::next_job_id(),
            direction,
            bucket: bucket.into(),
            items: Vec::new(),
            skipped: Vec::new(),
            rejected: Vec::new(),
            storage_class: None,
            version_ids: Default::default(),
            metadata: Default::default(),
            compress: Default::default(),
            plain_reasons: Default::default(),
            copies: Vec::new(),
            recorded: Default::default(),
            refs: Vec::new(),
            expected_crc64: Default::default(),
            expected_original: Default::default(),
            missing_content: Default::default(),
            ref_of_local: Default::default(),
            local_root: (direction == Direction::Download).then(|| local_root.into()),
        }
    }

    pub fn bytes_total(&self) -> u64 {
        self.items.iter().map(|i| i.size).sum()
    }
}

/// Knobs shared by both engines.
#[derive(Debug, Clone, Serialize)]
pub struct TransferOptions {
    /// Parallel objects / parts in flight.
    pub concurrency: usize,
    /// Multipart part size in bytes (native engine; s5cmd gets it as `--part-size` in MiB).
    pub part_size: u64,
    /// Verify downloads by checksum (the stored CRC/SHA-256, else the MD5 / multipart ETag) in
    /// addition to size.
    pub verify_checksum: bool,
    /// The checksum uploads write (native engine; s5cmd cannot send one).
    pub upload_checksum: UploadChecksum,
}

impl Default for TransferOptions {
    fn default() -> Self {
        TransferOptions { concurrency: 16, part_size: 32 * 1024 * 1024, verify_checksum: true, upload_checksum: UploadChecksum::Provider }
    }
}

/// Which checksum uploads store with the object (`--upload-checksum`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UploadChecksum {
    /// What the provider's quirks say (`upload_checksum` in `data/quirks/providers.toml`):
    /// CRC64NVME on AWS and Garage, none on stores not known to keep one.
    #[default]
    Provider,
    /// None (only the ETag).
    Off,
    /// This one (a CRC: multipart uploads combine their parts' values into a full-object one).
    Use(checksum::Algorithm),
}

impl UploadChecksum {
    /// The algorithm to write for a store of `provider`.
    pub fn resolve(self, provider: &str) -> Option<checksum::Algorithm> {
        match self {
            UploadChecksum::Provider => crate::config::quirks::get_or_other(provider).upload_algorithm(),
            UploadChecksum::Off => None,
            UploadChecksum::Use(a) => Some(a),
        }
    }

    /// Parses a flag value: `auto`/`provider`, `off`/`none`, or a CRC name.
    pub fn parse(s: &str) -> Option<UploadChecksum> {
        match s.to_ascii_lowercase().as_str() {
            "auto" | "provider" => Some(UploadChecksum::Provider),
            "off" | "none" => Some(UploadChecksum::Off),
            other => checksum::Algorithm::parse(other).filter(|a| a.combinable()).map(UploadChecksum::Use),
        }
    }
}

/// What happened to each item of a job.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Default, Serialize)]
pub struct Outcome {
    /// Items complete, server-side copies (`copied`) included.
    pub done: u64,
    /// Bytes sent.
    pub bytes_done: u64,
    /// `--dedup`: items written by a server-side copy instead of being sent ([`dedup`]).
    #[serde(default)]
    pub copied: u64,
    /// `--dedup`: the bytes those copies did not send.
    #[serde(default)]
    pub bytes_not_sent: u64,
    /// `--dedup=refs`: reference objects written in place of repeated files.
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(skip))]
    pub referenced: u64,
    /// `--dedup=refs`: the logical bytes of those references, less the content objects this
    /// job created: what the store does not hold twice.
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(skip))]
    pub bytes_not_stored: u64,
    /// `--compress` on the native engine: per compressed file, the codec, what was stored and
    /// what its encoder measured and chose (`auto` stores blocks fast to keep up with a link
    /// faster than the compressor, `codec::pace`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "ts", ts(skip))]
    pub compression: Vec<compress::CompressionReport>,
    pub skipped: u64,
    pub failed: Vec<(String, ErrorInfo)>,
    pub seconds: f64,
}

impl Outcome {
    /// The outcome before any byte moves: the plan's skipped items counted, and its rejected
    /// items (unsafe keys, unreadable files) already failed — an engine reports them like any
    /// other failure, so no caller has to add them back.
    pub(crate) fn planned(job: &TransferJob) -> Outcome {
        Outcome { skipped: job.skipped.len() as u64, failed: job.rejected.clone(), ..Outcome::default() }
    }

    /// The job's result as a whole: `Ok` when every item completed. When nothing completed and
    /// every item failed the same way for a reason that is not about one item (no permission on
    /// the bucket, bad credentials, disk full…) or because nothing matched its checksum, that
    /// reason is the error, so the exit code says why instead of "partial" (which promises that
    /// the rest completed). Otherwise
    /// [`Error::Partial`](crate::Error::Partial).
    pub fn into_result(self, job: &TransferJob) -> Result<Outcome> {
        let Some((first_key, first)) = self.failed.first() else { return Ok(self) };
        let failed = self.failed.len() as u64;
        if self.done == 0 && self.failed.iter().all(|(_, e)| e.code == first.code) {
            if let Some(e) = whole_job_error(job, first_key, first, failed) {
                return Err(e);
            }
        }
        Err(crate::Error::Partial { failed, total: failed + self.done })
    }
}

/// The job-wide error behind a code every item failed with, if that code is job-wide — or if
/// it is `integrity`: nothing was kept because nothing matched, which is what the exit code
/// must say (`first_key` names the object when the job had one item).
fn whole_job_error(job: &TransferJob, first_key: &str, first: &ErrorInfo, failed: u64) -> Option<crate::Error> {
    use crate::Error;
    let bucket = &job.bucket;
    match first.code.as_str() {
        "integrity" => Some(Error::Integrity {
            what: if failed == 1 { format!("s3://{bucket}/{first_key}") } else { format!("s3://{bucket} ({failed} of {failed} items)") },
            detail: "did not match its size or checksum (each item's error is above)".into(),
        }),
        "access_denied" => Some(Error::AccessDenied(format!("s3://{bucket} ({failed} of {failed} items)"))),
        "bad_secret" => Some(Error::BadSecret),
        "bad_access_key" => Some(Error::BadAccessKey),
        "no_such_bucket" => Some(Error::NoSuchBucket(bucket.clone())),
        "ref_corrupt" => {
            let detail = first.message.split_once("is not usable: ").map_or(first.message.as_str(), |(_, d)| d);
            let more = if failed > 1 { format!(" (and {} more references: each item's error is above)", failed - 1) } else { String::new() };
            Some(Error::RefCorrupt { bucket: bucket.clone(), reference: first_key.to_string(), detail: format!("{detail}{more}") })
        }
        "ref_content_missing" => job.missing_content.get(first_key).map(|content| Error::RefContentMissing { bucket: bucket.clone(), reference: first_key.to_string(), content: content.clone() }),
        "compressed_corrupt" => Some(Error::CompressedCorrupt {
            what: if failed == 1 { format!("s3://{bucket}/{first_key}") } else { format!("s3://{bucket} ({failed} of {failed} items)") },
            detail: "it did not decode to the bytes its header records (each item's error is above)".into(),
        }),
        "disk_full" => job.local_root.clone().map(Error::DiskFull),
        _ => None,
    }
}

/// A way of moving bytes between local files and S3.
#[async_trait::async_trait]
pub trait Engine: Send + Sync {
    /// `"s5cmd"` or `"native"`: shown to the user and in events.
    fn name(&self) -> &'static str;
    /// Executes `job`. Reports per-object results and progress through `sink`; stops promptly on
    /// `cancel`, leaving every object complete or absent. Returns `Err` only for failures that
    /// stop the whole job (endpoint down, bad credentials); per-item failures go in `Outcome`.
    async fn run(&self, job: &TransferJob, opts: &TransferOptions, sink: &dyn Sink, cancel: CancellationToken) -> Result<Outcome>;
    /// Whether this engine compresses the items of `job.compress` itself as it uploads them
    /// (the native engine: pipelined, no staging copy); otherwise [`compress::CodecEngine`]
    /// stages compressed copies for it.
    fn compresses_uploads(&self, _job: &TransferJob) -> bool {
        false
    }
}

/// Which engine the user asked for (`--engine auto|s5cmd|native`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EnginePref {
    /// Per job, the engine the benchmarks measured faster for its shape ([`auto`]); the native
    /// engine (with a notice) where that is s5cmd and s5cmd is not usable.
    #[default]
    Auto,
    S5cmd,
    Native,
}

/// Builds the engine for `pref`: `Auto` decides per job ([`auto::AutoEngine`]); `S5cmd` fails
/// with [`Error::S5cmdMissing`](crate::Error::S5cmdMissing) when s5cmd is not usable.
///
/// Every engine it builds is wrapped in [`compress::CodecEngine`] (compressed uploads are
/// compressed as they are sent by the native engine and staged for s5cmd; downloads of
/// compressed objects are decoded, whichever engine moves the bytes) and that in
/// [`dedup::DedupEngine`] (`--dedup` copies are made on the server, natively, and only the rest
/// is handed to the engine).
pub fn choose_engine(pref: EnginePref, conn: &crate::s3::Connection, _sink: &dyn Sink) -> Result<Box<dyn Engine>> {
    let inner: Box<dyn Engine> = match pref {
        EnginePref::Native => Box::new(native::NativeEngine::new(conn.clone())),
        EnginePref::S5cmd => Box::new(s5cmd::S5cmdEngine::locate(conn.clone())?),
        EnginePref::Auto => Box::new(auto::AutoEngine::new(conn)),
    };
    let codec = compress::CodecEngine::new(inner).remembering(compress::rates::LinkRates::for_profile(&conn.profile));
    Ok(Box::new(dedup::DedupEngine::new(conn.clone(), Box::new(codec))))
}

/// The events every engine sends when a job starts: totals, one `ObjectSkipped` per item the
/// plan found complete, and one `ObjectRejected` per item the plan refused. Shared so both engines
/// report a job identically.
pub(crate) fn announce(job: &TransferJob, sink: &dyn Sink, engine: &str) {
    sink.send(crate::event::Event::TransferStarted {
        job: job.id,
        direction: job.direction,
        engine: engine.into(),
        objects_total: job.items.len() as u64,
        bytes_total: job.bytes_total(),
        skipped: job.skipped.len() as u64,
    });
    for (key, reason) in &job.skipped {
        sink.send(crate::event::Event::ObjectSkipped { job: job.id, key: key.clone(), reason: reason.clone() });
    }
    for (key, error) in &job.rejected {
        sink.send(crate::event::Event::ObjectRejected { job: job.id, key: key.clone(), error: error.clone() });
    }
}

/// The event every engine sends when a job ends, from its [`Outcome`].
pub(crate) fn announce_finished(job: &TransferJob, outcome: &Outcome, sink: &dyn Sink) {
    sink.send(crate::event::Event::TransferFinished {
        job: job.id,
        objects_done: outcome.done,
        objects_failed: outcome.failed.len() as u64,
        objects_skipped: outcome.skipped,
        bytes_done: outcome.bytes_done,
        seconds: outcome.seconds,
    });
}
