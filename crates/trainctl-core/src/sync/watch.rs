//! Continuous sync (`--watch`, the desktop's continuous toggle): a pass, then another when the
//! folder changes (file-system events through `notify`, debounced so a checkpoint being
//! written is one pass, not hundreds) or when the poll interval comes for the remote side (a
//! no-change pass is one listing and no HEAD, so polling stays cheap).
//!
//! A failed pass (the endpoint down, the delete guard) is reported and retried at the next
//! trigger; the loop ends only when cancelled.

use super::{pass, run as run_pass, Pair, PassReport, SyncOptions};
use crate::error::{Error, Result};
use crate::event::{Event, Sink};
use crate::s3::Connection;
use notify::Watcher;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Quiet time after the last local event before a pass starts.
pub const DEBOUNCE: Duration = Duration::from_secs(2);

/// Runs passes until `cancel`; `on_pass` gets each pass's result.
pub async fn run(conn: &Connection, pair: &Pair, opts: &SyncOptions, interval: Duration, sink: &dyn Sink, cancel: &CancellationToken, on_pass: &(dyn Fn(Result<PassReport>) + Sync)) -> Result<()> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let state_dir = pair.state_dir();
    let mut watcher = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
        // Our own temp files and state are not changes worth a pass.
        if let Ok(ev) = ev {
            let ours = ev.paths.iter().all(|p| p.starts_with(&state_dir) || p.file_name().is_some_and(|n| n.to_string_lossy().ends_with(crate::transfer::local_write::TEMP_SUFFIX)));
            if !ours && !matches!(ev.kind, notify::EventKind::Access(_)) {
                let _ = tx.send(());
            }
        }
    })
    .map_err(|e| Error::Internal(format!("cannot watch {}: {e}", pair.local.display())))?;
    watcher.watch(&pair.local, notify::RecursiveMode::Recursive).map_err(|e| Error::Internal(format!("cannot watch {}: {e}", pair.local.display())))?;
    sink.send(Event::Notice { message: format!("watching {} (local changes, and S3 every {:.0}s)", pair.describe(), interval.as_secs_f64()) });
    let mut first = true;
    loop {
        let opts_now = if first { opts.clone() } else { SyncOptions { resync: false, ..opts.clone() } };
        first = false;
        on_pass(run_pass(conn, pair, &opts_now, sink, cancel).await);
        // Drain what our own pass caused, then wait for the next trigger.
        while rx.try_recv().is_ok() {}
        tokio::select! {
            _ = cancel.cancelled() => return Ok(()),
            _ = tokio::time::sleep(interval) => {}
            Some(()) = rx.recv() => debounce(&mut rx, cancel).await,
        }
        if cancel.is_cancelled() {
            return Ok(());
        }
    }
}

/// Waits until no local event came for [`DEBOUNCE`].
async fn debounce(rx: &mut tokio::sync::mpsc::UnboundedReceiver<()>, cancel: &CancellationToken) {
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(DEBOUNCE) => return,
            Some(()) = rx.recv() => continue,
        }
    }
}

/// Whether the pair needs a pass, without changing anything (a dry run): the desktop's
/// "pending changes per side".
pub async fn pending(conn: &Connection, pair: &Pair, opts: &SyncOptions, sink: &dyn Sink) -> Result<PassReport> {
    pass(conn, pair, &SyncOptions { dry_run: true, ..opts.clone() }, sink, &CancellationToken::new()).await
}
