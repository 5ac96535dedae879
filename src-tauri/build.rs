//! Generates Tauri's context (config, capabilities, embedded `ui/dist`) at build time, and one
//! permission per app command (`allow-<command>`), so capabilities/default.json can allow exactly
//! the commands the UI uses: anything else the page invokes is refused by Tauri's ACL.

/// Every app command (main.rs `handler`); a command missing here cannot be allowed at all.
const COMMANDS: &[&str] = &[
    "app_info",
    "demo_start",
    "profiles_list",
    "profile_save",
    "profile_test",
    "profile_test_form",
    "profile_remove",
    "connect",
    "buckets_list",
    "objects_list",
    "folder_insights",
    "pick_folder",
    "upload_dropped",
    "download_keys",
    "delete_plan",
    "delete_apply",
    "rename_plan",
    "rename_apply",
    "object_details",
    "object_tags_set",
    "object_metadata_set",
    "share_link",
    "object_versions",
    "version_restore_plan",
    "version_restore_apply",
    "transfer_cancel",
    "transfer_retry",
    "transfers_list",
    "notifications_list",
    "review_run",
    "review_cancel",
    "dedup_plan",
    "dedup_apply",
    "review_snapshots",
    "sync_pairs_list",
    "sync_pair_add",
    "sync_pair_remove",
    "sync_run",
    "sync_confirm",
    "sync_resolve",
    "sync_set_continuous",
    "watches_list",
    "watch_add",
    "watch_pause",
    "watch_resume",
    "watch_remove",
    "checkpoints_discover",
    "checkpoints_plan",
    "checkpoints_apply",
    "checkpoints_pin",
    "lifecycle_show",
    "lifecycle_plan",
    "lifecycle_savings",
    "lifecycle_apply",
    "runs_list",
    "run_metrics",
    "datasets_list",
    "dataset_show",
    "dataset_diff",
    "dataset_verify",
    "dataset_stage",
    "close_keep_in_tray",
    "close_cancel_and_quit",
    "startup_trace",
];

/// Test-only commands of the `e2e` feature (src/e2e.rs), allowed at runtime in that build only.
const E2E_COMMANDS: &[&str] = &["e2e_drop"];

fn main() {
    let commands: &'static [&'static str] = if std::env::var_os("CARGO_FEATURE_E2E").is_some() {
        Box::leak([COMMANDS, E2E_COMMANDS].concat().into_boxed_slice())
    } else {
        COMMANDS
    };
    let manifest = tauri_build::AppManifest::new().commands(commands);
    tauri_build::try_build(tauri_build::Attributes::new().app_manifest(manifest)).expect("tauri build step");
}
