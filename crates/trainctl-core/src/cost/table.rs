//! Price tables: the prices of one provider in one region, as data.
//!
//! The built-in storage tables are `data/prices/<provider>-<region>.toml` (`compute-aws.toml` beside
//! them is the GPU instance table, `cost::compute`), embedded at build time, one file per table, every
//! class row with the page its prices come from, the date they were read and whether they were
//! read from that page (`published`) or written from best knowledge (`best-knowledge`). A custom
//! table is a file of the same shape (`--prices FILE`, `TRAINCTL_PRICES`, or `prices = "FILE"` in
//! a trainctl profile), so a negotiated discount or a new provider is a data edit, not a release.

use super::normalize_class;
use crate::config::profile::ResolvedProfile;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

/// Env var naming the price table (a built-in id or a file); wins over the profile's `prices` key.
pub use crate::config::profile::PRICES_ENV;

/// Region value of a table that applies to every region of its provider (R2, B2).
const ANY_REGION: &str = "*";

/// The embedded tables, `(file name, text)`.
const BUILTIN: &[(&str, &str)] = &[
    ("aws-us-east-1.toml", include_str!("../../data/prices/aws-us-east-1.toml")),
    ("aws-us-east-2.toml", include_str!("../../data/prices/aws-us-east-2.toml")),
    ("aws-us-west-2.toml", include_str!("../../data/prices/aws-us-west-2.toml")),
    ("aws-eu-west-1.toml", include_str!("../../data/prices/aws-eu-west-1.toml")),
    ("aws-eu-central-1.toml", include_str!("../../data/prices/aws-eu-central-1.toml")),
    ("aws-ap-northeast-1.toml", include_str!("../../data/prices/aws-ap-northeast-1.toml")),
    ("aws-ap-southeast-1.toml", include_str!("../../data/prices/aws-ap-southeast-1.toml")),
    ("r2.toml", include_str!("../../data/prices/r2.toml")),
    ("b2.toml", include_str!("../../data/prices/b2.toml")),
];

/// How a price row was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PriceBasis {
    /// Read from the cited pricing page on the row's date.
    Published,
    /// Written from best knowledge on the row's date; the cited page is where to check it.
    BestKnowledge,
    /// A user's own table (negotiated prices, another provider).
    Custom,
}

/// The prices of one storage class. Request prices are USD per 1,000 requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassPrice {
    /// Storage, USD per GB-month (first volume tier; see `docs/cost.md`).
    pub storage_gb_month: f64,
    /// Minimum storage duration in days: deleting, overwriting or transitioning an object
    /// earlier is billed as if it had stayed this long.
    #[serde(default)]
    pub min_days: u32,
    /// Minimum billable object size in bytes (131072 for the IA classes and Glacier IR).
    #[serde(default)]
    pub min_object_bytes: u64,
    /// Per-object metadata billed at this class's price (32 KiB for GLACIER / DEEP_ARCHIVE).
    #[serde(default)]
    pub overhead_bytes: u64,
    /// Per-object metadata billed at the STANDARD price (8 KiB for GLACIER / DEEP_ARCHIVE).
    #[serde(default)]
    pub overhead_standard_bytes: u64,
    /// Monitoring and automation fee per 1,000 objects a month (Intelligent-Tiering; objects
    /// below 128 KiB are not monitored and pay none).
    #[serde(default)]
    pub monitoring_per_1000_objects: f64,
    /// PUT, COPY, POST and LIST requests.
    pub put_per_1000: f64,
    /// GET, SELECT and all other requests.
    pub get_per_1000: f64,
    /// Data retrieval, USD per GB (standard retrieval for the archive classes).
    #[serde(default)]
    pub retrieval_per_gb: f64,
    /// Lifecycle transition requests into this class.
    #[serde(default)]
    pub transition_per_1000: f64,
    /// The page the prices come from.
    pub source: String,
    /// When they were read (YYYY-MM-DD).
    pub date: String,
    pub basis: PriceBasis,
    /// Anything a reader of the row should know (tiers left out, legacy class...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The prices of one provider in one region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceTable {
    /// Provider id (`aws`, `r2`, `b2`, or a custom one), matching data/quirks/providers.toml.
    pub provider: String,
    /// Region (`us-east-1`), or `*` for a table that applies to every region of the provider.
    pub region: String,
    /// Human name ("Amazon S3, US East (N. Virginia)").
    pub name: String,
    /// Always USD for the built-in tables.
    #[serde(default = "usd")]
    pub currency: String,
    /// The pricing page of the whole table.
    pub source: String,
    /// When the table was last checked (YYYY-MM-DD).
    pub date: String,
    /// Bytes in the provider's billing "GB" (AWS and R2 bill GiB: 1073741824; B2 bills 10^9).
    pub bytes_per_gb: u64,
    /// The class an object with an unknown or unpriced class is billed as.
    #[serde(default = "standard")]
    pub default_class: String,
    /// Data transfer out to the internet, USD per GB (first paid tier); 0 for R2.
    #[serde(default)]
    pub egress_per_gb: f64,
    /// Prices by storage class, keyed as S3 names the class (`STANDARD`, `GLACIER_IR`, ...).
    pub classes: BTreeMap<String, ClassPrice>,
    /// Where the table was loaded from: `built-in` or a file path. Not part of the file.
    #[serde(default, skip_deserializing, skip_serializing_if = "String::is_empty")]
    pub origin: String,
}

