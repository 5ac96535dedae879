//! A connected S3 client built from a [`ResolvedProfile`] (the connection test is in `check`).

use super::errors::ErrContext;
use crate::config::{keychain, CredentialSource, ResolvedProfile};
use crate::error::{Error, Result};
use super::network::NetworkPolicy;
use aws_config::{BehaviorVersion, Region};
use aws_credential_types::provider::ProvideCredentials;
use aws_credential_types::Credentials;
use aws_sdk_s3::config::{RequestChecksumCalculation, ResponseChecksumValidation};
use std::time::Duration;

/// How long to wait for a TCP/TLS connection before calling the endpoint unreachable (the
/// default of [`NetworkPolicy::connect_timeout`]).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// An S3 client plus the settings it was built from. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Connection {
    pub client: aws_sdk_s3::Client,
    pub profile: ResolvedProfile,
    /// The provider the client signs with, kept to hand credentials to child processes
    /// (the SDK's `Config::credentials_provider` accessor is deprecated and returns `None`).
    pub credentials: Option<aws_credential_types::provider::SharedCredentialsProvider>,
}

impl Connection {
    /// Builds a client: endpoint, region, path-style and checksum mode from the profile;
    /// credentials from the profile's source (AWS chain, AWS profile, or keychain); timeouts and
    /// retries from [`NetworkPolicy::from_env`]; HTTP through [`super::http::client`].
    pub async fn open(profile: &ResolvedProfile) -> Result<Connection> {
        let policy = NetworkPolicy::from_env()?;
        let mut loader = aws_config::defaults(BehaviorVersion::latest()).region(Region::new(profile.region.clone())).timeout_config(policy.timeout_config());
        match &profile.credentials {
            CredentialSource::AwsChain => {}
            CredentialSource::AwsProfile { name } => loader = loader.profile_name(name),
            CredentialSource::Keychain { access_key_id } => {
                let secret = keychain_secret(&profile.name).await?;
                loader = loader.credentials_provider(Credentials::new(access_key_id, secret, None, None, "trainctl-keychain"));
            }
        }
        if let Some(url) = &profile.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        if let Some(http) = super::http::client() {
            loader = loader.http_client(http);
        }
        let sdk = loader.load().await;
        let b = policy.apply_s3(aws_sdk_s3::config::Builder::from(&sdk));
        Ok(Connection { client: aws_sdk_s3::Client::from_conf(with_profile(b, profile).build()), profile: profile.clone(), credentials: sdk.credentials_provider() })
    }

    /// A connection with fixed keys that are not stored anywhere: the embedded demo's public
    /// keys, and a connection form's "Test" before the user saves it. Same settings as [`open`]
    /// (a malformed network override in the environment falls back to the defaults here: the
    /// CLI, which reports it, does not make these connections).
    ///
    /// [`open`]: Connection::open
    pub fn with_keys(profile: &ResolvedProfile, access_key_id: &str, secret: &str) -> Connection {
        let policy = NetworkPolicy::from_env().unwrap_or_default();
        let creds = Credentials::new(access_key_id, secret, None, None, "trainctl-keys");
        let mut b = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(profile.region.clone()))
            .credentials_provider(creds.clone());
        if let Some(url) = &profile.endpoint_url {
            b = b.endpoint_url(url);
        }
        if let Some(http) = super::http::client() {
            b = b.http_client(http);
        }
        let provider = aws_credential_types::provider::SharedCredentialsProvider::new(creds);
        let b = with_profile(policy.apply_s3(b), profile);
        Connection { client: aws_sdk_s3::Client::from_conf(b.build()), profile: profile.clone(), credentials: Some(provider) }
    }

    /// The same connection with `policy`'s timeouts and retries (for clients built elsewhere:
    /// tests with short bounds).
    pub fn with_network(self, policy: &NetworkPolicy) -> Connection {
        let b = policy.apply_s3(self.client.config().to_builder());
        Connection { client: aws_sdk_s3::Client::from_conf(b.build()), ..self }
    }

    /// The environment a child process (s5cmd) needs to act with these credentials:
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`.
    /// Secrets go through the environment, never argv.
    pub async fn credentials_env(&self) -> Result<Vec<(String, String)>> {
        let provider = self.credentials.clone().ok_or_else(|| Error::NoCredentials(String::new()))?;
        let creds = provider.provide_credentials().await.map_err(|e| Error::NoCredentials(format!(": {}", super::errors::chain_text(&e))))?;
        let mut env = vec![
            ("AWS_ACCESS_KEY_ID".to_string(), creds.access_key_id().to_string()),
            ("AWS_SECRET_ACCESS_KEY".to_string(), creds.secret_access_key().to_string()),
        ];
        if let Some(token) = creds.session_token() {
            env.push(("AWS_SESSION_TOKEN".to_string(), token.to_string()));
        }
        env.push(("AWS_REGION".to_string(), self.profile.region.clone()));
        Ok(env)
    }

    /// The endpoint requests go to, for messages: the custom URL, or AWS's regional endpoint.
    pub fn endpoint_display(&self) -> String {
        endpoint_display(&self.profile)
    }

    /// An error context naming this connection's endpoint; add `.bucket(b).key(k)`.
    pub fn ctx(&self) -> ErrContext {
        ErrContext::new(self.endpoint_display())
    }
}

/// The provider settings every client takes from the profile: path-style addressing and the
/// checksum mode (S3-compatible stores reject the SDK's default request checksums).
fn with_profile(b: aws_sdk_s3::config::Builder, profile: &ResolvedProfile) -> aws_sdk_s3::config::Builder {
    let b = b.force_path_style(profile.path_style);
    if !profile.checksum_when_required {
        return b;
    }
    b.request_checksum_calculation(RequestChecksumCalculation::WhenRequired).response_checksum_validation(ResponseChecksumValidation::WhenRequired)
}

/// The endpoint a resolved profile talks to, as shown to the user.
pub fn endpoint_display(profile: &ResolvedProfile) -> String {
    match &profile.endpoint_url {
        Some(u) => u.clone(),
        None => format!("https://s3.{}.amazonaws.com", profile.region),
    }
}

async fn keychain_secret(profile: &str) -> Result<String> {
    let name = profile.to_string();
    let secret = tokio::task::spawn_blocking(move || keychain::get_secret(&name))
        .await
        .map_err(|e| Error::Internal(format!("keychain task: {e}")))??;
    secret.ok_or_else(|| Error::NoCredentials(format!(": no secret stored in the OS keychain for profile `{profile}`")))
}

