//! S3 access: URLs, a connected client built from a profile, listing streams, batch deletes, and
//! the mapping of SDK errors to [`crate::Error`].

pub mod check;
pub mod client;
pub mod delete;
pub mod errors;
pub mod http;
pub mod list;
pub mod network;
pub mod rename;
pub mod share;
pub mod tags;
pub mod url;
pub mod versions;

pub use client::Connection;
pub use network::NetworkPolicy;
pub use url::S3Url;
