//! TypeScript bindings of the IPC payload types (cargo feature `ts`), kept in
//! `ui/src/lib/generated/` and re-exported by `ui/src/lib/types.ts`.
//!
//! Why generated: a field renamed in Rust must break `tsc`/the check below, not a user's window.
//! Why a check and not a build step: the UI build must not need cargo, so the files are committed,
//! and `tests/ts_bindings.rs` (core) plus `ts_bindings` (desktop) fail when they are stale.
//! Regenerate with `make bindings` (docs/ipc.md has the recipe for new types).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use ts_rs::{Config, ExportError, TS};

/// Set to `1` to (re)write the generated files instead of checking them.
pub const WRITE_ENV: &str = "TRAINCTL_TS_WRITE";

/// Exports one root type together with every type it refers to.
pub type Exporter = fn(&Config) -> Result<(), ExportError>;

/// `ui/src/lib/generated/` of this checkout.
pub fn generated_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ui/src/lib/generated")
}

/// u64/i64 become `number`: job ids, sizes and epoch seconds stay far below 2^53, and serde_json
/// sends them as plain JSON numbers (a `bigint` type would be a lie about the wire).
pub fn config(out_dir: &Path) -> Config {
    Config::new().with_large_int("number").with_out_dir(out_dir)
}

/// The core types that cross IPC (the desktop adds its own: `Dropped`, `CloseRequest`). Each
/// root exports every type it refers to.
pub fn core_roots() -> Vec<Exporter> {
    use crate::app::{browse, checkpoints, connection, profiles, review};
    use crate::config::profile::{CredentialSource, Profile, ProfileOrigin, ResolvedProfile};
    vec![
        crate::error::ErrorInfo::export_all,
        crate::error::Scope::export_all,
        crate::event::Direction::export_all,
        crate::event::Progress::export_all,
        crate::event::Event::export_all,
        crate::s3::list::ObjectEntry::export_all,
        CredentialSource::export_all,
        Profile::export_all,
        ResolvedProfile::export_all,
        ProfileOrigin::export_all,
        crate::transfer::TransferItem::export_all,
        crate::transfer::Outcome::export_all,
        // The application layer's calls (docs/ipc.md).
        connection::AppInfo::export_all,
        connection::ConnectionInfo::export_all,
        crate::app::LocalGrant::export_all,
        crate::app::TransferRecord::export_all,
        crate::app::WatchInfo::export_all,
        crate::app::SyncPairInfo::export_all,
        crate::sync::ConflictPolicy::export_all,
        crate::sync::PassReport::export_all,
        crate::app::AppNotification::export_all,
        profiles::ProfileSummary::export_all,
        profiles::ProfileForm::export_all,
        profiles::TestReport::export_all,
        browse::BucketSummary::export_all,
        browse::ListPage::export_all,
        browse::DeletePlan::export_all,
        browse::RenamePlan::export_all,
        crate::s3::rename::RenameReport::export_all,
        browse::DeleteReport::export_all,
        crate::app::objects::RestorePlan::export_all,
        crate::app::insights::FolderInsights::export_all,
        crate::s3::tags::ObjectDetails::export_all,
        crate::s3::share::ShareLink::export_all,
        checkpoints::CheckpointListing::export_all,
        checkpoints::CleanupPlan::export_all,
        checkpoints::CleanupReport::export_all,
        checkpoints::DetectForm::export_all,
        checkpoints::PolicyForm::export_all,
        checkpoints::LifecycleView::export_all,
        checkpoints::HeldLifecyclePlan::export_all,
        crate::lifecycle::LifecyclePlan::export_all,
        crate::lifecycle::LifecycleRequest::export_all,
        crate::lifecycle::LifecycleSavings::export_all,
        crate::lifecycle::ApplyReport::export_all,
        review::ReviewOutcome::export_all,
        crate::review::dedup_plan::S3DedupPlan::export_all,
        crate::review::snapshots::Snapshot::export_all,
        crate::runs::overview::RunOverview::export_all,
        crate::runs::overview::RunMetrics::export_all,
        crate::app::datasets::DatasetRow::export_all,
        crate::app::datasets::DatasetDetails::export_all,
        crate::app::datasets::DatasetTarget::export_all,
        crate::dataset::Diff::export_all,
        crate::dataset::VerifyReport::export_all,
        crate::dataset::StageReport::export_all,
        crate::dataset::Level::export_all,
    ]
}

/// Writes the roots' files (with [`WRITE_ENV`]=1) or checks that the committed ones are identical.
/// `Err` lists every stale or missing file and says how to regenerate.
pub fn write_or_check(roots: &[Exporter]) -> Result<Vec<String>, String> {
    let target = generated_dir();
    if std::env::var(WRITE_ENV).as_deref() == Ok("1") {
        std::fs::create_dir_all(&target).map_err(|e| e.to_string())?;
        let cfg = config(&target);
        for export in roots {
            export(&cfg).map_err(|e| e.to_string())?;
        }
        return Ok(vec![]);
    }
    let fresh = tempfile::tempdir().map_err(|e| e.to_string())?;
    let cfg = config(fresh.path());
    for export in roots {
        export(&cfg).map_err(|e| e.to_string())?;
    }
    let mut stale = Vec::new();
    let mut checked = Vec::new();
    for (name, text) in read_dir(fresh.path())? {
        match std::fs::read_to_string(target.join(&name)) {
            Ok(old) if old == text => checked.push(name),
            Ok(_) => stale.push(format!("{name} differs")),
            Err(_) => stale.push(format!("{name} is missing")),
        }
    }
    if stale.is_empty() {
        Ok(checked)
    } else {
        Err(format!(
            "ui/src/lib/generated/ is stale ({}): run `make bindings` and commit the result",
            stale.join(", ")
        ))
    }
}

fn read_dir(dir: &Path) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir).map_err(|e| e.to_string())? {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.extension().is_some_and(|e| e == "ts") {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            out.insert(name, std::fs::read_to_string(&path).map_err(|e| e.to_string())?);
        }
    }
    Ok(out)
}
