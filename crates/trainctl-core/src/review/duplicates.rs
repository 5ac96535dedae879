//! Duplicate objects: the same bytes stored under several keys (a checkpoint copied to `best/`
//! and `final/`, a run uploaded again under a new prefix), found from the listing alone.
//!
//! Two objects are copies when they have the same size and the same ETag. A single-part ETag is
//! the MD5 of the bytes. A multipart ETag (`…-N`) is the MD5 of the parts' MD5s, so an equal one
//! with an equal size means the same bytes cut into the same parts; copies uploaded with another
//! part size have another ETag and are missed — never wrongly matched. Nothing is downloaded and
//! no HEAD is sent. Objects below [`MIN_BYTES`] are not compared: their copies cost nothing worth
//! a line, and skipping them keeps the table small on buckets of tiny files.

use super::model::{DuplicateGroup, Duplicates};
use super::tally::Tally;
use std::collections::HashMap;

/// Objects smaller than this are not compared (1 MiB).
pub const MIN_BYTES: u64 = 1 << 20;
/// Distinct (size, ETag) pairs remembered; past it new ones are not (the report says so).
/// About 150 bytes each: 64 MiB at most, for ≥ 400 GiB of compared objects.
pub const MAX_CANDIDATES: usize = 400_000;
/// Keys shown per group (the smallest in key order, so the answer does not depend on the order
/// the listing's parallel units finished in).
pub const KEYS_SHOWN: usize = 8;

/// One (size, ETag): how many objects have it and a few of their keys.
#[derive(Debug, Default)]
struct Candidate {
    copies: u64,
    keys: Vec<String>,
    storage_class: String,
}

/// Objects seen so far, by content; merges across listing units.
#[derive(Debug, Default)]
pub struct Finder {
    seen: HashMap<(u64, String), Candidate>,
    overflowed: bool,
    /// Objects of [`MIN_BYTES`] or more listed without an ETag (some stores omit it).
    without_etag: u64,
}

impl Finder {
    /// Counts one object. Objects without an ETag (some stores omit it) or below [`MIN_BYTES`]
    /// are not compared.
    pub fn add(&mut self, key: &str, size: u64, etag: Option<&str>, storage_class: &str) {
        if size < MIN_BYTES {
            return;
        }
        let Some(etag) = etag.map(|e| e.trim_matches('"')).filter(|e| !e.is_empty()) else {
            self.without_etag += 1;
            return;
        };
        let full = self.seen.len() >= MAX_CANDIDATES;
        let id = (size, etag.to_string());
        match self.seen.get_mut(&id) {
            Some(c) => c.add(key),
            None if full => self.overflowed = true,
            None => {
                let mut c = Candidate { storage_class: storage_class.to_string(), ..Candidate::default() };
                c.add(key);
                self.seen.insert(id, c);
            }
        }
    }

    /// Adds another unit's objects into this one.
    pub fn merge(&mut self, other: Finder) {
        self.overflowed |= other.overflowed;
        self.without_etag += other.without_etag;
        for (id, o) in other.seen {
            if let Some(c) = self.seen.get_mut(&id) {
                c.copies += o.copies;
                c.keep(o.keys);
            } else if self.seen.len() < MAX_CANDIDATES {
                self.seen.insert(id, o);
            } else {
                self.overflowed = true;
            }
        }
    }

