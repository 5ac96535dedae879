//! Limits on input trainctl does not control: object keys, listings, logs and files written by
//! other programs (or other people). Each helper here replaces a one-liner that panics, wraps or
//! reads without bound on hostile input.
//!
//! Why one module: the same three mistakes — slicing a `str` at a byte offset, `as i64` on a
//! user's duration, reading a whole file of unknown size — were made in several places; a named
//! helper is easier to reach for (and to grep for) than a rule to remember.

use crate::error::{Error, Result};
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::time::Duration;

/// Whole seconds of `d` as an `i64`, saturating: a `--grace` or `--keep-since` of 10^19 seconds
/// must mean "forever", not wrap negative (`as i64`) and switch the rule off.
pub fn secs_i64(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// The sum of sizes, saturating: a listing's sizes come from the server, and two objects a
/// hostile (or broken) server calls `i64::MAX` bytes long must not overflow (a panic in debug
/// builds, a wrap to a tiny number in release).
pub fn sum_sizes(sizes: impl IntoIterator<Item = u64>) -> u64 {
    sizes.into_iter().fold(0u64, u64::saturating_add)
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary: slicing
/// `&s[..max]` panics when byte `max` falls inside a multi-byte character.
pub fn prefix_at_most(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The longest suffix of `s` of at most `max` bytes that starts on a character boundary.
pub fn suffix_at_most(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

/// Bytes read from a file that may be larger than what trainctl is willing to hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tail {
    pub bytes: Vec<u8>,
    /// Bytes of the file before `bytes` that were not read (0: the whole file).
    pub skipped: u64,
}

/// Reads `path` whole when it has at most `max` bytes, else only its last `max` bytes.
/// Why: logs and metric files grow to gigabytes; their recent end is what a curve or a follow
/// needs, and reading them whole would hold all of it in memory.
pub fn read_tail(path: &Path, max: u64) -> Result<Tail> {
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let len = f.metadata().map_err(|e| Error::io(path, e))?.len();
    let skipped = len.saturating_sub(max);
    f.seek(SeekFrom::Start(skipped)).map_err(|e| Error::io(path, e))?;
    let mut bytes = Vec::with_capacity(len.min(max).min(64 << 20) as usize);
    f.take(max).read_to_end(&mut bytes).map_err(|e| Error::io(path, e))?;
    Ok(Tail { bytes, skipped })
}

/// Reads `path` whole, refusing a file above `max` bytes with [`Error::TooLarge`] (for formats
/// that cannot be read from their end, such as one JSON document).
pub fn read_capped(path: &Path, max: u64, what: &str) -> Result<Vec<u8>> {
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let len = f.metadata().map_err(|e| Error::io(path, e))?.len();
    if len > max {
        return Err(Error::TooLarge { what: format!("{what} {}", path.display()), size: len, limit: max });
    }
    let mut bytes = Vec::with_capacity(len as usize);
    // `take`: the file may grow between the stat and the read.
    f.take(max).read_to_end(&mut bytes).map_err(|e| Error::io(path, e))?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_durations_saturate_instead_of_wrapping_negative() {
        assert_eq!(secs_i64(Duration::from_secs(u64::MAX)), i64::MAX);
        assert_eq!(secs_i64(Duration::from_secs(60)), 60);
    }

    #[test]
    fn prefixes_and_suffixes_never_split_a_character() {
        let s = "aé€😀";
        for max in 0..=s.len() + 1 {
            assert!(s.starts_with(prefix_at_most(s, max)));
            assert!(prefix_at_most(s, max).len() <= max);
            assert!(s.ends_with(suffix_at_most(s, max)));
            assert!(suffix_at_most(s, max).len() <= max);
        }
        assert_eq!(prefix_at_most(s, 2), "a");
        assert_eq!(suffix_at_most(s, 5), "😀");
    }

    #[test]
    fn a_big_file_is_read_from_its_end_and_a_capped_one_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("log");
        std::fs::write(&p, b"0123456789").unwrap();
        assert_eq!(read_tail(&p, 4).unwrap(), Tail { bytes: b"6789".to_vec(), skipped: 6 });
        assert_eq!(read_tail(&p, 100).unwrap().skipped, 0);
        assert!(matches!(read_capped(&p, 4, "metrics file"), Err(Error::TooLarge { size: 10, limit: 4, .. })));
        assert_eq!(read_capped(&p, 10, "x").unwrap().len(), 10);
    }
}
