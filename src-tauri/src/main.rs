//! trainctl-desktop: the Tauri shell over the core application layer (`trainctl_core::app`).
//! Commands are one call each ([`commands`]); one sink turns what the app reports into IPC
//! events and popups ([`events::ShellHost`]); the rest is the window: tray, close prompt, drops,
//! the folder dialog.
//!
//! `trainctl-desktop --demo` starts on the embedded demo S3 (no credentials needed).

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod close;
mod commands;
mod dialog;
mod drop;
#[cfg(feature = "e2e")]
mod e2e;
mod events;
mod notify;
mod startup;
mod tray;
mod webkit;

use std::sync::Arc;
use std::time::Duration;
use tauri::{AppHandle, DragDropEvent, Manager, WindowEvent};
use trainctl_core::app::App;

/// What the shell holds: the core app, and whether start-up's connection work is done.
pub struct Shell {
    pub app: Arc<App>,
    /// Becomes true once start-up's connection (or demo) and watch restore are done. They run off
    /// the main thread, so the window and the page load meanwhile; `app_info` waits for this.
    started: tokio::sync::watch::Sender<bool>,
}

impl Shell {
    /// Waits until start-up's connection work is done (immediately after that).
    pub async fn wait_started(&self) {
        let mut rx = self.started.subscribe();
        let _ = rx.wait_for(|done| *done).await;
    }
}

fn main() {
    startup::init();
    messages_locale_for_webkit();
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_env("TRAINCTL_LOG")).with_writer(std::io::stderr).init();
    let demo_flag = std::env::args().skip(1).any(|a| a == "--demo");
    // The core's runtime (its worker count, see platform::runtime) instead of Tauri's default;
    // it lives as long as `main`.
    let runtime = trainctl_core::platform::runtime().expect("tokio runtime");
    tauri::async_runtime::set(runtime.handle().clone());
    let mut builder = tauri::Builder::default();
    if cfg!(not(feature = "e2e")) {
        builder = builder.plugin(tauri_plugin_single_instance::init(|app, argv, _cwd| {
            tracing::info!("another launch ({argv:?}): showing this window instead");
            tray::show_main(app)
        }));
    }
    startup::mark("builder: plugins registered");
    builder
        .plugin(tauri_plugin_notification::init())
        .plugin(tauri_plugin_dialog::init())
        .plugin(tauri_plugin_window_state::Builder::default().build())
        .invoke_handler(handler())
        .on_page_load(|_webview, payload| startup::mark(&format!("page load {:?}", payload.event())))
        .setup(move |app| {
            startup::mark("setup: window created");
            if let Some(window) = app.get_webview_window("main") {
                webkit::tune(&window);
            }
            let handle = app.handle().clone();
            #[cfg(feature = "e2e")]
            e2e::allow(&handle);
            let core = App::new(Arc::new(events::ShellHost::new(handle.clone())), watches_file());
            app.manage(Shell { app: core.clone(), started: tokio::sync::watch::channel(false).0 });
            if let Err(e) = tray::create(&handle) {
                tracing::warn!("no tray icon: {e}");
            }
            startup::mark("setup: tray created");
            // Off the main thread: keychain reads, config files and the demo's server must not hold
            // the event loop (the page loads meanwhile; `app_info` waits for `started`).
            tauri::async_runtime::spawn(async move {
                let _done = StartedGuard(handle.clone());
                core.start(demo_flag).await;
                startup::mark("start-up connection done");
            });
            startup::mark("setup: done");
            Ok(())
        })
        .on_window_event(|window, event| match event {
            WindowEvent::CloseRequested { api, .. } => {
                let Some(shell) = window.app_handle().try_state::<Shell>() else { return };
                // Transfers running: the UI asks "keep going in the tray, or cancel and quit".
                let active = shell.app.transfers.active_labels();
                if !active.is_empty() {
                    api.prevent_close();
                    return close::ask(window.app_handle(), active);
                }
                // Running watches go on from the tray; the tray's Quit ends them.
                if shell.app.watches.any_running() || shell.app.syncs.any_running() {
                    api.prevent_close();
                    tray::hide_main(window.app_handle());
                }
            }
            WindowEvent::DragDrop(DragDropEvent::Drop { paths, position }) => drop::dropped(window.app_handle(), paths, position.x, position.y),
            _ => {}
        })
        .build(tauri::generate_context!())
        .inspect(|_| startup::mark("app built"))
        .expect("error while building the trainctl desktop app")
        .run(|_app, event| {
            if let tauri::RunEvent::Ready = event {
                startup::mark("event loop ready");
            }
            if let tauri::RunEvent::Exit = event {
                tracing::info!("exiting");
            }
        });
}

