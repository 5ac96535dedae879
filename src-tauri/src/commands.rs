//! The `#[tauri::command]`s of docs/ipc.md: each one call into the core application layer
//! (`trainctl_core::app`), its error turned into `ErrorInfo` for the page. Nothing here decides
//! anything; the page names local paths only by the grant tokens [`pick_folder`] and a drop
//! (main.rs) hand out, and plans only by id.

use crate::Shell;
use std::collections::BTreeMap;
use tauri::State;
use trainctl_core::app::browse::{BucketSummary, DeletePlan, DeleteReport, ListPage, RenamePlan};
use trainctl_core::app::checkpoints::{CheckpointListing, CleanupPlan, CleanupReport, DetectForm, HeldLifecyclePlan, LifecycleView, PolicyForm};
use trainctl_core::app::connection::{AppInfo, ConnectionInfo};
use trainctl_core::app::datasets::{DatasetDetails, DatasetRow, DatasetTarget};
use trainctl_core::app::insights::FolderInsights;
use trainctl_core::app::objects::RestorePlan;
use trainctl_core::app::profiles::{ProfileForm, ProfileSummary, TestReport};
use trainctl_core::app::review::ReviewOutcome;
use trainctl_core::app::{AppNotification, LocalGrant, SyncPairInfo, TransferRecord, WatchInfo};
use trainctl_core::sync::ConflictPolicy;
use trainctl_core::dataset::{Diff, Level, StageReport, VerifyReport};
use trainctl_core::error::ErrorInfo;
use trainctl_core::event::JobId;
use trainctl_core::lifecycle::{ApplyReport, LifecycleRequest, LifecycleSavings};
use trainctl_core::review::dedup_plan::S3DedupPlan;
use trainctl_core::review::snapshots::Snapshot;
use trainctl_core::runs::overview::{RunMetrics, RunOverview};
use trainctl_core::s3::rename::RenameReport;
use trainctl_core::s3::share::ShareLink;
use trainctl_core::s3::tags::ObjectDetails;
use trainctl_core::s3::versions::ObjectVersion;

type Res<T> = Result<T, ErrorInfo>;

fn info(e: trainctl_core::Error) -> ErrorInfo {
    e.info()
}

// ---- app and connections ------------------------------------------------------------------------

#[tauri::command(rename_all = "snake_case")]
pub async fn app_info(s: State<'_, Shell>) -> Res<AppInfo> {
    s.wait_started().await;
    Ok(s.app.app_info())
}

