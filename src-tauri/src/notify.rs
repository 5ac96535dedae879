//! Native popups, one small module per platform family (a macOS or Windows port changes only the
//! non-Linux half). The words were chosen by the core (`trainctl_core::app::notify`).

use tauri::AppHandle;
use trainctl_core::app::AppNotification;

/// Linux: the popup carries a default action (a click on it in most daemons), which brings the
/// window up and opens what the notification is about (`notification://activated`; the UI
/// routes a link to its run, a job to Transfers). notify-rust directly, because the
/// notification plugin drops the handle and with it the click. Blocks until the popup closes.
#[cfg(target_os = "linux")]
pub fn show(app: &AppHandle, n: &AppNotification) {
    use tauri::Emitter;
    let mut note = notify_rust::Notification::new();
    note.appname("trainctl").summary(&n.title).body(&n.body).action("default", "Open");
    match note.show() {
        Ok(handle) => handle.wait_for_action(|action| {
            if action == "default" {
                crate::tray::show_main(app);
                if let Err(e) = app.emit("notification://activated", n) {
                    tracing::warn!("cannot emit notification://activated: {e}");
                }
            }
        }),
        Err(e) => tracing::warn!("native notification failed: {e}"),
    }
}

#[cfg(not(target_os = "linux"))]
pub fn show(app: &AppHandle, n: &AppNotification) {
    use tauri_plugin_notification::NotificationExt;
    if let Err(e) = app.notification().builder().title(&n.title).body(&n.body).show() {
        tracing::warn!("native notification failed: {e}");
    }
}
