//! The HTTP client under every S3 request: hyper 1 over rustls (aws-lc-rs, the system's root
//! certificates), as the SDK's default client is, with one difference — each connection reads
//! into a fixed [`READ_BUFFER`] instead of hyper's adaptive buffer, which grows to ~400 KiB.
//!
//! **Why.** A download is CPU-bound on a small machine: the bytes are copied twice, socket →
//! our buffer → page cache (or the aligned block of a direct write), and the second copy is
//! cheap only while the first one's bytes are still in the core's cache. The adaptive buffer
//! hands out ~230 KiB chunks in freshly allocated memory; a fixed 64 KiB buffer hands out chunks
//! that the download writes at once, on the same thread (`transfer::native::download`), as
//! s5cmd does with its 32 KiB reads. Measured on the 2-core benchmark machine, 1000 × 1 MiB
//! from Garage, 13–15 alternating rounds: trainctl's CPU 2.03–2.04 s → 1.72–1.81 s and wall
//! 1.04–1.10× → 1.02–1.03× raw s5cmd; peak RSS 10–14 MB lower on every download row
//! (`docs/benchmarks.md`). aws-smithy-http-client keeps its hyper builder crate-private, so
//! setting the buffer means owning the client.
//!
//! **What it keeps of the SDK's client:** the connect timeout (TCP and TLS together) and the
//! read timeout of [`HttpConnectorSettings`]; `TCP_NODELAY`; a pool of kept-alive connections;
//! errors classified the way the SDK's are, because the retry strategy reads them (timeouts and
//! I/O failures are transient and retried, a message cut short is transient, a malformed
//! request is the caller's); and the captured connection, so the retry layer can poison one that
//! failed instead of reusing it.
//!
//! **What it leaves to the SDK:** HTTP proxies. When `HTTPS_PROXY`, `HTTP_PROXY` or `ALL_PROXY`
//! (either case) is set, [`client`] returns the SDK's default client, which honours them;
//! `TRAINCTL_HTTP_CLIENT=sdk` asks for it too.

use aws_smithy_runtime_api::client::connection::{CaptureSmithyConnection, ConnectionMetadata};
use aws_smithy_runtime_api::client::http::{HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::retry::ErrorKind;
use hyper_util::client::legacy::connect::{capture_connection, CaptureConnection, HttpConnector as TcpConnector};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::collections::HashMap;
use std::error::Error as StdError;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

type BoxError = Box<dyn StdError + Send + Sync>;

/// Bytes a connection reads from its socket at a time (see the module documentation).
pub const READ_BUFFER: usize = 64 * 1024;

/// Environment variable that selects the SDK's own HTTP client (`sdk`).
pub const ENV_CLIENT: &str = "TRAINCTL_HTTP_CLIENT";

/// The HTTP client S3 connections are built with: ours, or the SDK's where a proxy is
/// configured or `TRAINCTL_HTTP_CLIENT=sdk` (see the module documentation).
pub fn client() -> Option<SharedHttpClient> {
    ours_wanted(|name| std::env::var(name).ok()).then(|| SharedHttpClient::new(Hyper::default()))
}

/// Whether the environment (`var`) leaves the connections to our client: no proxy set and
/// `TRAINCTL_HTTP_CLIENT` not `sdk`.
fn ours_wanted(var: impl Fn(&str) -> Option<String>) -> bool {
    let proxied = ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"].iter().any(|v| var(v).is_some_and(|s| !s.is_empty()));
    let sdk = var(ENV_CLIENT).is_some_and(|v| v.eq_ignore_ascii_case("sdk"));
    !proxied && !sdk
}

/// A connector's connect and read timeouts.
type Timeouts = (Option<Duration>, Option<Duration>);

/// Connectors by their timeouts (the SDK asks once per request; each has its pool).
#[derive(Debug, Default)]
struct Hyper {
    connectors: Mutex<HashMap<Timeouts, SharedHttpConnector>>,
}

impl HttpClient for Hyper {
    fn http_connector(&self, settings: &HttpConnectorSettings, _components: &RuntimeComponents) -> SharedHttpConnector {
        let key = (settings.connect_timeout(), settings.read_timeout());
        let mut connectors = self.connectors.lock().unwrap_or_else(|p| p.into_inner());
        connectors.entry(key).or_insert_with(|| SharedHttpConnector::new(Connector::new(key.0, key.1))).clone()
    }
}

/// One pool of connections with its timeouts.
#[derive(Debug)]
struct Connector {
    client: Client<Timed, SdkBody>,
    read_timeout: Option<Duration>,
}

impl Connector {
    fn new(connect_timeout: Option<Duration>, read_timeout: Option<Duration>) -> Connector {
        let mut tcp = TcpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        let https = hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls_config().clone()).https_or_http().enable_http1().wrap_connector(tcp);
        let mut builder = Client::builder(TokioExecutor::new());
        builder.pool_timer(TokioTimer::new()).http1_read_buf_exact_size(READ_BUFFER);
        Connector { client: builder.build(Timed { inner: https, limit: connect_timeout }), read_timeout }
    }
}

