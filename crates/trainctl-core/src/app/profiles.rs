//! The Connections view's calls: saved profiles (no secrets shown, only whether one is stored),
//! the add-connection form (its secret goes to the OS keychain and nowhere else), and the
//! connection test explained in plain words.

use super::connection::{blocking, resolve_named};
use super::App;
use crate::config::file::ConfigFile;
use crate::config::profile::{self as cfg_profile, resolve_with, ProfileOrigin};
use crate::config::{aws_files::AwsProfiles, keychain, CredentialSource, Overrides, Profile, ResolvedProfile};
use crate::error::{Error, ErrorInfo, Result};
use crate::s3::check::{diagnose, test_connection};
use crate::s3::Connection;
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// One row of the Connections view.
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
#[derive(Clone, Deserialize)]
pub struct ProfileForm {
    pub name: String,
    pub provider: Option<String>,
    pub endpoint_url: Option<String>,
    pub region: Option<String>,
    pub access_key_id: String,
    pub secret_access_key: String,
}

/// Never prints the secret (logs, panics, `{:?}` in a bug report).
impl std::fmt::Debug for ProfileForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProfileForm")
            .field("name", &self.name)
            .field("provider", &self.provider)
            .field("endpoint_url", &self.endpoint_url)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .finish()
    }
}

impl ProfileForm {
    /// The trainctl profile the form describes (its secret is not part of it).
    fn profile(&self) -> Profile {
        let opt = |s: &Option<String>| s.as_ref().map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        Profile {
            name: self.name.trim().to_string(),
            provider: opt(&self.provider),
            endpoint_url: opt(&self.endpoint_url),
            region: opt(&self.region),
            path_style: None,
            checksum_when_required: None,
            credentials: CredentialSource::Keychain { access_key_id: self.access_key_id.trim().to_string() },
            prices: None,
        }
    }
}

/// The result of a connection test, explained for the form when it fails.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
pub struct TestReport {
    pub ok: bool,
    /// Buckets visible with these credentials, when listing them worked.
    pub bucket_count: Option<u64>,
    pub latency_ms: Option<u64>,
    /// Why it failed, in plain words first (`null` when `ok`).
    pub diagnosis: Option<ErrorInfo>,
}

impl TestReport {
    fn failed(e: Error, latency_ms: Option<u64>) -> TestReport {
        let mut d = e.info();
        d.message = format!("{} ({})", diagnose(Some(&e), None), d.message);
        TestReport { ok: false, bucket_count: None, latency_ms, diagnosis: Some(d) }
    }
}

fn summary_of(p: cfg_profile::ProfileSummary, cfg: &ConfigFile) -> ProfileSummary {
    let credentials = match p.origin {
        ProfileOrigin::Trainctl => cfg.profiles.get(&p.name).map(|c| c.credentials.clone()).unwrap_or_default(),
        ProfileOrigin::Aws => CredentialSource::AwsProfile { name: p.name.clone() },
    };
    let secret_stored = matches!(credentials, CredentialSource::Keychain { .. }) && keychain::get_secret(&p.name).ok().flatten().is_some();
    ProfileSummary { name: p.name, origin: p.origin, provider: p.provider, endpoint_url: p.endpoint_url, region: p.region, credentials, secret_stored }
}

/// A profile that is only in the form (nothing read from or written to disk).
fn resolve_unsaved(profile: Profile) -> Result<ResolvedProfile> {
    let mut cfg = ConfigFile::default();
    let ov = Overrides { profile: Some(profile.name.clone()), ..Default::default() };
    cfg.upsert(profile);
    resolve_with(&ov, &cfg, &AwsProfiles::default(), &|_| None)
}

impl App {
    pub async fn profiles_list(&self) -> Result<Vec<ProfileSummary>> {
        blocking(|| {
            let cfg = ConfigFile::load()?;
            Ok(cfg_profile::list_profiles()?.into_iter().map(|p| summary_of(p, &cfg)).collect())
        })
        .await
    }

    pub async fn profile_save(&self, form: ProfileForm) -> Result<ProfileSummary> {
        let profile = form.profile();
        let name = profile.name.clone();
        blocking(move || {
            cfg_profile::save_profile(profile, Some(&form.secret_access_key))?;
            let cfg = ConfigFile::load()?;
            let row = cfg_profile::list_profiles()?.into_iter().find(|p| p.name == name && p.origin == ProfileOrigin::Trainctl);
            row.map(|p| summary_of(p, &cfg)).ok_or_else(|| Error::Internal("the saved profile is not listed".into()))
        })
        .await
    }

    /// Tests a saved profile (one ListBuckets).
    pub async fn profile_test(&self, name: &str) -> TestReport {
        let resolved = match resolve_named(name).await {
            Ok(r) => r,
            Err(e) => return TestReport::failed(e, None),
        };
        let r = test_connection(&resolved, None).await;
        TestReport {
            ok: r.ok,
            bucket_count: r.buckets.map(|n| n as u64),
            latency_ms: Some(r.elapsed_ms),
            diagnosis: r.error.map(|e| ErrorInfo { message: format!("{} ({})", r.diagnosis, e.message), ..e }),
        }
    }

    /// Tests the form as typed, before anything is saved.
    pub async fn profile_test_form(&self, form: &ProfileForm) -> TestReport {
        let profile = form.profile();
        let resolved = match cfg_profile::validate(&profile).and_then(|_| resolve_unsaved(profile)) {
            Ok(r) => r,
            Err(e) => return TestReport::failed(e, None),
        };
        let conn = Connection::with_keys(&resolved, form.access_key_id.trim(), &form.secret_access_key);
        let started = Instant::now();
        let r = crate::s3::list::list_buckets(&conn).await;
        let ms = started.elapsed().as_millis() as u64;
        match r {
            Ok(b) => TestReport { ok: true, bucket_count: Some(b.len() as u64), latency_ms: Some(ms), diagnosis: None },
            Err(e) => TestReport::failed(e, Some(ms)),
        }
    }

    pub async fn profile_remove(&self, name: String) -> Result<()> {
        blocking(move || cfg_profile::remove_profile(&name).map(|_| ())).await
    }
}
