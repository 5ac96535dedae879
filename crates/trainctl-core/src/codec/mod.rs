//! Compression of uploaded files (`--compress zstd[:LEVEL]|auto`) and its undoing on download.
//!
//! A file-level codec: no S3 here. `transfer::compress` stages compressed copies for an upload
//! and decodes downloads through it; `checkpoint::detect` reads a compressed file's name as the
//! original's through [`original_name`].
//!
//! **Names.** A compressed object never sits under the original name: plain zstd is stored as
//! `NAME.zst` (a standard zstd stream: `zstd -d NAME.zst` gives the original bytes), the
//! byte-plane container as `NAME.tcz` (trainctl's own format; `zstd -d` refuses it rather than
//! producing planar bytes under the original name).
//!
//! **Self-describing.** Both start with a zstd *skippable frame* holding trainctl's header
//! ([`header`]): codec, element width, original size and the original's CRC64NVME (the checksum
//! uploads store by default, so it equals the `x-amz-checksum-crc64nvme` a plain upload of the
//! file would have). The zstd CLI skips that frame. The same facts are object metadata
//! (`x-amz-meta-trainctl-*`, [`Encoded::metadata`]) for other tools and for HEAD; downloads trust
//! the header, so an object whose metadata another tool stripped still decodes and verifies.
//! A `.zst` without the header (someone else's zstd file) is left as it is.

pub mod byteplane;
pub mod decode;
pub mod encode;
pub mod header;
pub mod pace;
pub mod probe;
pub mod stream;

use serde::Serialize;

/// Suffix of plain-zstd objects.
pub const ZSTD_SUFFIX: &str = ".zst";
/// Suffix of byte-plane containers.
pub const BYTEPLANE_SUFFIX: &str = ".tcz";

/// Object metadata keys (sent as `x-amz-meta-…`).
pub const META_CODEC: &str = "trainctl-codec";
pub const META_ORIGINAL_SIZE: &str = "trainctl-original-size";
pub const META_ORIGINAL_CRC64NVME: &str = "trainctl-original-crc64nvme";

/// Default zstd level of `--compress zstd`.
pub const DEFAULT_LEVEL: i32 = 3;
/// The zstd level of `--compress auto` (probe and upload): on bf16/fp32 weights level 1 is about
/// twice as fast as 3 and as small (plain zstd) or smaller (byte planes), and on the rest within
/// 2% (`docs/benchmarks.md`, "Compression") — and an upload with compression on is only as fast
/// as the compressor.
pub const AUTO_LEVEL: i32 = 1;
/// Highest level accepted: above it zstd gets very slow for checkpoint-sized files and the
/// `--ultra` levels need windows too large for constant memory.
pub const MAX_LEVEL: i32 = 19;

/// What the user asked for with `--compress`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "mode", rename_all = "lowercase")]
pub enum Compress {
    /// Every file (but text metadata, see [`stays_plain`]) as plain zstd at this level.
    Zstd { level: i32 },
    /// Each file of at least [`probe::AUTO_MIN_SIZE`] probed: compressed only when a sample
    /// shrinks by [`probe::AUTO_MIN_SAVING`], byte-plane split when that measurably wins; at
    /// [`AUTO_LEVEL`].
    Auto,
}

impl Compress {
    /// Parses `zstd`, `zstd:LEVEL` (1..=19) or `auto`.
    pub fn parse(s: &str) -> Option<Compress> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Some(Compress::Auto),
            "zstd" => Some(Compress::Zstd { level: DEFAULT_LEVEL }),
            other => {
                let level: i32 = other.strip_prefix("zstd:")?.parse().ok()?;
                (1..=MAX_LEVEL).contains(&level).then_some(Compress::Zstd { level })
            }
        }
    }

    /// The zstd level used.
    pub fn level(self) -> i32 {
        match self {
            Compress::Zstd { level } => level,
            Compress::Auto => AUTO_LEVEL,
        }
    }
}

/// How hard the encoder works on one file: the zstd level, and for byte planes the planes
/// that are only entropy-coded ([`byteplane::Setting::Entropy`]: zstd's fastest match search
/// with Huffman-coded literals — on the exponent plane of weights smaller than level 1 and about
/// 3.5× as fast, `docs/benchmarks.md`). `--compress auto` chooses the planes by its probe;
/// `zstd:N` is level N throughout. Either way each plane is a standard zstd frame: readers
/// need no change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Effort {
    pub level: i32,
    /// Bit k set: plane k entropy-coded only.
    pub entropy_planes: u8,
}

impl Effort {
    /// Every plane (or the stream) at `level`.
    pub fn level(level: i32) -> Effort {
        Effort { level, entropy_planes: 0 }
    }

    /// How plane `k` of a block is compressed.
    pub fn plane(self, k: usize) -> byteplane::Setting {
        if k < 8 && self.entropy_planes & (1 << k) != 0 {
            byteplane::Setting::Entropy
        } else {
            byteplane::Setting::Level(self.level)
        }
    }
}

impl From<i32> for Effort {
    fn from(level: i32) -> Effort {
        Effort::level(level)
    }
}

/// How one file is stored.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "codec", rename_all = "snake_case")]
pub enum Codec {
    /// One zstd stream.
    Zstd,
    /// Elements of `width` bytes (2: bf16/fp16, 4: fp32) split into `width` byte planes,
    /// each compressed with zstd, block by block ([`byteplane`]).
    BytePlane { width: u8 },
}

