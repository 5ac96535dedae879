//! The manifest of one dataset version: one JSON line per file, sorted by relative key, after a
//! header line that names the format, the source and the digest. Stored zstd-compressed.
//!
//! Why this shape: a line per file streams and diffs with standard tools once decompressed; the
//! header's file count and digest make a truncated or edited manifest detectable on load; the
//! digest covers only what the data *is* (relative key, size, content id), never where it lives
//! (bucket, prefix, version ids), so two copies of the same data have the same digest.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::{BufRead, Write};

/// The newest manifest format this build reads and writes: 2 adds entries of files stored as
/// references to compressed content ([`Entry::codec`]).
pub const FORMAT: u32 = 2;
/// The format written when no entry is compressed content: such a manifest stays readable by
/// builds that know only format 1, and one that has such entries is refused by them
/// ([`Error::ManifestTooNew`]) rather than staged as compressed bytes under the file's name.
pub const FORMAT_PLAIN: u32 = 1;

/// Largest decompressed manifest read (a billion-byte manifest is ~10 M files).
const MAX_DECOMPRESSED: u64 = 4 << 30;

/// One file of a dataset version.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Path relative to the dataset's root, `/`-separated (the object key without the prefix).
    pub key: String,
    pub size: u64,
    /// The object's ETag without quotes (S3 sources), or the content's MD5 hex (local sources:
    /// what a single-part upload's ETag would be).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub etag: Option<String>,
    /// Part size of a multipart ETag (learnt at snapshot time), so a local copy can be re-hashed
    /// into the same ETag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional, type = "number"))]
    pub part_size: Option<u64>,
    /// The store's own checksum of the object when it reported one (`CRC64NVME`, `SHA256`…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub checksum: Option<StoredChecksum>,
    /// The object's version id on a versioned bucket: what staging fetches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub version_id: Option<String>,
    /// A file stored as a content reference (`KEY.trainctl-ref`, `crate::refs`): the key in the
    /// bucket of the content object holding its bytes, which staging fetches (ETag, part size
    /// and version id are the content object's; `checksum` is the reference's CRC64NVME).
    /// Where the bytes live, not what they are: outside the digest, like `version_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub content: Option<String>,
    /// A file stored as a reference to compressed content (`--dedup=refs --compress …`): the
    /// codec its content object is stored with, `zstd` (`….zst`) or `byteplane` (`….tcz`).
    /// Staging, repair and a streamed `full` verify decode it (`crate::codec`) and check the
    /// original's size and CRC64NVME (`checksum`); `etag` is the compressed object's (what
    /// `If-Match` and a `checksum` verify of the prefix compare), and the content id is the
    /// original's CRC64NVME ([`Entry::content_id`]). Only in manifests of format 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub codec: Option<String>,
    /// With `codec`: the compressed content object's size, what a stage downloads (`size` is
    /// the file's). Where the bytes live, not what they are: outside the digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional, type = "number"))]
    pub stored_size: Option<u64>,
}

/// [`Entry::codec`] of a content object named with a codec suffix.
pub fn codec_of_content(content: &str) -> Option<&'static str> {
    if content.ends_with(crate::codec::BYTEPLANE_SUFFIX) {
        Some("byteplane")
    } else if content.ends_with(crate::codec::ZSTD_SUFFIX) {
        Some("zstd")
    } else {
        None
    }
}

impl Entry {
    /// The key in the bucket that holds this file's bytes under `prefix` (the dataset's root):
    /// its own, or its content object's when it is stored as a reference.
    pub fn stored_key(&self, prefix: &str) -> String {
        self.content.clone().unwrap_or_else(|| format!("{prefix}{}", self.key))
    }

    /// What identifies the content, for the digest and comparisons: the ETag, lowercased; for
    /// compressed content ([`Entry::codec`]) the original's CRC64NVME as `crc64nvme:<base64>`
    /// (the stored object's ETag is of the compressed bytes, which say nothing of the file).
    pub fn content_id(&self) -> String {
        if self.codec.is_some() {
            return self.original_crc64().map(|c| format!("crc64nvme:{}", crate::codec::crc64_base64(c))).unwrap_or_default();
        }
        self.etag.as_deref().map(|e| e.trim_matches('"').to_ascii_lowercase()).unwrap_or_default()
    }

