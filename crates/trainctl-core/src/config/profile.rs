//! How a profile name plus command-line overrides resolve into the settings a connection is built
//! from, and how profiles are listed, saved and removed. What a profile holds is [`super::model`].

use super::aws_files::AwsProfiles;
use super::file::ConfigFile;
pub use super::model::{validate, CredentialSource, Profile};
use super::quirks;
use crate::error::{Error, Result};
use serde::Serialize;

/// Command-line (or UI) overrides applied on top of a profile: `--endpoint-url`, `--region`.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub profile: Option<String>,
    pub endpoint_url: Option<String>,
    pub region: Option<String>,
}

/// A profile with every setting decided: what [`crate::s3::Connection::open`] consumes.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResolvedProfile {
    /// Name shown to the user (`default` for the plain AWS chain).
    pub name: String,
    /// Provider id (row of data/quirks/providers.toml) the settings were derived from.
    pub provider: String,
    pub endpoint_url: Option<String>,
    pub region: String,
    pub path_style: bool,
    pub checksum_when_required: bool,
    pub credentials: CredentialSource,
    /// The price table storage reached through this profile is priced with: a built-in table id
    /// (`aws/us-east-1`) or a file. From `$TRAINCTL_PRICES`, else the profile's `prices` key;
    /// `None` = the built-in table of `provider` and `region` (see `cost::table_for_profile`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prices: Option<String>,
}

/// Env var naming the trainctl profile when `--profile` is not given.
pub const PROFILE_ENV: &str = "TRAINCTL_PROFILE";

/// Env var naming the price table for every profile: a built-in id or a file (docs/cost.md).
pub const PRICES_ENV: &str = "TRAINCTL_PRICES";

/// Resolves the settings a connection needs from the command line, the trainctl config file,
/// the AWS config files and the AWS environment, in that order of precedence:
/// flags > trainctl profile (`--profile` / `TRAINCTL_PROFILE`) > AWS profile of that name >
/// AWS env (`AWS_PROFILE`, `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_DEFAULT_REGION`).
pub fn resolve(overrides: &Overrides) -> Result<ResolvedProfile> {
    let cfg = ConfigFile::load()?;
    let aws = AwsProfiles::load();
    resolve_with(overrides, &cfg, &aws, &|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
}

/// [`resolve`] over explicit inputs, so precedence is testable without touching the process env.
pub fn resolve_with(overrides: &Overrides, cfg: &ConfigFile, aws: &AwsProfiles, env: &dyn Fn(&str) -> Option<String>) -> Result<ResolvedProfile> {
    let base = base_profile(overrides.profile.clone().or_else(|| env(PROFILE_ENV)), cfg, aws, env)?;
    let aws_name = match &base.credentials {
        CredentialSource::AwsProfile { name } => Some(name.as_str()),
        _ => None,
    };
    let aws_endpoint = aws_name.and_then(|n| aws.endpoint_url(n));
    let aws_region = aws_name.and_then(|n| aws.region(n));
    let endpoint_url = overrides
        .endpoint_url
        .clone()
        .or(base.endpoint_url.clone())
        .or(aws_endpoint)
        .or_else(|| env("AWS_ENDPOINT_URL_S3"))
        .or_else(|| env("AWS_ENDPOINT_URL"));
    let provider = base.provider.clone().unwrap_or_else(|| quirks::detect(endpoint_url.as_deref()).to_string());
    let q = quirks::get_or_other(&provider);
    let region = overrides
        .region
        .clone()
        .or(base.region.clone())
        .or(aws_region)
        .or_else(|| env("AWS_REGION"))
        .or_else(|| env("AWS_DEFAULT_REGION"))
        .unwrap_or_else(|| q.default_region.clone());
    Ok(ResolvedProfile {
        name: base.name,
        provider,
        endpoint_url,
        region,
        path_style: base.path_style.unwrap_or(q.path_style),
        checksum_when_required: base.checksum_when_required.unwrap_or(q.checksum_when_required),
        prices: env(PRICES_ENV).or_else(|| base.prices.as_deref().map(|p| cfg.prices_spec(p))),
        credentials: base.credentials,
    })
}

/// The profile the user named (trainctl first, then AWS), or the AWS env / default chain.
fn base_profile(name: Option<String>, cfg: &ConfigFile, aws: &AwsProfiles, env: &dyn Fn(&str) -> Option<String>) -> Result<Profile> {
    if let Some(name) = name {
        if let Some(p) = cfg.profiles.get(&name) {
            return Ok(p.clone());
        }
        if aws.contains(&name) {
            return Ok(aws_profile(name));
        }
        return Err(Error::UnknownProfile(name));
    }
    Ok(match env("AWS_PROFILE") {
        Some(name) => aws_profile(name),
        None => Profile { name: "default".into(), ..Profile::default() },
    })
}

fn aws_profile(name: String) -> Profile {
    Profile { name: name.clone(), credentials: CredentialSource::AwsProfile { name }, ..Profile::default() }
}

/// Where a listed profile is defined.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProfileOrigin {
    /// trainctl's config.toml.
    Trainctl,
    /// ~/.aws/config and/or ~/.aws/credentials.
    Aws,
}

