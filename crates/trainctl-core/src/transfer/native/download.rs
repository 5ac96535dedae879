//! Downloads: one streaming GET up to the part size, parallel ranged GETs above it, always into
//! a private temp file in the destination folder ([`local_write`]), verified while the bytes
//! arrive, then handed back to the engine to commit (in batches: size on the handle, one sync
//! per batch, rename under the folder lock; `local_write::Committer`) outside the job's request
//! slots. Any failure or cancel removes the temp
//! file, so the destination holds either the complete verified file or what it held before.
//!
//! **Verification costs no second read.** Each GET asks for the object's stored checksum
//! (`x-amz-checksum-mode`); the bytes are hashed as they are written, per range: a full-object
//! CRC from ranges combined in order, a composite checksum or a multipart ETag from ranges cut
//! on the object's own part boundaries (learnt with `HeadObject?partNumber=1`), a plain MD5 in
//! the single GET's stream. Only a plain MD5 or SHA-256 of an object large enough to be fetched
//! in several ranges is hashed from the file afterwards (such objects come from single PUTs
//! larger than our part size, which is rare).
//!
//! Every GET carries `If-Match: <planned ETag>`, so an object overwritten since the plan fails
//! as an integrity error instead of mixing two versions — which is also what makes it safe to
//! continue a broken body: when a body stream breaks (connection reset, a stalled server), the
//! GET is re-sent for the bytes still missing of that range only, up to the network policy's
//! attempts, so a 100 GB download loses at most what was in flight, and the ranges already
//! complete are kept.
//!
//! Compressed content a reference names (`TransferJob::expected_original`) is decoded as its
//! body arrives instead ([`decoded`]): one streaming GET, continued the same way when it
//! breaks, into the decoder; the temp file holds the original bytes.

mod decoded;

use super::{effective_part_size, sdk, Ctx};
use crate::error::{Error, Result};
use crate::s3::NetworkPolicy;
use crate::transfer::checksum::{Piece, PieceHasher, Recipe};
use crate::transfer::local_write::{self, direct, TempFile};
use crate::transfer::verify::{self, Expectation, StoredFields, Verified};
use crate::transfer::TransferItem;
use aws_sdk_s3::operation::get_object::GetObjectOutput;
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use std::fs::File;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use tokio::sync::OwnedSemaphorePermit;

/// A downloaded, verified temp file waiting for its commit.
pub(super) struct Fetched {
    pub temp: TempFile,
    pub name: std::ffi::OsString,
    pub size: u64,
    /// What the destination must still be (two-way sync), checked right before the rename.
    pub write_if: Option<crate::transfer::WriteIf>,
    /// The ETag the object was planned (and fetched, `If-Match`) with.
    pub etag: Option<String>,
}

impl Fetched {
    /// Commits it through the job's batch committer (size check, durable with its batch, rename
    /// under the folder lock); returns the (verified) ETag it was planned with.
    pub async fn commit(self, committer: &local_write::Committer) -> Result<Option<String>> {
        let Fetched { temp, name, size, write_if, etag } = self;
        committer.commit(temp, name, size, write_if).await?;
        Ok(etag)
    }
}

/// Downloads and verifies `item.key` into a temp file next to `item.local`.
pub(super) async fn download(ctx: &Ctx<'_>, item: &TransferItem) -> Result<Fetched> {
    if let Some(&original) = ctx.job.expected_original.get(&item.key) {
        return decoded::download(ctx, item, original).await;
    }
    let dest = &item.local;
    let (parent, name) = match (dest.parent(), dest.file_name()) {
        (Some(p), Some(n)) => (p, n.to_os_string()),
        _ => return Err(Error::LocalKind { path: dest.clone(), expected: "file path" }),
    };
    let root = ctx.job.local_root.as_deref().unwrap_or(parent);
    let temp = ctx.folders.open(root, parent)?.create_temp()?;
    let what = format!("s3://{}/{}", ctx.job.bucket, item.key);
    let verified = if item.size <= effective_part_size(ctx.opts.part_size, item.size) {
        single_get(ctx, item, &temp).await?
    } else {
        ranged_get(ctx, item, &temp).await?
    };
    match &verified {
        Verified::SizeOnly { reason } if ctx.opts.verify_checksum => ctx.notice_size_only(&item.key, reason),
        _ => {}
    }
    verify::log_verified(&what, &verified);
    Ok(Fetched { temp, name, size: item.size, write_if: item.write_if.clone(), etag: item.etag.clone() })
}

