//! trainctl-core: every behaviour of trainctl lives here, so the CLI and the desktop app are thin
//! adapters over one tested library. Nothing in this crate prints, draws or knows about a window:
//! long work reports [`event::Event`]s through a [`event::Sink`] and fails with [`error::Error`].

pub mod app;
pub mod checkpoint;
pub mod codec;
pub mod config;
pub mod cost;
pub mod dataset;
pub mod demo;
pub mod error;
pub mod event;
pub mod lifecycle;
pub mod platform;
pub mod limits;
pub mod refs;
pub mod review;
pub mod runs;
pub mod s3;
pub mod sync;
pub mod transfer;
pub mod units;
pub mod watch;
#[cfg(test)]
mod props;
#[cfg(feature = "ts")]
pub mod ts_bindings;

pub use error::{Error, Result};
pub use event::{Event, Sink};