fn usd() -> String {
    "USD".into()
}
fn standard() -> String {
    "STANDARD".into()
}

/// One line of `trainctl cost tables`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TableSummary {
    pub provider: String,
    pub region: String,
    pub name: String,
    pub date: String,
    pub source: String,
    pub classes: Vec<String>,
    pub origin: String,
}

impl PriceTable {
    /// Parses a table file's text; `origin` is recorded and used in errors.
    pub fn parse(origin: &str, text: &str) -> Result<PriceTable> {
        let mut t: PriceTable =
            toml::from_str(text).map_err(|e| Error::PriceTableInvalid { path: origin.to_string(), reason: e.message().trim().to_string() })?;
        t.origin = origin.to_string();
        t.validate()?;
        Ok(t)
    }

    /// Loads a custom table file.
    pub fn load(path: &Path) -> Result<PriceTable> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse(&path.display().to_string(), &text)
    }

    /// Refuses tables the model cannot use: no classes, no default class, negative prices.
    fn validate(&self) -> Result<()> {
        let bad = |reason: String| Err(Error::PriceTableInvalid { path: self.origin.clone(), reason });
        if self.classes.is_empty() {
            return bad("the table has no [classes.<NAME>] rows".into());
        }
        if !self.classes.contains_key(&self.default_class) {
            return bad(format!("default_class `{}` has no [classes.{}] row", self.default_class, self.default_class));
        }
        if self.bytes_per_gb == 0 {
            return bad("bytes_per_gb must be above 0 (1073741824 for GiB billing, 1000000000 for GB)".into());
        }
        if !self.egress_per_gb.is_finite() || self.egress_per_gb < 0.0 {
            return bad("egress_per_gb is negative or not a number".into());
        }
        for (name, c) in &self.classes {
            let prices = [c.storage_gb_month, c.put_per_1000, c.get_per_1000, c.retrieval_per_gb, c.transition_per_1000, c.monitoring_per_1000_objects];
            if prices.iter().any(|p| !p.is_finite() || *p < 0.0) {
                return bad(format!("class {name} has a negative or non-numeric price"));
            }
        }
        Ok(())
    }

    /// The table as a file a custom table can start from (`trainctl cost tables --show`).
    pub fn to_toml(&self) -> Result<String> {
        let mut t = self.clone();
        t.origin.clear();
        toml::to_string_pretty(&t).map_err(|e| Error::Internal(format!("serialize price table {}: {e}", self.id())))
    }

    /// `aws/us-east-1`: how a table is named in messages and `--json`.
    pub fn id(&self) -> String {
        format!("{}/{}", self.provider, self.region)
    }

    /// The prices of `class` (normalised; unknown classes fall back to `default_class`) and
    /// whether that fallback happened.
    pub fn class(&self, class: &str) -> (&ClassPrice, bool) {
        let name = normalize_class(Some(class));
        match self.classes.get(&name) {
            Some(c) => (c, false),
            None => (&self.classes[&self.default_class], true),
        }
    }

    /// The summary line `trainctl cost tables` prints.
    pub fn summary(&self) -> TableSummary {
        TableSummary {
            provider: self.provider.clone(),
            region: self.region.clone(),
            name: self.name.clone(),
            date: self.date.clone(),
            source: self.source.clone(),
            classes: self.classes.keys().cloned().collect(),
            origin: self.origin.clone(),
        }
    }

    fn matches(&self, provider: &str, region: &str) -> bool {
        self.provider == provider && (self.region == ANY_REGION || self.region.eq_ignore_ascii_case(region))
    }
}

