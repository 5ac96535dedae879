//! Compression around the engines (`--compress`): the codec layer both engines run inside.
//!
//! - **Plan** ([`plan_compression`]): each upload item is given a codec (`zstd`: every file
//!   but text metadata; `auto`: probed, see `codec::probe`) and the key it will be stored
//!   under (`NAME.zst` / `NAME.tcz`). `--dry-run` prints exactly this.
//! - **Upload, native engine** (`transfer::native`, `upload::compressed`): pipelined — each
//!   file is compressed on all cores and every finished part of the compressed stream is sent
//!   while the next ones are compressed; no copy on disk, a few parts of memory per file. A
//!   first pass computes the original's CRC64NVME (the header and the metadata carry it before
//!   the first byte is sent); the encoder's second one must agree.
//!   Under `auto` the encoder keeps up with the link: blocks are stored at zstd's fast level
//!   when the measured link is faster than the measured compressor (`codec::pace`); what each
//!   file chose is in [`Outcome::compression`](super::Outcome).
//! - **Upload, s5cmd** ([`CodecEngine`], when the inner engine does not compress itself, see
//!   [`Engine::compresses_uploads`]): the chosen files are compressed into a private staging
//!   folder (`$TRAINCTL_COMPRESS_DIR`, else `$XDG_CACHE_HOME/trainctl/compress`; removed when
//!   the job ends), then s5cmd uploads the staged copies with the codec's metadata (it takes
//!   files, not a stream of parts). The source is read once, streamed (memory: a few blocks),
//!   its CRC64NVME computed on the way.
//! - Either way, compressed uploads are not resumed after an interruption (a multipart upload
//!   is aborted, a staged copy is gone): they start over.
//! - **Download of compressed content a reference names** (`TransferJob::expected_original`:
//!   `--dedup=refs --compress` objects, dataset stage and repair): decoded as the body arrives
//!   (`transfer::native`, `codec::stream`) into a temp file under the file's own name — the
//!   compressed bytes are never written to disk — verified against the reference's size and
//!   CRC64NVME ([`decoded_as_expected`]), then committed like any download. s5cmd hands such
//!   jobs to the native engine.
//! - **Download of other `.zst` / `.tcz` objects** ([`CodecEngine`]): whether one is ours is
//!   only known from its first bytes, so it is downloaded as it is, checked for trainctl's
//!   header as soon as the engine reports it complete; one that has it is decoded into a temp
//!   file next to it, verified (size and CRC64NVME of the original), renamed to the original
//!   name and the compressed file removed. A corrupt one fails the item (`compressed_corrupt`)
//!   and nothing of it is left. Objects without the header are someone else's `.zst` files
//!   and stay as downloaded.

use super::local_write::{self, Folders};
use super::{Engine, Outcome, TransferJob, TransferOptions};
use crate::codec::{self, decode::DecodeError, header, Codec, Compress};
use crate::error::{Error, Result};
use crate::event::{Direction, Event, Sink};
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

pub mod rates;

/// How one upload item is stored (planned before the job runs).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Planned {
    #[serde(flatten)]
    pub codec: Codec,
    pub level: i32,
    /// `auto`, byte planes: the planes entropy-coded only (bit k: plane k), as the probe chose
    /// (`codec::Effort`).
    #[serde(skip_serializing_if = "is_zero")]
    pub entropy_planes: u8,
    /// The key the file would have had uncompressed.
    pub original_key: String,
    /// `auto`: the size the sample compressed to, relative to the original (0.7 saves 30%).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample_ratio: Option<f64>,
    /// `auto`: blocks may be stored at zstd's fast level when the link is faster than the
    /// compressor (`codec::pace`, native engine); `zstd:N` keeps every block at N.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub adaptive: bool,
    /// `auto`: why this file is compressed although plain uploads measured faster here (it
    /// re-measures the compressed rate, [`rates::Decision::Remeasure`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

fn is_zero(v: &u8) -> bool {
    *v == 0
}

impl Planned {
    /// How the encoder compresses this file.
    pub fn effort(&self) -> codec::Effort {
        codec::Effort { level: self.level, entropy_planes: self.entropy_planes }
    }
}

