//! S3 event notification messages off SQS (`watch/events.rs`): any body is changes, a test
//! event or foreign — never a panic; keys decode to at most their encoded length.

use super::{config, hostile_text};
use crate::watch::events::{decode_key, later, parse, Message};
use proptest::prelude::*;
use serde_json::{json, Value};

/// JSON values shaped like (and often broken like) S3 event records.
fn record() -> impl Strategy<Value = Value> {
    let text = || prop_oneof![hostile_text(6).prop_map(Value::from), any::<i64>().prop_map(Value::from), any::<f64>().prop_map(|f| json!(f)), Just(Value::Null)];
    (text(), text(), text(), text(), text(), text(), prop_oneof![Just("ObjectCreated:Put"), Just("ObjectRemoved:Delete"), Just("x")]).prop_map(|(src, bucket, key, size, etag, time, name)| {
        json!({"eventSource": src, "eventName": name, "eventTime": time,
               "s3": {"bucket": {"name": bucket}, "object": {"key": key, "size": size, "eTag": etag, "sequencer": key}}})
    })
}

proptest! {
    #![proptest_config(config(2000))]

    #[test]
    fn any_message_body_parses_without_panicking(body in prop_oneof![hostile_text(20), proptest::collection::vec(record(), 0..4).prop_map(|r| json!({"Records": r}).to_string())]) {
        if let Message::Changes(changes) = parse(&body) {
            for c in changes {
                prop_assert!(!c.key().is_empty() || body.contains("\"key\":\"\""));
            }
        }
        let envelope = json!({"Type": "Notification", "Message": body}).to_string();
        let _ = parse(&envelope);
    }

    #[test]
    fn keys_decode_without_growing_and_sequencers_compare_totally(raw in hostile_text(12), a in "[0-9A-F]{0,20}", b in "[0-9A-F]{0,20}") {
        prop_assert!(decode_key(&raw).chars().count() <= raw.len());
        prop_assert!(!(later(&a, &b) && later(&b, &a)));
    }
}
