//! `trainctl cost estimate|tables` end to end: the estimate of a seeded prefix equals the hand
//! computation from the published price, `--budget` fails with 48, a missing table with 49.

use crate::common::*;

const GIB: f64 = 1073741824.0;
const KIB: usize = 1024;

/// Seeds `data/` with 2 × 200 KiB + 1 × 1 KiB, and one object outside it.
fn seed(b: &Backend, hint: &str) -> (String, f64) {
    let bucket = b.new_bucket(hint);
    b.put_object(&bucket, "data/a.bin", vec![1u8; 200 * KIB]);
    b.put_object(&bucket, "data/sub/b.bin", vec![2u8; 200 * KIB]);
    b.put_object(&bucket, "data/c.json", vec![3u8; KIB]);
    b.put_object(&bucket, "other/d.bin", vec![4u8; 500 * KIB]);
    (bucket, (2.0 * 204800.0 + 1024.0))
}

fn estimate_json(out: &std::process::Output) -> serde_json::Value {
    let text = stdout(out);
    let line = text.lines().find(|l| l.contains("\"cost_estimate\"")).unwrap_or_else(|| panic!("no estimate in {text}"));
    serde_json::from_str(line).unwrap()
}

fn close(a: f64, b: f64) {
    assert!((a - b).abs() <= 1e-12 * b.abs().max(1e-9), "{a} != {b}");
}

