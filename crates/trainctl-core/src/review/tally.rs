//! Counters the review adds objects into: a per-storage-class [`Tally`], a bounded top-K, and a
//! capped map of groups. Each is O(groups) or O(K) in memory, never O(objects).

use super::model::{ClassUsage, Group, OTHER, SMALL_OBJECT_BYTES};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

/// Objects and bytes per storage class (a handful of classes, so a small Vec).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    pub classes: Vec<ClassUsage>,
}

impl Tally {
    /// Counts one object.
    pub fn add(&mut self, storage_class: &str, size: u64) {
        let c = self.class_mut(storage_class);
        c.objects += 1;
        c.bytes += size;
        if size < SMALL_OBJECT_BYTES {
            c.small_objects += 1;
            c.small_bytes += size;
        }
    }

    /// Adds another tally into this one.
    pub fn merge(&mut self, other: &Tally) {
        for o in &other.classes {
            let c = self.class_mut(&o.storage_class);
            c.objects += o.objects;
            c.bytes += o.bytes;
            c.small_objects += o.small_objects;
            c.small_bytes += o.small_bytes;
        }
    }

    fn class_mut(&mut self, storage_class: &str) -> &mut ClassUsage {
        match self.classes.iter().position(|c| c.storage_class == storage_class) {
            Some(i) => &mut self.classes[i],
            None => {
                self.classes.push(ClassUsage { storage_class: storage_class.to_string(), ..ClassUsage::default() });
                self.classes.last_mut().unwrap()
            }
        }
    }

    pub fn objects(&self) -> u64 {
        self.classes.iter().map(|c| c.objects).sum()
    }

    pub fn bytes(&self) -> u64 {
        self.classes.iter().map(|c| c.bytes).sum()
    }

    /// The report form, classes largest first (priced later).
    pub fn group(&self, name: &str) -> Group {
        let mut classes = self.classes.clone();
        classes.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.storage_class.cmp(&b.storage_class)));
        Group { name: name.to_string(), objects: self.objects(), bytes: self.bytes(), monthly_usd: None, classes }
    }
}

/// The K largest items by a `u64` weight. Ties keep the smaller tie-breaker (`T: Ord`) so the
/// result does not depend on listing order or on how the work was split.
#[derive(Debug, Clone)]
pub struct TopK<T: Ord> {
    k: usize,
    heap: BinaryHeap<Reverse<(u64, Reverse<T>)>>,
}

impl<T: Ord> TopK<T> {
    pub fn new(k: usize) -> Self {
        TopK { k, heap: BinaryHeap::with_capacity(k + 1) }
    }

    /// Offers an item; `make` is only called when it gets in (avoids cloning keys that do not).
    /// On a tie with the smallest kept item, `beats(kept)` says whether the new item orders
    /// before it (then it replaces it).
    pub fn offer_tied(&mut self, weight: u64, beats: impl FnOnce(&T) -> bool, make: impl FnOnce() -> T) {
        if self.k == 0 {
            return;
        }
        if self.heap.len() == self.k {
            let Reverse((min, Reverse(kept))) = self.heap.peek().unwrap();
            if weight < *min || (weight == *min && !beats(kept)) {
                return;
            }
        }
        self.heap.push(Reverse((weight, Reverse(make()))));
        if self.heap.len() > self.k {
            self.heap.pop();
        }
    }

    /// [`offer_tied`](Self::offer_tied) for items that are cheap to make.
    pub fn offer_with(&mut self, weight: u64, make: impl FnOnce() -> T) {
        let item = make();
        let beats = self.heap.peek().is_none_or(|Reverse((_, Reverse(kept)))| item < *kept);
        self.offer_tied(weight, |_| beats, || item)
    }

    pub fn offer(&mut self, weight: u64, item: T) {
        self.offer_with(weight, || item)
    }

    /// The K it keeps.
    pub fn capacity(&self) -> usize {
        self.k
    }

    /// The items currently kept, in no order.
    pub fn items(&self) -> impl Iterator<Item = &T> {
        self.heap.iter().map(|Reverse((_, Reverse(t)))| t)
    }

    pub fn merge(&mut self, other: TopK<T>) {
        for Reverse((w, Reverse(t))) in other.heap {
            self.offer(w, t);
        }
    }

    /// Largest first.
    pub fn into_sorted(self) -> Vec<(u64, T)> {
        let mut v: Vec<(u64, T)> = self.heap.into_iter().map(|Reverse((w, Reverse(t)))| (w, t)).collect();
        v.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        v
    }
}

/// Tallies by name with at most `cap` names; later names go to [`OTHER`] (and `overflowed` says so).
#[derive(Debug, Clone)]
pub struct CappedGroups {
    cap: usize,
    pub groups: HashMap<String, Tally>,
    pub overflowed: bool,
}

impl CappedGroups {
    pub fn new(cap: usize) -> Self {
        CappedGroups { cap, groups: HashMap::new(), overflowed: false }
    }

    pub fn add(&mut self, name: &str, storage_class: &str, size: u64) {
        self.slot(name).add(storage_class, size);
    }

    fn slot(&mut self, name: &str) -> &mut Tally {
        if !self.groups.contains_key(name) {
            if self.groups.len() >= self.cap {
                self.overflowed = true;
                return self.groups.entry(OTHER.to_string()).or_default();
            }
            self.groups.insert(name.to_string(), Tally::default());
        }
        self.groups.get_mut(name).unwrap()
    }

    pub fn merge(&mut self, other: CappedGroups) {
        self.overflowed |= other.overflowed;
        for (name, t) in other.groups {
            self.slot(&name).merge(&t);
        }
    }

    /// Groups largest first.
    pub fn into_groups(self) -> Vec<Group> {
        let mut v: Vec<Group> = self.groups.iter().map(|(n, t)| t.group(n)).collect();
        v.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.name.cmp(&b.name)));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_keeps_the_largest_whatever_the_order() {
        let mut a = TopK::new(3);
        for (w, n) in [(5, "e"), (1, "a"), (9, "i"), (3, "c"), (7, "g")] {
            a.offer(w, n);
        }
        assert_eq!(a.into_sorted(), vec![(9, "i"), (7, "g"), (5, "e")]);
    }

    #[test]
    fn capped_groups_send_extra_names_to_other() {
        let mut g = CappedGroups::new(2);
        for n in ["a", "b", "c", "a", "d"] {
            g.add(n, "STANDARD", 10);
        }
        assert!(g.overflowed);
        let groups = g.into_groups();
        assert_eq!(groups.iter().map(|g| g.bytes).sum::<u64>(), 50);
        assert_eq!(groups.iter().find(|g| g.name == OTHER).unwrap().objects, 2);
    }

    #[test]
    fn tally_counts_small_objects_separately() {
        let mut t = Tally::default();
        t.add("STANDARD_IA", 1000);
        t.add("STANDARD_IA", 200 * 1024);
        let c = &t.classes[0];
        assert_eq!((c.objects, c.small_objects, c.small_bytes), (2, 1, 1000));
    }
}
