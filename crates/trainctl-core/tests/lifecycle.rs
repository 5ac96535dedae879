//! Lifecycle read → plan → apply against real servers: the merge keeps a rule written by someone
//! else byte for byte, a stale plan is refused, and Garage's partial lifecycle support surfaces
//! as `LifecycleUnsupported` with nothing changed.

use aws_sdk_s3::types::{BucketLifecycleConfiguration, ExpirationStatus, LifecycleExpiration, LifecycleRule, LifecycleRuleFilter, NoncurrentVersionTransition, Tag, TransitionStorageClass};
use trainctl_core::lifecycle::{self, ChangeKind, LifecycleRequest, Rule, StorageClass, Transition};
use trainctl_core::s3::{Connection, S3Url};
use trainctl_core::Error;

mod common;
use common::connection_as;

fn url(bucket: &str) -> S3Url {
    S3Url::parse(&format!("s3://{bucket}")).unwrap()
}

fn expire(id: &str, prefix: &str, days: u32) -> Rule {
    let mut r = Rule::new(id, prefix);
    r.expire_days = Some(days);
    r
}

fn set(rule: Rule) -> LifecycleRequest {
    LifecycleRequest { set: vec![rule], remove: vec![] }
}

async fn raw_rules(conn: &Connection, bucket: &str) -> Vec<LifecycleRule> {
    match conn.client.get_bucket_lifecycle_configuration().bucket(bucket).send().await {
        Ok(out) => out.rules.unwrap_or_default(),
        Err(_) => vec![],
    }
}

#[tokio::test]
async fn merge_keeps_a_rule_written_with_the_sdk_byte_for_byte() {
    let server = trainctl_testkit::shared_moto();
    let bucket = server.new_bucket("lcmerge");
    let conn = connection_as(server, "moto");
    let theirs = LifecycleRule::builder()
        .id("team-logs")
        .status(ExpirationStatus::Enabled)
        .filter(LifecycleRuleFilter::builder().tag(Tag::builder().key("kind").value("log").build().unwrap()).build())
        .expiration(LifecycleExpiration::builder().days(400).build())
        .noncurrent_version_transitions(NoncurrentVersionTransition::builder().noncurrent_days(40).storage_class(TransitionStorageClass::Glacier).build())
        .build()
        .unwrap();
    let config = BucketLifecycleConfiguration::builder().rules(theirs).build().unwrap();
    conn.client.put_bucket_lifecycle_configuration().bucket(&bucket).lifecycle_configuration(config).send().await.unwrap();
    let before = raw_rules(&conn, &bucket).await;

    let existing = lifecycle::read(&conn, &url(&bucket)).await.unwrap();
    assert!(existing.rules[0].other.iter().any(|o| o.contains("kind=log")), "{:?}", existing.rules[0]);
    let plan = lifecycle::plan(&existing, &set(lifecycle::preset_checkpoints("runs/"))).unwrap();
    assert_eq!(plan.changes.iter().map(|c| c.change).collect::<Vec<_>>(), [ChangeKind::KeptUnrelated, ChangeKind::Added]);
    let report = lifecycle::apply(&conn, &plan).await.unwrap();
    assert!(report.written && report.rules_after == 2);

    let after = raw_rules(&conn, &bucket).await;
    assert_eq!(after.len(), 2);
    assert_eq!(format!("{:?}", after[0]), format!("{:?}", before[0]), "the unrelated rule must come back unchanged");
    let ours = lifecycle::read(&conn, &url(&bucket)).await.unwrap().rules.into_iter().find(|r| r.id == "trainctl-runs").unwrap();
    assert_eq!(ours, lifecycle::preset_checkpoints("runs/"));
}

