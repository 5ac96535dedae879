//! S3 Inventory: the same [`Report`] from an inventory report, without a single LIST call.
//!
//! Why: listing a bucket of a billion keys takes hours and costs $5 per million LISTs; S3 writes
//! an inventory of it daily for a fraction of that. The manifest names the data files and their
//! columns; each file is fetched to a temporary file (MD5-checked against the manifest), then
//! streamed row by row into the review's aggregator — memory stays constant whatever its size.

use super::aggregate::Aggregator;
use super::model::{Hidden, Report, Source};
use super::progress::ProgressMeter;
use crate::error::{Error, Result};
use crate::event::Sink;
use crate::s3::errors::SdkResultExt;
use crate::s3::{Connection, S3Url};
use futures::StreamExt;
use serde::Deserialize;
use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Data files read at once.
const FILES_CONCURRENCY: usize = 4;

/// The parts of `manifest.json` a review needs.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub source_bucket: String,
    /// `arn:aws:s3:::bucket` (or a bare bucket name).
    pub destination_bucket: String,
    pub file_format: String,
    pub file_schema: String,
    pub files: Vec<ManifestFile>,
}

/// One data file of the report.
#[derive(Debug, Clone, Deserialize)]
pub struct ManifestFile {
    pub key: String,
    #[serde(default)]
    pub size: Option<u64>,
    #[serde(rename = "MD5checksum", default)]
    pub md5: Option<String>,
}

/// The data file formats read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Parquet,
}

impl Manifest {
    /// Parses and checks a manifest (`origin` names it in errors).
    pub fn parse(origin: &str, bytes: &[u8]) -> Result<Manifest> {
        let bad = |reason: String| Error::InventoryManifest { manifest: origin.to_string(), reason };
        let m: Manifest = serde_json::from_slice(bytes).map_err(|e| bad(format!("not an inventory manifest ({e})")))?;
        m.format().map_err(bad)?;
        if m.files.is_empty() {
            return Err(bad("`files` is empty".into()));
        }
        if m.format() == Ok(Format::Csv) {
            let cols = m.csv_columns();
            if !cols.iter().any(|c| c == "key") || !cols.iter().any(|c| c == "size") {
                return Err(bad(format!("fileSchema `{}` lacks Key or Size (enable the Size field of the inventory)", m.file_schema)));
            }
        }
        Ok(m)
    }

    pub fn format(&self) -> std::result::Result<Format, String> {
        match self.file_format.to_ascii_lowercase().as_str() {
            "csv" => Ok(Format::Csv),
            "parquet" => Ok(Format::Parquet),
            other => Err(format!("fileFormat `{other}` is not supported (CSV or Parquet; ORC is not read)")),
        }
    }

    /// CSV column names, normalised (`LastModifiedDate` → `last_modified_date`).
    pub fn csv_columns(&self) -> Vec<String> {
        self.file_schema.split(',').map(|c| snake(c.trim())).collect()
    }

    /// The bucket the data files are in.
    pub fn destination(&self) -> &str {
        self.destination_bucket.rsplit(":::").next().unwrap_or(&self.destination_bucket)
    }
}

