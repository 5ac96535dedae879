//! TEST-ONLY (cargo feature `e2e`, built by tests/desktop/run.sh; absent from release builds):
//! what WebDriver cannot do itself. `e2e_drop` drops paths on the window exactly as the native
//! drop handler does (grants, then `drop://dropped`); the folder dialog's stand-in is in
//! `dialog.rs`. The commands are allowed by a capability added at start-up in this build only.

use tauri::{AppHandle, Manager};

/// The capability that allows the test-only commands (added at runtime, e2e builds only).
const CAPABILITY: &str = r#"{
  "identifier": "e2e",
  "description": "Test-only commands of the desktop e2e suite (feature e2e).",
  "windows": ["main"],
  "permissions": ["allow-e2e-drop"]
}"#;

pub fn allow(app: &AppHandle) {
    if let Err(e) = app.add_capability(CAPABILITY) {
        tracing::error!("e2e capability not added: {e}");
    }
}

/// Drops `paths` on the window at (`x`, `y`) physical pixels.
#[tauri::command(rename_all = "snake_case")]
pub async fn e2e_drop(app: AppHandle, paths: Vec<String>, x: f64, y: f64) {
    let paths: Vec<std::path::PathBuf> = paths.into_iter().map(Into::into).collect();
    crate::drop::dropped(&app, &paths, x, y);
}
