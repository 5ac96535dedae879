//! The pins file's format, `{"pins": ["run1/checkpoint-100/"]}`: read by discovery, written by
//! [`super::pins`] (which discovers first, so the format lives apart from both).

use super::detect::PINS_FILE;
use crate::error::{Error, Result};
use std::collections::BTreeSet;
use std::path::PathBuf;

/// Parses the pins file.
pub fn parse_pins(bytes: &[u8]) -> Result<BTreeSet<String>> {
    #[derive(serde::Deserialize)]
    struct Pins {
        pins: BTreeSet<String>,
    }
    serde_json::from_slice::<Pins>(bytes)
        .map(|p| p.pins)
        .map_err(|e| Error::ConfigCorrupt { path: PathBuf::from(PINS_FILE), reason: e.to_string() })
}

/// The pins file's contents for a set of ids.
pub fn render_pins(pins: &BTreeSet<String>) -> Vec<u8> {
    let mut v = serde_json::to_vec_pretty(&serde_json::json!({ "pins": pins })).unwrap_or_default();
    v.push(b'\n');
    v
}
