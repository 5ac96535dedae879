//! Download verification: a downloaded file must have the object's size and, where the object
//! allows it, its checksum — preferably one the store keeps (`x-amz-checksum-*`, see
//! [`checksum`]), otherwise its MD5 (plain ETag) or multipart ETag.
//!
//! Both engines use this. The native engine hashes while the bytes arrive ([`Expectation::recipe`]
//! and a [`checksum::PieceHasher`] per GET) and only asks [`hash_file`] when its ranges could
//! not be combined (a plain MD5 or SHA-256 fetched in parallel ranges). The s5cmd engine
//! hashes each file as s5cmd reports it, on every core, while later files still download.
//!
//! When no checksum can be recomputed (SSE-KMS/SSE-C objects, servers that do not answer
//! `HeadObject?partNumber=1`, parts of unequal size) verification falls back to the size and
//! says so in [`Verified::SizeOnly`], rather than failing a good file. Which way a file was
//! verified — and why a stored checksum was not used — is logged at `info` (`-v`).

use crate::error::{Error, Result};
use crate::s3::Connection;
use crate::transfer::checksum::{self, Algorithm, Cut, Piece, Recipe, Stored};
use std::path::Path;
use std::sync::Arc;

/// Read buffer for hashing files.
const HASH_BUF: usize = 1024 * 1024;
/// Runs a full-object CRC of a file is cut into for hashing on several cores.
const FILE_RUN: u64 = 16 * 1024 * 1024;

/// How thoroughly a download was checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verified {
    /// Size and a checksum the store keeps with the object.
    Stored(Algorithm),
    /// Size and the MD5 / multipart ETag; `why` says why no stored checksum was used.
    Etag { why: String },
    /// Only the size could be checked; `reason` says why the checksum could not.
    SizeOnly { reason: String },
}

/// What a file's checksum must be for the object to match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expectation {
    /// A checksum stored with the object; `part_size` is known for composite ones.
    Stored { stored: Stored, part_size: Option<u64> },
    /// Plain 32-hex MD5 of the whole content; `why` says why no stored checksum is used.
    Md5 { etag: String, why: String },
    /// Multipart ETag: `parts` parts of `part_size` bytes (the last one shorter).
    Multipart { etag: String, part_size: u64, parts: u64, why: String },
    /// No checksum can be computed; only the size is checked.
    SizeOnly { reason: String },
}

impl Expectation {
    /// How the bytes must be hashed to check this expectation (`None`: size only).
    pub fn recipe(&self) -> Option<Recipe> {
        match self {
            Expectation::Stored { stored, part_size } => match (stored.composite_parts, part_size) {
                (Some(_), Some(p)) => Some(Recipe { algorithm: stored.algorithm, cut: Cut::Parts(*p) }),
                (Some(_), None) => None,
                (None, _) if stored.algorithm.combinable() => Some(Recipe { algorithm: stored.algorithm, cut: Cut::Any }),
                (None, _) => Some(Recipe { algorithm: stored.algorithm, cut: Cut::Whole }),
            },
            Expectation::Md5 { .. } => Some(Recipe { algorithm: Algorithm::Md5, cut: Cut::Whole }),
            Expectation::Multipart { part_size, .. } => Some(Recipe { algorithm: Algorithm::Md5, cut: Cut::Parts(*part_size) }),
            Expectation::SizeOnly { .. } => None,
        }
    }

    /// The part size ranged downloads must use so that every range is one part (composite
    /// checksums and multipart ETags); `None` when any range size works.
    pub fn part_size(&self) -> Option<u64> {
        match self.recipe()?.cut {
            Cut::Parts(p) => Some(p),
            _ => None,
        }
    }

    /// Replaces an ETag expectation with `stored` when the object carries a usable stored
    /// checksum (cheaper to compute, and end to end from the uploader); a composite one is used
    /// only when the part size is known. `Err(reason)` from the lookup is kept as the reason the
    /// ETag is used.
    pub fn prefer_stored(self, stored: std::result::Result<Option<Stored>, String>, size: u64) -> Expectation {
        let why = match stored {
            Ok(Some(s)) if s.composite_parts.is_none() => return Expectation::Stored { stored: s, part_size: None },
            Ok(Some(s)) => match &self {
                Expectation::Multipart { part_size, parts, .. } if s.composite_parts == Some(*parts) && size.div_ceil(*part_size) == *parts => {
                    return Expectation::Stored { stored: s, part_size: Some(*part_size) };
                }
                _ => format!("its stored {} checksum is composite and its part size is unknown", s.algorithm),
            },
            Ok(None) => "it has no stored checksum".to_string(),
            Err(reason) => reason,
        };
        match self {
            Expectation::Md5 { etag, .. } => Expectation::Md5 { etag, why },
            Expectation::Multipart { etag, part_size, parts, .. } => Expectation::Multipart { etag, part_size, parts, why },
            other => other,
        }
    }

