//! S3 Event Notifications as a watch sees them: the JSON body of one SQS message turned into the
//! object changes it announces (created with size/ETag, or removed).
//!
//! Why a parser of its own: the same bodies arrive three ways (straight from S3, wrapped in an
//! SNS envelope, or the `s3:TestEvent` S3 sends when a configuration is written), keys are
//! URL-encoded (`+` for a space), and delivery is at-least-once and unordered — the `sequencer`
//! of each record is what orders two changes of one key. Pure, so it is tested without a queue.

use serde_json::Value;

/// One change an event announces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Created { bucket: String, key: String, size: u64, etag: Option<String>, sequencer: Option<String>, time: Option<i64> },
    Removed { bucket: String, key: String, sequencer: Option<String> },
}

impl Change {
    pub fn bucket(&self) -> &str {
        match self {
            Change::Created { bucket, .. } | Change::Removed { bucket, .. } => bucket,
        }
    }

    pub fn key(&self) -> &str {
        match self {
            Change::Created { key, .. } | Change::Removed { key, .. } => key,
        }
    }

    pub fn sequencer(&self) -> Option<&str> {
        match self {
            Change::Created { sequencer, .. } | Change::Removed { sequencer, .. } => sequencer.as_deref(),
        }
    }
}

/// What one message body is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Object changes (records of other event types, e.g. `ObjectRestore`, are dropped).
    Changes(Vec<Change>),
    /// `s3:TestEvent`: S3 checking the queue after a configuration was written, for `bucket`.
    Test { bucket: String },
    /// Not an S3 event notification (someone else's message on the queue, or garbage).
    Foreign(String),
}

/// Parses one SQS message body.
pub fn parse(body: &str) -> Message {
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        return Message::Foreign("not JSON".into());
    };
    // S3 → SNS → SQS: the S3 event is a JSON string in the envelope's `Message`.
    if v.get("Type").and_then(Value::as_str) == Some("Notification") {
        if let Some(inner) = v.get("Message").and_then(Value::as_str) {
            return parse(inner);
        }
    }
    if v.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        return Message::Test { bucket: v.get("Bucket").and_then(Value::as_str).unwrap_or_default().to_string() };
    }
    let Some(records) = v.get("Records").and_then(Value::as_array) else {
        return Message::Foreign("no `Records` in the message".into());
    };
    Message::Changes(records.iter().filter_map(change).collect())
}

fn change(r: &Value) -> Option<Change> {
    if r.get("eventSource").and_then(Value::as_str).is_some_and(|s| s != "aws:s3") {
        return None;
    }
    let name = r.get("eventName")?.as_str()?;
    let s3 = r.get("s3")?;
    let bucket = s3.get("bucket")?.get("name")?.as_str()?.to_string();
    let obj = s3.get("object")?;
    let key = decode_key(obj.get("key")?.as_str()?);
    let sequencer = obj.get("sequencer").and_then(Value::as_str).map(str::to_string);
    if name.starts_with("ObjectCreated:") {
        let size = obj.get("size").and_then(Value::as_u64).unwrap_or(0);
        let etag = obj.get("eTag").and_then(Value::as_str).map(|e| e.trim_matches('"').to_string());
        let time = r.get("eventTime").and_then(Value::as_str).and_then(epoch_secs);
        Some(Change::Created { bucket, key, size, etag, sequencer, time })
    } else if name.starts_with("ObjectRemoved:") {
        Some(Change::Removed { bucket, key, sequencer })
    } else {
        None
    }
}

/// Keys in S3 events are URL-encoded the way HTML forms are: `%XX` escapes and `+` for a space.
pub fn decode_key(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// `2026-11-29T15:40:14.863Z` (moto leaves the `Z` out) → seconds since the epoch.
fn epoch_secs(t: &str) -> Option<i64> {
    let t = t.trim_end_matches('Z');
    let t = t.split('.').next()?;
    humantime::parse_rfc3339(&format!("{t}Z")).ok().and_then(|st| st.duration_since(std::time::UNIX_EPOCH).ok()).map(|d| d.as_secs() as i64)
}

/// True when sequencer `a` is later than `b`. S3 sequencers are hex strings of varying length
/// that compare as numbers once left-padded to the same length.
pub fn later(a: &str, b: &str) -> bool {
    let n = a.len().max(b.len());
    format!("{a:0>n$}") > format!("{b:0>n$}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const PUT: &str = r#"{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1",
        "eventTime":"2026-11-29T15:40:14.863Z","eventName":"ObjectCreated:Put",
        "s3":{"s3SchemaVersion":"1.0","configurationId":"trainctl","bucket":{"name":"bkt","arn":"arn:aws:s3:::bkt"},
        "object":{"key":"runs/run+1/checkpoint-000100/trainer_state.json","size":1234,"eTag":"0123abcd","sequencer":"0055AED6DCD90281E5"}}}]}"#;

    #[test]
    fn a_put_record_is_a_created_change_with_a_decoded_key() {
        let Message::Changes(c) = parse(PUT) else { panic!("not changes") };
        assert_eq!(
            c,
            vec![Change::Created {
                bucket: "bkt".into(),
                key: "runs/run 1/checkpoint-000100/trainer_state.json".into(),
                size: 1234,
                etag: Some("0123abcd".into()),
                sequencer: Some("0055AED6DCD90281E5".into()),
                time: Some(1_795_966_814),
            }]
        );
    }

    #[test]
    fn removals_test_events_sns_envelopes_and_strangers() {
        let del = r#"{"Records":[{"eventSource":"aws:s3","eventName":"ObjectRemoved:Delete","s3":{"bucket":{"name":"bkt"},"object":{"key":"a%2Fb.txt","sequencer":"01"}}}]}"#;
        assert_eq!(parse(del), Message::Changes(vec![Change::Removed { bucket: "bkt".into(), key: "a/b.txt".into(), sequencer: Some("01".into()) }]));
        let test = r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-11-29T15:40:14.847Z","Bucket":"bkt"}"#;
        assert_eq!(parse(test), Message::Test { bucket: "bkt".into() });
        let sns = serde_json::json!({"Type": "Notification", "Message": del}).to_string();
        assert!(matches!(parse(&sns), Message::Changes(c) if c.len() == 1));
        assert!(matches!(parse("hello"), Message::Foreign(_)));
        assert!(matches!(parse(r#"{"foo": 1}"#), Message::Foreign(_)));
        let restore = r#"{"Records":[{"eventSource":"aws:s3","eventName":"ObjectRestore:Completed","s3":{"bucket":{"name":"bkt"},"object":{"key":"k"}}}]}"#;
        assert_eq!(parse(restore), Message::Changes(vec![]));
    }

    #[test]
    fn keys_decode_like_forms_and_bad_escapes_stay() {
        assert_eq!(decode_key("a+b%2Bc%C3%A9"), "a b+cé");
        assert_eq!(decode_key("100%"), "100%");
        assert_eq!(decode_key("x%zz"), "x%zz");
    }

    #[test]
    fn sequencers_compare_as_padded_hex() {
        assert!(later("0055AED6DCD90281E6", "0055AED6DCD90281E5"));
        assert!(later("10", "0F"));
        assert!(later("100", "FF"));
        assert!(!later("01", "01"));
    }
}
