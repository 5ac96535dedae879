//! Compressed uploads, pipelined (`--compress`, native engine): the file is compressed on worker
//! threads (every core: zstd's own workers, or several byte-plane blocks at once) and each
//! finished part of the compressed stream is sent while later ones are being compressed. No
//! staging copy on disk; memory is a few parts per file ([`PARTS_IN_FLIGHT`] being sent,
//! [`PARTS_QUEUED`] waiting, one being filled) and a job-wide budget bounds how many large files
//! compress at once (`Ctx::compress_memory`).
//!
//! **Two passes over the file.** The header (the first bytes of the object) and the metadata
//! (fixed when the multipart upload is created) both carry the CRC64NVME of the original, so a
//! first pass computes it (on every core, at memory speed when the file is in the page cache,
//! which a checkpoint just written is); the encoder computes it again on the way and the upload
//! fails with [`Error::SourceChanged`] when the two differ, or when the file's size or mtime
//! changed. The on-store format is exactly the staged one (`codec::header`), so every decoder
//! reads both.
//!
//! **Complete or absent.** Output that fits in one part goes up as one `PutObject`; anything
//! larger as a multipart upload whose parts are all [`part size`](part_size_for) but the last.
//! Any failure — the file changed, a part refused, the encoder failed, a cancel — aborts the
//! multipart upload (compressed uploads are never resumed: the next run compresses again).
//! Progress counts original bytes, a part's share when the server has it.
//!
//! **Unsigned parts.** A part held in memory would have its SHA-256 computed by the SDK for
//! the request's signature (a second hash of every stored byte, on the cores the encoder needs:
//! 17% of trainctl's CPU in a compressed upload, `docs/benchmarks.md`). A plain upload's parts
//! are streamed from the file, which the SDK signs as `UNSIGNED-PAYLOAD`; compressed parts are
//! sent the same way. What guards them: the checksum header where the provider takes one
//! (CRC64NVME by default, checked by the server), and always the original's CRC64NVME in
//! trainctl's header, which every decode verifies.
//!
//! **Keeping up with the link** (`--compress auto`): the encoder stores blocks at zstd's fast
//! level as [`Pace`] decides from this file's measurements — the encoder's time per block and
//! the link's capacity (the recent parts' own rates times the parts sent at once).

use super::super::body::{SourceFile, Spread};
use super::super::{effective_part_size, sdk, Ctx};
use super::resume::DonePart;
use super::{checksum_of, complete, ensure_destination_unchanged, map_write, sdk_algorithm, storage_class, write_conditions};
use crate::codec::pace::Pace;
use crate::codec::{self, Encoded};
use crate::error::{Error, Result};
use crate::s3::network::data_op_timeouts;
use crate::transfer::checksum::{display_value, Algorithm};
use crate::transfer::compress::{CompressionReport, Planned};
use crate::transfer::TransferItem;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ChecksumType;
use bytes::Bytes;
use futures::StreamExt;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;

/// Largest part of a compressed upload: a small part starts the first request early and leaves
/// little to send once compression ends (the requested part size is used when smaller).
pub const PART_MAX: u64 = 8 << 20;
/// Parts of one file being sent at once (each also needs one of the job's request slots).
pub const PARTS_IN_FLIGHT: usize = 4;
/// Finished parts waiting to be sent; the encoder waits beyond them.
pub const PARTS_QUEUED: usize = 2;
/// Memory (MiB) one large file's pipeline may hold: its parts in flight, queued and being
/// filled, and the encoder's blocks.
pub const FILE_MEMORY_MIB: u32 = 96;
/// The job-wide memory budget of compressed uploads (MiB): two large files at once, more small
/// ones (a file costs its size up to [`FILE_MEMORY_MIB`]).
pub const JOB_MEMORY_MIB: u32 = 2 * FILE_MEMORY_MIB;