#[tauri::command(rename_all = "snake_case")]
pub async fn demo_start(s: State<'_, Shell>) -> Res<ConnectionInfo> {
    s.app.start_demo().await.map_err(info)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn profiles_list(s: State<'_, Shell>) -> Res<Vec<ProfileSummary>> {
    s.app.profiles_list().await.map_err(info)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn profile_save(s: State<'_, Shell>, form: ProfileForm) -> Res<ProfileSummary> {
    s.app.profile_save(form).await.map_err(info)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn profile_test(s: State<'_, Shell>, name: String) -> Res<TestReport> {
    Ok(s.app.profile_test(&name).await)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn profile_test_form(s: State<'_, Shell>, form: ProfileForm) -> Res<TestReport> {
    Ok(s.app.profile_test_form(&form).await)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn profile_remove(s: State<'_, Shell>, name: String) -> Res<()> {
    s.app.profile_remove(name).await.map_err(info)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn connect(s: State<'_, Shell>, name: String) -> Res<ConnectionInfo> {
    s.app.connect(&name).await.map_err(info)
}

// ---- browsing and transfers ---------------------------------------------------------------------

#[tauri::command(rename_all = "snake_case")]
pub async fn buckets_list(s: State<'_, Shell>) -> Res<Vec<BucketSummary>> {
    s.app.buckets_list().await.map_err(info)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn objects_list(s: State<'_, Shell>, bucket: String, prefix: String, token: Option<String>) -> Res<ListPage> {
    s.app.objects_list(&bucket, &prefix, token).await.map_err(info)
}

/// Checkpoints, runs and folder sizes of a folder (capped unless `full`).
#[tauri::command(rename_all = "snake_case")]
pub async fn folder_insights(s: State<'_, Shell>, bucket: String, prefix: String, full: bool) -> Res<FolderInsights> {
    s.app.folder_insights(&bucket, &prefix, full).await.map_err(info)
}

/// The native folder dialog; the folder comes back as a grant the page can name.
#[tauri::command(rename_all = "snake_case")]
pub async fn pick_folder(app: tauri::AppHandle, s: State<'_, Shell>, title: String) -> Res<Option<LocalGrant>> {
    let Some(path) = crate::dialog::pick_folder(&app, &title).await else { return Ok(None) };
    s.app.grants.grant(&path).map(Some).map_err(info)
}

/// Uploads what was dropped (the grants of a `drop://dropped` event) under `prefix`.
#[tauri::command(rename_all = "snake_case")]
pub async fn upload_dropped(s: State<'_, Shell>, tokens: Vec<String>, bucket: String, prefix: String) -> Res<TransferRecord> {
    s.app.upload_dropped(&tokens, &bucket, &prefix).map_err(info)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn download_keys(s: State<'_, Shell>, bucket: String, keys: Vec<String>, dest: String) -> Res<TransferRecord> {
    s.app.download_keys(&bucket, &keys, &dest).map_err(info)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn transfer_cancel(s: State<'_, Shell>, job: JobId) -> Res<()> {
    s.app.transfer_cancel(job).map_err(info)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn transfer_retry(s: State<'_, Shell>, job: JobId) -> Res<TransferRecord> {
    s.app.transfer_retry(job).map_err(info)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn transfers_list(s: State<'_, Shell>) -> Res<Vec<TransferRecord>> {
    Ok(s.app.transfers.list())
}

#[tauri::command(rename_all = "snake_case")]
pub async fn notifications_list(s: State<'_, Shell>) -> Res<Vec<AppNotification>> {
    Ok(s.app.notifications.list())
}

#[tauri::command(rename_all = "snake_case")]
pub async fn delete_plan(s: State<'_, Shell>, bucket: String, keys: Vec<String>) -> Res<DeletePlan> {
    s.app.delete_plan(&bucket, &keys).await.map_err(info)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn delete_apply(s: State<'_, Shell>, plan_id: u64) -> Res<DeleteReport> {
    s.app.delete_apply(plan_id).await.map_err(info)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn rename_plan(s: State<'_, Shell>, bucket: String, from: String, to: String) -> Res<RenamePlan> {
    s.app.rename_plan(&bucket, &from, &to).await.map_err(info)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn rename_apply(s: State<'_, Shell>, plan_id: u64) -> Res<RenameReport> {
    s.app.rename_apply(plan_id).await.map_err(info)
}

// ---- the object panel ----------------------------------------------------------------------------

#[tauri::command(rename_all = "snake_case")]
pub async fn object_details(s: State<'_, Shell>, bucket: String, key: String) -> Res<ObjectDetails> {
    s.app.object_details(&bucket, &key).await.map_err(info)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn object_tags_set(s: State<'_, Shell>, bucket: String, key: String, etag: Option<String>, tags: BTreeMap<String, String>) -> Res<ObjectDetails> {
    s.app.object_tags_set(&bucket, &key, etag.as_deref(), &tags).await.map_err(info)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn object_metadata_set(s: State<'_, Shell>, bucket: String, key: String, etag: String, metadata: BTreeMap<String, String>) -> Res<ObjectDetails> {
    s.app.object_metadata_set(&bucket, &key, &etag, &metadata).await.map_err(info)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn share_link(s: State<'_, Shell>, bucket: String, key: String, expires_secs: u64) -> Res<ShareLink> {
    s.app.share_link(&bucket, &key, expires_secs).await.map_err(info)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn object_versions(s: State<'_, Shell>, bucket: String, key: String) -> Res<Vec<ObjectVersion>> {
    s.app.object_versions(&bucket, &key).await.map_err(info)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn version_restore_plan(s: State<'_, Shell>, bucket: String, key: String, version_id: String) -> Res<RestorePlan> {
    s.app.version_restore_plan(&bucket, &key, &version_id).await.map_err(info)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn version_restore_apply(s: State<'_, Shell>, plan_id: u64) -> Res<Option<String>> {
    s.app.version_restore_apply(plan_id).await.map_err(info)
}

// ---- review -------------------------------------------------------------------------------------

#[tauri::command(rename_all = "snake_case")]
pub async fn review_run(s: State<'_, Shell>, bucket: String, prefix: String, budget_usd: Option<f64>) -> Res<ReviewOutcome> {
    s.app.review_run(&bucket, &prefix, budget_usd).await.map_err(info)
}

/// The "deduplicate" savings action: which copies go, shown in a confirm dialog.
#[tauri::command(rename_all = "snake_case")]
pub async fn dedup_plan(s: State<'_, Shell>, bucket: String, prefix: String) -> Res<S3DedupPlan> {
    s.app.dedup_plan(&bucket, &prefix).await.map_err(info)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn dedup_apply(s: State<'_, Shell>, plan_id: u64) -> Res<DeleteReport> {
    s.app.dedup_apply(plan_id).await.map_err(info)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn review_cancel(s: State<'_, Shell>) -> Res<()> {
    s.app.review_cancel();
    Ok(())
}

#[tauri::command(rename_all = "snake_case")]
pub async fn review_snapshots(s: State<'_, Shell>, location: String) -> Res<Vec<Snapshot>> {
    s.app.review_snapshots(location).await.map_err(info)
}

// ---- sync pairs ---------------------------------------------------------------------------------

#[tauri::command(rename_all = "snake_case")]
pub async fn sync_pairs_list(s: State<'_, Shell>) -> Res<Vec<SyncPairInfo>> {
    Ok(s.app.sync_pairs_list())
}

#[tauri::command(rename_all = "snake_case")]
pub async fn sync_pair_add(s: State<'_, Shell>, local: String, remote: String) -> Res<SyncPairInfo> {
    s.app.sync_pair_add(&local, &remote).map_err(info)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn sync_pair_remove(s: State<'_, Shell>, id: u64) -> Res<()> {
    s.app.sync_pair_remove(id).map_err(info)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn sync_run(s: State<'_, Shell>, id: u64) -> Res<SyncPairInfo> {
    s.app.sync_run(id).map_err(info)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn sync_confirm(s: State<'_, Shell>, plan_id: u64) -> Res<SyncPairInfo> {
    s.app.sync_confirm(plan_id).map_err(info)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn sync_resolve(s: State<'_, Shell>, id: u64, path: String, choice: ConflictPolicy) -> Res<SyncPairInfo> {
    s.app.sync_resolve(id, &path, choice).map_err(info)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn sync_set_continuous(s: State<'_, Shell>, id: u64, on: bool) -> Res<SyncPairInfo> {
    s.app.sync_set_continuous(id, on).map_err(info)
}

// ---- watches ------------------------------------------------------------------------------------

#[tauri::command(rename_all = "snake_case")]
pub async fn watches_list(s: State<'_, Shell>) -> Res<Vec<WatchInfo>> {
    Ok(s.app.watches.list())
}

#[tauri::command(rename_all = "snake_case")]
pub async fn watch_add(s: State<'_, Shell>, url: String, interval_secs: Option<f64>, stall_after: Option<f64>) -> Res<WatchInfo> {
    s.app.watch_add(&url, interval_secs, stall_after).map_err(info)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn watch_pause(s: State<'_, Shell>, id: u64) -> Res<WatchInfo> {
    s.app.watch_pause(id).map_err(info)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn watch_resume(s: State<'_, Shell>, id: u64) -> Res<WatchInfo> {
    s.app.watch_resume(id).map_err(info)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn watch_remove(s: State<'_, Shell>, id: u64) -> Res<()> {
    s.app.watch_remove(id).map_err(info)
}

// ---- checkpoints and lifecycle --------------------------------------------------------------------

#[tauri::command(rename_all = "snake_case")]
pub async fn checkpoints_discover(s: State<'_, Shell>, location: String, detect: Option<DetectForm>) -> Res<CheckpointListing> {
    s.app.checkpoints_discover(&location, detect).await.map_err(info)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn checkpoints_plan(s: State<'_, Shell>, location: String, run: Option<String>, policy: PolicyForm, detect: Option<DetectForm>) -> Res<CleanupPlan> {
    s.app.checkpoints_plan(&location, run, policy, detect).await.map_err(info)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn checkpoints_apply(s: State<'_, Shell>, plan_id: u64) -> Res<CleanupReport> {
    s.app.checkpoints_apply(plan_id).await.map_err(info)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn checkpoints_pin(s: State<'_, Shell>, location: String, ids: Vec<String>, pin: bool) -> Res<Vec<String>> {
    s.app.checkpoints_pin(&location, &ids, pin).await.map_err(info)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn lifecycle_show(s: State<'_, Shell>, location: String) -> Res<LifecycleView> {
    s.app.lifecycle_show(&location).await.map_err(info)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn lifecycle_plan(s: State<'_, Shell>, location: String, request: LifecycleRequest) -> Res<HeldLifecyclePlan> {
    s.app.lifecycle_plan(&location, request).await.map_err(info)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn lifecycle_savings(s: State<'_, Shell>, plan_id: u64, after_days: Option<u32>) -> Res<LifecycleSavings> {
    s.app.lifecycle_savings(plan_id, after_days.unwrap_or(0)).await.map_err(info)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn lifecycle_apply(s: State<'_, Shell>, plan_id: u64) -> Res<ApplyReport> {
    s.app.lifecycle_apply(plan_id).await.map_err(info)
}

// ---- runs ---------------------------------------------------------------------------------------

#[tauri::command(rename_all = "snake_case")]
pub async fn runs_list(s: State<'_, Shell>, location: String) -> Res<Vec<RunOverview>> {
    s.app.runs_list(&location).await.map_err(info)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn run_metrics(s: State<'_, Shell>, location: String, run: String, source: Option<String>) -> Res<RunMetrics> {
    s.app.run_metrics(&location, &run, source.as_deref()).await.map_err(info)
}

// ---- datasets ------------------------------------------------------------------------------------

#[tauri::command(rename_all = "snake_case")]
pub async fn datasets_list(s: State<'_, Shell>, store: Option<String>) -> Res<Vec<DatasetRow>> {
    s.app.datasets_list(store.as_deref()).await.map_err(info)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn dataset_show(s: State<'_, Shell>, store: String, reference: String) -> Res<DatasetDetails> {
    s.app.dataset_show(&store, &reference).await.map_err(info)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn dataset_diff(s: State<'_, Shell>, store: String, from: String, to: String) -> Res<Diff> {
    s.app.dataset_diff(&store, &from, &to).await.map_err(info)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn dataset_verify(s: State<'_, Shell>, store: String, reference: String, target: DatasetTarget, level: Level) -> Res<VerifyReport> {
    s.app.dataset_verify(&store, &reference, target, level).await.map_err(info)
}

/// Stages into `NAME-VERSION/` inside a folder the user picked (its grant token).
#[tauri::command(rename_all = "snake_case")]
pub async fn dataset_stage(s: State<'_, Shell>, store: String, reference: String, folder_grant: String, verify: Level) -> Res<StageReport> {
    s.app.dataset_stage(&store, &reference, &folder_grant, verify).await.map_err(info)
}
