//! What a lifecycle plan saves: the new or changed rules applied to the objects under their
//! prefixes today, priced with the cost model (`crate::cost`), net of the one-time charges.
//!
//! Why "applied to today's objects": S3 evaluates a new rule against every existing object
//! within a day or two, so objects already past a rule's days move (or expire) at once; that is
//! the figure a researcher can check on the next bill. Objects younger than a rule's days are
//! counted apart (`objects_later`): they will move later, and so will objects not written yet,
//! which no listing can price. The listing already reflects what the bucket's rules did so far,
//! so applying a *changed* rule's new version to it gives exactly what the change adds.
//!
//! The billing rules (128 KiB minimum billable size, minimum durations, per-object archive
//! overheads, transition request prices) are the cost model's, not repeated here:
//! [`crate::cost::transition_savings`] prices every move, [`PriceTable::early_deletion_usd`] and
//! [`PriceTable::monthly_storage_usd`] every expiry. What this module adds is which objects each
//! rule acts on: the latest transition whose days an object's age has reached, only down the
//! storage-class waterfall, objects under 128 KiB staying (S3's default
//! `TransitionDefaultMinimumObjectSize`), expiry winning over transitions.
//!
//! Memory: one listing of the rules' common prefix, aggregated per rule into usage by (class,
//! age in whole days): bounded by classes × days, never a list of objects.

use super::model::{ChangeKind, LifecyclePlan, Rule, StorageClass};
use crate::cost::{self, Aged, PriceTable, TransitionSavings, Usage};
use crate::error::Result;
use crate::s3::{list, Connection};
use crate::units::human_bytes;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Whether expired objects really leave the bill: on a versioned bucket an expiry only makes
/// the current version noncurrent, and it stays billed until a noncurrent-version expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Versioning {
    Unversioned,
    Versioned,
}

/// What one new or changed rule saves on the objects under its prefix today.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleSavings {
    pub rule_id: String,
    pub change: ChangeKind,
    pub prefix: String,
    /// Everything under the prefix now.
    pub objects: u64,
    pub bytes: u64,
    /// One entry per target class the rule moves objects to now (the cost model's figures).
    pub transitions: Vec<TransitionSavings>,
    /// Objects (and bytes) the rule expires now.
    pub expired_objects: u64,
    pub expired_bytes: u64,
    /// Objects (and bytes) not acted on yet that a stage of the rule will reach later.
    pub objects_later: u64,
    pub bytes_later: u64,
    /// Objects old enough to move but below 128 KiB: S3 leaves them in their class.
    pub small_objects_staying: u64,
    /// Storage no longer billed per month once the rule has acted (moves + expiries).
    pub monthly_savings_usd: f64,
    /// Lifecycle transition requests, once.
    pub transition_usd: f64,
    /// Early-deletion charges (moved or expired before their class's minimum duration), once.
    pub early_deletion_usd: f64,
    /// `transition_usd + early_deletion_usd`.
    pub one_time_usd: f64,
    /// `monthly_savings_usd − one_time_usd`: what the first month actually saves.
    pub net_first_month_usd: f64,
    /// `one_time / monthly`; `None` when the rule saves nothing per month.
    pub payback_months: Option<f64>,
    /// What was not priced, in words (a class the table lacks, versioned expiry...).
    pub notes: Vec<String>,
}

/// What a lifecycle plan saves, with the table it was priced with (or why none was).
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LifecycleSavings {
    pub bucket: String,
    /// `provider/region` of the price table; `None` when no table applies (`not_estimated_because` says why).
    pub table: Option<String>,
    pub table_name: Option<String>,
    pub table_date: Option<String>,
    pub table_source: Option<String>,
    /// Why there is no estimate: the price table that is missing, or a listing that failed.
    pub not_estimated_because: Option<String>,
    /// One per added or changed rule that moves or expires objects (removed rules: a note).
    pub rules: Vec<RuleSavings>,
    /// Sums over `rules`; `None` without a price table.
    pub monthly_savings_usd: Option<f64>,
    pub one_time_usd: Option<f64>,
    pub net_first_month_usd: Option<f64>,
    pub payback_months: Option<f64>,
    /// Objects listed to compute this (0 when nothing needed a listing).
    pub listed_objects: u64,
    /// When the ages were measured (seconds since the Unix epoch) ...
    pub generated_at: i64,
    /// ... plus this many days: the estimate is for today's objects that much older
    /// (`--after-days`; 0 = as they are now).
    pub after_days: u32,
    pub notes: Vec<String>,
}

