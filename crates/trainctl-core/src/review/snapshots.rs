//! A small summary of every review, kept locally so the Dashboard can draw storage growth over
//! time without re-listing anything. One JSON file per review under
//! `$XDG_STATE_HOME/trainctl/reviews/` (a few KB each: totals, classes, the 50 largest prefixes).

use super::model::{Group, Report, Source};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Largest top-level prefixes kept per snapshot.
pub const SNAPSHOT_PREFIXES: usize = 50;

/// Environment variable overriding the snapshot directory (tests, portable setups).
pub const SNAPSHOT_DIR_ENV: &str = "TRAINCTL_REVIEW_DIR";

/// The summary of one review.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub generated_at: i64,
    pub location: String,
    pub source: Source,
    pub totals: Group,
    pub by_storage_class: Vec<Group>,
    pub by_prefix: Vec<Group>,
}

impl Snapshot {
    /// The summary of a report.
    pub fn of(r: &Report) -> Snapshot {
        Snapshot {
            generated_at: r.generated_at,
            location: r.location.clone(),
            source: r.source,
            totals: r.totals.clone(),
            by_storage_class: r.by_storage_class.clone(),
            by_prefix: r.by_prefix.iter().take(SNAPSHOT_PREFIXES).cloned().collect(),
        }
    }
}

/// `$TRAINCTL_REVIEW_DIR`, else `$XDG_STATE_HOME/trainctl/reviews` (the local data dir where
/// there is no state dir).
pub fn dir() -> PathBuf {
    if let Some(d) = std::env::var_os(SNAPSHOT_DIR_ENV).filter(|v| !v.is_empty()) {
        return PathBuf::from(d);
    }
    let base = dirs::state_dir().or_else(dirs::data_local_dir).unwrap_or_else(std::env::temp_dir);
    base.join("trainctl").join("reviews")
}

/// Saves the summary of `report` in [`dir`]; returns the file written.
pub fn save(report: &Report) -> Result<PathBuf> {
    save_in(&dir(), report)
}

/// Saves into `dir` (created if needed). The name sorts by time and is unique per location.
pub fn save_in(dir: &Path, report: &Report) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let slug: String = report.location.trim_start_matches("s3://").chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).take(80).collect();
    let mut path = dir.join(format!("{}-{slug}.json", report.generated_at));
    for n in 1.. {
        if !path.exists() {
            break;
        }
        path = dir.join(format!("{}-{slug}-{n}.json", report.generated_at));
    }
    let body = serde_json::to_vec_pretty(&Snapshot::of(report)).map_err(|e| Error::Internal(e.to_string()))?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, body).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))?;
    Ok(path)
}

/// Every snapshot in [`dir`] (optionally only those of `location`), oldest first. Unreadable
/// files are skipped: a damaged snapshot must not hide the others.
pub fn list(location: Option<&str>) -> Result<Vec<Snapshot>> {
    list_in(&dir(), location)
}

/// [`list`] from an explicit directory.
pub fn list_in(dir: &Path, location: Option<&str>) -> Result<Vec<Snapshot>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(dir, e)),
    };
    let mut out: Vec<Snapshot> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .filter_map(|e| std::fs::read(e.path()).ok())
        .filter_map(|b| serde_json::from_slice::<Snapshot>(&b).ok())
        .filter(|s| location.is_none_or(|l| s.location == l))
        .collect();
    out.sort_by(|a, b| a.generated_at.cmp(&b.generated_at).then_with(|| a.location.cmp(&b.location)));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_snapshots_list_oldest_first_and_filter_by_location() {
        let d = tempfile::tempdir().unwrap();
        for (t, loc) in [(20, "s3://b/x/"), (10, "s3://b/x/"), (15, "s3://b/y/")] {
            let mut r = Report::empty(loc, Source::Listing, t);
            r.totals.bytes = t as u64;
            save_in(d.path(), &r).unwrap();
        }
        std::fs::write(d.path().join("garbage.json"), b"{").unwrap();
        let all = list_in(d.path(), None).unwrap();
        assert_eq!(all.iter().map(|s| s.generated_at).collect::<Vec<_>>(), vec![10, 15, 20]);
        assert_eq!(list_in(d.path(), Some("s3://b/x/")).unwrap().len(), 2);
        assert!(list_in(&d.path().join("none"), None).unwrap().is_empty());
    }
}
