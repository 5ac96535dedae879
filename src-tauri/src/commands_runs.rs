//! The Runs view's commands (docs/ipc.md, "Runs"): the runs under a location with their state
//! (running / finished / stalled), progress and ETA, and one run's metric series for its curves.
//! Thin over `trainctl_core::runs::overview`.

use crate::commands::note_connection;
use crate::state::AppState;
use tauri::{AppHandle, State};
use trainctl_core::checkpoint::detect::now_secs;
use trainctl_core::checkpoint::Location;
use trainctl_core::error::{Error, ErrorInfo};
use trainctl_core::runs::overview::{self, RunMetrics, RunOverview};
use trainctl_core::s3::Connection;

type Res<T> = Result<T, ErrorInfo>;

fn open(state: &AppState, location: &str) -> Result<(Location, Option<Connection>), Error> {
    let location = location.trim();
    if location.is_empty() {
        return Err(Error::Usage("choose a location: an s3:// prefix or a local folder".into()));
    }
    let loc = Location::parse(location)?;
    let conn = match &loc {
        Location::S3(_) => Some(state.live()?.conn),
        Location::Local(p) if !p.is_absolute() => return Err(Error::Usage(format!("`{location}` is neither an s3:// prefix nor an absolute folder path"))),
        Location::Local(_) => None,
    };
    Ok((loc, conn))
}

fn fail(app: &AppHandle, e: Error) -> ErrorInfo {
    note_connection(app, &e);
    e.info()
}

/// The runs under `location` (an s3:// prefix or an absolute folder).
#[tauri::command(rename_all = "snake_case")]
pub async fn runs_list(app: AppHandle, state: State<'_, AppState>, location: String) -> Res<Vec<RunOverview>> {
    let (loc, conn) = open(&state, &location).map_err(|e| fail(&app, e))?;
    overview::list_runs(&loc, conn.as_ref(), now_secs()).await.map_err(|e| fail(&app, e))
}

/// One run's series from `source` (a path relative to the location) or its best source.
#[tauri::command(rename_all = "snake_case")]
pub async fn run_metrics(app: AppHandle, state: State<'_, AppState>, location: String, run: String, source: Option<String>) -> Res<RunMetrics> {
    let (loc, conn) = open(&state, &location).map_err(|e| fail(&app, e))?;
    overview::run_metrics(&loc, conn.as_ref(), &run, source.as_deref()).await.map_err(|e| fail(&app, e))
}
