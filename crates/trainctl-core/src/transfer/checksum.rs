//! Checksums of objects, computed piece by piece so that verification never needs a second
//! read of what was just written.
//!
//! Two families, both built here:
//!
//! - **stored checksums** (`x-amz-checksum-*`): CRC64NVME, CRC32C, CRC32 or SHA-256 kept by the
//!   store next to the object, either of the whole object (`FULL_OBJECT`) or of its parts
//!   (`COMPOSITE`: the checksum of the concatenated part checksums, shown as `<base64>-N`). The
//!   CRCs run at several GB/s per core (SIMD, `crc-fast`) — an order of magnitude cheaper than
//!   MD5 — and a full-object CRC can be computed from ranges fetched in any order and
//!   **combined** (`crc_fast::checksum_combine`), so parallel ranged downloads hash in flight;
//! - **ETags**: the plain MD5 of a single PUT, or the multipart ETag
//!   `md5(concat(md5(part_i)))-N`, the fallback for objects without a stored checksum.
//!
//! A [`Recipe`] says how an object's bytes must be cut and what the pieces add up to; a
//! [`PieceHasher`] hashes one contiguous run of bytes (a ranged GET, a whole GET, a slice of a
//! file) into [`Piece`]s; [`Recipe::assemble`] turns the pieces of the whole object into the
//! final value. The rules per kind:
//!
//! | kind | pieces | assembled by |
//! |---|---|---|
//! | full-object CRC | any contiguous runs | combining the CRCs in order |
//! | composite checksum / multipart ETag | exactly the parts | hashing the concatenated part digests |
//! | plain MD5, full-object SHA-256 | one run from byte 0 | nothing (the one digest) |

use base64::Engine as _;
use md5::{Digest as _, Md5};
use sha2::Sha256;

/// A hash function trainctl can compute over object bytes.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    Crc64Nvme,
    Crc32c,
    Crc32,
    Sha256,
    /// MD5: only for ETags (S3 keeps no `x-amz-checksum-md5`).
    Md5,
}

impl Algorithm {
    /// The stored-checksum algorithms, cheapest to verify first: when an object carries several,
    /// the first one found is used.
    pub const STORED: [Algorithm; 4] = [Algorithm::Crc64Nvme, Algorithm::Crc32c, Algorithm::Crc32, Algorithm::Sha256];

    /// The name S3 uses (`CRC64NVME`, …; `MD5` for ETags), also shown to the user.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Crc64Nvme => "CRC64NVME",
            Algorithm::Crc32c => "CRC32C",
            Algorithm::Crc32 => "CRC32",
            Algorithm::Sha256 => "SHA256",
            Algorithm::Md5 => "MD5",
        }
    }

    /// Parses `crc64nvme`, `CRC32C`, `sha256`, … (case-insensitive; `-` and `_` ignored).
    pub fn parse(s: &str) -> Option<Algorithm> {
        let norm: String = s.chars().filter(|c| !matches!(c, '-' | '_')).collect::<String>().to_ascii_lowercase();
        match norm.as_str() {
            "crc64nvme" => Some(Algorithm::Crc64Nvme),
            "crc32c" => Some(Algorithm::Crc32c),
            "crc32" => Some(Algorithm::Crc32),
            "sha256" => Some(Algorithm::Sha256),
            "md5" => Some(Algorithm::Md5),
            _ => None,
        }
    }

    /// Length of one digest in bytes.
    pub fn digest_len(self) -> usize {
        match self {
            Algorithm::Crc64Nvme => 8,
            Algorithm::Crc32c | Algorithm::Crc32 => 4,
            Algorithm::Sha256 => 32,
            Algorithm::Md5 => 16,
        }
    }

    /// The CRC behind it, for CRCs.
    fn crc(self) -> Option<crc_fast::CrcAlgorithm> {
        match self {
            Algorithm::Crc64Nvme => Some(crc_fast::CrcAlgorithm::Crc64Nvme),
            Algorithm::Crc32c => Some(crc_fast::CrcAlgorithm::Crc32Iscsi),
            Algorithm::Crc32 => Some(crc_fast::CrcAlgorithm::Crc32IsoHdlc),
            Algorithm::Sha256 | Algorithm::Md5 => None,
        }
    }

    /// Whether hashing costs about what reading the bytes costs (the CRCs: many GB/s with
    /// carry-less multiplication), so that it can run wherever the bytes are, even on the task
    /// receiving them.
    pub fn is_cheap(self) -> bool {
        self.crc().is_some()
    }

    /// Whether pieces of the whole object can be hashed separately and combined.
    pub fn combinable(self) -> bool {
        self.crc().is_some()
    }

    /// The digest of `data` in one call.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        let mut d = Digest::new(self);
        d.update(data);
        d.finish()
    }
}

impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A running hash of one algorithm.
#[derive(Clone)]
pub enum Digest {
    Crc(crc_fast::Digest, Algorithm),
    Sha256(Sha256),
    Md5(Md5),
}

impl Digest {
    pub fn new(algorithm: Algorithm) -> Digest {
        match algorithm.crc() {
            Some(crc) => Digest::Crc(crc_fast::Digest::new(crc), algorithm),
            None if algorithm == Algorithm::Sha256 => Digest::Sha256(Sha256::new()),
            None => Digest::Md5(Md5::new()),
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        match self {
            Digest::Crc(d, _) => d.update(data),
            Digest::Sha256(d) => d.update(data),
            Digest::Md5(d) => d.update(data),
        }
    }

    /// The digest as S3 encodes it before base64: big-endian for CRCs.
    pub fn finish(self) -> Vec<u8> {
        match self {
            Digest::Crc(d, a) => crc_bytes(a, d.finalize()),
            Digest::Sha256(d) => d.finalize().to_vec(),
            Digest::Md5(d) => d.finalize().to_vec(),
        }
    }
}

fn crc_bytes(a: Algorithm, crc: u64) -> Vec<u8> {
    if a.digest_len() == 8 {
        crc.to_be_bytes().to_vec()
    } else {
        (crc as u32).to_be_bytes().to_vec()
    }
}

fn crc_value(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
}

/// How an object's bytes are cut for hashing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// One run from byte 0 to the end (plain MD5, full-object SHA-256).
    Whole,
    /// Any contiguous runs, combined afterwards (full-object CRCs).
    Any,
    /// Exactly the object's parts of this size (the last one shorter): composite checksums
    /// and multipart ETags.
    Parts(u64),
}

/// What to compute over an object: an algorithm and how its bytes are cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recipe {
    pub algorithm: Algorithm,
    pub cut: Cut,
}

/// The digest of one contiguous run of an object's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    pub start: u64,
    pub len: u64,
    pub digest: Vec<u8>,
}

impl Recipe {
    /// Whether a run starting at `start` can be hashed on its own: always for combinable or
    /// part-cut recipes (a part-cut run must start on a part boundary), only from byte 0
    /// otherwise.
    pub fn can_start_at(&self, start: u64) -> bool {
        match self.cut {
            Cut::Whole => start == 0,
            Cut::Any => true,
            Cut::Parts(p) => start.is_multiple_of(p.max(1)),
        }
    }

    /// A hasher for the run of bytes that starts at `start`.
    pub fn hasher(&self, start: u64) -> PieceHasher {
        PieceHasher { recipe: *self, start, filled: 0, current: Digest::new(self.algorithm), done: Vec::new() }
    }

    /// The value of an object of `size` bytes from its pieces (in any order). `None` when the
    /// pieces do not cover `0..size` exactly as this recipe needs (a gap, an overlap, a part
    /// boundary missed) — the caller then hashes the file instead.
    pub fn assemble(&self, mut pieces: Vec<Piece>, size: u64) -> Option<Vec<u8>> {
        pieces.retain(|p| p.len > 0 || size == 0);
        pieces.sort_by_key(|p| p.start);
        let mut at = 0u64;
        for p in &pieces {
            if p.start != at {
                return None;
            }
            at += p.len;
        }
        if at != size {
            return None;
        }
        if pieces.is_empty() {
            pieces.push(Piece { start: 0, len: 0, digest: Digest::new(self.algorithm).finish() });
        }
        match self.cut {
            Cut::Whole => (pieces.len() == 1).then(|| pieces.remove(0).digest),
            Cut::Any => {
                let crc = self.algorithm.crc()?;
                let first = crc_value(&pieces[0].digest);
                let combined = pieces[1..].iter().fold(first, |acc, p| crc_fast::checksum_combine(crc, acc, crc_value(&p.digest), p.len));
                Some(crc_bytes(self.algorithm, combined))
            }
            Cut::Parts(part) => {
                let parts_ok = pieces.iter().all(|p| p.start % part == 0 && (p.len == part || p.start + p.len == size));
                if !parts_ok {
                    return None;
                }
                let concat: Vec<u8> = pieces.iter().flat_map(|p| p.digest.iter().copied()).collect();
                Some(self.algorithm.digest(&concat))
            }
        }
    }
}