    /// Compares the value assembled from the file's bytes (`None`: the pieces did not add up)
    /// with what the object says. Pure.
    pub fn check(&self, what: &str, computed: Option<&[u8]>) -> Result<Verified> {
        let (want, name, verified) = match self {
            Expectation::SizeOnly { reason } => return Ok(Verified::SizeOnly { reason: reason.clone() }),
            Expectation::Stored { stored, .. } => (stored.display(), format!("stored {}", stored.algorithm), Verified::Stored(stored.algorithm)),
            Expectation::Md5 { etag, why } => (etag.clone(), "ETag".to_string(), Verified::Etag { why: why.clone() }),
            Expectation::Multipart { etag, why, .. } => (etag.clone(), "ETag".to_string(), Verified::Etag { why: why.clone() }),
        };
        let Some(computed) = computed else { return Err(Error::Internal(format!("{what}: checksum pieces did not cover the file"))) };
        let got = match self {
            Expectation::Stored { stored, .. } => checksum::display_value(computed, stored.composite_parts),
            Expectation::Multipart { parts, .. } => format!("{}-{parts}", hex::encode(computed)),
            _ => hex::encode(computed),
        };
        if got == want {
            return Ok(verified);
        }
        Err(Error::Integrity { what: what.into(), detail: format!("checksum {got} does not match the object's {name} {want}") })
    }
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

/// The stored checksum of a `GetObject`/`HeadObject` answer asked with checksum mode. An object
/// with a multipart ETag must say whether its checksum is full-object or composite (a store
/// that omits `x-amz-checksum-type` there leaves it ambiguous, so it is not used).
pub fn stored_of(fields: StoredFields<'_>, etag: Option<&str>) -> std::result::Result<Option<Stored>, String> {
    let values = [
        (Algorithm::Crc64Nvme, fields.crc64nvme),
        (Algorithm::Crc32c, fields.crc32c),
        (Algorithm::Crc32, fields.crc32),
        (Algorithm::Sha256, fields.sha256),
    ];
    let stored = checksum::stored_from_headers(&values, fields.checksum_type)?;
    if let Some(s) = &stored {
        if s.composite_parts.is_none() && fields.checksum_type.is_none() && matches!(etag_kind(etag), EtagKind::Multipart { .. }) {
            return Err(format!("the store did not say whether the {} checksum of this multipart object is full-object or composite", s.algorithm));
        }
    }
    Ok(stored)
}

/// The `x-amz-checksum-*` fields of an answer.
#[derive(Debug, Clone, Copy, Default)]
pub struct StoredFields<'a> {
    pub crc64nvme: Option<&'a str>,
    pub crc32c: Option<&'a str>,
    pub crc32: Option<&'a str>,
    pub sha256: Option<&'a str>,
    pub checksum_type: Option<&'a str>,
}

/// The same accessors exist on a GET's and a HEAD's answer (two SDK types, no shared trait).
macro_rules! stored_fields_of {
    ($o:expr) => {
        StoredFields {
            crc64nvme: $o.checksum_crc64_nvme(),
            crc32c: $o.checksum_crc32_c(),
            crc32: $o.checksum_crc32(),
            sha256: $o.checksum_sha256(),
            checksum_type: $o.checksum_type().map(|t| t.as_str()),
        }
    };
}

impl<'a> StoredFields<'a> {
    pub fn of_get(o: &'a aws_sdk_s3::operation::get_object::GetObjectOutput) -> Self {
        stored_fields_of!(o)
    }

    pub fn of_head(o: &'a aws_sdk_s3::operation::head_object::HeadObjectOutput) -> Self {
        stored_fields_of!(o)
    }
}

