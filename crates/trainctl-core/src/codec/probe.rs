//! `--compress auto`: decide per file from a sample whether compression pays, and whether the
//! byte-plane split beats plain zstd on it.
//!
//! Up to [`SAMPLES`] slices of [`SAMPLE`] bytes spread evenly through the file (aligned to 64
//! bytes, so tensor elements stay aligned as they are in the file; the middle of a safetensors
//! file, not its JSON header) are compressed the ways the file could be stored; the smallest
//! wins if it saves at least [`AUTO_MIN_SAVING`]. Byte planes are tried only on tensor files
//! ([`is_tensor_file`]) and must beat plain zstd by [`PLANES_MIN_GAIN`] — a measured win, not a
//! guess from the extension.

use super::{byteplane, Codec, Effort};
use crate::error::{Error, Result};
use serde::Serialize;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// Files smaller than this are left plain by `auto` (nothing worth the request overhead).
pub const AUTO_MIN_SIZE: u64 = 1 << 20;
/// The smallest saving (fraction of the original) for which `auto` compresses.
pub const AUTO_MIN_SAVING: f64 = 0.05;
/// How much smaller than plain zstd the byte-plane sample must be to be chosen.
pub const PLANES_MIN_GAIN: f64 = 0.02;
/// A byte plane is entropy-coded only ([`byteplane::Setting::Entropy`], several times faster)
/// unless the level compresses its sample smaller by more than this share of the plane.
pub const ENTROPY_MAX_LOSS: f64 = 0.02;
/// Bytes per sample slice.
pub const SAMPLE: usize = 1 << 20;
/// Sample slices per file at most.
pub const SAMPLES: u64 = 4;

/// Extensions of files that hold tensors (safetensors, torch pickles and zips, DCP shards, …).
pub fn is_tensor_file(name: &str) -> bool {
    const TENSOR: &[&str] = &["safetensors", "pt", "pth", "bin", "ckpt", "distcp", "npy", "h5", "msgpack", "gguf"];
    name.rsplit_once('.').is_some_and(|(_, ext)| TENSOR.contains(&ext.to_ascii_lowercase().as_str()))
}

/// What the sample of one file measured (sizes relative to the sample: 0.8 saves 20%).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Probe {
    /// The codec chosen, `None` to leave the file plain.
    pub codec: Option<Codec>,
    pub zstd_ratio: f64,
    /// Best byte-plane width and its ratio (tensor files only).
    pub planes: Option<(u8, f64)>,
    /// The planes of that width to entropy-code only (bit k: plane k; see [`Effort`]).
    pub entropy_planes: u8,
}

impl Probe {
    /// How the chosen codec compresses at `level`: the planes the sample showed are best
    /// entropy-coded only, the others at `level`.
    pub fn effort(&self, level: i32) -> Effort {
        match self.codec {
            Some(Codec::BytePlane { .. }) => Effort { level, entropy_planes: self.entropy_planes },
            _ => Effort::level(level),
        }
    }

    /// The ratio of the choice (1.0 when left plain).
    pub fn chosen_ratio(&self) -> f64 {
        match (self.codec, self.planes) {
            (Some(Codec::BytePlane { .. }), Some((_, r))) => r,
            (Some(Codec::Zstd), _) => self.zstd_ratio,
            _ => 1.0,
        }
    }
}

/// Probes `path` (of `size` bytes) at zstd `level`.
pub fn probe(path: &Path, size: u64, level: i32) -> Result<Probe> {
    let samples = read_samples(path, size).map_err(|e| Error::io(path, e))?;
    let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    Ok(probe_samples(&name, &samples, level))
}

/// Probes the sample slices of a file named `name` (read at [`sample_offsets`], from a disk or
/// by ranged GETs of an object: the Dashboard measures what compressing stored objects saves).
pub fn probe_samples(name: &str, samples: &[Vec<u8>], level: i32) -> Probe {
    let total: usize = samples.iter().map(Vec::len).sum::<usize>().max(1);
    let zstd: usize = samples.iter().map(|s| zstd::bulk::compress(s, level).map_or(s.len(), |c| c.len())).sum();
    let zstd_ratio = zstd as f64 / total as f64;
    let best = is_tensor_file(name)
        .then(|| [2u8, 4].map(|w| planes_size(samples, w, level).map(|(size, entropy)| (w, size as f64 / total as f64, entropy))))
        .into_iter()
        .flatten()
        .flatten()
        .min_by(|a, b| a.1.total_cmp(&b.1));
    let planes = best.map(|(w, r, _)| (w, r));
    let codec = match planes {
        Some((width, r)) if r <= zstd_ratio * (1.0 - PLANES_MIN_GAIN) && r <= 1.0 - AUTO_MIN_SAVING => Some(Codec::BytePlane { width }),
        _ if zstd_ratio <= 1.0 - AUTO_MIN_SAVING => Some(Codec::Zstd),
        _ => None,
    };
    Probe { codec, zstd_ratio, planes, entropy_planes: best.map_or(0, |b| b.2) }
}

