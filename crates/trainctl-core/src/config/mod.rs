//! Profiles and credentials.
//!
//! A *profile* says how to reach a store: endpoint, region, addressing style, checksum mode, and
//! where the credentials come from (the AWS chain, a named AWS profile, or the OS keychain).
//! trainctl profiles live in `$XDG_CONFIG_HOME/trainctl/config.toml` and never hold a secret.
//! Provider quirks (path-style, checksum `WhenRequired` for non-AWS stores) are data in
//! `data/quirks/providers.toml`, applied by [`quirks`].

pub mod aws_files;
pub mod file;
pub mod keychain;
pub mod model;
pub mod profile;
pub mod quirks;
pub mod state;

pub use profile::{CredentialSource, Overrides, Profile, ResolvedProfile};
