//! Secrets in the OS keychain (Secret Service on Linux, Keychain on macOS, Credential Manager on
//! Windows), service `trainctl`, account = profile name. The config file never holds a secret,
//! and there is deliberately no plaintext-file fallback.
//!
//! For tests and headless CI only, an in-memory store replaces the OS keychain under `cfg(test)`,
//! when `TRAINCTL_KEYRING_MOCK=1` is set in a debug build (the test suites'), or after
//! [`use_mock`]. It lives in the memory of one process: nothing persists, which is the point. A
//! release build ignores the variable: a stray environment cannot make it forget secrets.
//!
//! The calls block (D-Bus round trips); call them from `spawn_blocking` in async code.

use crate::error::{Error, Result};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

/// Keychain service name under which every trainctl secret is stored.
pub const SERVICE: &str = "trainctl";
/// Env var that switches to the in-memory test store (`1`). Test-only: secrets are not kept.
pub const MOCK_ENV: &str = "TRAINCTL_KEYRING_MOCK";

static FORCE_MOCK: AtomicBool = AtomicBool::new(false);

/// Switches this process to the in-memory store. For tests of code that stores secrets.
pub fn use_mock() {
    FORCE_MOCK.store(true, Ordering::SeqCst);
}

fn mock_active() -> bool {
    cfg!(test) || FORCE_MOCK.load(Ordering::SeqCst) || (cfg!(debug_assertions) && std::env::var(MOCK_ENV).is_ok_and(|v| v == "1"))
}

fn mock_store() -> &'static Mutex<HashMap<String, String>> {
    static STORE: OnceLock<Mutex<HashMap<String, String>>> = OnceLock::new();
    STORE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Stores (or replaces) the secret access key of `profile`.
pub fn set_secret(profile: &str, secret: &str) -> Result<()> {
    if mock_active() {
        mock_store().lock().unwrap().insert(profile.to_string(), secret.to_string());
        return Ok(());
    }
    entry(profile)?.set_password(secret).map_err(|e| keychain_err("store", profile, e))
}

/// The secret of `profile`; `Ok(None)` when none is stored.
pub fn get_secret(profile: &str) -> Result<Option<String>> {
    if mock_active() {
        return Ok(mock_store().lock().unwrap().get(profile).cloned());
    }
    match entry(profile)?.get_password() {
        Ok(s) => Ok(Some(s)),
        Err(keyring::Error::NoEntry) => Ok(None),
        Err(e) => Err(keychain_err("read", profile, e)),
    }
}

/// Deletes the secret of `profile`; deleting a missing secret is not an error.
pub fn delete_secret(profile: &str) -> Result<()> {
    if mock_active() {
        mock_store().lock().unwrap().remove(profile);
        return Ok(());
    }
    match entry(profile)?.delete_credential() {
        Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
        Err(e) => Err(keychain_err("delete", profile, e)),
    }
}

fn entry(profile: &str) -> Result<keyring::Entry> {
    keyring::Entry::new(SERVICE, profile).map_err(|e| keychain_err("open", profile, e))
}

fn keychain_err(action: &str, profile: &str, e: keyring::Error) -> Error {
    Error::Keychain(format!("cannot {action} the secret of profile `{profile}`: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_get_delete_round_trip_in_the_test_store() {
        set_secret("kc-test", "s3cr3t").unwrap();
        assert_eq!(get_secret("kc-test").unwrap().as_deref(), Some("s3cr3t"));
        delete_secret("kc-test").unwrap();
        assert_eq!(get_secret("kc-test").unwrap(), None);
        delete_secret("kc-test").unwrap();
    }
}
