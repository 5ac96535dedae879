//! What `--compress auto` would save on objects already stored (the Dashboard's "compress"
//! savings action), measured rather than guessed from published ratios.
//!
//! The largest objects of a review that `auto` would consider (not text metadata, not already
//! compressed, at least [`AUTO_MIN_SIZE`]) are sampled by ranged GETs at the same offsets the
//! upload probe reads a local file at, and probed the same way ([`probe_samples`]): the saving
//! shown is what an upload with `--compress auto` of those files would store less. At most
//! [`OBJECTS_SAMPLED`] × [`SAMPLES`](crate::codec::probe::SAMPLES) × [`SAMPLE`] bytes (16 MiB) are read per review.
//!
//! The action itself is a re-upload (download, upload with `--compress auto`), which the app
//! shows as exact CLI commands rather than running: the compressed copies are stored beside the
//! plain originals (`model.safetensors.zst`), and deleting the originals is a second decision.

use super::ObjectItem;
use crate::codec::probe::{probe_samples, sample_offsets, AUTO_MIN_SIZE, SAMPLE};
use crate::codec::{stays_plain, AUTO_LEVEL};
use crate::cost::{PriceTable, Usage};
use crate::error::Result;
use crate::s3::Connection;
use serde::Serialize;

/// Objects sampled per estimate (the largest ones).
pub const OBJECTS_SAMPLED: usize = 4;

/// One sampled object.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CompressibleObject {
    pub key: String,
    pub bytes: u64,
    pub storage_class: String,
    /// The codec `auto` would pick (`zstd`, `byteplane2`…), `None` when it would leave it plain.
    pub codec: Option<String>,
    /// Stored size relative to the original, measured on the sample (0.7 saves 30%).
    pub ratio: f64,
    pub saved_bytes: u64,
}

/// The measured saving of compressing the largest objects, and how to do it.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CompressEstimate {
    pub bucket: String,
    pub objects: Vec<CompressibleObject>,
    /// Bytes of the sampled objects, and what compressing them would give back.
    pub bytes: u64,
    pub saved_bytes: u64,
    pub monthly_usd_saved: Option<f64>,
    /// Bytes read to measure it.
    pub sampled_bytes: u64,
    /// The CLI commands that re-upload the objects worth compressing (shell-quoted).
    pub commands: Vec<String>,
}

/// Samples and probes the largest objects of `largest` (a review's, largest first).
pub async fn estimate(conn: &Connection, bucket: &str, largest: &[ObjectItem], table: Option<&PriceTable>) -> Result<CompressEstimate> {
    let chosen = largest.iter().filter(|o| o.bytes >= AUTO_MIN_SIZE && !stays_plain(&o.key, o.bytes)).take(OBJECTS_SAMPLED);
    let mut objects = Vec::new();
    let mut sampled_bytes = 0;
    for o in chosen {
        let mut samples = Vec::new();
        for from in sample_offsets(o.bytes) {
            let to = (from + SAMPLE as u64).min(o.bytes);
            let s = crate::runs::follow::get_range(conn, bucket, &o.key, from, to).await?;
            sampled_bytes += s.len() as u64;
            samples.push(s);
        }
        let name = o.key.rsplit('/').next().unwrap_or(&o.key);
        let p = probe_samples(name, &samples, AUTO_LEVEL);
        let ratio = p.chosen_ratio();
        let saved_bytes = (o.bytes as f64 * (1.0 - ratio)).max(0.0) as u64;
        objects.push(CompressibleObject { key: o.key.clone(), bytes: o.bytes, storage_class: o.storage_class.clone(), codec: p.codec.map(|c| c.name()), ratio, saved_bytes });
    }
    Ok(summarize(bucket, objects, sampled_bytes, table))
}

/// Totals, price and commands of the measured objects.
fn summarize(bucket: &str, objects: Vec<CompressibleObject>, sampled_bytes: u64, table: Option<&PriceTable>) -> CompressEstimate {
    let worth: Vec<&CompressibleObject> = objects.iter().filter(|o| o.codec.is_some()).collect();
    let usage: Vec<Usage> = worth.iter().map(|o| Usage { storage_class: o.storage_class.clone(), bytes: o.saved_bytes, objects: 0, ..Usage::default() }).collect();
    let commands = worth.iter().flat_map(|o| commands(bucket, &o.key)).collect();
    CompressEstimate {
        bucket: bucket.to_string(),
        bytes: objects.iter().map(|o| o.bytes).sum(),
        saved_bytes: worth.iter().map(|o| o.saved_bytes).sum(),
        monthly_usd_saved: table.map(|t| t.monthly_storage_usd(&usage)),
        sampled_bytes,
        commands,
        objects,
    }
}

/// Download, then upload with `--compress auto` to the same key (stored as `KEY.zst` or
/// `KEY.tcz` beside the plain original). Keys are hostile input: shell-quoted.
fn commands(bucket: &str, key: &str) -> Vec<String> {
    let q = |s: &str| shlex::try_quote(s).map(|c| c.into_owned()).unwrap_or_else(|_| "'<unquotable key>'".to_string());
    let url = q(&format!("s3://{bucket}/{key}"));
    let inside: Vec<&str> = key.split('/').filter(|p| !matches!(*p, "" | "." | "..")).collect();
    let local = q(&format!("./trainctl-recompress/{}", inside.join("/")));
    vec![format!("trainctl s3 download {url} {local}"), format!("trainctl s3 upload {local} {url} --compress auto")]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(key: &str, bytes: u64, codec: Option<&str>, ratio: f64) -> CompressibleObject {
        CompressibleObject { key: key.into(), bytes, storage_class: "STANDARD".into(), codec: codec.map(String::from), ratio, saved_bytes: (bytes as f64 * (1.0 - ratio)) as u64 }
    }

    #[test]
    fn only_objects_auto_would_compress_count_and_get_commands() {
        let table = crate::cost::price_table("aws", "us-east-1").unwrap();
        let e = summarize("b", vec![obj("run/model.safetensors", 1_000_000_000, Some("byteplane2"), 0.7), obj("run/noise.bin", 1_000_000_000, None, 1.0)], 8 << 20, Some(&table));
        assert_eq!(e.bytes, 2_000_000_000);
        assert_eq!(e.saved_bytes, 300_000_000);
        assert!(e.monthly_usd_saved.unwrap() > 0.0);
        assert_eq!(e.commands, ["trainctl s3 download s3://b/run/model.safetensors ./trainctl-recompress/run/model.safetensors", "trainctl s3 upload ./trainctl-recompress/run/model.safetensors s3://b/run/model.safetensors --compress auto"]);
    }

    #[test]
    fn hostile_keys_are_quoted_and_cannot_climb_out() {
        let c = commands("b", "a b/../$(rm -rf x)'.bin");
        let words = shlex::split(&c[0]).unwrap();
        assert_eq!(words, ["trainctl", "s3", "download", "s3://b/a b/../$(rm -rf x)'.bin", "./trainctl-recompress/a b/$(rm -rf x)'.bin"]);
        assert_eq!(shlex::split(&c[1]).unwrap()[3], "./trainctl-recompress/a b/$(rm -rf x)'.bin");
    }
}
