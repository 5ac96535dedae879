//! Listing: streaming ListObjectsV2 pages as [`ObjectEntry`] values (never a Vec of a whole bucket
//! unless the caller collects one), and bucket listing.

use serde::Serialize;

/// One object (or, with a delimiter, one common prefix) from a listing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ObjectEntry {
    pub key: String,
    pub size: u64,
    /// Seconds since the Unix epoch.
    pub last_modified: Option<i64>,
    pub etag: Option<String>,
    pub storage_class: Option<String>,
    /// True for a common prefix ("directory") returned when listing with a delimiter.
    pub is_prefix: bool,
}
