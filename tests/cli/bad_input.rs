//! Bad input: each mistake a researcher makes gets one `error:` line with a `hint:`, the exit
//! code documented in docs/exit-codes.md, and changes nothing in the bucket or on disk.

use crate::common::*;

/// A small local tree and a bucket holding one object: the "before" of every test here.
struct Fixture {
    bucket: String,
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new(b: &Backend, hint: &str) -> Fixture {
        Fixture::in_bucket(b, b.new_bucket(hint))
    }
    fn in_bucket(b: &Backend, bucket: String) -> Fixture {
        b.put_object(&bucket, "existing/obj.bin", pattern_bytes("obj", 100));
        let dir = scratch();
        write_tree(dir.path(), &[("src/a.txt", 10), ("src/b/c.bin", 20), ("dst/keep.txt", 5)]);
        Fixture { bucket, dir }
    }
    fn src(&self) -> std::path::PathBuf {
        self.dir.path().join("src")
    }
    fn dst(&self) -> std::path::PathBuf {
        self.dir.path().join("dst")
    }
    /// Nothing changed: the bucket holds its one object, the local tree its three files.
    fn assert_unchanged(&self, b: &Backend) {
        self.assert_unchanged_but(b, &[]);
    }
    /// Like `assert_unchanged`, with `also` put into the bucket by the test itself.
    fn assert_unchanged_but(&self, b: &Backend, also: &[&str]) {
        let mut want: Vec<String> = also.iter().map(|k| k.to_string()).collect();
        want.push("existing/obj.bin".into());
        want.sort();
        assert_eq!(keys(b, &self.bucket, ""), want, "bucket changed");
        assert_eq!(local_files(self.dir.path()), vec!["dst/keep.txt", "src/a.txt", "src/b/c.bin"], "local tree changed");
    }
}

/// Runs `cmd`, asserts exit `code` and the one-line error + hint shape.
fn refused(cmd: &mut std::process::Command, code: i32) -> std::process::Output {
    let out = fails_with(cmd, code);
    assert_error_shape(&out);
    out
}

/// upload, download, sync, ls of `url` (each must fail the same way).
fn every_verb(b: &Backend, f: &Fixture, url: &str, code: i32, via: impl Fn() -> std::process::Command) {
    let _ = b;
    refused(via().args(["s3", "upload"]).arg(f.src()).arg(url).arg("--recursive"), code);
    refused(via().args(["s3", "download", url]).arg(f.dst()).arg("--recursive"), code);
    refused(via().args(["s3", "sync"]).arg(f.src()).arg(url).args(["--direction", "up"]), code);
    refused(via().args(["s3", "sync"]).arg(f.dst()).arg(url).args(["--direction", "down", "--delete", "--yes"]), code);
    refused(via().args(["s3", "ls", url]), code);
}

