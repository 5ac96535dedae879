//! Compressing one file into a writer: header, then a zstd stream (every core, zstd's own
//! multithreading) or byte-plane blocks (several blocks at once, one per core). Streaming:
//! memory is a few blocks whatever the file's size. The CRC64NVME of the original is computed on
//! the way.
//!
//! Two ways to use it: [`encode_file`] writes into a file and puts the CRC into the header at
//! the end (the staged uploads of the s5cmd engine); [`encode_stream`] writes into any writer
//! front to back, with a CRC the caller computed in a first pass over the file and checks
//! against the one returned (the native engine's pipelined upload: the header is the first byte sent).

use super::header::Header;
use super::pace::Pace;
use super::{byteplane, Codec, Effort, Encoded};
use crate::error::{Error, Result};
use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;

/// Bytes read from the source at a time.
const CHUNK: usize = byteplane::BLOCK_SIZE as usize;

/// The header of a file of `size` bytes with CRC64NVME `crc`, stored with `codec`.
pub fn header_for(codec: Codec, size: u64, crc: u64) -> Header {
    Header { codec, block_size: if codec == Codec::Zstd { 0 } else { byteplane::BLOCK_SIZE }, original_size: size, original_crc64nvme: crc }
}

/// Compresses `src` with `codec` as `effort` says into `out` (positioned at its start). Fails
/// with [`Error::SourceChanged`] when the file's size changes while it is read.
pub fn encode_file(src: &Path, out: &mut File, codec: Codec, effort: Effort) -> Result<Encoded> {
    let io = |e| Error::io(src, e);
    let mut file = File::open(src).map_err(io)?;
    let size = file.metadata().map_err(io)?.len();
    let out_path = Path::new("(compressed copy)");
    // The header goes first with a zero CRC and is rewritten at the end, when the CRC is known.
    let mut w = std::io::BufWriter::with_capacity(1 << 20, &mut *out);
    let (read, crc) = encode_stream(&mut file, &mut w, codec, effort, size, 0).map_err(io)?;
    w.flush().map_err(|e| Error::io(out_path, e))?;
    drop(w);
    if read != size || file.metadata().map_err(io)?.len() != size {
        return Err(Error::SourceChanged { path: src.to_path_buf(), detail: format!("{size} bytes when compression started, {read} read") });
    }
    use std::os::unix::fs::FileExt;
    out.write_all_at(&header_for(codec, size, crc).encode(), 0).map_err(|e| Error::io(out_path, e))?;
    let compressed_size = out.metadata().map_err(|e| Error::io(out_path, e))?.len();
    Ok(Encoded { codec, original_size: size, original_crc64nvme: crc, compressed_size })
}

/// Compresses the `size` bytes `src` yields into `out`, front to back: the header (recording
/// `announced_crc` as the original's CRC64NVME), then the body. Returns the bytes read and their
/// CRC64NVME; a caller that announced a CRC must compare both (a mismatch is a file that changed
/// while it was read). Stops early once more than `size` bytes came (the CRC is then 0).
pub fn encode_stream(src: &mut impl Read, out: &mut impl Write, codec: Codec, effort: Effort, size: u64, announced_crc: u64) -> std::io::Result<(u64, u64)> {
    encode_paced(src, out, codec, effort, size, announced_crc, &Pace::fixed())
}

/// [`encode_stream`], each block (byte planes) or chunk (zstd) as `effort` says or stored fast
/// as `pace` decides, its time and output reported to it (`--compress auto`, see
/// [`super::pace`]).
pub fn encode_paced(src: &mut impl Read, out: &mut impl Write, codec: Codec, effort: Effort, size: u64, announced_crc: u64, pace: &Pace) -> std::io::Result<(u64, u64)> {
    out.write_all(&header_for(codec, size, announced_crc).encode())?;
    match codec {
        Codec::Zstd => encode_zstd(src, out, effort.level, size, pace),
        Codec::BytePlane { width } => encode_planes(src, out, usize::from(width), effort, size, pace),
    }
}

/// Debug builds only: `TRAINCTL_TEST_SLOW_COMPRESS_MS` makes each block (or chunk) at the full
/// level take that much longer — a compressor slower than the link, for the tests of
/// [`super::pace`] on a loopback link.
fn test_delay(fast: bool) {
    #[cfg(debug_assertions)]
    if !fast {
        if let Some(ms) = std::env::var("TRAINCTL_TEST_SLOW_COMPRESS_MS").ok().and_then(|v| v.parse::<u64>().ok()) {
            std::thread::sleep(std::time::Duration::from_millis(ms));
        }
    }
    let _ = fast;
}

