//! `trainctl s3 review`: what uses a bucket or prefix, what it costs, what a listing hides.
//! Parses flags, calls `trainctl_core::review`, prints tables, `--json` (the `Report` value) or
//! `--csv`, and saves a local snapshot for the Dashboard's growth chart.

use crate::render;
use crate::Globals;
use clap::Args;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Mutex;
use tokio_util::sync::CancellationToken;
use trainctl_core::event::{Event, Sink};
use trainctl_core::review::{self, Duplicates, Group, Report, ReviewOptions};
use trainctl_core::s3::{Connection, S3Url};
use trainctl_core::{Error, Result};

#[derive(Debug, Args)]
pub struct ReviewArgs {
    /// s3://bucket/prefix/ to review (with --inventory: optional, keeps only keys under it)
    #[arg(required_unless_present = "inventory")]
    pub url: Option<String>,
    /// Add runs with checkpoint sizes, age bands, hidden bytes (incomplete multipart uploads,
    /// noncurrent versions, delete markers) and duplicate objects (same size and ETag)
    #[arg(long)]
    pub detailed: bool,
    /// One CSV row per group instead of tables (section,name,objects,bytes,monthly_usd)
    #[arg(long)]
    pub csv: bool,
    /// Length of the largest-objects and largest-prefixes lists
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub top: usize,
    /// ListObjectsV2 requests in flight at once
    #[arg(long, value_name = "N", default_value_t = 32)]
    pub concurrency: usize,
    /// Read an S3 Inventory report instead of listing: its manifest.json (s3:// or a local path)
    #[arg(long, value_name = "MANIFEST")]
    pub inventory: Option<String>,
    /// Price table file for the $/month figures (default: the profile's provider and region)
    #[arg(long, value_name = "FILE")]
    pub prices: Option<PathBuf>,
    /// Price with this provider's table (`aws`, `r2`, `b2`) or a table id (`aws/eu-west-1`),
    /// as `trainctl cost estimate --provider` does
    #[arg(long, value_name = "P")]
    pub provider: Option<String>,
    /// Do not keep a snapshot of this review (for the Dashboard's growth chart)
    #[arg(long)]
    pub no_snapshot: bool,
}

#[derive(Debug, Args)]
pub struct DedupArgs {
    /// s3://bucket/prefix/ to look in
    pub url: String,
    /// Price table file for the $/month figure (default: the profile's provider and region)
    #[arg(long, value_name = "FILE")]
    pub prices: Option<PathBuf>,
    /// Price with this provider's table (`aws`, `r2`, `b2`) or a table id (`aws/eu-west-1`)
    #[arg(long, value_name = "P")]
    pub provider: Option<String>,
}

/// `trainctl s3 dedup`: every group of duplicate objects under a prefix, from one listing.
/// Changes nothing.
pub async fn dedup(a: DedupArgs, g: &Globals) -> Result<i32> {
    let url = S3Url::parse(&a.url)?;
    let conn = g.connect().await?;
    let progress = ReviewProgressLine::new(!g.json && !g.quiet && std::io::stderr().is_terminal());
    let table = trainctl_core::cost::choose_table(a.prices.as_deref(), a.provider.as_deref(), g.region.as_deref(), Some(&conn.profile));
    let (d, notes) = review::find_duplicates(&conn, &url, table, &progress, &CancellationToken::new()).await?;
    progress.clear();
    if g.json {
        render::print_json(&d);
    } else if !g.quiet {
        let mut out = String::new();
        human_duplicates(&mut out, &d);
        notes.iter().for_each(|n| out.push_str(&format!("  - {n}\n")));
        print!("{}", out.trim_start());
    }
    Ok(0)
}