/// What one compressed upload stored and how its encoder paced itself (`Outcome::compression`,
/// the `--json` summary's `compression`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CompressionReport {
    /// The stored key (`NAME.zst` / `NAME.tcz`).
    pub key: String,
    pub codec: String,
    pub level: i32,
    /// Original and stored bytes.
    pub original: u64,
    pub stored: u64,
    pub pace: codec::pace::PaceReport,
}

/// Environment variable naming the staging folder of compressed uploads.
pub const COMPRESS_DIR_ENV: &str = "TRAINCTL_COMPRESS_DIR";

/// Decides, for each item of an upload job, whether and how it is compressed, and renames its
/// key accordingly. `auto` reads a sample of each candidate file (on a blocking thread), and
/// with `rates` (what uploads to this endpoint delivered, [`rates::LinkRates`]) sends plain the
/// files it would compress when compressed uploads have been the slower ones there — each such
/// file's reason in [`TransferJob::plain_reasons`]. `zstd[:N]` always compresses.
pub async fn plan_compression(job: &mut TransferJob, how: Compress, rates: Option<&rates::LinkRates>) -> Result<()> {
    if job.direction != Direction::Upload {
        return Ok(());
    }
    let items: Vec<(usize, PathBuf, u64)> = job.items.iter().enumerate().map(|(i, it)| (i, it.local.clone(), it.size)).collect();
    let rates = rates.cloned();
    let (choices, decision) = tokio::task::spawn_blocking(move || {
        let decision = match how {
            Compress::Auto => rates.map_or(rates::Decision::Compress, |r| r.decide()),
            Compress::Zstd { .. } => rates::Decision::Compress,
        };
        (items.into_iter().map(|(i, local, size)| (i, choose(&local, size, how))).collect::<Vec<_>>(), decision)
    })
    .await
    .map_err(|e| Error::Internal(format!("compression probe: {e}")))?;
    let mut remeasured = false;
    for (i, choice) in choices {
        let Some((codec, effort, sample_ratio)) = choice? else { continue };
        let item = &mut job.items[i];
        let note = match &decision {
            rates::Decision::Plain { why } => {
                let saving = sample_ratio.map(|r| format!(" (its sample would save {:.0}%)", (1.0 - r) * 100.0)).unwrap_or_default();
                job.plain_reasons.insert(item.key.clone(), format!("{why}{saving}"));
                continue;
            }
            // One file of the job compresses to re-measure; the rest stay plain.
            rates::Decision::Remeasure { why } if remeasured => {
                job.plain_reasons.insert(item.key.clone(), format!("plain is faster here; another file of this job is {}", why.trim_start_matches("re-measuring: ")));
                continue;
            }
            rates::Decision::Remeasure { why } => {
                remeasured = true;
                Some(why.clone())
            }
            rates::Decision::Compress => None,
        };
        let original_key = std::mem::take(&mut item.key);
        item.key = format!("{original_key}{}", codec.suffix());
        let planned = Planned { codec, level: effort.level, entropy_planes: effort.entropy_planes, original_key, sample_ratio, adaptive: how == Compress::Auto, note };
        job.compress.insert(item.key.clone(), planned);
    }
    Ok(())
}

/// The codec for one file (`None`: stays plain) and how hard it works, with the sample's ratio
/// under `auto`.
fn choose(local: &Path, size: u64, how: Compress) -> Result<Option<(Codec, codec::Effort, Option<f64>)>> {
    let name = local.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    if codec::stays_plain(&name, size) {
        return Ok(None);
    }
    match how {
        Compress::Zstd { level } => Ok(Some((Codec::Zstd, codec::Effort::level(level), None))),
        Compress::Auto if size < codec::probe::AUTO_MIN_SIZE => Ok(None),
        Compress::Auto => {
            let p = codec::probe::probe(local, size, how.level())?;
            Ok(p.codec.map(|c| (c, p.effort(how.level()), Some(p.chosen_ratio()))))
        }
    }
}

