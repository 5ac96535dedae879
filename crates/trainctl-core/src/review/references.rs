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
    /// References whose body cannot be read by ETag (no ETag, or past [`MAX_BODIES`]).
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
            let full = self.bodies.len() >= MAX_BODIES;
            match etag.map(|e| e.trim_matches('"')) {
                Some(e) if self.bodies.contains_key(e) => self.bodies.get_mut(e).into_iter().for_each(|b| b.2 += 1),
                Some(e) if !full => {
                    self.bodies.insert(e.to_string(), (key.to_string(), size, 1));
                }
                _ => self.unread += 1,
            }
        }
    }

    pub fn merge(&mut self, other: RefTally) {
        self.refs += other.refs;
        self.ref_bytes += other.ref_bytes;
        self.content_objects += other.content_objects;
        self.content_bytes += other.content_bytes;
        self.unread += other.unread;
        for (etag, (key, size, n)) in other.bodies {
            let room = self.bodies.len() < MAX_BODIES;
            match self.bodies.entry(etag) {
                std::collections::hash_map::Entry::Occupied(mut b) => b.get_mut().2 += n,
                std::collections::hash_map::Entry::Vacant(v) if room => {
                    v.insert((key, size, n));
                }
                std::collections::hash_map::Entry::Vacant(_) => self.unread += n,
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.refs == 0 && self.content_objects == 0
    }

    /// The report's figures: one GET per distinct body for the logical bytes. `stored_total` is
    /// every listed byte (the report's totals).
    pub async fn resolve(self, conn: &Connection, bucket: &str, stored_total: u64) -> References {
        let (keys, counts): (Vec<crate::refs::resolve::Listed>, Vec<u64>) =
            self.bodies.into_iter().map(|(etag, (key, size, n))| (crate::refs::resolve::Listed { key, size, etag: Some(etag) }, n)).unzip();
        let bodies = crate::refs::resolve::read_all(conn, bucket, &keys).await;
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
        assert_eq!((a.refs, a.ref_bytes, a.content_objects, a.content_bytes, a.unread), (3, 450, 1, 100, 1));
        assert_eq!(a.bodies["e"].2, 2, "one body read for two identical references");
    }
}
