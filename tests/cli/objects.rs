//! `s3 presign`, `s3 tag`, `s3 ls --versions` and `s3 mv`: the Browser's object panel on the command line.

use crate::common::*;

fn curl(url: &str) -> Option<Vec<u8>> {
    let out = std::process::Command::new("curl").args(["-sf", "--max-time", "20", url]).output().unwrap();
    out.status.success().then_some(out.stdout)
}

conformance! {
    fn mv_renames_a_folder_from_its_plan_and_bad_input_changes_nothing(b: &Backend) {
        let bucket = b.new_bucket("mv");
        let keys = ["runs/exp-1/checkpoint-100/model.safetensors", "runs/exp-1/train.log", "runs/exp-1/notes #1 ?%é.txt"];
        for k in keys {
            b.put_object(&bucket, k, pattern_bytes(k, 300));
        }
        b.put_object(&bucket, "runs/taken.log", b"mine".to_vec());
        let all = |b: &Backend| {
            let mut k = b.list_keys(&bucket, "");
            k.sort();
            k
        };
        let before = all(b);
        // A dry run shows the moves and changes nothing.
        let out = ok(b.trainctl().args(["s3", "mv", &s3(&bucket, "runs/exp-1/"), &s3(&bucket, "runs/exp-2/"), "--dry-run"]));
        assert!(stderr(&out).contains("runs/exp-2/train.log") && stderr(&out).contains("nothing was changed"), "{}", stderr(&out));
        assert_eq!(all(b), before);
        // Bad input: one readable line, a distinct exit code, nothing moved.
        let out = fails_with(b.trainctl().args(["s3", "mv", &s3(&bucket, "runs/exp-1/train.log"), &s3(&bucket, "runs/taken.log")]), 38);
        assert!(stderr(&out).contains("runs/taken.log") && !stderr(&out).contains("more)"), "{}", stderr(&out));
        fails_with(b.trainctl().args(["s3", "mv", &s3(&bucket, "runs/exp-1/"), &s3("other-bucket", "runs/exp-1/")]), 2);
        fails_with(b.trainctl().args(["s3", "mv", &s3(&bucket, "runs/missing/"), &s3(&bucket, "runs/x/")]), 25);
        fails_with(b.trainctl().args(["s3", "mv", &s3(&bucket, "runs/exp-1/"), &s3(&bucket, "runs/exp-1/sub/")]), 2);
        fails_with(b.trainctl().args(["s3", "mv", "not-a-url", &s3(&bucket, "x")]), 10);
        assert_eq!(all(b), before, "refused moves change nothing");
        // --yes moves exactly the folder's keys, bytes intact.
        ok(b.trainctl().args(["s3", "mv", &s3(&bucket, "runs/exp-1/"), &s3(&bucket, "runs/exp-2/"), "--yes"]));
        let mut want: Vec<String> = keys.iter().map(|k| k.replace("exp-1", "exp-2")).chain(["runs/taken.log".to_string()]).collect();
        want.sort();
        assert_eq!(all(b), want);
        for k in keys {
            assert_eq!(b.get_object(&bucket, &k.replace("exp-1", "exp-2")), pattern_bytes(k, 300), "{k}");
        }
    }

    fn presign_prints_a_link_that_plain_http_downloads(b: &Backend) {
        let bucket = b.new_bucket("presign");
        let key = "runs/a b/ckpt #1.bin";
        b.put_object(&bucket, key, pattern_bytes(key, 2048));
        let out = ok(b.trainctl().args(["s3", "presign", &s3(&bucket, key), "--expires-in", "10m"]));
        let url = stdout(&out).trim().to_string();
        assert_eq!(stdout(&out).lines().count(), 1, "stdout is the URL only");
        assert_eq!(curl(&url), Some(pattern_bytes(key, 2048)), "{url}");
        let json = json_lines(&ok(b.trainctl().args(["--json", "s3", "presign", &s3(&bucket, key)])));
        assert!(json[0]["expires_at"].as_i64().unwrap() > 0 && json[0]["url"].as_str().unwrap().starts_with("http"));
        for bad in [["--expires-in", "8d"], ["--expires-in", "soon"]] {
            let out = fails_with(b.trainctl().args(["s3", "presign", &s3(&bucket, key)]).args(bad), 2);
            assert!(!stderr(&out).is_empty());
        }
        fails_with(b.trainctl().args(["s3", "presign", &s3(&bucket, "runs/")]), 2);
        // A link works until it expires, and not after.
        let short = stdout(&ok(b.trainctl().args(["s3", "presign", &s3(&bucket, key), "--expires-in", "2s"]))).trim().to_string();
        assert_eq!(curl(&short), Some(pattern_bytes(key, 2048)), "before it expires");
        std::thread::sleep(std::time::Duration::from_secs(4));
        let after = curl(&short);
        if b.kind() == Kind::Moto {
            // moto_server does not check signatures (so no expiry either); Garage does, as AWS does.
            eprintln!("moto: a presigned link past its expiry answered {:?} bytes (moto does not check)", after.map(|a| a.len()));
        } else {
            assert!(after.is_none(), "{:?}: a link past its expiry still downloads", b.kind());
        }
    }

    fn tag_sets_and_shows_tags_and_bad_words_change_nothing(b: &Backend) {
        let bucket = b.new_bucket("tag");
        b.put_object(&bucket, "m.bin", b"x".to_vec());
        let shown = run(b.trainctl().args(["s3", "tag", &s3(&bucket, "m.bin")]));
        if !shown.status.success() || stderr(&shown).contains("could not be read") {
            // A store without tagging says so (Garage); nothing more to check there.
            eprintln!("{:?}: tags not supported: {}", b.kind(), stderr(&shown));
            return;
        }
        ok(b.trainctl().args(["s3", "tag", &s3(&bucket, "m.bin"), "run=llama 7b", "keep=yes"]));
        let out = ok(b.trainctl().args(["s3", "tag", &s3(&bucket, "m.bin")]));
        assert_eq!(stdout(&out), "keep=yes\nrun=llama 7b\n");
        let out = fails_with(b.trainctl().args(["s3", "tag", &s3(&bucket, "m.bin"), "oops"]), 2);
        assert!(stderr(&out).contains("KEY=VALUE"), "{}", stderr(&out));
        let out = ok(b.trainctl().args(["s3", "tag", &s3(&bucket, "m.bin")]));
        assert_eq!(stdout(&out), "keep=yes\nrun=llama 7b\n", "a refused edit changes nothing");
    }
}

#[test]
fn ls_versions_lists_every_version_newest_first() {
    let b = Backend::moto();
    let bucket = b.new_bucket("versions");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let on = aws_sdk_s3::types::VersioningConfiguration::builder().status(aws_sdk_s3::types::BucketVersioningStatus::Enabled).build();
        b.server().client().put_bucket_versioning().bucket(&bucket).versioning_configuration(on).send().await.unwrap();
    });
    b.put_object(&bucket, "model.pt", b"v1".to_vec());
    b.put_object(&bucket, "model.pt", b"v2!".to_vec());
    let lines = json_lines(&ok(b.trainctl().args(["--json", "s3", "ls", &s3(&bucket, "model.pt"), "--versions"])));
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!((lines[0]["is_latest"].as_bool(), lines[0]["size"].as_u64()), (Some(true), Some(3)));
    let out = ok(b.trainctl().args(["s3", "ls", &s3(&bucket, ""), "--versions"]));
    assert_eq!(stdout(&out).lines().filter(|l| l.contains("model.pt")).count(), 2);
    fails_with(b.trainctl().args(["s3", "ls", "s3://", "--versions"]), 2);
}
