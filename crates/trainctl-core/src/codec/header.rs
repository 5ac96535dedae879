//! trainctl's header: the first 40 bytes of every compressed object, as a zstd skippable frame
//! (the zstd CLI and library skip it, so a `.zst` stays a standard zstd stream).
//!
//! ```text
//! offset size  field (little-endian)
//!  0      4    0x184D2A5E          zstd skippable-frame magic (one of 0x184D2A50..=5F)
//!  4      4    32                  frame payload length
//!  8      8    "TRAINCTL"          our magic
//! 16      1    version = 1         a newer one is refused ("upgrade trainctl")
//! 17      1    codec: 1 zstd, 2 byte-plane
//! 18      1    element width: 0 (zstd), 2 or 4 (byte-plane)
//! 19      1    0 (reserved)
//! 20      4    block size: byte-plane raw bytes per block (1..=MAX_BLOCK), 0 for zstd
//! 24      8    original size in bytes
//! 32      8    CRC64NVME of the original bytes
//! ```
//!
//! Everything read from a header is checked before use (hostile input): unknown codec or
//! width, a payload length other than 32, a block size above [`MAX_BLOCK`] are all refused.

use super::Codec;

/// The skippable-frame magic trainctl uses.
pub const SKIPPABLE_MAGIC: u32 = 0x184D_2A5E;
/// Our magic inside the frame.
pub const MAGIC: &[u8; 8] = b"TRAINCTL";
/// The format this trainctl writes and reads.
pub const VERSION: u8 = 1;
/// Bytes of the whole header.
pub const LEN: usize = 40;
const PAYLOAD_LEN: u32 = 32;
/// Largest byte-plane block a header may announce (the decoder holds one block in memory).
pub const MAX_BLOCK: u32 = 64 << 20;

/// A parsed header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub codec: Codec,
    /// Byte-plane raw bytes per block; 0 for zstd.
    pub block_size: u32,
    pub original_size: u64,
    pub original_crc64nvme: u64,
}

/// What the first bytes of a file say.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A trainctl header.
    Ours(Header),
    /// Not a trainctl object (someone else's `.zst`, or too short): left as it is.
    NotOurs,
    /// A trainctl header that cannot be used (corrupt, or a newer version): why.
    Bad(String),
}

impl Header {
    pub fn encode(&self) -> [u8; LEN] {
        let mut h = [0u8; LEN];
        h[0..4].copy_from_slice(&SKIPPABLE_MAGIC.to_le_bytes());
        h[4..8].copy_from_slice(&PAYLOAD_LEN.to_le_bytes());
        h[8..16].copy_from_slice(MAGIC);
        h[16] = VERSION;
        let (codec, width) = match self.codec {
            Codec::Zstd => (1, 0),
            Codec::BytePlane { width } => (2, width),
        };
        h[17] = codec;
        h[18] = width;
        h[20..24].copy_from_slice(&self.block_size.to_le_bytes());
        h[24..32].copy_from_slice(&self.original_size.to_le_bytes());
        h[32..40].copy_from_slice(&self.original_crc64nvme.to_le_bytes());
        h
    }

    /// Reads a header from the first bytes of a file (fewer than [`LEN`] is `NotOurs`).
    pub fn parse(b: &[u8]) -> Parsed {
        let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let u64_at = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().unwrap_or([0; 8]));
        if b.len() < LEN || u32_at(0) != SKIPPABLE_MAGIC || &b[8..16] != MAGIC {
            return Parsed::NotOurs;
        }
        if b[16] > VERSION {
            return Parsed::Bad(format!("written by a newer trainctl (format {}; this one reads {VERSION}): upgrade trainctl", b[16]));
        }
        if b[16] != VERSION || u32_at(4) != PAYLOAD_LEN {
            return Parsed::Bad(format!("header of format {} with a {}-byte payload", b[16], u32_at(4)));
        }
        let block_size = u32_at(20);
        let codec = match (b[17], b[18]) {
            (1, 0) if block_size == 0 => Codec::Zstd,
            (2, w @ (2 | 4)) if (1..=MAX_BLOCK).contains(&block_size) && block_size % u32::from(w) == 0 => Codec::BytePlane { width: w },
            (c, w) => return Parsed::Bad(format!("unknown codec {c} / element width {w} / block size {block_size} in the header")),
        };
        Parsed::Ours(Header { codec, block_size, original_size: u64_at(24), original_crc64nvme: u64_at(32) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_round_trips() {
        for h in [
            Header { codec: Codec::Zstd, block_size: 0, original_size: 1 << 40, original_crc64nvme: 0xdead_beef },
            Header { codec: Codec::BytePlane { width: 2 }, block_size: 4 << 20, original_size: 7, original_crc64nvme: u64::MAX },
        ] {
            assert_eq!(Header::parse(&h.encode()), Parsed::Ours(h));
        }
    }

    #[test]
    fn foreign_short_and_hostile_headers_are_refused() {
        assert_eq!(Header::parse(b""), Parsed::NotOurs);
        assert_eq!(Header::parse(&[0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0]), Parsed::NotOurs);
        let good = Header { codec: Codec::BytePlane { width: 4 }, block_size: 1 << 20, original_size: 1, original_crc64nvme: 1 }.encode();
        let mut newer = good;
        newer[16] = 9;
        assert!(matches!(Header::parse(&newer), Parsed::Bad(m) if m.contains("upgrade")));
        for (at, v) in [(17, 7u8), (18, 3), (23, 0xff), (4, 33)] {
            let mut bad = good;
            bad[at] = v;
            assert!(matches!(Header::parse(&bad), Parsed::Bad(_)), "byte {at} = {v}");
        }
        let mut zero_block = good;
        zero_block[20..24].copy_from_slice(&0u32.to_le_bytes());
        assert!(matches!(Header::parse(&zero_block), Parsed::Bad(_)));
    }
}
