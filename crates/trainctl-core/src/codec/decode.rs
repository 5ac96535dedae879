//! Decoding a compressed file back into the original bytes, checked against its header: the
//! size (never more bytes than recorded are written) and the CRC64NVME of the original.

use super::byteplane::{self, ReadError};
use super::header::{self, Header, Parsed};
use super::Codec;
use std::io::{Read, Write};

/// What decoding found.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded {
    /// Not a trainctl object: nothing was written.
    NotOurs,
    /// Decoded and verified.
    Verified(Header),
}

/// Why decoding failed.
#[derive(Debug)]
pub enum DecodeError {
    /// The compressed bytes are invalid, or decode to something else than recorded.
    Corrupt(String),
    /// Reading the compressed file failed.
    Read(std::io::Error),
    /// Writing the decoded bytes failed (a full disk…).
    Write(std::io::Error),
}

/// Decodes `src` (a whole compressed file from its first byte) into `out`.
pub fn decode(src: &mut impl Read, out: &mut impl Write) -> Result<Decoded, DecodeError> {
    let mut first = [0u8; header::LEN];
    let n = super::encode::read_full(src, &mut first).map_err(DecodeError::Read)?;
    let h = match Header::parse(&first[..n]) {
        Parsed::NotOurs => return Ok(Decoded::NotOurs),
        Parsed::Bad(why) => return Err(DecodeError::Corrupt(why)),
        Parsed::Ours(h) => h,
    };
    let mut check = Checked { out, crc: super::crc64(), written: 0, limit: h.original_size, write_error: None };
    let result = match h.codec {
        Codec::Zstd => copy_zstd(src, &mut check),
        Codec::BytePlane { width } => byteplane::read_body(src, usize::from(width), h.block_size, |b| check.write(b)).map_err(|e| match e {
            ReadError::Io(e) => DecodeError::Read(e),
            ReadError::Corrupt(why) => DecodeError::Corrupt(why),
        }),
    };
    if let Some(e) = check.write_error.take() {
        return Err(DecodeError::Write(e));
    }
    result?;
    if check.written != h.original_size {
        return Err(DecodeError::Corrupt(format!("decodes to {} bytes, the header records {}", check.written, h.original_size)));
    }
    let crc = check.crc.finalize();
    if crc != h.original_crc64nvme {
        let detail = format!("CRC64NVME of the decoded bytes is {}, the header records {}", super::crc64_base64(crc), super::crc64_base64(h.original_crc64nvme));
        return Err(DecodeError::Corrupt(detail));
    }
    Ok(Decoded::Verified(h))
}

/// The zstd stream after the header, however many frames it has.
fn copy_zstd(src: &mut impl Read, check: &mut Checked<'_, impl Write>) -> Result<(), DecodeError> {
    let mut dec = zstd::stream::read::Decoder::new(src).map_err(DecodeError::Read)?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = match dec.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(DecodeError::Corrupt(format!("zstd: {e}"))),
        };
        if check.write(&buf[..n]).is_err() {
            return Ok(()); // the caller reports `write_error`
        }
    }
}

/// The output side: hashes and counts what is written, refuses to write past the recorded
/// size (a hostile stream cannot fill the disk), keeps the first write error apart from
/// decode errors.
struct Checked<'a, W: Write> {
    out: &'a mut W,
    crc: crc_fast::Digest,
    written: u64,
    limit: u64,
    write_error: Option<std::io::Error>,
}

