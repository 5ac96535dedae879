//! `S3Server`: one running S3 implementation and the credentials to reach it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;

use crate::process::ChildGuard;
use crate::runtime::run;

/// Which S3 implementation a server is; tests use it to tolerate documented differences.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `moto_server`: in-memory, permissive, fast to start.
    Moto,
    /// Garage 2.x single node: a real storage engine with real S3 strictness.
    Garage,
}

impl Kind {
    /// Lower-case name, used in bucket names and test output.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Moto => "moto",
            Kind::Garage => "garage",
        }
    }
}

/// A real S3 server started by the kit on a free loopback port.
///
/// Why: tests must run against real S3 semantics (multipart, listing, errors), on ports that do
/// not collide, and leave no process behind. Dropping it kills the server and removes its data;
/// the kernel kills it too if the test process dies.
pub struct S3Server {
    kind: Kind,
    addr: SocketAddr,
    region: String,
    access_key: String,
    secret_key: String,
    client: Client,
    // Field order matters: the child is killed before its data directory is removed.
    _child: ChildGuard,
    dir: tempfile::TempDir,
}

impl std::fmt::Debug for S3Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Server")
            .field("kind", &self.kind)
            .field("endpoint", &self.endpoint_url())
            .field("dir", &self.dir.path())
            .finish()
    }
}

/// What a backend starter hands over once its server answers S3 requests.
pub(crate) struct Started {
    pub kind: Kind,
    pub addr: SocketAddr,
    pub region: String,
    pub access_key: String,
    pub secret_key: String,
    pub child: ChildGuard,
    pub dir: tempfile::TempDir,
}

impl S3Server {
    pub(crate) fn from_started(s: Started) -> Self {
        let endpoint = format!("http://{}", s.addr);
        let client = build_client(&endpoint, &s.region, &s.access_key, &s.secret_key);
        S3Server {
            kind: s.kind,
            addr: s.addr,
            region: s.region,
            access_key: s.access_key,
            secret_key: s.secret_key,
            client,
            _child: s.child,
            dir: s.dir,
        }
    }

    /// Kills the server and deletes its data now; used by the exit hook of shared servers.
    pub(crate) fn shut_down_in_place(&self) {
        self._child.kill_now();
        let _ = std::fs::remove_dir_all(self.dir.path());
    }

    /// Which implementation this is.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// `http://127.0.0.1:PORT`, what `--endpoint-url` / `AWS_ENDPOINT_URL` take.
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The loopback address, e.g. to put a `FaultProxy` in front of the server.
    pub fn socket_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The region the server expects in signatures (`us-east-1` for moto, `garage` for Garage).
    pub fn region(&self) -> &str {
        &self.region
    }

    /// Access key id with permission to create buckets.
    pub fn access_key(&self) -> &str {
        &self.access_key
    }

    /// Secret matching `access_key()`.
    pub fn secret_key(&self) -> &str {
        &self.secret_key
    }

    /// The environment a `trainctl` (or `s5cmd`, `aws`) child needs to reach this server.
    pub fn env(&self) -> Vec<(String, String)> {
        self.env_with_endpoint(&self.endpoint_url())
    }

