//! `trainctl cost estimate|tables|run|instances`: what a prefix costs a month, from the review engine's
//! listing aggregated by storage class (parallel, constant memory) and a price table with its
//! source and date; what a run cost (instance-hours × a GPU price table, plus storage).

use crate::render::{self, Mode};
use crate::Globals;
use clap::{Args, Subcommand};
use std::path::PathBuf;
use tokio_util::sync::CancellationToken;
use trainctl_core::checkpoint::Location;
use trainctl_core::cost::{self, CostBreakdown, Usage};
use trainctl_core::runs::{self, cost::{CostRequest, DurationSource, RunCost}};
use trainctl_core::event::NullSink;
use trainctl_core::review::{self, ReviewOptions};
use trainctl_core::s3::{Connection, S3Url};
use trainctl_core::{Error, Result};

#[derive(Debug, Subcommand)]
pub enum CostCmd {
    /// Estimate the monthly storage cost of a prefix: trainctl cost estimate s3://bucket/runs/
    Estimate(EstimateArgs),
    /// List the built-in price tables (provider/region, date, source)
    Tables(TablesArgs),
    /// What a run cost: its duration (checkpoint timeline or trainctl-run.json) × a GPU
    /// instance's hourly price, plus its storage per month:
    /// trainctl cost run s3://bucket/runs/exp7/ --instance p4d.24xlarge
    Run(RunArgs),
    /// The GPU instance prices `cost run` knows (on demand and spot, with date and source)
    Instances(InstancesArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The run: an s3:// prefix or a local folder
    pub location: String,
    /// The instance type the run used (`trainctl cost instances` lists them)
    #[arg(long, value_name = "TYPE")]
    pub instance: String,
    /// The region the instances ran in
    #[arg(long, value_name = "REGION", default_value = "us-east-1")]
    pub instance_region: String,
    /// Price spot instances (a typical spot price, not a quote) instead of on demand
    #[arg(long)]
    pub spot: bool,
    /// The run's length in hours, instead of reading it from the run
    #[arg(long, value_name = "H")]
    pub hours: Option<f64>,
    /// How many instances the run used
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub count: u32,
    /// A custom compute price table (format: docs/cost.md)
    #[arg(long, value_name = "FILE")]
    pub compute_prices: Option<PathBuf>,
    /// Storage prices: a provider or table id (`aws/eu-west-1`); a local folder defaults to
    /// aws in --instance-region
    #[arg(long, value_name = "P")]
    pub provider: Option<String>,
    /// A custom storage price table file
    #[arg(long, value_name = "FILE")]
    pub prices: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct InstancesArgs {
    /// A custom compute price table to list instead of the built-in one
    #[arg(long, value_name = "FILE")]
    pub compute_prices: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct EstimateArgs {
    /// The s3:// bucket or prefix to price
    pub url: String,
    /// Price with this provider's table (`aws`, `r2`, `b2`) or a table id (`aws/eu-west-1`);
    /// the region is the table id's, else --region, else the connection's
    #[arg(long, value_name = "P")]
    pub provider: Option<String>,
    /// A custom price table file (format: docs/cost.md); wins over everything else
    #[arg(long, value_name = "FILE")]
    pub prices: Option<PathBuf>,
    /// Monthly budget in USD: exit 48 with a warning when the estimate exceeds it
    #[arg(long, value_name = "USD")]
    pub budget: Option<f64>,
    /// Also count what a listing misses and the bill includes: incomplete multipart uploads and
    /// noncurrent versions (more requests)
    #[arg(long)]
    pub detailed: bool,
}

#[derive(Debug, Args)]
pub struct TablesArgs {
    /// Print one table (`aws/us-east-1`) in full, as TOML to start a custom table from
    #[arg(long, value_name = "ID")]
    pub show: Option<String>,
}

pub async fn run(cmd: CostCmd, g: &Globals) -> Result<i32> {
    match cmd {
        CostCmd::Estimate(a) => estimate(a, g).await,
        CostCmd::Tables(a) => tables(a, g),
        CostCmd::Run(a) => run_cost(a, g).await,
        CostCmd::Instances(a) => instances(a, g),
    }
}

/// What `--json` prints: the breakdown plus where it was measured and the budget verdict.
#[derive(serde::Serialize)]
struct Estimate<'a> {
    event: &'static str,
    location: String,
    #[serde(flatten)]
    breakdown: &'a CostBreakdown,
    /// Cost of the hidden bytes (`--detailed`), included in `total_monthly_usd`.
    hidden_monthly_usd: Option<f64>,
    hidden_bytes: Option<u64>,
    /// `monthly_usd` (listed objects) + `hidden_monthly_usd`: what `--budget` is compared with.
    total_monthly_usd: f64,
    budget_usd: Option<f64>,
    over_budget: bool,
    /// What the listing could not see (a denied ListObjectVersions or ListMultipartUploads): the
    /// estimate leaves those bytes out, so it says so rather than show a reassuring $0.
    unseen: Vec<String>,
}

async fn estimate(a: EstimateArgs, g: &Globals) -> Result<i32> {
    let url = S3Url::parse(&a.url)?;
    if let Some(b) = a.budget {
        if !b.is_finite() || b < 0.0 {
            return Err(Error::Usage(format!("--budget must be a number of USD per month, 0 or more (got {b})")));
        }
    }
    let conn = g.connect().await?;
    // The table first: a missing table fails before any listing is paid for.
    let table = cost::choose_table(a.prices.as_deref(), a.provider.as_deref(), g.region.as_deref(), Some(&conn.profile))?;
    let (location, usage, hidden, unseen) = usage_of(&conn, &url, a.detailed).await?;
    let breakdown = table.breakdown(&usage);
    let hidden_monthly_usd = hidden.as_ref().map(|h| table.monthly_storage_usd(h));
    let hidden_bytes = hidden.as_ref().map(|h| h.iter().map(|u| u.bytes).sum());
    let total_monthly_usd = breakdown.monthly_usd + hidden_monthly_usd.unwrap_or(0.0);
    let over_budget = a.budget.is_some_and(|b| total_monthly_usd > b);
    match Mode::from_globals(g) {
        Mode::Json => render::print_json(&Estimate {
            event: "cost_estimate",
            location,
            breakdown: &breakdown,
            hidden_monthly_usd,
            hidden_bytes,
            total_monthly_usd,
            budget_usd: a.budget,
            over_budget,
            unseen,
        }),
        Mode::Human => {
            print_breakdown(&location, &breakdown, hidden_bytes.zip(hidden_monthly_usd), total_monthly_usd, a.budget);
            for u in unseen.iter().filter(|u| a.detailed || !u.contains("--detailed")) {
                eprintln!("not seen: {u}");
            }
        }
        Mode::Quiet => {}
    }
    match a.budget {
        Some(budget_usd) if over_budget => Err(Error::BudgetExceeded { estimate_usd: total_monthly_usd, budget_usd }),
        _ => Ok(0),
    }
}

/// Storage usage by class under `url`, from the review engine (the same listing and grouping as
/// `trainctl s3 review`, so the two agree), plus the hidden usage when `detailed` and what the
/// review could not see.
async fn usage_of(conn: &Connection, url: &S3Url, detailed: bool) -> Result<(String, Vec<Usage>, Option<Vec<Usage>>, Vec<String>)> {
    let opts = ReviewOptions { top_n: 1, detailed, ..ReviewOptions::default() };
    let report = review::review(conn, url, &opts, &NullSink, &CancellationToken::new()).await?;
    let hidden = if detailed { Some(report.hidden.map(|h| h.classes).unwrap_or_default()) } else { None };
    Ok((report.location, report.totals.classes, hidden, report.unseen))
}

fn print_breakdown(location: &str, b: &CostBreakdown, hidden: Option<(u64, f64)>, total: f64, budget: Option<f64>) {
    println!("{location}: {} objects, {}", b.objects, render::bytes(b.bytes));
    if !b.classes.is_empty() {
        println!("  {:<20} {:>10} {:>12} {:>12} {:>10} {:>12}", "class", "objects", "stored", "billed", "$/GB-mo", "$/month");
    }
    for c in &b.classes {
        let class = if c.priced_as == c.class { c.class.clone() } else { format!("{} (as {})", c.class, c.priced_as) };
        let billed = c.billable_bytes + c.standard_overhead_bytes;
        println!(
            "  {class:<20} {:>10} {:>12} {:>12} {:>10} {:>12}",
            c.objects,
            render::bytes(c.bytes),
            render::bytes(billed),
            format!("{}", c.usd_per_gb_month),
            usd(c.monthly_usd)
        );
    }
    match hidden {
        Some((bytes, monthly)) => println!("  {:<20} {:>10} {:>12} {:>12} {:>10} {:>12}", "hidden", "", render::bytes(bytes), "", "", usd(monthly)),
        None => eprintln!("not counted: incomplete multipart uploads and old versions (add --detailed)"),
    }
    println!("  {:<20} {:>71}", "total", format!("{}/month", usd(total)));
    if let Some(budget) = budget {
        let verdict = if total > budget { "OVER" } else { "within" };
        println!("  budget {}/month: {verdict}", usd(budget));
    }
    eprintln!("prices: {} ({}, {}), dated {} — {}", b.table_name, b.table, b.table_origin, b.table_date, b.table_source);
    if !b.unpriced_classes.is_empty() {
        eprintln!("no price for {} in this table: priced as its default class", b.unpriced_classes.join(", "));
    }
    eprintln!("storage only: requests, retrievals, egress, volume discounts and free tiers are not included (docs/cost.md)");
}

/// Dollars with enough digits that small test prefixes do not show as $0.00.
fn usd(v: f64) -> String {
    if v != 0.0 && v.abs() < 0.01 { format!("${v:.6}") } else { format!("${v:.2}") }
}

/// An hourly price as the table has it ($1.006, $21.96).
fn hourly(v: f64) -> String {
    format!("${}", (v * 10_000.0).round() / 10_000.0)
}

fn tables(a: TablesArgs, g: &Globals) -> Result<i32> {
    let mode = Mode::from_globals(g);
    if let Some(id) = a.show {
        let (provider, region) = id.split_once('/').unwrap_or((id.as_str(), ""));
        let t = cost::price_table(provider, region)?;
        match mode {
            Mode::Json => render::print_json(&t),
            _ => print!("{}", t.to_toml()?),
        }
        return Ok(0);
    }
    for t in cost::builtin_tables() {
        match mode {
            Mode::Json => render::print_json(&t.summary()),
            Mode::Quiet => {}
            Mode::Human => println!("{:<20} {:<40} {}  classes: {:<2} {}", t.id(), t.name, t.date, t.classes.len(), t.source),
        }
    }
    if mode == Mode::Human {
        eprintln!("a custom table: --prices FILE, TRAINCTL_PRICES, or `prices = \"FILE\"` in a profile (docs/cost.md)");
    }
    Ok(0)
}

async fn run_cost(a: RunArgs, g: &Globals) -> Result<i32> {
    let compute = cost::compute::compute_table(a.compute_prices.as_deref())?;
    let loc = Location::parse(&a.location)?;
    let req = CostRequest { instance: a.instance, region: a.instance_region.clone(), spot: a.spot, count: a.count, hours: a.hours };
    req.price(&compute)?;
    let (conn, storage) = match &loc {
        Location::S3(_) => {
            let conn = g.connect().await?;
            let table = cost::choose_table(a.prices.as_deref(), a.provider.as_deref(), g.region.as_deref(), Some(&conn.profile))?;
            (Some(conn), table)
        }
        Location::Local(_) => {
            let provider = a.provider.clone().unwrap_or_else(|| "aws".into());
            (None, cost::choose_table(a.prices.as_deref(), Some(&provider), Some(&a.instance_region), None)?)
        }
    };
    let c = runs::cost::run_cost(&loc, conn.as_ref(), &req, &compute, &storage).await?;
    match Mode::from_globals(g) {
        Mode::Json => {
            let mut v = serde_json::to_value(&c).map_err(|e| Error::Internal(e.to_string()))?;
            v["event"] = "run_cost".into();
            render::print_json(&v);
        }
        Mode::Quiet => {}
        Mode::Human => print_run_cost(&c),
    }
    Ok(0)
}

fn print_run_cost(c: &RunCost) {
    let from = match c.duration_from {
        DurationSource::Given => "--hours",
        DurationSource::RunRecord => "trainctl-run.json",
        DurationSource::Checkpoints => "first to newest checkpoint",
    };
    println!("{}: {} checkpoints, {:.2} h ({from})", c.location, c.checkpoints, c.hours);
    let market = if c.spot { "spot" } else { "on demand" };
    println!(
        "  compute  {} × {} ({} × {}) {market} in {} at {}/h × {:.2} h = {}",
        c.count,
        c.instance,
        c.gpus,
        c.gpu,
        c.region,
        hourly(c.usd_per_hour),
        c.hours,
        usd(c.compute_usd)
    );
    println!("  storage  {} in {} objects: {}/month ({}, {})", render::bytes(c.storage_bytes), c.storage_objects, usd(c.storage_monthly_usd), c.storage_table, c.storage_table_date);
    eprintln!("prices: {} {} ({}, {}) — {}", c.instance, market, c.price_basis, c.price_date, c.price_source);
    for n in c.price_note.iter().chain(&c.notes) {
        eprintln!("note: {n}");
    }
}

fn instances(a: InstancesArgs, g: &Globals) -> Result<i32> {
    let t = cost::compute::compute_table(a.compute_prices.as_deref())?;
    let mode = Mode::from_globals(g);
    for i in &t.instances {
        match mode {
            Mode::Json => render::print_json(i),
            Mode::Quiet => {}
            Mode::Human => println!(
                "{:<16} {:<10} {} × {:<18} {:>10}/h on demand {:>10}/h spot  {}",
                i.instance,
                i.region,
                i.gpus,
                i.gpu,
                hourly(i.on_demand_hour),
                i.spot_hour.map(hourly).unwrap_or_else(|| "-".into()),
                i.date
            ),
        }
    }
    if mode == Mode::Human {
        eprintln!("{} ({}), {} — {}; spot prices are typical, not quotes; your own table: --compute-prices FILE (docs/cost.md)", t.name, t.origin, t.date, t.source);
    }
    Ok(0)
}
