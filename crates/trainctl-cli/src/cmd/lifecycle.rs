//! `trainctl s3 lifecycle show|plan|apply`: bucket-scale retention executed by S3.
//!
//! Flags describe ONE rule (for the URL's prefix) plus rule ids to remove; the core merges that
//! into the bucket's configuration by id and shows the diff. `plan` is `apply --dry-run`.

use crate::render::{self, Mode};
use crate::Globals;
use clap::{Args, Subcommand, ValueEnum};
use trainctl_core::lifecycle::{self, LifecycleConfig, LifecyclePlan, LifecycleRequest, LifecycleSavings, Rule, StorageClass, Transition};
use trainctl_core::s3::{Connection, S3Url};
use trainctl_core::{Error, Result};

#[derive(Debug, Subcommand)]
pub enum LifecycleCmd {
    /// Show the bucket's lifecycle rules: trainctl s3 lifecycle show s3://bucket
    Show(ShowArgs),
    /// Show what apply would change (the merged diff and billing warnings); changes nothing
    Plan(RuleArgs),
    /// Merge the rule into the bucket's configuration (diff shown first; asks unless --yes):
    /// trainctl s3 lifecycle apply s3://bucket/runs/ --transition GLACIER_IR:30 --abort-multipart-days 7
    Apply(ApplyArgs),
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// s3://bucket (a prefix is accepted; the configuration is per bucket)
    pub url: String,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Preset {
    /// Abort incomplete multipart uploads after 7 days (deletes and moves nothing)
    Checkpoints,
}

/// One rule for the URL's prefix, and rules to remove.
#[derive(Debug, Args)]
pub struct RuleArgs {
    /// s3://bucket[/prefix]: the rule applies to keys under the prefix (whole bucket without one)
    pub url: String,
    /// Rule id (default: trainctl-<prefix>); an existing rule with this id is replaced
    #[arg(long, value_name = "NAME")]
    pub id: Option<String>,
    /// Move objects to CLASS after DAYS days, e.g. GLACIER_IR:30 (repeatable)
    #[arg(long, value_name = "CLASS:DAYS", value_parser = parse_transition)]
    pub transition: Vec<Transition>,
    /// Delete objects DAYS days after creation
    #[arg(long, value_name = "DAYS")]
    pub expire_days: Option<u32>,
    /// Abort multipart uploads still incomplete after DAYS days
    #[arg(long, value_name = "DAYS")]
    pub abort_multipart_days: Option<u32>,
    /// Delete noncurrent (overwritten) versions DAYS days after they became noncurrent
    #[arg(long, value_name = "DAYS")]
    pub noncurrent_expire_days: Option<u32>,
    /// Start from a preset rule; the flags above override its values
    #[arg(long, value_enum)]
    pub preset: Option<Preset>,
    /// Remove the rule with this id (repeatable); other rules are kept
    #[arg(long, value_name = "ID")]
    pub remove: Vec<String>,
    /// Price the savings with this provider's table (`aws`) or a table id (`aws/eu-west-1`)
    #[arg(long, value_name = "P")]
    pub provider: Option<String>,
    /// Price the savings with a custom price table file (format: docs/cost.md)
    #[arg(long, value_name = "FILE")]
    pub prices: Option<std::path::PathBuf>,
    /// Estimate the savings for today's objects as they will be DAYS from now (a 30-day rule
    /// saves nothing today on week-old checkpoints)
    #[arg(long, value_name = "DAYS", default_value_t = 0)]
    pub after_days: u32,
    /// Do not list the objects under the rule's prefix to estimate what the plan saves
    #[arg(long)]
    pub no_savings: bool,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub rule: RuleArgs,
    /// Only show the plan; change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask before writing the configuration
    #[arg(short, long)]
    pub yes: bool,
}

pub async fn run(cmd: LifecycleCmd, g: &Globals) -> Result<i32> {
    match cmd {
        LifecycleCmd::Show(a) => show(a, g).await,
        LifecycleCmd::Plan(rule) => apply(ApplyArgs { rule, dry_run: true, yes: false }, g).await,
        LifecycleCmd::Apply(a) => apply(a, g).await,
    }
}

/// `CLASS:DAYS` → a transition (`glacier-ir:30` works too).
fn parse_transition(s: &str) -> std::result::Result<Transition, String> {
    let (class, days) = s.rsplit_once(':').ok_or_else(|| format!("`{s}`: write CLASS:DAYS, e.g. GLACIER_IR:30"))?;
    let storage_class: StorageClass = class.parse()?;
    let days = days.trim().parse::<u32>().map_err(|_| format!("`{days}` is not a number of days"))?;
    Ok(Transition { days, storage_class })
}

impl RuleArgs {
    /// The request the flags describe; refuses a command with nothing to do.
    fn request(&self, url: &S3Url) -> Result<LifecycleRequest> {
        let prefix = if url.key.is_empty() { String::new() } else { url.dir_prefix() };
        let mut rule = match self.preset {
            Some(Preset::Checkpoints) => lifecycle::preset_checkpoints(&prefix),
            None => Rule::new(lifecycle::default_rule_id(&prefix), prefix.clone()),
        };
        if let Some(id) = &self.id {
            rule.id = id.clone();
        }
        if !self.transition.is_empty() {
            rule.transitions = self.transition.clone();
            rule.transitions.sort_by_key(|t| t.days);
        }
        rule.expire_days = self.expire_days.or(rule.expire_days);
        rule.abort_multipart_days = self.abort_multipart_days.or(rule.abort_multipart_days);
        rule.noncurrent_expire_days = self.noncurrent_expire_days.or(rule.noncurrent_expire_days);
        let set = if rule.has_action() { vec![rule] } else { vec![] };
        if set.is_empty() && self.remove.is_empty() {
            return Err(Error::Usage("give a rule (--transition, --expire-days, --abort-multipart-days, --noncurrent-expire-days or --preset) or --remove ID".into()));
        }
        Ok(LifecycleRequest { set, remove: self.remove.clone() })
    }
}

async fn show(a: ShowArgs, g: &Globals) -> Result<i32> {
    let url = S3Url::parse(&a.url)?;
    let conn = g.connect().await?;
    let config = lifecycle::read(&conn, &url).await?;
    match Mode::from_globals(g) {
        Mode::Json => render::print_json(&config),
        _ => print_config(&config),
    }
    Ok(0)
}

/// What the plan saves on the objects stored now (docs/lifecycle.md, "Savings"). Never fails the
/// plan: without a price table, or when the listing is refused, it says so and the plan stands.
async fn savings_of(conn: &Connection, plan: &LifecyclePlan, r: &RuleArgs, g: &Globals) -> LifecycleSavings {
    let table = trainctl_core::cost::choose_table(r.prices.as_deref(), r.provider.as_deref(), g.region.as_deref(), Some(&conn.profile));
    if table.is_ok() && lifecycle::savings::needs_listing(plan) && Mode::from_globals(g) == Mode::Human {
        eprintln!("listing the objects under the rule's prefix to estimate the savings (--no-savings skips this)…");
    }
    lifecycle::savings(conn, plan, table, trainctl_core::checkpoint::detect::now_secs(), r.after_days).await
}

fn print_config(c: &LifecycleConfig) {
    if c.rules.is_empty() {
        println!("s3://{}: no lifecycle rules", c.bucket);
        return;
    }
    println!("s3://{}: {} lifecycle rule(s)", c.bucket, c.rules.len());
    for r in &c.rules {
        let state = if r.enabled { "" } else { " (disabled)" };
        println!("  {}{state} [{}]: {}", if r.id.is_empty() { "(no id)" } else { &r.id }, r.scope(), r.describe().join("; "));
    }
}

async fn apply(a: ApplyArgs, g: &Globals) -> Result<i32> {
    let url = S3Url::parse(&a.rule.url)?;
    let request = a.rule.request(&url)?;
    let conn = g.connect().await?;
    let existing = lifecycle::read(&conn, &url).await?;
    let plan = lifecycle::plan(&existing, &request)?;
    let mode = Mode::from_globals(g);
    let savings = if a.rule.no_savings { None } else { Some(savings_of(&conn, &plan, &a.rule, g).await) };
    match mode {
        Mode::Json => render::print_json(&serde_json::json!({ "event": "lifecycle_plan", "plan": plan, "savings": savings })),
        _ => {
            print!("{}", plan.render_text());
            if let Some(s) = &savings {
                print!("{}", s.render_text());
            }
        }
    }
    if a.dry_run || plan.is_noop() {
        return Ok(0);
    }
    if !a.yes {
        render::confirm(&format!("Write this lifecycle configuration to s3://{}?", plan.bucket))?;
    }
    let report = lifecycle::apply(&conn, &plan).await?;
    match mode {
        Mode::Json => render::print_json(&serde_json::json!({ "event": "lifecycle_applied", "report": report })),
        Mode::Quiet => {}
        Mode::Human => eprintln!("applied: {} added, {} changed, {} removed; the bucket now has {} rule(s)", report.added, report.changed, report.removed, report.rules_after),
    }
    Ok(0)
}
