//! One pass per pair at a time, and never a manual clean-up after a crash.
//!
//! The lock is an exclusive `flock` on `<pair state>/lock`, which the kernel releases when the
//! holder dies however it dies — so a lock left by a dead process is simply free, and the next
//! pass takes it over (with a note naming the dead holder, read from the file). The file also
//! says who holds it (pid, host, since, expires) for the message a second pass prints. A holder
//! on another host (a state folder on a network home) counts until its expiry.

use crate::error::{Error, Result};
use rustix::fs::FlockOperation;
use serde::{Deserialize, Serialize};
use std::io::{Read, Seek, Write};
use std::path::Path;

/// How long a holder on another host is believed without renewing.
const EXPIRY_SECS: i64 = 6 * 3600;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Holder {
    pub pid: u32,
    pub host: String,
    pub since: i64,
    pub expires: i64,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "pid {} on {}, since {}", self.pid, self.host, humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_secs(self.since.max(0) as u64)))
    }
}

/// A held pair lock; released on drop.
#[derive(Debug)]
pub struct PairLock {
    file: std::fs::File,
    /// What the lock file said about a previous holder that is gone (for a note).
    pub took_over: Option<Holder>,
}

impl PairLock {
    /// Takes the lock of the pair whose state folder is `dir`, or fails with
    /// [`Error::SyncLocked`] naming the live holder.
    pub fn acquire(dir: &Path) -> Result<PairLock> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let path = dir.join("lock");
        let mut file = std::fs::OpenOptions::new().create(true).truncate(false).read(true).write(true).open(&path).map_err(|e| Error::io(&path, e))?;
        let previous = read_holder(&mut file);
        if rustix::fs::flock(&file, FlockOperation::NonBlockingLockExclusive).is_err() {
            let holder = previous.map(|h| h.to_string()).unwrap_or_else(|| "a process that has not written its name yet".into());
            return Err(Error::SyncLocked { holder });
        }
        let now = crate::checkpoint::detect::now_secs();
        let me = Holder { pid: std::process::id(), host: host_name(), since: now, expires: now + EXPIRY_SECS };
        if let Some(p) = previous.as_ref().filter(|p| p.host != me.host && p.expires > now && p.pid != 0) {
            let _ = rustix::fs::flock(&file, FlockOperation::Unlock);
            return Err(Error::SyncLocked { holder: p.to_string() });
        }
        let took_over = previous.filter(|p| p.pid != 0);
        let body = serde_json::to_vec(&me).map_err(|e| Error::Internal(e.to_string()))?;
        file.set_len(0).and_then(|_| file.rewind()).and_then(|_| file.write_all(&body)).map_err(|e| Error::io(&path, e))?;
        Ok(PairLock { file, took_over })
    }
}

impl Drop for PairLock {
    fn drop(&mut self) {
        // Say "nobody" before unlocking, so the next holder has no one to take over from.
        let released = Holder { pid: 0, host: host_name(), since: 0, expires: 0 };
        if let Ok(body) = serde_json::to_vec(&released) {
            let _ = self.file.set_len(0).and_then(|_| self.file.rewind()).and_then(|_| self.file.write_all(&body));
        }
        let _ = rustix::fs::flock(&self.file, FlockOperation::Unlock);
    }
}

fn read_holder(file: &mut std::fs::File) -> Option<Holder> {
    let mut s = String::new();
    file.read_to_string(&mut s).ok()?;
    serde_json::from_str(&s).ok()
}

fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it or
    // truncates (the last byte stays 0).
    let ok = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len() - 1) } == 0;
    let end = buf.iter().position(|b| *b == 0).unwrap_or(0);
    if ok && end > 0 { String::from_utf8_lossy(&buf[..end]).into_owned() } else { "localhost".into() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_and_a_dead_ones_lock_is_taken_over() {
        let d = tempfile::tempdir().unwrap();
        let first = PairLock::acquire(d.path()).unwrap();
        assert!(first.took_over.is_none());
        let e = PairLock::acquire(d.path()).unwrap_err();
        assert_eq!(e.code(), "sync_locked");
        assert!(e.to_string().contains(&format!("pid {}", std::process::id())), "{e}");
        drop(first);
        assert!(PairLock::acquire(d.path()).unwrap().took_over.is_none(), "a clean release leaves no one to take over from");
        // A holder that died: its name is in the file, its flock is gone with it.
        let dead = Holder { pid: 999_999, host: host_name(), since: 1, expires: i64::MAX };
        std::fs::write(d.path().join("lock"), serde_json::to_vec(&dead).unwrap()).unwrap();
        assert_eq!(PairLock::acquire(d.path()).unwrap().took_over, Some(dead));
    }
}
