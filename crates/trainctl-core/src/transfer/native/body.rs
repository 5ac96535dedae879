//! Upload bodies streamed from the open source file: a part (or a small object) is read in
//! 256 KiB frames as the HTTP client asks for them, never held whole in memory, so an upload's
//! memory is `parts in flight × a few frames` whatever the part size (≈ 16 × 256 KiB at the
//! defaults, instead of 16 × 32 MiB).
//!
//! Why the file is one shared handle ([`SourceFile`]) opened once per upload: every part reads
//! the same file, and its identity (size + mtime, by `fstat` on that handle) is re-checked at
//! the end of every body and before the upload completes — a file appended to or rewritten
//! during its upload fails with [`Error::SourceChanged`] instead of becoming a mixed object.
//!
//! The body is retryable (the SDK rebuilds it on retry, re-reading from the part's start);
//! bytes are counted up to the highest offset ever sent, so a retried part never counts twice
//! and progress never goes back.

use crate::error::{Error, Result};
use crate::transfer::checksum::{self, Algorithm, Cut, Recipe};
use crate::transfer::verify;
use aws_sdk_s3::primitives::ByteStream;
use aws_smithy_types::body::SdkBody;
use bytes::Bytes;
use std::fs::File;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use tokio::task::JoinHandle;

/// Size of the frames read from the file and handed to the HTTP client (and so the progress
/// granularity and the per-body memory).
const FRAME: u64 = 256 * 1024;

/// Something that accumulates moved bytes (the job's progress counter).
pub(super) type Counter = Arc<AtomicU64>;

/// The file being uploaded, open once, with the identity it had when the upload started.
#[derive(Debug)]
pub(super) struct SourceFile {
    file: File,
    path: PathBuf,
    pub size: u64,
    pub mtime_ns: u128,
}

impl SourceFile {
    pub fn open(path: &Path) -> Result<SourceFile> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let (size, mtime_ns) = identity(&file).map_err(|e| Error::io(path, e))?;
        Ok(SourceFile { file, path: path.to_path_buf(), size, mtime_ns })
    }

    /// A second handle on the same open file, for reading it front to back (its offset is
    /// its own business: this handle's reads all go through `pread`).
    pub fn reader(&self) -> std::io::Result<File> {
        self.file.try_clone()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `Err(SourceChanged)` when the open file's size or mtime is no longer what it was when
    /// the upload started (checked on the handle: a rename over the path does not fool it).
    pub fn check_unchanged(&self) -> Result<()> {
        let (size, mtime_ns) = identity(&self.file).map_err(|e| Error::io(&self.path, e))?;
        if (size, mtime_ns) == (self.size, self.mtime_ns) {
            return Ok(());
        }
        let detail = if size != self.size { format!("its size went from {} to {size} bytes", self.size) } else { "it was modified".to_string() };
        Err(Error::SourceChanged { path: self.path.clone(), detail })
    }

    /// The checksum (base64, as S3 takes it) of `len` bytes from `offset`, read through the
    /// open handle, on every core (`Spread::Cores`: one large range hashed alone) or on the
    /// calling thread (`Spread::Here`: one part among many in flight). Blocking. Sent ahead of
    /// the bytes it covers, so a store that checks it refuses a body that differs from what
    /// was read here.
    pub fn checksum(&self, algorithm: Algorithm, offset: u64, len: u64, spread: Spread) -> Result<String> {
        let recipe = Recipe { algorithm, cut: Cut::Any };
        let hash = match spread {
            Spread::Cores => verify::hash_file_range,
            Spread::Here => verify::hash_file_range_here,
        };
        let value = hash(&self.file, offset, offset + len, recipe).map_err(|e| match self.check_unchanged() {
            Err(changed) => changed,
            Ok(()) => Error::io(&self.path, e),
        })?;
        Ok(checksum::display_value(&value, None))
    }

    fn read_at(&self, offset: u64, len: u64) -> std::io::Result<Bytes> {
        use std::os::unix::fs::FileExt;
        let mut buf = vec![0u8; len as usize];
        self.file.read_exact_at(&mut buf, offset)?;
        Ok(Bytes::from(buf))
    }
}