/// The part size of a compressed upload of a file of `size` bytes: [`PART_MAX`] or the
/// requested one if smaller, within S3's limits for zstd's worst case (incompressible bytes
/// grow a little).
pub fn part_size_for(requested: u64, size: u64) -> u64 {
    let bound = size + size / 64 + (1 << 20);
    effective_part_size(requested.min(PART_MAX), bound)
}

/// What the encoder hands to the sender: a full part, or the final bytes (possibly empty, when
/// the stream ended on a part boundary). `original`: the original bytes it stands for, for
/// progress.
enum Output {
    Part { bytes: Bytes, original: u64 },
    Last { bytes: Bytes, original: u64 },
}

/// Uploads `item` compressed as `planned` says; returns the new object's ETag.
pub(in crate::transfer::native) async fn upload(ctx: &Ctx<'_>, item: &TransferItem, planned: &Planned) -> Result<Option<String>> {
    let src = Arc::new(SourceFile::open(&item.local)?);
    let size = src.size;
    let part_size = part_size_for(ctx.opts.part_size, size);
    let cost = u32::try_from((size >> 20) + 1).unwrap_or(u32::MAX).min(FILE_MEMORY_MIB);
    let _memory = ctx.cancellable(async { ctx.compress_memory.acquire_many(cost).await.map_err(|_| Error::Internal("compression budget closed".into())) }).await?;
    let first_pass = checksum_of(&src, Algorithm::Crc64Nvme, 0, size, Spread::Cores).await?;
    let crc = codec::crc64_of_base64(&first_pass).ok_or_else(|| Error::Internal(format!("a CRC64NVME of unexpected form: {first_pass}")))?;
    let mut metadata = ctx.job.metadata.get(&item.key).cloned().unwrap_or_default();
    metadata.extend(Encoded { codec: planned.codec, original_size: size, original_crc64nvme: crc, compressed_size: 0 }.metadata());
    let checksum = ctx.opts.upload_checksum.resolve(&ctx.conn.profile.provider).filter(|a| a.combinable());

    let pace = Arc::new(if planned.adaptive {
        let (link, share) = *ctx.pace_carry.lock().unwrap_or_else(|p| p.into_inner());
        Pace::adaptive(link, share)
    } else {
        Pace::fixed()
    });
    let (tx, mut rx) = mpsc::channel(PARTS_QUEUED);
    let (encoder_src, codec, effort, encoder_pace) = (src.clone(), planned.codec, planned.effort(), pace.clone());
    let encoder = tokio::task::spawn_blocking(move || encode_into_parts(&encoder_src, codec, effort, crc, part_size, tx, &encoder_pace));
    let upload = Upload { ctx, item, src: &src, metadata, part_size, checksum, pace: &pace };
    let sent = upload.send(&mut rx).await;
    drop(rx); // an encoder still running stops at its next part
    let encoded = encoder.await.unwrap_or_else(|e| Err(Error::Internal(format!("compression task: {e}"))));
    match (sent, encoded) {
        (Ok((etag, compressed)), _) => {
            ctx.compressed[0].fetch_add(size, Ordering::Relaxed);
            ctx.compressed[1].fetch_add(compressed, Ordering::Relaxed);
            report_pace(ctx, item, planned, size, compressed, &pace);
            Ok(etag)
        }
        // The encoder's own failure (the file changed, a read error) is the cause; `Cancelled`
        // from it only says that the sending stopped first.
        (Err(_), Err(e)) if !matches!(e, Error::Cancelled) => Err(e),
        (Err(e), _) => Err(match (&e, src.check_unchanged()) {
            (Error::Cancelled, _) | (_, Ok(())) => e,
            (_, Err(changed)) => changed,
        }),
    }
}

