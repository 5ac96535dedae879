//! A connected S3 client built from a [`ResolvedProfile`].

use crate::config::ResolvedProfile;
use crate::error::Result;

/// An S3 client plus the settings it was built from. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Connection {
    pub client: aws_sdk_s3::Client,
    pub profile: ResolvedProfile,
}

impl Connection {
    /// Builds a client: endpoint, region, path-style and checksum mode from the profile;
    /// credentials from the profile's source (AWS chain, AWS profile, or keychain).
    pub async fn open(profile: &ResolvedProfile) -> Result<Connection> {
        let _ = profile;
        todo!("config helper")
    }

    /// The environment a child process (s5cmd) needs to act with these credentials:
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`.
    /// Secrets go through the environment, never argv.
    pub async fn credentials_env(&self) -> Result<Vec<(String, String)>> {
        todo!("config helper")
    }
}
