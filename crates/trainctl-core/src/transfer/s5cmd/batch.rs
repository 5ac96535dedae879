//! The one place where s5cmd command lines are built: global flags for the process and one
//! `cp` line per planned item in a `run` batch file, so what s5cmd executes is exactly the
//! planned job (no wildcard expansion, no directory walking of its own).
//!
//! s5cmd splits batch lines shell-style (double quotes, backslash escapes). Every token we write
//! is double-quoted with `\`, `"`, `$` and `` ` `` escaped; a line break cannot be carried at
//! all, so such paths are refused. `--raw` turns off s5cmd's glob expansion, so `*`, `?` and `[`
//! in keys and file names are literal.

use crate::error::{Error, Result};
use std::ffi::OsString;
use std::path::Path;

const MIB: u64 = 1024 * 1024;

/// Per-`cp` flags decided by the engine.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CpFlags {
    pub storage_class: Option<String>,
    /// `(concurrency, part size in bytes)` for multipart transfers; `None` = s5cmd defaults
    /// (single-part objects never need it).
    pub parts: Option<(usize, u64)>,
    /// User metadata (`x-amz-meta-KEY: VALUE`), each pair as `--metadata "KEY=VALUE"`:
    /// compressed uploads' codec facts, `--dedup`'s recorded hash.
    pub metadata: Vec<(String, String)>,
}

/// Quotes one token for s5cmd's batch parser.
pub fn quote(s: &str) -> Result<String> {
    if s.contains(['\n', '\r', '\0']) {
        return Err(Error::S5cmd(format!(
            "{s:?} contains a line break or NUL, which an s5cmd batch file cannot carry; use --engine native"
        )));
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if matches!(c, '\\' | '"' | '$' | '`') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    Ok(out)
}

/// One `cp` line (without the trailing newline).
pub fn cp_line(src: &str, dst: &str, flags: &CpFlags) -> Result<String> {
    let mut line = String::from("cp --raw");
    if let Some(class) = &flags.storage_class {
        line.push_str(" --storage-class ");
        line.push_str(&quote(class)?);
    }
    if let Some((concurrency, part_size)) = flags.parts {
        let mib = part_size.div_ceil(MIB).max(5);
        line.push_str(&format!(" --concurrency {} --part-size {mib}", concurrency.max(1)));
    }
    for (k, v) in &flags.metadata {
        if k.contains('=') {
            return Err(Error::S5cmd(format!("metadata key {k:?} contains `=`, which s5cmd cannot carry; use --engine native")));
        }
        line.push_str(" --metadata ");
        line.push_str(&quote(&format!("{k}={v}"))?);
    }
    line.push(' ');
    line.push_str(&quote(src)?);
    line.push(' ');
    line.push_str(&quote(dst)?);
    Ok(line)
}

/// The process arguments: `--json --log info --numworkers N --retry-count R [--endpoint-url URL]
/// run FILE`. `R` is the network policy's retries (its attempts minus the first), so both engines
/// retry alike (s5cmd backs off exponentially and honours throttling answers itself). Never
/// credentials (those go through the environment) and never `--no-verify-ssl`.
pub fn global_args(numworkers: usize, retries: u32, endpoint_url: Option<&str>, batch: &Path) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec!["--json".into(), "--log".into(), "info".into(), "--numworkers".into(), numworkers.max(1).to_string().into()];
    args.extend(["--retry-count".into(), retries.to_string().into()]);
    if let Some(url) = endpoint_url {
        args.push("--endpoint-url".into());
        args.push(url.into());
    }
    args.push("run".into());
    args.push(batch.as_os_str().to_owned());
    args
}

/// Parts in flight per multipart object: the job's concurrency shared among its large items,
/// at least 2, so a single huge file uses all of it and many large files do not multiply
/// memory (`numworkers × concurrency × part size`).
pub fn part_concurrency(concurrency: usize, large_items: usize) -> usize {
    (concurrency / large_items.max(1)).clamp(2, concurrency.max(2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_escapes_shell_specials_only() {
        assert_eq!(quote("a b").unwrap(), r#""a b""#);
        assert_eq!(quote(r#"a"b\c$d`e"#).unwrap(), r#""a\"b\\c\$d\`e""#);
        assert_eq!(quote("st*r?[x]'q' ünï").unwrap(), "\"st*r?[x]'q' ünï\"");
        assert!(quote("a\nb").is_err());
    }

    #[test]
    fn cp_lines_are_raw_and_carry_flags() {
        let f = CpFlags { storage_class: Some("STANDARD_IA".into()), parts: Some((4, 33 * MIB)), metadata: Vec::new() };
        assert_eq!(
            cp_line("/d/x y", "s3://b/k", &f).unwrap(),
            r#"cp --raw --storage-class "STANDARD_IA" --concurrency 4 --part-size 33 "/d/x y" "s3://b/k""#
        );
        assert_eq!(cp_line("/a", "s3://b/a", &CpFlags::default()).unwrap(), r#"cp --raw "/a" "s3://b/a""#);
        let m = CpFlags { metadata: vec![("trainctl-crc64nvme".into(), "AAAAAAAAACo=".into())], ..CpFlags::default() };
        assert_eq!(cp_line("/a", "s3://b/a", &m).unwrap(), r#"cp --raw --metadata "trainctl-crc64nvme=AAAAAAAAACo=" "/a" "s3://b/a""#);
        let bad = CpFlags { metadata: vec![("a=b".into(), "c".into())], ..CpFlags::default() };
        assert!(cp_line("/a", "s3://b/a", &bad).is_err());
    }

    #[test]
    fn global_args_never_disable_tls_checks() {
        let a = global_args(8, 4, Some("http://127.0.0.1:9000"), Path::new("/tmp/b"));
        let s: Vec<_> = a.iter().map(|x| x.to_string_lossy().into_owned()).collect();
        assert_eq!(s, ["--json", "--log", "info", "--numworkers", "8", "--retry-count", "4", "--endpoint-url", "http://127.0.0.1:9000", "run", "/tmp/b"]);
    }

    #[test]
    fn part_concurrency_is_shared_and_bounded() {
        assert_eq!(part_concurrency(16, 1), 16);
        assert_eq!(part_concurrency(16, 4), 4);
        assert_eq!(part_concurrency(16, 100), 2);
    }
}