/// The content of a reference (`--dedup=refs`) must have the CRC64NVME its reference records,
/// whatever the store keeps and whatever `--size-only` says: that is the reference's promise.
fn referenced(ctx: &Ctx<'_>, item: &TransferItem) -> Option<Expectation> {
    let crc = ctx.job.expected_crc64.get(&item.key)?;
    let stored = crate::transfer::checksum::Stored { algorithm: crate::transfer::checksum::Algorithm::Crc64Nvme, value: crc.to_be_bytes().to_vec(), composite_parts: None };
    Some(Expectation::Stored { stored, part_size: None })
}

fn size_only_by_choice() -> Expectation {
    Expectation::SizeOnly { reason: "checksum verification is off".into() }
}

/// The version of `item` to fetch (a pinned dataset's), `None` for the current one; every
/// request about the object — GETs and the HEADs learning its checksum — names the same one.
fn version_id<'a>(ctx: &'a Ctx<'_>, item: &TransferItem) -> Option<&'a str> {
    ctx.job.version_ids.get(&item.key).map(String::as_str)
}

async fn get(ctx: &Ctx<'_>, item: &TransferItem, range: Option<String>) -> Result<GetObjectOutput> {
    let request = ctx.conn.client.get_object().bucket(&ctx.job.bucket).key(&item.key).set_range(range).set_if_match(item.etag.clone()).set_version_id(version_id(ctx, item).map(str::to_string)).customize();
    let request = verify::with_checksum_mode(request);
    let out = ctx.cancellable(async { request.send().await.map_err(|e| sdk::map(e, ctx.conn, &ctx.job.bucket, &item.key)) }).await?;
    ctx.stats.gets.fetch_add(1, Ordering::Relaxed);
    Ok(out)
}

/// Whole object in one GET, hashed while written by the cheapest checksum its answer allows.
async fn single_get(ctx: &Ctx<'_>, item: &TransferItem, temp: &TempFile) -> Result<Verified> {
    let what = format!("s3://{}/{}", ctx.job.bucket, item.key);
    let permit = ctx.permit().await?;
    let out = get(ctx, item, None).await?;
    let exp = match referenced(ctx, item) {
        Some(exp) => exp,
        None if ctx.opts.verify_checksum => expectation_of_answer(ctx, item, &out).await,
        None => size_only_by_choice(),
    };
    let recipe = exp.recipe();
    let direct = (item.size >= direct::BLOCK as u64).then(|| temp.open_direct()).flatten().map(Arc::new);
    let mut writer = BlockWriter::new(temp, Shared { direct, blocks: ctx.blocks.clone(), ..Shared::default() }, 0, item.size, recipe);
    // The next GET may start while this file's last block is written (`native::SETTLING`).
    writer.slot = Some(permit);
    fetch_into(ctx, item, &mut writer, 0, item.size, Some(out.body)).await?;
    verify::check_size(&what, item.size, writer.offset)?;
    let computed = recipe.and_then(|r| r.assemble(writer.finish(), item.size));
    exp.check(&what, computed.as_deref())
}