conformance! {
    fn cost_estimate_equals_the_hand_computation(b: &Backend) {
        let (bucket, bytes) = seed(b, "costest");
        let url = format!("s3://{bucket}/data/");
        let out = ok(b.trainctl().args(["--json", "cost", "estimate", &url, "--provider", "aws/us-east-1"]));
        let v = estimate_json(&out);
        assert_eq!((v["objects"].as_u64(), v["bytes"].as_f64()), (Some(3), Some(bytes)), "{v}");
        assert_eq!(v["table"], "aws/us-east-1");
        assert_eq!(v["table_date"].as_str().map(str::len), Some(10));
        // S3 Standard us-east-1: $0.023 per GiB-month, no minimum object size.
        close(v["monthly_usd"].as_f64().unwrap(), bytes / GIB * 0.023);
        assert_eq!(v["classes"][0]["class"], "STANDARD");
        close(v["total_monthly_usd"].as_f64().unwrap(), bytes / GIB * 0.023);
        // --detailed adds hidden bytes (none here) to the total.
        let out = ok(b.trainctl().args(["--json", "cost", "estimate", &url, "--provider", "aws/us-east-1", "--detailed"]));
        let v = estimate_json(&out);
        assert_eq!(v["hidden_bytes"].as_u64(), Some(0), "{v}");
        close(v["total_monthly_usd"].as_f64().unwrap(), bytes / GIB * 0.023);

        let human = ok(b.trainctl().args(["cost", "estimate", &url, "--provider", "aws/us-east-1", "--budget", "1"]));
        assert!(stdout(&human).contains("STANDARD") && stdout(&human).contains("total"), "{}", stdout(&human));
        assert!(stderr(&human).contains("aws/us-east-1") && stderr(&human).contains("https://"), "{}", stderr(&human));
    }

    fn cost_estimate_of_an_empty_prefix_is_zero(b: &Backend) {
        let bucket = b.new_bucket("costempty");
        let out = ok(b.trainctl().args(["--json", "cost", "estimate", &format!("s3://{bucket}/nothing/"), "--provider", "r2"]));
        let v = estimate_json(&out);
        assert_eq!((v["objects"].as_u64(), v["monthly_usd"].as_f64(), v["table"].as_str()), (Some(0), Some(0.0), Some("r2/*")));
    }

    fn cost_budget_exceeded_exits_48_after_showing_the_estimate(b: &Backend) {
        let (bucket, _) = seed(b, "costbudget");
        let url = format!("s3://{bucket}/data/");
        let out = fails_with(b.trainctl().args(["cost", "estimate", &url, "--provider", "aws/us-east-1", "--budget", "0"]), 48);
        assert!(stdout(&out).contains("total"), "the estimate is still shown: {}", stdout(&out));
        assert!(stderr(&out).contains("exceeds the budget of $0.00/month"), "{}", stderr(&out));
        let json = fails_with(b.trainctl().args(["--json", "cost", "estimate", &url, "--provider", "aws/us-east-1", "--budget", "0"]), 48);
        assert_eq!(estimate_json(&json)["over_budget"], true);
        assert!(stdout(&json).contains("\"budget_exceeded\"") || stderr(&json).contains("\"budget_exceeded\""), "{}", show_all(&json));
    }

    fn cost_unknown_region_exits_49_naming_the_table(b: &Backend) {
        let (bucket, _) = seed(b, "costregion");
        let url = format!("s3://{bucket}/data/");
        let out = fails_with(b.trainctl().args(["cost", "estimate", &url, "--provider", "aws/mars-north-1"]), 49);
        assert!(stderr(&out).contains("aws/mars-north-1") && stderr(&out).contains("--prices"), "{}", stderr(&out));
        // A local server is no provider with a price list: the error names the detected one.
        let out = fails_with(b.trainctl().args(["cost", "estimate", &url]), 49);
        assert!(stderr(&out).contains("no price table for `other/"), "{}", stderr(&out));
    }

    fn cost_custom_table_from_a_file_and_from_the_profile(b: &Backend) {
        let (bucket, bytes) = seed(b, "costcustom");
        let url = format!("s3://{bucket}/data/");
        let dir = b.home().join(".config/trainctl");
        std::fs::create_dir_all(&dir).unwrap();
        let table = "provider = \"lab\"\nregion = \"*\"\nname = \"Lab NAS\"\nsource = \"https://example.org/quote\"\ndate = \"2026-01-01\"\n\
                     bytes_per_gb = 1000000000\n[classes.STANDARD]\nstorage_gb_month = 0.5\nput_per_1000 = 0.0\nget_per_1000 = 0.0\n\
                     source = \"https://example.org/quote\"\ndate = \"2026-01-01\"\nbasis = \"custom\"\n";
        std::fs::write(dir.join("lab-prices.toml"), table).unwrap();
        let out = ok(b.trainctl().args(["--json", "cost", "estimate", &url, "--prices"]).arg(dir.join("lab-prices.toml")));
        close(estimate_json(&out)["monthly_usd"].as_f64().unwrap(), bytes / 1e9 * 0.5);
        let out = ok(b.trainctl().env("TRAINCTL_PRICES", dir.join("lab-prices.toml")).args(["--json", "cost", "estimate", &url]));
        assert_eq!(estimate_json(&out)["table"], "lab/*");
        std::fs::write(dir.join("config.toml"), "[profiles.lab]\nprices = \"lab-prices.toml\"\n").unwrap();
        let out = ok(b.trainctl().args(["--json", "--profile", "lab", "cost", "estimate", &url]));
        let v = estimate_json(&out);
        assert_eq!(v["table_name"], "Lab NAS");
        close(v["monthly_usd"].as_f64().unwrap(), bytes / 1e9 * 0.5);
    }

    fn cleanup_plan_shows_savings_from_the_price_table(b: &Backend) {
        let bucket = b.new_bucket("costplan");
        for step in [100, 200, 300] {
            b.put_object(&bucket, &format!("exp/run1/checkpoint-{step}/model.safetensors"), vec![1u8; 300 * KIB]);
            b.put_object(&bucket, &format!("exp/run1/checkpoint-{step}/trainer_state.json"), format!("{{\"global_step\": {step}}}"));
        }
        let url = format!("s3://{bucket}/exp/");
        let out = ok(b.trainctl().args(["--json", "s3", "cleanup", &url, "--keep-last-n", "1", "--dry-run", "--grace", "0s"]));
        let text = stdout(&out);
        let line = text.lines().find(|l| l.contains("\"plan_summary\"")).unwrap_or_else(|| panic!("no summary in {text}"));
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        // A local server has no table of its own: the plan is priced as S3 Standard us-east-1.
        assert_eq!((v["delete"].as_u64(), v["price_table"].as_str(), v["storage_class"].as_str()), (Some(2), Some("aws/us-east-1"), Some("STANDARD")));
        let bytes = v["bytes_reclaimed"].as_f64().unwrap();
        close(v["monthly_usd_saved"].as_f64().unwrap(), bytes / GIB * 0.023);
        assert_eq!(v["early_deletion_usd"].as_f64(), Some(0.0));
        let human = ok(b.trainctl().args(["s3", "cleanup", &url, "--keep-last-n", "1", "--dry-run", "--grace", "0s"]));
        assert!(stderr(&human).contains("at aws/us-east-1 STANDARD prices"), "{}", stderr(&human));
    }
}

