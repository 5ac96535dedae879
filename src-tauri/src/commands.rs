//! The `#[tauri::command]`s of docs/ipc.md: thin adapters over trainctl-core. Each one returns
//! `Result<T, ErrorInfo>` so the UI can branch on `code`; connection-class failures also raise
//! the connection banner through [`note_connection`].

use crate::connection::{self, static_connection};
use crate::events::{dispatch, ShellEvent};
use crate::state::{AppState, Live, Request};
use crate::types::*;
use futures::TryStreamExt;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Instant;
use tauri::{AppHandle, Manager, State};
use trainctl_core::config::file::ConfigFile;
use trainctl_core::config::profile::{self as cfg_profile, ProfileOrigin};
use trainctl_core::config::{keychain, CredentialSource, Profile};
use trainctl_core::error::{Error, ErrorInfo};
use trainctl_core::event::JobId;
use trainctl_core::s3::errors::SdkResultExt;
use trainctl_core::s3::list::{self, ObjectEntry};
use trainctl_core::transfer::plan::{apply_deletions, Deletion, SyncPlan};
use trainctl_core::transfer::TransferJob;

type Res<T> = Result<T, ErrorInfo>;

/// Errors become `ErrorInfo` for the UI; connection-class ones also raise the banner.
pub fn fail(app: &AppHandle, e: Error) -> ErrorInfo {
    note_connection(app, &e);
    e.info()
}

/// Raises (`connection://lost`) or clears (`connection://restored`) the banner after a call.
pub fn note_connection(app: &AppHandle, e: &Error) {
    let state = app.state::<AppState>();
    if matches!(e.code(), "unreachable" | "dns" | "tls") {
        let profile = state.live.lock().unwrap().as_ref().map(|l| l.info.profile.clone()).unwrap_or_default();
        if !state.connection_lost.swap(true, Ordering::SeqCst) {
            dispatch(app, ShellEvent::ConnectionLost(ConnectionLost { profile, error: e.info() }));
        }
    }
}

/// Passes a result through, turning errors into `ErrorInfo` and tracking the banner state.
fn watched<T>(app: &AppHandle, r: trainctl_core::Result<T>) -> Res<T> {
    match r {
        Ok(v) => {
            let state = app.state::<AppState>();
            if state.connection_lost.swap(false, Ordering::SeqCst) {
                let profile = state.live.lock().unwrap().as_ref().map(|l| l.info.profile.clone()).unwrap_or_default();
                dispatch(app, ShellEvent::ConnectionRestored(ConnectionRestored { profile }));
            }
            Ok(v)
        }
        Err(e) => {
            note_connection(app, &e);
            Err(e.info())
        }
    }
}

fn info(e: Error) -> ErrorInfo {
    e.info()
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> trainctl_core::Result<T> + Send + 'static) -> trainctl_core::Result<T> {
    tauri::async_runtime::spawn_blocking(f).await.map_err(|e| Error::Internal(format!("blocking task: {e}")))?
}

// ---- app ----------------------------------------------------------------------------------------

#[tauri::command(rename_all = "snake_case")]
pub async fn app_info(state: State<'_, AppState>) -> Res<AppInfo> {
    state.wait_started().await;
    let live = state.live.lock().unwrap().as_ref().map(|l| l.info.clone());
    Ok(AppInfo {
        version: env!("CARGO_PKG_VERSION").into(),
        demo: state.started_with_demo.load(Ordering::SeqCst) || live.as_ref().is_some_and(|c| c.demo),
        first_run: connection::is_first_run(),
        connection: live,
    })
}

#[tauri::command(rename_all = "snake_case")]
pub async fn demo_start(app: AppHandle) -> Res<ConnectionInfo> {
    crate::demo::start(&app).await.map_err(info)
}

// ---- profiles -----------------------------------------------------------------------------------

