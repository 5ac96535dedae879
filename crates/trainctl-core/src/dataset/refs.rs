//! Datasets over content references (`crate::refs`, `--dedup=refs`): a prefix holding
//! `KEY.trainctl-ref` holds the file `KEY`. A listing is read as the files it holds
//! ([`resolved`]): content areas are no files, a reference is its logical key at its logical
//! size, with the content object's ETag (so the digest is the one a plain copy gives), the
//! reference's CRC64NVME as its checksum, and the content key (and, on a versioned bucket, its
//! version id) that staging fetches. A reference to compressed content (format 2) is the same
//! file at the same logical size, marked with its codec (`Entry::codec`): its content id is the
//! original's CRC64NVME, and staging decodes the content object. A plain `KEY` beside
//! `KEY.trainctl-ref` wins, as it does for downloads. Snapshots, verification of a prefix and
//! the source check of a stage all read listings through it, so what is recorded is what is
//! compared.
//!
//! Order: a listing is sorted by stored key, a manifest by logical key, and `KEY` sorts before
//! `KEY.trainctl-ref` — possibly before keys listed between them (`KEY-2.tar`,
//! `KEY.index.json`). [`Reorder`] holds back only the entries a later reference could still
//! precede, and hands everything to the on-disk sort ([`super::sort`]) once it holds more than
//! [`sort::RUN`] entries, so memory stays flat.

use super::manifest::{Entry, StoredChecksum};
use super::sort::{self, Sorter};
use crate::error::{Error, Result};
use crate::refs::{self, resolve, Ref, SUFFIX};
use crate::s3::Connection;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use std::collections::{BTreeMap, HashMap, VecDeque};