fn show_all(out: &std::process::Output) -> String {
    format!("{}\n{}", stdout(out), stderr(out))
}

/// Storage classes only on moto (Garage stores everything as STANDARD): a 1 KiB object in
/// STANDARD_IA is billed as 128 KiB.
#[test]
fn cost_estimate_applies_the_128_kib_minimum_of_standard_ia_on_moto() {
    let b = Backend::moto();
    let bucket = b.new_bucket("costia");
    let dir = scratch();
    std::fs::create_dir_all(dir.path().join("ia")).unwrap();
    std::fs::write(dir.path().join("ia/big.bin"), vec![1u8; 200 * KIB]).unwrap();
    std::fs::write(dir.path().join("ia/small.bin"), vec![2u8; KIB]).unwrap();
    let src = dir.path().join("ia");
    ok(b.trainctl().args(["s3", "upload", "-r"]).arg(&src).args([&format!("s3://{bucket}/ia/"), "--storage-class", "STANDARD_IA"]));
    b.put_object(&bucket, "std/x.bin", vec![3u8; KIB]);
    let out = ok(b.trainctl().args(["--json", "cost", "estimate", &format!("s3://{bucket}/"), "--provider", "aws/us-east-1"]));
    let v = estimate_json(&out);
    let classes = v["classes"].as_array().unwrap();
    let ia = classes.iter().find(|c| c["class"] == "STANDARD_IA").unwrap_or_else(|| panic!("no STANDARD_IA in {v}"));
    assert_eq!((ia["objects"].as_u64(), ia["billable_bytes"].as_u64()), (Some(2), Some(204800 + 131072)), "{ia}");
    let expected = (204800.0 + 131072.0) / GIB * 0.0125 + 1024.0 / GIB * 0.023;
    close(v["monthly_usd"].as_f64().unwrap(), expected);
}

#[test]
fn cost_tables_lists_the_builtin_tables_and_shows_one_as_toml() {
    let b = Backend::moto();
    let out = ok(b.trainctl().args(["cost", "tables"]));
    for id in ["aws/us-east-1", "aws/eu-central-1", "aws/ap-southeast-1", "r2/*", "b2/*"] {
        assert!(stdout(&out).contains(id), "{id} missing: {}", stdout(&out));
    }
    let shown = ok(b.trainctl().args(["cost", "tables", "--show", "aws/us-east-1"]));
    assert!(stdout(&shown).contains("[classes.GLACIER_IR]") && stdout(&shown).contains("min_object_bytes = 131072"), "{}", stdout(&shown));
    let missing = fails_with(b.trainctl().args(["cost", "tables", "--show", "aws/mars-north-1"]), 49);
    assert!(stderr(&missing).contains("aws/mars-north-1"), "{}", stderr(&missing));
}

#[test]
fn profile_add_keeps_the_profile_price_table() {
    let b = Backend::moto();
    let dir = b.home().join(".config/trainctl");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.toml"), "[profiles.lab]\nregion = \"us-east-1\"\nprices = \"lab-prices.toml\"\n").unwrap();
    ok(b.trainctl().args(["profile", "add", "lab", "--endpoint-url", "http://127.0.0.1:1", "--region", "eu-west-1"]));
    let text = std::fs::read_to_string(dir.join("config.toml")).unwrap();
    assert!(text.contains("prices = \"lab-prices.toml\"") && text.contains("eu-west-1"), "{text}");
}
