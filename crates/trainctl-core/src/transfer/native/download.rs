//! Downloads: one streaming GET up to the part size, parallel ranged GETs above it, always into
//! a hidden temp file next to the destination (`.<name>.trainctl-part`) that is verified and then
//! renamed into place. Any failure or cancel removes the temp file, so the destination holds
//! either the complete verified file or what it held before.
//!
//! Every GET carries `If-Match: <planned ETag>`, so an object overwritten since the plan fails
//! as an integrity error instead of mixing two versions.

use super::{effective_part_size, remove_quietly, sdk, Ctx};
use crate::error::{Error, Result};
use crate::transfer::safe_path::ensure_no_symlink_escape;
use crate::transfer::verify::{self, EtagHasher, Expectation, Verified};
use crate::transfer::TransferItem;
use aws_sdk_s3::operation::get_object::GetObjectOutput;
use futures::{StreamExt, TryStreamExt};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Bytes buffered before a write is handed to a blocking thread.
const WRITE_BLOCK: usize = 1024 * 1024;

/// Downloads `item.key` to `item.local`.
pub(super) async fn download(ctx: &Ctx<'_>, item: &TransferItem) -> Result<()> {
    let dest = &item.local;
    if let Some(root) = &ctx.job.local_root {
        ensure_no_symlink_escape(root, dest)?;
    }
    let parent = dest.parent().ok_or_else(|| Error::LocalKind { path: dest.clone(), expected: "file path" })?;
    tokio::fs::create_dir_all(parent).await.map_err(|e| Error::io(parent, e))?;
    let temp = TempFile::new(temp_path(dest));
    fetch_verified(ctx, item, &temp.path).await?;
    tokio::fs::rename(&temp.path, dest).await.map_err(|e| Error::io(dest, e))?;
    temp.keep();
    Ok(())
}

/// `dir/.name.trainctl-part`: hidden, in the same directory so the rename is atomic.
pub fn temp_path(dest: &Path) -> PathBuf {
    let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    dest.with_file_name(format!(".{name}.trainctl-part"))
}

/// Removes the temp file when dropped, unless it was renamed into place — so even a dropped
/// future (the caller gave up on the job) leaves nothing behind.
struct TempFile {
    path: PathBuf,
    armed: bool,
}

impl TempFile {
    fn new(path: PathBuf) -> Self {
        TempFile { path, armed: true }
    }
    fn keep(mut self) {
        self.armed = false;
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.armed {
            remove_quietly(&self.path);
        }
    }
}

async fn fetch_verified(ctx: &Ctx<'_>, item: &TransferItem, temp: &Path) -> Result<()> {
    let what = format!("s3://{}/{}", ctx.job.bucket, item.key);
    let mut exp = if ctx.opts.verify_checksum {
        verify::expectation(ctx.conn, &ctx.job.bucket, &item.key, item.size, item.etag.as_deref()).await
    } else {
        Expectation::SizeOnly { reason: "checksum verification is off".into() }
    };
    let part_size = effective_part_size(ctx.opts.part_size, item.size);
    let (written, computed) = if item.size <= part_size {
        single_get(ctx, item, temp, &mut exp).await?
    } else {
        let written = ranged_get(ctx, item, temp, part_size).await?;
        (written, hash_file(temp, &exp).await?)
    };
    verify::check_size(&what, item.size, written)?;
    if let Verified::SizeOnly { reason } = verify::check_checksum(&what, &exp, computed.as_deref())? {
        if ctx.opts.verify_checksum {
            ctx.notice_size_only(&item.key, &reason);
        }
    }
    Ok(())
}

async fn hash_file(path: &Path, exp: &Expectation) -> Result<Option<String>> {
    Ok(match exp {
        Expectation::SizeOnly { .. } => None,
        Expectation::Md5 { .. } => Some(verify::md5_etag_of_file_async(path, None).await?),
        Expectation::Multipart { part_size, .. } => Some(verify::md5_etag_of_file_async(path, Some(*part_size)).await?),
    })
}

async fn get(ctx: &Ctx<'_>, item: &TransferItem, range: Option<String>) -> Result<GetObjectOutput> {
    let request = ctx.conn.client.get_object().bucket(&ctx.job.bucket).key(&item.key).set_range(range).set_if_match(item.etag.clone());
    let out = ctx.cancellable(async { request.send().await.map_err(|e| sdk::map(e, ctx.conn, &ctx.job.bucket, &item.key)) }).await?;
    ctx.stats.gets.fetch_add(1, Ordering::Relaxed);
    Ok(out)
}