    /// The CRC64NVME of the file's bytes when the entry records one (`checksum`).
    pub fn original_crc64(&self) -> Option<u64> {
        self.checksum.as_ref().filter(|c| c.algorithm == "CRC64NVME").and_then(|c| crate::codec::crc64_of_base64(&c.value))
    }

    /// The manifest format an entry needs.
    fn format(&self) -> u32 {
        if self.codec.is_some() {
            FORMAT
        } else {
            FORMAT_PLAIN
        }
    }
}

/// A checksum the store keeps for an object.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredChecksum {
    pub algorithm: String,
    pub value: String,
}

/// The first line of a manifest.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// Manifest format version ([`FORMAT`]); a newer one is refused, never guessed at.
    pub format: u32,
    pub name: String,
    pub version: String,
    /// Where the data was snapshotted from: `s3://bucket/prefix/` or an absolute local path.
    pub source: String,
    /// Seconds since the epoch.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub created: i64,
    /// True when the bucket was versioned and every entry carries its version id.
    pub versioned: bool,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub files: u64,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub bytes: u64,
    /// `sha256:<hex>` over (relative key, size, content id) of every entry in order.
    pub digest: String,
}

impl Header {
    /// The header of a manifest written now, of this format, with `(files, bytes)` and `digest`.
    fn now(format: u32, name: &str, version: &str, source: String, versioned: bool, (files, bytes): (u64, u64), digest: String) -> Header {
        Header { format, name: name.to_string(), version: version.to_string(), source, created: crate::checkpoint::detect::now_secs(), versioned, files, bytes, digest }
    }

    /// `NAME@VERSION`.
    pub fn reference(&self) -> String {
        format!("{}@{}", self.name, self.version)
    }
}

/// A dataset version: its header and its entries, sorted by key, keys unique.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub header: Header,
    pub entries: Vec<Entry>,
}

impl Manifest {
    /// Builds a manifest from entries in any order: sorts them, refuses duplicates, computes the
    /// counts and the digest.
    pub fn new(name: &str, version: &str, source: String, versioned: bool, mut entries: Vec<Entry>) -> Result<Manifest> {
        entries.sort_by(|a, b| a.key.cmp(&b.key));
        if let Some(w) = entries.windows(2).find(|w| w[0].key == w[1].key) {
            return Err(Error::Internal(format!("duplicate key {} in a snapshot", w[0].key)));
        }
        let bytes = crate::limits::sum_sizes(entries.iter().map(|e| e.size));
        let format = entries.iter().map(Entry::format).max().unwrap_or(FORMAT_PLAIN);
        let header = Header::now(format, name, version, source, versioned, (entries.len() as u64, bytes), digest(&entries));
        Ok(Manifest { header, entries })
    }

    /// `NAME@VERSION`.
    pub fn reference(&self) -> String {
        self.header.reference()
    }

    /// The entry at `key`, if any (binary search: entries are sorted).
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.binary_search_by(|e| e.key.as_str().cmp(key)).ok().map(|i| &self.entries[i])
    }

    /// The compressed file: header line, entry lines, zstd.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut enc = zstd::Encoder::new(Vec::new(), 3).map_err(zstd_err)?;
        let mut line = |v: &dyn erased::Json| -> Result<()> { write_line(&mut enc, v) };
        line(&self.header)?;
        for e in &self.entries {
            line(e)?;
        }
        enc.finish().map_err(zstd_err)
    }

    /// The compressed file in a temporary folder, as [`Writer`] leaves it (what the store saves).
    pub fn write_temp(&self) -> Result<Encoded> {
        let mut w = Writer::new()?;
        for e in &self.entries {
            w.push(e)?;
        }
        let h = &self.header;
        w.finish(&h.name, &h.version, h.source.clone(), h.versioned)
    }

    /// Reads a manifest written by [`Manifest::encode`] or [`Writer`]. `what` names it in
    /// errors. A manifest that does not decompress, parse, or match its own count and digest is
    /// [`Error::ManifestCorrupt`]; one of a newer format is [`Error::ManifestTooNew`].
    pub fn decode(bytes: &[u8], what: &str) -> Result<Manifest> {
        let mut r = Reader::new(bytes, what)?;
        let mut entries = Vec::with_capacity(r.header.files.min(1 << 20) as usize);
        for e in &mut r {
            entries.push(e?);
        }
        Ok(Manifest { header: r.header, entries })
    }
}

