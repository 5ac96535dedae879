//! State files trainctl writes for itself (upload resume state, and for the desktop its watch
//! list): read back with a check of every value that could hurt, so a hand-edited, truncated or
//! foreign file is one clear [`Error::StateCorrupt`] naming the file and the field — never a
//! panic, an overflow or a silently wrong upload.

use crate::error::{Error, Result};
use serde::de::DeserializeOwned;
use std::path::Path;

/// A state value that can say what is wrong with it: `Err("field: why")`.
pub trait Checked {
    fn check(&self) -> std::result::Result<(), String>;
}

/// Reads and checks the JSON state at `path`; `Ok(None)` when there is none. A file that does
/// not parse (serde names the field and line) or fails [`Checked::check`] is
/// [`Error::StateCorrupt`]; a file above `max_bytes` is too (state files are small).
pub fn load_json<T: DeserializeOwned + Checked>(path: &Path, max_bytes: u64) -> Result<Option<T>> {
    let bytes = match crate::limits::read_capped(path, max_bytes, "state file") {
        Ok(b) => b,
        Err(Error::LocalMissing(_)) => return Ok(None),
        Err(Error::TooLarge { size, limit, .. }) => return Err(corrupt(path, format!("{size} bytes, more than a state file ever holds ({limit})"))),
        Err(e) => return Err(e),
    };
    let value: T = serde_json::from_slice(&bytes).map_err(|e| corrupt(path, e.to_string()))?;
    value.check().map_err(|why| corrupt(path, why))?;
    Ok(Some(value))
}

fn corrupt(path: &Path, reason: String) -> Error {
    Error::StateCorrupt { path: path.to_path_buf(), reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct Every {
        interval_secs: u64,
    }

    impl Checked for Every {
        fn check(&self) -> std::result::Result<(), String> {
            if self.interval_secs == 0 || self.interval_secs > 86_400 {
                return Err(format!("interval_secs: {} is not between 1 and 86400", self.interval_secs));
            }
            Ok(())
        }
    }

    #[test]
    fn a_bad_state_file_is_one_error_naming_the_file_and_field() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("watches.json");
        assert!(load_json::<Every>(&p, 1024).unwrap().is_none(), "missing is no state");
        std::fs::write(&p, r#"{"interval_secs": 0}"#).unwrap();
        let e = load_json::<Every>(&p, 1024).err().unwrap();
        assert_eq!(e.code(), "state_corrupt");
        assert!(e.to_string().contains("watches.json") && e.to_string().contains("interval_secs"), "{e}");
        std::fs::write(&p, r#"{"interval_secs": -1}"#).unwrap();
        assert!(load_json::<Every>(&p, 1024).err().unwrap().to_string().contains("line 1"));
        std::fs::write(&p, vec![b' '; 2048]).unwrap();
        assert_eq!(load_json::<Every>(&p, 1024).err().unwrap().code(), "state_corrupt");
        std::fs::write(&p, r#"{"interval_secs": 30}"#).unwrap();
        assert_eq!(load_json::<Every>(&p, 1024).unwrap().unwrap().interval_secs, 30);
    }
}