/// An engine with compression around it (see the module documentation). `choose_engine`
/// wraps every engine in one.
pub struct CodecEngine {
    inner: Box<dyn Engine>,
    /// Where each finished upload job's rate is remembered (`auto`'s plain fallback).
    rates: Option<rates::LinkRates>,
}

impl CodecEngine {
    pub fn new(inner: Box<dyn Engine>) -> Self {
        CodecEngine { inner, rates: None }
    }

    /// Remembers what each upload job delivered, plain or compressed ([`rates`]).
    pub fn remembering(mut self, rates: Option<rates::LinkRates>) -> Self {
        self.rates = rates;
        self
    }

    /// Adds a finished upload job to the endpoint's rates when it measured a link: complete,
    /// large enough (and of large files), nearly all plain or nearly all compressed, nothing copied on the server.
    fn remember(&self, job: &TransferJob, outcome: &Outcome) {
        let Some(rates) = &self.rates else { return };
        if !outcome.failed.is_empty() || !job.copies.is_empty() || !job.refs.is_empty() || outcome.copied > 0 || outcome.referenced > 0 {
            return;
        }
        let total: u64 = job.items.iter().map(|i| i.size).sum();
        // Many small files measure requests, not the link (and would be compared with large ones).
        if total / (job.items.len().max(1) as u64) < rates::MIN_SAMPLE_MEAN {
            return;
        }
        let compressed: u64 = job.items.iter().filter(|i| job.compress.contains_key(&i.key)).map(|i| i.size).sum();
        let share = compressed as f64 / total.max(1) as f64;
        let kind = if share >= rates::SAMPLE_SHARE {
            rates::Kind::Compressed
        } else if share <= 1.0 - rates::SAMPLE_SHARE {
            rates::Kind::Plain
        } else {
            return;
        };
        rates.add(kind, total, outcome.seconds);
    }
}

#[async_trait::async_trait]
impl Engine for CodecEngine {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn compresses_uploads(&self, job: &TransferJob) -> bool {
        self.inner.compresses_uploads(job)
    }

    async fn run(&self, job: &TransferJob, opts: &TransferOptions, sink: &dyn Sink, cancel: CancellationToken) -> Result<Outcome> {
        match job.direction {
            Direction::Upload => {
                let outcome = if job.compress.is_empty() { self.inner.run(job, opts, sink, cancel).await } else { self.upload(job, opts, sink, cancel).await };
                if let Ok(o) = &outcome {
                    // One small file written once per job.
                    self.remember(job, o);
                }
                outcome
            }
            Direction::Download if job.items.iter().any(|i| decoded_after(&job.expected_original, &i.key)) => self.download(job, opts, sink, cancel).await,
            _ => self.inner.run(job, opts, sink, cancel).await,
        }
    }
}

impl CodecEngine {
    /// Hands the job to an engine that compresses as it sends (native); otherwise compresses
    /// the planned items into a staging folder, then uploads the staged copies.
    async fn upload(&self, job: &TransferJob, opts: &TransferOptions, sink: &dyn Sink, cancel: CancellationToken) -> Result<Outcome> {
        if self.inner.compresses_uploads(job) {
            return self.inner.run(job, opts, sink, cancel).await;
        }
        let staging = staging_dir()?;
        let started = std::time::Instant::now();
        let plan = job.clone();
        let dir = staging.path().to_path_buf();
        let stop = cancel.clone();
        let (staged, originals, (before, after)) = tokio::task::spawn_blocking(move || stage(plan, &dir, &stop))
            .await
            .map_err(|e| Error::Internal(format!("compression task: {e}")))?;
        if cancel.is_cancelled() {
            return Err(Error::Cancelled);
        }
        if before > 0 {
            let secs = started.elapsed().as_secs_f64();
            let (b, a) = (humansize::format_size(before, humansize::BINARY), humansize::format_size(after, humansize::BINARY));
            sink.send(Event::Notice { message: format!("compressed {b} to {a} ({:.2}x smaller) in {secs:.1}s", before as f64 / after.max(1) as f64) });
        }
        let restore = RestoreLocal { inner: sink, originals };
        self.inner.run(&staged, opts, &restore, cancel).await
    }

