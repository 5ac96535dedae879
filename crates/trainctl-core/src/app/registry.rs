//! What the watch registry and the sync pairs share: rows kept by id, each with the task that
//! runs it (so the window can close while they go on), and their specs saved in a small JSON
//! file (`watches.json`, `syncs.json`) written atomically and validated on load — a bad file is
//! left as the user wrote it, reported, and not written over.

use super::notify::NewNotification;
use super::{App, NotificationLevel};
use crate::error::{Error, Result};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use tokio_util::sync::CancellationToken;

/// What a registry saves of a row.
pub trait Spec: Clone + Serialize + DeserializeOwned {
    /// Names one row in messages ("watch", "sync pair").
    const ONE: &'static str;
    /// Names rows in messages ("watches", "sync pairs").
    const MANY: &'static str;
    /// Rows one session holds.
    const MAX: usize;
    fn id(&self) -> u64;
    /// Refuses values a hand-edited file (or a forged call) could carry.
    fn validate(&self) -> Result<()>;
}

/// A row as the view shows it, built from its spec.
pub trait Row: Clone {
    type Spec: Spec;
    fn new(spec: Self::Spec) -> Self;
    fn spec(&self) -> &Self::Spec;
}

pub struct Entry<R> {
    pub(crate) info: R,
    /// The running task of the row.
    pub(crate) cancel: Option<CancellationToken>,
}

/// The rows of one kind of an app session.
pub struct Registry<R: Row> {
    pub(crate) entries: Mutex<BTreeMap<u64, Entry<R>>>,
    /// `None` = not persisted (tests), or not writable because the file on disk is invalid.
    file: Mutex<Option<PathBuf>>,
}

impl<R: Row> Registry<R> {
    pub(crate) fn new(file: Option<PathBuf>) -> Registry<R> {
        Registry { entries: Mutex::default(), file: Mutex::new(file) }
    }

    pub fn list(&self) -> Vec<R> {
        self.entries.lock().unwrap().values().map(|e| e.info.clone()).collect()
    }

    /// True while a row's task runs: closing the window then keeps the app in the tray.
    pub fn any_running(&self) -> bool {
        self.entries.lock().unwrap().values().any(|e| e.cancel.is_some())
    }

    pub(crate) fn get(&self, id: u64) -> Result<R> {
        self.entries.lock().unwrap().get(&id).map(|e| e.info.clone()).ok_or_else(|| not_found::<R>(id))
    }

    /// Changes row `id` in place; its new value, `None` when there is no such row.
    pub(crate) fn update(&self, id: u64, f: impl FnOnce(&mut R)) -> Option<R> {
        let mut g = self.entries.lock().unwrap();
        let e = g.get_mut(&id)?;
        f(&mut e.info);
        Some(e.info.clone())
    }

    /// Ids of the rows `keep` selects.
    pub(crate) fn ids_where(&self, keep: impl Fn(&R) -> bool) -> Vec<u64> {
        self.entries.lock().unwrap().iter().filter(|(_, e)| keep(&e.info)).map(|(id, _)| *id).collect()
    }

    /// Records `cancel` as row `id`'s running task (what `stop` and `any_running` see) when `wants`
    /// says the row should run (it may change the row too); a task still running is cancelled.
    /// One lock for the check and the start: a pause that lands between a reconnection's "which
    /// rows run?" and its restart is not undone by it. False when the row does not run.
    pub(crate) fn start_task(&self, id: u64, cancel: CancellationToken, wants: impl FnOnce(&mut R) -> bool) -> bool {
        let mut g = self.entries.lock().unwrap();
        let Some(e) = g.get_mut(&id) else { return false };
        if !wants(&mut e.info) {
            return false;
        }
        if let Some(old) = e.cancel.replace(cancel) {
            old.cancel();
        }
        true
    }

    /// Hands row `id` as it is now to `send`, under the lock: two threads that report one row
    /// report it in the order it changed, so the page never ends on a stale copy (a watch
    /// paused in the window, then shown running by its task's last report).
    pub(crate) fn report(&self, id: u64, send: impl FnOnce(&R)) {
        if let Some(e) = self.entries.lock().unwrap().get(&id) {
            send(&e.info);
        }
    }

    /// Stops row `id`'s task, if it runs.
    pub(crate) fn stop(&self, id: u64) {
        if let Some(c) = self.entries.lock().unwrap().get_mut(&id).and_then(|e| e.cancel.take()) {
            c.cancel();
        }
    }

    /// Adds the row `make(new id)`, unless a row `clashes` (its message) or the registry is full.
    pub(crate) fn add(&self, make: impl FnOnce(u64) -> R::Spec, clashes: impl Fn(&R::Spec) -> Option<String>) -> Result<u64> {
        let id = {
            let mut g = self.entries.lock().unwrap();
            if let Some(message) = g.values().find_map(|e| clashes(e.info.spec())) {
                return Err(Error::Usage(message));
            }
            if g.len() >= R::Spec::MAX {
                return Err(Error::Usage(format!("at most {} {}: remove one first", R::Spec::MAX, R::Spec::MANY)));
            }
            let id = g.keys().max().map_or(1, |m| m + 1);
            let spec = make(id);
            spec.validate()?;
            g.insert(id, Entry { info: R::new(spec), cancel: None });
            id
        };
        self.save()?;
        Ok(id)
    }

    /// Removes row `id` (stopping its task) and saves.
    pub(crate) fn remove(&self, id: u64) -> Result<()> {
        self.stop(id);
        self.entries.lock().unwrap().remove(&id).ok_or_else(|| not_found::<R>(id))?;
        self.save()
    }

