//! The tray icon: a tooltip and a menu line that show the active transfers, plus Show / Quit.
//! With transfers running, closing the window can leave the app here (see `main.rs`).

use crate::Shell;
use tauri::menu::{Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Manager, Wry};

const TRAY_ID: &str = "main";

/// The menu line that lists active transfers, kept to update it.
struct TrayStatus(MenuItem<Wry>);

/// Creates the tray icon. A desktop without a tray host just shows nothing.
pub fn create(app: &AppHandle) -> tauri::Result<()> {
    let status = MenuItem::with_id(app, "status", "No active transfers", false, None::<&str>)?;
    let show = MenuItem::with_id(app, "show", "Show trainctl", true, None::<&str>)?;
    let quit = MenuItem::with_id(app, "quit", "Quit", true, None::<&str>)?;
    let menu = Menu::with_items(app, &[&status, &PredefinedMenuItem::separator(app)?, &show, &quit])?;
    let mut builder = TrayIconBuilder::with_id(TRAY_ID).tooltip("trainctl").menu(&menu).on_menu_event(|app, e| match e.id().as_ref() {
        "show" => show_main(app),
        "quit" => crate::quit_cleanly(app),
        _ => {}
    });
    if let Some(icon) = app.default_window_icon() {
        builder = builder.icon(icon.clone());
    }
    builder.build(app)?;
    app.manage(TrayStatus(status));
    Ok(())
}

/// Brings the main window back (tray Show, a second launch).
pub fn show_main(app: &AppHandle) {
    if let Some(w) = app.get_webview_window("main") {
        let _ = w.show();
        let _ = w.unminimize();
        let _ = w.set_focus();
    }
}

/// Hides the main window; transfers go on and the tray stays.
pub fn hide_main(app: &AppHandle) {
    if let Some(w) = app.get_webview_window("main") {
        let _ = w.hide();
    }
}

/// Updates the tooltip and the status line from the current jobs.
pub fn refresh(app: &AppHandle) {
    let Some(shell) = app.try_state::<Shell>() else { return };
    let active = shell.app.transfers.active_labels();
    let text = match active.as_slice() {
        [] => "No active transfers".to_string(),
        [one] => format!("Transferring {one}"),
        many => format!("{} transfers running", many.len()),
    };
    if let Some(s) = app.try_state::<TrayStatus>() {
        let _ = s.0.set_text(&text);
    }
    if let Some(t) = app.tray_by_id(TRAY_ID) {
        let _ = t.set_tooltip(Some(format!("trainctl — {text}")));
    }
}
