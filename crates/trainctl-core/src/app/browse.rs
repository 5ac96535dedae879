//! The Browser's calls: buckets with cheap counts, one folder page at a time, and deleting or
//! renaming selected keys and folders from a plan the user confirmed.

use super::App;
use crate::error::{ErrorInfo, Result};
use crate::s3::list::{self, ObjectEntry};
use crate::s3::rename::{self, RenamePlanned, RenameReport};
use crate::transfer::plan::{apply_deletions, Deletion, SyncPlan};
use crate::transfer::TransferJob;
use futures::TryStreamExt;
use serde::Serialize;

/// Buckets with more objects than this show `null` counts (the list stays quick).
const COUNT_LIMIT: u64 = 10_000;

/// One bucket; counts are `null` when unknown or too large to count cheaply.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
pub struct BucketSummary {
    pub name: String,
    /// Seconds since the Unix epoch.
    pub created: Option<i64>,
    pub object_count: Option<u64>,
    pub bytes: Option<u64>,
}

/// One delimiter page of a folder listing.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
pub struct ListPage {
    pub bucket: String,
    pub prefix: String,
    /// Common prefixes, each ending in `/`, full keys (`runs/a/`).
    pub prefixes: Vec<String>,
    pub objects: Vec<ObjectEntry>,
    /// More pages follow; pass `next_token` back as `token`.
    pub truncated: bool,
    pub next_token: Option<String>,
}

/// One object a delete removes, as it was when the plan was made.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeleteItem {
    pub key: String,
    pub size: u64,
    pub etag: Option<String>,
}

/// Exactly what `delete_apply(plan_id)` removes; shown in the confirm dialog first.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
pub struct DeletePlan {
    /// Pass this to `delete_apply`; it names exactly this plan.
    pub plan_id: u64,
    pub bucket: String,
    /// The selection the plan was made from (folders end with `/`).
    pub selection: Vec<String>,
    pub items: Vec<DeleteItem>,
    pub bytes: u64,
}

/// A rename or move as the confirm dialog shows it; `rename_apply` takes the id.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
pub struct RenamePlan {
    pub plan_id: u64,
    pub rename: RenamePlanned,
}

/// One object a delete could not remove.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
pub struct DeleteFailure {
    pub key: String,
    pub error: ErrorInfo,
}

/// What `delete_apply` did.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
pub struct DeleteReport {
    pub deleted: u64,
    pub bytes: u64,
    pub failed: Vec<DeleteFailure>,
}

impl App {
    /// The buckets of the connection, each counted unless it holds more than 10,000 objects.
    pub async fn buckets_list(&self) -> Result<Vec<BucketSummary>> {
        let conn = self.session.conn()?;
        let buckets = self.watched(list::list_buckets(&conn).await)?;
        let counts = futures::future::join_all(buckets.iter().map(|b| bounded_count(&conn, &b.name))).await;
        Ok(buckets.into_iter().zip(counts).map(|(b, c)| BucketSummary { name: b.name, created: b.created, object_count: c.map(|c| c.0), bytes: c.map(|c| c.1) }).collect())
    }

    /// One page of the folder `prefix` (its own folder marker left out).
    pub async fn objects_list(&self, bucket: &str, prefix: &str, token: Option<String>) -> Result<ListPage> {
        let conn = self.session.conn()?;
        let (entries, next_token) = self.watched(list::list_page(&conn, bucket, prefix, Some("/"), token).await)?;
        let (prefixes, objects): (Vec<ObjectEntry>, Vec<ObjectEntry>) = entries.into_iter().partition(|e| e.is_prefix);
        Ok(ListPage {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
            prefixes: prefixes.into_iter().map(|p| p.key).collect(),
            objects: objects.into_iter().filter(|o| prefix.is_empty() || o.key != prefix).collect(),
            truncated: next_token.is_some(),
            next_token,
        })
    }

    /// Plans the deletion of selected keys and folders (everything under a folder key); held
    /// until `delete_apply` takes it.
    pub async fn delete_plan(&self, bucket: &str, keys: &[String]) -> Result<DeletePlan> {
        let conn = self.session.conn()?;
        let items = self.watched(selection_items(&conn, bucket, keys).await)?;
        let bytes = items.iter().map(|i| i.size).fold(0, u64::saturating_add);
        Ok(self.delete_plans.insert_with(|plan_id| DeletePlan { plan_id, bucket: bucket.to_string(), selection: keys.to_vec(), items, bytes }))
    }

