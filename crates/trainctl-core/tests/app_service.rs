//! The application layer driven as a face drives it — no webview, no CLI — against moto and
//! Garage: a saved profile connects, dropped folders upload, selected folders download (hostile
//! folder names rejected one by one), plans are applied by id only and once, forged names are
//! refused, watches report, the review prices, lifecycle rules apply, a sync pair decides a
//! conflict by path and deletes only a confirmed plan.

use std::path::Path;
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};
use trainctl_core::app::checkpoints::{DetectForm, PolicyForm};
use trainctl_core::app::profiles::ProfileForm;
use trainctl_core::app::{App, TransferRecord, TransferState};
use trainctl_core::event::{CollectSink, Event};
use trainctl_testkit::{pattern_bytes, write_tree, S3Server};

/// One private config/state dir and the in-memory keychain for the whole test process.
fn private_env() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        // SAFETY of set_var: before any test of this binary reads the environment (Once).
        std::env::set_var("TRAINCTL_CONFIG", dir.join("config.toml"));
        std::env::set_var("XDG_STATE_HOME", dir.join("state"));
        std::env::set_var("TRAINCTL_DATASET_CACHE", dir.join("cache").join("datasets"));
        std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
        trainctl_core::config::keychain::use_mock();
    });
}

/// An app connected to `server` through a profile saved from the connection form.
async fn connected_app(server: &S3Server, name: &str) -> (Arc<App>, CollectSink) {
    connected_app_at(server, &server.endpoint_url(), name).await
}

/// [`connected_app`] through `endpoint` (a proxy in front of `server`).
async fn connected_app_at(server: &S3Server, endpoint: &str, name: &str) -> (Arc<App>, CollectSink) {
    private_env();
    let sink = CollectSink::default();
    let app = App::new(Arc::new(sink.clone()), None);
    let form = ProfileForm {
        name: name.into(),
        provider: Some("other".into()),
        endpoint_url: Some(endpoint.to_string()),
        region: Some(server.region().into()),
        access_key_id: server.access_key().into(),
        secret_access_key: server.secret_key().into(),
    };
    app.profile_save(form).await.unwrap();
    app.connect(name).await.unwrap();
    (app, sink)
}

fn servers() -> Vec<(&'static str, &'static S3Server)> {
    let mut out = vec![("moto", trainctl_testkit::shared_moto())];
    if let Some(g) = trainctl_testkit::shared_garage_or_skip() {
        out.push(("garage", g));
    }
    out
}

