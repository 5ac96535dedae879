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

/// 3 objects of 200 KiB and 2 of 1 KiB under `runs/`, one elsewhere.
fn savings_bucket(b: &Backend, hint: &str) -> String {
    let bucket = b.new_bucket(hint);
    for i in 0..3 {
        b.put_object(&bucket, &format!("runs/exp/checkpoint-{i}/model.bin"), vec![7u8; 200 * 1024]);
    }
    b.put_object(&bucket, "runs/exp/trainer_state.json", vec![1u8; 1024]);
    b.put_object(&bucket, "runs/exp/latest", vec![1u8; 1024]);
    b.put_object(&bucket, "datasets/big.bin", vec![2u8; 300 * 1024]);
    bucket
}

#[test]
fn plan_prices_what_the_rule_saves_on_todays_objects_net_of_transition_requests() {
    let b = Backend::moto();
    let bucket = savings_bucket(&b, "lcsave");
    let url = s3(&bucket, "runs/");
    let args = ["--json", "s3", "lifecycle", "plan", &url, "--transition", "GLACIER_IR:30", "--provider", "aws/us-east-1"];
    // As the objects are now (minutes old): nothing is due yet, the 3 large ones will be.
    let out = ok(b.trainctl().args(args));
    let s = &json_lines(&out)[0]["savings"];
    assert_eq!(s["table"], "aws/us-east-1", "{s}");
    let r = &s["rules"][0];
    assert_eq!((r["rule_id"].as_str(), r["objects"].as_u64(), r["objects_later"].as_u64()), (Some("trainctl-runs"), Some(5), Some(3)), "{r}");
    assert_eq!(r["monthly_savings_usd"], 0.0);
    assert_eq!(s["listed_objects"], 5, "one listing of the rule's prefix only");

    // As they will be in 40 days: the three 200 KiB objects move, the two small ones stay.
    let out = ok(b.trainctl().args(args).args(["--after-days", "40"]));
    let s = &json_lines(&out)[0]["savings"];
    let r = &s["rules"][0];
    assert_eq!((r["transitions"][0]["objects_moved"].as_u64(), r["small_objects_staying"].as_u64()), (Some(3), Some(2)), "{r}");
    let gib = (1u64 << 30) as f64;
    let monthly = 3.0 * 200.0 * 1024.0 / gib * (0.023 - 0.004);
    let transition = 3.0 / 1000.0 * 0.02;
    let got = |k: &str| r[k].as_f64().unwrap();
    assert!((got("monthly_savings_usd") - monthly).abs() < 1e-12, "{r}");
    assert!((got("transition_usd") - transition).abs() < 1e-12, "{r}");
    assert!((got("net_first_month_usd") - (monthly - transition)).abs() < 1e-12, "{r}");
    assert_eq!(s["after_days"], 40);

    // The text names the table and the figures.
    let out = ok(b.trainctl().args(&args[1..]).args(["--after-days", "40"]));
    let text = stdout(&out);
    assert!(text.contains("+ trainctl-runs [add]") && text.contains("move 3 objects") && text.contains("to GLACIER_IR"), "{text}");
    assert!(text.contains("2 objects under 128 KiB stay") && text.contains("prices: Amazon S3") && text.contains("(aws/us-east-1)"), "{text}");
}

#[test]
fn without_a_price_table_the_plan_says_so_and_is_shown_anyway() {
    let b = Backend::moto();
    let bucket = savings_bucket(&b, "lcnotable");
    let url = s3(&bucket, "runs/");
    let out = ok(b.trainctl().args(["s3", "lifecycle", "plan", &url, "--expire-days", "30"]));
    let text = stdout(&out);
    assert!(text.contains("+ trainctl-runs [add]"), "{text}");
    assert!(text.contains("savings: not estimated") && text.contains("--provider"), "{text}");
    let out = ok(b.trainctl().args(["--json", "s3", "lifecycle", "plan", &url, "--expire-days", "30"]));
    let line = &json_lines(&out)[0];
    assert_eq!(line["plan"]["changes"][0]["change"], "added");
    assert!(line["savings"]["table"].is_null() && line["savings"]["not_estimated_because"].as_str().unwrap().contains("price table"), "{line}");
    // Expiry: every object (small ones too) is priced, and --no-savings lists nothing.
    let out = ok(b.trainctl().args(["--json", "s3", "lifecycle", "plan", &url, "--expire-days", "30", "--provider", "aws", "--after-days", "31"]));
    let r = &json_lines(&out)[0]["savings"]["rules"][0];
    assert_eq!((r["expired_objects"].as_u64(), r["expired_bytes"].as_u64()), (Some(5), Some(3 * 200 * 1024 + 2 * 1024)), "{r}");
    let out = ok(b.trainctl().args(["--json", "s3", "lifecycle", "plan", &url, "--expire-days", "30", "--no-savings"]));
    assert!(json_lines(&out)[0]["savings"].is_null());
}

conformance! {
    /// Expiry is a lifecycle action every server here stores (Garage included): the savings of
    /// expiring today's objects 31 days from now are their whole STANDARD storage, on both.
    fn plan_prices_an_expiry_from_one_listing_on_every_server(b: &Backend) {
        let bucket = savings_bucket(b, "lcsaveall");
        let url = s3(&bucket, "runs/");
        let out = ok(b.trainctl().args(["--json", "s3", "lifecycle", "plan", &url, "--expire-days", "30", "--provider", "aws/us-east-1", "--after-days", "31"]));
        let s = &json_lines(&out)[0]["savings"];
        let r = &s["rules"][0];
        let bytes = 3 * 200 * 1024 + 2 * 1024;
        assert_eq!((r["expired_objects"].as_u64(), r["expired_bytes"].as_u64(), s["listed_objects"].as_u64()), (Some(5), Some(bytes), Some(5)), "{s}");
        let expected = bytes as f64 / (1u64 << 30) as f64 * 0.023;
        assert!((r["monthly_savings_usd"].as_f64().unwrap() - expected).abs() < 1e-15, "{r}");
        assert_eq!((r["early_deletion_usd"].as_f64(), r["transition_usd"].as_f64()), (Some(0.0), Some(0.0)), "STANDARD has no minimum duration");
    }
}