/// `LastModifiedDate` → `last_modified_date` (Parquet column names are already snake_case).
fn snake(s: &str) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 && !out.ends_with('_') {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Where the manifest is: a local file or an `s3://` object.
#[derive(Debug, Clone)]
pub(crate) enum Origin {
    Local(PathBuf),
    S3(S3Url),
}

impl Origin {
    pub(crate) fn parse(manifest: &str) -> Result<Origin> {
        Ok(if manifest.starts_with("s3://") { Origin::S3(S3Url::parse(manifest)?) } else { Origin::Local(PathBuf::from(manifest)) })
    }
}

/// Reviews a bucket from an inventory report. `manifest` is a local path or `s3://…/manifest.json`;
/// `prefix` (optional) keeps only keys under it. `conn` is needed for `s3://` manifests and for
/// data files not found next to a local manifest.
pub async fn review_inventory(
    conn: Option<&Connection>,
    manifest: &str,
    prefix: Option<&str>,
    now: i64,
    top_n: usize,
    sink: &dyn Sink,
) -> Result<Report> {
    let started = Instant::now();
    let origin = Origin::parse(manifest)?;
    let bytes = read_manifest(conn, &origin).await?;
    let m = Manifest::parse(manifest, &bytes)?;
    let prefix = prefix.unwrap_or("").to_string();
    let meter = ProgressMeter::new(sink);
    meter.units_added(m.files.len() as u64);
    let tmp = tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))?;
    // By index rather than over `m.files.iter()`: a stream over a borrowed slice iterator makes
    // the future not provably `Send` (rustc's higher-ranked lifetime limitation), and the CLI
    // runs commands as spawned tasks.
    let mut results = futures::stream::iter(0..m.files.len())
        .map(|i| {
            let (m, origin, tmp, prefix, meter) = (&m, &origin, tmp.path(), prefix.as_str(), &meter);
            let f = &m.files[i];
            async move {
                let path = fetch_file(conn, manifest, m, origin, f, &tmp.join(format!("{i}.data"))).await?;
                let (format, columns) = (m.format().expect("checked"), m.csv_columns());
                let (prefix, file) = (prefix.to_string(), f.key.clone());
                let out = tokio::task::spawn_blocking(move || read_file(&path, &file, format, &columns, &prefix, now, top_n))
                    .await
                    .map_err(|e| Error::Internal(format!("inventory reader: {e}")))?;
                meter.unit_done();
                out
            }
        })
        .buffer_unordered(FILES_CONCURRENCY);
    let mut total = Aggregator::new("", now, top_n);
    let mut hidden = Hidden::default();
    let mut versioned = false;
    while let Some(r) = results.next().await {
        let part = r?;
        meter.counted(part.agg.objects(), 0);
        total.merge(part.agg);
        hidden.noncurrent_versions += part.hidden.noncurrent_versions;
        hidden.noncurrent_bytes += part.hidden.noncurrent_bytes;
        hidden.delete_markers += part.hidden.delete_markers;
        for c in &part.hidden.classes {
            hidden.add_usage(&c.storage_class, c.objects, c.bytes);
        }
        versioned |= part.versioned;
    }
    meter.flush();
    let refs = std::mem::take(&mut total.refs);
    let mut report = total.into_report(&format!("s3://{}/{}", m.source_bucket, prefix), Source::Inventory);
    report.manifest = Some(manifest.to_string());
    if !refs.is_empty() {
        // As a listing's review: the references the report names are read where they are now.
        let references = refs.resolve(conn, &m.source_bucket, report.totals.bytes).await;
        if references.unread > 0 {
            report.unseen.push(unread_note(references.unread, conn.is_some()));
        }
        report.references = Some(references);
    }
    if versioned {
        hidden.versioning = Some("Enabled".into());
        report.hidden = Some(hidden);
    } else {
        report.unseen.push("the inventory has no version fields (IsLatest/IsDeleteMarker): noncurrent versions not counted".into());
    }
    report.unseen.push("incomplete multipart uploads are never in an inventory: review with a listing and --detailed to see them".into());
    report.elapsed_ms = started.elapsed().as_millis() as u64;
    Ok(report)
}

/// Largest manifest read: one lists data files (a few hundred bytes each), so even a report of
/// a billion objects stays far below this.
const MAX_MANIFEST: u64 = 64 << 20;

pub(crate) async fn read_manifest(conn: Option<&Connection>, origin: &Origin) -> Result<Vec<u8>> {
    match origin {
        Origin::Local(p) => crate::limits::read_capped(p, MAX_MANIFEST, "inventory manifest"),
        Origin::S3(url) => {
            let conn = conn.ok_or_else(|| Error::Internal("an s3:// manifest without a connection".into()))?;
            let ctx = conn.ctx().bucket(&url.bucket).key(&url.key);
            let out = conn.client.get_object().bucket(&url.bucket).key(&url.key).send().await.or_s3(&ctx)?;
            let size = out.content_length().unwrap_or(0).max(0) as u64;
            if size > MAX_MANIFEST {
                return Err(Error::TooLarge { what: format!("inventory manifest {url}"), size, limit: MAX_MANIFEST });
            }
            let body = out.body.collect().await.map_err(|e| Error::S3 { code: "ReadBody".into(), message: e.to_string() })?;
            Ok(body.into_bytes().to_vec())
        }
    }
}

