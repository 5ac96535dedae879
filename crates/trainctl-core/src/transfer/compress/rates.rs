//! What uploads to an endpoint delivered, plain and compressed, remembered between jobs — so
//! `--compress auto` can send a file plain where compressing it would make the upload slower.
//!
//! A pipelined compressed upload takes max(compress time, send time of the smaller stream):
//! compression pays in time only where the link is slower than the encoder. On a link that is
//! faster (or a store that shares the client's cores) `auto` would trade upload time for stored
//! bytes. Each finished upload job whose bytes were nearly all plain, or nearly all compressed,
//! and large enough to measure a link rather than request latency (≥ 64 MiB, files of ≥ 8 MiB
//! on average), adds a sample — original
//! bytes per second of the whole job — to an exponentially weighted average per endpoint. When
//! both are known and the compressed average is the lower one, `auto` plans the next files
//! plain ([`LinkRates::decide`]) and says why (`--dry-run`, `--json`). Every
//! [`REPROBE_AFTER`] plain samples, or when the compressed average is older than
//! [`REPROBE_AGE_SECS`], one job compresses again to re-measure. `--compress zstd[:N]` always
//! compresses (and its jobs add compressed samples).
//!
//! Stored in the cache folder (`$XDG_CACHE_HOME/trainctl/link-rates.json`), not in the config:
//! rates only, no secrets; endpoints are named by a hash of their URL (or AWS region) and
//! profile, never by the URL itself. A missing, unreadable or damaged file is an empty memory;
//! failing to write it never fails an upload.

use serde::{Deserialize, Serialize};
use sha2::Digest;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The smallest job (original bytes) whose rate is remembered: smaller ones measure request
/// latency, not the link.
pub const MIN_SAMPLE_BYTES: u64 = 64 << 20;
/// The smallest mean file size of a job whose rate is remembered.
pub const MIN_SAMPLE_MEAN: u64 = 8 << 20;
/// A job counts as compressed (plain) when at least this share of its bytes was (was not).
pub const SAMPLE_SHARE: f64 = 0.9;
/// Weight of a new sample in the average.
pub const EWMA_WEIGHT: f64 = 0.4;
/// Plain samples after the last compressed one before `auto` compresses once more to re-measure.
pub const REPROBE_AFTER: u32 = 10;
/// Age of the compressed average after which `auto` compresses once more to re-measure.
pub const REPROBE_AGE_SECS: u64 = 7 * 24 * 3600;
/// Endpoints remembered at most (the least recently updated are forgotten).
const MAX_ENDPOINTS: usize = 64;
/// The file is read only if no larger than this (it is ours, but a cache is not trusted).
const MAX_FILE_BYTES: u64 = 256 << 10;
const FILE_NAME: &str = "link-rates.json";

/// One average: original bytes per second.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Rate {
    pub bytes_per_sec: f64,
    pub samples: u32,
    /// Unix seconds of the last sample.
    pub at: u64,
}

/// What one endpoint's uploads delivered.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Record {
    #[serde(default)]
    pub plain: Option<Rate>,
    #[serde(default)]
    pub compressed: Option<Rate>,
    /// Plain samples since the last compressed one.
    #[serde(default)]
    pub plain_since_compressed: u32,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct File {
    #[serde(default)]
    endpoints: BTreeMap<String, Record>,
}

/// `auto`'s answer for the files of one job.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Nothing says compressing is slower (or nothing is known yet): compress.
    Compress,
    /// Compress once more although the last measurements say plain is faster, to re-measure.
    Remeasure { why: String },
    /// Send plain: compressed uploads delivered fewer original bytes per second.
    Plain { why: String },
}

/// The memory of one endpoint (a hashed name and the file it lives in).
#[derive(Debug, Clone)]
pub struct LinkRates {
    path: PathBuf,
    endpoint: String,
}

/// Which kind of sample a finished job gives.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    Plain,
    Compressed,
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn mb(r: f64) -> String {
    format!("{:.0} MB/s", r / 1e6)
}

