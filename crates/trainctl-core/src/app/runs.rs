//! The Runs view's calls: the runs under a location, and one run's metric series — read only
//! from a source this app offered for that run (a caller cannot make it read another file).

use super::App;
use crate::checkpoint::detect::now_secs;
use crate::error::{Error, Result};
use crate::runs::overview::{self, RunMetrics, RunOverview};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

/// Locations whose offers are remembered; the oldest are forgotten beyond this.
const LOCATIONS_KEPT: usize = 64;

/// Metric sources offered by `runs_list`, by location and run.
#[derive(Default)]
pub(crate) struct OfferedSources(Mutex<BTreeMap<String, BTreeMap<String, BTreeSet<String>>>>);

impl OfferedSources {
    fn remember(&self, location: &str, runs: &[RunOverview]) {
        let mut g = self.0.lock().unwrap();
        let offers = runs.iter().map(|r| (r.name.clone(), r.metric_sources.iter().cloned().collect())).collect();
        g.insert(location.to_string(), offers);
        while g.len() > LOCATIONS_KEPT {
            g.pop_first();
        }
    }

    fn offered(&self, location: &str, run: &str, source: &str) -> bool {
        self.0.lock().unwrap().get(location).and_then(|runs| runs.get(run)).is_some_and(|s| s.contains(source))
    }
}

impl App {
    /// The runs under `location` with their state, progress and metric sources.
    pub async fn runs_list(&self, location: &str) -> Result<Vec<RunOverview>> {
        let (loc, conn) = self.location(location)?;
        let runs = self.watched(overview::list_runs(&loc, conn.as_ref(), now_secs()).await)?;
        self.offered.remember(location.trim(), &runs);
        Ok(runs)
    }

    /// One run's series from `source` — which must be one `runs_list` offered for that run — or
    /// from its best source.
    pub async fn run_metrics(&self, location: &str, run: &str, source: Option<&str>) -> Result<RunMetrics> {
        if let Some(s) = source {
            if !self.offered.offered(location.trim(), run, s) {
                return Err(Error::Usage(format!("`{s}` is not a metrics source of run `{run}` here: pick one the Runs view lists")));
            }
        }
        let (loc, conn) = self.location(location)?;
        self.watched(overview::run_metrics(&loc, conn.as_ref(), run, source).await)
    }
}
