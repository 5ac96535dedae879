//! Merging the rules trainctl manages into a bucket's configuration, and the diff that shows it.
//!
//! The merge is by rule id and nothing else: a rule the request does not name is carried over
//! untouched (on apply, byte for byte as the server returned it). That is what makes it safe to
//! run `trainctl s3 lifecycle apply` on a bucket whose other rules belong to someone else.

use super::model::*;
use super::warnings::warnings;
use crate::config::quirks;
use crate::error::{Error, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// S3 accepts at most this many rules per bucket.
pub const MAX_RULES: usize = 1000;

/// The id trainctl gives a rule for `prefix` when the user names none: `trainctl-runs-exp1`.
pub fn default_rule_id(prefix: &str) -> String {
    let slug: String = prefix.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '_' { c } else { '-' }).collect();
    let slug = slug.trim_matches('-');
    let mut id = if slug.is_empty() { "trainctl-bucket".to_string() } else { format!("trainctl-{slug}") };
    id.truncate(255);
    id
}

/// A safe default for a checkpoint prefix: abort multipart uploads left behind by crashed or
/// killed uploads after 7 days (multi-GB parts that are billed but invisible in listings).
/// Deletes no object and moves nothing, so it is right for every bucket, and it is the one action
/// every lifecycle-capable server implements (Garage included); add `expire_days`/transitions on top.
pub fn preset_checkpoints(prefix: &str) -> Rule {
    let mut r = Rule::new(default_rule_id(prefix), prefix);
    r.abort_multipart_days = Some(7);
    r
}

/// Merges `wanted` into `existing`: rules named in `wanted.set` are added or replaced (by id),
/// ids in `wanted.remove` are dropped, every other rule is kept as is. Refuses (as
/// [`Error::Usage`]) a rule S3 would reject, and (as [`Error::LifecycleUnsupported`]) an action the
/// provider is known not to implement.
pub fn plan(existing: &LifecycleConfig, wanted: &LifecycleRequest) -> Result<LifecyclePlan> {
    validate_request(existing, wanted)?;
    check_provider(&existing.provider, &existing.bucket, &wanted.set)?;
    let set: BTreeMap<&str, &Rule> = wanted.set.iter().map(|r| (r.id.as_str(), r)).collect();
    let remove: BTreeSet<&str> = wanted.remove.iter().map(String::as_str).collect();
    let mut changes = vec![];
    for before in &existing.rules {
        let change = if remove.contains(before.id.as_str()) {
            RuleChange { id: before.id.clone(), change: ChangeKind::Removed, before: Some(before.clone()), after: None, differences: vec![] }
        } else if let Some(after) = set.get(before.id.as_str()) {
            let differences = differences(before, after);
            let kind = if differences.is_empty() { ChangeKind::Unchanged } else { ChangeKind::Changed };
            RuleChange { id: before.id.clone(), change: kind, before: Some(before.clone()), after: Some((*after).clone()), differences }
        } else {
            RuleChange { id: before.id.clone(), change: ChangeKind::KeptUnrelated, before: Some(before.clone()), after: Some(before.clone()), differences: vec![] }
        };
        changes.push(change);
    }
    let existing_ids: BTreeSet<&str> = existing.rules.iter().map(|r| r.id.as_str()).collect();
    for rule in wanted.set.iter().filter(|r| !existing_ids.contains(r.id.as_str())) {
        changes.push(RuleChange { id: rule.id.clone(), change: ChangeKind::Added, before: None, after: Some(rule.clone()), differences: vec![] });
    }
    if changes.iter().filter(|c| c.after.is_some()).count() > MAX_RULES {
        return Err(Error::Usage(format!("a bucket holds at most {MAX_RULES} lifecycle rules")));
    }
    let warnings = plan_warnings(&changes, &existing.provider);
    Ok(LifecyclePlan { bucket: existing.bucket.clone(), provider: existing.provider.clone(), base_fingerprint: existing.fingerprint.clone(), changes, warnings })
}

/// Refuses what S3 would refuse, before anything is sent, with the reason in words.
fn validate_request(existing: &LifecycleConfig, wanted: &LifecycleRequest) -> Result<()> {
    let mut seen = BTreeSet::new();
    for r in &wanted.set {
        if !seen.insert(r.id.as_str()) {
            return Err(Error::Usage(format!("rule id `{}` is given twice", r.id)));
        }
        if wanted.remove.contains(&r.id) {
            return Err(Error::Usage(format!("rule `{}` is both set and removed", r.id)));
        }
        validate_rule(r)?;
    }
    for id in &wanted.remove {
        if !existing.rules.iter().any(|r| &r.id == id) {
            return Err(Error::Usage(format!("there is no lifecycle rule `{id}` on s3://{} (`trainctl s3 lifecycle show` lists them)", existing.bucket)));
        }
    }
    Ok(())
}