pub async fn run(a: ReviewArgs, g: &Globals) -> Result<i32> {
    if a.csv && g.json {
        return Err(Error::Usage("--csv and --json are two different outputs: pick one".into()));
    }
    if a.concurrency == 0 {
        return Err(Error::Usage("--concurrency must be at least 1".into()));
    }
    let url = a.url.as_deref().map(S3Url::parse).transpose()?;
    let progress = ReviewProgressLine::new(!g.json && !g.quiet && !a.csv && std::io::stderr().is_terminal());
    let opts = ReviewOptions { top_n: a.top, concurrency: a.concurrency, detailed: a.detailed, ..ReviewOptions::default() };
    let (mut report, conn) = match &a.inventory {
        Some(manifest) => {
            // A local manifest next to its data files needs no connection; open one when we can.
            let conn = g.connect().await;
            let conn = match (conn, manifest.starts_with("s3://")) {
                (Ok(c), _) => Some(c),
                (Err(e), true) => return Err(e),
                (Err(_), false) => None,
            };
            let prefix = url.as_ref().map(review::location_prefix);
            let r = review::review_inventory(conn.as_ref(), manifest, prefix.as_deref(), opts.now, opts.top_n, &progress).await?;
            (r, conn)
        }
        None => {
            let url = url.expect("clap requires url without --inventory");
            let conn = g.connect().await?;
            let r = review::review(&conn, &url, &opts, &progress, &CancellationToken::new()).await?;
            (r, Some(conn))
        }
    };
    progress.clear();
    let table = trainctl_core::cost::choose_table(a.prices.as_deref(), a.provider.as_deref(), g.region.as_deref(), conn.as_ref().map(|c| &c.profile));
    review::price(&mut report, table);
    if !a.no_snapshot {
        if let Err(e) = review::snapshots::save(&report) {
            tracing::warn!("review snapshot not saved: {e}");
        }
    }
    if g.json {
        render::print_json(&report);
    } else if a.csv {
        print!("{}", csv(&report));
    } else if !g.quiet {
        print!("{}", human(&report, a.detailed, conn.as_ref()));
    }
    Ok(0)
}

/// A one-line progress counter on stderr (only on a terminal, only in human mode).
struct ReviewProgressLine {
    on: bool,
    drawn: Mutex<bool>,
}

impl ReviewProgressLine {
    fn new(on: bool) -> Self {
        ReviewProgressLine { on, drawn: Mutex::new(false) }
    }

    fn clear(&self) {
        if self.on && *self.drawn.lock().unwrap() {
            eprint!("\r\x1b[2K");
        }
    }
}

