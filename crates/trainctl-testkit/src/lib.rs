//! Test-only kit for trainctl: real S3 servers on free loopback ports, a fault/latency TCP proxy,
//! and deterministic file trees.
//!
//! Why it exists: every suite (core, CLI, benchmarks) must talk to a *real* S3 implementation
//! and must be able to provoke the network failures users hit, without each test re-inventing
//! process management, ports, buckets or byte comparison.
//!
//! ```no_run
//! let server = trainctl_testkit::shared_moto();
//! let bucket = server.new_bucket("roundtrip");
//! server.put_object(&bucket, "a/b.bin", b"hello".to_vec());
//! assert_eq!(server.list_keys(&bucket, "a/"), vec!["a/b.bin".to_string()]);
//! ```

mod garage;
mod iam_moto;
mod moto;
mod process;
mod runtime;
mod server;
mod shared;

pub mod inventory;
pub mod proxy;
pub mod tools;
pub mod tree;

pub use garage::start_garage;
pub use moto::start_moto;
pub use iam_moto::{start_moto_with_policy, PolicyMoto, DENY_HIDDEN_LISTINGS_POLICY};
pub use process::{free_port, interrupt};
pub use proxy::{FaultProxy, HttpAction, HttpFault};
pub use server::{Kind, PendingUpload, S3Server};
pub use shared::{allow_skip, shared_garage, shared_garage_or_skip, shared_moto};
pub use tree::{assert_trees_equal, pattern_bytes, random_file, tree_digest, write_tree};