/// Asks for stored checksums on a request without turning on the SDK's own response
/// validation: with `checksum_mode(Enabled)` the SDK would hash every body a second time (and
/// report a mismatch as a broken stream); the header alone makes the store send the values,
/// which the SDK still parses into the output, and trainctl checks them itself while writing.
pub fn with_checksum_mode<T, E, B>(req: aws_sdk_s3::client::customize::CustomizableOperation<T, E, B>) -> aws_sdk_s3::client::customize::CustomizableOperation<T, E, B> {
    req.mutate_request(|r| {
        r.headers_mut().insert("x-amz-checksum-mode", "ENABLED");
    })
}

/// The expectation from the ETag alone, without a request: plain MD5 ETags are complete;
/// multipart ETags still need their part size ([`with_part_size`]).
pub fn etag_expectation(size: u64, etag: Option<&str>) -> Expectation {
    let why = "it has no stored checksum".to_string();
    match etag_kind(etag) {
        EtagKind::Opaque => Expectation::SizeOnly { reason: "the object has no stored checksum and its ETag is not an MD5".into() },
        EtagKind::Md5(etag) => Expectation::Md5 { etag, why },
        EtagKind::Multipart { etag, parts: 1 } => Expectation::Multipart { etag, part_size: size.max(1), parts: 1, why },
        EtagKind::Multipart { etag, parts } => Expectation::Multipart { etag, part_size: 0, parts, why },
    }
}

/// Whether a multipart expectation still lacks its part size.
pub fn needs_part_size(exp: &Expectation) -> bool {
    matches!(exp, Expectation::Multipart { part_size: 0, .. })
}

/// Fills in the part size of a multipart ETag with one `HeadObject(partNumber=1)` of the
/// version being fetched (`version_id`, a pinned dataset's; `None`: the current one); anything
/// that cannot be learnt makes it size-only (with the reason).
pub async fn with_part_size(conn: &Connection, bucket: &str, key: &str, version_id: Option<&str>, size: u64, exp: Expectation) -> Expectation {
    let Expectation::Multipart { etag, parts, part_size: 0, why } = exp else { return exp };
    let size_only = |reason: String| Expectation::SizeOnly { reason };
    let head = match conn.client.head_object().bucket(bucket).key(key).set_version_id(version_id.map(str::to_string)).part_number(1).send().await {
        Ok(h) => h,
        Err(e) => return size_only(format!("the server did not report the part size ({})", short_sdk_error(&e))),
    };
    if head.sse_customer_algorithm().is_some() || head.server_side_encryption().is_some_and(|s| s.as_str().starts_with("aws:kms")) {
        return size_only("the object is encrypted with SSE-KMS/SSE-C, so its ETag is not an MD5".into());
    }
    let part_size = head.content_length().unwrap_or(0).max(0) as u64;
    if part_size == 0 || part_size >= size {
        return size_only("the server did not report the part size of this multipart object".into());
    }
    if size.div_ceil(part_size) != parts {
        return size_only(format!("the object's {parts} parts are not all {part_size} bytes; its ETag cannot be recomputed"));
    }
    Expectation::Multipart { etag, part_size, parts, why }
}

/// Decides what a download of `key` must match, asking the store when needed: with
/// `ask_stored`, one `HeadObject` with checksum mode for a stored checksum (worth it for large
/// objects: a CRC is ~15× cheaper to compute than MD5); then, for composite checksums and
/// multipart ETags, one `HeadObject(partNumber=1)` for the part size. Never an error: what
/// cannot be known becomes `SizeOnly` with the reason. `version_id`: the version fetched (see
/// [`with_part_size`]).
pub async fn expectation(conn: &Connection, bucket: &str, key: &str, version_id: Option<&str>, size: u64, etag: Option<&str>, ask_stored: bool) -> Expectation {
    let exp = etag_expectation(size, etag);
    let stored = if ask_stored { head_stored(conn, bucket, key, version_id, etag).await } else { Ok(None) };
    if let Ok(Some(s)) = &stored {
        if s.composite_parts.is_none() {
            return exp.prefer_stored(stored, size);
        }
    }
    let exp = with_part_size(conn, bucket, key, version_id, size, exp).await;
    if ask_stored {
        exp.prefer_stored(stored, size)
    } else {
        exp
    }
}

