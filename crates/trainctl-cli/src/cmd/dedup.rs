//! `trainctl checkpoint dedup DIR`: identical files across checkpoints become hard links (or
//! reflinks), from a plan shown first. Core: `checkpoint::dedup` / `checkpoint::dedup_apply`.

use crate::render::{self, Mode, Renderer};
use crate::Globals;
use clap::{Args, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;
use trainctl_core::checkpoint::detect::now_secs;
use trainctl_core::checkpoint::{self, DedupMethod, DedupOptions, DedupOutcome, DedupPlan};
use trainctl_core::{Error, Result};

#[derive(Debug, Args)]
pub struct DedupArgs {
    /// The local folder holding the runs and checkpoints
    pub dir: PathBuf,
    /// How copies share their bytes: auto (reflink where the filesystem can, else a hard link),
    /// link (always a hard link) or reflink (only reflinks)
    #[arg(long, value_enum, default_value = "auto")]
    pub method: MethodArg,
    /// Files modified within this long are left alone (a trainer may still be writing them)
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = humantime::parse_duration)]
    pub grace: Duration,
    /// Show the plan and change nothing
    #[arg(long, conflicts_with = "yes")]
    pub dry_run: bool,
    /// Do not ask before replacing files
    #[arg(short, long)]
    pub yes: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum MethodArg {
    Auto,
    Link,
    Reflink,
}

pub async fn dedup(a: DedupArgs, g: &Globals) -> Result<i32> {
    let mode = Mode::from_globals(g);
    let method = match a.method {
        MethodArg::Auto => DedupMethod::Auto,
        MethodArg::Link => DedupMethod::Link,
        MethodArg::Reflink => DedupMethod::Reflink,
    };
    let opts = DedupOptions { method, grace_secs: a.grace.as_secs() as i64, now: now_secs() };
    let renderer = Renderer::new(if mode == Mode::Human { Mode::Human } else { Mode::Quiet });
    let plan = checkpoint::plan_dedup(&a.dir, &opts, 1, &renderer).await?;
    renderer.finish();
    show_plan(&plan, mode);
    if plan.files_to_replace == 0 || a.dry_run {
        if mode == Mode::Human {
            match plan.files_to_replace {
                0 => eprintln!("nothing to deduplicate: no two files with the same bytes left under {}", plan.root.display()),
                n => eprintln!("dry run: would replace {n} files and free {}; nothing was changed", bytes(plan.bytes_reclaimed)),
            }
        }
        return Ok(0);
    }
    if !a.yes {
        render::confirm(&format!("Replace the {} files above by links to their kept copy (frees {})?", plan.files_to_replace, bytes(plan.bytes_reclaimed)))?;
    }
    let out = tokio::task::spawn_blocking(move || checkpoint::apply_dedup(&plan)).await.map_err(|e| Error::Internal(format!("dedup task: {e}")))??;
    report(&out, mode)
}

fn bytes(n: u64) -> String {
    format!("{} ({n} bytes)", render::bytes(n))
}

fn show_plan(p: &DedupPlan, mode: Mode) {
    match mode {
        Mode::Json => {
            let mut v = serde_json::to_value(p).unwrap_or_default();
            v["event"] = "dedup_plan".into();
            render::print_json(&v);
        }
        Mode::Quiet => {}
        Mode::Human => {
            for g in &p.groups {
                println!("{} × {} ({}) — keep {}", g.replace.len() + 1 + g.already_linked.len(), render::bytes(g.size), &g.sha256[..12], g.keep);
                for r in &g.replace {
                    let mode_note = r.mode_after.map(|m| format!("  (mode {:o} → {m:o})", r.mode)).unwrap_or_default();
                    let frees = if r.frees { "" } else { "  (also linked outside the folder: frees nothing)" };
                    println!("    replace {}{mode_note}{frees}", r.path);
                }
            }
            for s in &p.skipped {
                eprintln!("skipped {}: {}", s.path, s.reason);
            }
            for n in &p.notes {
                eprintln!("note: {n}");
            }
            eprintln!(
                "{} files ({}) scanned, {} hashed ({}), {} from the hash cache, {} symlinks left alone",
                p.files_scanned,
                render::bytes(p.bytes_scanned),
                p.hashed,
                render::bytes(p.bytes_hashed),
                p.from_cache,
                p.symlinks
            );
            if p.files_to_replace > 0 {
                eprintln!("plan: {} groups, replace {} files, free {}", p.groups.len(), p.files_to_replace, bytes(p.bytes_reclaimed));
            }
        }
    }
}

fn report(out: &DedupOutcome, mode: Mode) -> Result<i32> {
    match mode {
        Mode::Json => {
            let mut v = serde_json::to_value(out).unwrap_or_default();
            v["event"] = "summary".into();
            render::print_json(&v);
        }
        Mode::Quiet => {}
        Mode::Human => {
            for s in &out.skipped {
                eprintln!("skipped {}: {}", s.path, s.reason);
            }
            for n in &out.notes {
                eprintln!("note: {n}");
            }
            eprintln!("linked {} files, reflinked {}, freed {}; {} skipped", out.linked, out.reflinked, bytes(out.bytes_reclaimed), out.skipped.len());
        }
    }
    if !out.skipped.is_empty() {
        let total = out.linked + out.reflinked + out.skipped.len() as u64;
        return Err(Error::Partial { failed: out.skipped.len() as u64, total });
    }
    Ok(0)
}