/// Usage under one rule's prefix by (storage class, age in whole days): what the rule math needs,
/// in memory bounded by classes × days.
#[derive(Debug, Clone, Default)]
pub struct AgedUsage {
    by: BTreeMap<(String, u32), Usage>,
    /// Objects without a modification time (never in a real listing): not acted on.
    unknown_age: Usage,
}

/// Ages above this are all the same to a rule (S3 accepts rule days up to 2^31, nobody uses more).
const MAX_AGE_DAYS: u32 = 1_000_000;

impl AgedUsage {
    /// Counts one object of `size` in `class` (`None` = STANDARD), `age_days` old.
    pub fn add(&mut self, class: Option<&str>, size: u64, age_days: Option<f64>) {
        let class = cost::normalize_class(class);
        match age_days {
            Some(a) => {
                let day = a.max(0.0).floor().min(MAX_AGE_DAYS as f64) as u32;
                self.by.entry((class.clone(), day)).or_insert_with(|| Usage::new(&class)).add_object(size);
            }
            None => {
                self.unknown_age.storage_class = class;
                self.unknown_age.add_object(size);
            }
        }
    }

    /// The aggregate as cost-model rows (each row's objects are `age_days` old).
    pub fn items(&self) -> Vec<Aged> {
        self.by.iter().map(|((_, day), u)| Aged { usage: u.clone(), age_days: *day as f64 }).collect()
    }
}

/// Rank on the transition waterfall: STANDARD (and RRS) above every lifecycle class; `None` for
/// classes lifecycle cannot move (S3 Express, Outposts...).
fn waterfall_rank(class: &str) -> Option<usize> {
    match class {
        "STANDARD" | "REDUCED_REDUNDANCY" => Some(0),
        c => StorageClass::ALL.iter().position(|s| s.as_str() == c).map(|i| i + 1),
    }
}

/// What `rule` does to `items` (usage by class and age under its prefix) now, priced with `table`.
/// Pure: the hand-computed unit tests call it directly.
pub fn rule_savings(rule: &Rule, change: ChangeKind, items: &[Aged], table: &PriceTable, versioning: Versioning) -> RuleSavings {
    let mut out = RuleSavings {
        rule_id: rule.id.clone(),
        change,
        prefix: rule.prefix.clone(),
        objects: items.iter().map(|a| a.usage.objects).sum(),
        bytes: items.iter().map(|a| a.usage.bytes).sum(),
        transitions: vec![],
        expired_objects: 0,
        expired_bytes: 0,
        objects_later: 0,
        bytes_later: 0,
        small_objects_staying: 0,
        monthly_savings_usd: 0.0,
        transition_usd: 0.0,
        early_deletion_usd: 0.0,
        one_time_usd: 0.0,
        net_first_month_usd: 0.0,
        payback_months: None,
        notes: vec![],
    };
    if !rule.enabled {
        out.notes.push("the rule is disabled: it acts on nothing".into());
        return out;
    }
    let mut stages = rule.transitions.clone();
    stages.sort_by_key(|t| t.days);
    let mut moves: BTreeMap<StorageClass, Vec<Aged>> = BTreeMap::new();
    let mut expired: Vec<Aged> = vec![];
    for a in items {
        let class = cost::normalize_class(Some(&a.usage.storage_class));
        let rank = waterfall_rank(&class);
        let colder = |to: StorageClass| rank.is_some_and(|r| StorageClass::ALL.iter().position(|s| *s == to).unwrap() + 1 > r);
        if rule.expire_days.is_some_and(|e| a.age_days >= e as f64) {
            expired.push(a.clone());
            continue;
        }
        let due = stages.iter().rev().find(|t| a.age_days >= t.days as f64);
        match due {
            Some(t) if colder(t.storage_class) => moves.entry(t.storage_class).or_default().push(a.clone()),
            _ => {
                // Expiry reaches every object; a transition only those of 128 KiB and more.
                if rule.expire_days.is_some() {
                    out.objects_later += a.usage.objects;
                    out.bytes_later += a.usage.bytes;
                } else if stages.iter().any(|t| a.age_days < t.days as f64 && colder(t.storage_class)) {
                    out.objects_later += a.usage.objects - a.usage.small_objects;
                    out.bytes_later += a.usage.bytes - a.usage.small_bytes;
                }
            }
        }
    }
    for (to, moving) in &moves {
        match cost::transition_savings(table, moving, to.as_str()) {
            Ok(t) => {
                out.monthly_savings_usd += t.monthly_savings_usd;
                out.transition_usd += t.transition_usd;
                out.early_deletion_usd += t.early_deletion_usd;
                out.small_objects_staying += t.objects_staying;
                out.transitions.push(t);
            }
            Err(_) => out.notes.push(format!(
                "{} has no price for {to}: {} object(s) moving there are not priced",
                table.id(),
                moving.iter().map(|a| a.usage.objects).sum::<u64>()
            )),
        }
    }
    if !expired.is_empty() {
        out.expired_objects = expired.iter().map(|a| a.usage.objects).sum();
        out.expired_bytes = expired.iter().map(|a| a.usage.bytes).sum();
        match (versioning, rule.noncurrent_expire_days) {
            (Versioning::Versioned, None) => out.notes.push(format!(
                "the bucket is versioned: expiring makes {} object(s) noncurrent versions, still billed until a noncurrent-version expiry removes them (add --noncurrent-expire-days)",
                out.expired_objects
            )),
            _ => {
                let usage: Vec<Usage> = expired.iter().map(|a| a.usage.clone()).collect();
                out.monthly_savings_usd += table.monthly_storage_usd(&usage);
                out.early_deletion_usd += table.early_deletion_usd(&expired);
            }
        }
    }
    out.one_time_usd = out.transition_usd + out.early_deletion_usd;
    out.net_first_month_usd = out.monthly_savings_usd - out.one_time_usd;
    out.payback_months = (out.monthly_savings_usd > 0.0).then(|| out.one_time_usd / out.monthly_savings_usd);
    out
}