async fn head_stored(conn: &Connection, bucket: &str, key: &str, version_id: Option<&str>, etag: Option<&str>) -> std::result::Result<Option<Stored>, String> {
    let req = conn.client.head_object().bucket(bucket).key(key).set_version_id(version_id.map(str::to_string)).set_if_match(etag.map(str::to_string)).customize();
    match with_checksum_mode(req).send().await {
        Ok(head) => stored_of(StoredFields::of_head(&head), etag),
        Err(e) => Err(format!("its stored checksum could not be read ({})", short_sdk_error(&e))),
    }
}

fn short_sdk_error<E: std::fmt::Debug>(e: &aws_sdk_s3::error::SdkError<E>) -> String {
    match e.raw_response() {
        Some(r) => format!("HTTP {}", r.status().as_u16()),
        None => "no response".into(),
    }
}

/// Checks a file's size against the object's. Pure.
pub fn check_size(what: &str, expected: u64, actual: u64) -> Result<()> {
    if expected == actual {
        return Ok(());
    }
    Err(Error::Integrity { what: what.into(), detail: format!("{actual} bytes on disk, object has {expected}") })
}

/// Hashes `len` bytes of an open file by `recipe`, on every core where the recipe allows
/// (parts, or runs of a combinable CRC, are independent), and returns the assembled value.
/// Blocking.
pub fn hash_file(file: &std::fs::File, len: u64, recipe: Recipe) -> std::io::Result<Vec<u8>> {
    hash_file_range(file, 0, len, recipe)
}

/// [`hash_file`] of bytes `start..end` only (the checksum of one part of an upload); `Parts`
/// recipes cut relative to `start`. Blocking.
pub fn hash_file_range(file: &std::fs::File, start: u64, end: u64, recipe: Recipe) -> std::io::Result<Vec<u8>> {
    hash_range(file, start, end, recipe, cores().clamp(1, 8))
}

/// [`hash_file_range`] on the calling thread alone: for the checksum of one part among many
/// in flight, where the parts already fill the cores. Fanning each part out again started two
/// threads with a 1 MiB buffer each for all 16 parts of an upload at once (and a malloc arena
/// per thread): a 2 GiB native upload peaked at 66–67 MB (issue 15, 2026-12-05 run).
pub fn hash_file_range_here(file: &std::fs::File, start: u64, end: u64, recipe: Recipe) -> std::io::Result<Vec<u8>> {
    hash_range(file, start, end, recipe, 1)
}

fn hash_range(file: &std::fs::File, start: u64, end: u64, recipe: Recipe, max_threads: usize) -> std::io::Result<Vec<u8>> {
    let len = end - start;
    let step = match recipe.cut {
        Cut::Whole => len.max(1),
        Cut::Any => FILE_RUN,
        Cut::Parts(p) => p.max(1),
    };
    let runs: Vec<(u64, u64)> = (0..len.div_ceil(step).max(1)).map(|i| (i * step, ((i + 1) * step).min(len))).collect();
    let threads = max_threads.min(runs.len());
    if threads <= 1 {
        // One run (a small file, a whole-file MD5): hash it on this thread instead of starting
        // another one for it.
        let mut buf = vec![0u8; HASH_BUF.min(len.max(1) as usize)];
        let mut pieces = Vec::new();
        for &(a, b) in &runs {
            pieces.extend(hash_run(file, &mut buf, recipe, start, a, b)?);
        }
        return recipe.assemble(pieces, len).ok_or_else(|| std::io::Error::other("hash pieces did not cover the file"));
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let pieces = std::sync::Mutex::new(Vec::<Piece>::new());
    std::thread::scope(|scope| -> std::io::Result<()> {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| -> std::io::Result<()> {
                    let mut buf = vec![0u8; HASH_BUF.min(len.max(1) as usize)];
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(&(a, b)) = runs.get(i) else { return Ok(()) };
                        let found = hash_run(file, &mut buf, recipe, start, a, b)?;
                        pieces.lock().unwrap_or_else(|p| p.into_inner()).extend(found);
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().map_err(|_| std::io::Error::other("hash worker panicked"))??;
        }
        Ok(())
    })?;
    let pieces = pieces.into_inner().unwrap_or_else(|p| p.into_inner());
    recipe.assemble(pieces, len).ok_or_else(|| std::io::Error::other("hash pieces did not cover the file"))
}

/// Hashes file bytes `base + a .. base + b` into pieces numbered from `a`.
fn hash_run(file: &std::fs::File, buf: &mut [u8], recipe: Recipe, base: u64, start: u64, end: u64) -> std::io::Result<Vec<Piece>> {
    use std::os::unix::fs::FileExt;
    let mut h = recipe.hasher(start);
    let mut off = start;
    while off < end {
        let want = ((end - off) as usize).min(buf.len());
        let n = file.read_at(&mut buf[..want], base + off)?;
        if n == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "file shrank while hashing"));
        }
        h.update(&buf[..n]);
        off += n as u64;
    }
    Ok(h.finish())
}

