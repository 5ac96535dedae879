//! CLI end-to-end suite: the `trainctl` binary against real S3 servers (moto and Garage),
//! started by trainctl-testkit. Helpers and the `conformance!` macro live in `common`.

#[macro_use]
mod common;

mod checkpoint;
mod lifecycle;
mod cost;
mod cost_run;
mod smoke;
mod transfers;
mod safety;
mod sync;
mod sync_both;
mod sync_both_faults;
mod bad_input;
mod interrupt;
mod profile;
mod review;
mod runs;
mod watch;
mod watch_events;
mod concurrent;
mod objects;
mod frameworks;
mod dataset;
mod dedup;
mod compress;
mod upload_dedup;
mod refs;
mod savings;
mod dataset_zrefs;
mod https;
