//! SDK error → [`Error`] for the native engine's requests: the crate-wide mapping
//! ([`crate::s3::errors::map_sdk_error`]) plus the two answers only transfers care about —
//! an object that changed since the plan (`412` on `If-Match`) and an upload id the server
//! no longer knows (`NoSuchUpload`, which restarts a resumed upload).

use crate::error::Error;
use crate::s3::errors::map_sdk_error;
use crate::s3::Connection;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::http::Response as HttpResponse;
use std::error::Error as StdError;

/// A name for the connection's endpoint, for messages and the resume key.
pub(super) fn endpoint_name(conn: &Connection) -> String {
    conn.endpoint_display().trim_end_matches('/').to_string()
}

/// Whether an answer says the bytes sent do not match the checksum sent with them (AWS:
/// `BadDigest`, `XAmzContentChecksumMismatch`; Garage: `InvalidDigest`).
fn is_checksum_mismatch(code: &str, message: &str) -> bool {
    matches!(code, "BadDigest" | "InvalidDigest" | "XAmzContentChecksumMismatch") || (code == "InvalidRequest" && message.to_ascii_lowercase().contains("checksum") && message.to_ascii_lowercase().contains("match"))
}

/// S3 error code of an upload whose id the server no longer knows.
pub(super) const NO_SUCH_UPLOAD: &str = "NoSuchUpload";

/// Maps an SDK error of a request on `s3://bucket/key`.
pub(super) fn map<E>(e: SdkError<E, HttpResponse>, conn: &Connection, bucket: &str, key: &str) -> Error
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    let status = e.raw_response().map(|r| r.status().as_u16());
    let code = e.code().unwrap_or_default().to_string();
    if code == "PreconditionFailed" || status == Some(412) {
        return Error::Integrity {
            what: format!("s3://{bucket}/{key}"),
            detail: "the object changed on the server since the transfer was planned".into(),
        };
    }
    if is_checksum_mismatch(&code, e.message().unwrap_or_default()) {
        return Error::ChecksumRejected {
            what: format!("s3://{bucket}/{key}"),
            detail: format!("its bytes did not match the checksum read from the file ({code}: {})", e.message().unwrap_or_default()),
        };
    }
    if code == NO_SUCH_UPLOAD {
        return Error::S3 { code, message: e.message().unwrap_or_default().to_string() };
    }
    map_sdk_error(e, &conn.ctx().bucket(bucket).key(key))
}
