//! The native folder dialog. Its answer is the only way (besides a drop) a local folder reaches
//! the app: the page gets a grant token for it, never names a path itself.
//!
//! With the `e2e` feature (the desktop e2e suite's build only) and `TRAINCTL_E2E_DOWNLOAD_DIR`
//! set, the dialog answers with that folder at once: a GTK dialog is invisible to WebDriver.
//! Release builds have no such stand-in.

use std::path::PathBuf;
use tauri::AppHandle;

/// Env var naming the folder the e2e stand-in answers with (tests/desktop/README.md).
#[cfg(feature = "e2e")]
pub const E2E_DIR_ENV: &str = "TRAINCTL_E2E_DOWNLOAD_DIR";

/// Asks the user for a folder; `None` when they cancel.
pub async fn pick_folder(app: &AppHandle, title: &str) -> Option<PathBuf> {
    #[cfg(feature = "e2e")]
    if let Some(dir) = std::env::var_os(E2E_DIR_ENV).filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    use tauri_plugin_dialog::DialogExt;
    let (tx, rx) = tokio::sync::oneshot::channel();
    app.dialog().file().set_title(title).pick_folder(move |picked| {
        let _ = tx.send(picked.and_then(|p| p.into_path().ok()));
    });
    rx.await.ok().flatten()
}