/// The expectation for a whole-object GET: its stored checksum when the answer carries a
/// usable one, otherwise the ETag (a multipart one costs one `HeadObject?partNumber=1`, sent
/// before the body is read); size only for encrypted objects without a stored checksum.
async fn expectation_of_answer(ctx: &Ctx<'_>, item: &TransferItem, out: &GetObjectOutput) -> Expectation {
    let etag = item.etag.as_deref().or(out.e_tag());
    let stored = verify::stored_of(StoredFields::of_get(out), etag);
    let full_object = matches!(&stored, Ok(Some(s)) if s.composite_parts.is_none());
    let mut exp = verify::etag_expectation(item.size, etag);
    if !full_object && is_encrypted(out) {
        exp = Expectation::SizeOnly { reason: "the object is encrypted with SSE-KMS/SSE-C, so its ETag is not an MD5".into() };
    }
    if !full_object && verify::needs_part_size(&exp) {
        exp = verify::with_part_size(ctx.conn, &ctx.job.bucket, &item.key, version_id(ctx, item), item.size, exp).await;
    }
    exp.prefer_stored(stored, item.size)
}

fn is_encrypted(out: &GetObjectOutput) -> bool {
    out.sse_customer_algorithm().is_some() || out.server_side_encryption().is_some_and(|s| s.as_str().starts_with("aws:kms"))
}

/// The object in parallel ranges written in place, each hashed as it arrives. The ranges are
/// cut on the object's part boundaries when its checksum is per part.
async fn ranged_get(ctx: &Ctx<'_>, item: &TransferItem, temp: &TempFile) -> Result<Verified> {
    let what = format!("s3://{}/{}", ctx.job.bucket, item.key);
    let exp = match referenced(ctx, item) {
        Some(exp) => exp,
        None if ctx.opts.verify_checksum => verify::expectation(ctx.conn, &ctx.job.bucket, &item.key, version_id(ctx, item), item.size, item.etag.as_deref(), true).await,
        None => size_only_by_choice(),
    };
    let recipe = exp.recipe();
    let range = range_size(effective_part_size(ctx.opts.part_size, item.size), exp.part_size());
    let ranges: Vec<(u64, u64)> = (0..item.size.div_ceil(range)).map(|i| (i * range, range.min(item.size - i * range))).collect();
    let in_stream = recipe.filter(|r| ranges.iter().all(|(start, _)| r.can_start_at(*start)));
    // Direct writes when every range starts aligned (an object's own part size can be odd).
    let aligned = ranges.iter().all(|(start, _)| start % direct::ALIGN as u64 == 0);
    let shared = Shared { direct: aligned.then(|| temp.open_direct()).flatten().map(Arc::new), blocks: ctx.blocks.clone(), ..Shared::default() };
    let pieces: Vec<Vec<Piece>> = futures::stream::iter(ranges)
        .map(|(offset, len)| get_range(ctx, item, temp, shared.clone(), offset, len, in_stream))
        .buffer_unordered(ctx.opts.concurrency.max(1))
        .try_collect()
        .await?;
    let shown = temp.path();
    let written = temp.file().metadata().map_err(|e| Error::io(&shown, e))?.len();
    verify::check_size(&what, item.size, written)?;
    let computed = match (recipe, in_stream) {
        (None, _) => None,
        (Some(r), Some(_)) => r.assemble(pieces.concat(), item.size),
        (Some(r), None) => Some(verify::hash_file_async(temp.file().clone(), &shown, item.size, r).await?),
    };
    exp.check(&what, computed.as_deref())
}

/// The range size: ours, or — when ranges must be whole parts — the multiple of the object's
/// part size closest to ours from below (at least one part).
fn range_size(ours: u64, object_part: Option<u64>) -> u64 {
    match object_part {
        Some(p) if p > 0 => (ours / p).max(1) * p,
        _ => ours,
    }
}

async fn get_range(ctx: &Ctx<'_>, item: &TransferItem, temp: &TempFile, shared: Shared, offset: u64, len: u64, recipe: Option<Recipe>) -> Result<Vec<Piece>> {
    let _permit = ctx.permit().await?;
    let mut writer = BlockWriter::new(temp, shared, offset, offset + len, recipe);
    fetch_into(ctx, item, &mut writer, offset, offset + len, None).await?;
    Ok(writer.finish())
}

