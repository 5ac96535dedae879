//! The one LIST call a poll makes: ListObjectsV2 under the watched prefix, optionally starting
//! after a key (`StartAfter`), counting the requests it sends.
//!
//! Why not `s3::list`: a watch needs `StartAfter` and a request count (the benchmark and the
//! "one LIST per idle poll" promise are checked against it), and nothing else.

use crate::error::Result;
use crate::s3::errors::SdkResultExt;
use crate::s3::Connection;

/// What a watch remembers of one object: enough to see that it changed, nothing more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub size: u64,
    pub etag: Option<String>,
    /// Seconds since the Unix epoch (server clock).
    pub mtime: Option<i64>,
}

/// Every object under `prefix` whose key sorts after `start_after` (all of them when `None`),
/// keys relative to `prefix`, in key order. Adds the number of LIST requests sent to `requests`.
pub async fn list_after(conn: &Connection, bucket: &str, prefix: &str, start_after: Option<&str>, requests: &mut u64) -> Result<Vec<(String, Seen)>> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut req = conn.client.list_objects_v2().bucket(bucket).set_continuation_token(token.clone());
        if !prefix.is_empty() {
            req = req.prefix(prefix);
        }
        if token.is_none() {
            if let Some(k) = start_after {
                req = req.start_after(k);
            }
        }
        *requests += 1;
        let page = req.send().await.or_s3(&conn.ctx().bucket(bucket))?;
        for o in page.contents() {
            let Some(rel) = o.key().and_then(|k| k.strip_prefix(prefix)) else { continue };
            if rel.is_empty() {
                continue;
            }
            let seen = Seen {
                size: o.size().unwrap_or(0).max(0) as u64,
                etag: o.e_tag().map(|e| e.trim_matches('"').to_string()),
                mtime: o.last_modified().map(|d| d.secs()),
            };
            out.push((rel.to_string(), seen));
        }
        token = match (page.is_truncated(), page.next_continuation_token()) {
            (Some(true), Some(t)) => Some(t.to_string()),
            _ => break,
        };
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}
