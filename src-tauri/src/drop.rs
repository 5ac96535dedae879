//! Files and folders dropped on the window: the shell sees the native drop (the page cannot
//! forge one), grants each path, and tells the page which grants arrived where
//! (`drop://dropped`); the page then asks to upload them by token.

use crate::Shell;
use serde::Serialize;
use std::path::PathBuf;
use tauri::{AppHandle, Emitter, Manager};
use trainctl_core::app::notify::NewNotification;
use trainctl_core::app::{LocalGrant, NotificationLevel};

/// Payload of `drop://dropped`: the grants of what was dropped, and where (physical pixels of
/// the webview, as the drag events report them).
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
pub struct Dropped {
    pub grants: Vec<LocalGrant>,
    pub x: f64,
    pub y: f64,
}

/// Grants what the user dropped and tells the page.
pub fn dropped(app: &AppHandle, paths: &[PathBuf], x: f64, y: f64) {
    let Some(shell) = app.try_state::<Shell>() else { return };
    let mut grants = Vec::new();
    for p in paths {
        match shell.app.grants.grant(p) {
            Ok(g) => grants.push(g),
            Err(e) => shell.app.notify(NewNotification::new(NotificationLevel::Warning, "Not uploaded", format!("{}: {e} — {}", p.display(), e.hint()))),
        }
    }
    if grants.is_empty() {
        return;
    }
    if let Err(e) = app.emit("drop://dropped", Dropped { grants, x, y }) {
        tracing::warn!("cannot emit drop://dropped: {e}");
    }
}