#[tauri::command(rename_all = "snake_case")]
pub async fn profiles_list() -> Res<Vec<ProfileSummary>> {
    blocking(|| {
        let cfg = ConfigFile::load()?;
        let rows = cfg_profile::list_profiles()?;
        Ok(rows.into_iter().map(|p| summary_of(p, &cfg)).collect())
    })
    .await
    .map_err(info)
}

fn summary_of(p: cfg_profile::ProfileSummary, cfg: &ConfigFile) -> ProfileSummary {
    let credentials = match p.origin {
        ProfileOrigin::Trainctl => cfg.profiles.get(&p.name).map(|c| c.credentials.clone()).unwrap_or_default(),
        ProfileOrigin::Aws => CredentialSource::AwsProfile { name: p.name.clone() },
    };
    let secret_stored = matches!(credentials, CredentialSource::Keychain { .. }) && keychain::get_secret(&p.name).ok().flatten().is_some();
    ProfileSummary { name: p.name, origin: p.origin, provider: p.provider, endpoint_url: p.endpoint_url, region: p.region, credentials, secret_stored }
}

/// The trainctl profile a form describes (its secret is not part of it).
fn profile_of(form: &ProfileForm) -> Profile {
    let opt = |s: &Option<String>| s.as_ref().map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    Profile {
        name: form.name.trim().to_string(),
        provider: opt(&form.provider),
        endpoint_url: opt(&form.endpoint_url),
        region: opt(&form.region),
        path_style: None,
        checksum_when_required: None,
        credentials: CredentialSource::Keychain { access_key_id: form.access_key_id.trim().to_string() },
        prices: None,
    }
}