/// One row of `profile list`: enough to pick a profile, no secrets.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProfileSummary {
    pub name: String,
    pub origin: ProfileOrigin,
    /// For AWS profiles: which files define it (`config`, `credentials`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub aws_files: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

/// Every profile the user can pass to `--profile`: trainctl's, then AWS's (names only).
pub fn list_profiles() -> Result<Vec<ProfileSummary>> {
    Ok(list_profiles_with(&ConfigFile::load()?, &AwsProfiles::load()))
}

/// [`list_profiles`] over explicit inputs.
pub fn list_profiles_with(cfg: &ConfigFile, aws: &AwsProfiles) -> Vec<ProfileSummary> {
    let mut out: Vec<ProfileSummary> = cfg
        .profiles
        .values()
        .map(|p| ProfileSummary {
            name: p.name.clone(),
            origin: ProfileOrigin::Trainctl,
            aws_files: vec![],
            provider: Some(p.provider.clone().unwrap_or_else(|| quirks::detect(p.endpoint_url.as_deref()).to_string())),
            endpoint_url: p.endpoint_url.clone(),
            region: p.region.clone(),
        })
        .collect();
    for name in aws.names() {
        out.push(ProfileSummary {
            aws_files: aws.files_defining(&name),
            endpoint_url: aws.endpoint_url(&name),
            region: aws.region(&name),
            name,
            origin: ProfileOrigin::Aws,
            provider: None,
        });
    }
    out
}

/// Serializes the config file's load → change → save within this process: two saves at once
/// (two forms, two tasks) would otherwise each write the file without the other's profile.
static CONFIG_WRITER: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Validates and saves `profile` to the config file, storing `secret` in the OS keychain first
/// when the profile's credentials live there. If saving the file fails the secret is removed.
pub fn save_profile(mut profile: Profile, secret: Option<&str>) -> Result<()> {
    validate(&profile)?;
    let _one_writer = CONFIG_WRITER.lock().unwrap_or_else(|e| e.into_inner());
    let mut cfg = ConfigFile::load()?;
    // Neither `profile add` nor the desktop form edits the price table: re-saving keeps it.
    if profile.prices.is_none() {
        profile.prices = cfg.profiles.get(&profile.name).and_then(|p| p.prices.clone());
    }
    let uses_keychain = matches!(profile.credentials, CredentialSource::Keychain { .. });
    match (uses_keychain, secret) {
        (true, Some(s)) if !s.is_empty() => super::keychain::set_secret(&profile.name, s)?,
        (true, _) => return Err(Error::Usage("a secret access key is needed for a keychain profile".into())),
        (false, _) => {}
    }
    let name = profile.name.clone();
    let old = cfg.profiles.get(&name).cloned();
    cfg.upsert(profile);
    if let Err(e) = cfg.save() {
        if uses_keychain {
            let _ = super::keychain::delete_secret(&name);
        }
        return Err(e);
    }
    if !uses_keychain && matches!(old.map(|o| o.credentials), Some(CredentialSource::Keychain { .. })) {
        super::keychain::delete_secret(&name)?;
    }
    Ok(())
}

