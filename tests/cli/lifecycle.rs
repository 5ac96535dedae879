//! `trainctl s3 lifecycle show|plan|apply` end to end: round trips on moto, the merged diff,
//! dry runs that change nothing, and Garage's partial lifecycle support as a clear error.

use crate::common::*;

fn show_rules(b: &Backend, bucket: &str) -> serde_json::Value {
    let out = ok(b.trainctl().args(["--json", "s3", "lifecycle", "show", &s3(bucket, "")]));
    json_lines(&out).remove(0)["rules"].clone()
}

#[test]
fn show_empty_then_apply_then_show_has_exactly_the_rule() {
    let b = Backend::moto();
    let bucket = b.new_bucket("lcround");
    assert_eq!(show_rules(&b, &bucket), serde_json::json!([]));
    let out = ok(b.trainctl().args(["s3", "lifecycle", "show", &s3(&bucket, "")]));
    assert!(stdout(&out).contains("no lifecycle rules"), "{}", stdout(&out));

    let url = s3(&bucket, "runs/");
    let out = ok(b.trainctl().args(["--json", "s3", "lifecycle", "apply", &url, "--transition", "GLACIER_IR:30", "--expire-days", "400", "--abort-multipart-days", "7", "--yes"]));
    let lines = json_lines(&out);
    assert_eq!(lines[0]["event"], "lifecycle_plan");
    assert_eq!(lines[0]["plan"]["changes"][0]["change"], "added");
    assert!(lines[0]["plan"]["warnings"].as_array().unwrap().iter().any(|w| w["code"] == "small_objects"), "{}", lines[0]);
    assert_eq!(lines[1]["report"]["written"], true);

    let expected = serde_json::json!([{
        "id": "trainctl-runs", "prefix": "runs/", "enabled": true,
        "transitions": [{ "days": 30, "storage_class": "GLACIER_IR" }],
        "expire_days": 400, "abort_multipart_days": 7, "noncurrent_expire_days": null
    }]);
    assert_eq!(show_rules(&b, &bucket), expected);
}

#[test]
fn a_second_rule_is_merged_and_the_first_kept() {
    let b = Backend::moto();
    let bucket = b.new_bucket("lcmerge");
    ok(b.trainctl().args(["s3", "lifecycle", "apply", &s3(&bucket, "logs/"), "--id", "team-logs", "--expire-days", "90", "--yes"]));
    let out = ok(b.trainctl().args(["s3", "lifecycle", "apply", &s3(&bucket, "ckpt/"), "--preset", "checkpoints", "--yes"]));
    assert!(stdout(&out).contains("team-logs [keep (not managed here)]"), "{}", stdout(&out));
    let rules = show_rules(&b, &bucket);
    let ids: Vec<&str> = rules.as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["team-logs", "trainctl-ckpt"]);
    assert_eq!(rules[0]["expire_days"], 90);
    assert_eq!(rules[1]["abort_multipart_days"], 7);
}

#[test]
fn plan_shows_what_changes_in_a_rule_and_changes_nothing() {
    let b = Backend::moto();
    let bucket = b.new_bucket("lcdiff");
    let url = s3(&bucket, "runs/");
    ok(b.trainctl().args(["s3", "lifecycle", "apply", &url, "--expire-days", "30", "--yes"]));
    let before = show_rules(&b, &bucket);
    let out = ok(b.trainctl().args(["s3", "lifecycle", "plan", &url, "--expire-days", "60"]));
    let text = stdout(&out);
    assert!(text.contains("~ trainctl-runs [change]") && text.contains("expire: 30 d → 60 d"), "{text}");
    let out = ok(b.trainctl().args(["--json", "s3", "lifecycle", "apply", &url, "--expire-days", "60", "--dry-run"]));
    assert_eq!(json_lines(&out)[0]["plan"]["changes"][0]["change"], "changed");
    assert_eq!(json_lines(&out).len(), 1, "a dry run applies nothing");
    assert_eq!(show_rules(&b, &bucket), before);
}

