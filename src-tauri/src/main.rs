//! trainctl-desktop: the Tauri shell. Commands are thin adapters over trainctl-core
//! ([`commands`]); one function turns events into IPC events and popups ([`events::dispatch`]).
//!
//! `trainctl-desktop --demo` starts on the embedded demo S3 (no credentials needed).

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod close;
mod commands;
mod commands_review;
mod commands_watch;
mod commands_checkpoints;
mod commands_runs;
mod connection;
mod demo;
mod e2e;
mod events;
mod jobs;
mod startup;
mod state;
mod tray;
mod types;
mod webkit;

use state::AppState;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tauri::{AppHandle, Manager, WindowEvent};

fn main() {
    startup::init();
    messages_locale_for_webkit();
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_env("TRAINCTL_LOG")).with_writer(std::io::stderr).init();
    let demo_flag = std::env::args().skip(1).any(|a| a == "--demo");
    let mut builder = tauri::Builder::default();
    if e2e::download_dir().is_none() {
        builder = builder.plugin(tauri_plugin_single_instance::init(|app, argv, _cwd| {
            tracing::info!("another launch ({argv:?}): showing this window instead");
            tray::show_main(app)
        }));
    }
    startup::mark("builder: plugins registered");
    let builder = builder.plugin(tauri_plugin_notification::init());
    let builder = match e2e::download_dir() {
        Some(_) => builder.plugin(e2e::folder_picker()),
        None => builder.plugin(tauri_plugin_dialog::init()),
    };
    builder
        .plugin(tauri_plugin_window_state::Builder::default().build())
        .manage(AppState::default())
        .invoke_handler(tauri::generate_handler![
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
            commands::upload_paths,
            commands::download_keys,
            commands::delete_plan,
            commands::delete_apply,
            commands::transfer_cancel,
            commands::transfer_retry,
            commands::transfers_list,
            commands::notifications_list,
            commands_review::review_run,
            commands_review::review_cancel,
            commands_review::review_snapshots,
            close::close_keep_in_tray,
            close::close_cancel_and_quit,
            commands_watch::watches_list,
            commands_watch::watch_add,
            commands_watch::watch_pause,
            commands_watch::watch_resume,
            commands_watch::watch_remove,
            commands_checkpoints::checkpoints_discover,
            commands_checkpoints::checkpoints_plan,
            commands_checkpoints::checkpoints_apply,
            commands_checkpoints::checkpoints_pin,
            commands_checkpoints::lifecycle_show,
            commands_checkpoints::lifecycle_plan,
            commands_checkpoints::lifecycle_savings,
            commands_checkpoints::lifecycle_apply,
            commands_runs::runs_list,
            commands_runs::run_metrics,
            startup::startup_trace,
        ])
        .on_page_load(|_webview, payload| startup::mark(&format!("page load {:?}", payload.event())))
        .setup(move |app| {
            startup::mark("setup: window created");
            if let Some(window) = app.get_webview_window("main") {
                webkit::tune(&window);
            }
            let handle = app.handle().clone();
            if let Err(e) = tray::create(&handle) {
                tracing::warn!("no tray icon: {e}");
            }
            startup::mark("setup: tray created");
            if demo_flag {
                handle.state::<AppState>().started_with_demo.store(true, Ordering::SeqCst);
            }
            // Off the main thread: keychain reads, config files and the demo's server must not hold
            // the event loop (the page loads meanwhile; `app_info` waits for `started`).
            tauri::async_runtime::spawn(async move {
                let _done = StartedGuard(handle.clone());
                if demo_flag {
                    if let Err(e) = demo::start(&handle).await {
                        tracing::error!("the demo did not start: {e}");
                    }
                } else {
                    connection::connect_at_start(&handle).await;
                }
                startup::mark("start-up connection done");
                // Saved watches resume on the connection just made (commands_watch.rs).
                commands_watch::restore(&handle);
            });
            startup::mark("setup: done");
            Ok(())
        })
        .on_window_event(|window, event| {
            if let WindowEvent::CloseRequested { api, .. } = event {
                // Transfers running: the UI asks "keep going in the tray, or cancel and quit" (close.rs).
                let active = window.app_handle().state::<AppState>().active_labels();
                if !active.is_empty() {
                    api.prevent_close();
                    return close::ask(window.app_handle(), active);
                }
                // Running watches go on from the tray; the tray's Quit ends them.
                if window.app_handle().try_state::<commands_watch::Watches>().is_some_and(|w| w.any_running()) {
                    api.prevent_close();
                    return tray::hide_main(window.app_handle());
                }
            }
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
        self.0.state::<AppState>().started.send_replace(true);
    }
}

/// Cancels every transfer, waits (up to 15 s) for the engines to stop cleanly, then exits.
pub fn quit_cleanly(app: &AppHandle) {
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        app.state::<AppState>().cancel_all();
        for _ in 0..150 {
            if app.state::<AppState>().active_labels().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        app.exit(0);
    });
}