impl HttpConnector for Connector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let mut request = match request.try_into_http1x() {
            Ok(r) => r,
            Err(e) => return HttpConnectorFuture::ready(Err(ConnectorError::user(e.into()))),
        };
        let captured = capture_connection(&mut request);
        if let Some(capture) = request.extensions().get::<CaptureSmithyConnection>() {
            capture.set_connection_retriever(move || connection_metadata(&captured));
        }
        let response = self.client.request(request);
        let read_timeout = self.read_timeout;
        HttpConnectorFuture::new(async move {
            let response = match read_timeout {
                Some(limit) => match tokio::time::timeout(limit, response).await {
                    Ok(r) => r,
                    Err(_) => return Err(ConnectorError::timeout(timed_out("no response within the read timeout", limit).into())),
                },
                None => response.await,
            };
            match response {
                Ok(r) => HttpResponse::try_from(r.map(SdkBody::from_body_1_x)).map_err(|e| ConnectorError::other(e.into(), None)),
                Err(e) => Err(classify(e.into())),
            }
        })
    }
}

/// What the retry layer learns about the connection a request went out on: a way to poison
/// it, so that a connection that failed is closed rather than handed to the next attempt.
fn connection_metadata(captured: &CaptureConnection) -> Option<ConnectionMetadata> {
    captured.connection_metadata().as_ref()?;
    let captured = captured.clone();
    let poison = move || {
        if let Some(c) = captured.connection_metadata().as_ref() {
            c.poison();
        }
    };
    Some(ConnectionMetadata::builder().proxied(false).poison_fn(poison).build())
}

/// An `io::Error` of kind `TimedOut` (which the error mapping reads as "connection timed out").
fn timed_out(what: &str, limit: Duration) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::TimedOut, format!("{what} ({})", humantime::format_duration(limit)))
}

/// Sorts a failed request the way the SDK's client does, for the retry strategy.
fn classify(err: BoxError) -> ConnectorError {
    kind_of(err.as_ref())(err)
}

