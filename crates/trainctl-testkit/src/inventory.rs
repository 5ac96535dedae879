//! S3 Inventory fixtures: a manifest and its data files (gzip CSV or Parquet), laid out like S3
//! writes them, so the review's inventory reader is tested on realistic input without AWS.
//!
//! Layout (relative to `root`, identical to the keys in the destination bucket):
//! `inventory/<source>/<config>/<date>/manifest.json` and `inventory/<source>/<config>/data/part-N.<ext>`.
//! Upload the tree to a bucket to test `s3://` manifests.

use md5::{Digest, Md5};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Which data-file format to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InventoryFormat {
    Csv,
    Parquet,
}

/// One row of the inventory.
#[derive(Debug, Clone, PartialEq)]
pub struct InventoryRow {
    pub key: String,
    pub size: u64,
    /// Seconds since the Unix epoch.
    pub last_modified: i64,
    pub storage_class: String,
    /// `false` for a noncurrent version (only written with `versioned`).
    pub is_latest: bool,
    pub is_delete_marker: bool,
    /// The ETag written (`etag<row>` when `None`: enough for a review, which ignores it).
    pub etag: Option<String>,
}

impl InventoryRow {
    /// A current STANDARD object.
    pub fn object(key: &str, size: u64, last_modified: i64) -> Self {
        InventoryRow { key: key.to_string(), size, last_modified, storage_class: "STANDARD".into(), is_latest: true, is_delete_marker: false, etag: None }
    }

    /// A current object of these bytes, uploaded in one part: its ETag is their MD5, as S3's is.
    pub fn of_bytes(key: &str, bytes: &[u8], last_modified: i64) -> Self {
        InventoryRow { etag: Some(hex::encode(Md5::digest(bytes))), ..InventoryRow::object(key, bytes.len() as u64, last_modified) }
    }
}

/// What was written.
#[derive(Debug, Clone)]
pub struct InventoryFixture {
    /// The local manifest.
    pub manifest: PathBuf,
    /// Its key in the destination bucket (after uploading `root`).
    pub manifest_key: String,
    /// Keys (= paths relative to `root`) of the data files.
    pub data_keys: Vec<String>,
}

/// Writes an inventory of `rows` for `source_bucket`, split into `files` data files, whose
/// manifest names `dest_bucket` as its destination. With `versioned`, the schema has the
/// `VersionId`/`IsLatest`/`IsDeleteMarker` fields.
pub fn write_inventory(root: &Path, source_bucket: &str, dest_bucket: &str, format: InventoryFormat, rows: &[InventoryRow], files: usize, versioned: bool) -> InventoryFixture {
    let base = format!("inventory/{source_bucket}/trainctl-fixture");
    let ext = match format {
        InventoryFormat::Csv => "csv.gz",
        InventoryFormat::Parquet => "parquet",
    };
    let files = files.max(1);
    let per = rows.len().div_ceil(files).max(1);
    let mut entries = Vec::new();
    let mut data_keys = Vec::new();
    for (i, chunk) in rows.chunks(per).chain(if rows.is_empty() { Some(&rows[..0]) } else { None }).enumerate() {
        let key = format!("{base}/data/part-{i:05}.{ext}");
        let path = root.join(&key);
        std::fs::create_dir_all(path.parent().unwrap()).expect("create inventory data dir");
        let bytes = match format {
            InventoryFormat::Csv => csv_gz(source_bucket, chunk, versioned),
            InventoryFormat::Parquet => parquet_bytes(source_bucket, chunk, versioned),
        };
        std::fs::write(&path, &bytes).expect("write inventory data file");
        entries.push(serde_json::json!({ "key": key, "size": bytes.len(), "MD5checksum": hex::encode(Md5::digest(&bytes)) }));
        data_keys.push(key);
    }
    let schema = match (format, versioned) {
        (InventoryFormat::Csv, false) => "Bucket, Key, Size, LastModifiedDate, ETag, StorageClass".to_string(),
        (InventoryFormat::Csv, true) => "Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size, LastModifiedDate, ETag, StorageClass".to_string(),
        (InventoryFormat::Parquet, v) => parquet_schema(v),
    };
    let manifest = serde_json::json!({
        "sourceBucket": source_bucket,
        "destinationBucket": format!("arn:aws:s3:::{dest_bucket}"),
        "version": "2016-11-30",
        "creationTimestamp": "1767225600000",
        "fileFormat": match format { InventoryFormat::Csv => "CSV", InventoryFormat::Parquet => "Parquet" },
        "fileSchema": schema,
        "files": entries,
    });
    let manifest_key = format!("{base}/2026-01-01T00-00Z/manifest.json");
    let path = root.join(&manifest_key);
    std::fs::create_dir_all(path.parent().unwrap()).expect("create manifest dir");
    std::fs::write(&path, serde_json::to_vec_pretty(&manifest).unwrap()).expect("write manifest");
    InventoryFixture { manifest: path, manifest_key, data_keys }
}