/// A broken or stalled body stream: retried by [`fetch_into`], an item failure if it persists.
fn stream_error(ctx: &Ctx<'_>, item: &TransferItem, e: impl std::error::Error + 'static) -> Error {
    let text = crate::s3::errors::chain_text(&e);
    let reason = if crate::s3::errors::is_stall(&text.to_ascii_lowercase()) { format!("the server stopped sending ({text})") } else { text };
    Error::Interrupted { what: format!("s3://{}/{}", ctx.job.bucket, item.key), reason }
}

/// Streams bytes `[writer.offset, end)` of the object into the file, starting with `body` when
/// the caller already has one. When the stream breaks, what arrived is kept and a ranged GET
/// asks for the rest, up to the network policy's attempts (the count restarts whenever bytes
/// arrived, so a long transfer survives several cuts). Without a planned ETag a partial range
/// cannot be proven to come from the same object, so it is fetched again from `start`.
async fn fetch_into(ctx: &Ctx<'_>, item: &TransferItem, writer: &mut impl Receiving, start: u64, end: u64, mut body: Option<ByteStream>) -> Result<()> {
    let policy = NetworkPolicy::of_s3_client(&ctx.conn.client);
    let mut failures = 0u32;
    loop {
        let body_now = match body.take() {
            Some(b) => b,
            None => get(ctx, item, Some(format!("bytes={}-{}", writer.offset(), end - 1))).await?.body,
        };
        let before = writer.offset();
        match stream_body(ctx, item, writer, body_now).await {
            Ok(()) => break,
            Err(e @ Error::Interrupted { .. }) => {
                failures = if writer.offset() > before { 1 } else { failures + 1 };
                if failures >= policy.max_attempts || writer.offset() >= end {
                    return Err(e);
                }
                if item.etag.is_none() && !writer.restart(start) {
                    return Err(e);
                }
                ctx.stats.range_retries.fetch_add(1, Ordering::Relaxed);
                let wait = policy.backoff(failures);
                ctx.cancellable(async {
                    tokio::time::sleep(wait).await;
                    Ok(())
                })
                .await?;
            }
            Err(e) => return Err(e),
        }
    }
    if writer.offset() != end {
        let detail = format!("bytes {start}-{end} returned {} bytes", writer.offset() - start);
        return Err(Error::Integrity { what: format!("s3://{}/{}", ctx.job.bucket, item.key), detail });
    }
    Ok(())
}

/// Writes one body into the file; on a stream error, what arrived before it is written too.
async fn stream_body(ctx: &Ctx<'_>, item: &TransferItem, writer: &mut impl Receiving, mut body: ByteStream) -> Result<()> {
    loop {
        match ctx.cancellable(async { body.try_next().await.map_err(|e| stream_error(ctx, item, e)) }).await {
            Ok(Some(chunk)) => {
                ctx.add_bytes(chunk.len() as u64);
                writer.push(chunk).await?;
            }
            Ok(None) => return writer.flush_last().await,
            Err(e) => {
                writer.flush().await?;
                return Err(e);
            }
        }
    }
}

/// Where [`fetch_into`] puts a body's bytes: a file at increasing offsets ([`BlockWriter`]) or
/// a decoder ([`decoded::Feed`]).
trait Receiving: Send {
    /// The object's offset of the next byte expected.
    fn offset(&self) -> u64;
    /// Takes a received chunk.
    fn push(&mut self, chunk: Bytes) -> impl std::future::Future<Output = Result<()>> + Send;
    /// Settles what was received before a broken body is continued from [`Self::offset`].
    fn flush(&mut self) -> impl std::future::Future<Output = Result<()>> + Send;
    /// The body has ended.
    fn flush_last(&mut self) -> impl std::future::Future<Output = Result<()>> + Send;
    /// Starts over at `offset` (what came after it will come again); `false` when it cannot.
    fn restart(&mut self, offset: u64) -> bool;
}

