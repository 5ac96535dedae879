//! Following a log as it grows: a local file (appends; truncation and rotation survived) or an
//! S3 object that a training job re-uploads as it grows (ranged GETs from the last offset).
//!
//! Why ranged GETs and not re-downloading: training logs reach hundreds of MB; a poll should
//! cost one HEAD and, only when something changed, one GET of the new bytes. S3 objects are
//! immutable, so "growing" means a newer, longer object under the same key: a new ETag. Before
//! trusting that the new object extends the old one, the bytes just before the offset are
//! fetched again and compared with what was read; anything else is a replacement, read afresh.

use crate::error::{Error, Result};
use crate::s3::errors::SdkResultExt;
use crate::s3::{list, Connection, S3Url};
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// What to follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FollowSource {
    Local(PathBuf),
    /// An object, or (key empty or ending in `/`) the newest object under a prefix.
    S3(S3Url),
}

impl FollowSource {
    /// `s3://…` or a local path.
    pub fn parse(s: &str) -> Result<FollowSource> {
        if s.starts_with("s3://") || s.starts_with("S3://") {
            return Ok(FollowSource::S3(S3Url::parse(s)?));
        }
        Ok(FollowSource::Local(PathBuf::from(s)))
    }
}

/// How to follow.
#[derive(Debug, Clone)]
pub struct FollowOptions {
    /// Print what is already there first (default: only what is appended from now on).
    pub from_start: bool,
    /// How often to look for new bytes.
    pub interval: Duration,
}

impl Default for FollowOptions {
    fn default() -> Self {
        FollowOptions { from_start: false, interval: Duration::from_secs(2) }
    }
}

/// What the follower reports.
#[derive(Debug, Clone, PartialEq)]
pub enum FollowUpdate {
    /// One complete line (without its newline), and the byte offset just after it.
    Line { text: String, offset: u64 },
    /// Something the user should know: waiting for the file, it was truncated, rotated, replaced.
    Notice(String),
}

/// Bytes read per step (a local read, one ranged GET): what a follow holds at once.
const CHUNK: u64 = 8 << 20;

/// A "line" longer than this (a binary file, a log without newlines) is passed on in pieces
/// rather than held until its end.
const MAX_LINE: usize = 1 << 20;

/// Splits bytes into complete lines, holding back a trailing partial line (and never splitting a
/// UTF-8 sequence, since lines split at `\n` only — except in a line above [`MAX_LINE`]).
#[derive(Debug, Default)]
struct Lines {
    partial: Vec<u8>,
}

impl Lines {
    fn push(&mut self, bytes: &[u8], end_offset: u64, on: &mut dyn FnMut(FollowUpdate)) {
        self.partial.extend_from_slice(bytes);
        let mut consumed = 0;
        while let Some(i) = self.partial[consumed..].iter().position(|b| *b == b'\n') {
            let line = &self.partial[consumed..consumed + i];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            consumed += i + 1;
            let offset = end_offset - (self.partial.len() - consumed) as u64;
            on(FollowUpdate::Line { text: String::from_utf8_lossy(line).into_owned(), offset });
        }
        self.partial.drain(..consumed);
        while self.partial.len() > MAX_LINE {
            let offset = end_offset - (self.partial.len() - MAX_LINE) as u64;
            let piece: Vec<u8> = self.partial.drain(..MAX_LINE).collect();
            on(FollowUpdate::Line { text: String::from_utf8_lossy(&piece).into_owned(), offset });
        }
    }

    /// Emits the unterminated last line (when the follow ends).
    fn flush(&mut self, end_offset: u64, on: &mut dyn FnMut(FollowUpdate)) {
        if !self.partial.is_empty() {
            on(FollowUpdate::Line { text: String::from_utf8_lossy(&self.partial).into_owned(), offset: end_offset });
            self.partial.clear();
        }
    }

    fn reset(&mut self) {
        self.partial.clear();
    }
}

/// Follows `src` until `cancel`, calling `on` for each line and notice. `conn` is needed for S3.
pub async fn follow(src: &FollowSource, conn: Option<&Connection>, opts: &FollowOptions, on: &mut (dyn FnMut(FollowUpdate) + Send), cancel: CancellationToken) -> Result<()> {
    match src {
        FollowSource::Local(path) => follow_local(path, opts, on, cancel).await,
        FollowSource::S3(url) => {
            let conn = conn.ok_or_else(|| Error::Internal("S3 follow without a connection".into()))?;
            follow_s3(conn, url, opts, on, cancel).await
        }
    }
}