/// S3's CSV inventory URL-encodes keys.
fn url_encode(key: &str) -> String {
    let mut out = String::new();
    for b in key.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `2026-01-01T00:00:00.000Z` from epoch seconds.
pub fn iso8601(t: i64) -> String {
    let (days, secs) = (t.div_euclid(86_400), t.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.000Z", secs / 3600, secs % 3600 / 60, secs % 60)
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn csv_gz(bucket: &str, rows: &[InventoryRow], versioned: bool) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    for (i, r) in rows.iter().enumerate() {
        let size = if r.is_delete_marker { String::new() } else { r.size.to_string() };
        let version = if versioned { format!("\"v{i}\",\"{}\",\"{}\",", r.is_latest, r.is_delete_marker) } else { String::new() };
        let etag = r.etag.clone().unwrap_or_else(|| format!("etag{i}"));
        writeln!(gz, "\"{bucket}\",\"{}\",{version}\"{size}\",\"{}\",\"{etag}\",\"{}\"", url_encode(&r.key), iso8601(r.last_modified), r.storage_class).unwrap();
    }
    gz.finish().unwrap()
}

fn parquet_schema(versioned: bool) -> String {
    let version = if versioned { "optional binary version_id (UTF8); optional boolean is_latest; optional boolean is_delete_marker; " } else { "" };
    format!(
        "message s3.inventory {{ required binary bucket (UTF8); required binary key (UTF8); {version}optional int64 size; optional int64 last_modified_date (TIMESTAMP_MILLIS); optional binary e_tag (UTF8); optional binary storage_class (UTF8); }}"
    )
}

/// Writes one column of a row group.
type ColumnFiller<'a> = Box<dyn FnMut(&mut parquet::file::writer::SerializedColumnWriter<'_>) + 'a>;

fn parquet_bytes(bucket: &str, rows: &[InventoryRow], versioned: bool) -> Vec<u8> {
    use parquet::basic::Compression;
    use parquet::data_type::{BoolType, ByteArray, ByteArrayType, Int64Type};
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    let schema = Arc::new(parquet::schema::parser::parse_message_type(&parquet_schema(versioned)).expect("inventory parquet schema"));
    let props = Arc::new(WriterProperties::builder().set_compression(Compression::SNAPPY).build());
    let mut buf = Vec::new();
    let mut w = SerializedFileWriter::new(&mut buf, schema, props).expect("parquet writer");
    let mut rg = w.next_row_group().expect("row group");
    let all = vec![1i16; rows.len()];
    let strings = |f: &dyn Fn(usize, &InventoryRow) -> String| rows.iter().enumerate().map(|(i, r)| ByteArray::from(f(i, r).as_str())).collect::<Vec<_>>();
    let mut columns: Vec<ColumnFiller<'_>> = vec![
        Box::new(|c| {
            c.typed::<ByteArrayType>().write_batch(&strings(&|_, _| bucket.to_string()), None, None).unwrap();
        }),
        Box::new(|c| {
            c.typed::<ByteArrayType>().write_batch(&strings(&|_, r| r.key.clone()), None, None).unwrap();
        }),
    ];
    if versioned {
        columns.push(Box::new(|c| {
            c.typed::<ByteArrayType>().write_batch(&strings(&|i, _| format!("v{i}")), Some(&all), None).unwrap();
        }));
        columns.push(Box::new(|c| {
            let v: Vec<bool> = rows.iter().map(|r| r.is_latest).collect();
            c.typed::<BoolType>().write_batch(&v, Some(&all), None).unwrap();
        }));
        columns.push(Box::new(|c| {
            let v: Vec<bool> = rows.iter().map(|r| r.is_delete_marker).collect();
            c.typed::<BoolType>().write_batch(&v, Some(&all), None).unwrap();
        }));
    }
    columns.push(Box::new(|c| {
        let v: Vec<i64> = rows.iter().map(|r| r.size as i64).collect();
        c.typed::<Int64Type>().write_batch(&v, Some(&all), None).unwrap();
    }));
    columns.push(Box::new(|c| {
        let v: Vec<i64> = rows.iter().map(|r| r.last_modified * 1000).collect();
        c.typed::<Int64Type>().write_batch(&v, Some(&all), None).unwrap();
    }));
    columns.push(Box::new(|c| {
        c.typed::<ByteArrayType>().write_batch(&strings(&|i, r| r.etag.clone().unwrap_or_else(|| format!("etag{i}"))), Some(&all), None).unwrap();
    }));
    columns.push(Box::new(|c| {
        c.typed::<ByteArrayType>().write_batch(&strings(&|_, r| r.storage_class.clone()), Some(&all), None).unwrap();
    }));
    let mut i = 0;
    while let Some(mut col) = rg.next_column().expect("next column") {
        columns[i](&mut col);
        col.close().expect("close column");
        i += 1;
    }
    rg.close().expect("close row group");
    w.close().expect("close parquet file");
    buf
}