/// Hashes one contiguous run of bytes fed in order, cutting at part boundaries for
/// [`Cut::Parts`] recipes.
#[derive(Clone)]
pub struct PieceHasher {
    recipe: Recipe,
    /// Object offset of the current piece's first byte.
    start: u64,
    /// Bytes in the current piece.
    filled: u64,
    current: Digest,
    done: Vec<Piece>,
}

impl PieceHasher {
    pub fn update(&mut self, mut data: &[u8]) {
        let Cut::Parts(part) = self.recipe.cut else {
            self.current.update(data);
            self.filled += data.len() as u64;
            return;
        };
        while !data.is_empty() {
            let room = (part - (self.start + self.filled) % part) as usize;
            let take = room.min(data.len());
            self.current.update(&data[..take]);
            self.filled += take as u64;
            data = &data[take..];
            if (self.start + self.filled).is_multiple_of(part) {
                self.close();
            }
        }
    }

    fn close(&mut self) {
        let digest = std::mem::replace(&mut self.current, Digest::new(self.recipe.algorithm)).finish();
        self.done.push(Piece { start: self.start, len: self.filled, digest });
        self.start += self.filled;
        self.filled = 0;
    }

    /// The pieces of everything fed.
    pub fn finish(mut self) -> Vec<Piece> {
        if self.filled > 0 || self.done.is_empty() {
            self.close();
        }
        self.done
    }
}

/// A checksum stored with an object (`x-amz-checksum-*` of a `GetObject`/`HeadObject` asked
/// with `x-amz-checksum-mode: ENABLED`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub algorithm: Algorithm,
    /// The decoded value (big-endian CRC, or the SHA-256 digest).
    pub value: Vec<u8>,
    /// `None` for a full-object checksum; `Some(n)` for a composite one over `n` parts.
    pub composite_parts: Option<u64>,
}

impl Stored {
    /// The value as S3 shows it: base64, with `-N` for composite checksums.
    pub fn display(&self) -> String {
        display_value(&self.value, self.composite_parts)
    }
}

/// `base64[-N]`.
pub fn display_value(value: &[u8], composite_parts: Option<u64>) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(value);
    match composite_parts {
        Some(n) => format!("{b64}-{n}"),
        None => b64,
    }
}

