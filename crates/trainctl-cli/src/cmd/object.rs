//! `trainctl s3 presign`, `s3 tag`, `s3 mv` and the `--versions` listing of `s3 ls`: the
//! Browser's object panel on the command line, over the same core calls.

use crate::render::{self, Mode};
use crate::Globals;
use clap::Args;
use std::collections::BTreeMap;
use trainctl_core::s3::{rename, share, tags, versions, Connection, S3Url};
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

#[derive(Debug, Args)]
pub struct MvArgs {
    /// What to move: s3://bucket/key, or a folder s3://bucket/prefix/ (everything under it)
    pub from: String,
    /// The new name in the same bucket (a folder ends in /)
    pub to: String,
    /// Show what would move; change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask before moving a folder
    #[arg(long, short = 'y')]
    pub yes: bool,
}

/// Renames a key or a folder with server-side copies; the old keys go only once every copy landed.
pub async fn mv(a: MvArgs, g: &Globals) -> Result<i32> {
    let (from, to) = (S3Url::parse(&a.from)?, S3Url::parse(&a.to)?);
    if from.bucket != to.bucket {
        return Err(Error::Usage(format!("`{}` and `{}` are in different buckets: s3 mv renames within one bucket (copy across with download + upload)", a.from, a.to)));
    }
    let conn = g.connect().await?;
    let plan = rename::plan_rename(&conn, &from.bucket, &from.key, &to.key).await?;
    let mode = Mode::from_globals(g);
    match mode {
        Mode::Json if a.dry_run => render::print_json(&plan),
        Mode::Human => {
            for m in plan.moves.iter().take(20) {
                eprintln!("  s3://{b}/{}  →  s3://{b}/{}  ({})", m.from, m.to, render::bytes(m.size), b = plan.bucket);
            }
            if plan.moves.len() > 20 {
                eprintln!("  … and {} more", plan.moves.len() - 20);
            }
        }
        _ => {}
    }
    if let Some(first) = plan.conflicts.first() {
        let more = match plan.conflicts.len() - 1 {
            0 => String::new(),
            n => format!(" (and {n} more)"),
        };
        return Err(Error::DestinationExists(format!("s3://{}/{first}{more}", plan.bucket)));
    }
    if a.dry_run {
        if mode == Mode::Human {
            eprintln!("dry run: would move {} objects ({}); nothing was changed", plan.moves.len(), render::bytes(plan.bytes));
        }
        return Ok(0);
    }
    if plan.moves.len() > 1 && !a.yes {
        render::confirm(&format!("Move these {} objects ({})?", plan.moves.len(), render::bytes(plan.bytes)))?;
    }
    let report = rename::apply_rename(&conn, &plan).await?;
    match mode {
        Mode::Json => render::print_json(&report),
        Mode::Human => eprintln!("moved {} objects ({}) to s3://{}/{}", report.moved, render::bytes(report.bytes), plan.bucket, plan.to),
        Mode::Quiet => {}
    }
    Ok(0)
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
