//! The shell's IPC payload types (docs/ipc.md, "Owned by the shell"). Field names are the wire
//! names; `ui/src/lib/types.ts` re-exports their TypeScript, generated with the feature `ts` into
//! `ui/src/lib/generated/` (docs/ipc.md). Options serialize as `null`.

use serde::{Deserialize, Serialize};
use trainctl_core::config::profile::ProfileOrigin;
use trainctl_core::config::CredentialSource;
use trainctl_core::error::ErrorInfo;
use trainctl_core::event::{Direction, JobId};
use trainctl_core::s3::list::ObjectEntry;

/// What `app_info` returns at start-up: enough for the UI to pick its first screen.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
pub struct AppInfo {
    pub version: String,
    /// Started with `--demo` (or the demo was started this session).
    pub demo: bool,
    /// No trainctl profile, no AWS profile and no AWS env credentials: show the first-run screen.
    pub first_run: bool,
    /// The profile the shell connected to at start-up, if any.
    pub connection: Option<ConnectionInfo>,
}

/// The live connection, as the nav bar and the Dashboard show it.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
pub struct ConnectionInfo {
    pub profile: String,
    pub endpoint_url: Option<String>,
    pub region: String,
    pub provider: Option<String>,
    pub demo: bool,
}

/// One row of the Connections view (no secrets, only whether one is stored).
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
pub struct ProfileSummary {
    pub name: String,
    pub origin: ProfileOrigin,
    pub provider: Option<String>,
    pub endpoint_url: Option<String>,
    pub region: Option<String>,
    pub credentials: CredentialSource,
    /// A secret is stored in the OS keychain for this profile (trainctl keychain profiles only).
    pub secret_stored: bool,
}

/// The add-connection form; the secret goes to the OS keychain and nowhere else.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Deserialize)]
pub struct ProfileForm {
    pub name: String,
    pub provider: Option<String>,
    pub endpoint_url: Option<String>,
    pub region: Option<String>,
    pub access_key_id: String,
    pub secret_access_key: String,
}

/// The result of a connection test, explained in the form when it fails.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
pub struct TestReport {
    pub ok: bool,
    /// Buckets visible with these credentials, when listing them worked.
    pub bucket_count: Option<u64>,
    pub latency_ms: Option<u64>,
    /// Why it failed, in plain words (`null` when `ok`).
    pub diagnosis: Option<ErrorInfo>,
}

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

/// One object a delete would remove.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeleteItem {
    pub key: String,
    pub size: u64,
}

/// Exactly what `delete_apply` removes; shown in the confirm dialog first.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeletePlan {
    pub bucket: String,
    pub items: Vec<DeleteItem>,
    pub bytes: u64,
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

/// Where a job is in its life.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferState {
    Planning,
    Running,
    Done,
    Partial,
    Failed,
    Cancelled,
}

impl TransferState {
    /// True while the job may still move bytes.
    pub fn is_active(self) -> bool {
        matches!(self, TransferState::Planning | TransferState::Running)
    }
}

/// One object that failed within a job.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
pub struct TransferFailure {
    pub key: String,
    pub error: ErrorInfo,
}

/// One job as the Transfers view shows it, live or finished.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
pub struct TransferRecord {
    pub job: JobId,
    pub direction: Direction,
    pub bucket: String,
    /// Upload: destination prefix. Download: the source prefix (or `""`).
    pub prefix: String,
    /// Download: the local destination directory.
    pub dest_dir: Option<String>,
    /// Short human label ("checkpoint-500/ and 2 more").
    pub label: String,
    pub state: TransferState,
    pub engine: Option<String>,
    pub bytes_done: u64,
    pub bytes_total: u64,
    pub objects_done: u64,
    pub objects_total: u64,
    pub objects_failed: u64,
    pub objects_skipped: u64,
    pub bytes_per_sec: f64,
    pub eta_secs: Option<f64>,
    /// Seconds since the Unix epoch.
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub failures: Vec<TransferFailure>,
    /// Whole-job error (state `failed`).
    pub error: Option<ErrorInfo>,
}

/// Severity of an in-app notification.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationLevel {
    Info,
    Success,
    Warning,
    Error,
}

/// A popup, mirrored in the in-app list (Linux daemons can swallow popups).
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
pub struct AppNotification {
    pub id: u64,
    pub level: NotificationLevel,
    pub title: String,
    pub body: String,
    /// Seconds since the Unix epoch.
    pub at: i64,
    pub job: Option<JobId>,
    /// An `s3://` prefix the item opens when clicked (watch popups: the run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

/// Payload of `app://close-requested`: the window was closed while these transfers run.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
pub struct CloseRequest {
    /// Labels of the active transfers (what the dialog lists).
    pub active: Vec<String>,
}

/// Payload of `connection://lost`.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
pub struct ConnectionLost {
    pub profile: String,
    pub error: ErrorInfo,
}

/// Payload of `connection://restored`.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
pub struct ConnectionRestored {
    pub profile: String,
}

/// Seconds since the Unix epoch, the wire form of every time.
pub fn now_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// Writes or checks `ui/src/lib/generated/` for the shell's types (`make bindings`; docs/ipc.md).
#[cfg(all(test, feature = "ts"))]
mod ts_bindings {
    use super::*;
    use ts_rs::TS;

    #[test]
    fn ts_bindings() {
        let roots: Vec<trainctl_core::ts_bindings::Exporter> = vec![
            AppInfo::export_all,
            ConnectionInfo::export_all,
            ProfileSummary::export_all,
            ProfileForm::export_all,
            TestReport::export_all,
            BucketSummary::export_all,
            ListPage::export_all,
            DeleteItem::export_all,
            DeletePlan::export_all,
            DeleteFailure::export_all,
            DeleteReport::export_all,
            TransferState::export_all,
            TransferFailure::export_all,
            TransferRecord::export_all,
            NotificationLevel::export_all,
            AppNotification::export_all,
            ConnectionLost::export_all,
            ConnectionRestored::export_all,
            CloseRequest::export_all,
        ];
        if let Err(stale) = trainctl_core::ts_bindings::write_or_check(&roots) {
            panic!("{stale}");
        }
    }
}