/// Records what one file's encoder measured and chose: in the job's outcome, at `-v`, and (for
/// `auto`) as the starting point of the job's next files.
fn report_pace(ctx: &Ctx<'_>, item: &TransferItem, planned: &Planned, size: u64, stored: u64, pace: &Pace) {
    let report = pace.report();
    if report.adaptive && report.link.rate().is_some() {
        *ctx.pace_carry.lock().unwrap_or_else(|p| p.into_inner()) = (report.link, report.share);
    }
    let what = format!("s3://{}/{}", ctx.job.bucket, item.key);
    let saved = 1.0 - stored as f64 / size.max(1) as f64;
    if report.fast_blocks > 0 {
        tracing::info!(
            "{what}: {} of {} blocks at level {} and {} stored fast, {:.0}% saved: {}",
            report.blocks - report.fast_blocks,
            report.blocks,
            planned.level,
            report.fast_blocks,
            saved * 100.0,
            report.reason
        );
    } else {
        tracing::info!("{what}: {} blocks at level {}, {:.0}% saved: {}", report.blocks, planned.level, saved * 100.0, report.reason);
    }
    let entry = CompressionReport { key: item.key.clone(), codec: planned.codec.name(), level: planned.level, original: size, stored, pace: report };
    ctx.compression.lock().unwrap_or_else(|p| p.into_inner()).push(entry);
}

/// The sending side of one compressed upload.
struct Upload<'a, 'c> {
    ctx: &'a Ctx<'c>,
    item: &'a TransferItem,
    src: &'a SourceFile,
    metadata: HashMap<String, String>,
    part_size: u64,
    checksum: Option<Algorithm>,
    /// Told what the link carries (stored bytes per second with parts in flight).
    pace: &'a Pace,
}

/// Why the sender stopped waiting for parts: the encoder ended without its last bytes (its own
/// error says why).
fn encoder_stopped() -> Error {
    Error::Internal("compression stopped before the end of the file".into())
}

impl Upload<'_, '_> {
    /// Sends what the encoder produces; the ETag and the compressed size.
    async fn send(&self, rx: &mut mpsc::Receiver<Output>) -> Result<(Option<String>, u64)> {
        let first = self.ctx.cancellable(async { Ok(rx.recv().await) }).await?;
        match first {
            None => Err(encoder_stopped()),
            Some(Output::Last { bytes, original }) => {
                let len = bytes.len() as u64;
                Ok((self.put_whole(bytes, original).await?, len))
            }
            Some(part @ Output::Part { .. }) => self.multipart(part, rx).await,
        }
    }

    /// Output that fits in one part: one PutObject. If the file changed in the instant between
    /// the encoder's last check and the server's answer, the object is deleted again.
    async fn put_whole(&self, bytes: Bytes, original: u64) -> Result<Option<String>> {
        let (ctx, item) = (self.ctx, self.item);
        let _permit = ctx.permit().await?;
        let (if_none_match, if_match, head_first) = write_conditions(ctx, item);
        if head_first {
            ensure_destination_unchanged(ctx, item).await?;
        }
        let len = bytes.len() as u64;
        let value = self.checksum.map(|a| display_value(&a.digest(&bytes), None));
        let request = ctx.conn.client.put_object().set_checksum_algorithm(self.checksum.and_then(sdk_algorithm));
        let request = with_checksum!(request, self.checksum, value)
            .bucket(&ctx.job.bucket)
            .key(&item.key)
            .set_if_none_match(if_none_match)
            .set_if_match(if_match)
            .set_storage_class(storage_class(ctx))
            .set_metadata(Some(self.metadata.clone()))
            .content_length(len as i64)
            .body(ByteStream::from(bytes))
            .customize()
            .config_override(data_op_timeouts(&ctx.conn.client, len));
        // Unsigned, as a plain upload's streamed parts are (module docs, "Unsigned parts").
        let request = request.disable_payload_signing();
        let out = ctx.cancellable(async { request.send().await.map_err(|e| map_write(ctx, item, e)) }).await?;
        if let Err(changed) = self.src.check_unchanged() {
            let _ = ctx.conn.client.delete_object().bucket(&ctx.job.bucket).key(&item.key).send().await;
            return Err(changed);
        }
        ctx.add_bytes(original);
        ctx.stats.objects_put.fetch_add(1, Ordering::Relaxed);
        Ok(out.e_tag().map(str::to_string))
    }