/// Where [`SourceFile::checksum`] hashes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Spread {
    /// On every core: one range hashed while nothing else hashes (a whole file's first pass).
    Cores,
    /// On the calling thread: one part or small file among many in flight.
    Here,
}

/// Size and modification time (ns since the epoch) of an open file.
fn identity(file: &File) -> std::io::Result<(u64, u128)> {
    let meta = file.metadata()?;
    let mtime = meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map(|d| d.as_nanos()).unwrap_or(0);
    Ok((meta.len(), mtime))
}

/// A [`ByteStream`] of `len` bytes of `src` from `offset`, read frame by frame on blocking
/// threads, adding to `counter` as frames are handed over. Its last frame is only released
/// after [`SourceFile::check_unchanged`] passes, so a changed file never completes a request.
pub(super) fn file_range_body(src: Arc<SourceFile>, offset: u64, len: u64, counter: Counter) -> ByteStream {
    let high = Arc::new(AtomicU64::new(0));
    let body = SdkBody::retryable(move || {
        SdkBody::from_body_1_x(FileRange { src: src.clone(), offset, len, pos: 0, high: high.clone(), counter: counter.clone(), pending: None })
    });
    ByteStream::new(body)
}

struct FileRange {
    src: Arc<SourceFile>,
    offset: u64,
    len: u64,
    pos: u64,
    /// Highest offset already counted, shared by every rebuild of this body.
    high: Arc<AtomicU64>,
    counter: Counter,
    /// The frame being read.
    pending: Option<JoinHandle<Result<Bytes>>>,
}

impl http_body::Body for FileRange {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<std::result::Result<http_body::Frame<Bytes>, Error>>> {
        if self.pos >= self.len {
            return Poll::Ready(None);
        }
        if self.pending.is_none() {
            let (src, at, n) = (self.src.clone(), self.offset + self.pos, FRAME.min(self.len - self.pos));
            let last = self.pos + n == self.len;
            self.pending = Some(tokio::task::spawn_blocking(move || {
                let data = src.read_at(at, n).map_err(|e| match src.check_unchanged() {
                    Err(changed) => changed,
                    Ok(()) => Error::io(src.path(), e),
                })?;
                if last {
                    src.check_unchanged()?;
                }
                Ok(data)
            }));
        }
        let joined = ready!(Pin::new(self.pending.as_mut().expect("a read is pending")).poll(cx));
        self.pending = None;
        let data = match joined {
            Ok(Ok(data)) => data,
            Ok(Err(e)) => return Poll::Ready(Some(Err(e))),
            Err(e) => return Poll::Ready(Some(Err(Error::Internal(format!("read task: {e}"))))),
        };
        self.pos += data.len() as u64;
        let end = self.pos;
        let before = self.high.fetch_max(end, Ordering::Relaxed);
        if end > before {
            self.counter.fetch_add(end - before, Ordering::Relaxed);
        }
        Poll::Ready(Some(Ok(http_body::Frame::data(data))))
    }

    fn is_end_stream(&self) -> bool {
        self.pos >= self.len
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.len - self.pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn streams_the_range_and_counts_every_byte_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let src = Arc::new(SourceFile::open(&path).unwrap());
        let counter = Counter::default();
        let got = file_range_body(src, 1000, 600_000, counter.clone()).collect().await.unwrap().into_bytes();
        assert_eq!(&got[..], &data[1000..601_000]);
        assert_eq!(counter.load(Ordering::Relaxed), 600_000);
    }

    #[tokio::test]
    async fn a_file_that_grew_fails_the_body_with_source_changed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, vec![1u8; 1000]).unwrap();
        let src = Arc::new(SourceFile::open(&path).unwrap());
        std::fs::OpenOptions::new().append(true).open(&path).and_then(|mut f| std::io::Write::write_all(&mut f, b"more")).unwrap();
        let err = file_range_body(src.clone(), 0, 1000, Counter::default()).collect().await.unwrap_err();
        assert!(crate::s3::errors::chain_text(&err).contains("changed while it was being uploaded"), "{err}");
        assert!(matches!(src.check_unchanged(), Err(Error::SourceChanged { .. })));
    }
}
