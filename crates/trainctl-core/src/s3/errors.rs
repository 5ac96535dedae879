//! Maps aws-sdk-s3 errors to [`crate::Error`] in the user's terms (bad key vs bad secret vs
//! no permission vs endpoint down), so every caller reports the same words and exit codes.
//!
//! One function, [`map_sdk_error`], does it; callers write `.map_err(s3err(conn.ctx().bucket(b)))`.
//! Servers disagree on spelling: AWS and moto send `InvalidAccessKeyId` / `SignatureDoesNotMatch`,
//! Garage sends `AccessDenied` with the message "No such key: …" or "Invalid signature", and
//! bodiless responses (HEAD) carry only a status. All of these land on the same variants.

use crate::error::Error;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::http::Response as HttpResponse;
use std::error::Error as StdError;

/// What the failing call was about, so errors can name the endpoint, bucket and key.
#[derive(Debug, Clone, Default)]
pub struct ErrContext {
    /// Endpoint as shown to the user (`https://s3.us-east-1.amazonaws.com` or the custom URL).
    pub endpoint: String,
    pub bucket: Option<String>,
    pub key: Option<String>,
}

impl ErrContext {
    /// A context for calls to `endpoint`.
    pub fn new(endpoint: impl Into<String>) -> Self {
        ErrContext { endpoint: endpoint.into(), ..Default::default() }
    }

    /// The same context, about `bucket`.
    pub fn bucket(mut self, bucket: impl Into<String>) -> Self {
        self.bucket = Some(bucket.into());
        self
    }

    /// The same context, about `key` (in the bucket already set).
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// `s3://bucket/key`, `s3://bucket`, or the endpoint: the thing the user asked about.
    fn target(&self) -> String {
        match (&self.bucket, &self.key) {
            (Some(b), Some(k)) => format!("s3://{b}/{k}"),
            (Some(b), None) => format!("s3://{b}"),
            _ => self.endpoint.clone(),
        }
    }
}

/// A `map_err` adapter: `.send().await.map_err(s3err(ctx))?`.
pub fn s3err<E>(ctx: ErrContext) -> impl FnOnce(SdkError<E, HttpResponse>) -> Error
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    move |e| map_sdk_error(e, &ctx)
}

/// Extension so a result of an SDK call can be mapped with its context in one word.
pub trait SdkResultExt<T> {
    /// Maps the SDK error with [`map_sdk_error`].
    fn or_s3(self, ctx: &ErrContext) -> crate::Result<T>;
}

impl<T, E> SdkResultExt<T> for Result<T, SdkError<E, HttpResponse>>
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    fn or_s3(self, ctx: &ErrContext) -> crate::Result<T> {
        self.map_err(|e| map_sdk_error(e, ctx))
    }
}

/// A `200 OK` the SDK could not parse — as opposed to AWS's `200` carrying an `<Error>` body,
/// which parses into an error code and is a real failure. (moto 5.2 answers
/// CompleteMultipartUpload with a root element the SDK does not expect.)
pub(crate) fn unreadable_ok<E: ProvideErrorMetadata>(e: &SdkError<E, HttpResponse>) -> bool {
    e.code().is_none() && e.raw_response().is_some_and(|r| r.status().as_u16() == 200)
}

/// THE mapping of an SDK failure to a trainctl error.
pub fn map_sdk_error<E>(err: SdkError<E, HttpResponse>, ctx: &ErrContext) -> Error
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    if let Some(reason) = credentials_failure(&err) {
        return Error::NoCredentials(format!(": {reason}"));
    }
    match &err {
        SdkError::ServiceError(se) => {
            let code = se.err().code().unwrap_or("").to_string();
            let message = se.err().message().unwrap_or("").to_string();
            map_service(&code, &message, se.raw().status().as_u16(), ctx)
        }
        SdkError::ResponseError(re) => map_service("", &chain_text(&err), re.raw().status().as_u16(), ctx),
        SdkError::TimeoutError(_) => timeout(ctx, "no response within the attempt/operation timeout (TRAINCTL_ATTEMPT_TIMEOUT, TRAINCTL_OPERATION_TIMEOUT)"),
        SdkError::DispatchFailure(_) => map_transport(&err, ctx),
        _ => Error::S3 { code: "client".into(), message: chain_text(&err) },
    }
}

/// Maps a server's answer by code, then message (Garage), then status (bodiless HEAD answers).
pub fn map_service(code: &str, message: &str, status: u16, ctx: &ErrContext) -> Error {
    let msg = message.to_ascii_lowercase();
    match code {
        "InvalidAccessKeyId" | "InvalidClientTokenId" => return Error::BadAccessKey,
        "SignatureDoesNotMatch" => return Error::BadSecret,
        "NoSuchBucket" => return Error::NoSuchBucket(ctx.bucket.clone().unwrap_or_default()),
        "NoSuchKey" => return Error::NotFound(ctx.target()),
        _ => {}
    }
    if status == 403 || code == "AccessDenied" || code == "Forbidden" {
        if msg.contains("no such key") || (msg.contains("access key") && msg.contains("not")) {
            return Error::BadAccessKey;
        }
        if msg.contains("signature") {
            return Error::BadSecret;
        }
        let what = if message.is_empty() { ctx.target() } else { format!("{} ({message})", ctx.target()) };
        return Error::AccessDenied(what);
    }
    if status == 404 || code == "NotFound" {
        return match (&ctx.bucket, &ctx.key) {
            (Some(b), None) => Error::NoSuchBucket(b.clone()),
            _ => Error::NotFound(ctx.target()),
        };
    }
    let code = if code.is_empty() { format!("HTTP {status}") } else { code.to_string() };
    Error::S3 { code, message: message.to_string() }
}