    /// A multipart upload fed part by part as the encoder produces them; aborted on any failure.
    async fn multipart(&self, first: Output, rx: &mut mpsc::Receiver<Output>) -> Result<(Option<String>, u64)> {
        let (ctx, item) = (self.ctx, self.item);
        let upload_id = self.create().await?;
        let result = async {
            let (parts, total) = self.send_parts(&upload_id, first, rx).await?;
            // The last checks before the object becomes visible: the file is still what was
            // compressed, and (two-way sync) the key is still what the write is conditional on.
            self.src.check_unchanged()?;
            ensure_destination_unchanged(ctx, item).await?;
            let etag = complete(ctx, item, &upload_id, parts, self.checksum, total, self.part_size).await?;
            Ok::<_, Error>((etag, total))
        }
        .await;
        if result.is_err() {
            let _ = ctx.conn.client.abort_multipart_upload().bucket(&ctx.job.bucket).key(&item.key).upload_id(&upload_id).send().await;
            ctx.stats.uploads_aborted.fetch_add(1, Ordering::Relaxed);
        }
        result
    }

    async fn create(&self) -> Result<String> {
        let (ctx, item) = (self.ctx, self.item);
        let request = ctx
            .conn
            .client
            .create_multipart_upload()
            .bucket(&ctx.job.bucket)
            .key(&item.key)
            .set_storage_class(storage_class(ctx))
            .set_metadata(Some(self.metadata.clone()))
            .set_checksum_algorithm(self.checksum.and_then(sdk_algorithm))
            .set_checksum_type(self.checksum.map(|_| ChecksumType::FullObject));
        let out = ctx.cancellable(async { request.send().await.map_err(|e| sdk::map(e, ctx.conn, &ctx.job.bucket, &item.key)) }).await?;
        out.upload_id().map(str::to_string).ok_or_else(|| Error::Internal("CreateMultipartUpload returned no upload id".into()))
    }

    /// Sends every part, up to [`PARTS_IN_FLIGHT`] at once, taking the next from the encoder
    /// as a slot frees; the parts sent and the total compressed size. What the link carried and
    /// could carry ([`LinkClock`]) goes to the pace after each part.
    async fn send_parts(&self, upload_id: &str, first: Output, rx: &mut mpsc::Receiver<Output>) -> Result<(Vec<DonePart>, u64)> {
        let mut in_flight = futures::stream::FuturesUnordered::new();
        let mut done = Vec::new();
        let (mut number, mut total, mut finished) = (0i32, 0u64, false);
        let mut next = Some(first);
        let mut link = LinkClock::default();
        loop {
            link.tick(!in_flight.is_empty());
            if let Some(out) = next.take() {
                let (bytes, original, last) = match out {
                    Output::Part { bytes, original } => (bytes, original, false),
                    Output::Last { bytes, original } => (bytes, original, true),
                };
                finished = last;
                if bytes.is_empty() {
                    self.ctx.add_bytes(original);
                } else {
                    number += 1;
                    total += bytes.len() as u64;
                    let len = bytes.len() as u64;
                    in_flight.push(async move { self.send_part(upload_id, number, bytes, original).await.map(|(p, secs)| (p, len, secs)) });
                }
            }
            if finished && in_flight.is_empty() {
                return Ok((done, total));
            }
            tokio::select! {
                biased;
                _ = self.ctx.cancel.cancelled() => return Err(Error::Cancelled),
                Some(part) = in_flight.next(), if !in_flight.is_empty() => {
                    let (part, len, secs) = part?;
                    done.push(part);
                    link.tick(true);
                    link.finished(len, secs);
                    self.pace.record_link(link.bytes, link.busy, link.capacity());
                }
                out = rx.recv(), if !finished && in_flight.len() < PARTS_IN_FLIGHT => match out {
                    Some(out) => next = Some(out),
                    None => return Err(encoder_stopped()),
                },
            }
        }
    }

