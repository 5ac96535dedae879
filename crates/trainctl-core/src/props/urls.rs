//! `s3://` URL parsing (`s3/url.rs`): any string parses or is a `bad_url` error, and a parsed URL
//! prints back to itself.

use super::{config, hostile_text};
use crate::s3::S3Url;
use proptest::prelude::*;

proptest! {
    #![proptest_config(config(3000))]

    #[test]
    fn any_string_is_a_url_or_a_bad_url_error(s in prop_oneof![hostile_text(10), hostile_text(10).prop_map(|s| format!("s3://{s}"))]) {
        match S3Url::parse_any(&s) {
            Ok(Some(u)) => {
                prop_assert!(!u.bucket.is_empty() && u.key.len() <= 1024 && !u.key.contains('\0'));
                prop_assert_eq!(S3Url::parse(&u.to_string()).unwrap(), u.clone());
                prop_assert!(u.dir_prefix().is_empty() || u.dir_prefix().ends_with('/'));
            }
            Ok(None) => prop_assert!(s.eq_ignore_ascii_case("s3://")),
            Err(e) => prop_assert_eq!(e.code(), "bad_url"),
        }
    }
}