/// Reads until `buf` is full or the file ends; the number of bytes read.
pub(crate) fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Reads `src` chunk by chunk into `f`, with the CRC64NVME of what was read. Stops early (with
/// a CRC of 0) once more than `size` bytes came: the file grew since its stat, which the caller
/// reports as a changed source.
fn for_each_chunk(src: &mut impl Read, size: u64, mut f: impl FnMut(&[u8]) -> std::io::Result<()>) -> std::io::Result<(u64, u64)> {
    let mut crc = super::crc64();
    let mut buf = vec![0u8; CHUNK];
    let mut read = 0u64;
    loop {
        let n = read_full(src, &mut buf)?;
        if n == 0 {
            return Ok((read, crc.finalize()));
        }
        read += n as u64;
        if read > size {
            return Ok((read, 0));
        }
        crc.update(&buf[..n]);
        f(&buf[..n])?;
    }
}

/// One zstd stream (content size and checksum in its frame header, so `zstd -l`/`-t` work).
/// The level may change between chunks (`pace`): with zstd's worker threads a new level applies
/// to the next job of the same frame. A chunk's time is its write less the time the output
/// waited for the link (`Pace::waited`); its output is what the writer received meanwhile.
fn encode_zstd(src: &mut impl Read, out: &mut impl Write, level: i32, size: u64, pace: &Pace) -> std::io::Result<(u64, u64)> {
    let mut enc = zstd::stream::write::Encoder::new(Tally { inner: out, written: 0 }, level)?;
    enc.multithread(super::zstd_workers())?;
    enc.include_checksum(true)?;
    enc.set_pledged_src_size(Some(size))?;
    let mut current = false;
    let (read, crc) = for_each_chunk(src, size, |chunk| {
        let fast = pace.next_fast();
        if fast != current {
            enc.set_parameter(zstd::stream::raw::CParameter::CompressionLevel(if fast { super::pace::fast_level() } else { level }))?;
            current = fast;
        }
        let (started, waited, written) = (std::time::Instant::now(), pace.waited(), enc.get_ref().written);
        test_delay(fast);
        enc.write_all(chunk)?;
        let busy = (started.elapsed().as_secs_f64() - (pace.waited() - waited)).max(0.0);
        pace.record_block(fast, chunk.len() as u64, enc.get_ref().written - written, busy);
        Ok(())
    })?;
    if read == size {
        enc.finish()?;
    }
    Ok((read, crc))
}

/// Counts what the zstd encoder wrote (the output of each chunk, for [`Pace`]).
struct Tally<W> {
    inner: W,
    written: u64,
}

impl<W: Write> Write for Tally<W> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(data)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Byte-plane blocks of [`byteplane::BLOCK_SIZE`] raw bytes, compressed several at once (one
/// more than there are workers, each on its own thread) and written in order. Memory: that many
/// blocks and their planes, reused from block to block with their zstd contexts ([`Slot`]).
/// Each block as `effort` says or stored fast as `pace` decides; its time on its thread,
/// divided by the blocks running beside it, is reported to `pace`.
fn encode_planes(src: &mut impl Read, out: &mut impl Write, width: usize, effort: Effort, size: u64, pace: &Pace) -> std::io::Result<(u64, u64)> {
    out.write_all(byteplane::BODY_MAGIC)?;
    let window = super::zstd_workers() as usize + 1;
    let mut crc = super::crc64();
    let mut read = 0u64;
    let mut idle: Vec<Slot> = Vec::with_capacity(window);
    std::thread::scope(|s| -> std::io::Result<()> {
        let mut queue = std::collections::VecDeque::new();
        let mut eof = false;
        loop {
            while !eof && queue.len() < window {
                let mut slot = idle.pop().unwrap_or_default();
                slot.raw.resize(CHUNK, 0);
                let n = read_full(src, &mut slot.raw)?;
                read += n as u64;
                if n == 0 || read > size {
                    eof = true;
                    break;
                }
                slot.raw.truncate(n);
                crc.update(&slot.raw);
                let fast = pace.next_fast();
                // Blocks sharing the cores while this one runs: its time is theirs too.
                let sharing = (queue.len() + 1).min(window) as f64;
                queue.push_back(s.spawn(move || {
                    let started = std::time::Instant::now();
                    test_delay(fast);
                    slot.out.clear();
                    let encoded = slot.encoder.encode(&slot.raw, width, effort, fast, &mut slot.out);
                    (encoded.map(|()| (fast, started.elapsed().as_secs_f64() / sharing)), slot)
                }));
            }
            let Some(next) = queue.pop_front() else { return Ok(()) };
            let (encoded, slot) = next.join().map_err(|_| std::io::Error::other("byte-plane thread panicked"))?;
            let (fast, secs) = encoded?;
            pace.record_block(fast, slot.raw.len() as u64, slot.out.len() as u64, secs);
            out.write_all(&slot.out)?;
            idle.push(slot);
        }
    })?;
    if read > size {
        return Ok((read, 0));
    }
    byteplane::write_end(out)?;
    Ok((read, crc.finalize()))
}

/// One block's worth of the byte-plane encoder, handed to a thread and back: the raw bytes,
/// the block as written, and the encoder with its contexts and plane buffers.
#[derive(Default)]
struct Slot {
    raw: Vec<u8>,
    out: Vec<u8>,
    encoder: byteplane::BlockEncoder,
}