    /// Sends one part; also returns the seconds its request took (after its request slot).
    async fn send_part(&self, upload_id: &str, number: i32, bytes: Bytes, original: u64) -> Result<(DonePart, f64)> {
        let (ctx, item) = (self.ctx, self.item);
        let _permit = ctx.permit().await?;
        let started = std::time::Instant::now();
        let len = bytes.len() as u64;
        let value = self.checksum.map(|a| display_value(&a.digest(&bytes), None));
        let request = ctx.conn.client.upload_part().set_checksum_algorithm(self.checksum.and_then(sdk_algorithm));
        let request = with_checksum!(request, self.checksum, value.clone())
            .bucket(&ctx.job.bucket)
            .key(&item.key)
            .upload_id(upload_id)
            .part_number(number)
            .content_length(len as i64)
            .body(ByteStream::from(bytes))
            .customize()
            .config_override(data_op_timeouts(&ctx.conn.client, len));
        // Unsigned, as a plain upload's streamed parts are (module docs, "Unsigned parts").
        let request = request.disable_payload_signing();
        let out = ctx.cancellable(async { request.send().await.map_err(|e| sdk::map(e, ctx.conn, &ctx.job.bucket, &item.key)) }).await?;
        let etag = out.e_tag().ok_or_else(|| Error::Internal("UploadPart returned no ETag".into()))?;
        ctx.stats.parts_uploaded.fetch_add(1, Ordering::Relaxed);
        ctx.add_bytes(original);
        Ok((DonePart { number, etag: etag.to_string(), checksum: value }, started.elapsed().as_secs_f64()))
    }
}

/// Seconds with at least one part in flight, the bytes of the parts finished, and the rates of
/// the last few parts (each its bytes over its request's time).
#[derive(Default)]
struct LinkClock {
    busy: f64,
    bytes: u64,
    since: Option<std::time::Instant>,
    recent: std::collections::VecDeque<f64>,
}

impl LinkClock {
    /// A part of `len` bytes finished after `secs`.
    fn finished(&mut self, len: u64, secs: f64) {
        self.bytes += len;
        if secs > 0.0 {
            if self.recent.len() == PARTS_IN_FLIGHT {
                self.recent.pop_front();
            }
            self.recent.push_back(len as f64 / secs);
        }
    }

    /// What the link could carry: the recent parts' mean rate times the parts sent at once.
    /// Parts sharing a capped link each get a share of it (the estimate is the cap); parts on
    /// a link limited by latency each get their own (the estimate is what more of them would
    /// carry) — and while the compressor is slower, fewer are in flight than could be.
    fn capacity(&self) -> f64 {
        if self.recent.is_empty() {
            return 0.0;
        }
        self.recent.iter().sum::<f64>() / self.recent.len() as f64 * PARTS_IN_FLIGHT as f64
    }

    /// Called at each turn of the send loop: `busy` whether parts were in flight since the
    /// last call.
    fn tick(&mut self, busy: bool) {
        let now = std::time::Instant::now();
        if let (true, Some(since)) = (busy, self.since) {
            self.busy += now.duration_since(since).as_secs_f64();
        }
        self.since = Some(now);
    }
}

/// The encoder (blocking): compresses the file into parts of `part_size` bytes handed to `tx`,
/// the header carrying `crc` (the first pass's). The last bytes are handed over only once the
/// file proved unchanged: the same size and CRC64NVME as the first pass, the same size and
/// mtime as when the upload started. Returns `Cancelled` when the sender stopped taking parts.
fn encode_into_parts(src: &SourceFile, codec: codec::Codec, effort: codec::Effort, crc: u64, part_size: u64, tx: mpsc::Sender<Output>, pace: &Pace) -> Result<()> {
    let read_error = |e: std::io::Error| match src.check_unchanged() {
        Err(changed) => changed,
        Ok(()) if e.kind() == std::io::ErrorKind::BrokenPipe => Error::Cancelled,
        Ok(()) => Error::io(src.path(), e),
    };
    let consumed = Arc::new(AtomicU64::new(0));
    let mut reader = Counting { file: src.reader().map_err(|e| Error::io(src.path(), e))?, read: consumed.clone() };
    let mut parts = PartWriter { tx, buf: Vec::with_capacity(part_size as usize), part_size: part_size as usize, consumed, counted: 0, pace };
    let (read, again) = codec::encode::encode_paced(&mut reader, &mut parts, codec, effort, src.size, crc, pace).map_err(read_error)?;
    if read != src.size {
        return Err(Error::SourceChanged { path: src.path().to_path_buf(), detail: format!("{} bytes when the upload started, {read} read", src.size) });
    }
    if again != crc {
        return Err(Error::SourceChanged { path: src.path().to_path_buf(), detail: "its content changed between the checksum pass and compression".into() });
    }
    src.check_unchanged()?;
    parts.finish(src.size).map_err(read_error)
}

