//! The listing engine: ListObjectsV2 in parallel, streamed into aggregators.
//!
//! Why not one LIST per directory: one ListObjectsV2 stream is strictly sequential (each page
//! needs the previous page's continuation token), so 100k keys are 100 round trips back to back
//! — but a LIST per small directory (1,000 checkpoint directories of 100 shards) is 1,000
//! requests instead of 100, and on a busy server the requests cost more than the latency saves.
//! So the engine splits the key space into about one piece per worker and lists each piece flat:
//!
//! - A [`Unit::Level`] lists one prefix with `delimiter=/`: it counts the prefix's *direct*
//!   objects and names its sub-prefixes. While a level has fewer sub-prefixes than it has
//!   workers (its `share`, at least 2 per child), each sub-prefix is listed as a level of its own
//!   with a part of the share: cheap, a level of directories is one page of names.
//! - Otherwise the sub-prefixes are cut into `share` contiguous [`Unit::Range`]s: a range lists
//!   the parent flat (no delimiter) from its first sub-prefix (`start_after` just below it) and
//!   stops at the first key at or past the next range's first sub-prefix. Every key under a
//!   sub-prefix sorts inside that sub-prefix's range, so each key is counted exactly once; the
//!   parent's direct objects (which sort between sub-prefixes) are skipped by ranges — the level
//!   counted them. Requests ≈ ⌈N/1000⌉ + one partial page per range + one per level.
//! - A very wide level (more than [`MAX_FANOUT`] sub-prefixes) is cut into pieces at page
//!   boundaries: each piece hands its sub-prefixes to ranges at once and queues the rest of the
//!   level (its continuation token) behind them, so memory stays bounded and workers start early.

use super::aggregate::Aggregator;
use super::progress::ProgressMeter;
use super::ReviewOptions;
use crate::error::{Error, Result};
use crate::event::Sink;
use crate::s3::errors::SdkResultExt;
use crate::s3::Connection;
use futures::stream::FuturesUnordered;
use futures::StreamExt;
use std::collections::VecDeque;
use tokio_util::sync::CancellationToken;

/// A level piece stops collecting sub-prefixes at this many (and continues as another unit).
pub const MAX_FANOUT: usize = 1000;

/// Deepest level listed with a delimiter (0 = the reviewed prefix itself); deeper, ranges only.
pub const MAX_DEPTH: usize = 8;

/// One piece of the listing.
#[derive(Debug, Clone)]
enum Unit {
    /// List `prefix` with `delimiter=/` (from `token` when continuing a wide level): count its
    /// direct objects, return its sub-prefixes. `share` = workers this subtree may keep busy.
    Level { prefix: String, depth: usize, share: usize, token: Option<String> },
    /// Every key below the sub-prefixes of `parent` in `[lo, hi)` (`hi` `None` = to the end);
    /// `parent`'s direct objects are skipped (its level counts them).
    Range { parent: String, lo: String, hi: Option<String> },
}

/// What a finished unit hands back.
struct Done {
    agg: Aggregator,
    /// Set for a level: what to list next.
    level: Option<LevelDone>,
}

struct LevelDone {
    prefix: String,
    depth: usize,
    share: usize,
    /// Sorted sub-prefixes found by this piece.
    children: Vec<String>,
    /// Continuation token when the level was cut into pieces and more follow.
    more: Option<String>,
}

/// Lists everything under `prefix` of `bucket` (the location; `""` for the whole bucket) with up
/// to `concurrency` requests in flight, and returns the merged aggregator.
pub async fn list_into(conn: &Connection, bucket: &str, prefix: &str, opts: &ReviewOptions, sink: &dyn Sink, cancel: &CancellationToken) -> Result<Aggregator> {
    let concurrency = opts.concurrency.max(1);
    let meter = ProgressMeter::new(sink);
    let mut total = Aggregator::new("", opts.now, opts.top_n);
    let mut queue: VecDeque<Unit> = VecDeque::from([Unit::Level { prefix: prefix.to_string(), depth: 0, share: concurrency, token: None }]);
    meter.units_added(1);
    let mut running = FuturesUnordered::new();
    loop {
        while running.len() < concurrency {
            let Some(unit) = queue.pop_front() else { break };
            running.push(run_unit(conn, bucket, prefix, unit, opts, &meter, cancel));
        }
        let Some(done) = running.next().await else { break };
        if cancel.is_cancelled() {
            return Err(Error::Cancelled);
        }
        let done = done?;
        total.merge(done.agg);
        if let Some(level) = done.level {
            let next = plan_children(level);
            meter.units_added(next.len() as u64);
            queue.extend(next);
        }
        meter.unit_done();
    }
    meter.flush();
    Ok(total)
}