fn cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// Files hashed at once by [`hash_file_async`] and [`md5_etag_of_file_async`], at most: one per
/// core. Hashing is CPU-bound, so more add no speed — only blocking threads and their 1 MiB
/// buffers: the s5cmd engine hashes each file as s5cmd reports it, and without this bound a
/// download of 1000 small files ran hundreds of hashes at once (54–58 MB RSS, issue 15).
fn hashing_slots() -> &'static tokio::sync::Semaphore {
    static SLOTS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    SLOTS.get_or_init(|| tokio::sync::Semaphore::new(cores()))
}

pub(crate) async fn hashing_slot() -> Result<tokio::sync::SemaphorePermit<'static>> {
    hashing_slots().acquire().await.map_err(|_| Error::Internal("hashing semaphore closed".into()))
}

/// [`hash_file`] on a blocking thread (at most one per core, see [`hashing_slots`]); `shown`
/// names the file in errors.
pub async fn hash_file_async(file: Arc<std::fs::File>, shown: &Path, len: u64, recipe: Recipe) -> Result<Vec<u8>> {
    let _slot = hashing_slot().await?;
    tokio::task::spawn_blocking(move || hash_file(&file, len, recipe))
        .await
        .map_err(|e| Error::Internal(format!("hash task: {e}")))?
        .map_err(|e| Error::io(shown, e))
}

/// The MD5 ETag of bytes fed in order, as S3 computes it for an upload: the plain MD5 hex
/// with `part_size = None`, the multipart form `hex(md5(concat(md5(part_i))))-N` with
/// `Some(part_size)`. For what has only an ETag to go by (dataset manifests, sync's content
/// comparison); built on [`checksum`]'s MD5 recipe so there is one implementation of the rule.
#[derive(Clone)]
pub struct EtagHasher {
    recipe: Recipe,
    hasher: checksum::PieceHasher,
    len: u64,
}

impl EtagHasher {
    pub fn new(part_size: Option<u64>) -> Self {
        let recipe = Recipe { algorithm: Algorithm::Md5, cut: etag_cut(part_size) };
        EtagHasher { recipe, hasher: recipe.hasher(0), len: 0 }
    }

    pub fn update(&mut self, data: &[u8]) {
        self.hasher.update(data);
        self.len += data.len() as u64;
    }

    /// The ETag of everything fed so far (lowercase hex, no quotes).
    pub fn finish(self) -> String {
        let digest = self.recipe.assemble(self.hasher.finish(), self.len).expect("one run from byte 0 covers the bytes fed");
        etag_string(self.recipe.cut, &digest, self.len)
    }
}

fn etag_cut(part_size: Option<u64>) -> Cut {
    match part_size.filter(|&p| p > 0) {
        Some(p) => Cut::Parts(p),
        None => Cut::Whole,
    }
}

fn etag_string(cut: Cut, digest: &[u8], len: u64) -> String {
    match cut {
        Cut::Parts(p) => format!("{}-{}", hex::encode(digest), len.div_ceil(p).max(1)),
        _ => hex::encode(digest),
    }
}

/// [`EtagHasher`]'s value for a local file, parts hashed on every core. Blocking; see
/// [`md5_etag_of_file_async`].
pub fn md5_etag_of_file(path: &Path, part_size: Option<u64>) -> std::io::Result<String> {
    let file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    let cut = etag_cut(part_size);
    let digest = hash_file(&file, len, Recipe { algorithm: Algorithm::Md5, cut })?;
    Ok(etag_string(cut, &digest, len))
}