fn zstd_err(e: std::io::Error) -> Error {
    Error::Internal(format!("zstd: {e}"))
}

fn write_line(w: &mut dyn Write, v: &dyn erased::Json) -> Result<()> {
    w.write_all(v.json()?.as_bytes()).and_then(|_| w.write_all(b"\n")).map_err(zstd_err)
}

/// The location-independent digest, fed one entry at a time.
#[derive(Default)]
struct Digester(Sha256);

impl Digester {
    fn add(&mut self, e: &Entry) {
        let h = &mut self.0;
        h.update(e.key.as_bytes());
        h.update([0]);
        h.update(e.size.to_string().as_bytes());
        h.update([0]);
        h.update(e.content_id().as_bytes());
        h.update(b"\n");
    }

    fn finish(self) -> String {
        format!("sha256:{}", hex::encode(self.0.finalize()))
    }
}

/// The location-independent digest of sorted entries.
pub fn digest(entries: &[Entry]) -> String {
    let mut d = Digester::default();
    entries.iter().for_each(|e| d.add(e));
    d.finish()
}

/// Writes a manifest one entry at a time, in constant memory: why a snapshot of millions of keys
/// never holds its listing. Entries must come sorted (a listing is: S3 lists keys in UTF-8
/// binary order, which is `str`'s order); they go through zstd into a temporary file while the
/// digest is computed, and [`Writer::finish`] puts the header frame before them (a zstd file
/// may hold several frames; readers decode them as one stream).
pub struct Writer {
    dir: tempfile::TempDir,
    enc: zstd::Encoder<'static, std::io::BufWriter<std::fs::File>>,
    digest: Digester,
    last: Option<String>,
    files: u64,
    bytes: u64,
    /// The format the entries so far need.
    format: u32,
}

/// A finished manifest file (removed with its temporary folder when dropped).
pub struct Encoded {
    pub header: Header,
    pub path: std::path::PathBuf,
    /// Its size in bytes.
    pub len: u64,
    _dir: tempfile::TempDir,
}

