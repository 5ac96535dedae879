//! The billing caveats of a lifecycle rule, in words, so nobody learns them from an invoice.
//!
//! Facts (AWS S3 pricing and "Transitioning objects using Amazon S3 Lifecycle", checked 2026-11):
//! - minimum storage duration: STANDARD_IA / ONEZONE_IA 30 days, GLACIER_IR and GLACIER 90 days,
//!   DEEP_ARCHIVE 180 days. An object deleted, overwritten or transitioned earlier is billed for
//!   the remaining days anyway.
//! - objects must stay 30 days in STANDARD before a transition to STANDARD_IA / ONEZONE_IA
//!   (S3 rejects shorter rules; [`super::plan`] refuses them).
//! - objects under 128 KB are billed as 128 KB in STANDARD_IA / ONEZONE_IA / GLACIER_IR, and by
//!   default (`TransitionDefaultMinimumObjectSize = all_storage_classes_128K`) S3 does not
//!   transition objects under 128 KB at all.

use super::model::{Rule, StorageClass, Warning, WarningCode};

/// The caveats of one rule (the ones that do not depend on other rules).
pub fn warnings(rule: &Rule) -> Vec<Warning> {
    let mut out = min_duration_warnings(rule);
    if let Some(w) = small_object_warning(rule) {
        out.push(w);
    }
    out
}

/// One warning per stage that ends before the minimum storage duration of its class.
fn min_duration_warnings(rule: &Rule) -> Vec<Warning> {
    let mut stages: Vec<_> = rule.transitions.clone();
    stages.sort_by_key(|t| t.days);
    let mut out = vec![];
    for (i, stage) in stages.iter().enumerate() {
        let min = stage.storage_class.min_storage_days();
        let (leaves_at, how) = match stages.get(i + 1) {
            Some(next) => (Some(next.days), format!("move on to {} on day {}", next.storage_class, next.days)),
            None => (rule.expire_days, format!("expire on day {}", rule.expire_days.unwrap_or(0))),
        };
        let Some(leaves_at) = leaves_at else { continue };
        let stay = leaves_at.saturating_sub(stage.days);
        if stay < min {
            out.push(Warning {
                rule_id: rule.id.clone(),
                code: WarningCode::MinStorageDuration,
                message: format!(
                    "objects enter {} on day {} and {} after {stay} days, but {} has a minimum storage duration of {min} days: AWS bills the other {} days as if they had stayed",
                    stage.storage_class,
                    stage.days,
                    how,
                    stage.storage_class,
                    min - stay
                ),
            });
        }
    }
    out
}

/// The 128 KB rule, for any rule that transitions objects.
fn small_object_warning(rule: &Rule) -> Option<Warning> {
    if rule.transitions.is_empty() {
        return None;
    }
    let small_billed: Vec<&str> = rule.transitions.iter().map(|t| t.storage_class).filter(|c| c.bills_small_objects_as_128k()).map(StorageClass::as_str).collect();
    let mut message = "objects under 128 KB are not transitioned by default (S3's TransitionDefaultMinimumObjectSize): small files such as trainer_state.json, `latest` or `.metadata` stay in STANDARD".to_string();
    if !small_billed.is_empty() {
        message.push_str(&format!("; any that do get there are billed as 128 KB each in {}", small_billed.join(", ")));
    }
    Some(Warning { rule_id: rule.id.clone(), code: WarningCode::SmallObjects, message })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::model::Transition;

    fn rule(transitions: &[(u32, StorageClass)], expire: Option<u32>) -> Rule {
        let mut r = Rule::new("t", "runs/");
        r.transitions = transitions.iter().map(|&(days, storage_class)| Transition { days, storage_class }).collect();
        r.expire_days = expire;
        r
    }

    fn codes(r: &Rule) -> Vec<WarningCode> {
        warnings(r).into_iter().map(|w| w.code).collect()
    }

    #[test]
    fn expiring_glacier_ir_before_90_days_warns_with_the_billed_remainder() {
        let w = warnings(&rule(&[(30, StorageClass::GlacierIr)], Some(60)));
        let min: Vec<_> = w.iter().filter(|w| w.code == WarningCode::MinStorageDuration).collect();
        assert_eq!(min.len(), 1, "{w:?}");
        assert!(min[0].message.contains("90 days") && min[0].message.contains("other 60 days"), "{}", min[0].message);
    }

    #[test]
    fn moving_on_from_ia_before_30_days_warns() {
        let r = rule(&[(30, StorageClass::StandardIa), (45, StorageClass::Glacier)], None);
        let w = warnings(&r);
        assert!(w.iter().any(|w| w.code == WarningCode::MinStorageDuration && w.message.contains("STANDARD_IA")), "{w:?}");
    }

    #[test]
    fn deep_archive_needs_180_days() {
        assert!(codes(&rule(&[(30, StorageClass::DeepArchive)], Some(200))).contains(&WarningCode::MinStorageDuration));
        assert!(!codes(&rule(&[(30, StorageClass::DeepArchive)], Some(210))).contains(&WarningCode::MinStorageDuration));
    }

    #[test]
    fn long_enough_stages_do_not_warn_about_duration() {
        let r = rule(&[(30, StorageClass::StandardIa), (60, StorageClass::GlacierIr), (150, StorageClass::DeepArchive)], Some(400));
        assert!(!codes(&r).contains(&WarningCode::MinStorageDuration), "{:?}", warnings(&r));
    }

    #[test]
    fn transitions_explain_the_128k_rule_and_expiry_alone_does_not() {
        let w = warnings(&rule(&[(30, StorageClass::GlacierIr)], None));
        let small = w.iter().find(|w| w.code == WarningCode::SmallObjects).expect("128 KB warning");
        assert!(small.message.contains("128 KB") && small.message.contains("GLACIER_IR"), "{}", small.message);
        assert!(warnings(&rule(&[], Some(10))).is_empty());
    }
}