impl Codec {
    /// The suffix its objects get.
    pub fn suffix(self) -> &'static str {
        match self {
            Codec::Zstd => ZSTD_SUFFIX,
            Codec::BytePlane { .. } => BYTEPLANE_SUFFIX,
        }
    }

    /// The name in metadata and messages: `zstd`, `zstd-byteplane-2`, `zstd-byteplane-4`.
    pub fn name(self) -> String {
        match self {
            Codec::Zstd => "zstd".into(),
            Codec::BytePlane { width } => format!("zstd-byteplane-{width}"),
        }
    }
}

/// The name a compressed object's file had (`model.safetensors.zst` → `model.safetensors`), or
/// `None` when the name has no codec suffix (or nothing before it).
pub fn original_name(name: &str) -> Option<&str> {
    [ZSTD_SUFFIX, BYTEPLANE_SUFFIX].iter().find_map(|s| name.strip_suffix(s)).filter(|n| !n.is_empty() && !n.ends_with('/'))
}

/// The name as detection should read it: the original's for a compressed name, else itself.
pub fn logical_name(name: &str) -> &str {
    original_name(name).unwrap_or(name)
}

/// Files never compressed: empty ones, names already ending in a codec suffix, and text
/// metadata (`.json`, `.txt`, `.csv`, `.yaml`, `.md`, …, and names without an extension such as
/// DeepSpeed's `latest` or a `_SUCCESS` marker). Those are what trainers, checkpoint detection
/// and completion checks read by name — `trainer_state.json`, shard indexes, pointers — so they
/// stay readable by every tool, and they are small enough that compressing them saves nothing.
pub fn stays_plain(name: &str, size: u64) -> bool {
    const TEXT: &[&str] = &["json", "txt", "csv", "yaml", "yml", "md", "toml", "log", "jsonl", "py", "sh", "cfg", "ini"];
    let file = name.rsplit('/').next().unwrap_or(name);
    let ext = file.rsplit_once('.').map(|(stem, e)| if stem.is_empty() { "" } else { e }).unwrap_or("");
    size == 0 || original_name(file).is_some() || ext.is_empty() || TEXT.contains(&ext.to_ascii_lowercase().as_str())
}

/// What encoding one file produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Encoded {
    pub codec: Codec,
    pub original_size: u64,
    /// CRC64NVME of the original bytes.
    pub original_crc64nvme: u64,
    pub compressed_size: u64,
}

impl Encoded {
    /// The object metadata recorded with the upload.
    pub fn metadata(&self) -> std::collections::HashMap<String, String> {
        [
            (META_CODEC, self.codec.name()),
            (META_ORIGINAL_SIZE, self.original_size.to_string()),
            (META_ORIGINAL_CRC64NVME, crc64_base64(self.original_crc64nvme)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }
}

/// A CRC64NVME as S3 shows it (`x-amz-checksum-crc64nvme`): base64 of the big-endian bytes.
pub fn crc64_base64(crc: u64) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(crc.to_be_bytes())
}

/// The inverse of [`crc64_base64`]: `None` for anything but base64 of exactly 8 bytes.
pub fn crc64_of_base64(s: &str) -> Option<u64> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD.decode(s.trim()).ok()?;
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}

/// A running CRC64NVME (the algorithm uploads store by default).
pub(crate) fn crc64() -> crc_fast::Digest {
    crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc64Nvme)
}

/// Threads zstd may use for one stream: every core (the work is one file at a time).
pub(crate) fn zstd_workers() -> u32 {
    std::thread::available_parallelism().map_or(1, |n| n.get() as u32).min(16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_values_parse_and_levels_are_capped() {
        assert_eq!(Compress::parse("auto"), Some(Compress::Auto));
        assert_eq!(Compress::parse("zstd"), Some(Compress::Zstd { level: 3 }));
        assert_eq!(Compress::parse("ZSTD:7"), Some(Compress::Zstd { level: 7 }));
        for bad in ["zstd:0", "zstd:20", "zstd:-1", "zstd:", "gzip", "zstd:x", ""] {
            assert_eq!(Compress::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn compressed_names_read_as_the_original() {
        assert_eq!(original_name("a/model.safetensors.zst"), Some("a/model.safetensors"));
        assert_eq!(original_name("w.bin.tcz"), Some("w.bin"));
        assert_eq!(original_name(".zst"), None);
        assert_eq!(original_name("a/.zst"), None);
        assert_eq!(original_name("model.safetensors"), None);
        assert_eq!(logical_name("x.pt.zst"), "x.pt");
    }

    #[test]
    fn text_metadata_and_markers_stay_plain() {
        for name in ["trainer_state.json", "c/model.safetensors.index.json", "latest", "_SUCCESS", "metrics.csv", ".metadata", "x.zst"] {
            assert!(stays_plain(name, 10), "{name}");
        }
        assert!(stays_plain("model.safetensors", 0));
        for name in ["model.safetensors", "optimizer.pt", "rng_state.pth", "__0_0.distcp", "last.ckpt"] {
            assert!(!stays_plain(name, 10), "{name}");
        }
    }

    #[test]
    fn metadata_carries_codec_size_and_crc() {
        let e = Encoded { codec: Codec::BytePlane { width: 2 }, original_size: 5, original_crc64nvme: 1, compressed_size: 3 };
        let m = e.metadata();
        assert_eq!(m[META_CODEC], "zstd-byteplane-2");
        assert_eq!(m[META_ORIGINAL_SIZE], "5");
        assert_eq!(m[META_ORIGINAL_CRC64NVME], "AAAAAAAAAAE=");
    }
}