/// Waits for job `job` to finish; returns its final record.
async fn finished(app: &App, job: u64) -> TransferRecord {
    let end = Instant::now() + Duration::from_secs(120);
    loop {
        let r = app.transfers.list().into_iter().find(|r| r.job == job).expect("the job is listed");
        if !r.state.is_active() {
            return r;
        }
        assert!(Instant::now() < end, "job {job} did not finish: {r:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn files_under(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = walkdir::WalkDir::new(dir).into_iter().flatten().filter(|e| e.file_type().is_file()).map(|e| e.path().strip_prefix(dir).unwrap().display().to_string()).collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dropped_folder_uploads_and_a_selected_folder_downloads_on_both_servers() {
    for (kind, server) in servers() {
        let (app, sink) = connected_app(server, &format!("rt-{kind}")).await;
        let bucket = server.new_bucket("approundtrip");
        let src = tempfile::tempdir().unwrap();
        write_tree(&src.path().join("checkpoint-200"), &[("model.safetensors", 300_000), ("optimizer.pt", 70_000)]);
        std::fs::write(src.path().join("weights.bin"), pattern_bytes("w", 2_000)).unwrap();
        let folder = app.grants.grant(&src.path().join("checkpoint-200")).unwrap();
        let file = app.grants.grant(&src.path().join("weights.bin")).unwrap();
        let rec = app.upload_dropped(&[folder.token, file.token], &bucket, "runs/exp1").unwrap();
        assert_eq!((rec.state, rec.label.as_str(), rec.prefix.as_str()), (TransferState::Planning, "checkpoint-200/ and 1 more", "runs/exp1/"));
        let done = finished(&app, rec.job).await;
        assert_eq!((done.state, done.objects_done), (TransferState::Done, 3), "{kind}: {done:?}");
        let mut keys = server.list_keys(&bucket, "runs/exp1/");
        keys.sort();
        assert_eq!(keys, ["runs/exp1/checkpoint-200/model.safetensors", "runs/exp1/checkpoint-200/optimizer.pt", "runs/exp1/weights.bin"], "{kind}");
        // The record was reported whole as it changed, and the end became a notification.
        let events = sink.events();
        assert!(events.iter().any(|e| matches!(e, Event::TransferUpdated(r) if r.job == rec.job && r.state == TransferState::Running)), "{kind}");
        assert!(events.iter().any(|e| matches!(e, Event::Notification(n) if n.title == "Upload finished" && n.job == Some(rec.job))), "{kind}");

        let dest = tempfile::tempdir().unwrap();
        let grant = app.grants.grant(dest.path()).unwrap();
        let rec = app.download_keys(&bucket, &["runs/exp1/checkpoint-200/".into()], &grant.token).unwrap();
        let done = finished(&app, rec.job).await;
        assert_eq!(done.state, TransferState::Done, "{kind}: {done:?}");
        trainctl_testkit::assert_trees_equal(&src.path().join("checkpoint-200"), &dest.path().join("checkpoint-200"));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_folder_names_are_rejected_one_by_one_and_nothing_lands_outside_the_folder() {
    for (kind, server) in servers() {
        let (app, _) = connected_app(server, &format!("hostile-{kind}")).await;
        let bucket = server.new_bucket("apphostile");
        for key in ["../evil.txt", "./dot.txt", "a//b.txt", "good/x.txt"] {
            server.put_object(&bucket, key, pattern_bytes(key, 64));
        }
        let page = app.objects_list(&bucket, "", None).await.unwrap();
        let stored: Vec<String> = server.list_keys(&bucket, "");
        assert!(page.prefixes.contains(&"good/".to_string()), "{kind}: {page:?}");
        let parent = tempfile::tempdir().unwrap();
        let dest = parent.path().join("dest");
        std::fs::create_dir(&dest).unwrap();
        let grant = app.grants.grant(&dest).unwrap();
        // Every folder the listing shows, selected at once (as a user could in the Browser).
        let rec = app.download_keys(&bucket, &page.prefixes, &grant.token).unwrap();
        let done = finished(&app, rec.job).await;
        assert_eq!(std::fs::read(dest.join("good/x.txt")).unwrap(), pattern_bytes("good/x.txt", 64), "{kind}");
        let outside: Vec<String> = std::fs::read_dir(parent.path()).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).filter(|n| n != "dest").collect();
        assert!(outside.is_empty(), "{kind}: written outside the chosen folder: {outside:?}");
        assert!(files_under(&dest).iter().all(|f| f == "good/x.txt" || stored.iter().any(|k| k.ends_with(f.as_str()) && !k.contains("..") && !k.contains("//") && !k.starts_with("./"))), "{kind}: {:?}", files_under(&dest));
        let hostile = stored.iter().filter(|k| k.starts_with("../") || k.starts_with("./") || k.contains("//")).count();
        if hostile > 0 {
            assert_eq!(done.state, TransferState::Partial, "{kind}: {done:?}");
            assert!(done.failures.iter().all(|f| f.error.code == "unsafe_key"), "{kind}: {:?}", done.failures);
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn forged_names_plans_and_sources_are_refused_and_change_nothing() {
    let server = trainctl_testkit::shared_moto();
    let (app, _) = connected_app(server, "forged").await;
    let bucket = server.new_bucket("appforged");
    server.put_object(&bucket, "keep/a.bin", b"a".to_vec());
    // A path the user never dropped or picked, and a made-up token.
    for forged in ["/etc/passwd", "grant-00000000000000000000000000000000"] {
        assert_eq!(app.upload_dropped(&[forged.into()], &bucket, "x/").unwrap_err().code(), "usage");
        assert_eq!(app.download_keys(&bucket, &["keep/a.bin".into()], forged).unwrap_err().code(), "usage");
        assert_eq!(app.checkpoints_discover(forged, None).await.unwrap_err().code(), "usage");
    }
    // A file granted by a drop is not a download folder.
    let f = tempfile::NamedTempFile::new().unwrap();
    let g = app.grants.grant(f.path()).unwrap();
    assert_eq!(app.download_keys(&bucket, &["keep/a.bin".into()], &g.token).unwrap_err().code(), "local_kind");
    // Plans the app never made.
    assert_eq!(app.delete_apply(4242).await.unwrap_err().code(), "plan_stale");
    assert_eq!(app.checkpoints_apply(4242).await.unwrap_err().code(), "plan_stale");
    assert_eq!(app.lifecycle_apply(4242).await.unwrap_err().code(), "plan_stale");
    // A metrics source the Runs view did not offer.
    let e = app.run_metrics(&format!("s3://{bucket}/"), "run", Some("../../etc/passwd")).await.unwrap_err();
    assert_eq!(e.code(), "usage");
    assert_eq!(server.list_keys(&bucket, ""), ["keep/a.bin"]);
    assert!(app.transfers.list().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delete_plan_is_applied_by_id_exactly_once() {
    for (kind, server) in servers() {
        let (app, _) = connected_app(server, &format!("del-{kind}")).await;
        let bucket = server.new_bucket("appdelete");
        for k in ["old/a.bin", "old/b/c.bin", "keep.bin"] {
            server.put_object(&bucket, k, pattern_bytes(k, 10));
        }
        let plan = app.delete_plan(&bucket, &["old/".into()]).await.unwrap();
        assert_eq!((plan.items.len(), plan.bytes), (2, 20), "{kind}");
        let report = app.delete_apply(plan.plan_id).await.unwrap();
        assert_eq!((report.deleted, report.failed.len()), (2, 0), "{kind}");
        assert_eq!(server.list_keys(&bucket, ""), ["keep.bin"], "{kind}");
        assert_eq!(app.delete_apply(plan.plan_id).await.unwrap_err().code(), "plan_stale", "{kind}: applied twice");
        // An object rewritten after the plan was shown: nothing is deleted.
        for k in ["old2/a.bin", "old2/b.bin"] {
            server.put_object(&bucket, k, pattern_bytes(k, 10));
        }
        let plan = app.delete_plan(&bucket, &["old2/".into()]).await.unwrap();
        server.put_object(&bucket, "old2/b.bin", pattern_bytes("changed", 10));
        assert_eq!(app.delete_apply(plan.plan_id).await.unwrap_err().code(), "plan_stale", "{kind}");
        assert_eq!(server.list_keys(&bucket, "old2/").len(), 2, "{kind}: nothing deleted");
    }
}

/// An HF Trainer checkpoint as the Trainer writes it (trainer_state.json last).
fn put_checkpoint(server: &S3Server, bucket: &str, prefix: &str, step: u64) {
    put_checkpoint_with(server, bucket, prefix, step, &pattern_bytes("m", 1000));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cleanup_plan_deletes_what_it_showed_and_not_twice() {
    for (kind, server) in servers() {
        let (app, sink) = connected_app(server, &format!("clean-{kind}")).await;
        let bucket = server.new_bucket("appclean");
        for step in [100, 200, 300] {
            put_checkpoint(server, &bucket, "runs/r1/", step);
        }
        let location = format!("s3://{bucket}/runs/");
        let detect = Some(DetectForm { grace_secs: Some(0), ..Default::default() });
        let listing = app.checkpoints_discover(&location, detect.clone()).await.unwrap();
        assert_eq!(listing.checkpoints, 3, "{kind}: {listing:?}");
        let policy = PolicyForm { keep_last_n: Some(1), ..Default::default() };
        let plan = app.checkpoints_plan(&location, None, policy, detect).await.unwrap();
        assert_eq!(plan.checkpoints_deleted, 2, "{kind}");
        assert!(plan.monthly_usd_saved >= 0.0);
        let report = app.checkpoints_apply(plan.plan_id).await.unwrap();
        assert_eq!(report.checkpoints_deleted, 2, "{kind}: {report:?}");
        let mut left = server.list_keys(&bucket, "runs/");
        left.sort();
        assert_eq!(left, ["runs/r1/checkpoint-300/model.safetensors", "runs/r1/checkpoint-300/trainer_state.json"], "{kind}");
        assert!(sink.events().iter().any(|e| matches!(e, Event::CleanupFinished { .. })));
        assert_eq!(app.checkpoints_apply(plan.plan_id).await.unwrap_err().code(), "plan_stale", "{kind}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_watch_reports_a_new_checkpoint_as_a_row_and_a_notification() {
    let server = trainctl_testkit::shared_moto();
    let (app, sink) = connected_app(server, "watch").await;
    let bucket = server.new_bucket("appwatch");
    put_checkpoint(server, &bucket, "run/", 100);
    let w = app.watch_add(&format!("s3://{bucket}/run/"), Some(0.2), None).unwrap();
    assert_eq!(app.watch_add(&format!("s3://{bucket}/run"), None, None).unwrap_err().code(), "usage", "watched twice");
    assert_eq!(app.watch_add("s3://other/x/", Some(0.0), None).unwrap_err().code(), "usage", "a zero interval");
    tokio::time::sleep(Duration::from_millis(600)).await;
    put_checkpoint(server, &bucket, "run/", 200);
    let end = Instant::now() + Duration::from_secs(30);
    while !sink.events().iter().any(|e| matches!(e, Event::Notification(n) if n.title == "New checkpoint")) {
        assert!(Instant::now() < end, "no notification: {:?}", sink.events());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let row = app.watches.list().into_iter().find(|r| r.spec.id == w.spec.id).unwrap();
    assert_eq!(row.last_step, Some(200));
    app.watch_remove(w.spec.id).unwrap();
    assert!(app.watches.list().is_empty());
    assert!(sink.events().iter().any(|e| matches!(e, Event::WatchRemoved { id } if *id == w.spec.id)));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_review_counts_the_bucket_and_lifecycle_rules_apply_by_plan_id() {
    for (kind, server) in servers() {
        let (app, _) = connected_app(server, &format!("review-{kind}")).await;
        let bucket = server.new_bucket("appreview");
        put_checkpoint(server, &bucket, "runs/r1/", 100);
        let out = app.review_run(&bucket, "", None).await.unwrap();
        assert_eq!(out.report.totals.objects, 2, "{kind}");
        let location = format!("s3://{bucket}/runs/");
        let view = app.lifecycle_show(&location).await.unwrap();
        assert!(!view.exists, "{kind}");
        let mut rule = trainctl_core::lifecycle::Rule::new(&view.suggested.id, "runs/");
        rule.expire_days = Some(30);
        let request = trainctl_core::lifecycle::LifecycleRequest { set: vec![rule], remove: vec![] };
        let held = app.lifecycle_plan(&location, request).await.unwrap();
        let savings = app.lifecycle_savings(held.plan_id, 0).await.unwrap();
        assert!(savings.not_estimated_because.is_some(), "{kind}: a test server has no price table: {savings:?}");
        app.lifecycle_apply(held.plan_id).await.unwrap();
        assert!(app.lifecycle_show(&location).await.unwrap().exists, "{kind}");
    }
}

/// `curl -sf URL` into a Vec (None when curl fails: an expired or bad link).
fn curl(url: &str) -> Option<Vec<u8>> {
    let out = std::process::Command::new("curl").args(["-sf", "--max-time", "20", url]).output().expect("curl runs");
    out.status.success().then_some(out.stdout)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_share_link_downloads_an_awkward_key_with_plain_http_until_it_expires() {
    for (kind, server) in servers() {
        let (app, _) = connected_app(server, &format!("share-{kind}")).await;
        let bucket = server.new_bucket("appshare");
        let key = "runs/a b/ckpt #1?%ü.bin";
        server.put_object(&bucket, key, pattern_bytes(key, 3000));
        let link = app.share_link(&bucket, key, 120).await.unwrap();
        assert!(!link.temporary_credentials && link.warning.is_none(), "{kind}: {link:?}");
        assert_eq!(curl(&link.url), Some(pattern_bytes(key, 3000)), "{kind}: {}", link.url);
        assert_eq!(app.share_link(&bucket, key, 8 * 24 * 3600).await.unwrap_err().code(), "usage", "over 7 days");
        assert_eq!(app.share_link(&bucket, "runs/", 60).await.unwrap_err().code(), "usage", "a folder");
        if kind == "garage" {
            // Garage checks the signature's expiry (moto does not check signatures at all).
            let short = app.share_link(&bucket, key, 1).await.unwrap();
            tokio::time::sleep(Duration::from_millis(2500)).await;
            assert_eq!(curl(&short.url), None, "{kind}: an expired link must not download");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_share_link_needs_credentials_to_sign_with() {
    let server = trainctl_testkit::shared_moto();
    let conn = trainctl_core::s3::Connection { credentials: None, ..common_connection(server) };
    let e = trainctl_core::s3::share::share_link(&conn, "b", "k", Duration::from_secs(60)).await.unwrap_err();
    assert_eq!(e.code(), "no_credentials");
    assert!(e.to_string().contains("anonymous"), "{e}");
}

fn common_connection(server: &S3Server) -> trainctl_core::s3::Connection {
    use trainctl_core::config::{CredentialSource, ResolvedProfile};
    let profile = ResolvedProfile {
        name: "t".into(),
        provider: "other".into(),
        endpoint_url: Some(server.endpoint_url()),
        region: server.region().into(),
        path_style: true,
        checksum_when_required: true,
        credentials: CredentialSource::AwsChain,
        prices: None,
    };
    trainctl_core::s3::Connection { client: server.client(), profile, credentials: None }
}

#[tokio::test(flavor = "multi_thread")]
async fn tags_and_metadata_are_written_only_over_the_version_the_user_saw() {
    for (kind, server) in servers() {
        let (app, _) = connected_app(server, &format!("tags-{kind}")).await;
        let bucket = server.new_bucket("apptags");
        server.put_object(&bucket, "m.bin", b"one".to_vec());
        let d = app.object_details(&bucket, "m.bin").await.unwrap();
        let tags: std::collections::BTreeMap<String, String> = [("run".to_string(), "llama 7b".to_string()), ("keep".into(), "yes".into())].into();
        match app.object_tags_set(&bucket, "m.bin", d.etag.as_deref(), &tags).await {
            Ok(after) => {
                assert_eq!(after.tags.as_ref(), Some(&tags), "{kind}");
                let read = server.client().get_object_tagging().bucket(&bucket).key("m.bin").send().await.unwrap();
                assert_eq!(read.tag_set().len(), 2, "{kind}: read back by the SDK");
            }
            Err(e) => assert!(kind == "garage" && d.tags.is_none(), "{kind}: tagging failed on a store that reads tags: {e}"),
        }
        // Someone else rewrote the object: an edit made from the old view is refused.
        server.put_object(&bucket, "m.bin", b"two!".to_vec());
        let stale = app.object_tags_set(&bucket, "m.bin", d.etag.as_deref(), &tags).await.unwrap_err();
        assert_eq!(stale.code(), "plan_stale", "{kind}");
        let meta: std::collections::BTreeMap<String, String> = [("framework".to_string(), "transformers".to_string())].into();
        assert_eq!(app.object_metadata_set(&bucket, "m.bin", d.etag.as_deref().unwrap(), &meta).await.unwrap_err().code(), "plan_stale", "{kind}");
        let fresh = app.object_details(&bucket, "m.bin").await.unwrap();
        let after = app.object_metadata_set(&bucket, "m.bin", fresh.etag.as_deref().unwrap(), &meta).await.unwrap();
        assert_eq!(after.metadata.get("framework").map(String::as_str), Some("transformers"), "{kind}: {after:?}");
        assert_eq!(server.get_object(&bucket, "m.bin"), b"two!", "{kind}: the bytes are untouched");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_older_version_is_restored_from_a_plan_and_the_newer_one_stays() {
    let server = trainctl_testkit::shared_moto();
    let (app, _) = connected_app(server, "versions").await;
    let bucket = server.new_bucket("appversions");
    let on = aws_sdk_s3::types::VersioningConfiguration::builder().status(aws_sdk_s3::types::BucketVersioningStatus::Enabled).build();
    server.client().put_bucket_versioning().bucket(&bucket).versioning_configuration(on).send().await.unwrap();
    server.put_object(&bucket, "model.pt", b"v1".to_vec());
    server.put_object(&bucket, "model.pt", b"v2-longer".to_vec());
    server.put_object(&bucket, "model.pt.bak", b"other".to_vec());
    let versions = app.object_versions(&bucket, "model.pt").await.unwrap();
    assert_eq!(versions.len(), 2, "{versions:?}");
    assert!(versions[0].is_latest && versions[0].size == 9);
    let old = versions[1].version_id.clone().unwrap();
    let plan = app.version_restore_plan(&bucket, "model.pt", &old).await.unwrap();
    assert_eq!(plan.current.as_ref().map(|v| v.size), Some(9));
    app.version_restore_apply(plan.plan_id).await.unwrap();
    assert_eq!(server.get_object(&bucket, "model.pt"), b"v1");
    assert_eq!(app.object_versions(&bucket, "model.pt").await.unwrap().len(), 3, "nothing lost");
    assert_eq!(app.version_restore_apply(plan.plan_id).await.unwrap_err().code(), "plan_stale", "applied twice");
    // A plan made before someone wrote a newer version is refused.
    let plan = app.version_restore_plan(&bucket, "model.pt", &old).await.unwrap();
    server.put_object(&bucket, "model.pt", b"v4".to_vec());
    assert_eq!(app.version_restore_apply(plan.plan_id).await.unwrap_err().code(), "plan_stale");
    assert_eq!(server.get_object(&bucket, "model.pt"), b"v4");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_browser_knows_checkpoints_runs_and_folder_sizes() {
    for (kind, server) in servers() {
        let (app, _) = connected_app(server, &format!("insights-{kind}")).await;
        let bucket = server.new_bucket("appinsights");
        for (step, loss) in [(100, 0.9), (200, 0.5), (300, 0.7)] {
            let dir = format!("runs/r1/checkpoint-{step}/");
            server.put_object(&bucket, &format!("{dir}model.safetensors"), pattern_bytes("m", 1000));
            let state = format!(
                r#"{{"global_step": {step}, "max_steps": 1000, "best_model_checkpoint": "out/checkpoint-200", "best_metric": 0.5, "log_history": [{{"step": {step}, "eval_loss": {loss}}}]}}"#
            );
            server.put_object(&bucket, &format!("{dir}trainer_state.json"), state.into_bytes());
        }
        server.put_object(&bucket, "runs/r1/train.log", b"step 300 loss 0.7\n".to_vec());
        let ins = app.folder_insights(&bucket, "runs/r1/", false).await.unwrap();
        assert!(!ins.too_large && ins.objects_listed == 7, "{kind}: {ins:?}");
        let row = |k: &str| ins.checkpoints.iter().find(|c| c.key == format!("runs/r1/{k}")).unwrap_or_else(|| panic!("{kind}: no row {k}: {ins:?}"));
        assert_eq!(ins.checkpoints.len(), 3, "{kind}");
        assert!(row("checkpoint-300/").newest && !row("checkpoint-200/").newest, "{kind}");
        assert!(row("checkpoint-200/").best, "{kind}: the Trainer's best_model_checkpoint");
        assert_eq!(row("checkpoint-100/").metric.as_ref().map(|m| (m.name.as_str(), m.value)), Some(("eval_loss", 0.9)), "{kind}");
        assert!(row("checkpoint-300/").resume_command.contains("--resume_from_checkpoint ./checkpoint-300"), "{kind}");
        assert_eq!(ins.folders.iter().find(|f| f.key == "runs/r1/checkpoint-100/").map(|f| (f.objects, f.bytes > 1000)), Some((2, true)), "{kind}");
        // One level up, the run folder is summarised.
        let up = app.folder_insights(&bucket, "runs/", false).await.unwrap();
        let run = up.runs.iter().find(|r| r.key == "runs/r1/").unwrap_or_else(|| panic!("{kind}: {up:?}"));
        assert_eq!((run.checkpoints, run.complete), (3, 3), "{kind}");
        // Pinning from the Browser shows at once.
        app.checkpoints_pin(&format!("s3://{bucket}/runs/r1/"), &["checkpoint-100/".into()], true).await.unwrap();
        let again = app.folder_insights(&bucket, "runs/r1/", false).await.unwrap();
        assert!(again.checkpoints.iter().any(|c| c.key == "runs/r1/checkpoint-100/" && c.pinned), "{kind}");
    }
}

/// Waits until sync pair `id` is no longer running; returns its row.
async fn pass_ended(app: &App, id: u64) -> trainctl_core::app::SyncPairInfo {
    let end = Instant::now() + Duration::from_secs(120);
    loop {
        let p = app.sync_pairs_list().into_iter().find(|p| p.spec.id == id).expect("the pair is listed");
        if p.state != trainctl_core::app::SyncState::Running {
            return p;
        }
        assert!(Instant::now() < end, "pair {id}: the pass did not end: {p:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sync_pair_decides_a_conflict_by_path_and_deletes_only_a_confirmed_plan() {
    use trainctl_core::app::SyncState;
    use trainctl_core::sync::ConflictPolicy;
    for (kind, server) in servers() {
        let (app, sink) = connected_app(server, &format!("sync-{kind}")).await;
        let bucket = server.new_bucket("appsync");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("notes.txt"), "written on the laptop\n").unwrap();
        std::fs::write(dir.path().join("weights.bin"), pattern_bytes("w", 300_000)).unwrap();
        server.put_object(&bucket, "p/notes.txt", "written on the cluster, longer\n");
        server.put_object(&bucket, "p/remote-only.txt", "from the cluster\n");
        // Only a granted folder can be paired; a typed path is refused.
        let forged = app.sync_pair_add(&dir.path().display().to_string(), &format!("s3://{bucket}/p"));
        assert_eq!(forged.unwrap_err().code(), "usage", "{kind}");
        let grant = app.grants.grant(dir.path()).unwrap();
        let pair = app.sync_pair_add(&grant.token, &format!("s3://{bucket}/p")).unwrap();
        assert_eq!(pair.spec.remote, format!("s3://{bucket}/p/"), "{kind}");
        let id = pair.spec.id;

        // First pass: a union; notes.txt differs → a conflict waiting for a decision, and a popup.
        app.sync_run(id).unwrap();
        let p = pass_ended(&app, id).await;
        assert_eq!(p.state, SyncState::NeedsDecision, "{kind}: {p:?}");
        assert_eq!(p.conflicts.iter().map(|c| c.path.as_str()).collect::<Vec<_>>(), ["notes.txt"], "{kind}");
        assert!(sink.events().iter().any(|e| matches!(e, Event::Notification(n) if n.title == "Sync needs a decision")), "{kind}");
        // The copies' progress reached the row while the pass ran (both directions summed).
        let progress: Vec<_> = sink
            .events()
            .into_iter()
            .filter_map(|e| match e {
                Event::SyncUpdated(i) if i.spec.id == id => i.progress,
                _ => None,
            })
            .collect();
        assert!(progress.last().is_some_and(|p| p.bytes_done == p.bytes_total && p.bytes_total >= 300_000), "{kind}");
        assert!(server.list_keys(&bucket, "p/").contains(&"p/weights.bin".to_string()), "{kind}");
        assert!(dir.path().join("remote-only.txt").exists(), "{kind}");

        // A path that is not a listed conflict is refused; "keep both" keeps both on both sides.
        assert_eq!(app.sync_resolve(id, "weights.bin", ConflictPolicy::KeepBoth).unwrap_err().code(), "plan_stale", "{kind}");
        app.sync_resolve(id, "notes.txt", ConflictPolicy::KeepBoth).unwrap();
        let p = pass_ended(&app, id).await;
        assert_eq!((p.state, p.conflicts.len()), (SyncState::Idle, 0), "{kind}: {p:?}");
        let local = files_under(dir.path());
        let kept: Vec<&String> = local.iter().filter(|f| f.starts_with("notes.conflict-") && f.ends_with("-local.txt")).collect();
        assert_eq!(kept.len(), 1, "{kind}: {local:?}");
        assert_eq!(std::fs::read_to_string(dir.path().join(kept[0])).unwrap(), "written on the laptop\n", "{kind}");
        assert_eq!(server.get_object(&bucket, &format!("p/{}", kept[0])), b"written on the laptop\n", "{kind}");
        assert_eq!(std::fs::read_to_string(dir.path().join("notes.txt")).unwrap(), "written on the cluster, longer\n", "{kind}");

        // A deletion on S3 is held as a plan with its bytes; nothing is deleted until confirmed.
        server.delete_object(&bucket, "p/remote-only.txt");
        app.sync_run(id).unwrap();
        let p = pass_ended(&app, id).await;
        assert_eq!(p.state, SyncState::NeedsConfirmation, "{kind}: {p:?}");
        let prompt = p.prompt.expect("held deletions");
        assert_eq!((prompt.deletions.clone(), prompt.bytes), (vec![("local:remote-only.txt".to_string(), 17)], 17), "{kind}");
        assert!(dir.path().join("remote-only.txt").exists(), "{kind}: deleted before the confirmation");
        app.sync_confirm(prompt.plan_id).unwrap();
        let p = pass_ended(&app, id).await;
        assert_eq!(p.state, SyncState::Idle, "{kind}: {p:?}");
        assert!(!dir.path().join("remote-only.txt").exists(), "{kind}");
        // A plan applies once.
        assert_eq!(app.sync_confirm(prompt.plan_id).unwrap_err().code(), "plan_stale", "{kind}");
        app.sync_pair_remove(id).unwrap();
        assert!(app.sync_pairs_list().is_empty(), "{kind}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rename_moves_a_folder_by_server_side_copies_from_a_plan_and_refuses_to_overwrite() {
    for (kind, server) in servers() {
        let (app, _) = connected_app(server, &format!("mv-{kind}")).await;
        let bucket = server.new_bucket("apprename");
        for k in ["runs/old/checkpoint-100/model.safetensors", "runs/old/checkpoint-100/trainer_state.json", "runs/old/a b#?.txt", "runs/older/x.bin"] {
            server.put_object(&bucket, k, pattern_bytes(k, 100));
        }
        let plan = app.rename_plan(&bucket, "runs/old/", "runs/new/").await.unwrap();
        assert_eq!((plan.rename.moves.len(), plan.rename.bytes, plan.rename.conflicts.len()), (3, 300, 0), "{kind}: `older/` is not under `old/`");
        let report = app.rename_apply(plan.plan_id).await.unwrap();
        assert_eq!(report.moved, 3, "{kind}");
        assert_eq!(server.list_keys(&bucket, "runs/old/"), Vec::<String>::new(), "{kind}");
        assert_eq!(server.get_object(&bucket, "runs/new/a b#?.txt"), pattern_bytes("runs/old/a b#?.txt", 100), "{kind}: awkward key copied byte for byte");
        assert_eq!(app.rename_apply(plan.plan_id).await.unwrap_err().code(), "plan_stale", "{kind}: applied twice");

        // A destination that exists: shown as a conflict, refused, nothing moved.
        server.put_object(&bucket, "keep.bin", b"mine".to_vec());
        let plan = app.rename_plan(&bucket, "runs/older/x.bin", "keep.bin").await.unwrap();
        assert_eq!(plan.rename.conflicts, ["keep.bin"], "{kind}");
        assert_eq!(app.rename_apply(plan.plan_id).await.unwrap_err().code(), "destination_exists", "{kind}");
        assert_eq!(server.get_object(&bucket, "keep.bin"), b"mine", "{kind}");
        assert_eq!(server.list_keys(&bucket, "runs/older/"), ["runs/older/x.bin"], "{kind}");

        // A destination that appears, or a source that changes, after the plan was shown.
        let plan = app.rename_plan(&bucket, "runs/new/", "runs/final/").await.unwrap();
        server.put_object(&bucket, "runs/final/a b#?.txt", b"someone else".to_vec());
        assert_eq!(app.rename_apply(plan.plan_id).await.unwrap_err().code(), "destination_exists", "{kind}");
        assert_eq!(server.list_keys(&bucket, "runs/new/").len(), 3, "{kind}: nothing moved");
        let plan = app.rename_plan(&bucket, "runs/new/", "runs/v2/").await.unwrap();
        server.put_object(&bucket, "runs/new/checkpoint-100/trainer_state.json", b"rewritten".to_vec());
        assert_eq!(app.rename_apply(plan.plan_id).await.unwrap_err().code(), "plan_stale", "{kind}");
        assert_eq!(server.list_keys(&bucket, "runs/v2/"), Vec::<String>::new(), "{kind}: nothing copied");

        // Bad requests change nothing.
        for (from, to) in [("runs/new/", "runs/new/sub/"), ("runs/new/", "file.bin"), ("missing/", "x/"), ("", "x")] {
            let e = app.rename_plan(&bucket, from, to).await.unwrap_err();
            assert!(["usage", "not_found"].contains(&e.code()), "{kind}: {from} → {to}: {e}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_large_object_moves_in_copied_parts_with_its_metadata() {
    use trainctl_core::s3::rename::{apply_rename_with, plan_rename, CopySizes};
    for (kind, server) in servers() {
        let bucket = server.new_bucket("mvparts");
        let body = pattern_bytes("big", 12 * 1024 * 1024 + 17);
        server.client().put_object().bucket(&bucket).key("big.pt").body(body.clone().into()).content_type("application/x-pt").metadata("framework", "torch").send().await.unwrap();
        let conn = common_connection(server);
        let plan = plan_rename(&conn, &bucket, "big.pt", "moved/big.pt").await.unwrap();
        let sizes = CopySizes { single_max: 5 * 1024 * 1024, part: 5 * 1024 * 1024 };
        apply_rename_with(&conn, &plan, sizes).await.unwrap();
        assert_eq!(server.get_object(&bucket, "moved/big.pt"), body, "{kind}: three copied parts, byte for byte");
        assert_eq!(server.list_keys(&bucket, ""), ["moved/big.pt"], "{kind}");
        let head = server.client().head_object().bucket(&bucket).key("moved/big.pt").send().await.unwrap();
        assert_eq!(head.metadata().and_then(|m| m.get("framework")).map(String::as_str), Some("torch"), "{kind}");
        assert_eq!(head.content_type(), Some("application/x-pt"), "{kind}");
        assert!(head.e_tag().unwrap_or_default().contains('-'), "{kind}: a multipart object");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn listing_a_10000_key_folder_costs_ten_lists_and_no_head() {
    use futures::StreamExt;
    let server = trainctl_testkit::shared_moto();
    let bucket = server.new_bucket("listcount");
    let client = server.client();
    futures::stream::iter(0..10_000)
        .map(|i| client.put_object().bucket(&bucket).key(format!("shards/part-{i:05}.bin")).body(vec![1u8; 8].into()).send())
        .buffer_unordered(32)
        .for_each(|r| async move { r.unwrap(); })
        .await;
    let proxy = trainctl_testkit::FaultProxy::start(server.socket_addr()).unwrap();
    proxy.log_requests();
    let (app, _) = connected_app_at(server, &proxy.url(), "listcount").await;
    let mut token = None;
    let mut rows = 0;
    loop {
        let page = app.objects_list(&bucket, "shards/", token).await.unwrap();
        rows += page.objects.len();
        token = page.next_token;
        if token.is_none() {
            break;
        }
    }
    assert_eq!(rows, 10_000);
    let insights = app.folder_insights(&bucket, "shards/", false).await.unwrap();
    assert_eq!(insights.objects_listed, 10_000);
    let requests = proxy.requests();
    let lists = requests.iter().filter(|(m, t)| m == "GET" && t.contains("list-type=2")).count();
    let heads = requests.iter().filter(|(m, _)| m == "HEAD").count();
    // The page listing (10) and the insights' recursive listing (10); the connect may add one.
    assert!((20..=21).contains(&lists), "{lists} LISTs for two listings of 10,000 keys: {:?}", &requests[..requests.len().min(5)]);
    assert_eq!(heads, 0, "no HEAD per object");
}

#[tokio::test(flavor = "multi_thread")]
async fn editing_tags_without_permission_is_access_denied_and_changes_nothing() {
    const POLICY: &str = r#"{"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetObject", "s3:GetObjectTagging", "s3:HeadBucket", "s3:ListAllMyBuckets", "s3:GetBucketLocation"], "Resource": "*"},
        {"Effect": "Deny", "Action": ["s3:PutObjectTagging", "s3:PutObject"], "Resource": "*"}]}"#;
    private_env();
    let pm = trainctl_testkit::start_moto_with_policy(POLICY).expect("a policy-enforcing moto");
    let bucket = pm.server.new_bucket("denytags");
    pm.server.put_object(&bucket, "m.bin", b"bytes".to_vec());
    pm.server.client().put_object_tagging().bucket(&bucket).key("m.bin")
        .tagging(aws_sdk_s3::types::Tagging::builder().tag_set(aws_sdk_s3::types::Tag::builder().key("run").value("a").build().unwrap()).build().unwrap())
        .send().await.unwrap();
    let app = App::new(Arc::new(CollectSink::default()), None);
    let form = ProfileForm {
        name: "denied".into(),
        provider: Some("other".into()),
        endpoint_url: Some(pm.server.endpoint_url()),
        region: Some(pm.server.region().into()),
        access_key_id: pm.user_access_key.clone(),
        secret_access_key: pm.user_secret_key.clone(),
    };
    app.profile_save(form).await.unwrap();
    app.connect("denied").await.unwrap();
    let d = app.object_details(&bucket, "m.bin").await.unwrap();
    let tags: std::collections::BTreeMap<String, String> = [("run".to_string(), "b".to_string())].into();
    let e = app.object_tags_set(&bucket, "m.bin", d.etag.as_deref(), &tags).await.unwrap_err();
    assert_eq!(e.code(), "access_denied", "{e}");
    let meta: std::collections::BTreeMap<String, String> = [("k".to_string(), "v".to_string())].into();
    let e = app.object_metadata_set(&bucket, "m.bin", d.etag.as_deref().unwrap(), &meta).await.unwrap_err();
    assert_eq!(e.code(), "access_denied", "{e}");
    let read = pm.server.client().get_object_tagging().bucket(&bucket).key("m.bin").send().await.unwrap();
    assert_eq!(read.tag_set().iter().map(|t| (t.key(), t.value())).collect::<Vec<_>>(), [("run", "a")]);
    assert_eq!(pm.server.get_object(&bucket, "m.bin"), b"bytes");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upload_cut_off_by_a_quit_is_offered_after_a_restart_and_resumes() {
    let server = trainctl_testkit::shared_moto();
    private_env();
    let state = tempfile::tempdir().unwrap();
    let watches = state.path().join("watches.json");
    let bucket = server.new_bucket("appqueue");
    let src = tempfile::tempdir().unwrap();
    write_tree(&src.path().join("checkpoint-300"), &[("model.safetensors", 3_000_000), ("optimizer.pt", 2_000_000), ("config.json", 300)]);
    let one = tempfile::tempdir().unwrap();
    std::fs::write(one.path().join("notes.txt"), b"dismiss me").unwrap();

    // The first run: two uploads start, the app quits at once (the jobs are cut off, not given up).
    let app = App::new(Arc::new(CollectSink::default()), Some(watches.clone()));
    let form = |name: &str| ProfileForm {
        name: name.into(),
        provider: Some("other".into()),
        endpoint_url: Some(server.endpoint_url()),
        region: Some(server.region().into()),
        access_key_id: server.access_key().into(),
        secret_access_key: server.secret_key().into(),
    };
    app.profile_save(form("queue")).await.unwrap();
    app.connect("queue").await.unwrap();
    let folder = app.grants.grant(&src.path().join("checkpoint-300")).unwrap();
    let big = app.upload_dropped(&[folder.token], &bucket, "runs/q").unwrap();
    let file = app.grants.grant(&one.path().join("notes.txt")).unwrap();
    let small = app.upload_dropped(&[file.token], &bucket, "runs/q").unwrap();
    app.transfers.stop_for_quit();
    for job in [big.job, small.job] {
        finished(&app, job).await;
    }
    let on_disk = std::fs::read_to_string(state.path().join("transfers.json")).unwrap();
    assert!(on_disk.contains("checkpoint-300") && on_disk.contains("notes.txt"), "{on_disk}");
    drop(app);

    // The next run lists both as interrupted (nothing moves by itself) and says so.
    let sink = CollectSink::default();
    let app = App::new(Arc::new(sink.clone()), Some(watches.clone()));
    app.connect("queue").await.unwrap();
    let listed = app.transfers.list();
    let interrupted: Vec<_> = listed.iter().filter(|r| r.state == TransferState::Interrupted).collect();
    assert_eq!(interrupted.len(), 2, "{listed:?}");
    assert!(sink.events().iter().any(|e| matches!(e, Event::Notification(n) if n.title == "Transfers interrupted")));
    let big_again = interrupted.iter().find(|r| r.label == big.label).expect("the folder upload is offered");
    let small_again = interrupted.iter().find(|r| r.label == small.label).expect("the file upload is offered");

    // Resume runs in the same row and finishes the folder; Dismiss drops the other for good.
    let resumed = app.transfer_retry(big_again.job).unwrap();
    assert_eq!(resumed.job, big_again.job);
    assert!(resumed.version > big_again.version);
    assert_eq!(finished(&app, resumed.job).await.state, TransferState::Done);
    app.transfer_cancel(small_again.job).unwrap();
    let mut keys = server.list_keys(&bucket, "runs/q/");
    keys.sort();
    assert!(keys.starts_with(&["runs/q/checkpoint-300/config.json".to_string(), "runs/q/checkpoint-300/model.safetensors".into(), "runs/q/checkpoint-300/optimizer.pt".into()]), "{keys:?}");
    trainctl_testkit::assert_trees_equal(&src.path().join("checkpoint-300"), &{
        let dest = tempfile::tempdir().unwrap().keep();
        for k in &keys[..3] {
            let p = dest.join(k.trim_start_matches("runs/q/"));
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, server.get_object(&bucket, k)).unwrap();
        }
        dest.join("checkpoint-300")
    });
    drop(app);

    // A third run offers nothing: the queue holds only what has not ended.
    let app = App::new(Arc::new(CollectSink::default()), Some(watches.clone()));
    app.connect("queue").await.unwrap();
    assert!(app.transfers.list().is_empty(), "{:?}", app.transfers.list());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_corrupt_transfer_queue_is_reported_and_left_alone() {
    let server = trainctl_testkit::shared_moto();
    private_env();
    let state = tempfile::tempdir().unwrap();
    let watches = state.path().join("watches.json");
    let queue = state.path().join("transfers.json");
    // A queued upload of a relative path is not trusted (the file names local paths).
    std::fs::write(&queue, r#"[{"profile":"corruptq","started_at":0,"request":{"kind":"upload","sources":[{"path":"../etc","is_dir":true}],"bucket":"b","prefix":""}}]"#).unwrap();
    let sink = CollectSink::default();
    let app = App::new(Arc::new(sink.clone()), Some(watches));
    let form = ProfileForm {
        name: "corruptq".into(),
        provider: Some("other".into()),
        endpoint_url: Some(server.endpoint_url()),
        region: Some(server.region().into()),
        access_key_id: server.access_key().into(),
        secret_access_key: server.secret_key().into(),
    };
    app.profile_save(form).await.unwrap();
    app.connect("corruptq").await.unwrap();
    assert!(app.transfers.list().is_empty());
    assert!(sink.events().iter().any(|e| matches!(e, Event::Notification(n) if n.title == "Interrupted transfers not restored")));
    let bucket = server.new_bucket("corruptq");
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("a.txt"), b"a").unwrap();
    let g = app.grants.grant(&src.path().join("a.txt")).unwrap();
    let rec = app.upload_dropped(&[g.token], &bucket, "").unwrap();
    finished(&app, rec.job).await;
    assert!(std::fs::read_to_string(&queue).unwrap().contains("../etc"), "the unreadable file is left for the user");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_datasets_view_lists_shows_diffs_verifies_and_stages_into_a_granted_folder() {
    use trainctl_core::app::datasets::DatasetTarget;
    use trainctl_core::dataset::{self, Level, Source, Store};
    for (label, server) in servers() {
        let (app, sink) = connected_app(server, &format!("datasets-{label}")).await;
        let bucket = server.new_bucket("app-ds");
        server.put_object(&bucket, "data/a.bin", pattern_bytes("a", 2000));
        server.put_object(&bucket, "data/b/c.bin", pattern_bytes("c", 100));
        let conn = app.session.conn().unwrap();
        let src = Source::S3(trainctl_core::s3::S3Url::parse(&format!("s3://{bucket}/data/")).unwrap());
        let store = Store::default_for(&bucket);
        let null = trainctl_core::event::NullSink;
        dataset::snapshot(Some(&conn), &src, &store, "imgs", None, &null).await.unwrap();
        server.put_object(&bucket, "data/d.bin", b"new".to_vec());
        dataset::snapshot(Some(&conn), &src, &store, "imgs", None, &null).await.unwrap();

        let s = format!("s3://{bucket}");
        let rows = app.datasets_list(Some(&s)).await.unwrap();
        assert_eq!(rows.iter().map(|r| r.version.version.as_str()).collect::<Vec<_>>(), ["v1", "v2"], "{label}");
        assert_eq!(rows.iter().map(|r| r.version.header.as_ref().map(|h| h.files)).collect::<Vec<_>>(), [Some(2), Some(3)], "{label}: the list shows each version's size");
        assert_eq!(app.dataset_show(&s, "imgs@v2").await.unwrap().header.files, 3);
        let d = app.dataset_diff(&s, "imgs@v1", "imgs@v2").await.unwrap();
        assert_eq!((d.added.len(), d.unchanged), (1, 2), "{label}");
        assert!(app.dataset_verify(&s, "imgs@v2", DatasetTarget::Source, Level::Checksum).await.unwrap().passed());

        let dir = tempfile::tempdir().unwrap();
        let grant = app.grants.grant(dir.path()).unwrap();
        let staged = app.dataset_stage(&s, "imgs@v2", &grant.token, Level::Full).await.unwrap();
        assert_eq!(staged.downloaded, 3, "{label}");
        assert_eq!(std::fs::read(dir.path().join("imgs-v2/b/c.bin")).unwrap(), pattern_bytes("c", 100));
        let folder = DatasetTarget::Folder { grant: grant.token.clone() };
        let r = app.dataset_verify(&s, "imgs@v2", folder, Level::Full).await.unwrap();
        assert!(!r.passed(), "the granted folder holds imgs-v2/, not the files themselves");
        let inner = app.grants.grant(&dir.path().join("imgs-v2")).unwrap();
        let r = app.dataset_verify(&s, "imgs@v2", DatasetTarget::Folder { grant: inner.token }, Level::Full).await.unwrap();
        assert!(r.passed(), "{r:?}");
        assert!(sink.0.lock().unwrap().iter().any(|e| matches!(e, Event::Progress(_))), "progress reaches the host");

        assert_eq!(app.dataset_show(&s, "imgs@v9").await.unwrap_err().code(), "dataset_unknown");
        assert_eq!(app.dataset_show(&s, "../x@v1").await.unwrap_err().code(), "usage");
        let forged = DatasetTarget::Folder { grant: "forged".into() };
        assert!(app.dataset_verify(&s, "imgs@v2", forged, Level::Count).await.is_err());
    }
}

/// An HF checkpoint whose weights are `weights` (≥ 1 MiB for duplicates to be compared).
fn put_checkpoint_with(server: &S3Server, bucket: &str, prefix: &str, step: u64, weights: &[u8]) {
    let dir = format!("{prefix}checkpoint-{step}/");
    server.put_object(bucket, &format!("{dir}model.safetensors"), weights.to_vec());
    let state = format!(r#"{{"global_step": {step}, "max_steps": 1000, "log_history": [{{"step": {step}, "loss": 1.0}}], "best_metric": null}}"#);
    server.put_object(bucket, &format!("{dir}trainer_state.json"), state.into_bytes());
}

#[tokio::test(flavor = "multi_thread")]
async fn dedup_keeps_the_newest_checkpoints_copy_deletes_the_others_from_the_plan_and_measures_compression() {
    for (kind, server) in servers() {
        let (app, sink) = connected_app(server, &format!("dedup-{kind}")).await;
        let bucket = server.new_bucket("appdedup");
        let weights = pattern_bytes("weights", 2 << 20);
        put_checkpoint_with(server, &bucket, "runs/r1/", 100, &weights);
        put_checkpoint_with(server, &bucket, "runs/r1/", 200, &weights);
        server.put_object(&bucket, "runs/r1/best/model.safetensors", weights.clone());
        let other = pattern_bytes("other", 1 << 20);
        server.put_object(&bucket, "runs/a/big.bin", other.clone());
        server.put_object(&bucket, "runs/b/big.bin", other);
        server.put_object(&bucket, "runs/logs/events.bin", b"step=1 loss=0.25 lr=0.0001\n".repeat(80_000));

        // The review offers it, and measures what compression would save (a text-like log).
        let out = app.review_run(&bucket, "runs/", None).await.unwrap();
        let compress = out.compress.expect("largest objects sampled");
        let log = compress.objects.iter().find(|o| o.key == "runs/logs/events.bin").unwrap();
        assert_eq!(log.codec.as_deref(), Some("zstd"), "{kind}: {log:?}");
        assert!(log.ratio < 0.2 && log.saved_bytes > 1_000_000, "{kind}: {log:?}");
        assert!(compress.commands.iter().any(|c| c.contains("s3://") && c.ends_with("--compress auto")), "{kind}: {:?}", compress.commands);

        let plan = app.dedup_plan(&bucket, "runs/").await.unwrap();
        let mut deleted: Vec<&str> = plan.groups.iter().flat_map(|g| g.delete.iter().map(String::as_str)).collect();
        deleted.sort();
        assert_eq!(deleted, ["runs/b/big.bin", "runs/r1/best/model.safetensors", "runs/r1/checkpoint-100/model.safetensors"], "{kind}: {plan:?}");
        let kept: Vec<&str> = plan.groups.iter().flat_map(|g| g.keep.iter().map(String::as_str)).collect();
        assert!(kept.contains(&"runs/r1/checkpoint-200/model.safetensors"), "{kind}: the newest checkpoint keeps its copy: {plan:?}");
        assert_eq!((plan.objects, plan.bytes), (3, 2 * (2 << 20) + (1 << 20)), "{kind}");

        let report = app.dedup_apply(plan.plan_id).await.unwrap();
        assert_eq!((report.deleted, report.bytes, report.failed.len()), (3, plan.bytes, 0), "{kind}");
        let left = server.list_keys(&bucket, "runs/");
        for k in &deleted {
            assert!(!left.iter().any(|l| l == k), "{kind}: {k} still there");
        }
        for k in ["runs/a/big.bin", "runs/r1/checkpoint-200/model.safetensors", "runs/logs/events.bin"] {
            assert!(left.iter().any(|l| l == k), "{kind}: {k} deleted");
        }
        assert!(sink.events().iter().any(|e| matches!(e, Event::DedupProgress { groups_done: 2, groups: 2, .. })), "{kind}");
        assert_eq!(app.dedup_apply(plan.plan_id).await.unwrap_err().code(), "plan_stale", "{kind}: applied twice");

        // A kept copy rewritten after the plan was shown: nothing is deleted.
        server.put_object(&bucket, "runs/c/big.bin", pattern_bytes("other", 1 << 20));
        let plan = app.dedup_plan(&bucket, "runs/").await.unwrap();
        assert_eq!(plan.objects, 1, "{kind}: {plan:?}");
        server.put_object(&bucket, "runs/a/big.bin", pattern_bytes("changed", 1 << 20));
        assert_eq!(app.dedup_apply(plan.plan_id).await.unwrap_err().code(), "plan_stale", "{kind}");
        assert!(server.list_keys(&bucket, "runs/c/").len() == 1, "{kind}: nothing deleted");
    }
}
