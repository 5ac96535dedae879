//! Closing the window while transfers run: the UI asks "keep going in the tray, or cancel the
//! transfers and quit" (or stay). The shell only prevents the close and raises the question.
//!
//! Why an in-app dialog rather than a native message box: it lists what is still running, it looks
//! like the rest of the app, and the e2e suite can see and click it (a GTK message box is invisible
//! to WebDriver, so the old native prompt was switched off under test and never exercised).

use serde::Serialize;
use tauri::{AppHandle, Emitter};

/// Payload of `app://close-requested`: the window was closed while these transfers run.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
pub struct CloseRequest {
    /// Labels of the active transfers (what the dialog lists).
    pub active: Vec<String>,
}

/// IPC event that opens the close dialog (docs/ipc.md).
pub const CLOSE_REQUESTED: &str = "app://close-requested";

/// Brings the window forward and asks the UI; if the question cannot be sent, keep the transfers
/// (hide to the tray) rather than lose them.
pub fn ask(app: &AppHandle, active: Vec<String>) {
    crate::tray::show_main(app);
    if let Err(e) = app.emit(CLOSE_REQUESTED, CloseRequest { active }) {
        tracing::warn!("cannot ask about closing ({e}): keeping the transfers going in the tray");
        crate::tray::hide_main(app);
    }
}

/// "Keep going in the tray": hide the window; transfers continue and the tray shows them.
#[tauri::command(rename_all = "snake_case")]
pub async fn close_keep_in_tray(app: AppHandle) {
    crate::tray::hide_main(&app);
}

/// "Stop transfers and quit": every job stops (objects stay complete or absent) and stays in the
/// queue on disk, offered as interrupted at the next start; then exit.
#[tauri::command(rename_all = "snake_case")]
pub async fn close_cancel_and_quit(app: AppHandle) {
    crate::quit_cleanly(&app);
}