impl Writer {
    pub fn new() -> Result<Writer> {
        let dir = tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))?;
        let body = dir.path().join("entries.zst");
        let file = std::fs::File::create(&body).map_err(|e| Error::io(&body, e))?;
        let enc = zstd::Encoder::new(std::io::BufWriter::with_capacity(1 << 16, file), 3).map_err(zstd_err)?;
        Ok(Writer { dir, enc, digest: Digester::default(), last: None, files: 0, bytes: 0, format: FORMAT_PLAIN })
    }

    /// Entries written so far.
    pub fn files(&self) -> u64 {
        self.files
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Appends `e`, which must sort after the previous entry ([`Error::Internal`] otherwise: a
    /// source that is not sorted, or repeats a key, is a bug upstream).
    pub fn push(&mut self, e: &Entry) -> Result<()> {
        if self.last.as_deref().is_some_and(|l| l >= e.key.as_str()) {
            return Err(Error::Internal(format!("snapshot entries out of order or repeated at `{}` (after `{}`)", e.key, self.last.as_deref().unwrap_or_default())));
        }
        write_line(&mut self.enc, e)?;
        self.digest.add(e);
        self.files += 1;
        self.bytes = self.bytes.saturating_add(e.size);
        self.format = self.format.max(e.format());
        match &mut self.last {
            Some(l) => {
                l.clear();
                l.push_str(&e.key);
            }
            None => self.last = Some(e.key.clone()),
        }
        Ok(())
    }

    /// The header (counts, digest, now) and the file: a header frame, then the entries.
    pub fn finish(self, name: &str, version: &str, source: String, versioned: bool) -> Result<Encoded> {
        let Writer { dir, enc, digest, files, bytes, format, .. } = self;
        enc.finish().map_err(zstd_err)?.flush().map_err(zstd_err)?;
        let header = Header::now(format, name, version, source, versioned, (files, bytes), digest.finish());
        let path = dir.path().join("manifest.jsonl.zst");
        let mut out = std::fs::File::create(&path).map_err(|e| Error::io(&path, e))?;
        let mut head = zstd::Encoder::new(Vec::new(), 3).map_err(zstd_err)?;
        write_line(&mut head, &header)?;
        out.write_all(&head.finish().map_err(zstd_err)?).map_err(|e| Error::io(&path, e))?;
        let body = dir.path().join("entries.zst");
        std::io::copy(&mut std::fs::File::open(&body).map_err(|e| Error::io(&body, e))?, &mut out).map_err(|e| Error::io(&path, e))?;
        let _ = std::fs::remove_file(&body);
        let len = out.metadata().map_err(|e| Error::io(&path, e))?.len();
        Ok(Encoded { header, path, len, _dir: dir })
    }
}

/// Reads a manifest one entry at a time, in constant memory (verification of millions of keys
/// merges it with a listing). The header is read and checked at once; the entries' order, count
/// and digest as they stream: a damaged manifest ends in [`Error::ManifestCorrupt`] as its last
/// item, so a caller must consume every item before trusting the result.
pub struct Reader<R: std::io::Read> {
    pub header: Header,
    lines: std::io::Lines<std::io::BufReader<std::io::Take<zstd::Decoder<'static, std::io::BufReader<R>>>>>,
    what: String,
    digest: Option<Digester>,
    last: Option<String>,
    count: u64,
    line: usize,
}

impl Reader<std::fs::File> {
    pub fn open(path: &std::path::Path) -> Result<Reader<std::fs::File>> {
        let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        Reader::new(f, &path.display().to_string())
    }
}

impl<R: std::io::Read> Reader<R> {
    pub fn new(r: R, what: &str) -> Result<Reader<R>> {
        let corrupt = |reason: String| Error::ManifestCorrupt { what: what.to_string(), reason };
        let dec = zstd::Decoder::new(r).map_err(|e| corrupt(format!("not zstd: {e}")))?;
        let mut lines = std::io::BufReader::new(std::io::Read::take(dec, MAX_DECOMPRESSED)).lines();
        let first = lines.next().ok_or_else(|| corrupt("empty".into()))?.map_err(|e| corrupt(format!("cannot decompress: {e}")))?;
        let raw: serde_json::Value = serde_json::from_str(&first).map_err(|e| corrupt(format!("header is not JSON: {e}")))?;
        let format = raw.get("format").and_then(|f| f.as_u64()).ok_or_else(|| corrupt("header has no format version".into()))?;
        if format > FORMAT as u64 {
            return Err(Error::ManifestTooNew { what: what.to_string(), format, supported: FORMAT });
        }
        let header: Header = serde_json::from_value(raw).map_err(|e| corrupt(format!("bad header: {e}")))?;
        Ok(Reader { header, lines, what: what.to_string(), digest: Some(Digester::default()), last: None, count: 0, line: 1 })
    }

    fn corrupt(&mut self, reason: String) -> Option<Result<Entry>> {
        self.digest = None;
        Some(Err(Error::ManifestCorrupt { what: self.what.clone(), reason }))
    }
}

impl<R: std::io::Read> Iterator for Reader<R> {
    type Item = Result<Entry>;

    fn next(&mut self) -> Option<Result<Entry>> {
        self.digest.as_ref()?;
        loop {
            self.line += 1;
            let line = match self.lines.next() {
                None => {
                    let digest = self.digest.take()?.finish();
                    if self.count != self.header.files {
                        return self.corrupt(format!("the header says {} files, {} are listed (truncated?)", self.header.files, self.count));
                    }
                    if digest != self.header.digest {
                        return self.corrupt("the entries do not match the header's digest (edited or damaged)".into());
                    }
                    return None;
                }
                Some(Err(e)) => return self.corrupt(format!("cannot decompress after {} entries (truncated?): {e}", self.count)),
                Some(Ok(l)) => l,
            };
            if line.is_empty() {
                continue;
            }
            let e: Entry = match serde_json::from_str(&line) {
                Ok(e) => e,
                Err(e) => return self.corrupt(format!("line {}: {e}", self.line)),
            };
            if self.last.as_deref().is_some_and(|l| l >= e.key.as_str()) {
                return self.corrupt("entries are not sorted by key, or a key repeats".into());
            }
            if e.format() > self.header.format {
                return self.corrupt(format!("line {}: an entry of format {} in a manifest of format {}", self.line, e.format(), self.header.format));
            }
            self.count += 1;
            if self.count > self.header.files {
                return self.corrupt(format!("more entries than the {} the header says", self.header.files));
            }
            if let Some(d) = &mut self.digest {
                d.add(&e);
            }
            self.last = Some(e.key.clone());
            return Some(Ok(e));
        }
    }
}

mod erased {
    /// Serialisation behind a trait object, so one closure writes header and entries.
    pub trait Json {
        fn json(&self) -> crate::Result<String>;
    }
    impl<T: serde::Serialize> Json for T {
        fn json(&self) -> crate::Result<String> {
            serde_json::to_string(self).map_err(|e| crate::Error::Internal(format!("json: {e}")))
        }
    }
}

/// What changed between two versions.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Diff {
    pub from: String,
    pub to: String,
    pub added: Vec<Entry>,
    pub removed: Vec<Entry>,
    /// (before, after) of each key whose size or content id differs.
    pub changed: Vec<(Entry, Entry)>,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub unchanged: u64,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub bytes_added: u64,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub bytes_removed: u64,
}

