//! What a trainctl profile holds, and the checks it passes before it is kept. A leaf: the config
//! file stores these and the resolver reads them, and neither is needed to say what one is.

use super::quirks;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// Where a profile's credentials come from. Never the secret itself.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CredentialSource {
    /// The standard AWS chain: env vars, ~/.aws/credentials default, SSO, IMDS...
    #[default]
    AwsChain,
    /// A named profile in ~/.aws/config / ~/.aws/credentials (incl. SSO profiles).
    AwsProfile { name: String },
    /// The OS keychain, service `trainctl`, account `<profile name>`; the access key id is not
    /// secret and is kept in the file so `profile show` can display it.
    Keychain { access_key_id: String },
}

/// A trainctl profile as stored in config.toml.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// The profile's name; in config.toml it is the table key (`[profiles.<name>]`).
    #[serde(default)]
    pub name: String,
    /// Provider id from data/quirks/providers.toml (`aws`, `r2`, `minio`, `garage`, `b2`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Path-style addressing; `None` = what the provider's quirks say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_style: Option<bool>,
    /// Request checksum calculation `when_required` (true) or `when_supported` (false);
    /// `None` = what the provider's quirks say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum_when_required: Option<bool>,
    #[serde(default)]
    pub credentials: CredentialSource,
    /// A custom price table file for this profile's storage (`trainctl cost`); relative paths are
    /// relative to the config file. `None` = the built-in table of the provider and region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prices: Option<String>,
}

/// Checks a profile before it is saved: a usable name, an http(s) endpoint, a known provider,
/// and a key id when the keychain holds the secret. Shared by `profile add` and the desktop form.
pub fn validate(p: &Profile) -> Result<()> {
    let name_ok = !p.name.is_empty() && p.name.len() <= 64 && p.name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if !name_ok {
        return Err(Error::Usage(format!("profile name `{}` must be 1-64 letters, digits, '-', '_' or '.'", p.name)));
    }
    if let Some(u) = &p.endpoint_url {
        let rest = u.strip_prefix("http://").or_else(|| u.strip_prefix("https://"));
        if rest.is_none_or(|r| r.is_empty() || r.contains(char::is_whitespace)) {
            return Err(Error::Usage(format!("endpoint URL `{u}` must look like https://host[:port]")));
        }
    }
    if let Some(id) = &p.provider {
        if quirks::get(id).is_none() {
            let known: Vec<&str> = quirks::all().keys().map(String::as_str).collect();
            return Err(Error::Usage(format!("unknown provider `{id}`; known: {}", known.join(", "))));
        }
    }
    match &p.credentials {
        CredentialSource::Keychain { access_key_id } if access_key_id.trim().is_empty() => Err(Error::Usage("the access key id is empty".into())),
        CredentialSource::AwsProfile { name } if name.trim().is_empty() => Err(Error::Usage("the AWS profile name is empty".into())),
        _ => Ok(()),
    }
}