/// Local candidates for a data file of a local manifest: AWS writes the manifest to
/// `…/<config>/<date>/manifest.json` and the data to `…/<config>/data/<file>`.
fn local_candidates(manifest: &Path, key: &str) -> Vec<PathBuf> {
    let dir = manifest.parent().unwrap_or(Path::new("."));
    let name = key.rsplit('/').next().unwrap_or(key);
    let mut c = vec![dir.join(name), dir.join("data").join(name)];
    if let Some(up) = dir.parent() {
        c.push(up.join("data").join(name));
    }
    c
}

/// Puts the data file at `dest` (copy or download, MD5-checked) or says it is missing.
pub(crate) async fn fetch_file(conn: Option<&Connection>, manifest: &str, m: &Manifest, origin: &Origin, f: &ManifestFile, dest: &Path) -> Result<PathBuf> {
    let missing = || Error::InventoryMissing { manifest: manifest.to_string(), file: f.key.clone() };
    if let Origin::Local(p) = origin {
        if let Some(local) = local_candidates(p, &f.key).into_iter().find(|c| c.is_file()) {
            check_md5(&local, f)?;
            return Ok(local);
        }
        if conn.is_none() {
            return Err(missing());
        }
    }
    let conn = conn.ok_or_else(missing)?;
    let bucket = m.destination();
    let got = conn.client.get_object().bucket(bucket).key(&f.key).send().await.or_s3(&conn.ctx().bucket(bucket).key(&f.key));
    let mut out = match got {
        Ok(o) => o,
        Err(Error::NotFound(_) | Error::NoSuchBucket(_)) => return Err(missing()),
        Err(Error::LocalMissing(_)) => return Err(missing()),
        Err(e) => return Err(e),
    };
    let mut file = std::fs::File::create(dest).map_err(|e| Error::io(dest, e))?;
    while let Some(chunk) = out.body.next().await {
        let chunk = chunk.map_err(|e| Error::S3 { code: "ReadBody".into(), message: e.to_string() })?;
        file.write_all(&chunk).map_err(|e| Error::io(dest, e))?;
    }
    drop(file);
    check_md5(dest, f)?;
    Ok(dest.to_path_buf())
}

fn check_md5(path: &Path, f: &ManifestFile) -> Result<()> {
    use md5::{Digest, Md5};
    let Some(want) = f.md5.as_deref().filter(|s| !s.is_empty()) else { return Ok(()) };
    let mut h = Md5::new();
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    std::io::copy(&mut file, &mut h).map_err(|e| Error::io(path, e))?;
    let got = hex::encode(h.finalize());
    if !got.eq_ignore_ascii_case(want) {
        return Err(Error::InventoryData { file: f.key.clone(), reason: format!("MD5 {got} differs from the manifest's {want}") });
    }
    Ok(())
}

/// The sums of one data file.
struct FilePart {
    agg: Aggregator,
    hidden: Hidden,
    versioned: bool,
}

/// One inventory row, as far as a review cares.
#[derive(Debug, Default)]
pub(crate) struct Row {
    pub(crate) key: String,
    pub(crate) size: u64,
    pub(crate) mtime: Option<i64>,
    pub(crate) class: Option<String>,
    pub(crate) is_latest: Option<bool>,
    pub(crate) is_delete_marker: Option<bool>,
    /// The fields a dataset snapshot reads besides.
    pub(crate) bucket: Option<String>,
    pub(crate) etag: Option<String>,
    pub(crate) version_id: Option<String>,
}

fn read_file(path: &Path, file: &str, format: Format, columns: &[String], prefix: &str, now: i64, top_n: usize) -> Result<FilePart> {
    let mut part = FilePart { agg: Aggregator::new("", now, top_n), hidden: Hidden::default(), versioned: false };
    let mut add = |row: Row| add_row(&mut part, row, prefix);
    match format {
        Format::Csv => read_csv(path, file, columns, &mut add)?,
        Format::Parquet => read_parquet(path, file, &mut add)?,
    }
    Ok(part)
}