    pub(crate) fn save(&self) -> Result<()> {
        let Some(path) = self.file.lock().unwrap().clone() else { return Ok(()) };
        let specs: Vec<R::Spec> = self.entries.lock().unwrap().values().map(|e| e.info.spec().clone()).collect();
        let body = serde_json::to_vec_pretty(&specs).map_err(|e| Error::Internal(e.to_string()))?;
        crate::config::file::write_private(&path, &body)
    }

    /// Loads the saved rows; on a bad file, says so in a notification titled `not_restored`
    /// and keeps the file as it is. The rows loaded, for the caller to start.
    pub(crate) fn restore(&self, app: &App, not_restored: &str) -> Vec<R> {
        let path = self.file.lock().unwrap().clone();
        match path.as_deref().map(load_specs::<R::Spec>).transpose() {
            Ok(specs) => specs
                .unwrap_or_default()
                .into_iter()
                .map(|spec| {
                    let row = R::new(spec);
                    self.entries.lock().unwrap().insert(row.spec().id(), Entry { info: row.clone(), cancel: None });
                    row
                })
                .collect(),
            Err(e) => {
                *self.file.lock().unwrap() = None;
                app.notify(NewNotification::new(NotificationLevel::Warning, not_restored, format!("{e} — {}", e.hint())));
                Vec::new()
            }
        }
    }
}

fn not_found<R: Row>(id: u64) -> Error {
    Error::NotFound(format!("{} {id}", R::Spec::ONE))
}

/// Reads a registry file; a missing file is no rows. Every entry is validated: a bad one names
/// the file, the row and the field.
pub(crate) fn load_specs<S: Spec>(path: &Path) -> Result<Vec<S>> {
    let corrupt = |reason: String| Error::ConfigCorrupt { path: path.to_path_buf(), reason };
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(path, e)),
    };
    if bytes.len() > 1 << 20 {
        return Err(corrupt("larger than 1 MiB".into()));
    }
    let specs: Vec<S> = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
    let mut seen = BTreeSet::new();
    for s in &specs {
        s.validate().map_err(|e| corrupt(format!("{} {}: {e}", S::ONE, s.id())))?;
        if !seen.insert(s.id()) {
            return Err(corrupt(format!("{} id {} appears twice", S::ONE, s.id())));
        }
    }
    if specs.len() > S::MAX {
        return Err(corrupt(format!("{} {} (at most {})", specs.len(), S::MANY, S::MAX)));
    }
    Ok(specs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct T {
        id: u64,
        name: String,
    }

    impl Spec for T {
        const ONE: &'static str = "thing";
        const MANY: &'static str = "things";
        const MAX: usize = 2;
        fn id(&self) -> u64 {
            self.id
        }
        fn validate(&self) -> Result<()> {
            if self.name.is_empty() {
                return Err(Error::Usage("a name is needed".into()));
            }
            Ok(())
        }
    }

    impl Row for T {
        type Spec = T;
        fn new(spec: T) -> T {
            spec
        }
        fn spec(&self) -> &T {
            self
        }
    }

    fn add(r: &Registry<T>, name: &str) -> Result<u64> {
        r.add(|id| T { id, name: name.into() }, |s| (s.name == name).then(|| format!("{name} is there already")))
    }

    #[test]
    fn rows_get_the_next_id_refuse_clashes_and_the_limit_and_are_saved() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("things.json");
        let r = Registry::<T>::new(Some(path.clone()));
        assert_eq!((add(&r, "a").unwrap(), add(&r, "b").unwrap()), (1, 2));
        assert!(add(&r, "a").unwrap_err().to_string().contains("a is there already"));
        assert!(add(&r, "c").unwrap_err().to_string().contains("at most 2 things"));
        assert!(add(&Registry::<T>::new(None), "").is_err(), "validated before it is kept");
        r.remove(1).unwrap();
        assert_eq!(r.remove(1).unwrap_err().code(), "not_found");
        assert_eq!(add(&r, "c").unwrap(), 3, "ids are not reused while a larger one lives");
        assert_eq!(load_specs::<T>(&path).unwrap(), r.list());
    }

    #[test]
    fn a_task_is_stopped_by_stop_and_by_remove() {
        let r = Registry::<T>::new(None);
        let id = add(&r, "a").unwrap();
        let task = CancellationToken::new();
        assert!(r.start_task(id, task.clone(), |t| {
            t.name = "running".into();
            true
        }));
        assert!(r.any_running() && r.get(id).unwrap().name == "running");
        r.stop(id);
        assert!(task.is_cancelled() && !r.any_running());
        assert!(!r.start_task(id, CancellationToken::new(), |_| false) && !r.any_running(), "a row that does not want to run stays stopped");
        let task = CancellationToken::new();
        assert!(r.start_task(id, task.clone(), |_| true));
        let again = CancellationToken::new();
        assert!(r.start_task(id, again.clone(), |_| true));
        assert!(task.is_cancelled() && !again.is_cancelled(), "a restart cancels the task it replaces");
        r.remove(id).unwrap();
        assert!(again.is_cancelled() && r.list().is_empty());
    }

    #[test]
    fn a_bad_file_names_the_row_and_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("things.json");
        for (body, needle) in [
            ("not json", "things.json"),
            (r#"[{"id":1,"name":""}]"#, "thing 1: a name is needed"),
            (r#"[{"id":1,"name":"a"},{"id":1,"name":"b"}]"#, "thing id 1 appears twice"),
            (r#"[{"id":1,"name":"a"},{"id":2,"name":"b"},{"id":3,"name":"c"}]"#, "3 things (at most 2)"),
        ] {
            std::fs::write(&path, body).unwrap();
            let e = load_specs::<T>(&path).unwrap_err();
            assert_eq!(e.code(), "config_corrupt", "{body}");
            assert!(e.to_string().contains(needle), "{e}");
        }
    }
}