/// Sleeps one interval; false when cancelled.
async fn tick(every: Duration, cancel: &CancellationToken) -> bool {
    tokio::select! {
        _ = cancel.cancelled() => false,
        _ = tokio::time::sleep(every) => true,
    }
}

// ---------------------------------------------------------------------------------------------
// Local files

struct OpenFile {
    file: std::fs::File,
    ino: u64,
    pos: u64,
}

fn inode(m: &std::fs::Metadata) -> u64 {
    crate::platform::file_id(m)
}

async fn follow_local(path: &PathBuf, opts: &FollowOptions, on: &mut (dyn FnMut(FollowUpdate) + Send), cancel: CancellationToken) -> Result<()> {
    let mut open: Option<OpenFile> = None;
    let mut lines = Lines::default();
    let mut first = true;
    let mut said_waiting = false;
    loop {
        if open.is_none() {
            match std::fs::File::open(path) {
                Ok(file) => {
                    let meta = file.metadata().map_err(|e| Error::io(path, e))?;
                    if meta.is_dir() {
                        return Err(Error::LocalKind { path: path.clone(), expected: "file" });
                    }
                    let pos = if first && !opts.from_start { meta.len() } else { 0 };
                    if said_waiting {
                        on(FollowUpdate::Notice(format!("{} appeared", path.display())));
                    }
                    open = Some(OpenFile { file, ino: inode(&meta), pos });
                    first = false;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    if !said_waiting {
                        on(FollowUpdate::Notice(format!("waiting for {} to appear", path.display())));
                        said_waiting = true;
                    }
                    first = false;
                }
                Err(e) => return Err(Error::io(path, e)),
            }
        }
        if let Some(f) = open.as_mut() {
            read_new_local(f, path, &mut lines, on)?;
            match std::fs::metadata(path) {
                Ok(m) if inode(&m) != f.ino => {
                    lines.flush(f.pos, on);
                    on(FollowUpdate::Notice(format!("{} was rotated; following the new file", path.display())));
                    open = None;
                    said_waiting = false;
                    continue;
                }
                Err(_) => {
                    // Removed (rotation in progress): keep the old handle until a new file shows up.
                }
                _ => {}
            }
        }
        if !tick(opts.interval, &cancel).await {
            if let Some(f) = &open {
                lines.flush(f.pos, on);
            }
            return Ok(());
        }
    }
}

