//! Reading a metrics file (a log, `metrics.csv`, `trainer_state.json`) without holding more than
//! a bounded part of it, locally or on S3.
//!
//! Why: training logs reach gigabytes, and `trainctl metrics` or the Runs view would otherwise
//! read one whole into memory. A curve needs the recent end: logs and CSVs are read from their
//! last [`MAX_TAIL`] bytes (a CSV keeps its header row); a JSON document cannot be read from its
//! end, so one above [`MAX_JSON`] is refused with [`Error::TooLarge`].

use crate::error::{Error, Result};
use crate::checkpoint::Location;
use crate::s3::Connection;
use std::path::Path;

/// Bytes of a log or CSV read from its end.
pub const MAX_TAIL: u64 = 64 << 20;

/// Largest JSON document (`trainer_state.json`) read whole.
pub const MAX_JSON: u64 = 64 << 20;

/// Bytes read from a CSV's start to find its header row.
const HEADER_BYTES: u64 = 64 << 10;

/// Where a metrics file is.
#[derive(Clone, Copy)]
pub enum MetricsFile<'a> {
    Local(&'a Path),
    S3 { conn: &'a Connection, bucket: &'a str, key: &'a str },
}

/// What was read: the bytes to parse, and how many bytes of the file were left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsBytes {
    pub bytes: Vec<u8>,
    pub skipped: u64,
}

impl MetricsFile<'_> {
    fn name(&self) -> String {
        match self {
            MetricsFile::Local(p) => p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
            MetricsFile::S3 { key, .. } => key.rsplit('/').next().unwrap_or(key).to_string(),
        }
    }

    async fn size(&self) -> Result<u64> {
        match self {
            MetricsFile::Local(p) => Ok(std::fs::metadata(p).map_err(|e| Error::io(*p, e))?.len()),
            MetricsFile::S3 { conn, bucket, key } => Ok(crate::s3::list::head_object(conn, bucket, key).await?.size),
        }
    }

    /// Bytes `[from, to)` (fewer when the file shrank meanwhile).
    async fn range(&self, from: u64, to: u64) -> Result<Vec<u8>> {
        match self {
            MetricsFile::Local(p) => {
                use std::io::{Read, Seek, SeekFrom};
                let mut f = std::fs::File::open(p).map_err(|e| Error::io(*p, e))?;
                f.seek(SeekFrom::Start(from)).map_err(|e| Error::io(*p, e))?;
                let mut out = Vec::new();
                f.take(to.saturating_sub(from)).read_to_end(&mut out).map_err(|e| Error::io(*p, e))?;
                Ok(out)
            }
            MetricsFile::S3 { conn, bucket, key } => super::follow::get_range(conn, bucket, key, from, to).await,
        }
    }
}

/// Reads `file` for [`super::metrics::parse_metrics`]: whole when small, else its tail (logs,
/// CSVs with their header row first) or [`Error::TooLarge`] (JSON).
pub async fn read_metrics_file(file: MetricsFile<'_>) -> Result<MetricsBytes> {
    let name = file.name();
    let size = file.size().await?;
    let json = name.ends_with(".json");
    let limit = if json { MAX_JSON } else { MAX_TAIL };
    if size <= limit {
        return Ok(MetricsBytes { bytes: file.range(0, size).await?, skipped: 0 });
    }
    if json {
        return Err(Error::TooLarge { what: format!("metrics file {name}"), size, limit });
    }
    let start = size - MAX_TAIL;
    let tail = file.range(start, size).await?;
    // The first line of the tail is most likely cut: start after it.
    let from = tail.iter().position(|b| *b == b'\n').map_or(tail.len(), |i| i + 1);
    let mut bytes = Vec::with_capacity(tail.len() - from + 1024);
    if name.ends_with(".csv") {
        let head = file.range(0, HEADER_BYTES.min(size)).await?;
        let header = head.split(|b| *b == b'\n').next().unwrap_or_default();
        bytes.extend_from_slice(header);
        bytes.push(b'\n');
    }
    bytes.extend_from_slice(&tail[from..]);
    Ok(MetricsBytes { bytes, skipped: start + from as u64 })
}

/// A metrics file at `loc/path`: whole when small, else its tail (this module).
pub(crate) async fn read_at(loc: &Location, conn: Option<&Connection>, path: &str) -> Result<Vec<u8>> {
    match loc {
        Location::Local(root) => Ok(read_metrics_file(MetricsFile::Local(&root.join(path))).await?.bytes),
        Location::S3(url) => {
            let conn = conn.ok_or_else(|| Error::Internal("S3 read without a connection".into()))?;
            let key = format!("{}{path}", if url.key.is_empty() { String::new() } else { url.dir_prefix() });
            Ok(read_metrics_file(MetricsFile::S3 { conn, bucket: &url.bucket, key: &key }).await?.bytes)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_big_csv_is_read_from_its_end_with_its_header_and_a_big_json_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let csv = d.path().join("metrics.csv");
        let mut text = String::from("step,loss\n");
        let mut step = 0u64;
        while text.len() < (MAX_TAIL + (1 << 20)) as usize {
            step += 1;
            text.push_str(&format!("{step},0.{step}\n"));
        }
        std::fs::write(&csv, &text).unwrap();
        let read = read_metrics_file(MetricsFile::Local(&csv)).await.unwrap();
        assert!(read.skipped > 0 && read.bytes.len() as u64 <= MAX_TAIL + 64);
        let parsed = crate::runs::metrics::parse_metrics("metrics.csv", &read.bytes).unwrap();
        assert_eq!(parsed.skipped, 0, "no cut line, header kept");
        assert_eq!(parsed.series["loss"].steps.last(), Some(&(step as f64)));

        let json = d.path().join("trainer_state.json");
        let f = std::fs::File::create(&json).unwrap();
        f.set_len(MAX_JSON + 1).unwrap();
        assert!(matches!(read_metrics_file(MetricsFile::Local(&json)).await, Err(Error::TooLarge { .. })));
    }
}