/// The stored checksum among the `x-amz-checksum-*` values an answer carried, by
/// [`Algorithm::STORED`] preference. `Err(reason)` when one is present but cannot be used: a
/// value that does not decode to the algorithm's length (a store that computed something else
/// under that name) or a composite value without its part count.
pub fn stored_from_headers(values: &[(Algorithm, Option<&str>)], checksum_type: Option<&str>) -> Result<Option<Stored>, String> {
    let Some((algorithm, raw)) = Algorithm::STORED.iter().find_map(|a| values.iter().find(|(b, v)| b == a && v.is_some()).map(|(b, v)| (*b, v.unwrap_or_default()))) else {
        return Ok(None);
    };
    let (b64, parts) = match raw.trim().rsplit_once('-') {
        Some((v, n)) => (v, Some(n.parse::<u64>().map_err(|_| format!("the stored {algorithm} value {raw:?} is not base64[-N]"))?)),
        None => (raw.trim(), None),
    };
    let value = base64::engine::general_purpose::STANDARD.decode(b64).map_err(|_| format!("the stored {algorithm} value {raw:?} is not base64"))?;
    if value.len() != algorithm.digest_len() {
        return Err(format!("the stored {algorithm} value has {} bytes instead of {} (the store computed something else under that name)", value.len(), algorithm.digest_len()));
    }
    let composite = checksum_type.is_some_and(|t| t.eq_ignore_ascii_case("COMPOSITE"));
    match (parts, composite) {
        (Some(n), _) => Ok(Some(Stored { algorithm, value, composite_parts: Some(n) })),
        (None, true) => Err(format!("the stored {algorithm} checksum is composite but its part count is unknown")),
        (None, false) => Ok(Some(Stored { algorithm, value, composite_parts: None })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[test]
    fn known_values_match_what_s3_documents() {
        // The standard check values of each CRC ("123456789"), big-endian as S3 encodes them.
        assert_eq!(hex::encode(Algorithm::Crc32.digest(b"123456789")), "cbf43926");
        assert_eq!(hex::encode(Algorithm::Crc32c.digest(b"123456789")), "e3069283");
        assert_eq!(hex::encode(Algorithm::Crc64Nvme.digest(b"123456789")), "ae8b14860a799888");
        assert_eq!(hex::encode(Algorithm::Md5.digest(b"")), "d41d8cd98f00b204e9800998ecf8427e");
    }

    #[test]
    fn full_object_crcs_combine_from_ranges_in_any_order() {
        let d = data(1_000_003);
        for a in [Algorithm::Crc64Nvme, Algorithm::Crc32c, Algorithm::Crc32] {
            let recipe = Recipe { algorithm: a, cut: Cut::Any };
            let mut pieces = Vec::new();
            for (start, end) in [(600_000usize, 1_000_003usize), (0, 250_000), (250_000, 600_000)] {
                let mut h = recipe.hasher(start as u64);
                for chunk in d[start..end].chunks(65_537) {
                    h.update(chunk);
                }
                pieces.extend(h.finish());
            }
            assert_eq!(recipe.assemble(pieces, d.len() as u64).unwrap(), a.digest(&d), "{a}");
        }
    }

    #[test]
    fn part_cut_pieces_make_the_multipart_etag_and_composite_checksums() {
        let d = data(25);
        let mut concat_md5 = Vec::new();
        let mut concat_crc = Vec::new();
        for part in d.chunks(10) {
            concat_md5.extend(Algorithm::Md5.digest(part));
            concat_crc.extend(Algorithm::Crc32c.digest(part));
        }
        for (a, want) in [(Algorithm::Md5, Algorithm::Md5.digest(&concat_md5)), (Algorithm::Crc32c, Algorithm::Crc32c.digest(&concat_crc))] {
            let recipe = Recipe { algorithm: a, cut: Cut::Parts(10) };
            // One run fed in pieces that straddle part boundaries.
            let mut h = recipe.hasher(0);
            for piece in d.chunks(7) {
                h.update(piece);
            }
            assert_eq!(recipe.assemble(h.finish(), 25).unwrap(), want, "{a}");
            // Two runs on part boundaries.
            let (mut h1, mut h2) = (recipe.hasher(0), recipe.hasher(20));
            h1.update(&d[..20]);
            h2.update(&d[20..]);
            let pieces = [h1.finish(), h2.finish()].concat();
            assert_eq!(recipe.assemble(pieces, 25).unwrap(), want, "{a}");
        }
    }

    #[test]
    fn pieces_that_do_not_cover_the_object_assemble_to_nothing() {
        let recipe = Recipe { algorithm: Algorithm::Crc32, cut: Cut::Any };
        let mut h = recipe.hasher(0);
        h.update(&[1, 2, 3]);
        assert!(recipe.assemble(h.finish(), 4).is_none(), "a missing byte");
        let whole = Recipe { algorithm: Algorithm::Md5, cut: Cut::Whole };
        assert!(!whole.can_start_at(5));
        let (mut a, mut b) = (whole.hasher(0), whole.hasher(2));
        a.update(&[1, 2]);
        b.update(&[3]);
        assert!(whole.assemble([a.finish(), b.finish()].concat(), 3).is_none(), "MD5 does not combine");
        assert_eq!(whole.assemble(Vec::new(), 0).unwrap(), Algorithm::Md5.digest(b""), "an empty object");
    }

    #[test]
    fn stored_values_are_read_by_preference_and_checked_for_length() {
        let crc64 = display_value(&Algorithm::Crc64Nvme.digest(b"x"), None);
        let crc32 = display_value(&Algorithm::Crc32.digest(b"x"), None);
        let s = stored_from_headers(&[(Algorithm::Crc32, Some(&crc32)), (Algorithm::Crc64Nvme, Some(&crc64))], Some("FULL_OBJECT")).unwrap().unwrap();
        assert_eq!((s.algorithm, s.composite_parts), (Algorithm::Crc64Nvme, None));
        assert_eq!(s.display(), crc64);
        let composite = format!("{crc32}-3");
        let s = stored_from_headers(&[(Algorithm::Crc32, Some(&composite))], Some("COMPOSITE")).unwrap().unwrap();
        assert_eq!(s.composite_parts, Some(3));
        // A 4-byte value named CRC64NVME (moto without its optional CRC library).
        assert!(stored_from_headers(&[(Algorithm::Crc64Nvme, Some(&crc32))], None).is_err());
        assert!(stored_from_headers(&[(Algorithm::Crc32, Some(&crc32))], Some("COMPOSITE")).is_err());
        assert_eq!(stored_from_headers(&[(Algorithm::Crc32, None)], None).unwrap(), None);
    }

    #[test]
    fn algorithms_parse_from_flags_and_s3_names() {
        assert_eq!(Algorithm::parse("CRC64NVME"), Some(Algorithm::Crc64Nvme));
        assert_eq!(Algorithm::parse("crc-32c"), Some(Algorithm::Crc32c));
        assert_eq!(Algorithm::parse("sha_256"), Some(Algorithm::Sha256));
        assert_eq!(Algorithm::parse("sha1"), None);
    }
}