/// [`md5_etag_of_file`] on a blocking thread, so hashing gigabytes does not stall the runtime.
pub async fn md5_etag_of_file_async(path: &Path, part_size: Option<u64>) -> Result<String> {
    let owned = path.to_path_buf();
    let _slot = hashing_slot().await?;
    tokio::task::spawn_blocking(move || md5_etag_of_file(&owned, part_size))
        .await
        .map_err(|e| Error::Internal(format!("hash task: {e}")))?
        .map_err(|e| Error::io(path, e))
}

/// Verifies a downloaded file against the object: size always, checksum where the object
/// allows (see [`expectation`]). A mismatch is [`Error::Integrity`]; the caller removes the file.
pub async fn verify_download(conn: &Connection, bucket: &str, key: &str, path: &Path, expected_size: u64, etag: Option<&str>) -> Result<Verified> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    verify_handle(conn, bucket, key, Arc::new(file), path, expected_size, etag, true).await
}

/// [`verify_download`] of a file already open (size from the handle, bytes read through it), so
/// what is checked is exactly what will be renamed into place. `ask_stored`: look up a stored
/// checksum first (one `HeadObject`), see [`expectation`].
#[allow(clippy::too_many_arguments)]
pub async fn verify_handle(
    conn: &Connection,
    bucket: &str,
    key: &str,
    file: Arc<std::fs::File>,
    shown: &Path,
    expected_size: u64,
    etag: Option<&str>,
    ask_stored: bool,
) -> Result<Verified> {
    let what = format!("s3://{bucket}/{key}");
    let actual = file.metadata().map_err(|e| Error::io(shown, e))?.len();
    check_size(&what, expected_size, actual)?;
    let exp = expectation(conn, bucket, key, None, expected_size, etag, ask_stored).await;
    let computed = match exp.recipe() {
        None => None,
        Some(recipe) => Some(hash_file_async(file, shown, expected_size, recipe).await?),
    };
    let verified = exp.check(&what, computed.as_deref())?;
    log_verified(&what, &verified);
    Ok(verified)
}

