//! Conflicts: a path (or a checkpoint folder) changed on both sides with different content, and
//! what each policy does about it.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// `--conflict`: what to do when both sides changed a path differently.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConflictPolicy {
    /// Both versions survive on both sides: the remote one keeps the name (it is what other
    /// machines already see), the local one is renamed `NAME.conflict-YYYYMMDD-HHMMSS-local.EXT`.
    #[default]
    KeepBoth,
    /// The version modified last wins (local mtime against S3 LastModified: two clocks, so
    /// only when the user asks for it).
    Newer,
    /// The local version wins; the remote one is overwritten.
    Local,
    /// The remote version wins; the local one is overwritten.
    Remote,
    /// Leave both as they are and report (exit 63); everything else is synced.
    Fail,
}

impl ConflictPolicy {
    /// Parses `keep-both|newer|local|remote|fail`.
    pub fn parse(s: &str) -> Result<ConflictPolicy> {
        Ok(match s {
            "keep-both" => ConflictPolicy::KeepBoth,
            "newer" => ConflictPolicy::Newer,
            "local" => ConflictPolicy::Local,
            "remote" => ConflictPolicy::Remote,
            "fail" => ConflictPolicy::Fail,
            other => return Err(Error::Usage(format!("unknown conflict policy `{other}` (keep-both, newer, local, remote, fail)"))),
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            ConflictPolicy::KeepBoth => "keep-both",
            ConflictPolicy::Newer => "newer",
            ConflictPolicy::Local => "local",
            ConflictPolicy::Remote => "remote",
            ConflictPolicy::Fail => "fail",
        }
    }
}

/// One side's version of a conflicting path, as shown.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "ts", ts(rename = "SyncVersion"))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Version {
    pub bytes: u64,
    /// Seconds since the Unix epoch (that side's clock).
    pub modified: Option<i64>,
    /// Files, for a checkpoint folder.
    pub files: u64,
}

/// A conflict of a pass: what it is and what was (or will be) done.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "ts", ts(rename = "SyncConflict"))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Conflict {
    /// The file, or the checkpoint folder (ending in `/`) that conflicts as one unit.
    pub path: String,
    pub local: Version,
    pub remote: Version,
    /// The policy applied (`fail` = left undecided).
    pub policy: ConflictPolicy,
    /// In words: "local copy kept as a.conflict-20261203-094412-local.txt".
    pub resolution: String,
}

/// `dir/name.conflict-YYYYMMDD-HHMMSS-SIDE.ext` for a file, `dir/name.conflict-…-SIDE/` for a
/// folder. `stamp` is `YYYYMMDD-HHMMSS`.
pub fn conflict_name(path: &str, side: &str, stamp: &str) -> String {
    let is_dir = path.ends_with('/');
    let trimmed = path.trim_end_matches('/');
    let (parent, name) = match trimmed.rfind('/') {
        Some(i) => (&trimmed[..=i], &trimmed[i + 1..]),
        None => ("", trimmed),
    };
    let tag = format!("conflict-{stamp}-{side}");
    if is_dir {
        return format!("{parent}{name}.{tag}/");
    }
    match name.rfind('.') {
        Some(i) if i > 0 => format!("{parent}{}.{tag}{}", &name[..i], &name[i..]),
        _ => format!("{parent}{name}.{tag}"),
    }
}

/// The stamp for conflict names made now (UTC).
pub fn stamp_now() -> String {
    let t = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    // 2026-12-03T09:44:12Z → 20261203-094412
    let digits: String = t.chars().filter(|c| c.is_ascii_digit()).collect();
    format!("{}-{}", &digits[..8], &digits[8..14])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflict_names_keep_the_extension_and_the_folder() {
        let s = "20261203-094412";
        assert_eq!(conflict_name("a/b/model.pt", "local", s), "a/b/model.conflict-20261203-094412-local.pt");
        assert_eq!(conflict_name("notes", "remote", s), "notes.conflict-20261203-094412-remote");
        assert_eq!(conflict_name(".env", "local", s), ".env.conflict-20261203-094412-local");
        assert_eq!(conflict_name("run/checkpoint-5/", "local", s), "run/checkpoint-5.conflict-20261203-094412-local/");
        assert_eq!(stamp_now().len(), 15);
    }

    #[test]
    fn policies_parse_by_name() {
        for p in [ConflictPolicy::KeepBoth, ConflictPolicy::Newer, ConflictPolicy::Local, ConflictPolicy::Remote, ConflictPolicy::Fail] {
            assert_eq!(ConflictPolicy::parse(p.name()).unwrap(), p);
        }
        assert_eq!(ConflictPolicy::parse("mine").unwrap_err().code(), "usage");
    }
}