#[tauri::command(rename_all = "snake_case")]
pub async fn profile_save(form: ProfileForm) -> Res<ProfileSummary> {
    let profile = profile_of(&form);
    let name = profile.name.clone();
    blocking(move || {
        cfg_profile::save_profile(profile, Some(&form.secret_access_key))?;
        let cfg = ConfigFile::load()?;
        let row = cfg_profile::list_profiles()?.into_iter().find(|p| p.name == name && p.origin == ProfileOrigin::Trainctl);
        row.map(|p| summary_of(p, &cfg)).ok_or_else(|| Error::Internal("the saved profile is not listed".into()))
    })
    .await
    .map_err(info)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn profile_test(name: String) -> Res<TestReport> {
    let resolved = match connection::resolve_named(&name).await {
        Ok(r) => r,
        Err(e) => return Ok(failed_report(e, None)),
    };
    let report = trainctl_core::s3::client::test_connection(&resolved, None).await;
    Ok(TestReport {
        ok: report.ok,
        bucket_count: report.buckets.map(|n| n as u64),
        latency_ms: Some(report.elapsed_ms),
        diagnosis: report.error.map(|e| ErrorInfo { message: format!("{} ({})", report.diagnosis, e.message), ..e }),
    })
}

#[tauri::command(rename_all = "snake_case")]
pub async fn profile_test_form(form: ProfileForm) -> Res<TestReport> {
    let profile = profile_of(&form);
    if let Err(e) = cfg_profile::validate(&profile) {
        return Ok(failed_report(e, None));
    }
    let resolved = connection::resolve_unsaved(profile).map_err(info)?;
    let conn = static_connection(&resolved, form.access_key_id.trim(), &form.secret_access_key);
    let started = Instant::now();
    let r = list::list_buckets(&conn).await;
    let ms = started.elapsed().as_millis() as u64;
    Ok(match r {
        Ok(b) => TestReport { ok: true, bucket_count: Some(b.len() as u64), latency_ms: Some(ms), diagnosis: None },
        Err(e) => failed_report(e, Some(ms)),
    })
}

/// A failed test, explained in plain words (the core's diagnosis sentence leads the message).
fn failed_report(e: Error, latency_ms: Option<u64>) -> TestReport {
    let plain = trainctl_core::s3::client::diagnose(Some(&e), None);
    let mut d = e.info();
    d.message = format!("{plain} ({})", d.message);
    TestReport { ok: false, bucket_count: None, latency_ms, diagnosis: Some(d) }
}

#[tauri::command(rename_all = "snake_case")]
pub async fn profile_remove(name: String) -> Res<()> {
    blocking(move || cfg_profile::remove_profile(&name).map(|_| ())).await.map_err(info)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn connect(app: AppHandle, name: String) -> Res<ConnectionInfo> {
    let r = connection::connect_named(&app, &name).await;
    let info = watched(&app, r)?;
    Ok(info)
}

// ---- browsing -----------------------------------------------------------------------------------

/// Buckets with more objects than this show `null` counts (the Dashboard stays quick).
const COUNT_LIMIT: usize = 10_000;

#[tauri::command(rename_all = "snake_case")]
pub async fn buckets_list(app: AppHandle, state: State<'_, AppState>) -> Res<Vec<BucketSummary>> {
    let live = state.live().map_err(info)?;
    let buckets = watched(&app, list::list_buckets(&live.conn).await)?;
    let counts = futures::future::join_all(buckets.iter().map(|b| bounded_count(&live, &b.name))).await;
    Ok(buckets
        .into_iter()
        .zip(counts)
        .map(|(b, c)| BucketSummary { name: b.name, created: b.created, object_count: c.map(|c| c.0), bytes: c.map(|c| c.1) })
        .collect())
}

/// (objects, bytes) of a bucket, or `None` when it holds more than [`COUNT_LIMIT`] objects.
async fn bounded_count(live: &Live, bucket: &str) -> Option<(u64, u64)> {
    let mut stream = std::pin::pin!(list::list_objects(&live.conn, bucket, "", None));
    let (mut n, mut bytes) = (0u64, 0u64);
    while let Ok(Some(o)) = stream.try_next().await {
        n += 1;
        bytes += o.size;
        if n as usize > COUNT_LIMIT {
            return None;
        }
    }
    Some((n, bytes))
}

#[tauri::command(rename_all = "snake_case")]
pub async fn objects_list(app: AppHandle, state: State<'_, AppState>, bucket: String, prefix: String, token: Option<String>) -> Res<ListPage> {
    let live = state.live().map_err(info)?;
    let conn = &live.conn;
    let mut req = conn.client.list_objects_v2().bucket(&bucket).delimiter("/").set_continuation_token(token);
    if !prefix.is_empty() {
        req = req.prefix(&prefix);
    }
    let out = watched(&app, req.send().await.or_s3(&conn.ctx().bucket(&bucket)))?;
    let objects = out.contents().iter().filter(|o| o.key() != Some(prefix.as_str()) || prefix.is_empty()).map(object_entry).collect();
    let prefixes = out.common_prefixes().iter().filter_map(|p| p.prefix().map(str::to_string)).collect();
    let next_token = if out.is_truncated() == Some(true) { out.next_continuation_token().map(str::to_string) } else { None };
    Ok(ListPage { bucket, prefix, prefixes, objects, truncated: next_token.is_some(), next_token })
}

fn object_entry(o: &aws_sdk_s3::types::Object) -> ObjectEntry {
    ObjectEntry {
        key: o.key().unwrap_or_default().to_string(),
        size: o.size().unwrap_or(0).max(0) as u64,
        last_modified: o.last_modified().map(|d| d.secs()),
        etag: o.e_tag().map(|e| e.trim_matches('"').to_string()),
        storage_class: o.storage_class().map(|s| s.as_str().to_string()),
        is_prefix: false,
    }
}

// ---- transfers ----------------------------------------------------------------------------------

/// The call a file drop makes (the UI's drop handler and `window.__trainctlDrop`).
#[tauri::command(rename_all = "snake_case")]
pub async fn upload_paths(app: AppHandle, state: State<'_, AppState>, paths: Vec<String>, bucket: String, prefix: String) -> Res<TransferRecord> {
    if paths.is_empty() {
        return Err(Error::Usage("nothing to upload: no paths were dropped".into()).info());
    }
    let live = state.live().map_err(info)?;
    let paths = paths.into_iter().map(PathBuf::from).collect();
    Ok(crate::jobs::start(&app, live, Request::Upload { paths, bucket, prefix }))
}

#[tauri::command(rename_all = "snake_case")]
pub async fn download_keys(app: AppHandle, state: State<'_, AppState>, bucket: String, keys: Vec<String>, dest_dir: String) -> Res<TransferRecord> {
    if keys.is_empty() {
        return Err(Error::Usage("nothing selected to download".into()).info());
    }
    if dest_dir.trim().is_empty() {
        return Err(Error::Usage("choose a folder to download to".into()).info());
    }
    let live = state.live().map_err(info)?;
    Ok(crate::jobs::start(&app, live, Request::Download { bucket, keys, dest_dir: PathBuf::from(dest_dir) }))
}

#[tauri::command(rename_all = "snake_case")]
pub async fn transfer_cancel(state: State<'_, AppState>, job: JobId) -> Res<()> {
    match state.jobs.lock().unwrap().get(&job) {
        Some(j) => {
            j.cancel.cancel();
            Ok(())
        }
        None => Err(Error::NotFound(format!("transfer job {job}")).info()),
    }
}

#[tauri::command(rename_all = "snake_case")]
pub async fn transfer_retry(app: AppHandle, state: State<'_, AppState>, job: JobId) -> Res<TransferRecord> {
    let request = state.jobs.lock().unwrap().get(&job).map(|j| j.request.clone());
    let request = request.ok_or_else(|| Error::NotFound(format!("transfer job {job}")).info())?;
    let live = state.live().map_err(info)?;
    Ok(crate::jobs::start(&app, live, request))
}

#[tauri::command(rename_all = "snake_case")]
pub async fn transfers_list(state: State<'_, AppState>) -> Res<Vec<TransferRecord>> {
    Ok(state.records())
}

#[tauri::command(rename_all = "snake_case")]
pub async fn notifications_list(state: State<'_, AppState>) -> Res<Vec<AppNotification>> {
    Ok(state.notifications.lock().unwrap().iter().rev().cloned().collect())
}

// ---- deletes ------------------------------------------------------------------------------------

#[tauri::command(rename_all = "snake_case")]
pub async fn delete_plan(app: AppHandle, state: State<'_, AppState>, bucket: String, keys: Vec<String>) -> Res<DeletePlan> {
    let live = state.live().map_err(info)?;
    let mut items = Vec::new();
    for key in keys {
        if key.ends_with('/') {
            let under = watched(&app, list::collect_objects(&live.conn, &bucket, &key, None).await)?;
            items.extend(under.into_iter().map(|o| DeleteItem { key: o.key, size: o.size }));
        } else {
            let o = watched(&app, list::head_object(&live.conn, &bucket, &key).await)?;
            items.push(DeleteItem { key: o.key, size: o.size });
        }
    }
    items.sort_by(|a, b| a.key.cmp(&b.key));
    items.dedup_by(|a, b| a.key == b.key);
    let bytes = items.iter().map(|i| i.size).sum();
    Ok(DeletePlan { bucket, items, bytes })
}

#[tauri::command(rename_all = "snake_case")]
pub async fn delete_apply(app: AppHandle, state: State<'_, AppState>, plan: DeletePlan) -> Res<DeleteReport> {
    let live = state.live().map_err(info)?;
    let deletions = plan.items.iter().map(|i| Deletion::Object { bucket: plan.bucket.clone(), key: i.key.clone() }).collect();
    let sync = SyncPlan { job: TransferJob::new(trainctl_core::event::Direction::Upload, &plan.bucket, ""), deletions };
    let out = watched(&app, apply_deletions(&sync, &live.conn).await)?;
    let failed_keys: std::collections::HashSet<&str> = out.failed.iter().map(|(k, _)| k.as_str()).collect();
    let bytes = plan.items.iter().filter(|i| !failed_keys.contains(i.key.as_str())).map(|i| i.size).sum();
    let failed = out.failed.into_iter().map(|(key, error)| DeleteFailure { key, error }).collect();
    Ok(DeleteReport { deleted: out.deleted, bytes, failed })
}

