//! `trainctl profile`: a profile for an S3-compatible store whose credentials come from an AWS
//! profile, listed, tested, used with `--profile`, removed; a failing test explains itself in
//! plain words; the config file never holds a secret.

use crate::common::*;
use std::process::Command;

/// A `trainctl` that knows nothing of the backend but what a profile tells it: no credential,
/// endpoint or region variables.
fn bare(b: &Backend) -> Command {
    let mut c = b.trainctl();
    for v in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION"] {
        c.env_remove(v);
    }
    c
}

/// Writes the backend's key into the test HOME's ~/.aws as profile `name` (as `aws configure
/// --profile name` would).
fn write_aws_profile(b: &Backend, name: &str) {
    let aws = b.home().join(".aws");
    std::fs::create_dir_all(&aws).unwrap();
    std::fs::write(
        aws.join("credentials"),
        format!("[{name}]\naws_access_key_id = {}\naws_secret_access_key = {}\n", b.access_key(), b.secret_key()),
    )
    .unwrap();
    std::fs::write(aws.join("config"), format!("[profile {name}]\nregion = {}\n", b.region())).unwrap();
}

conformance! {
    fn a_profile_is_added_listed_tested_used_and_removed(b: &Backend) {
        let bucket = b.new_bucket("profile");
        b.put_object(&bucket, "runs/a.bin", b"abc".to_vec());
        write_aws_profile(b, "lab-creds");
        let endpoint = b.endpoint_url();
        ok(bare(b).args(["profile", "add", "lab", "--endpoint-url", &endpoint, "--region", b.region(), "--aws-profile", "lab-creds"]));

        let listed = json_lines(&ok(bare(b).args(["--json", "profile", "list"])));
        let lab = listed.iter().find(|p| p["name"] == "lab").unwrap_or_else(|| panic!("lab not listed: {listed:?}"));
        assert_eq!(lab["endpoint_url"].as_str(), Some(endpoint.as_str()), "{lab}");
        assert!(listed.iter().any(|p| p["name"] == "lab-creds"), "the AWS profile is listed too: {listed:?}");

        let out = ok(bare(b).args(["profile", "test", "lab"]));
        assert!(stdout(&out).contains("OK"), "{}", stdout(&out));
        ok(bare(b).args(["profile", "test", "lab", "--bucket", &bucket]));

        let out = ok(bare(b).args(["--profile", "lab", "s3", "ls", &s3(&bucket, "runs/")]));
        assert!(stdout(&out).contains(&s3(&bucket, "runs/a.bin")), "{}", stdout(&out));
        // And a transfer through it.
        let dst = scratch();
        ok(bare(b).args(["--profile", "lab", "s3", "download", &s3(&bucket, "runs/")]).arg(dst.path()).arg("--recursive"));
        assert_eq!(std::fs::read(dst.path().join("a.bin")).unwrap(), b"abc");

        let conf = std::fs::read_to_string(b.home().join(".config/trainctl/config.toml")).expect("config file written");
        assert!(conf.contains("lab"), "{conf}");
        assert!(!conf.contains(b.secret_key()), "the secret is in the config file:\n{conf}");

        ok(bare(b).args(["profile", "remove", "lab"]));
        let listed = json_lines(&ok(bare(b).args(["--json", "profile", "list"])));
        assert!(!listed.iter().any(|p| p["name"] == "lab"), "still listed: {listed:?}");
        let out = fails_with(bare(b).args(["--profile", "lab", "s3", "ls", &s3(&bucket, "")]), 12);
        assert_error_shape(&out);
    }

    fn testing_a_profile_whose_endpoint_is_down_explains_it_and_exits_26(b: &Backend) {
        write_aws_profile(b, "lab-creds");
        let closed = format!("http://127.0.0.1:{}", trainctl_testkit::free_port());
        ok(bare(b).args(["profile", "add", "down", "--endpoint-url", &closed, "--region", b.region(), "--aws-profile", "lab-creds"]));
        let out = fails_with(bare(b).args(["profile", "test", "down"]), 26);
        let text = stdout(&out);
        assert!(text.contains("Cannot connect") && text.contains("server is down"), "not a plain-words diagnosis:\n{text}");
        assert!(text.contains("hint:"), "{text}");
        let conf = std::fs::read_to_string(b.home().join(".config/trainctl/config.toml")).unwrap();
        assert!(!conf.contains(b.secret_key()), "{conf}");
    }
}
