//! The Browser's object panel: details (metadata, tags), edits that never overwrite a change the
//! user did not see, share links, and versions — a restore applied only from a plan shown first.

use super::App;
use crate::error::{Error, Result};
use crate::s3::share::{self, ShareLink};
use crate::s3::tags::{self, ObjectDetails};
use crate::s3::versions::{self, ObjectVersion};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// Restoring an older version, as the confirm dialog shows it; `version_restore_apply` takes the id.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
pub struct RestorePlan {
    pub plan_id: u64,
    pub bucket: String,
    pub key: String,
    /// The version that becomes current again.
    pub version: ObjectVersion,
    /// The version that is current now (it stays, as an older version).
    pub current: Option<ObjectVersion>,
}

impl App {
    pub async fn object_details(&self, bucket: &str, key: &str) -> Result<ObjectDetails> {
        let conn = self.session.conn()?;
        self.watched(tags::details(&conn, bucket, key).await)
    }

    /// Replaces the object's tags if it is still the one with `etag` (`plan_stale` otherwise).
    pub async fn object_tags_set(&self, bucket: &str, key: &str, etag: Option<&str>, tags: &BTreeMap<String, String>) -> Result<ObjectDetails> {
        let conn = self.session.conn()?;
        self.watched(tags::set_tags(&conn, bucket, key, etag, tags).await)?;
        self.object_details(bucket, key).await
    }

    /// Replaces the object's user metadata if it is still the one with `etag` (`plan_stale` otherwise).
    pub async fn object_metadata_set(&self, bucket: &str, key: &str, etag: &str, metadata: &BTreeMap<String, String>) -> Result<ObjectDetails> {
        let conn = self.session.conn()?;
        self.watched(tags::set_metadata(&conn, bucket, key, etag, metadata).await)?;
        self.object_details(bucket, key).await
    }

    /// A presigned link to download `key`, valid for `expires_secs` (at most 7 days).
    pub async fn share_link(&self, bucket: &str, key: &str, expires_secs: u64) -> Result<ShareLink> {
        let conn = self.session.conn()?;
        share::share_link(&conn, bucket, key, Duration::from_secs(expires_secs)).await
    }

    pub async fn object_versions(&self, bucket: &str, key: &str) -> Result<Vec<ObjectVersion>> {
        let conn = self.session.conn()?;
        self.watched(versions::list_versions(&conn, bucket, key).await)
    }

    /// Plans making `version_id` the current version of `key` again; held for `version_restore_apply`.
    pub async fn version_restore_plan(&self, bucket: &str, key: &str, version_id: &str) -> Result<RestorePlan> {
        let all = self.object_versions(bucket, key).await?;
        let version = all.iter().find(|v| v.version_id.as_deref() == Some(version_id)).cloned().ok_or_else(|| Error::NotFound(format!("version {version_id} of s3://{bucket}/{key}")))?;
        if version.delete_marker {
            return Err(Error::Usage("that version is a delete marker: restore the version before it".into()));
        }
        let current = all.iter().find(|v| v.is_latest).cloned();
        Ok(self.restore_plans.insert_with(|plan_id| RestorePlan { plan_id, bucket: bucket.to_string(), key: key.to_string(), version, current }))
    }

    /// Applies held restore plan `plan_id` (once), unless the key changed since it was shown.
    pub async fn version_restore_apply(&self, plan_id: u64) -> Result<Option<String>> {
        let plan = self.restore_plans.take(plan_id)?;
        let now_latest = self.object_versions(&plan.bucket, &plan.key).await?.into_iter().find(|v| v.is_latest);
        if now_latest.as_ref().map(|v| &v.version_id) != plan.current.as_ref().map(|v| &v.version_id) {
            return Err(Error::PlanStale(format!("s3://{}/{} has a newer version than the one shown", plan.bucket, plan.key)));
        }
        let conn = self.session.conn()?;
        let version_id = plan.version.version_id.as_deref().unwrap_or("null");
        self.watched(versions::restore_version(&conn, &plan.bucket, &plan.key, version_id).await)
    }
}