fn add_row(part: &mut FilePart, row: Row, prefix: &str) {
    let Some(rel) = row.key.strip_prefix(prefix) else { return };
    if row.is_latest.is_some() || row.is_delete_marker.is_some() {
        part.versioned = true;
    }
    if row.is_delete_marker == Some(true) {
        part.hidden.delete_markers += 1;
        return;
    }
    if row.is_latest == Some(false) {
        part.hidden.noncurrent_versions += 1;
        part.hidden.noncurrent_bytes += row.size;
        part.hidden.add_usage(row.class.as_deref().unwrap_or("STANDARD"), 1, row.size);
        return;
    }
    part.agg.add_with_etag(&row.key, rel, row.size, row.mtime, row.class.as_deref(), row.etag.as_deref());
}

/// Why `n` references of an inventory review count at their stored size.
fn unread_note(n: u64, connected: bool) -> String {
    let why = match connected {
        true => format!("not read (gone or changed since the report, not a trainctl reference, or past the {} distinct bodies a review reads)", super::references::MAX_BODIES),
        false => "not read: no connection to the bucket (give a profile)".to_string(),
    };
    format!("{n} content reference(s) {why}: counted at their stored size, not the size of the files they stand for")
}

// ---------------------------------------------------------------------------------------------
// CSV (gzip), columns as the manifest's fileSchema names them

pub(crate) fn read_csv(path: &Path, file: &str, columns: &[String], add: &mut dyn FnMut(Row)) -> Result<()> {
    let bad = |reason: String| Error::InventoryData { file: file.to_string(), reason };
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut head = [0u8; 2];
    let gz = { (&f).read(&mut head).ok() == Some(2) && head == [0x1f, 0x8b] };
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let reader: Box<dyn BufRead> = if gz {
        Box::new(std::io::BufReader::with_capacity(1 << 16, flate2::read::MultiGzDecoder::new(f)))
    } else {
        Box::new(std::io::BufReader::with_capacity(1 << 16, f))
    };
    let col = |name: &str| columns.iter().position(|c| c == name);
    let (k, s, t, c, l, d) = (col("key"), col("size"), col("last_modified_date"), col("storage_class"), col("is_latest"), col("is_delete_marker"));
    let (k, s) = (k.expect("checked"), s.expect("checked"));
    let (b, e, v) = (col("bucket"), col("e_tag"), col("version_id"));
    let mut fields: Vec<String> = Vec::with_capacity(columns.len());
    for (n, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| bad(format!("line {}: {e}", n + 1)))?;
        if line.trim().is_empty() {
            continue;
        }
        split_csv(&line, &mut fields);
        if fields.len() < columns.len() {
            return Err(bad(format!("line {}: {} fields, the manifest's fileSchema has {}", n + 1, fields.len(), columns.len())));
        }
        let get = |i: Option<usize>| i.map(|i| fields[i].as_str()).filter(|v| !v.is_empty());
        let size = match get(Some(s)) {
            Some(v) => v.parse().map_err(|_| bad(format!("line {}: size `{v}` is not a number", n + 1)))?,
            None => 0,
        };
        add(Row {
            key: url_decode(&fields[k]),
            size,
            mtime: get(t).and_then(parse_iso8601),
            class: get(c).map(str::to_string),
            is_latest: get(l).map(|v| v.eq_ignore_ascii_case("true")),
            is_delete_marker: get(d).map(|v| v.eq_ignore_ascii_case("true")),
            bucket: get(b).map(str::to_string),
            etag: get(e).map(str::to_string),
            version_id: get(v).map(str::to_string),
        });
    }
    Ok(())
}

/// Splits one CSV line (fields optionally quoted, `""` inside quotes) into `out`.
pub(crate) fn split_csv(line: &str, out: &mut Vec<String>) {
    out.clear();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(ch) = chars.next() {
        match (ch, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(std::mem::take(&mut cur)),
            (ch, _) => cur.push(ch),
        }
    }
    out.push(cur);
}

