//! The byte-plane container (`.tcz`): tensor bytes regrouped by byte position before zstd.
//!
//! A bf16 weight is two bytes: the low one is mantissa (close to random), the high one is sign
//! and exponent (a handful of values). Interleaved, zstd sees noise every other byte; split into
//! two planes, the exponent plane shrinks several-fold and the mantissa plane is stored about as
//! is. fp32 (width 4) works the same way with four planes. Whether that beats plain zstd on a
//! given file is measured by [`super::probe`], never assumed.
//!
//! The file is cut into blocks of `block_size` raw bytes (a multiple of the width; the last
//! one may be shorter); plane `k` of a block holds bytes `k, k+w, k+2w, …` of it, so a tail of
//! `len % w` bytes lands in the first planes and any length round-trips. After the header:
//!
//! ```text
//! "TCBP"                                  body magic (not a zstd frame: `zstd -d` refuses it)
//! repeat: u32 raw_len (1..=block_size)    little-endian
//!         w × (u32 comp_len, comp_len bytes: one zstd frame of plane k)
//! u32 0                                   end
//! ```
//!
//! The decoder checks every length against the header before allocating: `raw_len` at most
//! the block size, `comp_len` at most zstd's bound for the plane, each plane decompressing to
//! exactly its length, the total equal to the original size, nothing after the end.
//! Memory is one block and its planes at a time, whatever the file's size.

use std::io::{Read, Write};

/// Magic at the start of the body.
pub const BODY_MAGIC: &[u8; 4] = b"TCBP";
/// Raw bytes per block written (4 MiB: each plane still spans more than zstd's window at the
/// levels used, and memory stays a few blocks).
pub const BLOCK_SIZE: u32 = 4 << 20;

/// Length of plane `k` of a block of `raw_len` bytes.
pub fn plane_len(raw_len: usize, width: usize, k: usize) -> usize {
    raw_len / width + usize::from(k < raw_len % width)
}

/// Splits `raw` into `width` planes (cleared first).
pub fn split(raw: &[u8], width: usize, planes: &mut [Vec<u8>]) {
    for (k, p) in planes.iter_mut().enumerate() {
        p.clear();
        p.extend(raw.iter().skip(k).step_by(width));
    }
}

/// Interleaves planes back into the raw bytes (appended to `out`).
pub fn merge(planes: &[Vec<u8>], width: usize, raw_len: usize, out: &mut Vec<u8>) {
    out.clear();
    out.resize(raw_len, 0);
    for (k, p) in planes.iter().enumerate().take(width) {
        for (dst, src) in out.iter_mut().skip(k).step_by(width).zip(p) {
            *dst = *src;
        }
    }
}

/// Compresses one block's planes, each on its own thread, and writes the block.
pub fn write_block(out: &mut impl Write, raw: &[u8], width: usize, level: i32, planes: &mut [Vec<u8>]) -> std::io::Result<u64> {
    split(raw, width, planes);
    let frames: Vec<std::io::Result<Vec<u8>>> = std::thread::scope(|s| {
        let handles: Vec<_> = planes.iter().map(|p| s.spawn(move || zstd::bulk::compress(p, level))).collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err(std::io::Error::other("zstd thread panicked")))).collect()
    });
    let frames = frames.into_iter().collect::<std::io::Result<Vec<_>>>()?;
    let block = assemble_block(raw.len(), &frames);
    out.write_all(&block)?;
    Ok(block.len() as u64)
}

/// One block as it is written (`raw_len`, then each plane's length and frame), its planes
/// compressed one after the other on the calling thread. The encoder runs several blocks at
/// once on all cores ([`super::encode`]); the bytes are those [`write_block`] writes.
pub fn encode_block(raw: &[u8], width: usize, level: i32) -> std::io::Result<Vec<u8>> {
    let mut planes = vec![Vec::new(); width];
    split(raw, width, &mut planes);
    let frames = planes.iter().map(|p| zstd::bulk::compress(p, level)).collect::<std::io::Result<Vec<_>>>()?;
    Ok(assemble_block(raw.len(), &frames))
}

fn assemble_block(raw_len: usize, frames: &[Vec<u8>]) -> Vec<u8> {
    let mut block = Vec::with_capacity(4 + frames.iter().map(|f| 4 + f.len()).sum::<usize>());
    block.extend_from_slice(&(raw_len as u32).to_le_bytes());
    for f in frames {
        block.extend_from_slice(&(f.len() as u32).to_le_bytes());
        block.extend_from_slice(f);
    }
    block
}

/// Writes the end marker.
pub fn write_end(out: &mut impl Write) -> std::io::Result<u64> {
    out.write_all(&0u32.to_le_bytes())?;
    Ok(4)
}

/// Why a container does not decode.
#[derive(Debug)]
pub enum ReadError {
    /// Reading the file failed (not the container's fault).
    Io(std::io::Error),
    /// The bytes are not a valid container.
    Corrupt(String),
}

impl From<std::io::Error> for ReadError {
    fn from(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            ReadError::Corrupt("cut short".into())
        } else {
            ReadError::Io(e)
        }
    }
}

