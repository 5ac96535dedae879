//! Downloads: one streaming GET up to the part size, parallel ranged GETs above it, always into
//! a private temp file in the destination folder ([`local_write`]), verified through its handle
//! and then committed (fsync, size on the handle, rename under the folder lock). Any failure or
//! cancel removes the temp file, so the destination holds either the complete verified file or
//! what it held before.
//!
//! Every GET carries `If-Match: <planned ETag>`, so an object overwritten since the plan fails
//! as an integrity error instead of mixing two versions — which is also what makes it safe to
//! continue a broken body: when a body stream breaks (connection reset, a stalled server), the
//! GET is re-sent for the bytes still missing of that range only, up to the network policy's
//! attempts, so a 100 GB download loses at most what was in flight, and the ranges already
//! complete are kept.

use super::{effective_part_size, sdk, Ctx};
use crate::error::{Error, Result};
use crate::s3::NetworkPolicy;
use crate::transfer::local_write::TempFile;
use crate::transfer::verify::{self, EtagHasher, Expectation, Verified};
use crate::transfer::TransferItem;
use aws_sdk_s3::operation::get_object::GetObjectOutput;
use aws_sdk_s3::primitives::ByteStream;
use futures::{StreamExt, TryStreamExt};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Bytes buffered before a write is handed to a blocking thread.
const WRITE_BLOCK: usize = 1024 * 1024;

/// Downloads `item.key` to `item.local`; returns the (verified) ETag it was planned with.
pub(super) async fn download(ctx: &Ctx<'_>, item: &TransferItem) -> Result<Option<String>> {
    let dest = &item.local;
    let (parent, name) = match (dest.parent(), dest.file_name()) {
        (Some(p), Some(n)) => (p, n.to_os_string()),
        _ => return Err(Error::LocalKind { path: dest.clone(), expected: "file path" }),
    };
    let root = ctx.job.local_root.as_deref().unwrap_or(parent);
    let temp = ctx.folders.open(root, parent)?.create_temp()?;
    fetch_verified(ctx, item, &temp).await?;
    let size = item.size;
    let write_if = item.write_if.clone();
    tokio::task::spawn_blocking(move || temp.commit_if(&name, size, write_if.as_ref())).await.map_err(|e| Error::Internal(format!("commit task: {e}")))??;
    Ok(item.etag.clone())
}

async fn fetch_verified(ctx: &Ctx<'_>, item: &TransferItem, temp: &TempFile) -> Result<()> {
    let what = format!("s3://{}/{}", ctx.job.bucket, item.key);
    let mut exp = if ctx.opts.verify_checksum {
        verify::expectation(ctx.conn, &ctx.job.bucket, &item.key, item.size, item.etag.as_deref()).await
    } else {
        Expectation::SizeOnly { reason: "checksum verification is off".into() }
    };
    let part_size = effective_part_size(ctx.opts.part_size, item.size);
    let shown = temp.path();
    let (written, computed) = if item.size <= part_size {
        single_get(ctx, item, temp.file().clone(), &shown, &mut exp).await?
    } else {
        ranged_get(ctx, item, temp.file().clone(), &shown, part_size).await?;
        let written = temp.file().metadata().map_err(|e| Error::io(&shown, e))?.len();
        (written, hash_file(temp.file().clone(), &shown, &exp).await?)
    };
    verify::check_size(&what, item.size, written)?;
    if let Verified::SizeOnly { reason } = verify::check_checksum(&what, &exp, computed.as_deref())? {
        if ctx.opts.verify_checksum {
            ctx.notice_size_only(&item.key, &reason);
        }
    }
    Ok(())
}

async fn hash_file(file: Arc<File>, shown: &Path, exp: &Expectation) -> Result<Option<String>> {
    Ok(match exp {
        Expectation::SizeOnly { .. } => None,
        Expectation::Md5 { .. } => Some(verify::md5_etag_of_handle_async(file, shown, None).await?),
        Expectation::Multipart { part_size, .. } => Some(verify::md5_etag_of_handle_async(file, shown, Some(*part_size)).await?),
    })
}

async fn get(ctx: &Ctx<'_>, item: &TransferItem, range: Option<String>) -> Result<GetObjectOutput> {
    let request = ctx.conn.client.get_object().bucket(&ctx.job.bucket).key(&item.key).set_range(range).set_if_match(item.etag.clone()).set_version_id(ctx.job.version_ids.get(&item.key).cloned());
    let out = ctx.cancellable(async { request.send().await.map_err(|e| sdk::map(e, ctx.conn, &ctx.job.bucket, &item.key)) }).await?;
    ctx.stats.gets.fetch_add(1, Ordering::Relaxed);
    Ok(out)
}

/// Whole object in one GET, hashed while written. Returns bytes written and the computed ETag.
async fn single_get(ctx: &Ctx<'_>, item: &TransferItem, file: Arc<File>, shown: &Path, exp: &mut Expectation) -> Result<(u64, Option<String>)> {
    let _permit = ctx.permit().await?;
    let out = get(ctx, item, None).await?;
    if is_encrypted(&out) && !matches!(exp, Expectation::SizeOnly { .. }) {
        *exp = Expectation::SizeOnly { reason: "the object is encrypted with SSE-KMS/SSE-C, so its ETag is not an MD5".into() };
    }
    let mut writer = BlockWriter { path: shown.to_path_buf(), file, offset: 0, buf: Vec::new(), hasher: EtagHasher::for_expectation(exp) };
    fetch_into(ctx, item, &mut writer, 0, item.size, Some(out.body)).await?;
    Ok((writer.offset, writer.hasher.map(EtagHasher::finish)))
}