/// The rules of a plan whose savings are priced: added or changed ones that move or expire
/// current objects (the other actions touch bytes a listing does not show).
fn priced_rules(plan: &LifecyclePlan) -> Vec<(&Rule, ChangeKind)> {
    plan.changes
        .iter()
        .filter(|c| matches!(c.change, ChangeKind::Added | ChangeKind::Changed))
        .filter_map(|c| c.after.as_ref().map(|r| (r, c.change)))
        .filter(|(r, _)| r.enabled && (!r.transitions.is_empty() || r.expire_days.is_some()))
        .collect()
}

/// True when [`savings`] of `plan` lists objects (an added or changed rule moves or expires
/// some): front ends say so before a listing that may take a while on a large bucket.
pub fn needs_listing(plan: &LifecyclePlan) -> bool {
    !priced_rules(plan).is_empty()
}

/// The longest common prefix of `prefixes` (one listing covers every rule).
fn common_prefix<'a>(prefixes: impl Iterator<Item = &'a str>) -> String {
    let mut acc: Option<&str> = None;
    for p in prefixes {
        acc = Some(match acc {
            None => p,
            Some(a) => {
                let n = a.char_indices().zip(p.chars()).take_while(|((_, x), y)| x == y).last().map_or(0, |((i, c), _)| i + c.len_utf8());
                &a[..n]
            }
        });
    }
    acc.unwrap_or_default().to_string()
}

/// Sums the per-rule figures and records the table.
fn summarize(bucket: &str, table: &PriceTable, rules: Vec<RuleSavings>, listed_objects: u64, now: i64, notes: Vec<String>) -> LifecycleSavings {
    let monthly: f64 = rules.iter().map(|r| r.monthly_savings_usd).fold(0.0, |a, b| a + b);
    let one_time: f64 = rules.iter().map(|r| r.one_time_usd).fold(0.0, |a, b| a + b);
    LifecycleSavings {
        bucket: bucket.to_string(),
        table: Some(table.id()),
        table_name: Some(table.name.clone()),
        table_date: Some(table.date.clone()),
        table_source: Some(table.source.clone()),
        not_estimated_because: None,
        rules,
        monthly_savings_usd: Some(monthly),
        one_time_usd: Some(one_time),
        net_first_month_usd: Some(monthly - one_time),
        payback_months: (monthly > 0.0).then(|| one_time / monthly),
        listed_objects,
        generated_at: now,
        after_days: 0,
        notes,
    }
}