    /// The groups of two or more copies, most reclaimable first; `keep` of them are listed.
    pub fn into_duplicates(self, keep: usize) -> (Duplicates, Vec<String>) {
        let mut reclaimable = Tally::default();
        let mut groups: Vec<DuplicateGroup> = Vec::new();
        let mut objects = 0;
        for ((bytes, etag), c) in self.seen.into_iter().filter(|(_, c)| c.copies > 1) {
            objects += c.copies;
            for _ in 1..c.copies {
                reclaimable.add(&c.storage_class, bytes);
            }
            groups.push(DuplicateGroup { bytes, etag, copies: c.copies, reclaimable_bytes: bytes * (c.copies - 1), storage_class: c.storage_class, keys: c.keys });
        }
        groups.sort_by(|a, b| b.reclaimable_bytes.cmp(&a.reclaimable_bytes).then_with(|| a.keys.cmp(&b.keys)));
        let groups_total = groups.len() as u64;
        groups.truncate(keep);
        let mut notes = Vec::new();
        if self.overflowed {
            notes.push(format!("duplicates: more than {MAX_CANDIDATES} distinct objects of 1 MiB or more; copies of the ones past that were not looked for"));
        }
        if self.without_etag > 0 {
            notes.push(format!("duplicates: {} objects of 1 MiB or more were listed without an ETag (this store does not report one), so they were not compared", self.without_etag));
        }
        let d = Duplicates {
            groups,
            groups_total,
            objects,
            reclaimable_bytes: reclaimable.bytes(),
            monthly_usd: None,
            min_object_bytes: MIN_BYTES,
            without_etag: self.without_etag,
            classes: reclaimable.group("reclaimable").classes,
        };
        (d, notes)
    }
}

impl Candidate {
    fn add(&mut self, key: &str) {
        self.copies += 1;
        self.keep(vec![key.to_string()]);
    }

    fn keep(&mut self, more: Vec<String>) {
        self.keys.extend(more);
        self.keys.sort_unstable();
        self.keys.dedup();
        self.keys.truncate(KEYS_SHOWN);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    #[test]
    fn copies_are_grouped_by_size_and_etag_and_counted_once_each() {
        let mut a = Finder::default();
        a.add("run/checkpoint-100/model.safetensors", 8 * MIB, Some("\"abc\""), "STANDARD");
        a.add("run/best/model.safetensors", 8 * MIB, Some("abc"), "STANDARD");
        a.add("run/other.bin", 8 * MIB, Some("def"), "STANDARD");
        a.add("run/tiny.json", 10, Some("aaa"), "STANDARD");
        a.add("run/tiny-copy.json", 10, Some("aaa"), "STANDARD");
        let mut b = Finder::default();
        b.add("final/model.safetensors", 8 * MIB, Some("abc"), "STANDARD_IA");
        b.add("same-etag-other-size.bin", 9 * MIB, Some("abc"), "STANDARD");
        b.add("multipart-a", 20 * MIB, Some("xyz-3"), "STANDARD");
        b.add("multipart-b", 20 * MIB, Some("xyz-3"), "STANDARD");
        b.add("no-etag", 20 * MIB, None, "STANDARD");
        a.merge(b);
        let (d, notes) = a.into_duplicates(10);
        assert_eq!((d.without_etag, notes.len()), (1, 1), "{notes:?}");
        assert!(notes[0].contains("without an ETag"));
        assert_eq!((d.groups_total, d.objects, d.reclaimable_bytes), (2, 5, 16 * MIB + 20 * MIB));
        assert_eq!(d.groups[0].keys, vec!["multipart-a", "multipart-b"], "the larger saving first");
        assert_eq!(d.groups[1].keys, vec!["final/model.safetensors", "run/best/model.safetensors", "run/checkpoint-100/model.safetensors"]);
        assert_eq!((d.groups[1].copies, d.groups[1].reclaimable_bytes), (3, 16 * MIB));
        let (top, _) = {
            let mut f = Finder::default();
            f.add("a", MIB, Some("e"), "STANDARD");
            f.add("b", MIB, Some("e"), "STANDARD");
            f.into_duplicates(0)
        };
        assert!(top.groups.is_empty() && top.groups_total == 1, "the count stays when the list is cut");
    }

    #[test]
    fn a_group_lists_its_smallest_keys_whatever_the_order() {
        let keys: Vec<String> = (0..20).map(|i| format!("copy-{i:02}")).collect();
        let mut fwd = Finder::default();
        keys.iter().for_each(|k| fwd.add(k, MIB, Some("e"), "STANDARD"));
        let mut rev = Finder::default();
        keys.iter().rev().for_each(|k| rev.add(k, MIB, Some("e"), "STANDARD"));
        let (f, r) = (fwd.into_duplicates(1).0, rev.into_duplicates(1).0);
        assert_eq!(f.groups, r.groups);
        assert_eq!(f.groups[0].keys.len(), KEYS_SHOWN);
        assert_eq!(f.groups[0].copies, 20);
    }
}