fn is_encrypted(out: &GetObjectOutput) -> bool {
    out.sse_customer_algorithm().is_some() || out.server_side_encryption().is_some_and(|s| s.as_str().starts_with("aws:kms"))
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
async fn fetch_into(ctx: &Ctx<'_>, item: &TransferItem, writer: &mut BlockWriter, start: u64, end: u64, mut body: Option<ByteStream>) -> Result<()> {
    let policy = NetworkPolicy::of_s3_client(&ctx.conn.client);
    let mut failures = 0u32;
    loop {
        let body_now = match body.take() {
            Some(b) => b,
            None => get(ctx, item, Some(format!("bytes={}-{}", writer.offset, end - 1))).await?.body,
        };
        let before = writer.offset;
        match stream_body(ctx, item, writer, body_now).await {
            Ok(()) => break,
            Err(e @ Error::Interrupted { .. }) => {
                failures = if writer.offset > before { 1 } else { failures + 1 };
                if failures >= policy.max_attempts || writer.offset >= end {
                    return Err(e);
                }
                if item.etag.is_none() {
                    writer.restart(start);
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
    if writer.offset != end {
        let detail = format!("bytes {start}-{end} returned {} bytes", writer.offset - start);
        return Err(Error::Integrity { what: format!("s3://{}/{}", ctx.job.bucket, item.key), detail });
    }
    Ok(())
}

/// Writes one body into the file; on a stream error, what arrived before it is written too.
async fn stream_body(ctx: &Ctx<'_>, item: &TransferItem, writer: &mut BlockWriter, mut body: ByteStream) -> Result<()> {
    loop {
        match ctx.cancellable(async { body.try_next().await.map_err(|e| stream_error(ctx, item, e)) }).await {
            Ok(Some(chunk)) => {
                ctx.add_bytes(chunk.len() as u64);
                writer.push(&chunk).await?;
            }
            Ok(None) => return writer.flush().await,
            Err(e) => {
                writer.flush().await?;
                return Err(e);
            }
        }
    }
}

/// The object in `part_size` ranges fetched in parallel and written in place.
async fn ranged_get(ctx: &Ctx<'_>, item: &TransferItem, file: Arc<File>, shown: &Path, part_size: u64) -> Result<()> {
    let ranges: Vec<(u64, u64)> = (0..item.size.div_ceil(part_size)).map(|i| (i * part_size, part_size.min(item.size - i * part_size))).collect();
    futures::stream::iter(ranges)
        .map(|(offset, len)| get_range(ctx, item, shown, file.clone(), offset, len))
        .buffer_unordered(ctx.opts.concurrency.max(1))
        .try_collect::<Vec<()>>()
        .await?;
    Ok(())
}

async fn get_range(ctx: &Ctx<'_>, item: &TransferItem, shown: &Path, file: Arc<File>, offset: u64, len: u64) -> Result<()> {
    let _permit = ctx.permit().await?;
    let mut writer = BlockWriter { path: shown.to_path_buf(), file, offset, buf: Vec::new(), hasher: None };
    fetch_into(ctx, item, &mut writer, offset, offset + len, None).await
}

/// Buffers received chunks and writes (and hashes) them in 1 MiB blocks on a blocking thread,
/// at increasing offsets of a shared file.
struct BlockWriter {
    path: PathBuf,
    file: Arc<File>,
    /// Where the next flushed byte goes: everything before it is on disk.
    offset: u64,
    buf: Vec<u8>,
    hasher: Option<EtagHasher>,
}

impl BlockWriter {
    async fn push(&mut self, chunk: &[u8]) -> Result<()> {
        self.buf.extend_from_slice(chunk);
        if self.buf.len() >= WRITE_BLOCK {
            self.flush().await?;
        }
        Ok(())
    }

    /// Starts over at `offset` (what was written after it will be overwritten).
    fn restart(&mut self, offset: u64) {
        self.offset = offset;
        self.buf.clear();
        if let Some(h) = self.hasher.as_mut() {
            *h = EtagHasher::new(h.part_size());
        }
    }

    async fn flush(&mut self) -> Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let (file, offset, buf, mut hasher) = (self.file.clone(), self.offset, std::mem::take(&mut self.buf), self.hasher.take());
        let task = tokio::task::spawn_blocking(move || {
            use std::os::unix::fs::FileExt;
            let r = file.write_all_at(&buf, offset);
            if let Some(h) = hasher.as_mut() {
                h.update(&buf);
            }
            (r, buf.len() as u64, hasher)
        });
        let (written, n, hasher) = task.await.map_err(|e| Error::Internal(format!("write task: {e}")))?;
        written.map_err(|e| Error::io(&self.path, e))?;
        self.offset += n;
        self.hasher = hasher;
        Ok(())
    }
}