impl Receiving for BlockWriter {
    fn offset(&self) -> u64 {
        self.offset
    }
    fn push(&mut self, chunk: Bytes) -> impl std::future::Future<Output = Result<()>> + Send {
        BlockWriter::push(self, chunk)
    }
    fn flush(&mut self) -> impl std::future::Future<Output = Result<()>> + Send {
        BlockWriter::flush(self)
    }
    fn flush_last(&mut self) -> impl std::future::Future<Output = Result<()>> + Send {
        BlockWriter::flush_last(self)
    }
    fn restart(&mut self, offset: u64) -> bool {
        BlockWriter::restart(self, offset);
        true
    }
}

/// Bytes received before they are handed to a blocking thread to be written and hashed, where
/// writes are not made on the receiving task ([`local_write::QUICK_FILESYSTEMS`]). The held
/// chunks pin the HTTP client's read buffers until written.
const WRITE_BLOCK: usize = 512 * 1024;


/// Written bytes a range lets accumulate before it asks the kernel to start writing them to
/// disk. Larger spans let ext4 map and submit them in fewer, larger extents (at every 1 MiB
/// block, `sync_file_range` was ~9 % of a 2 GiB download's CPU).
const WRITEBACK_SPAN: u64 = 8 * 1024 * 1024;

/// What the ranges of one file share: the lock that lets one of them write at a time, and the
/// direct handle and aligned blocks when the file is written past the page cache
/// (`local_write::direct`).
#[derive(Clone, Default)]
struct Shared {
    one_writer: Arc<Mutex<()>>,
    direct: Option<Arc<File>>,
    blocks: Arc<direct::Blocks>,
}

/// Collects received bytes and writes (and hashes) them on a blocking thread, in blocks, at
/// increasing offsets of a shared file. Two ways:
///
/// - **Direct** (a file of 1 MiB or more on a filesystem that does direct I/O,
///   `local_write::direct`): the chunks are copied into an aligned [`direct::Block`] and each
///   full block is one `O_DIRECT` `pwrite` — no page-cache copy, no writeback left for the
///   commit's sync, the least CPU. The block that ends the range is written once the body has
///   ended; a whole-object GET gives its request slot back first ([`BlockWriter::slot`]), so
///   that the wait for the disk is not a wait for the next request (on 1000 × 1 MiB at 20 ms,
///   holding the slot through the write cost 6 %). A
///   cheap checksum (a CRC) hashes each chunk as it is copied, while its bytes are in the
///   core's cache (on a 2 GiB download, 8 % less CPU than hashing each block after its write
///   on the blocking thread); MD5 and SHA-256 hash the block on the blocking thread, in
///   parallel with the receiving.
/// - **Through the page cache** otherwise: the chunks — the HTTP client's own buffers, not
///   copied — are written `local_write::WRITE_PIECE` bytes per `pwrite`, and the kernel is asked
///   to start writing every [`WRITEBACK_SPAN`] to disk at once ([`local_write::start_writeback`])
///   so the commit's fsync finds little left. On a local filesystem
///   ([`local_write::QUICK_FILESYSTEMS`]) each chunk (at most `s3::http::READ_BUFFER`, 64 KiB)
///   is written and hashed as soon as it arrives, on the task that received it: its bytes are
///   still in the core's cache, and no hand-off to another thread (two context switches) is
///   paid per block — on 1000 × 1 MiB this cut the process's CPU by 10–16 %. Elsewhere (a
///   network or FUSE mount, where a write may wait) every [`WRITE_BLOCK`] bytes go to a
///   blocking thread.
///
/// The ranges of one file write one at a time (`one_writer`, held for the `pwrite`s only;
/// hashing stays parallel). Why: concurrent `pwrite`s to one inode contend on its `i_rwsem`,
/// and the kernel spins on a busy owner: 16 ranges of a 2 GiB download spent ~10 % of their CPU
/// in `rwsem_spin_on_owner` on 2 cores. A futex sleeps instead, and one writer at a time is far
/// above the network's rate either way.
struct BlockWriter {
    path: PathBuf,
    file: Arc<File>,
    shared: Shared,
    /// Where the next flushed byte goes: everything before it is written.
    offset: u64,
    /// Where the bytes not yet handed to [`local_write::start_writeback`] begin.
    unsent: u64,
    chunks: Vec<Bytes>,
    /// Bytes in `chunks`.
    held: usize,
    /// The direct handle and aligned block of a direct writer (`None`: through the page cache).
    block: Option<(Arc<File>, direct::Block)>,
    /// Page-cache writes are made on the receiving task, chunk by chunk (see above).
    inline: bool,
    recipe: Option<Recipe>,
    hasher: Option<PieceHasher>,
    /// A direct writer hashes chunks as they arrive, not blocks as they are written (above).
    hash_on_receipt: bool,
    /// The request slot of the GET being received, given back when its body has ended.
    slot: Option<OwnedSemaphorePermit>,
    /// The end of the range (exclusive).
    end: u64,
}