/// The checks S3 makes on one rule (ids, days, the transition waterfall, 30 days before IA).
pub fn validate_rule(r: &Rule) -> Result<()> {
    let bad = |why: String| Err(Error::Usage(format!("lifecycle rule `{}`: {why}", r.id)));
    if r.id.is_empty() || r.id.len() > 255 {
        return bad("the id must be 1 to 255 characters".into());
    }
    if !r.other.is_empty() {
        return bad("trainctl cannot write rule parts it does not model (tag/size filters, dates...)".into());
    }
    if !r.has_action() {
        return bad("it has no action: give --transition, --expire-days, --abort-multipart-days or --noncurrent-expire-days".into());
    }
    let days = r.transitions.iter().map(|t| t.days).chain(r.expire_days).chain(r.abort_multipart_days).chain(r.noncurrent_expire_days);
    if days.clone().any(|d| d == 0) {
        return bad("days must be at least 1".into());
    }
    let mut ts = r.transitions.clone();
    ts.sort_by_key(|t| t.days);
    for pair in ts.windows(2) {
        if pair[0].days == pair[1].days {
            return bad(format!("two transitions on day {}", pair[0].days));
        }
        if pair[1].storage_class <= pair[0].storage_class {
            return bad(format!(
                "S3 only moves objects to colder classes (STANDARD_IA → INTELLIGENT_TIERING → ONEZONE_IA → GLACIER_IR → GLACIER → DEEP_ARCHIVE), not {} → {}",
                pair[0].storage_class, pair[1].storage_class
            ));
        }
    }
    for t in &ts {
        if matches!(t.storage_class, StorageClass::StandardIa | StorageClass::OnezoneIa) && t.days < 30 {
            return bad(format!("S3 requires objects to stay 30 days in STANDARD before {} (got {} days); use {}:30 or later", t.storage_class, t.days, t.storage_class));
        }
    }
    if let (Some(exp), Some(last)) = (r.expire_days, ts.last()) {
        if exp <= last.days {
            return bad(format!("it expires objects on day {exp}, before or on the transition to {} on day {}: S3 requires expiry after the last transition", last.storage_class, last.days));
        }
    }
    Ok(())
}

/// Refuses actions the provider is known (from `data/quirks/providers.toml`) not to implement.
fn check_provider(provider: &str, bucket: &str, rules: &[Rule]) -> Result<()> {
    // An unknown endpoint (`other`) may well implement lifecycle (moto, MinIO behind an IP): let
    // the server decide; apply maps its refusal to the same error.
    if provider == quirks::OTHER {
        return Ok(());
    }
    let Some(q) = quirks::get(provider) else { return Ok(()) };
    for r in rules {
        for action in actions_of(r) {
            if !q.lifecycle_supports(action) {
                return Err(Error::LifecycleUnsupported {
                    target: format!("s3://{bucket} ({})", q.name),
                    detail: format!("rule `{}` uses `{action}`, which {} does not implement", r.id, q.name),
                });
            }
        }
    }
    Ok(())
}

/// The lifecycle action names a rule uses, as spelled in `lifecycle_actions` of the quirks data.
pub fn actions_of(r: &Rule) -> Vec<&'static str> {
    let mut out = vec![];
    if !r.transitions.is_empty() {
        out.push("transition");
    }
    if r.expire_days.is_some() {
        out.push("expiration");
    }
    if r.abort_multipart_days.is_some() {
        out.push("abort_multipart");
    }
    if r.noncurrent_expire_days.is_some() {
        out.push("noncurrent_expiration");
    }
    out
}

