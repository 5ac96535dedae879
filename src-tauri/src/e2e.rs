//! TEST-ONLY: a stand-in for the dialog plugin's folder picker, for the desktop e2e suite.
//!
//! The Download button opens a native GTK folder chooser that WebDriver cannot see or drive.
//! When `TRAINCTL_E2E_DOWNLOAD_DIR` is set, the app registers this plugin under the dialog
//! plugin's name instead: `plugin:dialog|open` answers with that folder at once, and the rest
//! (`download_keys`, the transfer, the files) is the real code path. Never set it otherwise.

use tauri::plugin::{Builder, TauriPlugin};
use tauri::Runtime;

/// Env var naming the folder the stand-in picker returns (tests/desktop/README.md).
pub const DOWNLOAD_DIR_ENV: &str = "TRAINCTL_E2E_DOWNLOAD_DIR";

/// The folder to answer with, when the e2e suite asked for the stand-in.
pub fn download_dir() -> Option<String> {
    std::env::var(DOWNLOAD_DIR_ENV).ok().filter(|d| !d.is_empty())
}

#[tauri::command]
fn open() -> Option<String> {
    download_dir()
}

/// The stand-in plugin, named `dialog` so the UI's `open()` call reaches it.
pub fn folder_picker<R: Runtime>() -> TauriPlugin<R> {
    Builder::new("dialog").invoke_handler(tauri::generate_handler![open]).build()
}