    /// Like `env()` but pointing at another endpoint, e.g. a `FaultProxy` in front of it.
    pub fn env_with_endpoint(&self, endpoint_url: &str) -> Vec<(String, String)> {
        [
            ("AWS_ACCESS_KEY_ID", self.access_key.as_str()),
            ("AWS_SECRET_ACCESS_KEY", self.secret_key.as_str()),
            ("AWS_REGION", self.region.as_str()),
            ("AWS_DEFAULT_REGION", self.region.as_str()),
            ("AWS_ENDPOINT_URL", endpoint_url),
            // Never let an SDK probe the instance metadata address from a test.
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    /// A fresh SDK client for assertions in async tests (path-style, checksums when required).
    ///
    /// A new client per call, so its connections belong to the caller's runtime.
    pub fn client(&self) -> Client {
        self.client_for(&self.endpoint_url())
    }

    /// A client for another endpoint with this server's credentials (e.g. through a proxy).
    pub fn client_for(&self, endpoint_url: &str) -> Client {
        build_client(endpoint_url, &self.region, &self.access_key, &self.secret_key)
    }

    /// Creates a bucket no other test uses and returns its name.
    ///
    /// Why: tests share one server per process and run in parallel; a bucket each keeps
    /// their listings and deletions apart.
    pub fn new_bucket(&self, hint: &str) -> String {
        let name = unique_bucket_name(self.kind, hint);
        let (client, bucket) = (self.client.clone(), name.clone());
        run(async move { client.create_bucket().bucket(bucket).send().await })
            .unwrap_or_else(|e| panic!("create bucket {name} on {:?}: {}", self.kind, fmt_err(&e)));
        name
    }

    /// Uploads `body` to `bucket/key` with a single PUT.
    pub fn put_object(&self, bucket: &str, key: &str, body: impl Into<Vec<u8>>) {
        let (client, b, k, body) = (self.client.clone(), bucket.to_string(), key.to_string(), body.into());
        run(async move {
            client.put_object().bucket(b).key(k).body(ByteStream::from(body)).send().await
        })
        .unwrap_or_else(|e| panic!("put s3://{bucket}/{key}: {}", fmt_err(&e)));
    }

    /// Deletes `bucket/key` (a missing key is not an error, as in S3).
    pub fn delete_object(&self, bucket: &str, key: &str) {
        let (client, b, k) = (self.client.clone(), bucket.to_string(), key.to_string());
        run(async move { client.delete_object().bucket(b).key(k).send().await })
            .unwrap_or_else(|e| panic!("delete s3://{bucket}/{key}: {}", fmt_err(&e)));
    }

    /// Downloads `bucket/key` whole; panics if it does not exist.
    pub fn get_object(&self, bucket: &str, key: &str) -> Vec<u8> {
        self.try_get_object(bucket, key)
            .unwrap_or_else(|e| panic!("get s3://{bucket}/{key}: {e}"))
    }

    /// Downloads `bucket/key` whole, or says why not (e.g. to assert that it is absent).
    pub fn try_get_object(&self, bucket: &str, key: &str) -> Result<Vec<u8>, String> {
        let (client, b, k) = (self.client.clone(), bucket.to_string(), key.to_string());
        run(async move {
            let out = client.get_object().bucket(b).key(k).send().await.map_err(|e| fmt_err(&e))?;
            let data = out.body.collect().await.map_err(|e| e.to_string())?;
            Ok(data.into_bytes().to_vec())
        })
    }

    /// All keys under `prefix`, in listing order (follows continuation tokens).
    pub fn list_keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        self.list_objects(bucket, prefix).into_iter().map(|(k, _)| k).collect()
    }

    /// All `(key, size)` under `prefix`, in listing order.
    pub fn list_objects(&self, bucket: &str, prefix: &str) -> Vec<(String, u64)> {
        let (client, b, p) = (self.client.clone(), bucket.to_string(), prefix.to_string());
        run(async move {
            let mut pages = client.list_objects_v2().bucket(b).prefix(p).into_paginator().send();
            let mut out = Vec::new();
            while let Some(page) = pages.next().await {
                for o in page.map_err(|e| fmt_err(&e))?.contents() {
                    out.push((o.key().unwrap_or_default().to_string(), o.size().unwrap_or(0) as u64));
                }
            }
            Ok::<_, String>(out)
        })
        .unwrap_or_else(|e| panic!("list s3://{bucket}/{prefix}: {e}"))
    }

    /// Starts a multipart upload of `bucket/key` and sends one part of `part` bytes, leaving it
    /// in flight (invisible to listings). Finish it with [`S3Server::complete_multipart_upload`].
    ///
    /// Why: `aws s3 sync` and s5cmd can make a checkpoint's marker visible while a big shard is
    /// still such an upload; checkpoint tests recreate that state.
    pub fn start_multipart_upload(&self, bucket: &str, key: &str, part: Vec<u8>) -> PendingUpload {
        let (client, b, k) = (self.client.clone(), bucket.to_string(), key.to_string());
        let (upload_id, part_etag) = run(async move {
            let up = client.create_multipart_upload().bucket(&b).key(&k).send().await.map_err(|e| fmt_err(&e))?;
            let id = up.upload_id().unwrap_or_default().to_string();
            let sent = client.upload_part().bucket(&b).key(&k).upload_id(&id).part_number(1).body(part.into()).send().await.map_err(|e| fmt_err(&e))?;
            Ok::<_, String>((id, sent.e_tag().unwrap_or_default().to_string()))
        })
        .unwrap_or_else(|e| panic!("start multipart upload of s3://{bucket}/{key}: {e}"));
        PendingUpload { bucket: bucket.to_string(), key: key.to_string(), upload_id, part_etag }
    }

    /// Completes an upload started by [`S3Server::start_multipart_upload`] (its one part; the
    /// ETag is remembered because moto's ListParts answer is not readable by the SDK). moto 5.2
    /// also names its CompleteMultipartUpload answer's root wrongly: the upload counts as done
    /// when the object is there afterwards.
    pub fn complete_multipart_upload(&self, up: &PendingUpload) {
        use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
        let (client, up2) = (self.client.clone(), up.clone());
        run(async move {
            let part = CompletedPart::builder().part_number(1).e_tag(&up2.part_etag).build();
            let upload = CompletedMultipartUpload::builder().parts(part).build();
            let done = client.complete_multipart_upload().bucket(&up2.bucket).key(&up2.key).upload_id(&up2.upload_id).multipart_upload(upload).send().await;
            match done {
                Ok(_) => Ok(()),
                Err(e) => match client.head_object().bucket(&up2.bucket).key(&up2.key).send().await {
                    Ok(_) => Ok(()),
                    Err(_) => Err(fmt_err(&e)),
                },
            }
        })
        .unwrap_or_else(|e| panic!("complete multipart upload of s3://{}/{}: {e}", up.bucket, up.key))
    }

    /// `(key, upload_id)` of multipart uploads not yet completed nor aborted.
    ///
    /// Why: an interrupted upload must leave no visible object; resume tests look here.
    pub fn list_multipart_uploads(&self, bucket: &str) -> Vec<(String, String)> {
        let (client, b) = (self.client.clone(), bucket.to_string());
        run(async move { client.list_multipart_uploads().bucket(b).send().await })
            .unwrap_or_else(|e| panic!("list multipart uploads of {bucket}: {}", fmt_err(&e)))
            .uploads()
            .iter()
            .map(|u| {
                let key = u.key().unwrap_or_default().to_string();
                (key, u.upload_id().unwrap_or_default().to_string())
            })
            .collect()
    }
}

/// A multipart upload left in flight by [`S3Server::start_multipart_upload`].
#[derive(Debug, Clone)]
pub struct PendingUpload {
    pub bucket: String,
    pub key: String,
    pub upload_id: String,
    pub part_etag: String,
}

/// The SDK client every part of the kit uses: path-style, checksums only when required.
fn build_client(endpoint: &str, region: &str, access: &str, secret: &str) -> Client {
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(access, secret, None, None, "trainctl-testkit"))
        .force_path_style(true)
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
        .build();
    Client::from_conf(conf)
}

/// `tk-<kind>-<hint>-<pid>-<n>`: valid S3 bucket name, unique within and across processes.
fn unique_bucket_name(kind: Kind, hint: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut clean = String::new();
    for c in hint.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }) {
        if !(c == '-' && (clean.is_empty() || clean.ends_with('-'))) && clean.len() < 30 {
            clean.push(c);
        }
    }
    let clean = clean.trim_end_matches('-');
    let clean = if clean.is_empty() { "b" } else { clean };
    format!("tk-{}-{}-{}-{}", kind.name(), clean, std::process::id(), n)
}

/// Error text with the service's code and message, not just "service error".
pub(crate) fn fmt_err<E: std::error::Error>(e: &E) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names_are_valid_and_unique() {
        let a = unique_bucket_name(Kind::Moto, "Hello World_!! with a very long hint indeed ok");
        let b = unique_bucket_name(Kind::Moto, "Hello World_!! with a very long hint indeed ok");
        assert_ne!(a, b);
        for n in [a, b] {
            assert!(n.len() <= 63, "{n}");
            assert!(n.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'), "{n}");
            assert!(!n.contains("--") && !n.ends_with('-'), "{n}");
        }
    }
}