impl Sink for ReviewProgressLine {
    fn send(&self, event: Event) {
        if !self.on {
            return;
        }
        if let Event::ReviewProgress { objects, bytes, units_done, units_total } = event {
            *self.drawn.lock().unwrap() = true;
            eprint!("\r\x1b[2Kreviewing: {} objects, {} ({units_done}/{units_total} prefixes)", thousands(objects), render::bytes(bytes));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Human output

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn usd(v: Option<f64>) -> String {
    match v {
        Some(v) if v < 0.01 && v > 0.0 => "<0.01".into(),
        Some(v) => format!("{v:.2}"),
        None => "-".into(),
    }
}

fn ago(now: i64, t: Option<i64>) -> String {
    match t {
        None => "-".into(),
        Some(t) => {
            let d = (now - t).max(0);
            match d {
                d if d < 3600 => format!("{}m ago", d / 60),
                d if d < 86_400 => format!("{}h ago", d / 3600),
                d => format!("{}d ago", d / 86_400),
            }
        }
    }
}

/// Left-aligned first column, right-aligned others.
fn table(out: &mut String, title: &str, header: &[&str], rows: Vec<Vec<String>>) {
    out.push_str(&format!("\n{title}\n"));
    if rows.is_empty() {
        out.push_str("  (none)\n");
        return;
    }
    let mut width: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            width[i] = width[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let mut s = String::from(" ");
        for (i, c) in cells.iter().enumerate() {
            let pad = width[i] - c.chars().count();
            if i == 0 {
                s.push_str(&format!(" {c}{}", " ".repeat(pad)));
            } else {
                s.push_str(&format!("  {}{c}", " ".repeat(pad)));
            }
        }
        s.trim_end().to_string() + "\n"
    };
    out.push_str(&line(header.iter().map(|h| h.to_string()).collect()));
    for r in rows {
        out.push_str(&line(r));
    }
}

fn group_rows(groups: &[Group]) -> Vec<Vec<String>> {
    groups.iter().map(|g| vec![display_name(&g.name), thousands(g.objects), render::bytes(g.bytes), usd(g.monthly_usd)]).collect()
}

fn display_name(name: &str) -> String {
    if name.is_empty() {
        "(location)".into()
    } else {
        name.to_string()
    }
}

const GROUP_HEADER: [&str; 4] = ["NAME", "OBJECTS", "SIZE", "$/MONTH"];

fn human(r: &Report, detailed: bool, conn: Option<&Connection>) -> String {
    let mut out = String::new();
    let source = match r.source {
        review::Source::Listing => "listing".to_string(),
        review::Source::Inventory => format!("inventory {}", r.manifest.as_deref().unwrap_or("")),
    };
    out.push_str(&format!("Review of {} ({source}, {:.1} s)\n", r.location, r.elapsed_ms as f64 / 1000.0));
    let priced = match (&r.pricing.provider, &r.pricing.region) {
        (Some(p), Some(reg)) => format!(", ${}/month ({p} {reg})", usd(r.totals.monthly_usd)),
        _ => String::new(),
    };
    out.push_str(&format!("Total: {} objects, {}{priced}\n", thousands(r.totals.objects), render::bytes(r.totals.bytes)));
    if let Some(x) = &r.references {
        let unread = if x.unread > 0 { format!(", {} unreadable (counted as stored)", x.unread) } else { String::new() };
        let saved_usd = x.monthly_usd_saved.map(|u| format!(", ${}/month", usd(Some(u)))).unwrap_or_default();
        out.push_str(&format!(
            "Content references: logical {}, stored {}, saved {}{saved_usd} ({} references stand for {}; {} content objects hold {}{unread})\n",
            render::bytes(x.logical_total),
            render::bytes(x.stored_total),
            render::bytes(x.saved_bytes),
            thousands(x.refs),
            render::bytes(x.logical_bytes),
            thousands(x.content_objects),
            render::bytes(x.content_bytes)
        ));
    }
    table(&mut out, "By top-level prefix", &GROUP_HEADER, group_rows(&r.by_prefix));
    table(&mut out, "By storage class", &GROUP_HEADER, group_rows(&r.by_storage_class));
    let largest: Vec<Vec<String>> =
        r.largest_objects.iter().map(|o| vec![o.key.clone(), render::bytes(o.bytes), o.storage_class.clone(), ago(r.generated_at, o.last_modified)]).collect();
    table(&mut out, "Largest objects", &["KEY", "SIZE", "CLASS", "MODIFIED"], largest);
    table(&mut out, "Largest prefixes", &GROUP_HEADER, group_rows(&r.largest_prefixes));
    if detailed {
        human_detailed(&mut out, r);
    } else if !r.by_run.is_empty() {
        let ck: u64 = r.by_run.iter().map(|x| x.checkpoint_bytes).sum();
        out.push_str(&format!("\n{} runs with checkpoints ({}); --detailed shows them, with ages and hidden bytes\n", r.by_run.len(), render::bytes(ck)));
    }
    if let Some(m) = &r.pricing.missing {
        out.push_str(&format!("\nNo $/month: {m}\n  (pass --prices FILE, or use a profile whose provider/region has a table; docs/cost.md)\n"));
    }
    let _ = conn;
    let unseen: Vec<&String> = r.unseen.iter().filter(|u| detailed || !u.contains("--detailed")).collect();
    if !unseen.is_empty() {
        out.push_str("\nNot seen:\n");
        for u in unseen {
            out.push_str(&format!("  - {u}\n"));
        }
    }
    out
}

fn human_detailed(out: &mut String, r: &Report) {
    let runs: Vec<Vec<String>> = r
        .by_run
        .iter()
        .map(|run| {
            let largest = run.checkpoint_sizes.iter().map(|c| c.bytes).max().unwrap_or(0);
            vec![
                display_name(&run.run),
                thousands(run.checkpoints),
                render::bytes(run.checkpoint_bytes),
                render::bytes(largest),
                render::bytes(run.total.bytes),
                usd(run.total.monthly_usd),
                ago(r.generated_at, run.last_modified),
                if run.datasets.is_empty() { "-".into() } else { run.datasets.join(", ") },
            ]
        })
        .collect();
    table(out, "Runs", &["RUN", "CHECKPOINTS", "CKPT SIZE", "LARGEST", "TOTAL", "$/MONTH", "MODIFIED", "DATASETS"], runs);
    let mut ck_rows = Vec::new();
    for run in &r.by_run {
        for c in &run.checkpoint_sizes {
            ck_rows.push(vec![c.id.clone(), c.step.map(|s| s.to_string()).unwrap_or_else(|| "-".into()), c.layout.clone(), thousands(c.objects), render::bytes(c.bytes)]);
        }
    }
    table(out, "Checkpoint sizes", &["CHECKPOINT", "STEP", "LAYOUT", "OBJECTS", "SIZE"], ck_rows);
    table(out, "By age (last modified)", &GROUP_HEADER, group_rows(&r.by_age));
    out.push_str("\nHidden bytes (billed, not listed)\n");
    match &r.hidden {
        None => out.push_str("  not checked\n"),
        Some(h) => {
            out.push_str(&format!(
                "  incomplete multipart uploads: {} ({} parts, {}){}\n",
                thousands(h.multipart_uploads),
                thousands(h.multipart_parts),
                render::bytes(h.multipart_bytes),
                h.oldest_upload.map(|t| format!(", oldest started {}", ago(r.generated_at, Some(t)))).unwrap_or_default()
            ));
            let v = h.versioning.as_deref().unwrap_or("never enabled");
            out.push_str(&format!(
                "  versioning: {v}; noncurrent versions: {} ({}); delete markers: {}\n",
                thousands(h.noncurrent_versions),
                render::bytes(h.noncurrent_bytes),
                thousands(h.delete_markers)
            ));
            if let Some(c) = h.monthly_usd {
                out.push_str(&format!("  hidden cost: ${}/month\n", usd(Some(c))));
            }
        }
    }
    if let Some(d) = &r.duplicates {
        human_duplicates(out, d);
    }
}

/// The duplicate groups (shared by `s3 review --detailed` and `s3 dedup`).
pub fn human_duplicates(out: &mut String, d: &Duplicates) {
    out.push_str(&format!("\nDuplicate objects (same size and ETag; objects of {} or more)\n", render::bytes(d.min_object_bytes)));
    if d.groups_total == 0 {
        let why = if d.without_etag > 0 { format!(" ({} objects had no ETag to compare)", thousands(d.without_etag)) } else { String::new() };
        out.push_str(&format!("  none{why}\n"));
        return;
    }
    let cost = d.monthly_usd.map(|c| format!(", ${}/month", usd(Some(c)))).unwrap_or_default();
    out.push_str(&format!(
        "  {} groups, {} objects: {} reclaimable{cost} by keeping one copy of each\n",
        thousands(d.groups_total),
        thousands(d.objects),
        render::bytes(d.reclaimable_bytes)
    ));
    let rows = d
        .groups
        .iter()
        .map(|g| {
            let more = if g.copies as usize > g.keys.len() { format!(" (+{} more)", g.copies as usize - g.keys.len()) } else { String::new() };
            vec![thousands(g.copies), render::bytes(g.bytes), render::bytes(g.reclaimable_bytes), format!("{}{more}", g.keys.join(", "))]
        })
        .collect();
    let title = if (d.groups.len() as u64) < d.groups_total { format!("Largest {} groups", d.groups.len()) } else { "Groups".to_string() };
    table(out, &title, &["COPIES", "SIZE", "RECLAIMABLE", "KEYS"], rows);
}

// ---------------------------------------------------------------------------------------------
// CSV output

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn csv(r: &Report) -> String {
    let mut out = String::from("section,name,objects,bytes,monthly_usd\n");
    let mut row = |section: &str, name: &str, objects: u64, bytes: u64, cost: Option<f64>| {
        out.push_str(&format!("{section},{},{objects},{bytes},{}\n", csv_field(name), cost.map(|c| format!("{c:.6}")).unwrap_or_default()));
    };
    let mut groups = |section: &str, gs: &[Group]| {
        for g in gs {
            row(section, &g.name, g.objects, g.bytes, g.monthly_usd);
        }
    };
    groups("total", std::slice::from_ref(&r.totals));
    groups("prefix", &r.by_prefix);
    groups("storage_class", &r.by_storage_class);
    groups("age", &r.by_age);
    groups("largest_prefix", &r.largest_prefixes);
    for run in &r.by_run {
        row("run", &run.run, run.total.objects, run.total.bytes, run.total.monthly_usd);
        for c in &run.checkpoint_sizes {
            row("checkpoint", &c.id, c.objects, c.bytes, None);
        }
    }
    for o in &r.largest_objects {
        row("largest_object", &o.key, 1, o.bytes, None);
    }
    if let Some(x) = &r.references {
        row("references", "logical", x.refs, x.logical_total, None);
        row("references", "stored", x.refs + x.content_objects, x.stored_total, None);
    }
    if let Some(h) = &r.hidden {
        row("hidden", "multipart_parts", h.multipart_parts, h.multipart_bytes, None);
        row("hidden", "noncurrent_versions", h.noncurrent_versions, h.noncurrent_bytes, None);
        row("hidden", "delete_markers", h.delete_markers, 0, None);
    }
    if let Some(d) = &r.duplicates {
        row("duplicates", "reclaimable", d.objects, d.reclaimable_bytes, d.monthly_usd);
        for g in &d.groups {
            row("duplicate_group", g.keys.first().map(String::as_str).unwrap_or_default(), g.copies, g.reclaimable_bytes, None);
        }
    }
    out
}