/// Where the sample slices of a file of `size` bytes start: the whole file when it is small,
/// else [`SAMPLES`] slices of [`SAMPLE`] bytes spread evenly (64-byte aligned).
pub fn sample_offsets(size: u64) -> Vec<u64> {
    let n = size.div_ceil(SAMPLE as u64).clamp(1, SAMPLES);
    (0..n).map(|i| if size <= SAMPLE as u64 * SAMPLES { i * SAMPLE as u64 } else { ((size - SAMPLE as u64) * (2 * i + 1) / (2 * n)) & !63 }).collect()
}

/// Compressed size of the samples as byte-plane blocks of `width`, each plane entropy-coded
/// only or at `level` — the first unless the level saves more than [`ENTROPY_MAX_LOSS`] of the
/// plane — with the planes entropy-coded (bit k: plane k). `None` if zstd fails.
fn planes_size(samples: &[Vec<u8>], width: u8, level: i32) -> Option<(usize, u8)> {
    let width = usize::from(width);
    let mut enc = byteplane::BlockEncoder::default();
    let mut planes = vec![Vec::new(); width];
    // Per plane: raw, entropy-coded and level-coded bytes over all samples.
    let mut sizes = vec![(0usize, 0usize, 0usize); width];
    for s in samples {
        byteplane::split(s, width, &mut planes);
        for (p, size) in planes.iter().zip(sizes.iter_mut()) {
            size.0 += p.len();
            size.1 += enc.frame(p, byteplane::Setting::Entropy).ok()?.len();
            size.2 += enc.frame(p, byteplane::Setting::Level(level)).ok()?.len();
        }
    }
    let mut entropy = 0u8;
    let mut total = samples.len() * 4 * (width + 1);
    for (k, &(raw, by_entropy, by_level)) in sizes.iter().enumerate() {
        if by_entropy as f64 <= by_level as f64 + raw as f64 * ENTROPY_MAX_LOSS {
            entropy |= 1 << k;
            total += by_entropy;
        } else {
            total += by_level;
        }
    }
    Some((total, entropy))
}

/// The sample slices at [`sample_offsets`].
fn read_samples(path: &Path, size: u64) -> std::io::Result<Vec<Vec<u8>>> {
    let mut f = std::fs::File::open(path)?;
    let mut out = Vec::new();
    for offset in sample_offsets(size) {
        f.seek(SeekFrom::Start(offset))?;
        let mut buf = Vec::with_capacity(SAMPLE);
        (&mut f).take(SAMPLE as u64).read_to_end(&mut buf)?;
        if !buf.is_empty() {
            out.push(buf);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_bytes_stay_plain_and_bf16_like_bytes_get_planes() {
        let dir = tempfile::tempdir().unwrap();
        let random = dir.path().join("noise.bin");
        let mut rng = fastrand::Rng::with_seed(1);
        std::fs::write(&random, (0..3 << 20).map(|_| rng.u8(..)).collect::<Vec<u8>>()).unwrap();
        let p = probe(&random, 3 << 20, 3).unwrap();
        assert_eq!(p.codec, None, "{p:?}");

        let weights = dir.path().join("model.safetensors");
        std::fs::write(&weights, (0..3 << 19).flat_map(|_| [rng.u8(..), 0x3c + rng.u8(..4)]).collect::<Vec<u8>>()).unwrap();
        let p = probe(&weights, 3 << 20, 1).unwrap();
        assert_eq!(p.codec, Some(Codec::BytePlane { width: 2 }), "{p:?}");
        // The exponent plane (a few symbols, no repeats worth matching) is entropy-coded.
        assert_ne!(p.entropy_planes & 0b10, 0, "{p:?}");
        assert_eq!(p.effort(1), Effort { level: 1, entropy_planes: p.entropy_planes });

        // Planes with long repeats (a ramp of fp32 counters, the high bytes constant) are
        // left to the level's match search.
        let ramp = dir.path().join("steps.pt");
        std::fs::write(&ramp, (0..3u32 << 18).flat_map(|i| (i % 4096).to_le_bytes()).collect::<Vec<u8>>()).unwrap();
        let p = probe(&ramp, 3 << 20, 1).unwrap();
        assert!(matches!(p.codec, Some(Codec::BytePlane { .. })), "{p:?}");
        assert_eq!(p.entropy_planes & 0b1, 0, "{p:?}");

        let text_like = dir.path().join("events.dat");
        std::fs::write(&text_like, b"loss=0.1 step=2\n".repeat(200_000)).unwrap();
        let p = probe(&text_like, 3_200_000, 3).unwrap();
        assert_eq!(p.codec, Some(Codec::Zstd), "{p:?}");
    }

    #[test]
    fn tensor_files_are_known_by_extension() {
        assert!(is_tensor_file("model.safetensors"));
        assert!(is_tensor_file("optimizer.PT"));
        assert!(!is_tensor_file("notes.txt"));
        assert!(!is_tensor_file("safetensors"));
    }
}
