//! Download verification: a downloaded file must have the object's size and, where the ETag
//! allows it, the object's MD5 (plain ETag) or multipart ETag (`md5(concat(md5(part_i)))-N`).
//!
//! Both engines use this: s5cmd through [`verify_download`] after the file is written, the
//! native engine through an [`EtagHasher`] fed while it writes, so it need not read the file
//! twice. When the ETag cannot be recomputed (SSE-KMS/SSE-C objects, servers that do not answer
//! `HeadObject?partNumber=1`, parts of unequal size) verification falls back to the size and
//! says so in [`Verified::SizeOnly`], rather than failing a good file.

use crate::error::{Error, Result};
use crate::s3::Connection;
use md5::{Digest, Md5};
use std::path::Path;

/// Read buffer for hashing files.
const HASH_BUF: usize = 1024 * 1024;

/// How thoroughly a download was checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verified {
    /// Size and MD5 / multipart ETag match.
    Checksum,
    /// Only the size could be checked; `reason` says why the checksum could not.
    SizeOnly { reason: String },
}

/// What a file's checksum must be for the object to match, decided from its ETag (and, for
/// multipart ETags, the size of part 1 learned from the server).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expectation {
    /// Plain 32-hex MD5 of the whole content.
    Md5 { etag: String },
    /// Multipart ETag: `parts` parts of `part_size` bytes (the last one shorter).
    Multipart { etag: String, part_size: u64, parts: u64 },
    /// No checksum can be computed; only the size is checked.
    SizeOnly { reason: String },
}

/// The shape of an ETag, without asking the server anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EtagKind {
    /// A plain 32-hex-digit MD5 (lowercased, quotes removed).
    Md5(String),
    /// `<32 hex>-N` of a multipart upload (lowercased, quotes removed).
    Multipart { etag: String, parts: u64 },
    /// Anything else (no ETag, or a server-specific form).
    Opaque,
}

/// Classifies an ETag as returned by S3 (with or without its quotes).
pub fn etag_kind(etag: Option<&str>) -> EtagKind {
    let Some(raw) = etag else { return EtagKind::Opaque };
    let e = raw.trim().trim_matches('"').to_ascii_lowercase();
    let is_md5 = |s: &str| s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit());
    match e.split_once('-') {
        None if is_md5(&e) => EtagKind::Md5(e),
        Some((h, n)) if is_md5(h) => match n.parse::<u64>() {
            Ok(parts) if parts > 0 => EtagKind::Multipart { etag: e.clone(), parts },
            _ => EtagKind::Opaque,
        },
        _ => EtagKind::Opaque,
    }
}

/// Incremental MD5 / multipart-ETag computation: feed bytes in order, get the ETag string.
/// With `part_size = None` the result is the plain MD5 hex; with `Some(p)` it is the multipart
/// form over parts of `p` bytes.
#[derive(Clone)]
pub struct EtagHasher {
    part_size: Option<u64>,
    current: Md5,
    filled: u64,
    part_digests: Vec<u8>,
    parts: u64,
}

impl EtagHasher {
    pub fn new(part_size: Option<u64>) -> Self {
        EtagHasher { part_size: part_size.filter(|p| *p > 0), current: Md5::new(), filled: 0, part_digests: Vec::new(), parts: 0 }
    }

    /// A hasher that computes what `expectation` compares against (`None` for size-only).
    pub fn for_expectation(expectation: &Expectation) -> Option<Self> {
        match expectation {
            Expectation::Md5 { .. } => Some(EtagHasher::new(None)),
            Expectation::Multipart { part_size, .. } => Some(EtagHasher::new(Some(*part_size))),
            Expectation::SizeOnly { .. } => None,
        }
    }

    /// The part size this hasher cuts at (`None`: plain MD5).
    pub fn part_size(&self) -> Option<u64> {
        self.part_size
    }

    pub fn update(&mut self, mut data: &[u8]) {
        let Some(part) = self.part_size else {
            self.current.update(data);
            return;
        };
        while !data.is_empty() {
            let room = (part - self.filled) as usize;
            let take = room.min(data.len());
            self.current.update(&data[..take]);
            self.filled += take as u64;
            data = &data[take..];
            if self.filled == part {
                self.close_part();
            }
        }
    }

