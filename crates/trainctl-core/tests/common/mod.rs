//! Shared by the core integration tests that talk to a testkit server.

use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use tokio_util::sync::CancellationToken;
use trainctl_core::config::{CredentialSource, ResolvedProfile};
use trainctl_core::event::{CollectSink, Event};
use trainctl_core::s3::{Connection, NetworkPolicy};
use trainctl_testkit::S3Server;

/// The profile a test connection to `server` at `endpoint` uses, as a profile of `provider` would
/// make it (the provider decides quirks such as the upload checksum or the lifecycle actions
/// known to be missing); credentials from the AWS chain.
#[allow(dead_code)] // not every test binary that includes this module uses every helper
pub fn profile_as(server: &S3Server, provider: &str, endpoint: &str) -> ResolvedProfile {
    ResolvedProfile {
        name: "test".into(),
        provider: provider.into(),
        endpoint_url: Some(endpoint.to_string()),
        region: server.region().to_string(),
        path_style: true,
        checksum_when_required: true,
        credentials: CredentialSource::AwsChain,
        prices: None,
    }
}

/// A connection to `server` as a profile of `provider` would make it; credentials from the AWS
/// chain.
#[allow(dead_code)]
pub fn connection_as(server: &S3Server, provider: &str) -> Connection {
    Connection { client: server.client(), profile: profile_as(server, provider, &server.endpoint_url()), credentials: None }
}

/// A connection to `server` through `endpoint` (a proxy, or the server itself) with the server's
/// own keys (as s5cmd needs them in its environment), as a profile of the server's provider
/// would make it.
#[allow(dead_code)]
pub fn connection_to(server: &S3Server, endpoint: &str) -> Connection {
    let creds = Credentials::new(server.access_key(), server.secret_key(), None, None, "test");
    Connection {
        client: server.client_for(endpoint),
        profile: profile_as(server, server.kind().name(), endpoint),
        credentials: Some(SharedCredentialsProvider::new(creds)),
    }
}

/// [`connection_to`] with `policy`'s timeouts and retries.
#[allow(dead_code)]
pub fn connection_via(server: &S3Server, endpoint: &str, policy: &NetworkPolicy) -> Connection {
    connection_to(server, endpoint).with_network(policy)
}

/// A sink that collects events and cancels `token` once progress reports `after` bytes.
#[allow(dead_code)]
pub fn cancelling_sink(token: CancellationToken, after: u64) -> (impl trainctl_core::Sink, CollectSink) {
    let collect = CollectSink::default();
    let inner = collect.clone();
    let sink = move |e: Event| {
        if let Event::Progress(p) = &e {
            if p.bytes_done >= after {
                token.cancel();
            }
        }
        trainctl_core::Sink::send(&inner, e);
    };
    (sink, collect)
}