/// The savings of `plan` on the objects in its bucket today: one listing of the common prefix of
/// the rules that move or expire objects (none when no rule does), aggregated per rule.
/// `table` is the price table or why there is none: then nothing is listed and the result says
/// which table is missing, so the plan can be shown anyway. `now` is Unix seconds; with
/// `after_days` > 0 every object is priced as if that many days older (what the rules will have
/// done to today's objects by then: young checkpoints are not due for a 30-day rule today).
///
/// Never an error: savings are an estimate beside the plan, and must not stop it from being shown
/// or applied — a refused listing is said in `not_estimated_because`, like a missing table.
pub async fn savings(conn: &Connection, plan: &LifecyclePlan, table: Result<PriceTable>, now: i64, after_days: u32) -> LifecycleSavings {
    let ages_at = now.saturating_add(i64::from(after_days) * 86_400);
    match savings_at(conn, plan, table, now, ages_at).await {
        Ok(mut out) => {
            out.after_days = after_days;
            out
        }
        Err(e) => LifecycleSavings::not_estimated(&plan.bucket, format!("listing the objects failed: {e}"), now),
    }
}

async fn savings_at(conn: &Connection, plan: &LifecyclePlan, table: Result<PriceTable>, now: i64, ages_at: i64) -> Result<LifecycleSavings> {
    let mut notes = vec![];
    let rules = priced_rules(plan);
    if plan.changes.iter().any(|c| c.change == ChangeKind::Removed) {
        notes.push("removing a rule changes nothing for the objects stored now; objects written later are no longer moved or expired by it".into());
    }
    if plan.changes.iter().filter(|c| matches!(c.change, ChangeKind::Added | ChangeKind::Changed)).filter_map(|c| c.after.as_ref()).any(|r| r.abort_multipart_days.is_some() || r.noncurrent_expire_days.is_some()) {
        notes.push("aborting incomplete multipart uploads and expiring noncurrent versions are not priced here: their bytes are not in a listing (`trainctl s3 review --detailed` shows them)".into());
    }
    let table = match table {
        Ok(t) => t,
        // Nothing to price needs no table: say so rather than name a missing one.
        Err(_) if rules.is_empty() => return Ok(LifecycleSavings { notes, not_estimated_because: None, ..LifecycleSavings::not_estimated(&plan.bucket, String::new(), now) }),
        Err(e) => return Ok(LifecycleSavings { notes, ..LifecycleSavings::not_estimated(&plan.bucket, e.to_string(), now) }),
    };
    if rules.is_empty() {
        return Ok(summarize(&plan.bucket, &table, vec![], 0, now, notes));
    }
    let versioning = versioning(conn, &plan.bucket).await;
    let root = common_prefix(rules.iter().map(|(r, _)| r.prefix.as_str()));
    let mut usage: Vec<AgedUsage> = vec![AgedUsage::default(); rules.len()];
    let mut listed = 0u64;
    let mut objects = list::list_objects(conn, &plan.bucket, &root, None);
    while let Some(o) = objects.next().await {
        let o = o?;
        listed += 1;
        let age = o.last_modified.map(|t| (ages_at - t).max(0) as f64 / 86_400.0);
        for (i, (r, _)) in rules.iter().enumerate() {
            if o.key.starts_with(&r.prefix) {
                usage[i].add(o.storage_class.as_deref(), o.size, age);
            }
        }
    }
    let per_rule: Vec<RuleSavings> = rules.iter().zip(&usage).map(|((r, change), u)| rule_savings(r, *change, &u.items(), &table, versioning)).collect();
    if per_rule.len() > 1 {
        notes.push("rules are priced one by one: where two of them cover the same objects the savings overlap".into());
    }
    Ok(summarize(&plan.bucket, &table, per_rule, listed, now, notes))
}

/// Versioning of the bucket, as far as expiry billing goes. A server that does not answer the
/// question (denied, or a reply the SDK cannot read) counts as unversioned.
async fn versioning(conn: &Connection, bucket: &str) -> Versioning {
    match conn.client.get_bucket_versioning().bucket(bucket).send().await {
        Ok(out) if out.status().is_some_and(|s| s.as_str() == "Enabled" || s.as_str() == "Suspended") => Versioning::Versioned,
        _ => Versioning::Unversioned,
    }
}

