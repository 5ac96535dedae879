//! Object key → local path (`transfer/safe_path.rs`): for any key, only plain components under
//! the destination, or a refusal.

use super::{config, hostile_text};
use crate::transfer::safe_path::local_path_for_key;
use proptest::prelude::*;
use std::path::{Component, Path};

fn assert_contained(dest: &Path, prefix: &str, key: &str) {
    let Ok(p) = local_path_for_key(dest, prefix, key) else { return };
    let rel = p.strip_prefix(dest).unwrap_or_else(|_| panic!("{key:?} → {p:?} is not under {dest:?}"));
    assert!(rel.components().count() > 0, "{key:?} names the destination itself");
    for c in rel.components() {
        let Component::Normal(name) = c else { panic!("{key:?} → {p:?} has a non-plain component {c:?}") };
        let name = name.to_string_lossy();
        assert!(!name.contains(['/', '\\', '\0']), "{key:?} → component {name:?}");
    }
}

proptest! {
    #![proptest_config(config(2000))]

    #[test]
    fn any_byte_string_key_maps_only_to_plain_components_under_the_destination(bytes in super::any_bytes(80), prefix in prop_oneof![Just(String::new()), Just("runs/".to_string()), Just("runs".to_string())]) {
        let key = format!("{prefix}{}", String::from_utf8_lossy(&bytes));
        assert_contained(Path::new("/dest/dir"), &prefix, &key);
    }

    #[test]
    fn keys_made_of_separators_and_dots_never_escape(key in hostile_text(12), prefix in hostile_text(3)) {
        assert_contained(Path::new("/dest"), &prefix, &key);
        assert_contained(Path::new("/dest"), &prefix, &format!("{prefix}{key}"));
    }
}