    /// Deletes exactly plan `plan_id` (once) — unless one of its objects changed or vanished since
    /// it was shown (`plan_stale`, nothing deleted): the selection is listed again first, which
    /// costs ⌈N/1000⌉ LISTs and keeps the deletion itself in batches of 1000.
    pub async fn delete_apply(&self, plan_id: u64) -> Result<DeleteReport> {
        let plan = self.delete_plans.take(plan_id)?;
        let conn = self.session.conn()?;
        let now = self.watched(selection_items(&conn, &plan.bucket, &plan.selection).await)?;
        let now: std::collections::HashMap<&str, &DeleteItem> = now.iter().map(|i| (i.key.as_str(), i)).collect();
        let changed = plan.items.iter().filter(|i| now.get(i.key.as_str()).is_none_or(|n| *n != *i)).count();
        if changed > 0 {
            return Err(crate::Error::PlanStale(format!("{changed} of the {} objects changed or vanished since the plan", plan.items.len())));
        }
        self.delete_objects(conn, &plan.bucket, &plan.items).await
    }

    /// Deletes `items` of `bucket` in batches of 1000 (a plan already checked by the caller).
    pub(crate) async fn delete_objects(&self, conn: crate::s3::Connection, bucket: &str, items: &[DeleteItem]) -> Result<DeleteReport> {
        let deletions = items.iter().map(|i| Deletion::Object { bucket: bucket.to_string(), key: i.key.clone() }).collect();
        let sync = SyncPlan { job: TransferJob::new(crate::event::Direction::Upload, bucket, ""), deletions };
        // The deletion future borrows the plan across awaits and is not `Send`, which a caller's
        // future (a Tauri command) must be: run it on a blocking thread of this runtime.
        let handle = tokio::runtime::Handle::current();
        let out = tokio::task::spawn_blocking(move || handle.block_on(apply_deletions(&sync, &conn)))
            .await
            .map_err(|e| crate::Error::Internal(format!("delete task: {e}")))?;
        let out = self.watched(out)?;
        let failed_keys: std::collections::HashSet<&str> = out.failed.iter().map(|(k, _)| k.as_str()).collect();
        let bytes = items.iter().filter(|i| !failed_keys.contains(i.key.as_str())).map(|i| i.size).sum();
        let failed = out.failed.into_iter().map(|(key, error)| DeleteFailure { key, error }).collect();
        Ok(DeleteReport { deleted: out.deleted, bytes, failed })
    }
}

impl App {
    /// Plans renaming `from` to `to` in `bucket` (a key, or a folder ending in `/`: everything
    /// under it); held until `rename_apply`. A plan with conflicts is shown but cannot be applied.
    pub async fn rename_plan(&self, bucket: &str, from: &str, to: &str) -> Result<RenamePlan> {
        let conn = self.session.conn()?;
        let rename = self.watched(rename::plan_rename(&conn, bucket, from, to).await)?;
        Ok(self.rename_plans.insert_with(|plan_id| RenamePlan { plan_id, rename }))
    }

    /// Applies held rename plan `plan_id` (once): server-side copies, then the old keys go —
    /// refused (`plan_stale`, nothing moved) when a source changed or a destination appeared.
    pub async fn rename_apply(&self, plan_id: u64) -> Result<RenameReport> {
        let plan = self.rename_plans.take(plan_id)?;
        if let Some(first) = plan.rename.conflicts.first() {
            return Err(crate::Error::DestinationExists(format!("s3://{}/{first}", plan.rename.bucket)));
        }
        let conn = self.session.conn()?;
        self.watched(rename::apply_rename(&conn, &plan.rename).await)
    }
}

/// Every object a selection names (a folder key: everything under it), sorted, each once.
async fn selection_items(conn: &crate::s3::Connection, bucket: &str, keys: &[String]) -> Result<Vec<DeleteItem>> {
    let mut items = Vec::new();
    for key in keys {
        if key.ends_with('/') {
            let under = list::collect_objects(conn, bucket, key, None).await?;
            items.extend(under.into_iter().map(|o| DeleteItem { key: o.key, size: o.size, etag: o.etag }));
        } else {
            match list::head_object(conn, bucket, key).await {
                Ok(o) => items.push(DeleteItem { key: o.key, size: o.size, etag: o.etag }),
                Err(crate::Error::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
    }
    items.sort_by(|a, b| a.key.cmp(&b.key));
    items.dedup_by(|a, b| a.key == b.key);
    Ok(items)
}

/// (objects, bytes) of a bucket, or `None` when it holds more than [`COUNT_LIMIT`] objects.
async fn bounded_count(conn: &crate::s3::Connection, bucket: &str) -> Option<(u64, u64)> {
    let mut stream = list::list_objects(conn, bucket, "", None);
    let (mut n, mut bytes) = (0u64, 0u64);
    while let Ok(Some(o)) = stream.try_next().await {
        n += 1;
        bytes += o.size;
        if n > COUNT_LIMIT {
            return None;
        }
    }
    Some((n, bytes))
}