/// Compares two manifests key by key (a merge of two sorted lists).
pub fn diff(a: &Manifest, b: &Manifest) -> Diff {
    let mut d = Diff { from: a.reference(), to: b.reference(), ..Diff::default() };
    let (mut i, mut j) = (0, 0);
    while i < a.entries.len() || j < b.entries.len() {
        match (a.entries.get(i), b.entries.get(j)) {
            (Some(x), Some(y)) if x.key == y.key => {
                if x.size != y.size || x.content_id() != y.content_id() {
                    d.bytes_removed += x.size;
                    d.bytes_added += y.size;
                    d.changed.push((x.clone(), y.clone()));
                } else {
                    d.unchanged += 1;
                }
                i += 1;
                j += 1;
            }
            (Some(x), Some(y)) if x.key < y.key => {
                d.bytes_removed += x.size;
                d.removed.push(x.clone());
                i += 1;
            }
            (Some(x), None) => {
                d.bytes_removed += x.size;
                d.removed.push(x.clone());
                i += 1;
            }
            (_, Some(y)) => {
                d.bytes_added += y.size;
                d.added.push(y.clone());
                j += 1;
            }
            (None, None) => break,
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &str, size: u64, etag: &str) -> Entry {
        Entry { key: key.into(), size, etag: Some(etag.into()), part_size: None, checksum: None, version_id: None, content: None, codec: None, stored_size: None }
    }

    fn sample() -> Manifest {
        Manifest::new("imgs", "v1", "s3://b/p/".into(), false, vec![entry("b.bin", 2, "bb"), entry("a/x.bin", 1, "aa")]).unwrap()
    }

    #[test]
    fn a_manifest_roundtrips_sorted_with_its_digest() {
        let m = sample();
        assert_eq!(m.entries[0].key, "a/x.bin");
        let back = Manifest::decode(&m.encode().unwrap(), "t").unwrap();
        assert_eq!(back, m);
    }

    #[test]
    fn the_digest_does_not_depend_on_the_location_or_version_ids() {
        let a = sample();
        let mut entries = a.entries.clone();
        entries[0].version_id = Some("xyz".into());
        let b = Manifest::new("other", "v9", "/data/local".into(), true, entries).unwrap();
        assert_eq!(a.header.digest, b.header.digest);
    }

    #[test]
    fn a_truncated_manifest_is_corrupt() {
        let bytes = sample().encode().unwrap();
        let e = Manifest::decode(&bytes[..bytes.len() - 6], "t").unwrap_err();
        assert_eq!(e.code(), "dataset_manifest_corrupt", "{e}");
        let e = Manifest::decode(b"not zstd at all", "t").unwrap_err();
        assert_eq!(e.code(), "dataset_manifest_corrupt", "{e}");
    }

    #[test]
    fn a_manifest_with_a_line_dropped_or_edited_is_corrupt() {
        let m = sample();
        let mut edited = m.clone();
        edited.entries[1].size = 99;
        let e = Manifest::decode(&edited.encode().unwrap(), "t").unwrap_err();
        assert!(e.to_string().contains("digest"), "{e}");
        edited = m.clone();
        edited.entries.pop();
        let e = Manifest::decode(&edited.encode().unwrap(), "t").unwrap_err();
        assert!(e.to_string().contains("truncated"), "{e}");
    }

    #[test]
    fn the_streaming_writer_and_reader_agree_with_the_in_memory_manifest() {
        let m = sample();
        let enc = m.write_temp().unwrap();
        assert_eq!(enc.header.digest, m.header.digest);
        assert_eq!((enc.header.files, enc.header.bytes), (2, 3));
        let back = Manifest::decode(&std::fs::read(&enc.path).unwrap(), "t").unwrap();
        assert_eq!(back.entries, m.entries);
        let mut w = Writer::new().unwrap();
        w.push(&entry("b", 1, "x")).unwrap();
        assert!(w.push(&entry("a", 1, "x")).is_err(), "out of order is refused");
        assert!(w.push(&entry("b", 1, "x")).is_err(), "a repeated key is refused");
    }

    fn compressed(key: &str) -> Entry {
        Entry {
            checksum: Some(StoredChecksum { algorithm: "CRC64NVME".into(), value: crate::codec::crc64_base64(42) }),
            content: Some(format!("p/.trainctl/content/{:016x}-9.zst", 42)),
            codec: Some("zstd".into()),
            stored_size: Some(5),
            ..entry(key, 9, "compressed-bytes-etag")
        }
    }

    #[test]
    fn compressed_content_needs_format_2_and_is_identified_by_the_originals_crc() {
        assert_eq!(sample().header.format, FORMAT_PLAIN, "plain entries stay readable by format-1 builds");
        let m = Manifest::new("imgs", "v2", "s3://b/p/".into(), false, vec![entry("a", 1, "aa"), compressed("z")]).unwrap();
        assert_eq!(m.header.format, 2);
        assert_eq!(m.entries[1].content_id(), format!("crc64nvme:{}", crate::codec::crc64_base64(42)));
        let enc = m.write_temp().unwrap();
        assert_eq!(enc.header.format, 2, "the streaming writer agrees");
        assert_eq!(Manifest::decode(&std::fs::read(&enc.path).unwrap(), "t").unwrap().entries, m.entries);
        // A format-1 header over such an entry was not written by trainctl.
        let mut forged = m.clone();
        forged.header.format = FORMAT_PLAIN;
        let e = Manifest::decode(&forged.encode().unwrap(), "t").unwrap_err();
        assert_eq!(e.code(), "dataset_manifest_corrupt", "{e}");
    }

    #[test]
    fn a_newer_format_is_refused_with_its_own_code() {
        let mut m = sample();
        m.header.format = FORMAT + 1;
        let e = Manifest::decode(&m.encode().unwrap(), "t").unwrap_err();
        assert_eq!(e.code(), "dataset_manifest_too_new");
    }

    #[test]
    fn diff_reports_added_removed_changed_and_bytes() {
        let a = sample();
        let b = Manifest::new("imgs", "v2", "s3://b/p/".into(), false, vec![entry("a/x.bin", 1, "aa"), entry("b.bin", 3, "cc"), entry("c", 5, "dd")]).unwrap();
        let d = diff(&a, &b);
        assert_eq!((d.added.len(), d.removed.len(), d.changed.len(), d.unchanged), (1, 0, 1, 1));
        assert_eq!((d.bytes_added, d.bytes_removed), (8, 2));
    }
}