/// Reads the file, counting the bytes read (for the progress each part stands for).
struct Counting {
    file: std::fs::File,
    read: Arc<AtomicU64>,
}

impl Read for Counting {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Cuts the encoder's output into parts of exactly `part_size` bytes and hands each over as it
/// fills (waiting while [`PARTS_QUEUED`] are already waiting).
struct PartWriter<'p> {
    tx: mpsc::Sender<Output>,
    buf: Vec<u8>,
    part_size: usize,
    /// Original bytes read so far, and those already credited to a part.
    consumed: Arc<AtomicU64>,
    counted: u64,
    /// Told how long each hand-over waited for the link.
    pace: &'p Pace,
}

impl PartWriter<'_> {
    fn hand_over(&mut self, last: bool, size: u64) -> std::io::Result<()> {
        let bytes = Bytes::from(std::mem::replace(&mut self.buf, if last { Vec::new() } else { Vec::with_capacity(self.part_size) }));
        let upto = if last { size } else { self.consumed.load(Ordering::Relaxed).min(size) };
        let original = upto.saturating_sub(self.counted);
        self.counted += original;
        let out = if last { Output::Last { bytes, original } } else { Output::Part { bytes, original } };
        let started = std::time::Instant::now();
        let sent = self.tx.blocking_send(out).map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the upload stopped"));
        self.pace.add_waited(started.elapsed().as_secs_f64());
        sent
    }

    /// Hands over the last bytes (the whole output, if it never filled a part).
    fn finish(mut self, size: u64) -> std::io::Result<()> {
        self.hand_over(true, size)
    }
}

impl Write for PartWriter<'_> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let n = (self.part_size - self.buf.len()).min(data.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == self.part_size {
            self.hand_over(false, u64::MAX)?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_stay_within_s3_limits_even_for_incompressible_files() {
        assert_eq!(part_size_for(32 << 20, 100 << 20), PART_MAX);
        assert_eq!(part_size_for(5 << 20, 100 << 20), 5 << 20);
        let huge = 1u64 << 40;
        let p = part_size_for(32 << 20, huge);
        assert!((huge + huge / 64 + (1 << 20)).div_ceil(p) <= super::super::super::MAX_PARTS);
    }

    #[test]
    fn the_writer_cuts_exact_parts_and_hands_over_the_rest_last() {
        let (tx, mut rx) = mpsc::channel(16);
        let consumed = Arc::new(AtomicU64::new(0));
        let pace = Pace::fixed();
        let mut w = PartWriter { tx, buf: Vec::new(), part_size: 10, consumed: consumed.clone(), counted: 0, pace: &pace };
        consumed.store(30, Ordering::Relaxed);
        w.write_all(&[1u8; 25]).unwrap();
        w.finish(40).unwrap();
        let mut got = Vec::new();
        while let Ok(out) = rx.try_recv() {
            got.push(match out {
                Output::Part { bytes, original } => (bytes.len(), original, false),
                Output::Last { bytes, original } => (bytes.len(), original, true),
            });
        }
        assert_eq!(got, [(10, 30, false), (10, 0, false), (5, 10, true)]);
    }
}