#[test]
fn apply_without_yes_and_without_a_terminal_changes_nothing() {
    let b = Backend::moto();
    let bucket = b.new_bucket("lcnoyes");
    let out = fails_with(b.trainctl().args(["s3", "lifecycle", "apply", &s3(&bucket, ""), "--expire-days", "30"]), 4);
    assert_error_shape(&out);
    assert_eq!(show_rules(&b, &bucket), serde_json::json!([]));
}

#[test]
fn remove_drops_only_the_named_rule() {
    let b = Backend::moto();
    let bucket = b.new_bucket("lcrm");
    ok(b.trainctl().args(["s3", "lifecycle", "apply", &s3(&bucket, "a/"), "--expire-days", "30", "--yes"]));
    ok(b.trainctl().args(["s3", "lifecycle", "apply", &s3(&bucket, "b/"), "--expire-days", "30", "--yes"]));
    let out = ok(b.trainctl().args(["s3", "lifecycle", "apply", &s3(&bucket, ""), "--remove", "trainctl-a", "--yes"]));
    assert!(stdout(&out).contains("- trainctl-a [remove]"), "{}", stdout(&out));
    let rules = show_rules(&b, &bucket);
    assert_eq!(rules.as_array().unwrap().len(), 1);
    assert_eq!(rules[0]["id"], "trainctl-b");
    let out = fails_with(b.trainctl().args(["s3", "lifecycle", "apply", &s3(&bucket, ""), "--remove", "nope", "--yes"]), 2);
    assert!(stderr(&out).contains("no lifecycle rule `nope`"), "{}", stderr(&out));
}

#[test]
fn rules_s3_would_reject_are_usage_errors_with_the_reason() {
    let b = Backend::moto();
    let bucket = b.new_bucket("lcbad");
    let url = s3(&bucket, "runs/");
    let out = fails_with(b.trainctl().args(["s3", "lifecycle", "plan", &url, "--transition", "STANDARD_IA:7"]), 2);
    assert!(stderr(&out).contains("30 days in STANDARD"), "{}", stderr(&out));
    let out = fails_with(b.trainctl().args(["s3", "lifecycle", "plan", &url]), 2);
    assert!(stderr(&out).contains("--remove"), "{}", stderr(&out));
    fails_with(b.trainctl().args(["s3", "lifecycle", "plan", &url, "--transition", "COLD:30"]), 2);
    let out = ok(b.trainctl().args(["s3", "lifecycle", "plan", &url, "--transition", "GLACIER_IR:30", "--expire-days", "60"]));
    assert!(stdout(&out).contains("minimum storage duration of 90 days"), "{}", stdout(&out));
}

#[test]
fn garage_keeps_expiry_and_refuses_transitions_with_a_clear_error() {
    let Some(b) = Backend::garage() else { return };
    let bucket = b.new_bucket("lcgarage");
    let url = s3(&bucket, "runs/");
    ok(b.trainctl().args(["s3", "lifecycle", "apply", &url, "--expire-days", "30", "--abort-multipart-days", "7", "--yes"]));
    let before = show_rules(&b, &bucket);
    assert_eq!(before[0]["expire_days"], 30);
    assert_eq!(before[0]["abort_multipart_days"], 7);

    let out = fails_with(b.trainctl().args(["s3", "lifecycle", "apply", &url, "--transition", "GLACIER_IR:30", "--expire-days", "100", "--yes"]), 40);
    assert_error_shape(&out);
    assert!(stderr(&out).contains("silently dropped") && stderr(&out).contains("GLACIER_IR"), "{}", stderr(&out));
    assert_eq!(show_rules(&b, &bucket), before, "the previous rules are restored");

    let out = fails_with(b.trainctl().args(["--json", "s3", "lifecycle", "apply", &url, "--noncurrent-expire-days", "7", "--yes"]), 40);
    let err = json_lines(&out).into_iter().find(|v| v.get("error").is_some()).unwrap();
    assert_eq!(err["error"]["code"], "lifecycle_unsupported");
}
