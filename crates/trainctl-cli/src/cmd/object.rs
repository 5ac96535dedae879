//! `trainctl s3 presign` and `trainctl s3 tag`, and the `--versions` listing of `s3 ls`: the
//! Browser's object panel on the command line, over the same core calls.

use crate::render::{self, Mode};
use crate::Globals;
use clap::Args;
use std::collections::BTreeMap;
use trainctl_core::s3::{share, tags, versions, Connection, S3Url};
use trainctl_core::{Error, Result};

#[derive(Debug, Args)]
pub struct PresignArgs {
    /// The object: s3://bucket/key
    pub url: String,
    /// How long the link works, e.g. 30m, 1h, 7d (at most 7 days)
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    pub expires_in: std::time::Duration,
}

#[derive(Debug, Args)]
pub struct TagArgs {
    /// The object: s3://bucket/key
    pub url: String,
    /// Tags to set, KEY=VALUE (replaces every tag of the object); none: show its tags
    pub tags: Vec<String>,
}

/// Prints a presigned link (stdout: the URL only, so `$(trainctl s3 presign …)` works).
pub async fn presign(a: PresignArgs, g: &Globals) -> Result<i32> {
    let url = S3Url::parse(&a.url)?;
    let conn = g.connect().await?;
    let link = share::share_link(&conn, &url.bucket, &url.key, a.expires_in).await?;
    match Mode::from_globals(g) {
        Mode::Json => render::print_json(&link),
        mode => {
            println!("{}", link.url);
            if let (Some(w), Mode::Human) = (&link.warning, mode) {
                eprintln!("note: {w}");
            }
        }
    }
    Ok(0)
}

/// Shows the tags of an object, or replaces them (checked against the ETag it has now).
pub async fn tag(a: TagArgs, g: &Globals) -> Result<i32> {
    let url = S3Url::parse(&a.url)?;
    let conn = g.connect().await?;
    let mode = Mode::from_globals(g);
    if !a.tags.is_empty() {
        let wanted = parse_tags(&a.tags)?;
        let before = tags::details(&conn, &url.bucket, &url.key).await?;
        tags::set_tags(&conn, &url.bucket, &url.key, before.etag.as_deref(), &wanted).await?;
    }
    let d = tags::details(&conn, &url.bucket, &url.key).await?;
    match mode {
        Mode::Json => render::print_json(&d),
        Mode::Quiet => {}
        Mode::Human => match (&d.tags, &d.tags_note) {
            (Some(t), _) if t.is_empty() => eprintln!("{url}: no tags"),
            (Some(t), _) => t.iter().for_each(|(k, v)| println!("{k}={v}")),
            (None, note) => eprintln!("{url}: {}", note.as_deref().unwrap_or("no tags")),
        },
    }
    Ok(0)
}

/// `KEY=VALUE` words as a tag set.
fn parse_tags(words: &[String]) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for w in words {
        let (k, v) = w.split_once('=').ok_or_else(|| Error::Usage(format!("`{w}` is not KEY=VALUE")))?;
        out.insert(k.to_string(), v.to_string());
    }
    tags::validate_tags(&out)?;
    Ok(out)
}

/// `s3 ls --versions`: one line per version, newest first within each key.
pub async fn print_versions(conn: &Connection, url: &S3Url, mode: Mode) -> Result<i32> {
    let all = versions::list_versions(conn, &url.bucket, &url.key).await?;
    for v in &all {
        match mode {
            Mode::Json => render::print_json(v),
            Mode::Quiet => {}
            Mode::Human => println!(
                "{:>29}  {:>10}  {:<34}  {}  s3://{}/{}",
                v.last_modified.map(render::time).unwrap_or_default(),
                if v.delete_marker { "DELETED".to_string() } else { render::bytes(v.size) },
                v.version_id.as_deref().unwrap_or("null"),
                if v.is_latest { "LATEST" } else { "      " },
                url.bucket,
                v.key
            ),
        }
    }
    if mode == Mode::Human {
        eprintln!("{} versions", all.len());
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_key_equals_value() {
        assert_eq!(parse_tags(&["a=1".into(), "b=x=y".into()]).unwrap().get("b").map(String::as_str), Some("x=y"));
        assert_eq!(parse_tags(&["novalue".into()]).unwrap_err().code(), "usage");
    }
}