/// Reads what was appended since `f.pos`; a file now shorter than `pos` was truncated, and is
/// read again from its start.
fn read_new_local(f: &mut OpenFile, path: &PathBuf, lines: &mut Lines, on: &mut dyn FnMut(FollowUpdate)) -> Result<()> {
    let len = f.file.metadata().map_err(|e| Error::io(path, e))?.len();
    if len < f.pos {
        on(FollowUpdate::Notice(format!("{} was truncated; reading from its start", path.display())));
        f.pos = 0;
        lines.reset();
    }
    if len == f.pos {
        return Ok(());
    }
    f.file.seek(SeekFrom::Start(f.pos)).map_err(|e| Error::io(path, e))?;
    // In chunks: a file that grew by gigabytes (or `--from-start` on a big log) is never held
    // whole.
    while f.pos < len {
        let mut buf = Vec::with_capacity((len - f.pos).min(CHUNK) as usize);
        (&mut f.file).take((len - f.pos).min(CHUNK)).read_to_end(&mut buf).map_err(|e| Error::io(path, e))?;
        if buf.is_empty() {
            break; // truncated meanwhile: the next poll sees it
        }
        f.pos += buf.len() as u64;
        lines.push(&buf, f.pos, on);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// S3 objects

/// Bytes kept from just before the offset to check that a new object extends the old one.
const OVERLAP: u64 = 64;

struct Remote {
    key: String,
    offset: u64,
    etag: Option<String>,
    /// The last bytes read (up to [`OVERLAP`]), ending at `offset`.
    tail: Vec<u8>,
}

async fn follow_s3(conn: &Connection, url: &S3Url, opts: &FollowOptions, on: &mut (dyn FnMut(FollowUpdate) + Send), cancel: CancellationToken) -> Result<()> {
    list::check_bucket(conn, &url.bucket).await?;
    let mut remote: Option<Remote> = None;
    let mut lines = Lines::default();
    let mut said_waiting = false;
    let mut said_retrying = false;
    // An object that appears after the follow started is read from its start, like a new file.
    let mut opts = opts.clone();
    loop {
        match poll_s3(conn, url, &opts, &mut remote, &mut lines, on).await {
            Ok(found) => {
                said_retrying = false;
                if !found && !said_waiting {
                    on(FollowUpdate::Notice(format!("waiting for {url} to appear")));
                    said_waiting = true;
                    opts.from_start = true;
                } else if found && said_waiting && remote.is_some() {
                    on(FollowUpdate::Notice(format!("s3://{}/{} appeared", url.bucket, remote.as_ref().unwrap().key)));
                    said_waiting = false;
                }
            }
            Err(e @ Error::Unreachable { .. }) => {
                if !said_retrying {
                    on(FollowUpdate::Notice(format!("{e}; retrying")));
                    said_retrying = true;
                }
            }
            Err(e) => return Err(e),
        }
        if !tick(opts.interval, &cancel).await {
            if let Some(r) = &remote {
                lines.flush(r.offset, on);
            }
            return Ok(());
        }
    }
}

/// One poll: HEAD (or, for a prefix, one LIST), then a ranged GET when the object changed.
/// Returns whether an object was there.
async fn poll_s3(conn: &Connection, url: &S3Url, opts: &FollowOptions, remote: &mut Option<Remote>, lines: &mut Lines, on: &mut (dyn FnMut(FollowUpdate) + Send)) -> Result<bool> {
    let key = match remote {
        Some(r) => r.key.clone(),
        None if url.is_prefix() => match newest_under(conn, url).await? {
            Some(k) => k,
            None => return Ok(false),
        },
        None => url.key.clone(),
    };
    let head = match list::head_object(conn, &url.bucket, &key).await {
        Ok(h) => h,
        Err(Error::NotFound(_)) => return Ok(remote.is_some()),
        Err(e) => return Err(e),
    };
    let r = match remote {
        Some(r) => r,
        None => {
            let start = if opts.from_start { 0 } else { head.size };
            let tail = if start > 0 { get_range(conn, &url.bucket, &key, start.saturating_sub(OVERLAP), start).await? } else { Vec::new() };
            remote.insert(Remote { key: key.clone(), offset: start, etag: if opts.from_start { None } else { head.etag.clone() }, tail })
        }
    };
    if head.etag == r.etag && head.size == r.offset {
        return Ok(true);
    }
    if head.size < r.offset {
        on(FollowUpdate::Notice(format!("s3://{}/{key} was replaced by a shorter object; reading it from the start", url.bucket)));
        restart(r, lines);
    }
    // The first chunk starts with the bytes already read: the new object must extend the old.
    let from = r.offset - r.tail.len() as u64;
    let first = get_range(conn, &url.bucket, &key, from, head.size.min(from + CHUNK)).await?;
    let new = if first.len() >= r.tail.len() && first[..r.tail.len()] == r.tail[..] {
        first[r.tail.len()..].to_vec()
    } else {
        on(FollowUpdate::Notice(format!("s3://{}/{key} was replaced; reading it from the start", url.bucket)));
        restart(r, lines);
        get_range(conn, &url.bucket, &key, 0, head.size.min(CHUNK)).await?
    };
    take_bytes(r, lines, &new, on);
    // The rest in chunks, so a long object is never held whole.
    while r.offset < head.size {
        let chunk = get_range(conn, &url.bucket, &key, r.offset, head.size.min(r.offset + CHUNK)).await?;
        if chunk.is_empty() {
            break;
        }
        take_bytes(r, lines, &chunk, on);
    }
    r.etag = head.etag.clone();
    Ok(true)
}

/// Passes newly read bytes on as lines and remembers the last [`OVERLAP`] of them.
fn take_bytes(r: &mut Remote, lines: &mut Lines, new: &[u8], on: &mut (dyn FnMut(FollowUpdate) + Send)) {
    r.offset += new.len() as u64;
    let keep = new.len().min(OVERLAP as usize);
    let mut tail = std::mem::take(&mut r.tail);
    tail.extend_from_slice(&new[new.len() - keep..]);
    let cut = tail.len().saturating_sub(OVERLAP as usize);
    r.tail = tail.split_off(cut);
    lines.push(new, r.offset, on);
}

fn restart(r: &mut Remote, lines: &mut Lines) {
    r.offset = 0;
    r.tail.clear();
    lines.reset();
}

/// The most recently modified object under a prefix (ties: the greatest key).
async fn newest_under(conn: &Connection, url: &S3Url) -> Result<Option<String>> {
    let objects = list::collect_objects(conn, &url.bucket, &url.key, None).await?;
    Ok(objects.into_iter().filter(|o| !o.key.ends_with('/')).max_by(|a, b| (a.last_modified, &a.key).cmp(&(b.last_modified, &b.key))).map(|o| o.key))
}

/// Bytes `[from, to)` of an object; empty when `from >= to`.
pub async fn get_range(conn: &Connection, bucket: &str, key: &str, from: u64, to: u64) -> Result<Vec<u8>> {
    if from >= to {
        return Ok(Vec::new());
    }
    let ctx = conn.ctx().bucket(bucket).key(key);
    let out = conn.client.get_object().bucket(bucket).key(key).range(format!("bytes={from}-{}", to - 1)).send().await.or_s3(&ctx)?;
    let body = out.body.collect().await.map_err(|e| Error::S3 { code: "ReadBody".into(), message: e.to_string() })?;
    Ok(body.into_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(lines: &mut Lines, bytes: &[u8], end: u64) -> Vec<String> {
        let mut out = Vec::new();
        lines.push(bytes, end, &mut |u| {
            if let FollowUpdate::Line { text, .. } = u {
                out.push(text)
            }
        });
        out
    }

    #[test]
    fn a_line_without_end_is_passed_on_in_pieces_instead_of_held_whole() {
        let mut l = Lines::default();
        let got = collect(&mut l, &vec![b'x'; MAX_LINE * 2 + 10], (MAX_LINE * 2 + 10) as u64);
        assert_eq!(got.iter().map(String::len).collect::<Vec<_>>(), [MAX_LINE, MAX_LINE]);
        assert_eq!(l.partial.len(), 10, "only the unfinished rest is held");
    }

    #[test]
    fn lines_hold_back_a_partial_line_until_its_newline() {
        let mut l = Lines::default();
        assert_eq!(collect(&mut l, b"a\nb", 3), vec!["a"]);
        assert_eq!(collect(&mut l, b"c\r\nd\n", 8), vec!["bc", "d"]);
    }

    #[tokio::test]
    async fn local_follow_survives_truncation_and_waits_for_a_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("train.log");
        let cancel = CancellationToken::new();
        let opts = FollowOptions { from_start: false, interval: Duration::from_millis(20) };
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let src = FollowSource::Local(path.clone());
        let c2 = cancel.clone();
        let task = tokio::spawn(async move {
            let mut on = move |u: FollowUpdate| {
                let _ = tx.send(u);
            };
            follow(&src, None, &opts, &mut on, c2).await
        });
        let first = rx.recv().await.unwrap();
        assert!(matches!(first, FollowUpdate::Notice(ref m) if m.contains("waiting")), "{first:?}");
        std::fs::write(&path, "one\ntwo\n").unwrap();
        let mut got = Vec::new();
        while got.len() < 2 {
            if let FollowUpdate::Line { text, .. } = rx.recv().await.unwrap() {
                got.push(text);
            }
        }
        assert_eq!(got, vec!["one", "two"], "a file that appears is read from its start");
        std::fs::write(&path, "x\n").unwrap();
        let mut notice = false;
        loop {
            match rx.recv().await.unwrap() {
                FollowUpdate::Notice(m) if m.contains("truncated") => notice = true,
                FollowUpdate::Line { text, .. } => {
                    assert_eq!(text, "x");
                    break;
                }
                _ => {}
            }
        }
        assert!(notice);
        cancel.cancel();
        task.await.unwrap().unwrap();
    }
}
