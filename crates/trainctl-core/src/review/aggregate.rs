//! Constant-memory aggregation of objects into a [`Report`]: counters per group, bounded top-K
//! lists and the run walker. One [`Aggregator`] per listing unit; units merge at the end, so
//! parallel listing needs no lock on the hot path.

use super::duplicates::Finder;
use super::model::{ObjectItem, Report, Source, AGE_BANDS, AGE_UNKNOWN, OTHER, TOP_LEVEL};
use super::runs::{Partials, RunsOut, Walker, MAX_RUNS};
use super::tally::{CappedGroups, Tally, TopK};

/// Most distinct top-level prefixes kept; more go to `(other)`.
pub const MAX_TOP_PREFIXES: usize = 10_000;

/// The class an object without one is stored in.
pub const DEFAULT_CLASS: &str = "STANDARD";

/// Sums objects of one listing unit (or, after [`merge`](Aggregator::merge), of many).
pub struct Aggregator {
    now: i64,
    top_n: usize,
    totals: Tally,
    by_prefix: CappedGroups,
    by_class: CappedGroups,
    by_age: [Tally; AGE_BANDS.len() + 1],
    largest: TopK<ObjectItem>,
    walker: Option<Walker>,
    partials: Partials,
    runs: RunsOut,
    /// Duplicate objects, when looked for: (finder, groups to list).
    duplicates: Option<(Finder, usize)>,
    /// Content references and content objects (`--dedup=refs`).
    pub(crate) refs: super::references::RefTally,
}

impl Aggregator {
    /// An aggregator for the unit rooted at `unit_root` (relative to the location: `""` or a
    /// prefix ending in `/`); ages are relative to `now` (seconds since the Unix epoch).
    pub fn new(unit_root: &str, now: i64, top_n: usize) -> Self {
        Aggregator {
            now,
            top_n,
            totals: Tally::default(),
            by_prefix: CappedGroups::new(MAX_TOP_PREFIXES),
            by_class: CappedGroups::new(64),
            by_age: Default::default(),
            largest: TopK::new(top_n),
            walker: Some(Walker::new(unit_root, top_n)),
            partials: Partials::default(),
            runs: RunsOut::new(top_n),
            duplicates: None,
            refs: Default::default(),
        }
    }

    /// Also groups duplicate objects (same size and ETag), listing `groups` of them.
    pub fn with_duplicates(mut self, groups: usize) -> Self {
        self.duplicates = Some((Finder::default(), groups));
        self
    }

    /// [`Aggregator::add`] with the object's ETag, which duplicate finding needs.
    pub fn add_with_etag(&mut self, key: &str, rel: &str, size: u64, mtime: Option<i64>, storage_class: Option<&str>, etag: Option<&str>) {
        if let Some((f, _)) = self.duplicates.as_mut() {
            f.add(key, size, etag, storage_class.filter(|c| !c.is_empty()).unwrap_or(DEFAULT_CLASS));
        }
        self.refs.add(key, size, etag);
        self.add(key, rel, size, mtime, storage_class);
    }

    /// Counts one object: `key` is the full key, `rel` the part below the location.
    pub fn add(&mut self, key: &str, rel: &str, size: u64, mtime: Option<i64>, storage_class: Option<&str>) {
        let class = storage_class.filter(|c| !c.is_empty()).unwrap_or(DEFAULT_CLASS);
        self.totals.add(class, size);
        let top = match rel.find('/') {
            Some(i) => &rel[..=i],
            None => TOP_LEVEL,
        };
        self.by_prefix.add(top, class, size);
        self.by_class.add(class, class, size);
        self.by_age[age_band(self.now, mtime)].add(class, size);
        self.largest.offer_tied(size, |kept| key < kept.key.as_str(), || ObjectItem { key: key.to_string(), bytes: size, storage_class: class.to_string(), last_modified: mtime });
        if let Some(w) = self.walker.as_mut() {
            w.add(rel, size, mtime, class);
        }
    }

    /// Objects counted so far.
    pub fn objects(&self) -> u64 {
        self.totals.objects()
    }

    /// Closes this unit's directories (its root and ancestors stay open for merging).
    fn seal(&mut self) {
        if let Some(w) = self.walker.take() {
            let (open, out) = w.finish();
            self.partials.add(open);
            self.runs.merge(out);
        }
    }

    /// Adds another unit's sums into this one.
    pub fn merge(&mut self, mut other: Aggregator) {
        self.seal();
        other.seal();
        self.totals.merge(&other.totals);
        self.by_prefix.merge(other.by_prefix);
        self.by_class.merge(other.by_class);
        for (a, b) in self.by_age.iter_mut().zip(other.by_age.iter()) {
            a.merge(b);
        }
        self.largest.merge(other.largest);
        match (self.duplicates.as_mut(), other.duplicates) {
            (Some((mine, _)), Some((theirs, _))) => mine.merge(theirs),
            (None, theirs) => self.duplicates = theirs,
            (Some(_), None) => {}
        }
        self.partials.add_all(other.partials);
        self.runs.merge(other.runs);
        self.refs.merge(other.refs);
    }

    /// The report (costs unpriced, `hidden` not looked for).
    pub fn into_report(mut self, location: &str, source: Source) -> Report {
        self.seal();
        let mut runs = std::mem::replace(&mut self.runs, RunsOut::new(self.top_n));
        std::mem::take(&mut self.partials).close(&mut runs);
        let mut r = Report::empty(location, source, self.now);
        r.totals = self.totals.group("total");
        if self.by_prefix.overflowed {
            r.unseen.push(format!("more than {MAX_TOP_PREFIXES} top-level prefixes: the smallest-numbered rest are summed as {OTHER}"));
        }
        r.by_prefix = self.by_prefix.into_groups();
        r.by_storage_class = self.by_class.into_groups();
        r.by_age = AGE_BANDS.iter().map(|(n, _)| *n).chain([AGE_UNKNOWN]).zip(self.by_age.iter()).map(|(n, t)| t.group(n)).collect();
        if r.by_age.last().is_some_and(|g| g.objects == 0) {
            r.by_age.pop();
        }
        r.largest_objects = self.largest.into_sorted().into_iter().map(|(_, o)| o).collect();
        r.largest_prefixes = runs.largest_prefixes();
        if runs.runs_overflow > 0 {
            r.unseen.push(format!("more than {MAX_RUNS} runs: {} more are counted in the totals only", runs.runs_overflow));
        }
        let mut by_run: Vec<_> = runs.runs.into_values().collect();
        by_run.sort_by(|a, b| b.total.bytes.cmp(&a.total.bytes).then_with(|| a.run.cmp(&b.run)));
        r.by_run = by_run;
        if let Some((f, groups)) = self.duplicates.take() {
            let (d, notes) = f.into_duplicates(groups);
            r.duplicates = Some(d);
            r.unseen.extend(notes);
        }
        r
    }
}

/// Index into [`AGE_BANDS`] (or the unknown band after them) of an object modified at `mtime`.
pub fn age_band(now: i64, mtime: Option<i64>) -> usize {
    let Some(t) = mtime else { return AGE_BANDS.len() };
    let days = (now - t).max(0) / 86_400;
    AGE_BANDS.iter().position(|(_, limit)| limit.is_none_or(|l| days < l)).unwrap_or(AGE_BANDS.len() - 1)
}

#[cfg(test)]
#[path = "aggregate_tests.rs"]
mod tests;
