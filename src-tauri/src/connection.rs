//! Turning profile names and forms into live connections, and deciding the first screen.

use crate::state::{AppState, Live};
use crate::types::ConnectionInfo;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation};
use tauri::{AppHandle, Manager};
use trainctl_core::config::aws_files::AwsProfiles;
use trainctl_core::config::file::ConfigFile;
use trainctl_core::config::profile::{resolve, resolve_with, PROFILE_ENV};
use trainctl_core::config::{Overrides, Profile, ResolvedProfile};
use trainctl_core::error::{Error, Result};
use trainctl_core::s3::client::CONNECT_TIMEOUT;
use trainctl_core::s3::Connection;

/// No trainctl profile, no AWS profile, no AWS credentials in the environment: the UI shows the
/// first-run screen with "Try the demo".
pub fn is_first_run() -> bool {
    let no_trainctl = ConfigFile::load().map(|c| c.profiles.is_empty()).unwrap_or(false);
    let no_aws = AwsProfiles::load().names().is_empty();
    let env = |k: &str| std::env::var(k).ok().is_some_and(|v| !v.is_empty());
    no_trainctl && no_aws && !env("AWS_ACCESS_KEY_ID") && !env("AWS_PROFILE")
}

/// Resolves a saved profile by name (config file and keychain reads block: off the workers).
pub async fn resolve_named(name: &str) -> Result<ResolvedProfile> {
    let ov = Overrides { profile: Some(name.to_string()), ..Default::default() };
    tauri::async_runtime::spawn_blocking(move || resolve(&ov)).await.map_err(|e| Error::Internal(e.to_string()))?
}

/// Resolves a profile that is only in the form (nothing read from or written to disk).
pub fn resolve_unsaved(profile: Profile) -> Result<ResolvedProfile> {
    let mut cfg = ConfigFile::default();
    let ov = Overrides { profile: Some(profile.name.clone()), ..Default::default() };
    cfg.upsert(profile);
    resolve_with(&ov, &cfg, &AwsProfiles::default(), &|_| None)
}

/// A connection with fixed credentials: the unsaved form's Test button, and the demo.
pub fn static_connection(profile: &ResolvedProfile, access_key: &str, secret: &str) -> Connection {
    let creds = Credentials::new(access_key, secret, None, None, "trainctl-desktop");
    let timeouts = aws_sdk_s3::config::timeout::TimeoutConfig::builder().connect_timeout(CONNECT_TIMEOUT).build();
    let mut b = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(profile.region.clone()))
        .credentials_provider(creds.clone())
        .timeout_config(timeouts)
        .force_path_style(profile.path_style);
    if let Some(url) = &profile.endpoint_url {
        b = b.endpoint_url(url);
    }
    if profile.checksum_when_required {
        b = b
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
    }
    Connection { client: aws_sdk_s3::Client::from_conf(b.build()), profile: profile.clone(), credentials: Some(SharedCredentialsProvider::new(creds)) }
}

/// How the UI names a connection.
pub fn connection_info(p: &ResolvedProfile, demo: bool) -> ConnectionInfo {
    ConnectionInfo { profile: p.name.clone(), endpoint_url: p.endpoint_url.clone(), region: p.region.clone(), provider: Some(p.provider.clone()), demo }
}

/// Makes `name` the live connection (`demo` means the embedded demo, when it runs).
pub async fn connect_named(app: &AppHandle, name: &str) -> Result<ConnectionInfo> {
    if name == "demo" && app.state::<AppState>().demo.lock().await.is_some() {
        return crate::demo::start(app).await;
    }
    let resolved = resolve_named(name).await?;
    let conn = Connection::open(&resolved).await?;
    trainctl_core::s3::list::list_buckets(&conn).await?;
    let info = connection_info(&resolved, false);
    app.state::<AppState>().set_live(Live { conn, info: info.clone() });
    Ok(info)
}

/// At start-up: connect to `TRAINCTL_PROFILE`, else the first trainctl profile, else the AWS
/// environment when it has credentials. Nothing is contacted yet; errors leave no connection.
pub async fn connect_at_start(app: &AppHandle) {
    if is_first_run() {
        return;
    }
    let name = std::env::var(PROFILE_ENV).ok().filter(|v| !v.is_empty()).or_else(|| ConfigFile::load().ok().and_then(|c| c.profiles.keys().next().cloned()));
    let resolved = match name {
        Some(n) => resolve_named(&n).await,
        None => tauri::async_runtime::spawn_blocking(|| resolve(&Overrides::default())).await.map_err(|e| Error::Internal(e.to_string())).and_then(|r| r),
    };
    let Ok(resolved) = resolved else { return };
    if let Ok(conn) = Connection::open(&resolved).await {
        let info = connection_info(&resolved, false);
        app.state::<AppState>().set_live(Live { conn, info });
    }
}
