//! Compressed content a reference names (`TransferJob::expected_original`), decoded as its body
//! arrives (`codec::stream`): the temp file beside the file's own name receives the original
//! bytes, which the decoder checks against the object's header and
//! [`decoded_as_expected`](crate::transfer::compress::decoded_as_expected) against the
//! reference's size and CRC64NVME. No copy of the compressed bytes is written, and they are not
//! hashed (the original's CRC64NVME, checked end to end, is the stronger check).
//!
//! A broken body is continued by [`fetch_into`] — a ranged GET from the compressed offset
//! reached, `If-Match` the planned ETag — into the same decoder; when it cannot be (attempts
//! spent, no ETag to prove it is the same object) the item fails as an interruption and the
//! next run fetches it again. Bad content fails as `compressed_corrupt`, and the decoder stops
//! reading at the first bad block. Either way the temp file is removed: nothing is left under
//! either name.
//!
//! Memory: each decode takes [`DECODE_MEMORY_MIB`] of the job's budget (`Ctx::compress_memory`,
//! which compressed uploads use the same way) for as long as it runs.

use super::{fetch_into, get, Fetched, Receiving};
use crate::codec::stream::{StreamDecoder, DECODE_MEMORY_MIB};
use crate::error::{Error, Result};
use crate::transfer::local_write::SmallWrites;
use crate::transfer::native::Ctx;
use crate::transfer::TransferItem;
use bytes::Bytes;

type Out = std::io::BufWriter<SmallWrites<std::fs::File>>;

/// The body's bytes into the decoder, counted by their offset in the compressed object.
struct Feed {
    decoder: StreamDecoder<Out>,
    offset: u64,
}

/// [`Feed::push`]'s error once the decoder stopped reading; [`download`] reports the
/// decoder's verdict instead.
const STOPPED: &str = "the decoder stopped reading";

impl Receiving for Feed {
    fn offset(&self) -> u64 {
        self.offset
    }

    async fn push(&mut self, chunk: Bytes) -> Result<()> {
        let n = chunk.len() as u64;
        if !self.decoder.feed(chunk).await {
            return Err(Error::Internal(STOPPED.into()));
        }
        self.offset += n;
        Ok(())
    }

    async fn flush(&mut self) -> Result<()> {
        Ok(())
    }

    async fn flush_last(&mut self) -> Result<()> {
        Ok(())
    }

    /// A decoder cannot take its stream again from the start.
    fn restart(&mut self, _offset: u64) -> bool {
        false
    }
}

/// Downloads compressed content to `item.local` decoded, which must give `original` (size,
/// CRC64NVME); `item.size` is the compressed object's.
pub(super) async fn download(ctx: &Ctx<'_>, item: &TransferItem, original: (u64, u64)) -> Result<Fetched> {
    let dest = &item.local;
    let (parent, name) = match (dest.parent(), dest.file_name()) {
        (Some(p), Some(n)) => (p, n.to_os_string()),
        _ => return Err(Error::LocalKind { path: dest.clone(), expected: "file path" }),
    };
    let root = ctx.job.local_root.as_deref().unwrap_or(parent);
    let what = format!("s3://{}/{}", ctx.job.bucket, item.key);
    let _memory = ctx.cancellable(async { ctx.compress_memory.acquire_many(DECODE_MEMORY_MIB).await.map_err(|_| Error::Internal("decode budget closed".into())) }).await?;
    let _permit = ctx.permit().await?;
    let out = get(ctx, item, None).await?;
    let temp = ctx.folders.open(root, parent)?.create_temp()?;
    let file = temp.file().try_clone().map_err(|e| Error::io(temp.path(), e))?;
    let mut feed = Feed { decoder: StreamDecoder::start(std::io::BufWriter::with_capacity(1 << 20, SmallWrites(file))), offset: 0 };
    let fetched = fetch_into(ctx, item, &mut feed, 0, item.size, Some(out.body)).await;
    let stopped = feed.decoder.stopped();
    let (decoded, _) = feed.decoder.finish().await.map_err(Error::Internal)?;
    // A body that broke off (or a cancel) is that error, whatever the decoder made of the
    // bytes it got; bytes the decoder refused are its verdict.
    if let Err(e) = fetched {
        if !stopped {
            return Err(e);
        }
    }
    let (size, crc) = original;
    let h = crate::transfer::compress::decoded_as_expected(decoded, &what, (size, Some(crc)), |e| Error::io(dest, e))?;
    tracing::debug!(object = %what, original = h.original_size, "decoded as it arrived, CRC64NVME verified");
    Ok(Fetched { temp, name, size, write_if: item.write_if.clone(), etag: item.etag.clone() })
}
