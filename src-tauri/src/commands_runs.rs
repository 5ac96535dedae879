//! The Runs view's commands (docs/ipc.md, "Runs"): the runs under a location with their state
//! (running / finished / stalled), progress and ETA, and one run's metric series for its curves.
//! Thin over `trainctl_core::runs::overview`.

use crate::commands::fail;
use crate::state::AppState;
use tauri::{AppHandle, State};
use trainctl_core::checkpoint::detect::now_secs;
use trainctl_core::error::ErrorInfo;
use trainctl_core::runs::overview::{self, RunMetrics, RunOverview};

type Res<T> = Result<T, ErrorInfo>;

/// The runs under `location` (an s3:// prefix or an absolute folder).
#[tauri::command(rename_all = "snake_case")]
pub async fn runs_list(app: AppHandle, state: State<'_, AppState>, location: String) -> Res<Vec<RunOverview>> {
    let (loc, conn) = state.open_location(&location).map_err(|e| fail(&app, e))?;
    overview::list_runs(&loc, conn.as_ref(), now_secs()).await.map_err(|e| fail(&app, e))
}

/// One run's series from `source` (a path relative to the location) or its best source.
#[tauri::command(rename_all = "snake_case")]
pub async fn run_metrics(app: AppHandle, state: State<'_, AppState>, location: String, run: String, source: Option<String>) -> Res<RunMetrics> {
    let (loc, conn) = state.open_location(&location).map_err(|e| fail(&app, e))?;
    overview::run_metrics(&loc, conn.as_ref(), &run, source.as_deref()).await.map_err(|e| fail(&app, e))
}