impl BlockWriter {
    fn new(temp: &TempFile, shared: Shared, offset: u64, end: u64, recipe: Option<Recipe>) -> Self {
        let hasher = recipe.map(|r| r.hasher(offset));
        let block = shared.direct.clone().map(|handle| (handle, shared.blocks.take()));
        BlockWriter { path: temp.path(), file: temp.file().clone(), shared, offset, unsent: offset, chunks: Vec::new(), held: 0, block, inline: temp.writes_are_quick(), recipe, hasher, hash_on_receipt: recipe.is_some_and(|r| r.algorithm.is_cheap()), slot: None, end }
    }

    /// Adds a received chunk, writing a block once one is full.
    async fn push(&mut self, chunk: Bytes) -> Result<()> {
        let mut at = 0;
        while at < chunk.len() {
            // A full block kept for `flush_last` (below) and more bytes than the range asked for.
            if self.block.as_ref().is_some_and(|(_, b)| b.is_full()) {
                self.flush().await?;
            }
            let Some((_, block)) = self.block.as_mut() else {
                // Through the page cache (from the start, or since a direct write was refused).
                self.held += chunk.len() - at;
                self.chunks.push(chunk.slice(at..));
                if self.inline || self.held >= WRITE_BLOCK {
                    self.flush().await?;
                }
                return Ok(());
            };
            let n = block.fill(&chunk[at..]);
            if self.hash_on_receipt {
                if let Some(h) = self.hasher.as_mut() {
                    h.update(&chunk[at..at + n]);
                }
            }
            at += n;
            if block.is_full() && self.offset + (direct::BLOCK as u64) < self.end {
                self.flush().await?;
            }
        }
        Ok(())
    }

    /// Starts over at `offset` (what was written after it will be overwritten).
    fn restart(&mut self, offset: u64) {
        self.offset = offset;
        self.unsent = self.unsent.min(offset);
        self.chunks.clear();
        self.held = 0;
        if let Some((_, b)) = self.block.as_mut() {
            b.clear();
        }
        self.hasher = self.recipe.map(|r| r.hasher(offset));
    }

    /// The pieces hashed (empty without a recipe).
    fn finish(mut self) -> Vec<Piece> {
        self.hasher.take().map(PieceHasher::finish).unwrap_or_default()
    }

    /// Writes what is held (this is the flush before a broken body is resumed from
    /// [`Self::offset`]). Of a direct block that hashes on write, only its aligned part: the rest
    /// is dropped and fetched again into the aligned block. One that hashes on receipt has hashed
    /// every byte held, so all of them are written, and the rest of the range, no longer
    /// aligned, goes through the page cache.
    async fn flush(&mut self) -> Result<()> {
        self.write(false).await
    }

    /// Writes what is held and starts the writeback of everything not yet started: the body
    /// has ended.
    async fn flush_last(&mut self) -> Result<()> {
        self.slot.take();
        self.write(true).await
    }

    async fn write(&mut self, last: bool) -> Result<()> {
        match self.block.take() {
            Some((handle, block)) => self.write_direct(handle, block, last).await,
            None => self.write_buffered(last).await,
        }
    }

