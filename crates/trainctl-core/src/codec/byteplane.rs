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

/// Splits `raw` into `width` planes (cleared first), one plane at a time through the block
/// (the element width known at compile time for 2 and 4, so the loop is a plain gather).
pub fn split(raw: &[u8], width: usize, planes: &mut [Vec<u8>]) {
    match width {
        2 => split_n::<2>(raw, planes),
        4 => split_n::<4>(raw, planes),
        _ => {
            for (k, p) in planes.iter_mut().enumerate() {
                p.clear();
                p.extend(raw.iter().skip(k).step_by(width));
            }
        }
    }
}

fn split_n<const W: usize>(raw: &[u8], planes: &mut [Vec<u8>]) {
    let whole = raw.chunks_exact(W);
    let tail = whole.remainder();
    for (k, p) in planes.iter_mut().enumerate().take(W) {
        p.clear();
        p.reserve(raw.len() / W + 1);
        p.extend(whole.clone().map(|c| c[k]));
        p.extend(tail.get(k));
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

/// How one plane's frame is compressed. Every setting writes a standard zstd frame, so the
/// decoder does not need to know which was used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    /// zstd at this level.
    Level(i32),
    /// Entropy coding only: zstd's fastest level (its match search skips ahead at once on data
    /// without repeats) with literal compression forced on, so the bytes are Huffman-coded.
    /// The exponent plane of weights is a few symbols with no useful matches: this stores it
    /// smaller than level 1 at about 3.5× the speed (`docs/benchmarks.md`).
    Entropy,
    /// Stored at about raw size, at memory speed: zstd's fastest level, literals not coded
    /// (the blocks `--compress auto` stores fast to keep up with a link, `codec::pace`).
    Store,
}

/// Compresses blocks; holds its zstd contexts and plane buffers from one block to the next
/// (one per thread: the encoder runs several blocks at once).
#[derive(Default)]
pub struct BlockEncoder {
    contexts: Vec<(Setting, zstd::zstd_safe::CCtx<'static>)>,
    planes: Vec<Vec<u8>>,
    frame: Vec<u8>,
}

fn zstd_error(code: usize) -> std::io::Error {
    std::io::Error::other(format!("zstd: {}", zstd::zstd_safe::get_error_name(code)))
}

impl BlockEncoder {
    fn context(&mut self, setting: Setting) -> std::io::Result<&mut zstd::zstd_safe::CCtx<'static>> {
        use zstd::zstd_safe::{CParameter, ParamSwitch};
        let at = match self.contexts.iter().position(|(s, _)| *s == setting) {
            Some(at) => at,
            None => {
                let mut c = zstd::zstd_safe::CCtx::try_create().ok_or_else(|| std::io::Error::other("zstd: no memory for a context"))?;
                let (level, literals) = match setting {
                    Setting::Level(level) => (level, ParamSwitch::Auto),
                    Setting::Entropy => (zstd::zstd_safe::min_c_level(), ParamSwitch::Enable),
                    Setting::Store => (zstd::zstd_safe::min_c_level(), ParamSwitch::Auto),
                };
                c.set_parameter(CParameter::CompressionLevel(level)).map_err(zstd_error)?;
                c.set_parameter(CParameter::LiteralCompressionMode(literals)).map_err(zstd_error)?;
                self.contexts.push((setting, c));
                self.contexts.len() - 1
            }
        };
        Ok(&mut self.contexts[at].1)
    }

    /// One frame of `plane` compressed with `setting`, in the encoder's frame buffer.
    pub fn frame(&mut self, plane: &[u8], setting: Setting) -> std::io::Result<&[u8]> {
        let mut frame = std::mem::take(&mut self.frame);
        frame.clear();
        frame.reserve(zstd::zstd_safe::compress_bound(plane.len()));
        let written = self.context(setting)?.compress2(&mut frame, plane).map_err(zstd_error);
        self.frame = frame;
        written?;
        Ok(&self.frame)
    }

    /// Appends one block as it is written (`raw_len`, then each plane's length and frame) to
    /// `out`: plane `k` as `effort` says, or every plane stored when `fast`.
    pub fn encode(&mut self, raw: &[u8], width: usize, effort: super::Effort, fast: bool, out: &mut Vec<u8>) -> std::io::Result<()> {
        let mut planes = std::mem::take(&mut self.planes);
        planes.resize_with(width, Vec::new);
        split(raw, width, &mut planes);
        out.reserve(4 + planes.iter().map(|p| 4 + zstd::zstd_safe::compress_bound(p.len())).sum::<usize>());
        out.extend_from_slice(&(raw.len() as u32).to_le_bytes());
        let mut result = Ok(());
        for (k, p) in planes.iter().enumerate() {
            let setting = if fast { Setting::Store } else { effort.plane(k) };
            match self.frame(p, setting) {
                Ok(f) => {
                    out.extend_from_slice(&(f.len() as u32).to_le_bytes());
                    out.extend_from_slice(f);
                }
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        self.planes = planes;
        result
    }
}

/// One block as it is written, with a fresh [`BlockEncoder`] (tests, one-off use).
pub fn encode_block(raw: &[u8], width: usize, effort: super::Effort) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    BlockEncoder::default().encode(raw, width, effort, false, &mut out)?;
    Ok(out)
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
        let mut enc = BlockEncoder::default();
        for (i, chunk) in raw.chunks(4096).enumerate() {
            // Every setting, mixed within the body: each is a standard frame.
            let (effort, fast) = match i % 3 {
                0 => (crate::codec::Effort::level(3), false),
                1 => (crate::codec::Effort { level: 1, entropy_planes: 0b10 }, false),
                _ => (crate::codec::Effort::level(3), true),
            };
            enc.encode(chunk, 2, effort, fast, &mut body).unwrap();
        }
        write_end(&mut body).unwrap();
        let mut out = Vec::new();
        read_body(&mut body.as_slice(), 2, 4096, |b| {
            out.extend_from_slice(b);
            Ok(())
        })
        .unwrap();
        assert_eq!(out, raw);
        // A reused encoder writes the same bytes as a fresh one.
        let mut again = BODY_MAGIC.to_vec();
        let mut reused = BODY_MAGIC.to_vec();
        for chunk in raw.chunks(4096) {
            again.extend_from_slice(&encode_block(chunk, 2, 3.into()).unwrap());
            enc.encode(chunk, 2, 3.into(), false, &mut reused).unwrap();
        }
        assert_eq!(again, reused);
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