/// Removes a trainctl profile and its keychain secret. AWS profiles are not trainctl's to edit.
pub fn remove_profile(name: &str) -> Result<Profile> {
    let _one_writer = CONFIG_WRITER.lock().unwrap_or_else(|e| e.into_inner());
    let mut cfg = ConfigFile::load()?;
    let Some(p) = cfg.remove(name) else {
        if AwsProfiles::load().contains(name) {
            return Err(Error::Usage(format!("`{name}` is an AWS profile (~/.aws); trainctl does not edit AWS files")));
        }
        return Err(Error::UnknownProfile(name.to_string()));
    };
    cfg.save()?;
    if matches!(p.credentials, CredentialSource::Keychain { .. }) {
        super::keychain::delete_secret(name)?;
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| m.get(k).cloned()
    }

    fn cfg() -> ConfigFile {
        ConfigFile::parse(
            std::path::Path::new("c"),
            r#"
[profiles.lab]
endpoint_url = "http://127.0.0.1:9000"
region = "lab-1"
credentials = { type = "keychain", access_key_id = "AKIALAB" }

[profiles.awsy]
region = "eu-west-1"
credentials = { type = "aws_profile", name = "work" }

[profiles.shadow]
endpoint_url = "https://acct.r2.cloudflarestorage.com"
"#,
        )
        .unwrap()
    }

    fn aws() -> AwsProfiles {
        AwsProfiles::parse(
            "[default]\nregion = us-east-2\n[profile work]\nregion = ap-south-1\nendpoint_url = http://work:9000\n[profile shadow]\nregion = zz\n",
            "[default]\naws_access_key_id = A\n[cred-only]\naws_access_key_id = B\n",
        )
    }

    fn ov(profile: Option<&str>, endpoint: Option<&str>, region: Option<&str>) -> Overrides {
        Overrides { profile: profile.map(Into::into), endpoint_url: endpoint.map(Into::into), region: region.map(Into::into) }
    }

    #[test]
    fn flags_beat_the_trainctl_profile() {
        let r = resolve_with(&ov(Some("lab"), Some("http://other:1"), Some("r9")), &cfg(), &aws(), &env_of(&[])).unwrap();
        assert_eq!(r.endpoint_url.as_deref(), Some("http://other:1"));
        assert_eq!(r.region, "r9");
        assert_eq!(r.credentials, CredentialSource::Keychain { access_key_id: "AKIALAB".into() });
    }

    #[test]
    fn trainctl_profile_beats_aws_profile_and_env() {
        let env = env_of(&[("AWS_REGION", "env-r"), ("AWS_ENDPOINT_URL", "http://env:1")]);
        let r = resolve_with(&ov(Some("shadow"), None, None), &cfg(), &aws(), &env).unwrap();
        assert_eq!(r.provider, "r2");
        assert_eq!(r.endpoint_url.as_deref(), Some("https://acct.r2.cloudflarestorage.com"));
        assert_eq!(r.region, "env-r", "the trainctl profile names no region, env fills it");
        assert!(r.path_style && r.checksum_when_required);
    }

    #[test]
    fn aws_profile_settings_fill_a_trainctl_profile_that_points_at_it() {
        let r = resolve_with(&ov(Some("awsy"), None, None), &cfg(), &aws(), &env_of(&[])).unwrap();
        assert_eq!(r.region, "eu-west-1");
        assert_eq!(r.endpoint_url.as_deref(), Some("http://work:9000"));
    }

    #[test]
    fn aws_profile_is_used_when_no_trainctl_profile_has_the_name() {
        let env = env_of(&[("AWS_REGION", "env-r")]);
        let r = resolve_with(&ov(Some("work"), None, None), &cfg(), &aws(), &env).unwrap();
        assert_eq!(r.credentials, CredentialSource::AwsProfile { name: "work".into() });
        assert_eq!(r.region, "ap-south-1");
        assert_eq!(r.endpoint_url.as_deref(), Some("http://work:9000"));
        assert_eq!(r.provider, "other");
        let r = resolve_with(&ov(Some("cred-only"), None, None), &cfg(), &aws(), &env).unwrap();
        assert_eq!(r.region, "env-r");
    }

    #[test]
    fn trainctl_profile_env_names_the_profile() {
        let r = resolve_with(&ov(None, None, None), &cfg(), &aws(), &env_of(&[(PROFILE_ENV, "lab")])).unwrap();
        assert_eq!(r.name, "lab");
        let r = resolve_with(&ov(Some("work"), None, None), &cfg(), &aws(), &env_of(&[(PROFILE_ENV, "lab")])).unwrap();
        assert_eq!(r.name, "work", "--profile beats TRAINCTL_PROFILE");
    }

    #[test]
    fn unknown_profile_is_an_error() {
        let e = resolve_with(&ov(Some("nope"), None, None), &cfg(), &aws(), &env_of(&[])).unwrap_err();
        assert!(matches!(e, Error::UnknownProfile(n) if n == "nope"));
    }

    #[test]
    fn without_a_name_the_aws_env_decides() {
        let env = env_of(&[("AWS_ENDPOINT_URL", "http://a:1"), ("AWS_ENDPOINT_URL_S3", "http://s3:1"), ("AWS_DEFAULT_REGION", "d"), ("AWS_REGION", "r")]);
        let r = resolve_with(&ov(None, None, None), &cfg(), &aws(), &env).unwrap();
        assert_eq!((r.name.as_str(), r.endpoint_url.as_deref(), r.region.as_str()), ("default", Some("http://s3:1"), "r"));
        assert_eq!(r.credentials, CredentialSource::AwsChain);
        assert!(r.path_style, "a non-AWS endpoint gets path-style");
        let r = resolve_with(&ov(None, None, None), &cfg(), &aws(), &env_of(&[("AWS_PROFILE", "work")])).unwrap();
        assert_eq!(r.credentials, CredentialSource::AwsProfile { name: "work".into() });
        let r = resolve_with(&ov(None, None, None), &cfg(), &aws(), &env_of(&[])).unwrap();
        assert_eq!((r.provider.as_str(), r.region.as_str(), r.path_style), ("aws", "us-east-1", false));
    }

    #[test]
    fn profile_can_override_the_provider_quirks() {
        let cfg = ConfigFile::parse(std::path::Path::new("c"), "[profiles.vh]\nendpoint_url = \"http://x:1\"\npath_style = false\nchecksum_when_required = false\n").unwrap();
        let r = resolve_with(&ov(Some("vh"), None, None), &cfg, &aws(), &env_of(&[])).unwrap();
        assert!(!r.path_style && !r.checksum_when_required);
    }

    #[test]
    fn list_shows_trainctl_then_aws_profiles_with_origin() {
        let l = list_profiles_with(&cfg(), &aws());
        let names: Vec<_> = l.iter().map(|p| (p.name.as_str(), p.origin)).collect();
        assert_eq!(
            names,
            vec![
                ("awsy", ProfileOrigin::Trainctl),
                ("lab", ProfileOrigin::Trainctl),
                ("shadow", ProfileOrigin::Trainctl),
                ("cred-only", ProfileOrigin::Aws),
                ("default", ProfileOrigin::Aws),
                ("shadow", ProfileOrigin::Aws),
                ("work", ProfileOrigin::Aws),
            ]
        );
        let default = l.iter().find(|p| p.name == "default").unwrap();
        assert_eq!(default.aws_files, vec!["config".to_string(), "credentials".to_string()]);
    }
}
