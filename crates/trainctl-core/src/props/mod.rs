//! Property tests of the parsers that read input trainctl does not control: object keys, listings,
//! metric files, SQS messages, inventory reports, S3 URLs and price tables.
//!
//! Why properties: each of these met real hostile input (a key like `x-1-of-99999999999`, a
//! multi-byte character at byte 4096) that example tests did not think of. Each property says
//! "for any input: no panic, bounded work, and the invariant that makes it safe". Every crasher
//! found is kept as a named regression test next to the code it broke.
//!
//! Bounded by default so they add well under a minute to `cargo test` on 2 cores; run longer
//! with `PROPTEST_CASES=20000 cargo test -p trainctl-core --lib props::` (tests/README.md).

mod checkpoints;
mod cost;
mod inventory;
mod keys;
mod metrics;
mod sqs;
mod urls;

use proptest::prelude::*;

/// `cases` runs per property unless `PROPTEST_CASES` says otherwise; no regression files are
/// written into the source tree (crashers become named tests instead).
pub fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(cases);
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

/// Text biased towards what breaks parsers: separators, dots, quotes, digits, multi-byte
/// characters, NUL and control characters, as well as anything at all.
pub fn hostile_text(max: usize) -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        3 => "[a-z0-9_./=:,-]{0,6}",
        1 => Just("/".to_string()),
        1 => Just("..".to_string()),
        1 => Just("é€😀".to_string()),
        1 => Just("\0\\\r\n\t\"'%{}[]".to_string()),
        1 => "[0-9]{1,25}",
        1 => any::<String>(),
    ];
    proptest::collection::vec(piece, 0..max).prop_map(|v| v.concat())
}

/// Arbitrary bytes, as a file or an object body could hold.
pub fn any_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..max)
}