fn read_u32(r: &mut impl Read) -> Result<u32, ReadError> {
    let mut b = [0u8; 4];
    r.read_exact(&mut b)?;
    Ok(u32::from_le_bytes(b))
}

/// Decodes the body (after the header) block by block, handing each block's raw bytes to
/// `sink`. `block_size` and `width` come from the (checked) header.
pub fn read_body(r: &mut impl Read, width: usize, block_size: u32, mut sink: impl FnMut(&[u8]) -> std::io::Result<()>) -> Result<(), ReadError> {
    let mut magic = [0u8; 4];
    r.read_exact(&mut magic)?;
    if &magic != BODY_MAGIC {
        return Err(ReadError::Corrupt("no byte-plane body after the header".into()));
    }
    let mut frames: Vec<Vec<u8>> = vec![Vec::new(); width];
    let mut raw = Vec::new();
    loop {
        let raw_len = read_u32(r)?;
        if raw_len == 0 {
            break;
        }
        if raw_len > block_size {
            return Err(ReadError::Corrupt(format!("a block of {raw_len} bytes, above the header's {block_size}")));
        }
        let raw_len = raw_len as usize;
        for (k, f) in frames.iter_mut().enumerate() {
            let comp_len = read_u32(r)? as usize;
            let bound = zstd::zstd_safe::compress_bound(plane_len(raw_len, width, k));
            if comp_len > bound {
                return Err(ReadError::Corrupt(format!("a plane of {comp_len} compressed bytes, above zstd's bound {bound}")));
            }
            f.resize(comp_len, 0);
            r.read_exact(f)?;
        }
        let planes = decompress_planes(&frames, raw_len, width)?;
        merge(&planes, width, raw_len, &mut raw);
        sink(&raw).map_err(ReadError::Io)?;
    }
    let mut extra = [0u8; 1];
    if r.read(&mut extra)? != 0 {
        return Err(ReadError::Corrupt("bytes after the end of the container".into()));
    }
    Ok(())
}

/// Each plane decompressed on its own thread, to exactly its expected length.
fn decompress_planes(frames: &[Vec<u8>], raw_len: usize, width: usize) -> Result<Vec<Vec<u8>>, ReadError> {
    std::thread::scope(|s| {
        let handles: Vec<_> = frames
            .iter()
            .enumerate()
            .map(|(k, f)| {
                let want = plane_len(raw_len, width, k);
                s.spawn(move || match zstd::bulk::decompress(f, want) {
                    Ok(p) if p.len() == want => Ok(p),
                    Ok(p) => Err(ReadError::Corrupt(format!("plane {k} decodes to {} bytes, not {want}", p.len()))),
                    Err(e) => Err(ReadError::Corrupt(format!("plane {k}: {e}"))),
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err(ReadError::Corrupt("decoder thread panicked".into())))).collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn planes_round_trip_any_length() {
        for width in [2usize, 4] {
            for len in [0usize, 1, 3, 4, 5, 1001] {
                let raw: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
                let mut planes = vec![Vec::new(); width];
                split(&raw, width, &mut planes);
                for (k, p) in planes.iter().enumerate() {
                    assert_eq!(p.len(), plane_len(len, width, k));
                }
                let mut back = Vec::new();
                merge(&planes, width, len, &mut back);
                assert_eq!(back, raw, "width {width} len {len}");
            }
        }
    }

    #[test]
    fn blocks_round_trip_and_hostile_lengths_are_refused() {
        let raw: Vec<u8> = (0..10_001u32).flat_map(|i| [(i % 251) as u8, 0x3f]).collect();
        let mut body = BODY_MAGIC.to_vec();
        let mut planes = vec![Vec::new(); 2];
        for chunk in raw.chunks(4096) {
            write_block(&mut body, chunk, 2, 3, &mut planes).unwrap();
        }
        write_end(&mut body).unwrap();
        let mut out = Vec::new();
        read_body(&mut body.as_slice(), 2, 4096, |b| {
            out.extend_from_slice(b);
            Ok(())
        })
        .unwrap();
        assert_eq!(out, raw);
        // The single-threaded block encoder writes the same bytes.
        let mut again = BODY_MAGIC.to_vec();
        for chunk in raw.chunks(4096) {
            again.extend_from_slice(&encode_block(chunk, 2, 3).unwrap());
        }
        write_end(&mut again).unwrap();
        assert_eq!(again, body);
        // A block larger than the header allows, a truncated body, trailing bytes.
        assert!(matches!(read_body(&mut body.as_slice(), 2, 1024, |_| Ok(())), Err(ReadError::Corrupt(_))));
        assert!(matches!(read_body(&mut &body[..body.len() - 9], 2, 4096, |_| Ok(())), Err(ReadError::Corrupt(_))));
        let mut trailing = body.clone();
        trailing.push(0);
        assert!(matches!(read_body(&mut trailing.as_slice(), 2, 4096, |_| Ok(())), Err(ReadError::Corrupt(_))));
        let mut huge_plane = BODY_MAGIC.to_vec();
        huge_plane.extend_from_slice(&16u32.to_le_bytes());
        huge_plane.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(read_body(&mut huge_plane.as_slice(), 2, 4096, |_| Ok(())), Err(ReadError::Corrupt(m)) if m.contains("bound")));
    }
}
