//! Price tables (`cost/table.rs`, a user's `--prices FILE`): any TOML parses into a valid table
//! or is a `price_table_invalid` error, and a valid table prices any usage without overflow.

use super::{config, hostile_text};
use crate::cost::PriceTable;
use crate::cost::Usage;
use proptest::prelude::*;

/// A price table's TOML with every number drawn from the whole range of its type.
fn table_text() -> impl Strategy<Value = String> {
    let num = || prop_oneof![any::<f64>().prop_map(|f| format!("{f:?}")), Just("nan".to_string()), Just("-inf".to_string()), any::<i64>().prop_map(|n| n.to_string())];
    let unsigned = || prop_oneof![any::<u64>().prop_map(|n| n.to_string()), any::<i64>().prop_map(|n| n.to_string()), Just("0".to_string())];
    (num(), num(), num(), unsigned(), unsigned(), unsigned(), unsigned(), unsigned(), hostile_text(3), any::<bool>()).prop_map(
        |(storage, put, get, bytes_per_gb, min_days, min_object, overhead, overhead_std, class, default_exists)| {
            let default = if default_exists { "STANDARD".to_string() } else { class.replace(['"', '\\', '\n'], "") };
            format!(
                "provider = \"custom\"\nregion = \"*\"\nname = \"t\"\nsource = \"s\"\ndate = \"2026-01-01\"\nbytes_per_gb = {bytes_per_gb}\ndefault_class = \"{default}\"\n\
                 [classes.STANDARD]\nstorage_gb_month = {storage}\nput_per_1000 = {put}\nget_per_1000 = {get}\nmin_days = {min_days}\n\
                 min_object_bytes = {min_object}\noverhead_bytes = {overhead}\noverhead_standard_bytes = {overhead_std}\nsource = \"s\"\ndate = \"d\"\nbasis = \"custom\"\n"
            )
        },
    )
}

proptest! {
    #![proptest_config(config(1500))]

    #[test]
    fn any_table_text_is_a_valid_table_or_a_price_table_invalid_error(text in prop_oneof![table_text(), hostile_text(20)]) {
        match PriceTable::parse("custom.toml", &text) {
            Err(e) => prop_assert_eq!(e.code(), "price_table_invalid"),
            Ok(t) => {
                let usage = [Usage { storage_class: "STANDARD".into(), bytes: u64::MAX, objects: u64::MAX, small_objects: u64::MAX / 2, small_bytes: u64::MAX / 3 },
                             Usage { storage_class: "GLACIER".into(), bytes: 1, objects: 1, small_objects: 1, small_bytes: 1 }];
                let cost = t.monthly_storage_usd(&usage);
                prop_assert!(!cost.is_nan() || t.classes.values().any(|c| c.storage_gb_month == 0.0), "cost {cost}");
                let _ = t.breakdown(&usage);
            }
        }
    }
}