#[tokio::test]
async fn a_plan_made_before_someone_else_changed_the_rules_is_refused() {
    let server = trainctl_testkit::shared_moto();
    let bucket = server.new_bucket("lcstale");
    let conn = connection_as(server, "moto");
    let existing = lifecycle::read(&conn, &url(&bucket)).await.unwrap();
    let mine = lifecycle::plan(&existing, &set(expire("mine", "a/", 10))).unwrap();
    let theirs = lifecycle::plan(&existing, &set(expire("theirs", "b/", 20))).unwrap();
    lifecycle::apply(&conn, &theirs).await.unwrap();
    let err = lifecycle::apply(&conn, &mine).await.unwrap_err();
    assert!(matches!(err, Error::PlanStale(_)), "{err:?}");
    let now = lifecycle::read(&conn, &url(&bucket)).await.unwrap();
    assert_eq!(now.rules, vec![expire("theirs", "b/", 20)], "the stale plan wrote nothing");
}

#[tokio::test]
async fn removing_the_last_rule_deletes_the_configuration() {
    let server = trainctl_testkit::shared_moto();
    let bucket = server.new_bucket("lcremove");
    let conn = connection_as(server, "moto");
    let p = lifecycle::plan(&lifecycle::read(&conn, &url(&bucket)).await.unwrap(), &set(expire("only", "", 30))).unwrap();
    lifecycle::apply(&conn, &p).await.unwrap();
    let p = lifecycle::plan(&lifecycle::read(&conn, &url(&bucket)).await.unwrap(), &LifecycleRequest { set: vec![], remove: vec!["only".into()] }).unwrap();
    lifecycle::apply(&conn, &p).await.unwrap();
    assert!(lifecycle::read(&conn, &url(&bucket)).await.unwrap().rules.is_empty());
}

fn glacier_rule() -> Rule {
    let mut r = Rule::new("to-glacier", "runs/");
    r.transitions = vec![Transition { days: 30, storage_class: StorageClass::GlacierIr }];
    r.expire_days = Some(400);
    r
}

#[tokio::test]
async fn garage_expiry_and_abort_multipart_round_trip() {
    let Some(server) = trainctl_testkit::shared_garage_or_skip() else { return };
    let bucket = server.new_bucket("lcgarage");
    let conn = connection_as(server, "garage");
    let mut r = expire("trainctl-runs", "runs/", 30);
    r.abort_multipart_days = Some(7);
    let p = lifecycle::plan(&lifecycle::read(&conn, &url(&bucket)).await.unwrap(), &set(r.clone())).unwrap();
    lifecycle::apply(&conn, &p).await.unwrap();
    assert_eq!(lifecycle::read(&conn, &url(&bucket)).await.unwrap().rules, vec![r]);
}

#[tokio::test]
async fn garage_transitions_are_refused_before_sending_when_the_provider_is_known() {
    let Some(server) = trainctl_testkit::shared_garage_or_skip() else { return };
    let bucket = server.new_bucket("lcgknown");
    let conn = connection_as(server, "garage");
    let err = lifecycle::plan(&lifecycle::read(&conn, &url(&bucket)).await.unwrap(), &set(glacier_rule())).unwrap_err();
    assert!(matches!(&err, Error::LifecycleUnsupported { detail, .. } if detail.contains("transition")), "{err:?}");
    assert_eq!(err.exit_code(), 40);
}

#[tokio::test]
async fn garage_silently_dropping_a_transition_is_caught_and_rolled_back() {
    let Some(server) = trainctl_testkit::shared_garage_or_skip() else { return };
    let bucket = server.new_bucket("lcgdrop");
    // An unknown endpoint: nothing refuses up front; the server accepts and drops the transition.
    let conn = connection_as(server, "other");
    let keep = expire("keep-me", "logs/", 90);
    let p = lifecycle::plan(&lifecycle::read(&conn, &url(&bucket)).await.unwrap(), &set(keep.clone())).unwrap();
    lifecycle::apply(&conn, &p).await.unwrap();
    let p = lifecycle::plan(&lifecycle::read(&conn, &url(&bucket)).await.unwrap(), &set(glacier_rule())).unwrap();
    let err = lifecycle::apply(&conn, &p).await.unwrap_err();
    assert!(matches!(&err, Error::LifecycleUnsupported { detail, .. } if detail.contains("GLACIER_IR") && detail.contains("restored")), "{err:?}");
    assert_eq!(lifecycle::read(&conn, &url(&bucket)).await.unwrap().rules, vec![keep], "the previous configuration is back");
}
