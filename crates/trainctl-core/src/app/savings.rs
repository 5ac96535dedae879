//! The Dashboard's "deduplicate" savings action: a plan of which copies of each duplicate group
//! go (held by id, shown in a confirm dialog), applied only as shown, with progress per group.

use super::browse::{DeleteItem, DeleteReport};
use super::App;
use crate::error::Result;
use crate::event::{Event, NullSink};
use crate::review::{self, dedup_plan, dedup_plan::S3DedupPlan};
use crate::s3::S3Url;
use tokio_util::sync::CancellationToken;

impl App {
    /// Lists `s3://bucket/prefix` again for its duplicate groups and plans keeping one copy of
    /// each (never one in a newest or incomplete checkpoint); held for `dedup_apply`.
    pub async fn dedup_plan(&self, bucket: &str, prefix: &str) -> Result<S3DedupPlan> {
        let conn = self.session.conn()?;
        let url = S3Url::parse(&format!("s3://{bucket}/{prefix}"))?;
        let table = self.price_table(&conn).await.ok();
        // The plan prices its own deletions; the listing's figures are not needed.
        let unpriced = Err(crate::Error::Internal("priced by the plan".into()));
        let (d, _) = self.watched(review::find_duplicates(&conn, &url, unpriced, &NullSink, &CancellationToken::new()).await)?;
        let plan = self.watched(dedup_plan::plan(&conn, &url, &d, table.as_ref()).await)?;
        Ok(self.dedup_plans.insert_with(|plan_id| S3DedupPlan { plan_id, ..plan }))
    }

    /// Deletes exactly the copies plan `plan_id` names (once), group by group with a
    /// `DedupProgress` event after each — after checking every key of the plan is unchanged
    /// (`plan_stale` otherwise, nothing deleted).
    pub async fn dedup_apply(&self, plan_id: u64) -> Result<DeleteReport> {
        let plan = self.dedup_plans.take(plan_id)?;
        let conn = self.session.conn()?;
        self.watched(dedup_plan::check_unchanged(&conn, &plan).await)?;
        let mut total = DeleteReport { deleted: 0, bytes: 0, failed: Vec::new() };
        let groups = plan.groups.len() as u64;
        for (i, g) in plan.groups.iter().enumerate() {
            let items: Vec<DeleteItem> = g.delete.iter().map(|k| DeleteItem { key: k.clone(), size: g.bytes, etag: Some(g.etag.clone()) }).collect();
            let r = self.delete_objects(conn.clone(), &plan.bucket, &items).await?;
            total.deleted += r.deleted;
            total.bytes += r.bytes;
            total.failed.extend(r.failed);
            self.emit(Event::DedupProgress { groups_done: i as u64 + 1, groups, objects_deleted: total.deleted, bytes_reclaimed: total.bytes });
        }
        Ok(total)
    }
}