/// The files a listing holds (see the module documentation): `entries` are listed objects,
/// keys relative to `prefix` (under `bucket`), sorted; the result is sorted by logical key. A
/// reference that cannot be read (`ref_corrupt`) or whose content object is missing
/// (`ref_content_missing`, naming both keys) ends the stream with that error.
pub fn resolved(conn: &Connection, bucket: &str, prefix: &str, entries: BoxStream<'static, Result<Entry>>) -> BoxStream<'static, Result<Entry>> {
    let state = State {
        reader: Reader { conn: conn.clone(), bucket: bucket.to_string(), prefix: prefix.to_string(), bodies: HashMap::new(), contents: HashMap::new() },
        input: Some(entries),
        order: Reorder::new(sort::RUN),
        ready: VecDeque::new(),
        rest: None,
    };
    futures::stream::try_unfold(state, next).boxed()
}

/// The next file of the listing, in logical order.
async fn next(mut s: State) -> Result<Option<(Entry, State)>> {
    loop {
        if let Some(e) = s.ready.pop_front() {
            return Ok(Some((e, s)));
        }
        if let Some(rest) = s.rest.as_mut() {
            return match rest.next() {
                Some(e) => Ok(Some((e?, s))),
                None => Ok(None),
            };
        }
        let Some(input) = s.input.as_mut() else { return Ok(None) };
        match input.try_next().await? {
            None => {
                s.input = None;
                s.rest = Some(std::mem::replace(&mut s.order, Reorder::new(0)).finish()?);
            }
            Some(e) if refs::in_content_area("", &e.key) => {}
            Some(e) => {
                let stored = e.key.clone();
                let e = if refs::logical_key(&e.key).is_some() { s.reader.logical(e).await? } else { e };
                s.ready.extend(s.order.push(&stored, e)?);
            }
        }
    }
}

struct State {
    reader: Reader,
    input: Option<BoxStream<'static, Result<Entry>>>,
    order: Reorder,
    ready: VecDeque<Entry>,
    rest: Option<Box<dyn Iterator<Item = Result<Entry>> + Send>>,
}

/// Reads references: one GET per distinct body (by ETag), one HEAD per distinct content.
struct Reader {
    conn: Connection,
    bucket: String,
    prefix: String,
    bodies: HashMap<String, Ref>,
    contents: HashMap<String, Option<resolve::Content>>,
}

impl Reader {
    /// The entry of the file a listed reference `e` stands for.
    async fn logical(&mut self, e: Entry) -> Result<Entry> {
        let key = format!("{}{}", self.prefix, e.key);
        let cached = e.etag.as_ref().and_then(|t| self.bodies.get(t)).cloned();
        let r = match cached {
            Some(body) => Ref::parse(&self.bucket, &key, &body.body())?,
            None => {
                let listed = resolve::Listed { key: key.clone(), size: e.size, etag: e.etag.clone() };
                let r = resolve::read_one(&self.conn, &self.bucket, &listed).await?;
                if let Some(t) = &e.etag {
                    self.bodies.insert(t.clone(), r.clone());
                }
                r
            }
        };
        if !self.contents.contains_key(&r.content) {
            let seen = resolve::contents(&self.conn, &self.bucket, [r.content.clone()]).await?;
            self.contents.extend(seen);
        }
        let compressed = r.compressed().is_some();
        let content = match self.contents.get(&r.content) {
            // Compressed content holds fewer (or more) bytes than the file: its header, checked
            // whenever it is decoded, says the original's size and CRC64NVME.
            Some(Some(c)) if c.size == r.size || (compressed && c.size > 0) => c,
            Some(Some(c)) => {
                let detail = format!("its content object {} holds {} bytes, not {}", r.content, c.size, r.size);
                return Err(Error::RefCorrupt { bucket: self.bucket.clone(), reference: key, detail });
            }
            _ => return Err(Error::RefContentMissing { bucket: self.bucket.clone(), reference: key, content: r.content }),
        };
        Ok(Entry {
            key: refs::logical_key(&e.key).unwrap_or(&e.key).to_string(),
            size: r.size,
            etag: content.etag.as_deref().map(|t| t.trim_matches('"').to_string()),
            part_size: None,
            checksum: Some(StoredChecksum { algorithm: "CRC64NVME".into(), value: r.crc64nvme.clone() }),
            // Pinned like the reference was: at the content's current version.
            version_id: e.version_id.and(content.version_id.clone()),
            codec: super::manifest::codec_of_content(&r.content).filter(|_| compressed).map(str::to_string),
            stored_size: compressed.then_some(content.size),
            content: Some(r.content),
        })
    }
}

/// Puts entries listed in stored-key order into logical-key order (see the module
/// documentation).
pub(crate) struct Reorder {
    held: BTreeMap<String, Entry>,
    /// The last key handed out.
    last: Option<String>,
    /// Past `limit` held entries, everything goes to an on-disk sort.
    sorter: Option<Sorter>,
    limit: usize,
}

impl Reorder {
    pub(crate) fn new(limit: usize) -> Reorder {
        Reorder { held: BTreeMap::new(), last: None, sorter: None, limit }
    }

    /// Takes `e` (its key logical) listed at `stored`; returns the entries no later listed key
    /// can precede any more, in order. A reference whose key a plain entry has is dropped.
    pub(crate) fn push(&mut self, stored: &str, e: Entry) -> Result<Vec<Entry>> {
        if let Some(s) = self.sorter.as_mut() {
            s.push(e)?;
            return Ok(Vec::new());
        }
        let shadowed = |k: &str| self.held.get(k).is_some_and(|h| h.content.is_none()) || self.last.as_deref() == Some(k);
        if e.content.is_some() && shadowed(&e.key) {
            return Ok(Vec::new());
        }
        self.held.insert(e.key.clone(), e);
        let mut out = Vec::new();
        while let Some(first) = self.held.first_entry() {
            if may_precede(first.key(), stored) {
                break;
            }
            out.push(first.remove());
        }
        if let Some(l) = out.last() {
            self.last = Some(l.key.clone());
        }
        if self.held.len() > self.limit {
            let mut s = Sorter::new()?;
            for e in std::mem::take(&mut self.held).into_values() {
                s.push(e)?;
            }
            self.sorter = Some(s);
        }
        Ok(out)
    }

    /// Everything still held, in order.
    pub(crate) fn finish(self) -> Result<Box<dyn Iterator<Item = Result<Entry>> + Send>> {
        let Some(sorter) = self.sorter else { return Ok(Box::new(self.held.into_values().map(Ok))) };
        let mut merged = sorter.finish()?.peekable();
        let mut last = self.last;
        Ok(Box::new(std::iter::from_fn(move || loop {
            let mut e = match merged.next()? {
                Ok(e) => e,
                Err(err) => return Some(Err(err)),
            };
            // Only a reference repeats a key (its plain object's): the plain one is kept.
            while let Some(Ok(n)) = merged.peek() {
                if n.key != e.key {
                    break;
                }
                let n = merged.next()?.ok()?;
                if e.content.is_some() {
                    e = n;
                }
            }
            if last.as_deref() == Some(e.key.as_str()) {
                continue;
            }
            last = Some(e.key.clone());
            return Some(Ok(e));
        })))
    }
}

/// Whether a reference listed after `stored` could stand for a key sorting before `key`: a
/// proper prefix `P` of `key` (a possible logical key) with `P.trainctl-ref` after `stored`.
/// `key` is at most `stored`, so such a `P` is a common prefix of both.
fn may_precede(key: &str, stored: &str) -> bool {
    let common = key.bytes().zip(stored.bytes()).take_while(|(a, b)| a == b).count();
    (1..=common.min(key.len().saturating_sub(1)))
        .filter(|&i| key.is_char_boundary(i) && key.as_bytes()[i - 1] != b'/')
        .any(|i| stored.as_bytes()[i..] < *SUFFIX.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(key: &str) -> Entry {
        Entry { key: key.into(), size: 1, etag: Some("e".into()), part_size: None, checksum: None, version_id: None, content: None, codec: None, stored_size: None }
    }

    fn reference(stored: &str) -> Entry {
        Entry { key: refs::logical_key(stored).unwrap().into(), content: Some("c".into()), ..plain("") }
    }

    /// Feeds a sorted listing through a [`Reorder`] spilling past `limit`.
    fn order(listing: &[&str], limit: usize) -> Vec<(String, bool)> {
        let mut sorted = listing.to_vec();
        sorted.sort();
        assert_eq!(sorted, listing, "a listing is sorted");
        let mut r = Reorder::new(limit);
        let mut out = Vec::new();
        for k in listing {
            let e = if k.ends_with(SUFFIX) { reference(k) } else { plain(k) };
            out.extend(r.push(k, e).unwrap());
        }
        out.extend(r.finish().unwrap().map(Result::unwrap));
        out.into_iter().map(|e| (e.key, e.content.is_some())).collect()
    }

    #[test]
    fn references_take_their_logical_place_and_a_plain_object_wins() {
        let listing = ["a/model", "a/model-1.tar", "a/model.index.json", "a/model.trainctl-ref", "a/x.bin", "a/y-2.tar", "a/y.trainctl-ref", "b/z"];
        for limit in [0, 1, 2, 100] {
            let got = order(&listing, limit);
            let want = [("a/model", false), ("a/model-1.tar", false), ("a/model.index.json", false), ("a/x.bin", false), ("a/y", true), ("a/y-2.tar", false), ("b/z", false)];
            assert_eq!(got, want.map(|(k, r)| (k.to_string(), r)), "limit {limit}");
        }
    }

    #[test]
    fn only_what_a_later_reference_could_precede_is_held() {
        let mut r = Reorder::new(100);
        let keys = |v: Vec<Entry>| v.into_iter().map(|e| e.key).collect::<Vec<_>>();
        assert!(r.push("d/a.bin", plain("d/a.bin")).unwrap().is_empty(), "d/a.trainctl-ref may follow");
        assert_eq!(keys(r.push("d/b", plain("d/b")).unwrap()), ["d/a.bin", "d/b"]);
        assert!(r.push("e/shard-1.tar", plain("e/shard-1.tar")).unwrap().is_empty(), "e/shard.trainctl-ref may follow");
        assert_eq!(keys(r.push("f/x", plain("f/x")).unwrap()), ["e/shard-1.tar", "f/x"]);
        assert!(may_precede("e/shard-1.tar", "e/shard-2.tar"));
        assert!(!may_precede("e/shard-1.tar", "e/shard.zip"));
        assert!(!may_precede("e/x", "e/x"), "no proper prefix but the folder, which is no file");
        assert!(!may_precede("é/x", "é/x"));
    }
}
