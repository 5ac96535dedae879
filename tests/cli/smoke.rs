//! The harness itself works: a backend with a bucket, and a `trainctl` that runs.

use crate::common::*;

conformance! {
    fn version_runs_and_backend_bucket_is_usable(b: &Backend) {
        let bucket = b.new_bucket("smoke");
        b.put_object(&bucket, "hello.txt", b"hi".to_vec());
        let out = ok(b.trainctl().arg("--version"));
        assert!(stdout(&out).contains(env!("CARGO_PKG_VERSION")), "{}", stdout(&out));
        assert_eq!(b.list_keys(&bucket, ""), vec!["hello.txt"]);
    }
}

#[test]
fn trainctl_children_see_an_empty_home_not_the_developers() {
    let server = trainctl_testkit::shared_moto();
    let cmd = trainctl(server);
    let env: std::collections::HashMap<_, _> =
        cmd.get_envs().filter_map(|(k, v)| Some((k.to_os_string(), v?.to_os_string()))).collect();
    let home = std::path::PathBuf::from(&env[std::ffi::OsStr::new("HOME")]);
    assert!(home.starts_with(env!("CARGO_TARGET_TMPDIR")), "{home:?}");
    assert_eq!(env[std::ffi::OsStr::new("AWS_ENDPOINT_URL")], std::ffi::OsString::from(server.endpoint_url()));
}