/// Whole object in one GET, hashed while written. Returns bytes written and the computed ETag.
async fn single_get(ctx: &Ctx<'_>, item: &TransferItem, temp: &Path, exp: &mut Expectation) -> Result<(u64, Option<String>)> {
    let _permit = ctx.permit().await?;
    let out = get(ctx, item, None).await?;
    if is_encrypted(&out) && !matches!(exp, Expectation::SizeOnly { .. }) {
        *exp = Expectation::SizeOnly { reason: "the object is encrypted with SSE-KMS/SSE-C, so its ETag is not an MD5".into() };
    }
    let file = File::create(temp).map_err(|e| Error::io(temp, e))?;
    let mut writer = BlockWriter { path: temp.to_path_buf(), file: Arc::new(file), offset: 0, buf: Vec::new(), hasher: EtagHasher::for_expectation(exp) };
    let mut body = out.body;
    while let Some(chunk) = ctx.cancellable(async { body.try_next().await.map_err(|e| stream_error(ctx, e)) }).await? {
        ctx.add_bytes(chunk.len() as u64);
        writer.push(&chunk).await?;
    }
    writer.flush().await?;
    Ok((writer.offset, writer.hasher.map(EtagHasher::finish)))
}

fn is_encrypted(out: &GetObjectOutput) -> bool {
    out.sse_customer_algorithm().is_some() || out.server_side_encryption().is_some_and(|s| s.as_str().starts_with("aws:kms"))
}

fn stream_error(ctx: &Ctx<'_>, e: impl std::fmt::Display) -> Error {
    Error::Unreachable { endpoint: ctx.endpoint(), reason: format!("download interrupted: {e}") }
}

/// The object in `part_size` ranges fetched in parallel and written in place. Returns the
/// file's final size.
async fn ranged_get(ctx: &Ctx<'_>, item: &TransferItem, temp: &Path, part_size: u64) -> Result<u64> {
    let file = Arc::new(File::create(temp).map_err(|e| Error::io(temp, e))?);
    let ranges: Vec<(u64, u64)> = (0..item.size.div_ceil(part_size)).map(|i| (i * part_size, part_size.min(item.size - i * part_size))).collect();
    futures::stream::iter(ranges)
        .map(|(offset, len)| get_range(ctx, item, temp, file.clone(), offset, len))
        .buffer_unordered(ctx.opts.concurrency.max(1))
        .try_collect::<Vec<()>>()
        .await?;
    let len = file.metadata().map_err(|e| Error::io(temp, e))?.len();
    Ok(len)
}

async fn get_range(ctx: &Ctx<'_>, item: &TransferItem, temp: &Path, file: Arc<File>, offset: u64, len: u64) -> Result<()> {
    let _permit = ctx.permit().await?;
    let out = get(ctx, item, Some(format!("bytes={}-{}", offset, offset + len - 1))).await?;
    let mut writer = BlockWriter { path: temp.to_path_buf(), file, offset, buf: Vec::new(), hasher: None };
    let mut body = out.body;
    while let Some(chunk) = ctx.cancellable(async { body.try_next().await.map_err(|e| stream_error(ctx, e)) }).await? {
        ctx.add_bytes(chunk.len() as u64);
        writer.push(&chunk).await?;
    }
    writer.flush().await?;
    if writer.offset != offset + len {
        let detail = format!("range at {offset} returned {} bytes, expected {len}", writer.offset - offset);
        return Err(Error::Integrity { what: format!("s3://{}/{}", ctx.job.bucket, item.key), detail });
    }
    Ok(())
}

/// Buffers received chunks and writes (and hashes) them in 1 MiB blocks on a blocking thread,
/// at increasing offsets of a shared file.
struct BlockWriter {
    path: PathBuf,
    file: Arc<File>,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_file_is_hidden_next_to_the_destination() {
        assert_eq!(temp_path(Path::new("/d/a/model.pt")), PathBuf::from("/d/a/.model.pt.trainctl-part"));
    }

    #[test]
    fn temp_file_is_removed_unless_kept() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x");
        std::fs::write(&p, b"1").unwrap();
        drop(TempFile::new(p.clone()));
        assert!(!p.exists());
        std::fs::write(&p, b"1").unwrap();
        TempFile::new(p.clone()).keep();
        assert!(p.exists());
    }
}