    fn close_part(&mut self) {
        let digest = std::mem::take(&mut self.current).finalize();
        self.part_digests.extend_from_slice(&digest);
        self.parts += 1;
        self.filled = 0;
    }

    /// The ETag of everything fed so far (lowercase hex, no quotes).
    pub fn finish(mut self) -> String {
        if self.part_size.is_none() {
            return hex::encode(self.current.finalize());
        }
        if self.filled > 0 || self.parts == 0 {
            self.close_part();
        }
        format!("{}-{}", hex::encode(Md5::digest(&self.part_digests)), self.parts)
    }
}

/// Computes the MD5 ETag of a file: plain MD5 hex with `part_size = None`, the multipart form
/// `hex(md5(concat(md5(part_i))))-N` with `Some(part_size)`. Blocking; see [`md5_etag_of_file_async`].
pub fn md5_etag_of_file(path: &Path, part_size: Option<u64>) -> std::io::Result<String> {
    md5_etag_of_handle(&std::fs::File::open(path)?, part_size)
}

/// [`md5_etag_of_file`] on a file already open: what was written through a handle is what is
/// hashed, even if someone renamed or replaced the path meanwhile.
pub fn md5_etag_of_handle(file: &std::fs::File, part_size: Option<u64>) -> std::io::Result<String> {
    use std::os::unix::fs::FileExt;
    let len = file.metadata()?.len();
    if let Some(ps) = part_size.filter(|&ps| ps > 0) {
        if len > ps {
            return multipart_etag_parallel(file, len, ps);
        }
    }
    let mut hasher = EtagHasher::new(part_size);
    let mut buf = vec![0u8; HASH_BUF];
    let mut off = 0u64;
    loop {
        let n = file.read_at(&mut buf, off)?;
        if n == 0 {
            return Ok(hasher.finish());
        }
        hasher.update(&buf[..n]);
        off += n as u64;
    }
}

/// The multipart ETag with the parts hashed on every core: each part's MD5 is independent, so a
/// 2 GiB checkpoint verifies in a fraction of the time one thread needs (verification is the
/// main cost a verified download adds over s5cmd's unverified one).
fn multipart_etag_parallel(file: &std::fs::File, len: u64, part_size: u64) -> std::io::Result<String> {
    use std::os::unix::fs::FileExt;
    let parts = len.div_ceil(part_size) as usize;
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).clamp(1, 8).min(parts);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let digests = std::sync::Mutex::new(vec![[0u8; 16]; parts]);
    std::thread::scope(|scope| -> std::io::Result<()> {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| -> std::io::Result<()> {
                    let mut buf = vec![0u8; HASH_BUF];
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if i >= parts {
                            return Ok(());
                        }
                        let (start, end) = (i as u64 * part_size, ((i as u64 + 1) * part_size).min(len));
                        let mut md5 = Md5::new();
                        let mut off = start;
                        while off < end {
                            let want = ((end - off) as usize).min(buf.len());
                            let n = file.read_at(&mut buf[..want], off)?;
                            if n == 0 {
                                return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "file shrank while hashing"));
                            }
                            md5.update(&buf[..n]);
                            off += n as u64;
                        }
                        digests.lock().unwrap_or_else(|p| p.into_inner())[i] = md5.finalize().into();
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().map_err(|_| std::io::Error::other("hash worker panicked"))??;
        }
        Ok(())
    })?;
    let concat: Vec<u8> = digests.into_inner().unwrap_or_else(|p| p.into_inner()).concat();
    Ok(format!("{}-{}", hex::encode(Md5::digest(&concat)), parts))
}

/// [`md5_etag_of_file`] on a blocking thread, so hashing gigabytes does not stall the runtime.
pub async fn md5_etag_of_file_async(path: &Path, part_size: Option<u64>) -> Result<String> {
    let owned = path.to_path_buf();
    tokio::task::spawn_blocking(move || md5_etag_of_file(&owned, part_size))
        .await
        .map_err(|e| Error::Internal(format!("hash task: {e}")))?
        .map_err(|e| Error::io(path, e))
}

