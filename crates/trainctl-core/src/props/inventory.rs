//! S3 Inventory reports (`review/inventory.rs`): manifests, CSV (plain or gzip) and Parquet data
//! files of any content are read or refused with an `inventory_*` error — never a panic.

use super::{any_bytes, config, hostile_text};
use crate::review::inventory::{parse_iso8601, read_csv, read_parquet, split_csv, url_decode, Manifest};
use proptest::prelude::*;
use std::io::Write;

fn manifest() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        any_bytes(200),
        (hostile_text(4), hostile_text(8), proptest::collection::vec((hostile_text(5), proptest::option::of(any::<u64>())), 0..3), prop_oneof![Just("CSV"), Just("Parquet"), Just("ORC")])
            .prop_map(|(bucket, schema, files, format)| serde_json::json!({
                "sourceBucket": bucket, "destinationBucket": format!("arn:aws:s3:::{bucket}"), "fileFormat": format,
                "fileSchema": schema, "files": files.into_iter().map(|(k, s)| serde_json::json!({"key": k, "size": s, "MD5checksum": "x"})).collect::<Vec<_>>()
            }).to_string().into_bytes()),
    ]
}

fn csv_text() -> impl Strategy<Value = String> {
    let row = (hostile_text(5), prop_oneof![any::<u64>().prop_map(|n| n.to_string()), hostile_text(2)], hostile_text(4), prop_oneof![Just("2024-05-01T12:30:00.000Z".to_string()), hostile_text(5)])
        .prop_map(|(k, s, c, t)| format!("\"b\",\"{k}\",\"{s}\",\"{t}\",\"{c}\""));
    proptest::collection::vec(prop_oneof![row, hostile_text(6)], 0..8).prop_map(|r| r.join("\n"))
}

proptest! {
    #![proptest_config(config(500))]

    #[test]
    fn any_manifest_parses_or_is_an_inventory_manifest_error(bytes in manifest()) {
        match Manifest::parse("m.json", &bytes) {
            Ok(m) => { let _ = (m.destination(), m.csv_columns()); }
            Err(e) => prop_assert_eq!(e.code(), "inventory_manifest"),
        }
    }

    #[test]
    fn any_csv_data_file_is_read_or_refused(text in csv_text(), gzip in any::<bool>()) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.csv.gz");
        let bytes = if gzip {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(text.as_bytes()).unwrap();
            gz.finish().unwrap()
        } else {
            text.clone().into_bytes()
        };
        std::fs::write(&path, bytes).unwrap();
        let columns: Vec<String> = ["bucket", "key", "size", "last_modified_date", "storage_class"].map(String::from).to_vec();
        let mut rows = 0;
        if let Err(e) = read_csv(&path, "data.csv.gz", &columns, &mut |_: crate::review::inventory::Row| rows += 1) {
            prop_assert_eq!(e.code(), "inventory_data");
        }
    }

    #[test]
    fn any_parquet_data_file_is_read_or_refused(mut bytes in any_bytes(400), magic in any::<bool>()) {
        if magic {
            // Past the magic-number check, into the footer parser.
            bytes.splice(0..0, *b"PAR1").for_each(drop);
            bytes.extend_from_slice(&(bytes.len() as u32 / 2).to_le_bytes());
            bytes.extend_from_slice(b"PAR1");
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.parquet");
        std::fs::write(&path, bytes).unwrap();
        if let Err(e) = read_parquet(&path, "data.parquet", &mut |_: crate::review::inventory::Row| {}) {
            prop_assert_eq!(e.code(), "inventory_data");
        }
    }

    #[test]
    fn fields_dates_and_escapes_of_any_text(line in hostile_text(10)) {
        let mut out = Vec::new();
        split_csv(&line, &mut out);
        prop_assert!(!out.is_empty());
        let _ = (url_decode(&line), parse_iso8601(&line));
    }
}