/// Every built-in table, parsed once.
pub fn builtin_tables() -> &'static [PriceTable] {
    static TABLES: OnceLock<Vec<PriceTable>> = OnceLock::new();
    TABLES.get_or_init(|| {
        BUILTIN
            .iter()
            .map(|(file, text)| {
                let mut t = PriceTable::parse(&format!("data/prices/{file}"), text).expect("built-in price tables are valid (checked by a test)");
                t.origin = "built-in".into();
                t
            })
            .collect()
    })
}

/// Summaries of every built-in table, for `trainctl cost tables`.
pub fn tables() -> Vec<TableSummary> {
    builtin_tables().iter().map(PriceTable::summary).collect()
}

/// Provider aliases people type: `s3` is AWS, `cloudflare` is R2, `backblaze` is B2.
fn canonical_provider(provider: &str) -> String {
    let p = provider.trim().to_ascii_lowercase();
    match p.as_str() {
        "s3" | "amazon" | "aws-s3" => "aws".into(),
        "cloudflare" | "cloudflare-r2" => "r2".into(),
        "backblaze" | "backblaze-b2" => "b2".into(),
        _ => p,
    }
}

/// The built-in table of `provider` in `region`.
///
/// An unknown provider or region is [`Error::PriceTableMissing`], naming the missing table, the
/// tables that exist and how to add a custom one.
pub fn price_table(provider: &str, region: &str) -> Result<PriceTable> {
    let provider = canonical_provider(provider);
    let region = region.trim();
    builtin_tables().iter().find(|t| t.matches(&provider, region)).cloned().ok_or_else(|| Error::PriceTableMissing {
        table: format!("{provider}/{region}"),
        available: builtin_tables().iter().map(PriceTable::id).collect::<Vec<_>>().join(", "),
    })
}

/// The id of a built-in table when `spec` names one (`aws/us-east-1`), else `None` (a file).
pub fn builtin_id(spec: &str) -> Option<String> {
    let (provider, region) = spec.trim().split_once('/')?;
    builtin_tables().iter().find(|t| t.matches(&canonical_provider(provider), region)).map(PriceTable::id)
}

/// A table spec as `--prices`, `$TRAINCTL_PRICES` and a profile's `prices` key take it: a
/// built-in table id (`aws/us-east-1`) or a table file.
pub fn table_from_spec(spec: &str) -> Result<PriceTable> {
    match builtin_id(spec) {
        Some(_) => {
            let (provider, region) = spec.trim().split_once('/').expect("a built-in id has a slash");
            price_table(provider, region)
        }
        None => PriceTable::load(Path::new(spec)),
    }
}

/// The table that prices storage reached through `profile`: `custom` (e.g. `--prices`) > the
/// profile's resolved `prices` (`$TRAINCTL_PRICES`, its `prices` key, the demo's table) > the
/// built-in table of the profile's provider (detected from the endpoint host) and region.
///
/// Local test servers (moto, Garage, MinIO) have no built-in table: the error says to pass a
/// provider/region or a custom table.
pub fn table_for_profile(profile: &ResolvedProfile, custom: Option<&Path>) -> Result<PriceTable> {
    if let Some(p) = custom {
        return PriceTable::load(p);
    }
    if let Some(spec) = &profile.prices {
        return table_from_spec(spec);
    }
    price_table(&profile.provider, &profile.region)
}

/// The one choice of price table for an estimate, a review or a plan's savings, given what the
/// user asked for: `--prices FILE` > `--provider P[/REGION]` (region from `region`, else the
/// connection's, else us-east-1) > [`table_for_profile`] of the connection.
pub fn choose_table(prices: Option<&Path>, provider: Option<&str>, region: Option<&str>, profile: Option<&ResolvedProfile>) -> Result<PriceTable> {
    if let Some(p) = prices {
        return PriceTable::load(p);
    }
    if let Some(p) = provider {
        let (provider, region) = match p.split_once('/') {
            Some((provider, region)) => (provider.to_string(), region.to_string()),
            None => (p.to_string(), region.map(str::to_string).or_else(|| profile.map(|c| c.region.clone())).unwrap_or_else(|| "us-east-1".into())),
        };
        return price_table(&provider, &region);
    }
    match profile {
        Some(c) => table_for_profile(c, None),
        None => Err(Error::Usage("no connection profile to pick a price table from (pass --provider or --prices FILE)".into())),
    }
}
