//! The Datasets view's calls: versions in a store, one version's header and files, the diff of
//! two versions, verification (of the data where it was snapshotted, or of a granted folder) and
//! staging into a granted folder — each one call over core `dataset`, with progress reported to
//! the host as `Event::Progress`.
//!
//! Trust: a store is an `s3://` URL (or `local` for the local cache), a version a plain
//! `NAME@VERSION` (checked by `DatasetRef::parse`), a local folder only a grant token.

use super::App;
use crate::dataset::{self, manifest, store, DatasetRef, Diff, Level, StageOptions, StageReport, Store, VerifyReport, VersionInfo};
use crate::error::Result;
use crate::s3::Connection;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

/// Files of one version sent to the view at most (the header has the totals).
pub const FILES_SHOWN: usize = 1000;
/// Manifests one listing fetches (and caches) for their headers, so the list shows files, size
/// and date; versions past it show them once opened.
pub const HEADERS_FETCHED: usize = 20;

/// One version as the view shows it.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
pub struct DatasetDetails {
    pub store: String,
    pub header: dataset::Header,
    /// The first [`FILES_SHOWN`] files, in key order.
    pub files: Vec<dataset::Entry>,
    pub truncated: bool,
}

/// A row of the Datasets list: a version and the store it is in.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
pub struct DatasetRow {
    pub store: String,
    pub version: VersionInfo,
}

/// What to verify.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DatasetTarget {
    /// The prefix the version was snapshotted from.
    Source,
    /// A local copy: a folder the user granted.
    Folder { grant: String },
}

fn parse_store(s: &str) -> Result<Store> {
    if s.trim() == "local" {
        Ok(Store::LocalOnly)
    } else {
        Store::parse(s.trim())
    }
}

impl App {
    fn store_conn(&self, store: &Store) -> Result<Option<Connection>> {
        match store {
            Store::Bucket(_) => Ok(Some(self.session.conn()?)),
            Store::LocalOnly => Ok(None),
        }
    }

    async fn load_version(&self, store: &str, reference: &str) -> Result<(Store, Option<Connection>, dataset::Manifest)> {
        let store = parse_store(store)?;
        let r = DatasetRef::parse(reference)?;
        let conn = self.store_conn(&store)?;
        let m = self.watched(store::load(conn.as_ref(), &store, &r.name, r.version()?).await)?;
        Ok((store, conn, m))
    }

    /// `NAME@VERSION` as a stream of entries (its header read).
    async fn open_version(&self, store: &str, reference: &str) -> Result<(Store, Option<Connection>, dataset::manifest::Reader<std::fs::File>)> {
        let store = parse_store(store)?;
        let r = DatasetRef::parse(reference)?;
        let conn = self.store_conn(&store)?;
        let m = self.watched(store::open(conn.as_ref(), &store, &r.name, r.version()?).await)?;
        Ok((store, conn, m))
    }

    /// Every version in `store`, or in every store this machine has cached when `None`.
    pub async fn datasets_list(&self, store: Option<&str>) -> Result<Vec<DatasetRow>> {
        let stores = match store {
            Some(s) => vec![parse_store(s)?],
            None => store::cached_stores(),
        };
        let mut rows = Vec::new();
        let mut fetched = 0;
        for st in stores {
            let conn = self.store_conn(&st)?;
            for mut version in self.watched(dataset::list(conn.as_ref(), &st, None).await)? {
                if version.header.is_none() && fetched < HEADERS_FETCHED {
                    fetched += 1;
                    version.header = store::header(conn.as_ref(), &st, &version.name, &version.version).await.ok();
                }
                rows.push(DatasetRow { store: st.display(), version });
            }
        }
        Ok(rows)
    }

    /// One version: its header and its first files.
    pub async fn dataset_show(&self, store: &str, reference: &str) -> Result<DatasetDetails> {
        let (st, _, mut entries) = self.open_version(store, reference).await?;
        let files = entries.by_ref().take(FILES_SHOWN).collect::<Result<Vec<_>>>()?;
        // The rest is read to check the count and digest, not kept.
        let mut truncated = false;
        for e in entries.by_ref() {
            e?;
            truncated = true;
        }
        Ok(DatasetDetails { store: st.display(), header: entries.header, files, truncated })
    }

    /// What changed from `from` to `to` (both `NAME@VERSION` in `store`).
    pub async fn dataset_diff(&self, store: &str, from: &str, to: &str) -> Result<Diff> {
        let (_, _, a) = self.load_version(store, from).await?;
        let (_, _, b) = self.load_version(store, to).await?;
        Ok(manifest::diff(&a, &b))
    }

    /// Verifies a version at `level`, where it was snapshotted from or in a granted folder. A
    /// failed verification is a report with problems, not an error (the view shows it).
    pub async fn dataset_verify(&self, store: &str, reference: &str, target: DatasetTarget, level: Level) -> Result<VerifyReport> {
        let job = crate::event::next_job_id();
        match target {
            DatasetTarget::Folder { grant } => {
                let (_, _, m) = self.load_version(store, reference).await?;
                let dir = self.grants.folder(&grant)?;
                dataset::verify::verify_local(&m, &dir, level, job, self.host.as_ref()).await
            }
            DatasetTarget::Source => {
                // Streamed: the manifest merged with the listing, memory flat in the files.
                let (_, conn, entries) = self.open_version(store, reference).await?;
                let header = entries.header.clone();
                let url = dataset::stage::source_url_of(&header)?;
                let conn = match conn {
                    Some(c) => c,
                    None => self.session.conn()?,
                };
                self.watched(dataset::verify::verify_s3_stream(&conn, &header, entries, &url, level, job, self.host.as_ref()).await)
            }
        }
    }

    /// Stages a version into `NAME-VERSION/` inside a granted folder (staging it again verifies
    /// and returns at once).
    pub async fn dataset_stage(&self, store: &str, reference: &str, folder_grant: &str, verify: Level) -> Result<StageReport> {
        let (_, conn, m) = self.load_version(store, reference).await?;
        let conn = match conn {
            Some(c) => c,
            None => self.session.conn()?,
        };
        let dir = self.grants.folder(folder_grant)?.join(format!("{}-{}", m.header.name, m.header.version));
        let opts = StageOptions { verify, ..StageOptions::default() };
        self.watched(dataset::stage::stage(&conn, &m, &dir, &opts, self.host.as_ref(), CancellationToken::new()).await)
    }
}