    /// Runs the download, decoding compressed objects as each one completes.
    async fn download(&self, job: &TransferJob, opts: &TransferOptions, sink: &dyn Sink, cancel: CancellationToken) -> Result<Outcome> {
        let Some(root) = job.local_root.clone() else { return self.inner.run(job, opts, sink, cancel).await };
        let decoder = Decoder::new(sink, root, job.bucket.clone(), &job.expected_original);
        let result = self.inner.run(job, opts, &decoder, cancel).await;
        let (decoded, finished) = decoder.finish().await;
        let mut outcome = match result {
            Ok(o) => o,
            Err(e) => {
                if let Some(f) = finished {
                    sink.send(f);
                }
                return Err(e);
            }
        };
        for d in decoded {
            match d.result {
                Ok(local) => sink.send(Event::ObjectDone { job: job.id, key: d.key, local: local.display().to_string(), bytes: d.bytes, etag: d.etag }),
                Err(e) => {
                    outcome.done = outcome.done.saturating_sub(1);
                    sink.send(Event::ObjectFailed { job: job.id, key: d.key.clone(), error: e.info() });
                    outcome.failed.push((d.key, e.info()));
                }
            }
        }
        super::announce_finished(job, &outcome, sink);
        Ok(outcome)
    }
}

/// Whether the download of `key` is decoded once complete, by [`CodecEngine`]: a compressed
/// object's key, but not compressed content a reference names (decoded as it arrives).
fn decoded_after(in_flight: &HashMap<String, (u64, u64)>, key: &str) -> bool {
    codec::original_name(key).is_some() && !in_flight.contains_key(key)
}

/// Where staged copies go: a fresh folder under `$TRAINCTL_COMPRESS_DIR`, else
/// `$XDG_CACHE_HOME/trainctl/compress` (a disk, not the tmpfs `/tmp` often is), removed on drop.
fn staging_dir() -> Result<tempfile::TempDir> {
    let base = std::env::var_os(COMPRESS_DIR_ENV)
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| dirs::cache_dir().unwrap_or_else(std::env::temp_dir).join("trainctl").join("compress"));
    std::fs::create_dir_all(&base).map_err(|e| Error::io(&base, e))?;
    tempfile::Builder::new().prefix("job-").tempdir_in(&base).map_err(|e| Error::io(&base, e))
}

/// The job the inner engine runs: planned items point at their compressed copies (with
/// metadata), items whose compression failed are rejected. Also returns staged path →
/// original path, and the bytes before and after compression. Blocking.
fn stage(mut job: TransferJob, dir: &Path, cancel: &CancellationToken) -> (TransferJob, HashMap<PathBuf, PathBuf>, (u64, u64)) {
    let mut originals = HashMap::new();
    let (mut before, mut after) = (0, 0);
    let items = std::mem::take(&mut job.items);
    for (i, mut item) in items.into_iter().enumerate() {
        let Some(planned) = job.compress.get(&item.key).cloned() else {
            job.items.push(item);
            continue;
        };
        if cancel.is_cancelled() {
            break;
        }
        let staged = dir.join(format!("{i}{}", planned.codec.suffix()));
        let encoded = std::fs::File::create(&staged)
            .map_err(|e| Error::io(&staged, e))
            .and_then(|mut out| codec::encode::encode_file(&item.local, &mut out, planned.codec, planned.effort()));
        match encoded {
            Ok(e) => {
                before += e.original_size;
                after += e.compressed_size;
                job.metadata.insert(item.key.clone(), e.metadata());
                originals.insert(staged.clone(), item.local.clone());
                item.local = staged;
                item.size = e.compressed_size;
                job.items.push(item);
            }
            Err(e) => job.rejected.push((item.key.clone(), e.info())),
        }
    }
    (job, originals, (before, after))
}

/// Shows the user's file, not the staged copy, in `ObjectDone`.
struct RestoreLocal<'a> {
    inner: &'a dyn Sink,
    originals: HashMap<PathBuf, PathBuf>,
}

