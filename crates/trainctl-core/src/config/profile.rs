//! The profile model: what a trainctl profile holds and how a profile name plus command-line
//! overrides resolve into the settings a connection is built from.

use serde::{Deserialize, Serialize};

/// Where a profile's credentials come from. Never the secret itself.
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Profile {
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
}

/// Command-line (or UI) overrides applied on top of a profile: `--endpoint-url`, `--region`.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub profile: Option<String>,
    pub endpoint_url: Option<String>,
    pub region: Option<String>,
}

/// A profile with every setting decided: what [`crate::s3::Connection::open`] consumes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResolvedProfile {
    /// Name shown to the user (`default` for the plain AWS chain).
    pub name: String,
    pub endpoint_url: Option<String>,
    pub region: String,
    pub path_style: bool,
    pub checksum_when_required: bool,
    pub credentials: CredentialSource,
}