/// Connection-level failures: DNS, refused/reset/timeout, TLS.
fn map_transport(err: &(dyn StdError + 'static), ctx: &ErrContext) -> Error {
    let text = chain_text(err);
    let lower = text.to_ascii_lowercase();
    if is_stall(&lower) {
        return timeout(ctx, "the transfer stalled (no byte moved within TRAINCTL_STALL_TIMEOUT)");
    }
    if lower.contains("dns error") || lower.contains("failed to lookup address") || lower.contains("name or service not known") || lower.contains("nodename nor servname") {
        return Error::Dns(ctx.endpoint.clone());
    }
    if io_kind_in_chain(err).is_some_and(|k| matches!(k, std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::TimedOut)) {
        return unreachable(ctx, &short_reason(&lower));
    }
    if ["tls", "certificate", "handshake", "corrupt message", "invalidcontenttype", "peer is incompatible"].iter().any(|w| lower.contains(w)) {
        return Error::Tls { endpoint: ctx.endpoint.clone(), reason: text };
    }
    unreachable(ctx, &short_reason(&lower))
}

fn short_reason(lower: &str) -> String {
    if lower.contains("refused") {
        "connection refused".into()
    } else if lower.contains("timed out") || lower.contains("timeout") {
        "connection timed out".into()
    } else if lower.contains("reset") {
        "connection reset".into()
    } else {
        lower.to_string()
    }
}

/// The text of the SDK's stalled-stream protection ("minimum throughput was specified at 1 B/s,
/// but throughput of 0 B/s was observed").
pub(crate) fn is_stall(lower: &str) -> bool {
    lower.contains("minimum throughput") || lower.contains("stalled stream")
}

fn timeout(ctx: &ErrContext, detail: &str) -> Error {
    Error::Timeout { endpoint: ctx.endpoint.clone(), what: ctx.target(), detail: detail.to_string() }
}

fn unreachable(ctx: &ErrContext, reason: &str) -> Error {
    Error::Unreachable { endpoint: ctx.endpoint.clone(), reason: reason.to_string() }
}

/// The `CredentialsError` somewhere in the chain, if credentials could not be loaded at all.
fn credentials_failure(err: &(dyn StdError + 'static)) -> Option<String> {
    let mut cur: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(ce) = e.downcast_ref::<aws_credential_types::provider::error::CredentialsError>() {
            return Some(chain_text(ce));
        }
        cur = e.source();
    }
    None
}

fn io_kind_in_chain(err: &(dyn StdError + 'static)) -> Option<std::io::ErrorKind> {
    let mut cur: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        cur = e.source();
    }
    None
}

/// Every message of the error chain joined with `: `, without repeats.
pub fn chain_text(err: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = vec![];
    let mut cur: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = cur {
        let s = e.to_string();
        if !s.is_empty() && !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        cur = e.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> ErrContext {
        ErrContext::new("http://h:1").bucket("b")
    }

    #[test]
    fn aws_and_moto_codes_map_to_key_and_secret_errors() {
        assert!(matches!(map_service("InvalidAccessKeyId", "", 403, &ctx()), Error::BadAccessKey));
        assert!(matches!(map_service("SignatureDoesNotMatch", "", 403, &ctx()), Error::BadSecret));
    }

    #[test]
    fn garage_spellings_map_to_the_same_errors() {
        assert!(matches!(map_service("AccessDenied", "Forbidden: No such key: GK123", 403, &ctx()), Error::BadAccessKey));
        assert!(matches!(map_service("AccessDenied", "Forbidden: Invalid signature", 403, &ctx()), Error::BadSecret));
        assert!(matches!(map_service("AccessDenied", "Forbidden: Operation is not allowed for this key.", 403, &ctx()), Error::AccessDenied(_)));
    }

    #[test]
    fn bodiless_statuses_use_the_context() {
        assert!(matches!(map_service("", "", 404, &ctx()), Error::NoSuchBucket(b) if b == "b"));
        assert!(matches!(map_service("", "", 404, &ctx().key("k")), Error::NotFound(t) if t == "s3://b/k"));
        assert!(matches!(map_service("", "", 403, &ctx()), Error::AccessDenied(_)));
        assert!(matches!(map_service("NoSuchBucket", "x", 404, &ctx()), Error::NoSuchBucket(_)));
    }

    #[test]
    fn other_codes_stay_s3_errors() {
        match map_service("SlowDown", "reduce rate", 503, &ctx()) {
            Error::S3 { code, message } => assert_eq!((code.as_str(), message.as_str()), ("SlowDown", "reduce rate")),
            e => panic!("{e:?}"),
        }
        assert!(matches!(map_service("", "", 500, &ctx()), Error::S3 { code, .. } if code == "HTTP 500"));
    }
}