impl LifecycleSavings {
    /// No estimate, and `why` (the price table that is missing, a refused listing...).
    pub fn not_estimated(bucket: &str, why: String, now: i64) -> LifecycleSavings {
        LifecycleSavings {
            bucket: bucket.to_string(),
            table: None,
            table_name: None,
            table_date: None,
            table_source: None,
            not_estimated_because: Some(why),
            rules: vec![],
            monthly_savings_usd: None,
            one_time_usd: None,
            net_first_month_usd: None,
            payback_months: None,
            listed_objects: 0,
            generated_at: now,
            after_days: 0,
            notes: vec![],
        }
    }

    /// The savings as plain text, for the terminal (after the plan's diff).
    pub fn render_text(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        if self.rules.is_empty() && self.not_estimated_because.is_none() {
            let _ = writeln!(s, "savings: nothing to price (no added or changed rule moves or expires objects)");
            for n in &self.notes {
                let _ = writeln!(s, "note: {n}");
            }
            return s;
        }
        let Some(table) = &self.table else {
            let why = self.not_estimated_because.as_deref().unwrap_or("no price table applies");
            let _ = writeln!(s, "savings: not estimated: {why}");
            if why.contains("price table") {
                let _ = writeln!(s, "  (pass --provider aws/REGION or --prices FILE to price the plan; docs/cost.md)");
            }
            return s;
        };
        for r in &self.rules {
            let when = if self.after_days > 0 { format!(", as they will be in {} days", self.after_days) } else { String::new() };
            let _ = writeln!(s, "savings of {} (today's {}, {} under {}{when}):", r.rule_id, objects(r.objects), human_bytes(r.bytes), if r.prefix.is_empty() { "the bucket" } else { &r.prefix });
            let at = if self.after_days > 0 { "then" } else { "now" };
            for t in &r.transitions {
                let _ = writeln!(s, "  move {} ({}) to {} {at}: {}/month", objects(t.objects_moved), human_bytes(t.bytes_moved), t.to_class, usd(t.monthly_savings_usd));
            }
            if r.expired_objects > 0 {
                let _ = writeln!(s, "  expire {} ({}) {at}", objects(r.expired_objects), human_bytes(r.expired_bytes));
            }
            if r.small_objects_staying > 0 {
                let _ = writeln!(s, "  {} under 128 KiB stay in their class", objects(r.small_objects_staying));
            }
            if r.objects_later > 0 {
                let _ = writeln!(s, "  {} ({}) too young: acted on later, not counted (see --after-days)", objects(r.objects_later), human_bytes(r.bytes_later));
            }
            let payback = r.payback_months.filter(|m| *m > 0.0).map(payback_words).unwrap_or_default();
            let _ = writeln!(
                s,
                "  saves {}/month; once: {} transition requests + {} early deletion; first month net {}{payback}",
                usd(r.monthly_savings_usd),
                usd(r.transition_usd),
                usd(r.early_deletion_usd),
                usd(r.net_first_month_usd)
            );
            for n in &r.notes {
                let _ = writeln!(s, "  note: {n}");
            }
        }
        if self.rules.len() > 1 {
            let _ = writeln!(
                s,
                "total: saves {}/month, {} once, first month net {}",
                usd(self.monthly_savings_usd.unwrap_or(0.0)),
                usd(self.one_time_usd.unwrap_or(0.0)),
                usd(self.net_first_month_usd.unwrap_or(0.0))
            );
        }
        for n in &self.notes {
            let _ = writeln!(s, "note: {n}");
        }
        let _ = writeln!(
            s,
            "prices: {} ({table}), dated {} — {}",
            self.table_name.as_deref().unwrap_or_default(),
            self.table_date.as_deref().unwrap_or_default(),
            self.table_source.as_deref().unwrap_or_default()
        );
        s
    }
}

/// `, pays back in 3.2 months` / `, pays back in 4 days`.
fn payback_words(months: f64) -> String {
    if months < 1.0 {
        format!(", pays back in {} days", (months * 30.0).ceil().max(1.0))
    } else {
        format!(", pays back in {months:.1} months")
    }
}

/// `1 object`, `3 objects`.
fn objects(n: u64) -> String {
    if n == 1 {
        "1 object".to_string()
    } else {
        format!("{n} objects")
    }
}

fn usd(v: f64) -> String {
    if v != 0.0 && v.abs() < 0.01 {
        format!("${v:.6}")
    } else {
        format!("${v:.2}")
    }
}

#[cfg(test)]
#[path = "savings_tests.rs"]
mod tests;
