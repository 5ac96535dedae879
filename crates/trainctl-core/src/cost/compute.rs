//! What GPU instances cost per hour, as data: `data/prices/compute-aws.toml` (every row with the
//! page its price comes from, the date it was read and how), or a custom file of the same shape
//! (`--compute-prices FILE`) for negotiated rates, Savings Plans or another cloud.
//!
//! Why a table and not an API call: the AWS Price List API needs credentials and a network round
//! trip per question, and spot prices change by the minute; a run's cost is an estimate a
//! researcher wants offline and reproducible, with the date it is true for printed beside it.

use super::PriceBasis;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::OnceLock;

const BUILTIN: &str = include_str!("../../data/prices/compute-aws.toml");

/// The hourly prices of one instance type in one region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstancePrice {
    /// `p4d.24xlarge`.
    pub instance: String,
    pub region: String,
    pub gpus: u32,
    pub gpu: String,
    /// USD per instance-hour, on demand (Linux).
    pub on_demand_hour: f64,
    /// USD per instance-hour on spot: a typical price, not a quote (spot prices move).
    pub spot_hour: Option<f64>,
    pub source: String,
    #[serde(default)]
    pub spot_source: Option<String>,
    /// When the price was read (YYYY-MM-DD).
    pub date: String,
    pub basis: PriceBasis,
    #[serde(default)]
    pub note: Option<String>,
}

/// A table of instance prices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComputeTable {
    pub provider: String,
    pub name: String,
    #[serde(default = "usd")]
    pub currency: String,
    pub source: String,
    pub date: String,
    pub instances: Vec<InstancePrice>,
    /// `built-in` or the file it was read from. Not part of the file.
    #[serde(default, skip_deserializing)]
    pub origin: String,
}

fn usd() -> String {
    "USD".into()
}

impl ComputeTable {
    /// Parses a table; `origin` names it in errors.
    pub fn parse(origin: &str, text: &str) -> Result<ComputeTable> {
        let bad = |reason: String| Error::PriceTableInvalid { path: origin.to_string(), reason };
        let mut t: ComputeTable = toml::from_str(text).map_err(|e| bad(e.message().trim().to_string()))?;
        t.origin = origin.to_string();
        if t.instances.is_empty() {
            return Err(bad("the table has no [[instances]] rows".into()));
        }
        for i in &t.instances {
            let prices = [Some(i.on_demand_hour), i.spot_hour];
            if prices.iter().flatten().any(|p| !p.is_finite() || *p < 0.0) {
                return Err(bad(format!("{} in {} has a negative or non-numeric price", i.instance, i.region)));
            }
        }
        Ok(t)
    }

    /// Loads a custom table file.
    pub fn load(path: &Path) -> Result<ComputeTable> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse(&path.display().to_string(), &text)
    }

    /// The row of `instance` in `region` (case-insensitive). An unknown instance is
    /// [`Error::InstanceUnknown`] naming the closest known ones; a known instance in a region the
    /// table does not price names the regions it does.
    pub fn price(&self, instance: &str, region: &str) -> Result<&InstancePrice> {
        let instance = instance.trim().to_ascii_lowercase();
        let rows: Vec<&InstancePrice> = self.instances.iter().filter(|i| i.instance.eq_ignore_ascii_case(&instance)).collect();
        if let Some(row) = rows.iter().find(|i| i.region.eq_ignore_ascii_case(region.trim())) {
            return Ok(row);
        }
        let close = if rows.is_empty() {
            self.closest(&instance)
        } else {
            rows.iter().map(|i| format!("{} in {}", i.instance, i.region)).collect()
        };
        Err(Error::InstanceUnknown { instance: format!("{instance} in {}", region.trim()), close: close.join(", ") })
    }

    /// Up to five known instance names nearest to `name`: the same family first, then by edit
    /// distance.
    fn closest(&self, name: &str) -> Vec<String> {
        let family = name.split('.').next().unwrap_or(name);
        let mut names: Vec<&str> = self.instances.iter().map(|i| i.instance.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        names.sort_by_key(|n| (n.split('.').next() != Some(family), strsim::levenshtein(n, name)));
        names.into_iter().take(5).map(str::to_string).collect()
    }
}

/// The built-in table, parsed once.
pub fn builtin_compute_table() -> &'static ComputeTable {
    static TABLE: OnceLock<ComputeTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = ComputeTable::parse("data/prices/compute-aws.toml", BUILTIN).expect("the built-in compute table is valid (checked by a test)");
        t.origin = "built-in".into();
        t
    })
}

/// A custom table when given, else the built-in one.
pub fn compute_table(custom: Option<&Path>) -> Result<ComputeTable> {
    match custom {
        Some(p) => ComputeTable::load(p),
        None => Ok(builtin_compute_table().clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_table_prices_the_common_gpu_instances_on_demand_and_spot_with_sources() {
        let t = builtin_compute_table();
        for name in ["p4d.24xlarge", "p4de.24xlarge", "p5.48xlarge", "g5.xlarge", "g5.48xlarge", "g6.xlarge", "g6.48xlarge"] {
            let p = t.price(name, "us-east-1").unwrap();
            assert!(p.on_demand_hour > 0.0 && p.spot_hour.is_some_and(|s| s > 0.0 && s < p.on_demand_hour), "{p:?}");
            assert!(p.source.starts_with("https://") && p.date.len() == 10, "{p:?}");
        }
        assert_eq!(t.price("P4D.24XLARGE", "us-east-1").unwrap().gpus, 8);
    }

    #[test]
    fn an_unknown_instance_names_the_closest_known_ones() {
        let t = builtin_compute_table();
        let e = t.price("p4d.24xlarg", "us-east-1").unwrap_err();
        assert_eq!(e.code(), "instance_unknown");
        assert!(e.to_string().contains("p4d.24xlarge"), "{e}");
        let e = t.price("g5.96xlarge", "us-east-1").unwrap_err().to_string();
        assert!(e.contains("g5.48xlarge") && !e.contains("p5."), "same family first: {e}");
        let e = t.price("g5.xlarge", "mars-1").unwrap_err().to_string();
        assert!(e.contains("g5.xlarge in us-east-1"), "{e}");
    }

    #[test]
    fn a_custom_table_with_a_negative_price_is_refused() {
        let text = BUILTIN.replacen("on_demand_hour = 55.04", "on_demand_hour = -1", 1);
        assert_eq!(ComputeTable::parse("x.toml", &text).unwrap_err().code(), "price_table_invalid");
    }
}