    /// One direct `pwrite` of the block (see [`direct::write_at`]); if the device refuses it, the
    /// same bytes through the page cache, and this range's later blocks too (as after an
    /// unaligned flush, see [`Self::flush`]).
    async fn write_direct(&mut self, handle: Arc<File>, mut block: direct::Block, last: bool) -> Result<()> {
        let len = if last || block.is_full() || self.hash_on_receipt { block.len() } else { block.len() / direct::ALIGN * direct::ALIGN };
        if len == 0 {
            block.clear();
            self.block = Some((handle, block));
            return Ok(());
        }
        let (file, lock, offset, mut hasher, direct_handle) = (self.file.clone(), self.shared.one_writer.clone(), self.offset, if self.hash_on_receipt { None } else { self.hasher.take() }, handle.clone());
        let task = tokio::task::spawn_blocking(move || {
            let data = &block.bytes()[..len];
            let (written, refused) = {
                let _one_writer = lock.lock().unwrap_or_else(|p| p.into_inner());
                match direct::write_at(&direct_handle, &file, offset, data) {
                    Err(e) if e.raw_os_error() == Some(libc::EINVAL) => (local_write::write_in_pieces(&file, offset, [data]), true),
                    other => (other, false),
                }
            };
            if let Some(h) = hasher.as_mut() {
                h.update(data);
            }
            block.clear();
            (written, refused, block, hasher)
        });
        let (written, refused, block, hasher) = task.await.map_err(|e| Error::Internal(format!("write task: {e}")))?;
        written.map_err(|e| Error::io(&self.path, e))?;
        self.offset += len as u64;
        self.unsent = self.offset;
        if !self.hash_on_receipt {
            self.hasher = hasher;
        }
        if refused {
            tracing::debug!(path = %self.path.display(), "direct writes refused (EINVAL); writing through the page cache");
        }
        if refused || (!last && !self.offset.is_multiple_of(direct::ALIGN as u64)) {
            self.shared.blocks.give_back(block);
        } else {
            self.block = Some((handle, block));
        }
        Ok(())
    }

    async fn write_buffered(&mut self, last: bool) -> Result<()> {
        if self.held == 0 && !(last && self.offset > self.unsent) {
            return Ok(());
        }
        let (file, lock, offset, len, mut chunks, mut hasher) = (self.file.clone(), self.shared.one_writer.clone(), self.offset, self.held, std::mem::take(&mut self.chunks), self.hasher.take());
        let end = offset + len as u64;
        let writeback = (last || end - self.unsent >= WRITEBACK_SPAN).then_some(self.unsent);
        let write = move || {
            let written = {
                let _one_writer = lock.lock().unwrap_or_else(|p| p.into_inner());
                local_write::write_in_pieces(&file, offset, chunks.iter().map(|c| &c[..]))
            };
            if let (Ok(()), Some(from)) = (&written, writeback) {
                local_write::start_writeback(&file, from, end - from);
            }
            if let Some(h) = hasher.as_mut() {
                chunks.iter().for_each(|c| h.update(c));
            }
            chunks.clear();
            (written, chunks, hasher)
        };
        let (written, chunks, hasher) = if self.inline { write() } else { tokio::task::spawn_blocking(write).await.map_err(|e| Error::Internal(format!("write task: {e}")))? };
        written.map_err(|e| Error::io(&self.path, e))?;
        self.offset = end;
        if writeback.is_some() {
            self.unsent = end;
        }
        self.held = 0;
        self.hasher = hasher;
        // The same (now empty) list holds the next block's chunks.
        self.chunks = chunks;
        Ok(())
    }
}

/// A range's block goes to the file's next range.
impl Drop for BlockWriter {
    fn drop(&mut self) {
        if let Some((_, block)) = self.block.take() {
            self.shared.blocks.give_back(block);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_whole_parts_when_the_checksum_is_per_part() {
        const MIB: u64 = 1 << 20;
        assert_eq!(range_size(32 * MIB, None), 32 * MIB);
        assert_eq!(range_size(32 * MIB, Some(5 * MIB)), 30 * MIB);
        assert_eq!(range_size(32 * MIB, Some(64 * MIB)), 64 * MIB);
    }
}