/// Says at `info` (`-v`) how a file was verified, and why not by a stored checksum.
pub fn log_verified(what: &str, verified: &Verified) {
    match verified {
        Verified::Stored(a) => tracing::debug!("{what}: verified by its stored {a} checksum"),
        Verified::Etag { why } => tracing::info!("{what}: verified by MD5/ETag ({why})"),
        Verified::SizeOnly { reason } => tracing::info!("{what}: verified by size only ({reason})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(a: Algorithm, data: &[u8]) -> Stored {
        Stored { algorithm: a, value: a.digest(data), composite_parts: None }
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
    fn a_stored_full_object_checksum_is_preferred_over_the_etag() {
        let exp = etag_expectation(11, Some("5eb63bbbe01eeed093cb22bb8f5acdc3"));
        let exp = exp.prefer_stored(Ok(Some(stored(Algorithm::Crc64Nvme, b"hello world"))), 11);
        assert_eq!(exp.recipe(), Some(Recipe { algorithm: Algorithm::Crc64Nvme, cut: Cut::Any }));
        let value = Algorithm::Crc64Nvme.digest(b"hello world");
        assert_eq!(exp.check("x", Some(&value)).unwrap(), Verified::Stored(Algorithm::Crc64Nvme));
        let bad = Algorithm::Crc64Nvme.digest(b"hello worle");
        assert!(matches!(exp.check("x", Some(&bad)), Err(Error::Integrity { .. })));
    }

    #[test]
    fn without_a_stored_checksum_the_etag_is_used_and_says_why() {
        let exp = etag_expectation(11, Some("5eb63bbbe01eeed093cb22bb8f5acdc3")).prefer_stored(Ok(None), 11);
        let md5 = Algorithm::Md5.digest(b"hello world");
        assert_eq!(exp.check("x", Some(&md5)).unwrap(), Verified::Etag { why: "it has no stored checksum".into() });
        let exp = etag_expectation(11, Some("5eb63bbbe01eeed093cb22bb8f5acdc3")).prefer_stored(Err("bad value".into()), 11);
        assert!(matches!(exp.check("x", Some(&md5)).unwrap(), Verified::Etag { why } if why == "bad value"));
    }

    #[test]
    fn composite_checksums_need_the_part_size_of_a_multipart_etag() {
        let composite = Stored { algorithm: Algorithm::Crc32c, value: vec![0; 4], composite_parts: Some(3) };
        let multi = Expectation::Multipart { etag: "e-3".into(), part_size: 10, parts: 3, why: String::new() };
        let exp = multi.clone().prefer_stored(Ok(Some(composite.clone())), 25);
        assert_eq!(exp.part_size(), Some(10));
        assert!(matches!(exp, Expectation::Stored { .. }));
        let md5 = etag_expectation(25, Some("5eb63bbbe01eeed093cb22bb8f5acdc3")).prefer_stored(Ok(Some(composite)), 25);
        assert!(matches!(md5, Expectation::Md5 { why, .. } if why.contains("composite")));
    }

    #[test]
    fn a_multipart_object_must_say_what_kind_its_checksum_is() {
        let crc = checksum::display_value(&Algorithm::Crc32.digest(b"x"), None);
        let fields = StoredFields { crc32: Some(&crc), ..Default::default() };
        assert!(stored_of(fields, Some("5eb63bbbe01eeed093cb22bb8f5acdc3-2")).is_err());
        assert!(stored_of(fields, Some("5eb63bbbe01eeed093cb22bb8f5acdc3")).unwrap().is_some());
        let typed = StoredFields { checksum_type: Some("FULL_OBJECT"), ..fields };
        assert!(stored_of(typed, Some("5eb63bbbe01eeed093cb22bb8f5acdc3-2")).unwrap().is_some());
    }

    #[test]
    fn size_checks_and_size_only_expectations() {
        assert!(matches!(check_size("x", 10, 9), Err(Error::Integrity { .. })));
        let so = Expectation::SizeOnly { reason: "r".into() };
        assert!(matches!(so.check("x", None).unwrap(), Verified::SizeOnly { .. }));
        assert_eq!(so.recipe(), None);
    }

    #[test]
    fn files_hash_on_several_cores_to_what_a_stream_computes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let data: Vec<u8> = (0..40_000_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&p, &data).unwrap();
        let f = std::fs::File::open(&p).unwrap();
        for recipe in [
            Recipe { algorithm: Algorithm::Md5, cut: Cut::Whole },
            Recipe { algorithm: Algorithm::Md5, cut: Cut::Parts(5_000_000) },
            Recipe { algorithm: Algorithm::Crc64Nvme, cut: Cut::Any },
            Recipe { algorithm: Algorithm::Sha256, cut: Cut::Whole },
        ] {
            let mut h = recipe.hasher(0);
            h.update(&data);
            let streamed = recipe.assemble(h.finish(), data.len() as u64).unwrap();
            assert_eq!(hash_file(&f, data.len() as u64, recipe).unwrap(), streamed, "{recipe:?}");
            assert_eq!(hash_file_range_here(&f, 0, data.len() as u64, recipe).unwrap(), streamed, "{recipe:?} on one thread");
        }
    }

    #[tokio::test]
    async fn a_local_files_etag_is_what_s3_computes_plain_or_multipart() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let data: Vec<u8> = (0..25u32).map(|i| i as u8).collect();
        std::fs::write(&p, &data).unwrap();
        assert_eq!(md5_etag_of_file_async(&p, None).await.unwrap(), hex::encode(Algorithm::Md5.digest(&data)));
        let parts: Vec<u8> = data.chunks(10).flat_map(|c| Algorithm::Md5.digest(c)).collect();
        assert_eq!(md5_etag_of_file_async(&p, Some(10)).await.unwrap(), format!("{}-3", hex::encode(Algorithm::Md5.digest(&parts))));
        std::fs::write(&p, b"").unwrap();
        let empty = Algorithm::Md5.digest(&Algorithm::Md5.digest(b""));
        assert_eq!(md5_etag_of_file_async(&p, Some(10)).await.unwrap(), format!("{}-1", hex::encode(empty)));
        let mut streamed = EtagHasher::new(Some(10));
        for piece in data.chunks(7) {
            streamed.update(piece);
        }
        std::fs::write(&p, &data).unwrap();
        assert_eq!(streamed.finish(), md5_etag_of_file(&p, Some(10)).unwrap());
        let mut exact = EtagHasher::new(Some(5));
        exact.update(&data[..20]);
        assert!(exact.finish().ends_with("-4"), "an exact multiple has no empty tail part");
    }
}