impl Sink for RestoreLocal<'_> {
    fn send(&self, event: Event) {
        match event {
            Event::ObjectDone { job, key, local, bytes, etag } => {
                let local = self.originals.get(Path::new(&local)).map_or(local, |p| p.display().to_string());
                self.inner.send(Event::ObjectDone { job, key, local, bytes, etag });
            }
            other => self.inner.send(other),
        }
    }
}

/// One decode, finished.
struct DecodedItem {
    key: String,
    bytes: u64,
    etag: Option<String>,
    /// The file now in place (the original name, or the `.zst` left as it was).
    result: Result<PathBuf>,
}

/// The sink the inner engine reports to during a download: passes everything through but the
/// `ObjectDone` of compressed keys (decoded first, reported after) and `TransferFinished`
/// (re-sent with the decodes counted).
struct Decoder<'a> {
    sink: &'a dyn Sink,
    root: PathBuf,
    bucket: String,
    folders: Arc<Folders>,
    /// Decodes at once at most (each holds a block or zstd's window and a core).
    permits: Arc<tokio::sync::Semaphore>,
    pending: Mutex<Vec<tokio::task::JoinHandle<DecodedItem>>>,
    /// The inner engine's `TransferFinished`, held back.
    finished: Mutex<Option<Event>>,
    /// Compressed content of references (`TransferJob::expected_original`), decoded by the
    /// engine as it arrived: passed through.
    in_flight: &'a HashMap<String, (u64, u64)>,
}

impl<'a> Decoder<'a> {
    fn new(sink: &'a dyn Sink, root: PathBuf, bucket: String, in_flight: &'a HashMap<String, (u64, u64)>) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Decoder { sink, root, bucket, folders: Arc::default(), permits: Arc::new(tokio::sync::Semaphore::new(cores)), pending: Mutex::default(), finished: Mutex::default(), in_flight }
    }

    fn start(&self, key: String, local: String, bytes: u64, etag: Option<String>) {
        let (root, folders, permits) = (self.root.clone(), self.folders.clone(), self.permits.clone());
        let what = format!("s3://{}/{key}", self.bucket);
        let task = async move {
            let _permit = permits.acquire_owned().await;
            let path = PathBuf::from(&local);
            let result = tokio::task::spawn_blocking(move || decode_in_place(&root, &path, &folders, &what))
                .await
                .unwrap_or_else(|e| Err(Error::Internal(format!("decode task: {e}"))));
            DecodedItem { key, bytes, etag, result }
        };
        let handle = tokio::runtime::Handle::current().spawn(task);
        self.pending.lock().unwrap_or_else(|p| p.into_inner()).push(handle);
    }

    /// Waits for every decode, then makes the renames durable. Also returns the held-back
    /// `TransferFinished`.
    async fn finish(self) -> (Vec<DecodedItem>, Option<Event>) {
        let handles = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
        let mut out = Vec::new();
        for h in handles {
            if let Ok(d) = h.await {
                out.push(d);
            }
        }
        if let Err(e) = self.folders.sync_all_async().await {
            self.sink.send(Event::Notice { message: format!("the decoded files are in place, but flushing their folder to disk failed: {e}") });
        }
        let finished = self.finished.lock().unwrap_or_else(|p| p.into_inner()).take();
        (out, finished)
    }
}

impl Sink for Decoder<'_> {
    fn send(&self, event: Event) {
        match event {
            Event::ObjectDone { key, local, bytes, etag, .. } if decoded_after(self.in_flight, &key) => self.start(key, local, bytes, etag),
            finished @ Event::TransferFinished { .. } => *self.finished.lock().unwrap_or_else(|p| p.into_inner()) = Some(finished),
            other => self.sink.send(other),
        }
    }
}

