//! Snapshots from an S3 Inventory report, for buckets too large to list: the same manifest (the
//! same digest) a listing of the same objects gives, without one LIST call.
//!
//! The report is read with the review's reader (`review::inventory`: local or `s3://`
//! manifest, CSV (gzip) or Parquet data files, MD5-checked, keys URL-decoded), one data file at
//! a time; rows go through an on-disk sort ([`super::sort`]), since a report promises no order,
//! then stream into the manifest file like a listing does. Memory stays flat in the number of
//! keys. Everything is checked before the manifest is saved, so a bad report writes nothing.
//!
//! Content references (`--dedup=refs`) go through `super::refs::resolved` like a listing's: the
//! report names them, their bodies and content objects are read where they are now (one GET per
//! distinct body, one HEAD per distinct content), so the manifest is the listing's.
//!
//! A report is a day old at best: objects written since are not in it. Verify against the
//! prefix (`trainctl dataset verify NAME@V s3://…`) to see the difference.

use super::manifest::{Encoded, Entry};
use super::snapshot::{self, keep};
use super::sort::Sorter;
use crate::error::{Error, Result};
use crate::event::{Event, Progress, Sink};
use crate::review::inventory::{fetch_file, read_csv, read_manifest, read_parquet, Format, Manifest, Origin, Row};
use crate::s3::{Connection, S3Url};
use futures::StreamExt;

/// What decides which rows become entries.
#[derive(Clone)]
struct Filter {
    manifest: String,
    bucket: String,
    prefix: String,
    skip: Option<String>,
    versioned: bool,
}

impl Filter {
    /// The entry of a row: `None` for rows outside the prefix, noncurrent versions, delete
    /// markers and directory markers.
    fn entry(&self, row: Row, file: &str) -> Result<Option<Entry>> {
        if let Some(b) = row.bucket.as_deref().filter(|b| *b != self.bucket) {
            return Err(Error::InventoryWrongBucket { manifest: self.manifest.clone(), report: b.to_string(), bucket: self.bucket.clone() });
        }
        if row.is_delete_marker == Some(true) || row.is_latest == Some(false) || !keep(&row.key, row.size, self.skip.as_deref()) {
            return Ok(None);
        }
        let Some(rel) = row.key.strip_prefix(&self.prefix) else { return Ok(None) };
        if row.etag.is_none() {
            return Err(Error::InventoryData { file: file.to_string(), reason: format!("the row of `{}` has no ETag", row.key) });
        }
        let version_id = if self.versioned { row.version_id.filter(|v| !v.is_empty()) } else { None };
        Ok(Some(Entry { key: rel.to_string(), size: row.size, etag: row.etag, part_size: None, checksum: None, version_id, content: None, codec: None, stored_size: None }))
    }
}

/// The report's columns, as the CSV reader names them (`e_tag`, `version_id`…); for Parquet the
/// names in its schema message.
fn has_column(m: &Manifest, format: Format, name: &str) -> bool {
    match format {
        Format::Csv => m.csv_columns().iter().any(|c| c == name),
        Format::Parquet => m.file_schema.split([' ', ';', '(', ')']).any(|w| w == name),
    }
}

/// Snapshots `src` from the report whose manifest is `manifest` (a local path or `s3://`).
#[allow(clippy::too_many_arguments)]
pub async fn snapshot_inventory(conn: &Connection, src: &S3Url, manifest: &str, name: &str, version: &str, skip_prefix: Option<&str>, job: u64, sink: &dyn Sink) -> Result<Encoded> {
    let origin = Origin::parse(manifest)?;
    let m = Manifest::parse(manifest, &read_manifest(Some(conn), &origin).await?)?;
    if m.source_bucket != src.bucket {
        return Err(Error::InventoryWrongBucket { manifest: manifest.to_string(), report: m.source_bucket.clone(), bucket: src.bucket.clone() });
    }
    let bad = |reason: String| Error::InventoryManifest { manifest: manifest.to_string(), reason };
    let format = m.format().map_err(bad)?;
    for (col, field) in [("key", "Key"), ("size", "Size"), ("e_tag", "ETag")] {
        if !has_column(&m, format, col) {
            return Err(bad(format!("fileSchema `{}` lacks {field}: a dataset snapshot needs Key, Size and ETag (enable those fields of the inventory)", m.file_schema)));
        }
    }
    let versioned = snapshot::is_versioned(conn, &src.bucket).await?;
    if versioned && !has_column(&m, format, "version_id") {
        return Err(bad(format!(
            "bucket {} is versioned but the report has no VersionId: use a report of all versions (so the snapshot pins each file's version), or drop --inventory",
            src.bucket
        )));
    }
    let filter = Filter { manifest: manifest.to_string(), bucket: src.bucket.clone(), prefix: src.dir_prefix(), skip: skip_prefix.map(str::to_string), versioned };
    let tmp = tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))?;
    let mut sorter = Sorter::new()?;
    let mut rows = 0u64;
    for (i, f) in m.files.iter().enumerate() {
        let dest = tmp.path().join(format!("{i}.data"));
        let path = fetch_file(Some(conn), manifest, &m, &origin, f, &dest).await?;
        let (columns, file, filter) = (m.csv_columns(), f.key.clone(), filter.clone());
        let read = tokio::task::spawn_blocking(move || -> Result<(Sorter, u64)> {
            let (mut failed, mut n) = (None, 0u64);
            let mut add = |row: Row| {
                if failed.is_some() {
                    return;
                }
                match filter.entry(row, &file).and_then(|e| e.map_or(Ok(()), |e| sorter.push(e))) {
                    Ok(()) => n += 1,
                    Err(e) => failed = Some(e),
                }
            };
            match format {
                Format::Csv => read_csv(&path, &file, &columns, &mut add)?,
                Format::Parquet => read_parquet(&path, &file, &mut add)?,
            }
            failed.map_or(Ok((sorter, n)), Err)
        });
        (sorter, rows) = match read.await.map_err(|e| Error::Internal(format!("inventory reader: {e}")))? {
            Ok((s, n)) => (s, rows + n),
            Err(e) => return Err(e),
        };
        let _ = std::fs::remove_file(&dest);
        sink.send(Event::Progress(Progress { job, objects_done: rows, objects_total: 0, ..Progress::default() }));
    }
    let mut last: Option<String> = None;
    let entries = futures::stream::iter(sorter.finish()?).map(move |r| {
        let e = r?;
        if last.as_deref() == Some(e.key.as_str()) {
            return Err(Error::InventoryData { file: "(all files)".into(), reason: format!("`{}` is listed twice as the current object", e.key) });
        }
        last = Some(e.key.clone());
        Ok(e)
    });
    // Content references are read as the files they stand for, as a listing's snapshot reads them.
    let entries = super::refs::resolved(conn, &src.bucket, &src.dir_prefix(), entries.boxed());
    let w = snapshot::write_entries(conn, src, entries, job, sink).await?;
    if w.files() == 0 {
        return Err(Error::NotFound(format!("{src} (in the inventory {manifest})")));
    }
    w.finish(name, version, format!("s3://{}/{}", src.bucket, src.dir_prefix()), versioned)
}
