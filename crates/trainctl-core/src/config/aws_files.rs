//! Read-only view of the AWS shared config files (`~/.aws/config`, `~/.aws/credentials`, or
//! `AWS_CONFIG_FILE` / `AWS_SHARED_CREDENTIALS_FILE`), so `--profile NAME` can fall back to an
//! AWS profile and `profile list` can show them. Only names, `region` and `endpoint_url` are
//! read here; credentials themselves are resolved by the AWS SDK, never by this module.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// Profile sections of the two AWS files: name → (key → value). Secrets are not kept.
#[derive(Debug, Clone, Default)]
pub struct AwsProfiles {
    config: BTreeMap<String, BTreeMap<String, String>>,
    credentials: BTreeMap<String, BTreeMap<String, String>>,
}

/// Keys worth keeping; everything else (notably secrets) is dropped while parsing.
const KEPT_KEYS: &[&str] = &["region", "endpoint_url", "s3.endpoint_url", "sso_start_url", "role_arn"];

impl AwsProfiles {
    /// Reads both files; missing or unreadable files count as empty (the SDK reports real errors).
    pub fn load() -> AwsProfiles {
        let read = |p: Option<PathBuf>| p.and_then(|p| std::fs::read_to_string(p).ok()).unwrap_or_default();
        AwsProfiles::parse(&read(aws_file("AWS_CONFIG_FILE", "config")), &read(aws_file("AWS_SHARED_CREDENTIALS_FILE", "credentials")))
    }

    /// Parses the text of `config` and `credentials`.
    pub fn parse(config: &str, credentials: &str) -> AwsProfiles {
        AwsProfiles { config: parse_ini(config, true), credentials: parse_ini(credentials, false) }
    }

    /// True when either file defines profile `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.config.contains_key(name) || self.credentials.contains_key(name)
    }

    /// All profile names, sorted, each once.
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.config.keys().chain(self.credentials.keys()).cloned().collect();
        v.sort();
        v.dedup();
        v
    }

    /// Which of the two files (`config`, `credentials`) define `name`.
    pub fn files_defining(&self, name: &str) -> Vec<String> {
        let mut v = vec![];
        if self.config.contains_key(name) {
            v.push("config".to_string());
        }
        if self.credentials.contains_key(name) {
            v.push("credentials".to_string());
        }
        v
    }

    /// The profile's region (config file first, then credentials file).
    pub fn region(&self, name: &str) -> Option<String> {
        self.get(name, "region")
    }

    /// The profile's S3 endpoint: `s3 = endpoint_url = …` sub-setting, else `endpoint_url`.
    pub fn endpoint_url(&self, name: &str) -> Option<String> {
        self.get(name, "s3.endpoint_url").or_else(|| self.get(name, "endpoint_url"))
    }

    fn get(&self, name: &str, key: &str) -> Option<String> {
        [&self.config, &self.credentials].iter().find_map(|m| m.get(name).and_then(|s| s.get(key)).cloned())
    }
}

fn aws_file(env: &str, file: &str) -> Option<PathBuf> {
    match std::env::var(env) {
        Ok(p) if !p.is_empty() => Some(PathBuf::from(p)),
        _ => dirs::home_dir().map(|h| h.join(".aws").join(file)),
    }
}

/// Minimal INI reader for the AWS file format: `[profile x]` / `[default]` in config, `[x]` in
/// credentials, `key = value`, and indented sub-settings under a `key =` line (`s3 =`).
fn parse_ini(text: &str, is_config: bool) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut section: Option<String> = None;
    let mut parent: Option<String> = None;
    for raw in text.lines() {
        let line = raw.split_once(['#', ';']).map_or(raw, |(a, _)| a);
        if line.trim().is_empty() {
            continue;
        }
        let indented = line.starts_with([' ', '\t']);
        let line = line.trim();
        if let Some(header) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = profile_name(header.trim(), is_config);
            if let Some(s) = &section {
                out.entry(s.clone()).or_default();
            }
            parent = None;
            continue;
        }
        let (Some(sec), Some((k, v))) = (&section, line.split_once('=')) else { continue };
        let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_string());
        let key = match (&parent, indented) {
            (Some(p), true) => format!("{p}.{k}"),
            _ => k,
        };
        parent = if v.is_empty() && !indented { Some(key.clone()) } else if indented { parent } else { None };
        if KEPT_KEYS.contains(&key.as_str()) {
            out.get_mut(sec).expect("section inserted").insert(key, v);
        }
    }
    out
}

/// The profile name of a section header, `None` for non-profile sections (`sso-session`, `services`).
fn profile_name(header: &str, is_config: bool) -> Option<String> {
    if !is_config {
        return Some(header.to_string());
    }
    if header == "default" {
        return Some("default".into());
    }
    header.strip_prefix("profile").filter(|r| r.starts_with([' ', '\t'])).map(|r| r.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_profiles_regions_and_nested_s3_endpoint() {
        let cfg = "[default]\nregion = us-east-2\n\n[profile lab] # comment\nregion=eu-west-1\ns3 =\n  endpoint_url = http://lab:9000\n  addressing_style = path\n[sso-session corp]\nsso_region = x\n[services y]\ns3 =\n endpoint_url = http://no\n";
        let creds = "[default]\naws_access_key_id = AKIA\naws_secret_access_key = SECRET\n[ci]\naws_access_key_id = B\n";
        let a = AwsProfiles::parse(cfg, creds);
        assert_eq!(a.names(), vec!["ci", "default", "lab"]);
        assert_eq!(a.region("lab").as_deref(), Some("eu-west-1"));
        assert_eq!(a.endpoint_url("lab").as_deref(), Some("http://lab:9000"));
        assert_eq!(a.region("default").as_deref(), Some("us-east-2"));
        assert!(a.contains("ci") && !a.contains("corp") && !a.contains("y"));
        assert_eq!(a.files_defining("default"), vec!["config", "credentials"]);
    }

    #[test]
    fn secrets_are_not_kept() {
        let a = AwsProfiles::parse("", "[default]\naws_secret_access_key = TOPSECRET\n");
        assert!(!format!("{a:?}").contains("TOPSECRET"));
    }
}
