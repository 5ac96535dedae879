//! Finding a usable s5cmd binary: next to the running executable (how releases ship it), then
//! `$TRAINCTL_S5CMD`, then `PATH`. "Usable" means `s5cmd version` runs and exits 0, so a
//! truncated download or a binary for another CPU is reported here, not mid-transfer.

use crate::error::{Error, Result};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Environment variable naming the s5cmd binary explicitly.
pub const ENV_VAR: &str = "TRAINCTL_S5CMD";

/// How long `s5cmd version` may take before the binary counts as unusable.
const VERSION_TIMEOUT: Duration = Duration::from_secs(10);

/// Where to look, as data, so tests can search a controlled set of places without touching the
/// process environment.
#[derive(Debug, Clone, Default)]
pub struct Search {
    /// Directory of the running executable.
    pub exe_dir: Option<PathBuf>,
    /// Value of `$TRAINCTL_S5CMD`.
    pub env_override: Option<OsString>,
    /// Value of `$PATH`.
    pub path_var: Option<OsString>,
}

impl Search {
    /// The places of the real process: its executable's directory, its environment.
    pub fn from_env() -> Self {
        Search {
            exe_dir: std::env::current_exe().ok().and_then(|p| p.parent().map(Path::to_path_buf)),
            env_override: std::env::var_os(ENV_VAR).filter(|v| !v.is_empty()),
            path_var: std::env::var_os("PATH"),
        }
    }

    /// Candidate paths in search order.
    fn candidates(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        if let Some(d) = &self.exe_dir {
            out.push(d.join("s5cmd"));
        }
        if let Some(p) = &self.env_override {
            out.push(PathBuf::from(p));
        }
        if let Some(path) = &self.path_var {
            out.extend(std::env::split_paths(path).filter(|d| !d.as_os_str().is_empty()).map(|d| d.join("s5cmd")));
        }
        out
    }
}

/// Finds s5cmd the way the process would: see [`Search::from_env`].
pub fn locate() -> Result<PathBuf> {
    locate_with(&Search::from_env())
}

/// Returns the first candidate that runs; otherwise [`Error::S5cmdMissing`] listing every place
/// tried and why it did not work.
pub fn locate_with(search: &Search) -> Result<PathBuf> {
    let mut tried = Vec::new();
    for candidate in search.candidates() {
        if !candidate.exists() {
            tried.push(format!("{} (not found)", candidate.display()));
            continue;
        }
        match check_runs(&candidate) {
            Ok(()) => return Ok(candidate),
            Err(why) => tried.push(format!("{} ({why})", candidate.display())),
        }
    }
    if search.env_override.is_none() {
        tried.push(format!("${ENV_VAR} (not set)"));
    }
    Err(Error::S5cmdMissing(format!("tried {}", tried.join(", "))))
}

/// Runs `<binary> version` with a timeout.
fn check_runs(binary: &Path) -> std::result::Result<(), String> {
    let mut child = std::process::Command::new(binary)
        .arg("version")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::PermissionDenied => "not executable".to_string(),
            _ => format!("cannot run: {e}"),
        })?;
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => return Err(format!("`s5cmd version` failed with {status}")),
            Ok(None) if started.elapsed() > VERSION_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err("`s5cmd version` did not answer".into());
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(format!("cannot wait for it: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn script(dir: &Path, body: &str, mode: u32) -> PathBuf {
        let p = dir.join("s5cmd");
        std::fs::write(&p, body).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    #[test]
    fn missing_everywhere_is_s5cmd_missing_naming_what_was_tried() {
        let d = tempfile::tempdir().unwrap();
        let s = Search { exe_dir: Some(d.path().into()), env_override: None, path_var: Some(d.path().join("nope").into()) };
        match locate_with(&s) {
            Err(Error::S5cmdMissing(msg)) => {
                assert!(msg.contains(&d.path().join("s5cmd").display().to_string()), "{msg}");
                assert!(msg.contains(ENV_VAR), "{msg}");
            }
            other => panic!("expected S5cmdMissing, got {other:?}"),
        }
    }

    #[test]
    fn not_executable_or_failing_binaries_are_skipped() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let c = tempfile::tempdir().unwrap();
        script(a.path(), "#!/bin/sh\nexit 0\n", 0o644);
        script(b.path(), "#!/bin/sh\nexit 3\n", 0o755);
        let good = script(c.path(), "#!/bin/sh\necho v2.3.0\n", 0o755);
        let path = std::env::join_paths([b.path(), c.path()]).unwrap();
        let s = Search { exe_dir: Some(a.path().into()), env_override: None, path_var: Some(path) };
        assert_eq!(locate_with(&s).unwrap(), good);
        let only_bad = Search { exe_dir: Some(a.path().into()), env_override: Some(b.path().join("s5cmd").into()), path_var: None };
        match locate_with(&only_bad) {
            Err(Error::S5cmdMissing(msg)) => assert!(msg.contains("not executable") && msg.contains("failed"), "{msg}"),
            other => panic!("expected S5cmdMissing, got {other:?}"),
        }
    }

    #[test]
    fn exe_dir_comes_before_the_env_override() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let first = script(a.path(), "#!/bin/sh\nexit 0\n", 0o755);
        let second = script(b.path(), "#!/bin/sh\nexit 0\n", 0o755);
        let s = Search { exe_dir: Some(a.path().into()), env_override: Some(second.into()), path_var: None };
        assert_eq!(locate_with(&s).unwrap(), first);
    }
}