/// CSV inventory keys are URL-encoded (`%2F`, and `+` for a space).
pub fn url_decode(s: &str) -> String {
    if !s.contains(['%', '+']) {
        return s.to_string();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match std::str::from_utf8(&b[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok()) {
                Some(v) => {
                    out.push(v);
                    i += 2;
                }
                None => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `2024-05-01T12:30:00.000Z` → seconds since the Unix epoch.
pub fn parse_iso8601(s: &str) -> Option<i64> {
    let s = s.trim();
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    Some(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + sec)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

// ---------------------------------------------------------------------------------------------
// Parquet, columns by their names in the file (`key`, `size`, `last_modified_date`, …)

pub(crate) fn read_parquet(path: &Path, file: &str, add: &mut dyn FnMut(Row)) -> Result<()> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::Field;
    let bad = |reason: String| Error::InventoryData { file: file.to_string(), reason };
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let reader = SerializedFileReader::new(f).map_err(|e| bad(format!("not a Parquet file ({e})")))?;
    let wanted = ["key", "size", "last_modified_date", "storage_class", "is_latest", "is_delete_marker", "bucket", "e_tag", "version_id"];
    let schema = reader.metadata().file_metadata().schema();
    let fields: Vec<_> = schema.get_fields().iter().filter(|t| wanted.contains(&t.name())).cloned().collect();
    if !fields.iter().any(|t| t.name() == "key") {
        return Err(bad("no `key` column".into()));
    }
    let projection = parquet::schema::types::Type::group_type_builder(schema.name()).with_fields(fields).build().map_err(|e| bad(e.to_string()))?;
    let rows = reader.get_row_iter(Some(projection)).map_err(|e| bad(e.to_string()))?;
    for row in rows {
        let row = row.map_err(|e| bad(e.to_string()))?;
        let mut r = Row::default();
        for (name, value) in row.get_column_iter() {
            match (name.as_str(), value) {
                ("key", Field::Str(s)) => r.key = s.clone(),
                ("size", Field::Long(n)) => r.size = (*n).max(0) as u64,
                ("size", Field::Int(n)) => r.size = (*n).max(0) as u64,
                ("last_modified_date", Field::TimestampMillis(ms)) => r.mtime = Some(ms.div_euclid(1000)),
                ("last_modified_date", Field::TimestampMicros(us)) => r.mtime = Some(us.div_euclid(1_000_000)),
                ("last_modified_date", Field::Long(ms)) => r.mtime = Some(ms.div_euclid(1000)),
                ("last_modified_date", Field::Str(s)) => r.mtime = parse_iso8601(s),
                ("storage_class", Field::Str(s)) => r.class = Some(s.clone()),
                ("is_latest", Field::Bool(b)) => r.is_latest = Some(*b),
                ("is_delete_marker", Field::Bool(b)) => r.is_delete_marker = Some(*b),
                ("bucket", Field::Str(s)) => r.bucket = Some(s.clone()),
                ("e_tag", Field::Str(s)) => r.etag = Some(s.clone()),
                ("version_id", Field::Str(s)) => r.version_id = Some(s.clone()),
                _ => {}
            }
        }
        add(r);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_keys_are_url_decoded() {
        assert_eq!(url_decode("runs/a%20b+c%2Bd.bin"), "runs/a b c+d.bin");
        assert_eq!(url_decode("plain/key"), "plain/key");
        assert_eq!(url_decode("bad%zz"), "bad%zz");
    }

    #[test]
    fn iso_dates_parse_to_epoch_seconds() {
        assert_eq!(parse_iso8601("1970-01-01T00:00:00.000Z"), Some(0));
        assert_eq!(parse_iso8601("2024-02-29T12:00:00Z"), Some(1_709_208_000));
        assert_eq!(parse_iso8601("garbage"), None);
    }

    #[test]
    fn csv_lines_split_with_quotes() {
        let mut f = Vec::new();
        split_csv(r#""b","k,1","12","""x""""#, &mut f);
        assert_eq!(f, vec!["b", "k,1", "12", "\"x\""]);
    }

    #[test]
    fn manifest_without_size_column_is_malformed() {
        let m = br#"{"sourceBucket":"s","destinationBucket":"arn:aws:s3:::d","fileFormat":"CSV","fileSchema":"Bucket, Key","files":[{"key":"a.csv.gz"}]}"#;
        assert_eq!(Manifest::parse("m", m).unwrap_err().exit_code(), 45);
        let orc = br#"{"sourceBucket":"s","destinationBucket":"d","fileFormat":"ORC","fileSchema":"x","files":[{"key":"a"}]}"#;
        assert_eq!(Manifest::parse("m", orc).unwrap_err().exit_code(), 45);
    }
}