fn kind_of(err: &(dyn StdError + 'static)) -> fn(BoxError) -> ConnectorError {
    let io_kind = errors_of(err).find_map(|e| e.downcast_ref::<std::io::Error>().map(std::io::Error::kind));
    let hyper_err = errors_of(err).find_map(|e| e.downcast_ref::<hyper::Error>());
    if io_kind == Some(std::io::ErrorKind::TimedOut) || hyper_err.is_some_and(hyper::Error::is_timeout) {
        return ConnectorError::timeout;
    }
    if let Some(h) = hyper_err {
        if h.is_user() {
            return ConnectorError::user;
        }
        if h.is_closed() || h.is_canceled() || io_kind.is_some() {
            return ConnectorError::io;
        }
        if h.is_incomplete_message() {
            return |e| ConnectorError::other(e, Some(ErrorKind::TransientError));
        }
    }
    let connect = errors_of(err).any(|e| e.downcast_ref::<hyper_util::client::legacy::Error>().is_some_and(hyper_util::client::legacy::Error::is_connect));
    if connect || io_kind.is_some() {
        return ConnectorError::io;
    }
    |e| ConnectorError::other(e, None)
}

/// `err` and each error after it: an `io::Error`'s payload (`get_ref`; its `source` would skip
/// the payload), any other error's `source`.
fn errors_of<'a>(err: &'a (dyn StdError + 'static)) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(err), |&e| match e.downcast_ref::<std::io::Error>() {
        Some(io) => io.get_ref().map(|inner| inner as &(dyn StdError + 'static)),
        None => e.source(),
    })
}

/// The TLS settings of every connection: rustls with aws-lc-rs (as the SDK's client), trusting
/// the system's root certificates (`SSL_CERT_FILE` / `SSL_CERT_DIR` where set), loaded once.
fn tls_config() -> &'static rustls::ClientConfig {
    static CONFIG: OnceLock<rustls::ClientConfig> = OnceLock::new();
    CONFIG.get_or_init(|| {
        let mut roots = rustls::RootCertStore::empty();
        let found = rustls_native_certs::load_native_certs();
        if !found.errors.is_empty() {
            tracing::warn!(errors = ?found.errors, "some system root certificates could not be loaded");
        }
        let (added, _) = roots.add_parsable_certificates(found.certs);
        if added == 0 {
            tracing::warn!("no system root certificates found: HTTPS endpoints will be refused");
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        // aws-lc-rs supports rustls' default protocol versions, so the fallback (the process's
        // default provider, which is aws-lc-rs too) is never taken in practice.
        let builder = rustls::ClientConfig::builder_with_provider(provider).with_safe_default_protocol_versions().unwrap_or_else(|_| rustls::ClientConfig::builder());
        builder.with_root_certificates(roots).with_no_client_auth()
    })
}

/// The TLS connector with the connect timeout around TCP and TLS together.
#[derive(Clone, Debug)]
struct Timed {
    inner: hyper_rustls::HttpsConnector<TcpConnector>,
    limit: Option<Duration>,
}

type Stream = hyper_rustls::MaybeHttpsStream<hyper_util::rt::TokioIo<tokio::net::TcpStream>>;

impl tower_service::Service<http::Uri> for Timed {
    type Response = Stream;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Stream, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let connecting = self.inner.call(uri);
        let limit = self.limit;
        Box::pin(async move {
            match limit {
                Some(limit) => tokio::time::timeout(limit, connecting).await.map_err(|_| Box::new(timed_out("connect timed out", limit)) as BoxError)?,
                None => connecting.await,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_and_broken_connections_are_retryable_kinds() {
        let t = classify(Box::new(timed_out("connect timed out", Duration::from_secs(1))));
        assert!(t.is_timeout());
        let reset = classify(Box::new(std::io::Error::from(std::io::ErrorKind::ConnectionReset)));
        assert!(reset.is_io());
        let other = classify("something else".into());
        assert!(!other.is_timeout() && !other.is_io());
    }

    #[test]
    fn a_proxy_or_the_override_leaves_connections_to_the_sdk_client() {
        let env = |pairs: &'static [(&'static str, &'static str)]| move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string());
        assert!(ours_wanted(env(&[])));
        assert!(ours_wanted(env(&[("HTTPS_PROXY", "")])), "an empty variable is no proxy");
        assert!(!ours_wanted(env(&[("https_proxy", "http://proxy:3128")])));
        assert!(!ours_wanted(env(&[("ALL_PROXY", "socks5://proxy:1080")])));
        assert!(!ours_wanted(env(&[(ENV_CLIENT, "SDK")])));
        assert!(ours_wanted(env(&[(ENV_CLIENT, "ours")])));
    }
}
