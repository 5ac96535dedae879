//! Reading what s5cmd says. With `--json`, each completed operation is a line on stdout
//! (`{"operation":"cp","success":true,"source":…,"destination":…}`) and each failure a line
//! on stderr (`{"operation":"cp","command":"cp SRC DST","error":"NoSuchKey: …"}`). Other
//! stderr text (`ERROR …`, panics) is kept as an unattributed failure: s5cmd can exit 0 after
//! printing an error, so its exit code alone proves nothing.

use crate::error::Error;
use serde::Deserialize;
use std::path::Path;

/// One parsed line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// An operation that succeeded, with the source and destination exactly as we wrote them.
    Done { source: String, destination: String },
    /// A failure; `command` is s5cmd's (unquoted) rendering of the failed command, if any.
    Failed { command: Option<String>, error: String },
    /// Anything that is neither (empty lines, informational messages).
    Other,
}

#[derive(Deserialize)]
struct JsonLine {
    success: Option<bool>,
    source: Option<String>,
    destination: Option<String>,
    command: Option<String>,
    error: Option<String>,
}

/// Parses one stdout or stderr line.
pub fn parse_line(line: &str) -> Line {
    let t = line.trim();
    if t.is_empty() {
        return Line::Other;
    }
    match serde_json::from_str::<JsonLine>(t) {
        Ok(j) => match (j.error, j.success, j.source, j.destination) {
            (Some(error), ..) => Line::Failed { command: j.command, error },
            (None, Some(true), Some(source), Some(destination)) => Line::Done { source, destination },
            (None, Some(false), ..) => Line::Failed { command: j.command, error: "s5cmd reported failure".into() },
            _ => Line::Other,
        },
        Err(_) if t.starts_with("ERROR") || t.starts_with("panic") || t.starts_with("fatal") => {
            Line::Failed { command: None, error: t.to_string() }
        }
        Err(_) => Line::Other,
    }
}

/// Finds which `(src, dst)` pair a failed command names. s5cmd prints commands unquoted
/// (`cp [flags] SRC DST`), so the pair is recognised as the command's suffix.
pub fn attribute<'a>(command: &str, pairs: impl IntoIterator<Item = (usize, &'a str, &'a str)>) -> Option<usize> {
    pairs.into_iter().find(|(_, src, dst)| {
        command.strip_suffix(dst).and_then(|rest| rest.strip_suffix(' ')).is_some_and(|rest| rest.ends_with(src))
    }).map(|(i, ..)| i)
}

/// Maps s5cmd's error text to a trainctl error where the cause is recognisable.
pub fn map_error(text: &str, bucket: &str, endpoint: &str, local: Option<&Path>) -> Error {
    let lower = text.to_ascii_lowercase();
    let has = |s: &str| lower.contains(&s.to_ascii_lowercase());
    if has("NoSuchBucket") {
        Error::NoSuchBucket(bucket.to_string())
    } else if has("InvalidAccessKeyId") {
        Error::BadAccessKey
    } else if has("SignatureDoesNotMatch") {
        Error::BadSecret
    } else if has("AccessDenied") || has("Forbidden") {
        Error::AccessDenied(text.to_string())
    } else if has("NoCredentialProviders") {
        Error::NoCredentials(": s5cmd found no credentials".into())
    } else if has("connection refused") || has("connection reset") || has("i/o timeout") {
        Error::Unreachable { endpoint: endpoint.to_string(), reason: text.to_string() }
    } else if has("no such host") {
        Error::Dns(endpoint.to_string())
    } else if has("x509") || has("tls:") {
        Error::Tls { endpoint: endpoint.to_string(), reason: text.to_string() }
    } else if has("no space left on device") {
        Error::DiskFull(local.map(Path::to_path_buf).unwrap_or_default())
    } else if has("NoSuchKey") || (has("given object") && has("not found")) {
        match local {
            Some(p) if has("given object") => Error::LocalMissing(p.to_path_buf()),
            _ => Error::NotFound(text.to_string()),
        }
    } else {
        Error::S5cmd(text.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_success_and_error_lines() {
        let ok = r#"{"operation":"cp","success":true,"source":"src/a b'c\"d.txt","destination":"s3://bkt/up/a b'c\"d.txt","object":{"type":"file","size":5}}"#;
        assert_eq!(parse_line(ok), Line::Done { source: "src/a b'c\"d.txt".into(), destination: "s3://bkt/up/a b'c\"d.txt".into() });
        let err = r#"{"operation":"cp","command":"cp s3://bkt/up/nokey dl/nokey","error":"NoSuchKey: The specified key does not exist. status code: 404"}"#;
        assert!(matches!(parse_line(err), Line::Failed { command: Some(c), .. } if c == "cp s3://bkt/up/nokey dl/nokey"));
        assert!(matches!(parse_line("ERROR \"cp a b\": boom"), Line::Failed { command: None, .. }));
        assert_eq!(parse_line("DEBUG something"), Line::Other);
    }

    #[test]
    fn failed_commands_are_attributed_by_suffix() {
        let pairs = [(0, "/d/a b", "s3://b/k 1"), (1, "/d/a", "s3://b/k")];
        assert_eq!(attribute("cp --raw=true /d/a b s3://b/k 1", pairs), Some(0));
        assert_eq!(attribute("cp /d/a s3://b/k", pairs), Some(1));
        assert_eq!(attribute("cp /x s3://b/y", pairs), None);
    }

    #[test]
    fn error_text_maps_to_variants() {
        let m = |t: &str| map_error(t, "bkt", "http://e", None).code();
        assert_eq!(m("NoSuchBucket: The specified bucket does not exist status code: 404"), "no_such_bucket");
        assert_eq!(m("InvalidAccessKeyId: The AWS Access Key Id you provided does not exist"), "bad_access_key");
        assert_eq!(m("SignatureDoesNotMatch: ..."), "bad_secret");
        assert_eq!(m("AccessDenied: Access Denied"), "access_denied");
        assert_eq!(m("RequestError: send request failed\ncaused by: dial tcp 127.0.0.1:1: connect: connection refused"), "unreachable");
        assert_eq!(m("something odd"), "s5cmd_failed");
    }
}