/// [`md5_etag_of_handle`] on a blocking thread; `shown` names the file in errors.
pub async fn md5_etag_of_handle_async(file: std::sync::Arc<std::fs::File>, shown: &Path, part_size: Option<u64>) -> Result<String> {
    tokio::task::spawn_blocking(move || md5_etag_of_handle(&file, part_size))
        .await
        .map_err(|e| Error::Internal(format!("hash task: {e}")))?
        .map_err(|e| Error::io(shown, e))
}

/// Decides what checksum a download of `key` must have. Plain MD5 ETags need no request;
/// multipart ETags need one `HeadObject(partNumber=1)` to learn the part size. Returns
/// `SizeOnly` (never an error) when the checksum cannot be known: opaque ETags, encrypted
/// objects, servers without `partNumber` support, or an object that changed meanwhile.
pub async fn expectation(conn: &Connection, bucket: &str, key: &str, size: u64, etag: Option<&str>) -> Expectation {
    match etag_kind(etag) {
        EtagKind::Opaque => Expectation::SizeOnly { reason: "the ETag is not an MD5 (no ETag or a server-specific form)".into() },
        EtagKind::Md5(etag) => Expectation::Md5 { etag },
        EtagKind::Multipart { etag, parts } => multipart_expectation(conn, bucket, key, size, etag, parts).await,
    }
}

async fn multipart_expectation(conn: &Connection, bucket: &str, key: &str, size: u64, etag: String, parts: u64) -> Expectation {
    let size_only = |reason: String| Expectation::SizeOnly { reason };
    if parts == 1 {
        return Expectation::Multipart { etag, part_size: size.max(1), parts };
    }
    let head = match conn.client.head_object().bucket(bucket).key(key).part_number(1).send().await {
        Ok(h) => h,
        Err(e) => return size_only(format!("the server did not report the part size ({})", short_sdk_error(&e))),
    };
    if head.sse_customer_algorithm().is_some()
        || head.server_side_encryption().is_some_and(|s| s.as_str().starts_with("aws:kms"))
    {
        return size_only("the object is encrypted with SSE-KMS/SSE-C, so its ETag is not an MD5".into());
    }
    let part_size = head.content_length().unwrap_or(0).max(0) as u64;
    if part_size == 0 || part_size >= size {
        return size_only("the server did not report the part size of this multipart object".into());
    }
    if size.div_ceil(part_size) != parts {
        return size_only(format!("the object's {parts} parts are not all {part_size} bytes; its ETag cannot be recomputed"));
    }
    Expectation::Multipart { etag, part_size, parts }
}

fn short_sdk_error<E: std::fmt::Debug>(e: &aws_sdk_s3::error::SdkError<E>) -> String {
    match e.raw_response() {
        Some(r) => format!("HTTP {}", r.status().as_u16()),
        None => "no response".into(),
    }
}

/// Compares a computed ETag against the expectation. Pure.
pub fn check_checksum(what: &str, expectation: &Expectation, computed: Option<&str>) -> Result<Verified> {
    let want = match expectation {
        Expectation::SizeOnly { reason } => return Ok(Verified::SizeOnly { reason: reason.clone() }),
        Expectation::Md5 { etag } | Expectation::Multipart { etag, .. } => etag,
    };
    match computed {
        Some(got) if got == want => Ok(Verified::Checksum),
        Some(got) => Err(Error::Integrity { what: what.into(), detail: format!("checksum {got} does not match the object's ETag {want}") }),
        None => Err(Error::Internal("checksum expected but not computed".into())),
    }
}

/// Checks a file's size against the object's. Pure.
pub fn check_size(what: &str, expected: u64, actual: u64) -> Result<()> {
    if expected == actual {
        return Ok(());
    }
    Err(Error::Integrity { what: what.into(), detail: format!("{actual} bytes on disk, object has {expected}") })
}

/// Verifies a downloaded file against the object: size always, checksum where the ETag allows
/// (see [`expectation`]). A mismatch is [`Error::Integrity`]; the caller removes the file.
pub async fn verify_download(
    conn: &Connection,
    bucket: &str,
    key: &str,
    path: &Path,
    expected_size: u64,
    etag: Option<&str>,
) -> Result<Verified> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    verify_handle(conn, bucket, key, std::sync::Arc::new(file), path, expected_size, etag).await
}