/// The commands the page may call (each also needs its `allow-…` permission in
/// capabilities/default.json; build.rs lists them for the app manifest).
fn handler() -> impl Fn(tauri::ipc::Invoke) -> bool + Send + Sync + 'static {
    tauri::generate_handler![
        commands::app_info,
        commands::demo_start,
        commands::profiles_list,
        commands::profile_save,
        commands::profile_test,
        commands::profile_test_form,
        commands::profile_remove,
        commands::connect,
        commands::buckets_list,
        commands::objects_list,
        commands::folder_insights,
        commands::pick_folder,
        commands::upload_dropped,
        commands::download_keys,
        commands::delete_plan,
        commands::delete_apply,
        commands::rename_plan,
        commands::rename_apply,
        commands::object_details,
        commands::object_tags_set,
        commands::object_metadata_set,
        commands::share_link,
        commands::object_versions,
        commands::version_restore_plan,
        commands::version_restore_apply,
        commands::transfer_cancel,
        commands::transfer_retry,
        commands::transfers_list,
        commands::notifications_list,
        commands::review_run,
        commands::review_cancel,
        commands::dedup_plan,
        commands::dedup_apply,
        commands::review_snapshots,
        commands::sync_pairs_list,
        commands::sync_pair_add,
        commands::sync_pair_remove,
        commands::sync_run,
        commands::sync_confirm,
        commands::sync_resolve,
        commands::sync_set_continuous,
        commands::watches_list,
        commands::watch_add,
        commands::watch_pause,
        commands::watch_resume,
        commands::watch_remove,
        commands::checkpoints_discover,
        commands::checkpoints_plan,
        commands::checkpoints_apply,
        commands::checkpoints_pin,
        commands::lifecycle_show,
        commands::lifecycle_plan,
        commands::lifecycle_savings,
        commands::lifecycle_apply,
        commands::runs_list,
        commands::run_metrics,
        commands::datasets_list,
        commands::dataset_show,
        commands::dataset_diff,
        commands::dataset_verify,
        commands::dataset_stage,
        close::close_keep_in_tray,
        close::close_cancel_and_quit,
        startup::startup_trace,
        #[cfg(feature = "e2e")]
        e2e::e2e_drop,
    ]
}

/// `$XDG_CONFIG_HOME/trainctl/watches.json`, next to the config file.
fn watches_file() -> Option<std::path::PathBuf> {
    trainctl_core::config::file::config_path().ok().map(|c| c.with_file_name("watches.json"))
}

/// Under the POSIX locale (LANG unset, `C` or `C.UTF-8`, as in CI and minimal containers)
/// WebKitGTK reports `navigator.language` as `"C"`, which is not a BCP 47 tag: every
/// `Intl.NumberFormat(navigator.language)` throws `RangeError: invalid language tag: C`, and one
/// at import time (uPlot's) stopped the whole UI from loading (a blank window). GLib ignores
/// `LANGUAGE` under the C locale, so the messages category is set to `en_US.UTF-8` instead; it
/// only names the UI language (the locale need not be installed; numbers and dates elsewhere keep C).
fn messages_locale_for_webkit() {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let is_posix = |v: &str| matches!(v.split(['.', '@']).next(), Some("C" | "POSIX"));
    let effective = var("LC_ALL").or_else(|| var("LC_MESSAGES")).or_else(|| var("LANG"));
    if effective.as_deref().is_none_or(is_posix) {
        let key = if var("LC_ALL").is_some() { "LC_ALL" } else { "LC_MESSAGES" };
        // Before any thread exists (first line of main), so changing the environment is sound.
        std::env::set_var(key, "en_US.UTF-8");
    }
}

/// Marks start-up's connection work done when dropped, so a panic there cannot leave `app_info`
/// (and with it the whole UI) waiting forever.
struct StartedGuard(AppHandle);

impl Drop for StartedGuard {
    fn drop(&mut self) {
        if let Some(shell) = self.0.try_state::<Shell>() {
            shell.started.send_replace(true);
        }
    }
}

/// Cancels every transfer, waits (up to 15 s) for the engines to stop cleanly, then exits.
pub fn quit_cleanly(app: &AppHandle) {
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        if let Some(shell) = app.try_state::<Shell>() {
            shell.app.transfers.stop_for_quit();
            for _ in 0..150 {
                if shell.app.transfers.active_labels().is_empty() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        app.exit(0);
    });
}

/// Writes or checks `ui/src/lib/generated/` for the shell's own IPC types (`make bindings`).
#[cfg(all(test, feature = "ts"))]
mod ts_bindings {
    #[test]
    fn ts_bindings() {
        use ts_rs::TS;
        let roots: Vec<trainctl_core::ts_bindings::Exporter> = vec![crate::drop::Dropped::export_all, crate::close::CloseRequest::export_all];
        if let Err(stale) = trainctl_core::ts_bindings::write_or_check(&roots) {
            panic!("{stale}");
        }
    }
}