/// Per-rule caveats for what will be written, plus the ones that need the whole configuration.
fn plan_warnings(changes: &[RuleChange], provider: &str) -> Vec<Warning> {
    let mut out = vec![];
    let after: Vec<&Rule> = changes.iter().filter_map(|c| c.after.as_ref()).collect();
    for c in changes.iter().filter(|c| matches!(c.change, ChangeKind::Added | ChangeKind::Changed)) {
        let rule = c.after.as_ref().expect("added/changed rules have an after");
        out.extend(warnings(rule));
        if let Some(before) = c.before.as_ref().filter(|b| !b.other.is_empty()) {
            out.push(Warning {
                rule_id: c.id.clone(),
                code: WarningCode::DropsUnmodelled,
                message: format!("replacing this rule drops what trainctl does not model: {}", before.other.join("; ")),
            });
        }
        for other in after.iter().filter(|o| o.id != rule.id && o.enabled && (o.prefix.starts_with(&rule.prefix) || rule.prefix.starts_with(&o.prefix))) {
            out.push(Warning {
                rule_id: c.id.clone(),
                code: WarningCode::OverlapsOtherRule,
                message: format!("rule `{}` ({}) also applies to these objects; where two rules disagree S3 applies the cheaper action (expiry wins over transition)", other.id, other.scope()),
            });
        }
    }
    if provider == quirks::OTHER && changes.iter().any(|c| matches!(c.change, ChangeKind::Added | ChangeKind::Changed)) {
        out.push(Warning {
            rule_id: String::new(),
            code: WarningCode::ProviderLimited,
            message: "this endpoint is not a provider trainctl knows: many S3-compatible servers implement only part of lifecycle (e.g. no storage-class transitions); apply will say so if the server refuses".into(),
        });
    }
    out
}

/// What differs between two versions of a rule, in words.
fn differences(before: &Rule, after: &Rule) -> Vec<String> {
    let mut out = vec![];
    let opt = |d: Option<u32>| d.map_or("none".to_string(), |d| format!("{d} d"));
    if before.prefix != after.prefix {
        out.push(format!("prefix: `{}` → `{}`", before.prefix, after.prefix));
    }
    if before.enabled != after.enabled {
        out.push(format!("enabled: {} → {}", before.enabled, after.enabled));
    }
    if before.transitions != after.transitions {
        let show = |ts: &[Transition]| if ts.is_empty() { "none".to_string() } else { ts.iter().map(|t| format!("{}:{}", t.storage_class, t.days)).collect::<Vec<_>>().join(", ") };
        out.push(format!("transitions: {} → {}", show(&before.transitions), show(&after.transitions)));
    }
    for (name, b, a) in [
        ("expire", before.expire_days, after.expire_days),
        ("abort multipart", before.abort_multipart_days, after.abort_multipart_days),
        ("noncurrent expire", before.noncurrent_expire_days, after.noncurrent_expire_days),
    ] {
        if b != a {
            out.push(format!("{name}: {} → {}", opt(b), opt(a)));
        }
    }
    if before.other != after.other {
        out.push(format!("dropped: {}", before.other.join("; ")));
    }
    out
}

impl LifecyclePlan {
    /// True when applying would not change the server's configuration.
    pub fn is_noop(&self) -> bool {
        self.changes.iter().all(|c| matches!(c.change, ChangeKind::Unchanged | ChangeKind::KeptUnrelated))
    }

    /// How many rules have change `kind`.
    pub fn count(&self, kind: ChangeKind) -> usize {
        self.changes.iter().filter(|c| c.change == kind).count()
    }

    /// The rules the bucket will have after apply.
    pub fn rules_after(&self) -> Vec<&Rule> {
        self.changes.iter().filter_map(|c| c.after.as_ref()).collect()
    }

    /// The diff and the warnings as plain text, for the terminal and for logs.
    pub fn render_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "lifecycle plan for s3://{}: {} added, {} changed, {} removed, {} unchanged, {} other rules kept",
            self.bucket,
            self.count(ChangeKind::Added),
            self.count(ChangeKind::Changed),
            self.count(ChangeKind::Removed),
            self.count(ChangeKind::Unchanged),
            self.count(ChangeKind::KeptUnrelated)
        );
        for c in &self.changes {
            let rule = c.after.as_ref().or(c.before.as_ref()).expect("a change has a rule");
            let (mark, note) = match c.change {
                ChangeKind::Added => ("+", "add"),
                ChangeKind::Changed => ("~", "change"),
                ChangeKind::Unchanged => ("=", "unchanged"),
                ChangeKind::Removed => ("-", "remove"),
                ChangeKind::KeptUnrelated => (" ", "keep (not managed here)"),
            };
            let _ = writeln!(s, "{mark} {} [{}] {}: {}", display_id(&c.id), note, rule.scope(), rule.describe().join("; "));
            for d in &c.differences {
                let _ = writeln!(s, "      {d}");
            }
        }
        if self.is_noop() {
            let _ = writeln!(s, "nothing to change");
        }
        for w in &self.warnings {
            let who = if w.rule_id.is_empty() { String::new() } else { format!("{}: ", w.rule_id) };
            let _ = writeln!(s, "warning: {who}{}", w.message);
        }
        s
    }
}

fn display_id(id: &str) -> &str {
    if id.is_empty() {
        "(no id)"
    } else {
        id
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
