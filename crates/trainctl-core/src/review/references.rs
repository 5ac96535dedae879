//! Content references (`--dedup=refs`) in a review: what a listing shows of them (references and
//! content objects, by name — no HEAD), and their logical size (one small GET per distinct
//! reference body: identical references have identical bodies, hence ETags). Gives the report
//! logical vs stored bytes.

use super::model::References;
use crate::s3::Connection;
use std::collections::HashMap;

/// Most distinct reference bodies read; references beyond are counted as unread.
pub const MAX_BODIES: usize = 10_000;

/// References and content objects seen in one listing unit (merged across units).
#[derive(Debug, Default)]
pub struct RefTally {
    refs: u64,
    ref_bytes: u64,
    content_objects: u64,
    content_bytes: u64,
    /// Distinct reference bodies: ETag → (a key holding it, its size, how many references).
    bodies: HashMap<String, (String, u64, u64)>,
    /// Another key holding each body that more than one reference has: read when the first is
    /// gone (an inventory is a day old; cleanup deletes references of old checkpoints).
    spare: HashMap<String, String>,
    /// References known without an ETag (an inventory without that field): each read by its
    /// key (key, size); with `bodies`, at most [`MAX_BODIES`].
    keyed: Vec<(String, u64)>,
    /// References past [`MAX_BODIES`] distinct bodies, left unread.
    unread: u64,
}

impl RefTally {
    /// Counts `key` if it is a reference or a content object.
    pub fn add(&mut self, key: &str, size: u64, etag: Option<&str>) {
        if crate::refs::parse_content_key(key).is_some() {
            self.content_objects += 1;
            self.content_bytes += size;
        } else if crate::refs::logical_key(key).is_some() {
            self.refs += 1;
            self.ref_bytes += size;
            let full = self.bodies.len() + self.keyed.len() >= MAX_BODIES;
            match etag.map(|e| e.trim_matches('"')) {
                Some(e) if self.bodies.contains_key(e) => {
                    self.bodies.get_mut(e).into_iter().for_each(|b| b.2 += 1);
                    self.spare.insert(e.to_string(), key.to_string());
                }
                _ if full => self.unread += 1,
                Some(e) => {
                    self.bodies.insert(e.to_string(), (key.to_string(), size, 1));
                }
                None => self.keyed.push((key.to_string(), size)),
            }
        }
    }

    pub fn merge(&mut self, other: RefTally) {
        self.refs += other.refs;
        self.ref_bytes += other.ref_bytes;
        self.content_objects += other.content_objects;
        self.content_bytes += other.content_bytes;
        self.unread += other.unread;
        for (key, size) in other.keyed {
            match self.bodies.len() + self.keyed.len() < MAX_BODIES {
                true => self.keyed.push((key, size)),
                false => self.unread += 1,
            }
        }
        for (etag, (key, size, n)) in other.bodies {
            let room = self.bodies.len() + self.keyed.len() < MAX_BODIES;
            match self.bodies.entry(etag) {
                std::collections::hash_map::Entry::Occupied(mut b) => {
                    b.get_mut().2 += n;
                    self.spare.insert(b.key().clone(), key);
                }
                std::collections::hash_map::Entry::Vacant(v) if room => {
                    v.insert((key, size, n));
                }
                std::collections::hash_map::Entry::Vacant(_) => self.unread += n,
            }
        }
        for (etag, key) in other.spare {
            if self.bodies.contains_key(&etag) {
                self.spare.insert(etag, key);
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.refs == 0 && self.content_objects == 0
    }

    /// The report's figures: one GET per distinct body (16 in flight) for the logical bytes;
    /// without a connection every reference is unread. `stored_total` is every listed byte (the
    /// report's totals).
    pub async fn resolve(self, conn: Option<&Connection>, bucket: &str, stored_total: u64) -> References {
        use crate::refs::resolve::Listed;
        let by_etag = self.bodies.into_iter().map(|(etag, (key, size, n))| (Listed { key, size, etag: Some(etag) }, n));
        let by_key = self.keyed.into_iter().map(|(key, size)| (Listed { key, size, etag: None }, 1));
        let (keys, counts): (Vec<Listed>, Vec<u64>) = by_etag.chain(by_key).unzip();
        let read = |keys: Vec<Listed>| async move {
            match conn {
                Some(conn) => crate::refs::resolve::read_all(conn, bucket, &keys).await,
                None => keys.iter().map(|_| Err(crate::error::Error::Internal("no connection".into()))).collect(),
            }
        };
        let mut bodies = read(keys.clone()).await;
        // A body is the same under every key with its ETag: one gone since is read elsewhere.
        let gone = |b: &crate::error::Result<crate::refs::Ref>| matches!(b, Err(e) if !matches!(e, crate::error::Error::RefCorrupt { .. }));
        let again: Vec<(usize, Listed)> = (0..keys.len())
            .filter(|&i| gone(&bodies[i]))
            .filter_map(|i| Some((i, Listed { key: self.spare.get(keys[i].etag.as_deref()?)?.clone(), size: keys[i].size, etag: None })))
            .collect();
        if !again.is_empty() {
            let (at, spares): (Vec<usize>, Vec<Listed>) = again.into_iter().unzip();
            for (i, body) in at.into_iter().zip(read(spares).await) {
                bodies[i] = body;
            }
        }
        let mut logical_bytes = 0u64;
        let mut unread = self.unread;
        for (body, n) in bodies.into_iter().zip(counts) {
            match body {
                Ok(r) => logical_bytes = logical_bytes.saturating_add(r.size.saturating_mul(n)),
                Err(_) => unread += n,
            }
        }
        let logical_total = stored_total.saturating_sub(self.ref_bytes).saturating_sub(self.content_bytes).saturating_add(logical_bytes);
        let saved_bytes = logical_total.saturating_sub(stored_total);
        References { refs: self.refs, ref_bytes: self.ref_bytes, logical_bytes, content_objects: self.content_objects, content_bytes: self.content_bytes, unread, logical_total, stored_total, saved_bytes, monthly_usd_saved: None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_and_content_are_told_apart_by_name() {
        let mut a = RefTally::default();
        a.add("run/.trainctl/content/0000000000000001-100", 100, Some("\"c\""));
        a.add("run/ck-1/w.bin.trainctl-ref", 150, Some("\"e\""));
        a.add("run/ck-1/model.bin", 7, Some("\"m\""));
        let mut b = RefTally::default();
        b.add("run/ck-2/w.bin.trainctl-ref", 150, Some("\"e\""));
        b.add("run/ck-2/x.trainctl-ref", 150, None);
        a.merge(b);
        assert_eq!((a.refs, a.ref_bytes, a.content_objects, a.content_bytes, a.unread), (3, 450, 1, 100, 0));
        assert_eq!(a.bodies["e"].2, 2, "one body read for two identical references");
        assert_eq!(a.spare["e"], "run/ck-2/w.bin.trainctl-ref", "and another key of it kept");
        assert_eq!(a.keyed, [("run/ck-2/x.trainctl-ref".to_string(), 150)], "one without an ETag is read by its key");
    }
}