impl<W: Write> Checked<'_, W> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<()> {
        self.written += b.len() as u64;
        if self.written > self.limit {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "decodes to more bytes than the header records"));
        }
        self.crc.update(b);
        self.out.write_all(b).map_err(|e| {
            let shown = std::io::Error::new(e.kind(), e.to_string());
            self.write_error.get_or_insert(e);
            shown
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::encode::encode_file;
    use super::*;
    use std::io::{Seek, SeekFrom};

    fn bf16_like(n: usize) -> Vec<u8> {
        // Exponent bytes from a narrow range, mantissa bytes noisy: what bf16 weights look like.
        let mut rng = fastrand::Rng::with_seed(7);
        (0..n).flat_map(|_| [rng.u8(..), 0x3c + rng.u8(..4)]).collect()
    }

    fn crc_of(data: &[u8]) -> u64 {
        let mut d = crate::codec::crc64();
        d.update(data);
        d.finalize()
    }

    fn round_trip(data: &[u8], codec: Codec) -> (Vec<u8>, Vec<u8>) {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("w.safetensors");
        std::fs::write(&src, data).unwrap();
        let mut out = tempfile::tempfile().unwrap();
        let e = encode_file(&src, &mut out, codec, 3.into()).unwrap();
        assert_eq!(e.original_size, data.len() as u64);
        out.seek(SeekFrom::Start(0)).unwrap();
        let mut compressed = Vec::new();
        out.read_to_end(&mut compressed).unwrap();
        assert_eq!(e.compressed_size, compressed.len() as u64);
        let mut back = Vec::new();
        assert!(matches!(decode(&mut compressed.as_slice(), &mut back).unwrap(), Decoded::Verified(_)));
        (compressed, back)
    }

    #[test]
    fn every_codec_round_trips_byte_identical() {
        let data = bf16_like(3 << 20); // 6 MiB: two byte-plane blocks
        for codec in [Codec::Zstd, Codec::BytePlane { width: 2 }, Codec::BytePlane { width: 4 }] {
            let (_, back) = round_trip(&data, codec);
            assert!(back == data, "{codec:?}");
            let (_, back) = round_trip(&data[..5], codec);
            assert_eq!(back, &data[..5]);
        }
    }

    #[test]
    fn a_stream_written_front_to_back_is_the_staged_file_byte_for_byte() {
        // 9 MiB: three byte-plane blocks, encoded in parallel and written in order.
        let data = bf16_like(9 << 19);
        let crc = crc_of(&data);
        for codec in [Codec::BytePlane { width: 2 }, Codec::Zstd] {
            let (staged, _) = round_trip(&data, codec);
            let mut streamed = Vec::new();
            let (read, again) = super::super::encode::encode_stream(&mut data.as_slice(), &mut streamed, codec, 3.into(), data.len() as u64, crc).unwrap();
            assert_eq!((read, again), (data.len() as u64, crc));
            if codec != Codec::Zstd {
                assert!(streamed == staged, "{codec:?}: same bytes as the staged file");
            }
            let mut back = Vec::new();
            assert!(matches!(decode(&mut streamed.as_slice(), &mut back).unwrap(), Decoded::Verified(_)));
            assert!(back == data);
            // A stream that announced another CRC does not verify.
            let mut wrong = Vec::new();
            super::super::encode::encode_stream(&mut data.as_slice(), &mut wrong, codec, 3.into(), data.len() as u64, crc ^ 1).unwrap();
            assert!(matches!(decode(&mut wrong.as_slice(), &mut Vec::new()), Err(DecodeError::Corrupt(m)) if m.contains("CRC64NVME")));
        }
    }

    #[test]
    fn blocks_stored_fast_mid_stream_decode_byte_identical_in_both_codecs() {
        // 20 MiB: five byte-plane blocks and five zstd chunks, every other one at the fast
        // level (`--compress auto` keeping up with a fast link), the level switched mid-frame.
        let data = bf16_like(5 << 20);
        let crc = crc_of(&data);
        for codec in [Codec::BytePlane { width: 2 }, Codec::Zstd] {
            let pace = crate::codec::pace::Pace::adaptive(Default::default(), 0.5);
            let mut out = Vec::new();
            let (read, again) = super::super::encode::encode_paced(&mut data.as_slice(), &mut out, codec, 1.into(), data.len() as u64, crc, &pace).unwrap();
            assert_eq!((read, again), (data.len() as u64, crc));
            let r = pace.report();
            assert!(r.fast_blocks >= 2 && r.fast_blocks < r.blocks, "{codec:?}: {r:?}");
            let all = {
                let mut v = Vec::new();
                super::super::encode::encode_stream(&mut data.as_slice(), &mut v, codec, 1.into(), data.len() as u64, crc).unwrap();
                v
            };
            assert!(out.len() > all.len(), "{codec:?}: fast blocks are stored larger ({} vs {})", out.len(), all.len());
            let mut back = Vec::new();
            assert!(matches!(decode(&mut out.as_slice(), &mut back).unwrap(), Decoded::Verified(_)), "{codec:?}");
            assert!(back == data, "{codec:?}");
        }
    }

    #[test]
    fn byte_planes_beat_plain_zstd_on_bf16_like_bytes() {
        let data = bf16_like(1 << 20);
        let (plain, _) = round_trip(&data, Codec::Zstd);
        let (planes, _) = round_trip(&data, Codec::BytePlane { width: 2 });
        assert!(planes.len() < plain.len(), "{} vs {}", planes.len(), plain.len());
    }

    #[test]
    fn a_flipped_byte_or_a_truncation_is_corrupt_and_foreign_zstd_is_not_ours() {
        let data = bf16_like(100_000);
        for codec in [Codec::Zstd, Codec::BytePlane { width: 2 }] {
            let (compressed, _) = round_trip(&data, codec);
            let mut flipped = compressed.clone();
            let at = flipped.len() / 2;
            flipped[at] ^= 0x55;
            assert!(matches!(decode(&mut flipped.as_slice(), &mut Vec::new()), Err(DecodeError::Corrupt(_))), "{codec:?} flipped");
            let cut = &compressed[..compressed.len() - 10];
            assert!(matches!(decode(&mut &cut[..], &mut Vec::new()), Err(DecodeError::Corrupt(_))), "{codec:?} cut");
            // The CRC in the header guards what the frames' own checks would miss.
            let mut wrong_crc = compressed.clone();
            wrong_crc[35] ^= 1;
            assert!(matches!(decode(&mut wrong_crc.as_slice(), &mut Vec::new()), Err(DecodeError::Corrupt(m)) if m.contains("CRC64NVME")));
        }
        let foreign = zstd::bulk::compress(b"someone else's file", 3).unwrap();
        let mut out = Vec::new();
        assert_eq!(decode(&mut foreign.as_slice(), &mut out).unwrap(), Decoded::NotOurs);
        assert!(out.is_empty());
    }
}
