//! The listing engine: ListObjectsV2 in parallel across prefixes, streamed into aggregators.
//!
//! Why fan-out: one ListObjectsV2 stream is strictly sequential (each page needs the previous
//! page's continuation token), so a bucket of 100k keys is 100 round trips back to back. Listing
//! with `delimiter=/` first names the top-level prefixes; each is then listed by its own task
//! (at most `concurrency` at once). A level is split further only while there are fewer units
//! than workers, because every extra delimiter call is one more round trip.

use super::aggregate::Aggregator;
use super::progress::ProgressMeter;
use crate::error::{Error, Result};
use crate::event::Sink;
use crate::s3::errors::SdkResultExt;
use crate::s3::Connection;
use futures::stream::FuturesUnordered;
use futures::StreamExt;
use std::collections::VecDeque;
use tokio_util::sync::CancellationToken;

/// A level with more common prefixes than this is listed recursively as one unit instead
/// (so the pending-unit queue stays small whatever the bucket looks like).
pub const MAX_FANOUT: usize = 2000;

/// Deepest level split into parallel units (0 = the reviewed prefix itself).
pub const MAX_DEPTH: usize = 3;

/// One piece of the listing.
#[derive(Debug, Clone)]
enum Unit {
    /// List one level with `delimiter=/`: count its direct objects, return its sub-prefixes.
    Level { prefix: String, depth: usize },
    /// List everything below the prefix.
    Subtree { prefix: String },
}

/// What a finished unit hands back.
struct Done {
    agg: Aggregator,
    /// Sub-prefixes of a `Level` unit (empty for a subtree; `None` when the level had too many
    /// and must be redone as one subtree).
    children: Option<Vec<String>>,
    depth: usize,
    prefix: String,
}

/// Lists everything under `prefix` of `bucket` (the location; `""` for the whole bucket) with up
/// to `concurrency` requests in flight, and returns the merged aggregator.
pub async fn list_into(
    conn: &Connection,
    bucket: &str,
    prefix: &str,
    now: i64,
    top_n: usize,
    concurrency: usize,
    sink: &dyn Sink,
    cancel: &CancellationToken,
) -> Result<Aggregator> {
    let concurrency = concurrency.max(1);
    let meter = ProgressMeter::new(sink);
    let mut total = Aggregator::new("", now, top_n);
    let mut queue: VecDeque<Unit> = VecDeque::from([Unit::Level { prefix: prefix.to_string(), depth: 0 }]);
    meter.units_added(1);
    let mut running = FuturesUnordered::new();
    loop {
        while running.len() < concurrency {
            let Some(unit) = queue.pop_front() else { break };
            running.push(run_unit(conn, bucket, prefix, unit, now, top_n, &meter));
        }
        let Some(done) = running.next().await else { break };
        if cancel.is_cancelled() {
            return Err(Error::Cancelled);
        }
        let done = done?;
        match done.children {
            Some(children) => {
                let pending = queue.len() + running.len() + children.len();
                let split = done.depth + 1 <= MAX_DEPTH && pending < 2 * concurrency;
                meter.units_added(children.len() as u64);
                for c in children {
                    queue.push_back(if split { Unit::Level { prefix: c, depth: done.depth + 1 } } else { Unit::Subtree { prefix: c } });
                }
                total.merge(done.agg);
            }
            None => {
                meter.units_added(1);
                queue.push_back(Unit::Subtree { prefix: done.prefix });
            }
        }
        meter.unit_done();
    }
    meter.flush();
    Ok(total)
}

async fn run_unit(conn: &Connection, bucket: &str, root: &str, unit: Unit, now: i64, top_n: usize, meter: &ProgressMeter<'_>) -> Result<Done> {
    let (prefix, delimiter, depth) = match &unit {
        Unit::Level { prefix, depth } => (prefix.clone(), true, *depth),
        Unit::Subtree { prefix } => (prefix.clone(), false, 0),
    };
    let unit_root = &prefix[root.len()..];
    let mut agg = Aggregator::new(unit_root, now, top_n);
    let mut children = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut req = conn.client.list_objects_v2().bucket(bucket).set_continuation_token(token.take());
        if !prefix.is_empty() {
            req = req.prefix(&prefix);
        }
        if delimiter {
            req = req.delimiter("/");
        }
        let out = req.send().await.or_s3(&conn.ctx().bucket(bucket))?;
        let (mut n, mut b) = (0u64, 0u64);
        for o in out.contents() {
            let key = o.key().unwrap_or_default();
            let Some(rel) = key.strip_prefix(root) else { continue };
            let size = o.size().unwrap_or(0).max(0) as u64;
            agg.add(key, rel, size, o.last_modified().map(|d| d.secs()), o.storage_class().map(|c| c.as_str()));
            n += 1;
            b += size;
        }
        meter.counted(n, b);
        if delimiter {
            children.extend(out.common_prefixes().iter().filter_map(|p| p.prefix()).map(str::to_string));
            if children.len() > MAX_FANOUT {
                return Ok(Done { agg, children: None, depth, prefix });
            }
        }
        match (out.is_truncated(), out.next_continuation_token()) {
            (Some(true), Some(t)) => token = Some(t.to_string()),
            _ => break,
        }
    }
    children.sort();
    Ok(Done { agg, children: Some(children), depth, prefix })
}