impl LinkRates {
    /// The memory of the endpoint a profile reaches, in the user's cache folder. `None` when
    /// there is no cache folder.
    pub fn for_profile(p: &crate::config::ResolvedProfile) -> Option<LinkRates> {
        let dir = dirs::cache_dir()?.join("trainctl");
        let place = p.endpoint_url.clone().unwrap_or_else(|| format!("aws:{}", p.region));
        Some(LinkRates::at(dir.join(FILE_NAME), &format!("{}\n{place}", p.name)))
    }

    /// The memory of `endpoint` (any text naming it; only its hash is stored) in `path`.
    pub fn at(path: PathBuf, endpoint: &str) -> LinkRates {
        let digest = sha2::Sha256::digest(endpoint.as_bytes());
        LinkRates { path, endpoint: hex::encode(&digest[..12]) }
    }

    /// The file the rates live in.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// The hashed name this endpoint is stored under.
    pub fn endpoint_id(&self) -> &str {
        &self.endpoint
    }

    fn load(&self) -> File {
        let Ok(bytes) = crate::limits::read_capped(&self.path, MAX_FILE_BYTES, "link rates") else { return File::default() };
        let mut file: File = serde_json::from_slice(&bytes).unwrap_or_default();
        // Hostile or damaged values are forgotten rather than believed.
        file.endpoints.retain(|_, r| [r.plain, r.compressed].iter().flatten().all(|x| x.bytes_per_sec.is_finite() && x.bytes_per_sec > 0.0));
        file
    }

    /// What is remembered about this endpoint.
    pub fn record(&self) -> Record {
        self.load().endpoints.remove(&self.endpoint).unwrap_or_default()
    }

    /// `auto`'s answer for this endpoint now.
    pub fn decide(&self) -> Decision {
        decide(&self.record(), now())
    }

    /// Adds a finished job's rate (original bytes over its seconds). Best effort: a file that
    /// cannot be written is left as it was.
    pub fn add(&self, kind: Kind, bytes: u64, seconds: f64) {
        if bytes < MIN_SAMPLE_BYTES || !seconds.is_finite() || seconds <= 0.0 {
            return;
        }
        let mut file = self.load();
        let record = file.endpoints.entry(self.endpoint.clone()).or_default();
        add_sample(record, kind, bytes as f64 / seconds, now());
        while file.endpoints.len() > MAX_ENDPOINTS {
            let oldest = file.endpoints.iter().min_by_key(|(_, r)| [r.plain, r.compressed].iter().flatten().map(|x| x.at).max().unwrap_or(0)).map(|(k, _)| k.clone());
            let Some(oldest) = oldest else { break };
            file.endpoints.remove(&oldest);
        }
        if let Ok(text) = serde_json::to_vec_pretty(&file) {
            let _ = crate::config::file::write_private(&self.path, &text);
        }
    }
}

/// Folds one sample into a record.
pub fn add_sample(r: &mut Record, kind: Kind, rate: f64, at: u64) {
    let slot = match kind {
        Kind::Plain => {
            r.plain_since_compressed = r.plain_since_compressed.saturating_add(1);
            &mut r.plain
        }
        Kind::Compressed => {
            r.plain_since_compressed = 0;
            &mut r.compressed
        }
    };
    *slot = Some(match *slot {
        None => Rate { bytes_per_sec: rate, samples: 1, at },
        Some(old) => Rate { bytes_per_sec: old.bytes_per_sec + EWMA_WEIGHT * (rate - old.bytes_per_sec), samples: old.samples.saturating_add(1), at },
    });
}

