//! Compressing one file into a writer: header, then a zstd stream (every core, zstd's own
//! multithreading) or byte-plane blocks (one thread per plane). Streaming: memory is a few
//! blocks whatever the file's size. The CRC64NVME of the original is computed on the way.

use super::header::Header;
use super::{byteplane, Codec, Encoded};
use crate::error::{Error, Result};
use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;

/// Bytes read from the source at a time.
const CHUNK: usize = byteplane::BLOCK_SIZE as usize;

/// Compresses `src` with `codec` at `level` into `out` (positioned at its start). Fails with
/// [`Error::SourceChanged`] when the file's size changes while it is read.
pub fn encode_file(src: &Path, out: &mut File, codec: Codec, level: i32) -> Result<Encoded> {
    let io = |e| Error::io(src, e);
    let mut file = File::open(src).map_err(io)?;
    let size = file.metadata().map_err(io)?.len();
    let out_path = Path::new("(compressed copy)");
    // The header goes first with a zero CRC and is rewritten at the end, when the CRC is known.
    let header = |crc| Header { codec, block_size: if codec == Codec::Zstd { 0 } else { byteplane::BLOCK_SIZE }, original_size: size, original_crc64nvme: crc };
    let mut w = std::io::BufWriter::with_capacity(1 << 20, &mut *out);
    w.write_all(&header(0).encode()).map_err(|e| Error::io(out_path, e))?;
    let (read, crc) = match codec {
        Codec::Zstd => encode_zstd(&mut file, &mut w, level, size),
        Codec::BytePlane { width } => encode_planes(&mut file, &mut w, usize::from(width), level, size),
    }
    .map_err(io)?;
    w.flush().map_err(|e| Error::io(out_path, e))?;
    drop(w);
    if read != size || file.metadata().map_err(io)?.len() != size {
        return Err(Error::SourceChanged { path: src.to_path_buf(), detail: format!("{size} bytes when compression started, {read} read") });
    }
    use std::os::unix::fs::FileExt;
    out.write_all_at(&header(crc).encode(), 0).map_err(|e| Error::io(out_path, e))?;
    let compressed_size = out.metadata().map_err(|e| Error::io(out_path, e))?.len();
    Ok(Encoded { codec, original_size: size, original_crc64nvme: crc, compressed_size })
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
fn for_each_chunk(src: &mut File, size: u64, mut f: impl FnMut(&[u8]) -> std::io::Result<()>) -> std::io::Result<(u64, u64)> {
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
fn encode_zstd(src: &mut File, out: &mut impl Write, level: i32, size: u64) -> std::io::Result<(u64, u64)> {
    let mut enc = zstd::stream::write::Encoder::new(out, level)?;
    enc.multithread(super::zstd_workers())?;
    enc.include_checksum(true)?;
    enc.set_pledged_src_size(Some(size))?;
    let (read, crc) = for_each_chunk(src, size, |chunk| enc.write_all(chunk))?;
    if read == size {
        enc.finish()?;
    }
    Ok((read, crc))
}

/// Byte-plane blocks of [`byteplane::BLOCK_SIZE`] raw bytes.
fn encode_planes(src: &mut File, out: &mut impl Write, width: usize, level: i32, size: u64) -> std::io::Result<(u64, u64)> {
    out.write_all(byteplane::BODY_MAGIC)?;
    let mut planes = vec![Vec::new(); width];
    let result = for_each_chunk(src, size, |chunk| byteplane::write_block(out, chunk, width, level, &mut planes).map(|_| ()))?;
    byteplane::write_end(out)?;
    Ok(result)
}
