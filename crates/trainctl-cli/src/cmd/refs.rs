//! `trainctl s3 materialize`: content references (`--dedup=refs`) back into plain objects, from
//! a plan shown first. Core: `refs::materialize`.

use crate::render::{self, Mode};
use crate::Globals;
use clap::Args;
use trainctl_core::refs::materialize::{apply_materialize, plan_materialize};
use trainctl_core::s3::S3Url;
use trainctl_core::{Error, Result};

#[derive(Debug, Args)]
pub struct MaterializeArgs {
    /// The prefix whose references become plain objects: s3://bucket/run/
    pub url: String,
    /// Show the plan (copies, references and content objects deleted); change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask before applying the plan
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Content objects no reference points to are deleted only when older than this (an upload
    /// writes its content before its references)
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = humantime::parse_duration)]
    pub grace: std::time::Duration,
}

pub async fn materialize(a: MaterializeArgs, g: &Globals) -> Result<i32> {
    let url = S3Url::parse(&a.url)?;
    let conn = g.connect().await?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    let plan = plan_materialize(&conn, &url, now, trainctl_core::limits::secs_i64(a.grace)).await?;
    let mode = Mode::from_globals(g);
    let b = &plan.bucket;
    match mode {
        Mode::Json if a.dry_run => render::print_json(&plan),
        Mode::Human => {
            for m in &plan.items {
                println!("materialize s3://{b}/{} -> s3://{b}/{} ({}, copy of s3://{b}/{})", m.reference, m.logical, render::bytes(m.size), m.content);
            }
            for (k, why) in &plan.kept {
                println!("keep s3://{b}/{k} ({why})");
            }
            for c in &plan.reclaim {
                println!("delete s3://{b}/{} ({}: no reference left)", c.key, render::bytes(c.size));
            }
        }
        _ => {}
    }
    let summary = format!(
        "{} references become plain objects ({}); {} content objects ({}) deleted",
        plan.items.len(),
        render::bytes(plan.bytes),
        plan.reclaim.len(),
        render::bytes(plan.reclaim_bytes)
    );
    if plan.items.is_empty() && plan.reclaim.is_empty() {
        if mode == Mode::Human {
            eprintln!("nothing to materialize: no references under s3://{b}/{}", plan.prefix);
        }
        return Ok(0);
    }
    if a.dry_run {
        if mode == Mode::Human {
            eprintln!("dry run: {summary}; nothing was changed");
        }
        return Ok(0);
    }
    if !a.yes {
        render::confirm(&format!("Apply: {summary}?"))?;
    }
    let report = apply_materialize(&conn, &plan).await?;
    match mode {
        Mode::Json => render::print_json(&report),
        Mode::Human => {
            for (k, why) in &report.kept {
                eprintln!("kept s3://{b}/{k}: {why}");
            }
            for (k, e) in &report.failed {
                eprintln!("failed s3://{b}/{k}: {}", e.message);
            }
            eprintln!(
                "materialized {} references ({}); deleted {} content objects ({})",
                report.materialized,
                render::bytes(report.bytes),
                report.reclaimed,
                render::bytes(report.reclaimed_bytes)
            );
        }
        Mode::Quiet => {}
    }
    if report.failed.is_empty() {
        Ok(0)
    } else {
        let failed = report.failed.len() as u64;
        Err(Error::Partial { failed, total: failed + report.materialized })
    }
}