/// The decision for a record at time `now` (unix seconds).
pub fn decide(r: &Record, now: u64) -> Decision {
    let (Some(plain), Some(compressed)) = (r.plain, r.compressed) else { return Decision::Compress };
    if compressed.bytes_per_sec >= plain.bytes_per_sec {
        return Decision::Compress;
    }
    let rates = format!("compressed uploads to this endpoint delivered {} of original bytes, plain ones {}", mb(compressed.bytes_per_sec), mb(plain.bytes_per_sec));
    if r.plain_since_compressed >= REPROBE_AFTER || now.saturating_sub(compressed.at) >= REPROBE_AGE_SECS {
        return Decision::Remeasure { why: format!("re-measuring: {rates} (the compressed figure is {} plain uploads old)", r.plain_since_compressed) };
    }
    Decision::Plain { why: format!("plain is faster here: {rates} (--compress zstd always compresses)") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(plain: f64, compressed: f64) -> Record {
        let mut r = Record::default();
        add_sample(&mut r, Kind::Compressed, compressed, 100);
        add_sample(&mut r, Kind::Plain, plain, 100);
        r
    }

    #[test]
    fn nothing_known_compresses() {
        assert_eq!(decide(&Record::default(), 0), Decision::Compress);
        let mut r = Record::default();
        add_sample(&mut r, Kind::Plain, 300e6, 0);
        assert_eq!(decide(&r, 0), Decision::Compress);
    }

    #[test]
    fn slower_compressed_goes_plain_faster_compresses() {
        assert!(matches!(decide(&rec(280e6, 190e6), 200), Decision::Plain { why } if why.contains("190 MB/s") && why.contains("280 MB/s")));
        assert_eq!(decide(&rec(47e6, 58e6), 200), Decision::Compress);
    }

    #[test]
    fn remeasures_now_and_then() {
        let mut r = rec(280e6, 190e6);
        for _ in 1..REPROBE_AFTER {
            assert!(matches!(decide(&r, 200), Decision::Plain { .. }));
            add_sample(&mut r, Kind::Plain, 280e6, 200);
        }
        assert!(matches!(decide(&r, 200), Decision::Remeasure { .. }));
        add_sample(&mut r, Kind::Compressed, 190e6, 300);
        assert!(matches!(decide(&r, 300), Decision::Plain { .. }));
        assert!(matches!(decide(&r, 300 + REPROBE_AGE_SECS), Decision::Remeasure { .. }));
    }

    #[test]
    fn average_moves_toward_new_samples() {
        let mut r = Record::default();
        add_sample(&mut r, Kind::Plain, 100e6, 0);
        add_sample(&mut r, Kind::Plain, 200e6, 1);
        let p = r.plain.unwrap();
        assert_eq!(p.samples, 2);
        assert!((p.bytes_per_sec - 140e6).abs() < 1.0);
    }

    #[test]
    fn file_round_trips_hashes_the_endpoint_and_ignores_damage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join(FILE_NAME);
        let rates = LinkRates::at(path.clone(), "default\nhttp://secret-host.example:9000");
        rates.add(Kind::Plain, MIN_SAMPLE_BYTES, 1.0);
        rates.add(Kind::Plain, MIN_SAMPLE_BYTES - 1, 1.0); // too small: not a sample
        assert_eq!(rates.record().plain.unwrap().samples, 1);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("secret-host") && text.contains(rates.endpoint_id()));
        std::fs::write(&path, "{ not json").unwrap();
        assert_eq!(rates.record(), Record::default());
        std::fs::write(&path, format!(r#"{{"endpoints":{{"{}":{{"plain":{{"bytes_per_sec":-1,"samples":1,"at":0}}}}}}}}"#, rates.endpoint_id())).unwrap();
        assert_eq!(rates.record(), Record::default());
        assert_eq!(rates.decide(), Decision::Compress);
        // A file past the cap is not read at all, even when it would parse.
        rates.add(Kind::Plain, MIN_SAMPLE_BYTES, 1.0);
        let mut padded = std::fs::read(&path).unwrap();
        padded.resize(MAX_FILE_BYTES as usize + 1, b' ');
        std::fs::write(&path, padded).unwrap();
        assert_eq!(rates.record(), Record::default());
    }
}
