//! trainctl-desktop: the Tauri shell. Commands are thin adapters over trainctl-core
//! ([`commands`]); one function turns events into IPC events and popups ([`events::dispatch`]).
//!
//! `trainctl-desktop --demo` starts on the embedded demo S3 (no credentials needed).

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod commands;
mod connection;
mod demo;
mod e2e;
mod events;
mod jobs;
mod state;
mod tray;
mod types;

use state::AppState;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tauri::{AppHandle, Manager, WindowEvent};
use tauri_plugin_dialog::{DialogExt, MessageDialogButtons};

fn main() {
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_env("TRAINCTL_LOG")).with_writer(std::io::stderr).init();
    let demo_flag = std::env::args().skip(1).any(|a| a == "--demo");
    let mut builder = tauri::Builder::default();
    if e2e::download_dir().is_none() {
        builder = builder.plugin(tauri_plugin_single_instance::init(|app, argv, _cwd| {
            tracing::info!("another launch ({argv:?}): showing this window instead");
            tray::show_main(app)
        }));
    }
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
        ])
        .setup(move |app| {
            let handle = app.handle().clone();
            if let Err(e) = tray::create(&handle) {
                tracing::warn!("no tray icon: {e}");
            }
            if demo_flag {
                handle.state::<AppState>().started_with_demo.store(true, Ordering::SeqCst);
                if let Err(e) = tauri::async_runtime::block_on(demo::start(&handle)) {
                    tracing::error!("the demo did not start: {e}");
                }
            } else {
                tauri::async_runtime::block_on(connection::connect_at_start(&handle));
            }
            Ok(())
        })
        .on_window_event(|window, event| {
            if let WindowEvent::CloseRequested { api, .. } = event {
                let active = window.app_handle().state::<AppState>().active_labels();
                if !active.is_empty() {
                    api.prevent_close();
                    ask_keep_or_cancel(window.app_handle(), active.len());
                }
            }
        })
        .build(tauri::generate_context!())
        .expect("error while building the trainctl desktop app")
        .run(|_app, event| {
            if let tauri::RunEvent::Exit = event {
                tracing::info!("exiting");
            }
        });
}

/// Closing the window with transfers running: keep going in the tray, or cancel and quit.
fn ask_keep_or_cancel(app: &AppHandle, n: usize) {
    if app.try_state::<tauri_plugin_dialog::Dialog<tauri::Wry>>().is_none() {
        // Only under the e2e folder-picker stand-in: no dialogs, keep going in the tray.
        return tray::hide_main(app);
    }
    let app2 = app.clone();
    app.dialog()
        .message(format!("{n} transfer(s) are still running. Keep them going in the tray, or cancel them and quit? Cancelled transfers leave every object complete or absent."))
        .title("Transfers in progress")
        .buttons(MessageDialogButtons::OkCancelCustom("Keep going in the tray".into(), "Cancel transfers and quit".into()))
        .show(move |keep| {
            if keep {
                tray::hide_main(&app2);
            } else {
                quit_cleanly(&app2);
            }
        });
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