/// Decodes the downloaded file at `local` (under `root`) if it is a trainctl object: into a
/// temp file beside it, verified, renamed to the original name; the compressed file is then
/// removed. On any failure nothing of it is left. Returns the file now in place. Blocking.
fn decode_in_place(root: &Path, local: &Path, folders: &Folders, what: &str) -> Result<PathBuf> {
    use std::io::Seek;
    let (Some(dir), Some(name)) = (local.parent(), local.file_name()) else { return Ok(local.to_path_buf()) };
    let mut src = open_no_follow(local)?;
    let mut first = [0u8; header::LEN];
    let n = codec::encode::read_full(&mut src, &mut first).map_err(|e| Error::io(local, e))?;
    if header::Header::parse(&first[..n]) == header::Parsed::NotOurs {
        return Ok(local.to_path_buf());
    }
    src.rewind().map_err(|e| Error::io(local, e))?;
    let name_text = name.to_string_lossy();
    let final_name = std::ffi::OsString::from(codec::original_name(&name_text).unwrap_or(&name_text));
    let dest = folders.open(root, dir)?;
    let fail = |e: Error| {
        dest.remove_quietly(name);
        e
    };
    let temp = dest.create_temp().map_err(fail)?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, local_write::SmallWrites(&**temp.file()));
    let decoded = codec::decode::decode(&mut std::io::BufReader::with_capacity(1 << 20, &mut src), &mut out);
    let flushed = out.flush_into_result();
    let shown = dir.join(&final_name);
    let h = match decoded {
        Ok(codec::decode::Decoded::Verified(h)) => h,
        Ok(codec::decode::Decoded::NotOurs) => return Ok(local.to_path_buf()),
        Err(DecodeError::Corrupt(detail)) => return Err(fail(Error::CompressedCorrupt { what: what.to_string(), detail })),
        Err(DecodeError::Read(e)) => return Err(fail(Error::io(local, e))),
        Err(DecodeError::Write(e)) => return Err(fail(Error::io(&shown, e))),
    };
    flushed.map_err(|e| fail(Error::io(&shown, e)))?;
    temp.commit(&final_name, h.original_size).map_err(fail)?;
    if final_name.as_os_str() != name {
        dest.remove_quietly(name);
    }
    Ok(shown)
}

/// The verdict on compressed content a reference names (`TransferJob::expected_original`,
/// a dataset entry), decoded as it streamed (`codec::stream`): it must be ours, verify, and
/// decode to `expected` (the original size and CRC64NVME the reference records). Anything else
/// is [`Error::CompressedCorrupt`] naming `what`, but a failed write (`write_error`).
pub fn decoded_as_expected(
    decoded: std::result::Result<codec::decode::Decoded, DecodeError>,
    what: &str,
    expected: (u64, Option<u64>),
    write_error: impl FnOnce(std::io::Error) -> Error,
) -> Result<header::Header> {
    let corrupt = |detail: String| Error::CompressedCorrupt { what: what.to_string(), detail };
    let h = match decoded {
        Ok(codec::decode::Decoded::Verified(h)) => h,
        Ok(codec::decode::Decoded::NotOurs) => return Err(corrupt("it has no trainctl header, but a reference names it as its compressed content".into())),
        Err(DecodeError::Read(e)) => return Err(corrupt(format!("it ends early ({e})"))),
        Err(DecodeError::Corrupt(detail)) => return Err(corrupt(detail)),
        Err(DecodeError::Write(e)) => return Err(write_error(e)),
    };
    if (h.original_size, Some(h.original_crc64nvme)) != expected {
        let (size, crc) = expected;
        return Err(corrupt(format!(
            "it decodes to {} bytes of CRC64NVME {}, its reference records {size} bytes of {}",
            h.original_size,
            codec::crc64_base64(h.original_crc64nvme),
            crc.map(codec::crc64_base64).unwrap_or_default()
        )));
    }
    Ok(h)
}

/// Flushing a `BufWriter` as a `Result` (its error, not a panic, on a full disk).
trait FlushInto {
    fn flush_into_result(self) -> std::io::Result<()>;
}

impl<W: std::io::Write> FlushInto for std::io::BufWriter<W> {
    fn flush_into_result(mut self) -> std::io::Result<()> {
        std::io::Write::flush(&mut self)
    }
}

/// Opens a downloaded file for reading without following a link at its name.
fn open_no_follow(path: &Path) -> Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW).open(path).map_err(|e| Error::io(path, e))
}