conformance! {
    fn malformed_urls_exit_10(b: &Backend) {
        let f = Fixture::new(b, "badurl");
        for url in ["bucket/key", "s3:/bucket/key", "http://bucket/key", "s3://AB/key", "s3://a/key", "s3://bad_bucket/k", "s3:///key"] {
            every_verb(b, &f, url, 10, || b.trainctl());
        }
        f.assert_unchanged(b);
    }

    fn a_bucket_that_does_not_exist_exits_24(b: &Backend) {
        let f = Fixture::new(b, "nobucket");
        let missing = format!("s3://{}-missing/p/", f.bucket);
        every_verb(b, &f, &missing, 24, || b.trainctl());
        // Also with --json: the error is one JSON object on stdout carrying the code.
        let out = fails_with(b.trainctl().args(["--json", "s3", "ls", &missing]), 24);
        let err = &json_lines(&out)[0]["error"];
        assert_eq!((err["code"].as_str(), err["exit_code"].as_i64()), (Some("no_such_bucket"), Some(24)), "{err}");
        f.assert_unchanged(b);
        let out = ok(b.trainctl().args(["s3", "ls", "s3://"]));
        assert!(!stdout(&out).contains(&format!("{}-missing", f.bucket)), "the missing bucket was created");
    }

    fn an_endpoint_that_refuses_connections_exits_26(b: &Backend) {
        let f = Fixture::new(b, "down");
        let closed = format!("http://127.0.0.1:{}", trainctl_testkit::free_port());
        let url = s3(&f.bucket, "p/");
        let started = std::time::Instant::now();
        every_verb(b, &f, &url, 26, || b.trainctl_via(&closed));
        refused(b.trainctl_via(&closed).args(["s3", "ls"]), 26);
        assert!(started.elapsed().as_secs() < 90, "giving up on a closed port took {:?}", started.elapsed());
        f.assert_unchanged(b);
    }

    fn a_wrong_secret_exits_22_and_an_unknown_access_key_exits_21(b: &Backend) {
        // moto accepts any credentials unless its IAM auth is switched on for the whole server,
        // which would change every other test; Garage checks them, so these run on Garage only.
        if b.kind() != Kind::Garage {
            return;
        }
        let f = Fixture::new(b, "creds");
        let url = s3(&f.bucket, "p/");
        every_verb(b, &f, &url, 22, || {
            let mut c = b.trainctl();
            c.env("AWS_SECRET_ACCESS_KEY", "0000000000000000000000000000000000000000000000000000000000000000");
            c
        });
        every_verb(b, &f, &url, 21, || {
            let mut c = b.trainctl();
            c.env("AWS_ACCESS_KEY_ID", "GK000000000000000000000000");
            c
        });
        f.assert_unchanged(b);
    }

    fn a_read_only_key_gets_access_denied_23_on_write(b: &Backend) {
        // Garage only: moto grants everything to everyone by default. A read-only key is made
        // the operator's way (`garage key create` + `garage bucket allow --read`).
        let Some(_) = garage_admin(b.server()) else { return };
        let admin = |args: &[&str]| stdout(&ok(garage_admin(b.server()).unwrap().args(args)));
        // A bucket made by the operator has a global name both keys can be allowed on (a bucket
        // made through S3 is only an alias in its creator's namespace).
        let bucket = format!("tk-garage-ro-{}", std::process::id());
        admin(&["bucket", "create", &bucket]);
        admin(&["bucket", "allow", "--read", "--write", "--owner", &bucket, "--key", b.access_key()]);
        let f = Fixture::in_bucket(b, bucket);
        let info = admin(&["key", "create", &format!("ro-{}", f.bucket)]);
        let field = |label: &str| info.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == label).then(|| v.trim().to_string())
        }).unwrap_or_else(|| panic!("no {label} in {info}"));
        let (id, secret) = (field("Key ID"), field("Secret key"));
        admin(&["bucket", "allow", "--read", &f.bucket, "--key", &id]);
        let ro = || {
            let mut c = b.trainctl();
            c.env("AWS_ACCESS_KEY_ID", &id).env("AWS_SECRET_ACCESS_KEY", &secret);
            c
        };
        // Reading works with this key…
        ok(ro().args(["s3", "ls", &s3(&f.bucket, "")]));
        // …writing is denied, for both engines.
        for engine in ENGINES {
            let out = refused(ro().args(["s3", "upload"]).arg(f.src()).arg(s3(&f.bucket, "p/")).args(["--recursive", "--engine", engine]), 23);
            // Each item's failure is listed too, even without a terminal.
            assert_eq!(stderr(&out).lines().filter(|l| l.starts_with("failed: ")).count(), 2, "engine {engine}\n{}", stderr(&out));
        }
        refused(ro().args(["s3", "sync"]).arg(f.src()).arg(s3(&f.bucket, "existing/"))
            .args(["--direction", "up", "--delete", "--yes", "--engine", "native"]), 23);
        f.assert_unchanged(b);
    }

    fn a_missing_local_path_exits_13(b: &Backend) {
        let f = Fixture::new(b, "nolocal");
        let missing = f.dir.path().join("no such dir");
        refused(b.trainctl().args(["s3", "upload"]).arg(&missing).arg(s3(&f.bucket, "p/")).arg("--recursive"), 13);
        refused(b.trainctl().args(["s3", "upload"]).arg(missing.join("file.bin")).arg(s3(&f.bucket, "p/")), 13);
        refused(b.trainctl().args(["s3", "sync"]).arg(&missing).arg(s3(&f.bucket, "p/")).args(["--direction", "up"]), 13);
        f.assert_unchanged(b);
    }

    fn a_file_where_a_directory_is_expected_exits_14(b: &Backend) {
        let f = Fixture::new(b, "kind");
        let file = f.src().join("a.txt");
        let before = std::fs::read(&file).unwrap();
        refused(b.trainctl().args(["s3", "download", &s3(&f.bucket, "existing/")]).arg(&file).arg("--recursive"), 14);
        refused(b.trainctl().args(["s3", "sync"]).arg(&file).arg(s3(&f.bucket, "existing/")).args(["--direction", "up"]), 14);
        refused(b.trainctl().args(["s3", "sync"]).arg(&file).arg(s3(&f.bucket, "existing/")).args(["--direction", "down"]), 14);
        // A directory without --recursive is the reverse mistake, same code.
        refused(b.trainctl().args(["s3", "upload"]).arg(f.src()).arg(s3(&f.bucket, "p/")), 14);
        // One object into a path whose parent is a file.
        refused(b.trainctl().args(["s3", "download", &s3(&f.bucket, "existing/obj.bin")]).arg(file.join("obj.bin")), 14);
        assert_eq!(std::fs::read(&file).unwrap(), before);
        f.assert_unchanged(b);
    }

    fn a_corrupt_config_file_exits_11(b: &Backend) {
        let f = Fixture::new(b, "corrupt");
        let conf = b.home().join(".config/trainctl/config.toml");
        std::fs::create_dir_all(conf.parent().unwrap()).unwrap();
        std::fs::write(&conf, "this is [not toml\n\u{0}\u{1}garbage = = =\n").unwrap();
        let out = refused(b.trainctl().args(["s3", "ls", &s3(&f.bucket, "")]), 11);
        assert!(stderr(&out).contains("config.toml"), "names the file\n{}", stderr(&out));
        refused(b.trainctl().args(["s3", "upload"]).arg(f.src()).arg(s3(&f.bucket, "p/")).arg("--recursive"), 11);
        refused(b.trainctl().args(["profile", "list"]), 11);
        f.assert_unchanged(b);
        assert!(std::fs::read_to_string(&conf).unwrap().starts_with("this is [not toml"), "the corrupt file was rewritten");
    }

    fn an_unknown_profile_exits_12(b: &Backend) {
        let f = Fixture::new(b, "noprofile");
        refused(b.trainctl().args(["--profile", "no-such-profile", "s3", "ls", &s3(&f.bucket, "")]), 12);
        refused(b.trainctl().args(["--profile", "no-such-profile", "s3", "upload"]).arg(f.src()).arg(s3(&f.bucket, "p/")).arg("--recursive"), 12);
        refused(b.trainctl().args(["profile", "test", "no-such-profile"]), 12);
        f.assert_unchanged(b);
    }

    fn a_full_disk_during_download_exits_16_and_leaves_no_partial_file(b: &Backend) {
        let f = Fixture::new(b, "diskfull");
        b.put_object(&f.bucket, "big/3mib.bin", pattern_bytes("3mib", 3 << 20));
        for engine in ENGINES {
            // A 1 MiB tmpfs is a disk that fills up; mounting one needs root (skipped otherwise).
            let Some(disk) = SmallDisk::mount() else {
                eprintln!("skipping the disk-full check: cannot mount a tmpfs (not root?)");
                return;
            };
            let out = refused(b.trainctl().args(["s3", "download", &s3(&f.bucket, "big/")]).arg(disk.path())
                .args(["--recursive", "--engine", engine]), 16);
            let left = local_files(disk.path());
            assert!(left.is_empty(), "engine {engine}: partial files left: {left:?}\n{}", stderr(&out));
        }
        f.assert_unchanged_but(b, &["big/3mib.bin"]);
    }
}

/// A 1 MiB tmpfs mounted on a scratch directory, unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount() -> Option<SmallDisk> {
        let dir = scratch();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m", "trainctl-test-full"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .ok()?;
        status.success().then_some(SmallDisk { dir })
    }
    fn path(&self) -> &std::path::Path {
        self.dir.path()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(self.dir.path()).status();
    }
}