/// [`verify_download`] of a file already open (size from the handle, bytes read through it), so
/// what is checked is exactly what will be renamed into place.
pub async fn verify_handle(
    conn: &Connection,
    bucket: &str,
    key: &str,
    file: std::sync::Arc<std::fs::File>,
    shown: &Path,
    expected_size: u64,
    etag: Option<&str>,
) -> Result<Verified> {
    let what = format!("s3://{bucket}/{key}");
    let actual = file.metadata().map_err(|e| Error::io(shown, e))?.len();
    check_size(&what, expected_size, actual)?;
    let exp = expectation(conn, bucket, key, expected_size, etag).await;
    let computed = match &exp {
        Expectation::SizeOnly { .. } => None,
        Expectation::Md5 { .. } => Some(md5_etag_of_handle_async(file, shown, None).await?),
        Expectation::Multipart { part_size, .. } => Some(md5_etag_of_handle_async(file, shown, Some(*part_size)).await?),
    };
    check_checksum(&what, &exp, computed.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md5hex(d: &[u8]) -> String {
        hex::encode(Md5::digest(d))
    }

    #[test]
    fn plain_md5_matches_known_value() {
        let mut h = EtagHasher::new(None);
        h.update(b"hello ");
        h.update(b"world");
        assert_eq!(h.finish(), "5eb63bbbe01eeed093cb22bb8f5acdc3");
        assert_eq!(EtagHasher::new(None).finish(), "d41d8cd98f00b204e9800998ecf8427e");
    }

    #[test]
    fn multipart_etag_is_md5_of_part_md5s() {
        let data: Vec<u8> = (0..25u8).collect();
        let mut concat = Vec::new();
        for chunk in data.chunks(10) {
            concat.extend_from_slice(&Md5::digest(chunk));
        }
        let want = format!("{}-3", md5hex(&concat));
        // Fed in odd-sized pieces that straddle part boundaries.
        let mut h = EtagHasher::new(Some(10));
        for piece in data.chunks(7) {
            h.update(piece);
        }
        assert_eq!(h.finish(), want);
    }

    #[test]
    fn multipart_etag_of_exact_multiple_has_no_empty_tail_part() {
        let data = vec![7u8; 20];
        let mut h = EtagHasher::new(Some(10));
        h.update(&data);
        assert!(h.finish().ends_with("-2"));
    }

    #[test]
    fn file_hash_equals_streamed_hash() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&p, &data).unwrap();
        assert_eq!(md5_etag_of_file(&p, None).unwrap(), md5hex(&data));
        let mut h = EtagHasher::new(Some(1_000_000));
        h.update(&data);
        assert_eq!(md5_etag_of_file(&p, Some(1_000_000)).unwrap(), h.finish());
    }

    #[test]
    fn etags_are_classified() {
        let md5 = "5eb63bbbe01eeed093cb22bb8f5acdc3";
        assert_eq!(etag_kind(Some(&format!("\"{}\"", md5.to_uppercase()))), EtagKind::Md5(md5.into()));
        assert_eq!(etag_kind(Some(&format!("{md5}-12"))), EtagKind::Multipart { etag: format!("{md5}-12"), parts: 12 });
        assert_eq!(etag_kind(Some("abc")), EtagKind::Opaque);
        assert_eq!(etag_kind(Some(&format!("{md5}-x"))), EtagKind::Opaque);
        assert_eq!(etag_kind(None), EtagKind::Opaque);
    }

    #[test]
    fn mismatches_are_integrity_errors() {
        let exp = Expectation::Md5 { etag: "aa".into() };
        assert!(matches!(check_checksum("x", &exp, Some("bb")), Err(Error::Integrity { .. })));
        assert_eq!(check_checksum("x", &exp, Some("aa")).unwrap(), Verified::Checksum);
        assert!(matches!(check_size("x", 10, 9), Err(Error::Integrity { .. })));
        let so = Expectation::SizeOnly { reason: "r".into() };
        assert!(matches!(check_checksum("x", &so, None).unwrap(), Verified::SizeOnly { .. }));
    }
}
