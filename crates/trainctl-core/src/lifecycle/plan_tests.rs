use super::*;

fn config(rules: Vec<Rule>) -> LifecycleConfig {
    LifecycleConfig { bucket: "b".into(), provider: "aws".into(), rules, fingerprint: "f0".into() }
}

fn expire(id: &str, prefix: &str, days: u32) -> Rule {
    let mut r = Rule::new(id, prefix);
    r.expire_days = Some(days);
    r
}

fn set(rules: Vec<Rule>) -> LifecycleRequest {
    LifecycleRequest { set: rules, remove: vec![] }
}

fn kinds(p: &LifecyclePlan) -> Vec<(String, ChangeKind)> {
    p.changes.iter().map(|c| (c.id.clone(), c.change)).collect()
}

#[test]
fn merge_keeps_an_unrelated_rule_and_adds_ours() {
    let theirs = expire("logs-expiry", "logs/", 30);
    let p = plan(&config(vec![theirs.clone()]), &set(vec![preset_checkpoints("runs/")])).unwrap();
    assert_eq!(kinds(&p), vec![("logs-expiry".into(), ChangeKind::KeptUnrelated), ("trainctl-runs".into(), ChangeKind::Added)]);
    assert_eq!(p.changes[0].after.as_ref(), Some(&theirs));
    assert_eq!(p.rules_after().len(), 2);
    assert_eq!(p.base_fingerprint, "f0");
}

#[test]
fn same_id_with_other_days_is_a_change_with_the_difference_in_words() {
    let p = plan(&config(vec![expire("trainctl-runs", "runs/", 30)]), &set(vec![expire("trainctl-runs", "runs/", 60)])).unwrap();
    assert_eq!(kinds(&p), vec![("trainctl-runs".into(), ChangeKind::Changed)]);
    assert_eq!(p.changes[0].differences, vec!["expire: 30 d → 60 d".to_string()]);
    assert!(p.render_text().contains("expire: 30 d → 60 d"));
}

#[test]
fn identical_rule_is_unchanged_and_the_plan_is_a_noop() {
    let p = plan(&config(vec![expire("r", "runs/", 30)]), &set(vec![expire("r", "runs/", 30)])).unwrap();
    assert_eq!(kinds(&p), vec![("r".into(), ChangeKind::Unchanged)]);
    assert!(p.is_noop());
    assert!(p.render_text().contains("nothing to change"));
}

#[test]
fn remove_drops_only_the_named_rule_and_unknown_ids_are_refused() {
    let p = plan(&config(vec![expire("a", "x/", 3), expire("b", "y/", 3)]), &LifecycleRequest { set: vec![], remove: vec!["a".into()] }).unwrap();
    assert_eq!(kinds(&p), vec![("a".into(), ChangeKind::Removed), ("b".into(), ChangeKind::KeptUnrelated)]);
    let err = plan(&config(vec![]), &LifecycleRequest { set: vec![], remove: vec!["zz".into()] }).unwrap_err();
    assert!(matches!(err, Error::Usage(m) if m.contains("no lifecycle rule `zz`")));
}

#[test]
fn rules_s3_would_reject_are_refused_before_sending() {
    let mut ia = Rule::new("r", "");
    ia.transitions = vec![Transition { days: 10, storage_class: StorageClass::StandardIa }];
    assert!(matches!(plan(&config(vec![]), &set(vec![ia])), Err(Error::Usage(m)) if m.contains("30 days in STANDARD")));
    let mut warmer = Rule::new("r", "");
    warmer.transitions = vec![Transition { days: 30, storage_class: StorageClass::Glacier }, Transition { days: 200, storage_class: StorageClass::StandardIa }];
    assert!(matches!(plan(&config(vec![]), &set(vec![warmer])), Err(Error::Usage(m)) if m.contains("colder")));
    let mut early = Rule::new("r", "");
    early.transitions = vec![Transition { days: 30, storage_class: StorageClass::GlacierIr }];
    early.expire_days = Some(20);
    assert!(matches!(plan(&config(vec![]), &set(vec![early])), Err(Error::Usage(_))));
    assert!(matches!(plan(&config(vec![]), &set(vec![Rule::new("empty", "")])), Err(Error::Usage(m)) if m.contains("no action")));
    assert!(matches!(plan(&config(vec![]), &set(vec![expire("r", "", 0)])), Err(Error::Usage(_))));
}

#[test]
fn replacing_a_rule_with_unmodelled_parts_warns_that_they_go() {
    let mut theirs = expire("r", "runs/", 30);
    theirs.other = vec!["only objects tagged env=prod".into()];
    let p = plan(&config(vec![theirs]), &set(vec![expire("r", "runs/", 30)])).unwrap();
    assert_eq!(p.changes[0].change, ChangeKind::Changed);
    assert!(p.warnings.iter().any(|w| w.code == WarningCode::DropsUnmodelled && w.message.contains("env=prod")));
}

#[test]
fn overlapping_prefixes_are_pointed_out() {
    let p = plan(&config(vec![expire("whole", "", 400)]), &set(vec![expire("runs", "runs/", 30)])).unwrap();
    assert!(p.warnings.iter().any(|w| w.code == WarningCode::OverlapsOtherRule && w.message.contains("whole")), "{:?}", p.warnings);
}

#[test]
fn garage_transitions_are_refused_as_unsupported_but_expiry_is_planned() {
    let mut garage = config(vec![]);
    garage.provider = "garage".into();
    let mut r = Rule::new("r", "");
    r.transitions = vec![Transition { days: 30, storage_class: StorageClass::GlacierIr }];
    assert!(matches!(plan(&garage, &set(vec![r])), Err(Error::LifecycleUnsupported { .. })));
    assert!(plan(&garage, &set(vec![expire("r", "", 3)])).is_ok());
}

#[test]
fn plan_round_trips_through_json_for_the_desktop() {
    let p = plan(&config(vec![expire("logs", "logs/", 30)]), &set(vec![preset_checkpoints("runs/")])).unwrap();
    let back: LifecyclePlan = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
    assert_eq!(back, p);
}

#[test]
fn default_ids_are_slugs_of_the_prefix() {
    assert_eq!(default_rule_id("runs/exp 1/"), "trainctl-runs-exp-1");
    assert_eq!(default_rule_id(""), "trainctl-bucket");
}