/// The units that list what a level piece found below it (see the module doc).
fn plan_children(l: LevelDone) -> Vec<Unit> {
    let mut out = Vec::new();
    let n = l.children.len();
    let complete = l.more.is_none();
    if let Some(token) = l.more {
        out.push(Unit::Level { prefix: l.prefix.clone(), depth: l.depth, share: l.share, token: Some(token) });
    }
    if n == 0 {
        return out;
    }
    if complete && l.depth < MAX_DEPTH && l.share / n >= 2 {
        let share = l.share / n;
        out.extend(l.children.into_iter().map(|c| Unit::Level { prefix: c, depth: l.depth + 1, share, token: None }));
        return out;
    }
    let ranges = l.share.clamp(1, n);
    // Contiguous chunks of near-equal size: range i starts at child ⌊i·n/k⌋.
    let starts: Vec<usize> = (0..ranges).map(|i| i * n / ranges).collect();
    for (i, &s) in starts.iter().enumerate() {
        let hi = match starts.get(i + 1) {
            Some(&e) => Some(l.children[e].clone()),
            // The last range of a piece with more to come stops right after its last sub-prefix.
            None if !complete => Some(past_subtree(&l.children[n - 1])),
            None => None,
        };
        out.push(Unit::Range { parent: l.prefix.clone(), lo: l.children[s].clone(), hi });
    }
    out
}

/// The smallest string greater than every key under `dir` (`a/b/` → `a/b0`: '0' follows '/').
fn past_subtree(dir: &str) -> String {
    format!("{}0", dir.strip_suffix('/').unwrap_or(dir))
}

/// A `start_after` that lets a listing begin at `dir` itself (a "directory marker" key equal to
/// `dir` included): `a/b/` → `a/b.` + U+10FFFF, below `a/b/` and above any real key between.
/// Keys it lets through below `dir` (`a/b.\u{10FFFF}…`) are skipped by the `key >= lo` check.
fn start_below(dir: &str) -> String {
    format!("{}.{}", dir.strip_suffix('/').unwrap_or(dir), char::MAX)
}

