//! Shared by the core integration tests that talk to a testkit server.

use trainctl_core::config::{CredentialSource, ResolvedProfile};
use trainctl_core::s3::Connection;
use trainctl_testkit::S3Server;

/// A connection to `server` as a profile of `provider` would make it (the provider decides quirks
/// such as which lifecycle actions are known to be missing); credentials from the AWS chain.
pub fn connection_as(server: &S3Server, provider: &str) -> Connection {
    let profile = ResolvedProfile {
        name: "test".into(),
        provider: provider.into(),
        endpoint_url: Some(server.endpoint_url()),
        region: server.region().to_string(),
        path_style: true,
        checksum_when_required: true,
        credentials: CredentialSource::AwsChain,
        prices: None,
    };
    Connection { client: server.client(), profile, credentials: None }
}