#[allow(clippy::too_many_arguments)]
async fn run_unit(conn: &Connection, bucket: &str, root: &str, unit: Unit, opts: &ReviewOptions, meter: &ProgressMeter<'_>, cancel: &CancellationToken) -> Result<Done> {
    let (parent, mut token, level) = match &unit {
        Unit::Level { prefix, token, .. } => (prefix.as_str(), token.clone(), true),
        Unit::Range { parent, .. } => (parent.as_str(), None, false),
    };
    let (lo, hi) = match &unit {
        Unit::Range { lo, hi, .. } => (Some(lo.as_str()), hi.as_deref()),
        Unit::Level { .. } => (None, None),
    };
    // Units are built from the server's CommonPrefixes, which are filtered to lie under the
    // root below; `strip_prefix` still, so a misbehaving server cannot make this panic.
    let mut agg = Aggregator::new(parent.strip_prefix(root).unwrap_or(""), opts.now, opts.top_n);
    if opts.detailed {
        agg = agg.with_duplicates(opts.duplicate_groups.unwrap_or(opts.top_n));
    }
    let mut children = Vec::new();
    let mut first = true;
    let more = loop {
        if cancel.is_cancelled() {
            return Err(Error::Cancelled);
        }
        let mut req = conn.client.list_objects_v2().bucket(bucket).set_continuation_token(token.take());
        if !parent.is_empty() {
            req = req.prefix(parent);
        }
        if level {
            req = req.delimiter("/");
        } else if first {
            req = req.start_after(start_below(lo.unwrap_or_default()));
        }
        first = false;
        let out = req.send().await.or_s3(&conn.ctx().bucket(bucket))?;
        let (mut n, mut b, mut past_end) = (0u64, 0u64, false);
        for o in out.contents() {
            let key = o.key().unwrap_or_default();
            if !level {
                if hi.is_some_and(|h| key >= h) {
                    past_end = true;
                    break;
                }
                // Below the range start (let through by `start_below`), or a direct object of
                // the parent (its level counts those).
                if lo.is_some_and(|l| key < l) || !key.strip_prefix(parent).is_some_and(|r| r.contains('/')) {
                    continue;
                }
            }
            let Some(rel) = key.strip_prefix(root) else { continue };
            let size = o.size().unwrap_or(0).max(0) as u64;
            agg.add_with_etag(key, rel, size, o.last_modified().map(|d| d.secs()), o.storage_class().map(|c| c.as_str()), o.e_tag());
            n += 1;
            b += size;
        }
        meter.counted(n, b);
        if level {
            // Only real children: a non-compliant server answering with prefixes outside the
            // parent (or the parent itself, which would be listed again forever) is ignored.
            let real = |p: &&str| p.strip_prefix(parent).is_some_and(|rest| !rest.is_empty());
            children.extend(out.common_prefixes().iter().filter_map(|p| p.prefix()).filter(real).map(str::to_string));
        }
        let next = match (out.is_truncated(), out.next_continuation_token()) {
            (Some(true), Some(t)) if !past_end => Some(t.to_string()),
            _ => None,
        };
        match next {
            None => break None,
            Some(t) if level && children.len() >= MAX_FANOUT => break Some(t),
            Some(t) => token = Some(t),
        }
    };
    let level = match unit {
        Unit::Level { prefix, depth, share, .. } => {
            children.sort();
            Some(LevelDone { prefix, depth, share, children, more })
        }
        Unit::Range { .. } => None,
    };
    Ok(Done { agg, level })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn level(children: &[&str], share: usize, more: bool) -> LevelDone {
        LevelDone { prefix: "p/".into(), depth: 1, share, children: children.iter().map(|c| c.to_string()).collect(), more: more.then(|| "tok".into()) }
    }

    fn ranges(units: &[Unit]) -> Vec<(String, Option<String>)> {
        units.iter().filter_map(|u| if let Unit::Range { lo, hi, .. } = u { Some((lo.clone(), hi.clone())) } else { None }).collect()
    }

    #[test]
    fn few_children_with_workers_to_spare_are_listed_as_levels() {
        let u = plan_children(level(&["p/a/", "p/b/"], 8, false));
        assert!(matches!(&u[..], [Unit::Level { share: 4, depth: 2, .. }, Unit::Level { share: 4, .. }]), "{u:?}");
    }

    #[test]
    fn many_children_are_cut_into_one_contiguous_range_per_worker() {
        let kids: Vec<String> = (0..10).map(|i| format!("p/d{i}/")).collect();
        let kids: Vec<&str> = kids.iter().map(String::as_str).collect();
        let r = ranges(&plan_children(level(&kids, 3, false)));
        assert_eq!(r, vec![("p/d0/".into(), Some("p/d3/".into())), ("p/d3/".into(), Some("p/d6/".into())), ("p/d6/".into(), None)]);
        // More sub-prefixes to come: the level continues, the last range stops after its subtree.
        let u = plan_children(level(&kids, 3, true));
        assert!(matches!(&u[0], Unit::Level { token: Some(_), .. }));
        assert_eq!(ranges(&u).last().unwrap().1.as_deref(), Some("p/d90"));
        // One worker: one range over everything.
        assert_eq!(ranges(&plan_children(level(&kids, 1, false))), vec![("p/d0/".into(), None)]);
    }

    #[test]
    fn range_bounds_bracket_exactly_the_subtree() {
        assert_eq!(past_subtree("a/b/"), "a/b0");
        assert!("a/b/zzz" < past_subtree("a/b/").as_str() && "a/b0" >= past_subtree("a/b/").as_str());
        let s = start_below("a/b/");
        assert!(s.as_str() < "a/b/" && s.as_str() > "a/b.x" && s.as_str() > "a/b-c/");
    }
}
