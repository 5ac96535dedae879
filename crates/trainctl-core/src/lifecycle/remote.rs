//! Reading and writing a bucket's lifecycle configuration, and the SDK ↔ [`Rule`] conversion.
//!
//! The configuration is one document per bucket, so `apply` re-reads it and writes only if it is
//! exactly what the plan was made from (same fingerprint); rules the plan keeps are written back
//! as the server returned them, not through our model, so nothing we do not model is lost.

use super::model::*;
use crate::error::{Error, Result};
use crate::s3::errors::{map_service, map_sdk_error, ErrContext};
use crate::s3::{Connection, S3Url};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, ExpirationStatus, LifecycleExpiration, LifecycleRule, LifecycleRuleFilter, NoncurrentVersionExpiration,
    TransitionDefaultMinimumObjectSize, TransitionStorageClass,
};
use sha2::{Digest, Sha256};

/// The raw server state: rules as the SDK returned them plus the bucket-wide small-object setting.
struct Raw {
    rules: Vec<LifecycleRule>,
    min_object_size: Option<TransitionDefaultMinimumObjectSize>,
}

impl Raw {
    fn fingerprint(&self) -> String {
        let text = format!("{:?}|{:?}", self.rules, self.min_object_size);
        hex::encode(Sha256::digest(text.as_bytes()))
    }
}

/// Reads the lifecycle configuration of `url`'s bucket. A bucket without one has no rules.
/// (The prefix of `url` does not narrow what is read: the configuration is per bucket.)
pub async fn read(conn: &Connection, url: &S3Url) -> Result<LifecycleConfig> {
    let raw = read_raw(conn, &url.bucket).await?;
    Ok(LifecycleConfig {
        bucket: url.bucket.clone(),
        provider: conn.profile.provider.clone(),
        rules: raw.rules.iter().map(rule_from_sdk).collect(),
        fingerprint: raw.fingerprint(),
    })
}

/// Writes the plan: re-reads the configuration, refuses with [`Error::PlanStale`] if it changed
/// since the plan was made, then writes the merged rules (or deletes the configuration when no
/// rule is left). A plan that changes nothing makes no write.
pub async fn apply(conn: &Connection, plan: &LifecyclePlan) -> Result<ApplyReport> {
    let raw = read_raw(conn, &plan.bucket).await?;
    if raw.fingerprint() != plan.base_fingerprint {
        return Err(Error::PlanStale(format!("the lifecycle configuration of s3://{} was changed by someone else since the plan was made", plan.bucket)));
    }
    let mut report = ApplyReport {
        bucket: plan.bucket.clone(),
        written: false,
        added: plan.count(ChangeKind::Added),
        changed: plan.count(ChangeKind::Changed),
        removed: plan.count(ChangeKind::Removed),
        kept: plan.count(ChangeKind::KeptUnrelated) + plan.count(ChangeKind::Unchanged),
        rules_after: plan.rules_after().len(),
    };
    if plan.is_noop() {
        return Ok(report);
    }
    let rules = merged_rules(&raw.rules, plan)?;
    write_rules(conn, &plan.bucket, &rules, &raw.min_object_size).await?;
    report.written = true;
    let dropped = dropped_by_server(&rules, &read_raw(conn, &plan.bucket).await?.rules);
    if !dropped.is_empty() {
        let restored = write_rules(conn, &plan.bucket, &raw.rules, &raw.min_object_size).await;
        let after = if restored.is_ok() { "the previous configuration was restored" } else { "restoring the previous configuration FAILED: check it with `trainctl s3 lifecycle show`" };
        return Err(Error::LifecycleUnsupported {
            target: format!("s3://{} ({})", plan.bucket, conn.endpoint_display()),
            detail: format!("the server accepted the rules but silently dropped {}; {after}", dropped.join("; ")),
        });
    }
    Ok(report)
}

/// Writes `rules` as the whole configuration, or deletes the configuration when there are none.
async fn write_rules(conn: &Connection, bucket: &str, rules: &[LifecycleRule], min_object_size: &Option<TransitionDefaultMinimumObjectSize>) -> Result<()> {
    let ctx = conn.ctx().bucket(bucket);
    if rules.is_empty() {
        conn.client.delete_bucket_lifecycle().bucket(bucket).send().await.map_err(|e| lifecycle_error(e, &ctx))?;
        return Ok(());
    }
    let config = BucketLifecycleConfiguration::builder().set_rules(Some(rules.to_vec())).build().map_err(|e| Error::Internal(format!("lifecycle configuration: {e}")))?;
    conn.client
        .put_bucket_lifecycle_configuration()
        .bucket(bucket)
        .lifecycle_configuration(config)
        .set_transition_default_minimum_object_size(min_object_size.clone())
        .send()
        .await
        .map_err(|e| lifecycle_error(e, &ctx))?;
    Ok(())
}

/// What the server did not keep of what was written, in words (empty = it kept everything).
///
/// Why: Garage (2.x) answers 200 to a configuration with transitions, noncurrent-version expiry,
/// tag filters or a legacy `<Prefix>`, and stores the rule WITHOUT them: a "move to GLACIER_IR"
/// rule silently becomes a no-op, and a tag-filtered expiry becomes a whole-bucket expiry. Only
/// reading back tells.
pub(crate) fn dropped_by_server(written: &[LifecycleRule], read_back: &[LifecycleRule]) -> Vec<String> {
    let got: Vec<Rule> = read_back.iter().map(rule_from_sdk).collect();
    let mut out = vec![];
    for w in written.iter().map(rule_from_sdk) {
        match got.iter().find(|g| g.id == w.id) {
            None => out.push(format!("rule `{}`", w.id)),
            Some(g) => {
                let lost: Vec<String> = w.describe().into_iter().filter(|d| !g.describe().contains(d)).collect();
                if !lost.is_empty() || g.prefix != w.prefix {
                    let mut what = lost;
                    if g.prefix != w.prefix {
                        what.push(format!("the prefix filter `{}`", w.prefix));
                    }
                    out.push(format!("from rule `{}`: {}", w.id, what.join(", ")));
                }
            }
        }
    }
    out
}

/// The rules to write: the server's rules in its order (kept ones verbatim, changed ones
/// replaced, removed ones dropped), then the added ones.
fn merged_rules(server: &[LifecycleRule], plan: &LifecyclePlan) -> Result<Vec<LifecycleRule>> {
    let managed = |id: &str| plan.changes.iter().find(|c| c.id == id && c.change != ChangeKind::KeptUnrelated);
    let mut out = vec![];
    for raw in server {
        match managed(raw.id().unwrap_or("")).map(|c| (c.change, c.after.as_ref())) {
            Some((ChangeKind::Removed, _)) => {}
            Some((ChangeKind::Changed, Some(after))) => out.push(rule_to_sdk(after)?),
            _ => out.push(raw.clone()),
        }
    }
    for c in plan.changes.iter().filter(|c| c.change == ChangeKind::Added) {
        out.push(rule_to_sdk(c.after.as_ref().ok_or_else(|| Error::Internal("added rule without content".into()))?)?);
    }
    Ok(out)
}

async fn read_raw(conn: &Connection, bucket: &str) -> Result<Raw> {
    let ctx = conn.ctx().bucket(bucket);
    match conn.client.get_bucket_lifecycle_configuration().bucket(bucket).send().await {
        Ok(out) => Ok(Raw { rules: out.rules.unwrap_or_default(), min_object_size: out.transition_default_minimum_object_size }),
        Err(SdkError::ServiceError(se)) if se.err().code() == Some("NoSuchLifecycleConfiguration") => Ok(Raw { rules: vec![], min_object_size: None }),
        Err(e) => Err(lifecycle_error(e, &ctx)),
    }
}

/// Maps a lifecycle call's failure: "not implemented" answers become
/// [`Error::LifecycleUnsupported`], validation refusals [`Error::LifecycleRejected`], the rest
/// the usual S3 errors.
fn lifecycle_error<E>(err: SdkError<E, aws_smithy_runtime_api::http::Response>, ctx: &ErrContext) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    if let SdkError::ServiceError(se) = &err {
        let code = se.err().code().unwrap_or("");
        let message = se.err().message().unwrap_or("").to_string();
        let status = se.raw().status().as_u16();
        return classify(code, &message, status, ctx);
    }
    map_sdk_error(err, ctx)
}

/// The classification behind [`lifecycle_error`], on plain values so it is unit-testable.
pub(crate) fn classify(code: &str, message: &str, status: u16, ctx: &ErrContext) -> Error {
    let lower = message.to_ascii_lowercase();
    let target = format!("s3://{} ({})", ctx.bucket.clone().unwrap_or_default(), ctx.endpoint);
    let detail = if message.is_empty() { code.to_string() } else { format!("{code}: {message}") };
    if code == "NotImplemented" || status == 501 || lower.contains("not implemented") || lower.contains("not supported") || lower.contains("unsupported") {
        return Error::LifecycleUnsupported { target, detail };
    }
    if matches!(code, "MalformedXML" | "InvalidArgument" | "InvalidRequest") {
        return Error::LifecycleRejected(detail);
    }
    map_service(code, message, status, ctx)
}

/// Our view of an SDK rule; what we do not model goes into [`Rule::other`] in words.
pub(crate) fn rule_from_sdk(r: &LifecycleRule) -> Rule {
    let mut rule = Rule::new(r.id().unwrap_or(""), "");
    rule.enabled = *r.status() == ExpirationStatus::Enabled;
    #[allow(deprecated)]
    let legacy_prefix = r.prefix();
    rule.prefix = legacy_prefix.unwrap_or("").to_string();
    if let Some(f) = r.filter() {
        read_filter(f, &mut rule);
    }
    for t in r.transitions() {
        let class = t.storage_class().and_then(|c| c.as_str().parse::<StorageClass>().ok());
        match (t.days(), class, t.date()) {
            (Some(days), Some(storage_class), None) if days >= 0 => rule.transitions.push(Transition { days: days as u32, storage_class }),
            _ => rule.other.push(format!("transition {:?}", t)),
        }
    }
    if let Some(e) = r.expiration() {
        match e.days() {
            Some(d) if d >= 0 => rule.expire_days = Some(d as u32),
            _ => {}
        }
        if let Some(date) = e.date() {
            rule.other.push(format!("expire on {date}"));
        }
        if e.expired_object_delete_marker() == Some(true) {
            rule.other.push("remove expired delete markers".into());
        }
    }
    if let Some(a) = r.abort_incomplete_multipart_upload() {
        rule.abort_multipart_days = a.days_after_initiation().map(|d| d.max(0) as u32);
    }
    if let Some(n) = r.noncurrent_version_expiration() {
        rule.noncurrent_expire_days = n.noncurrent_days().map(|d| d.max(0) as u32);
        if let Some(k) = n.newer_noncurrent_versions() {
            rule.other.push(format!("keep the {k} newest noncurrent versions"));
        }
    }
    for t in r.noncurrent_version_transitions() {
        rule.other.push(format!("noncurrent versions to {} after {} d", t.storage_class().map_or("?", |c| c.as_str()), t.noncurrent_days().unwrap_or(0)));
    }
    rule
}

fn read_filter(f: &LifecycleRuleFilter, rule: &mut Rule) {
    if let Some(p) = f.prefix() {
        rule.prefix = p.to_string();
    }
    if let Some(t) = f.tag() {
        rule.other.push(format!("only objects tagged {}={}", t.key(), t.value()));
    }
    if let Some(n) = f.object_size_greater_than() {
        rule.other.push(format!("only objects larger than {n} bytes"));
    }
    if let Some(n) = f.object_size_less_than() {
        rule.other.push(format!("only objects smaller than {n} bytes"));
    }
    if let Some(and) = f.and() {
        if let Some(p) = and.prefix() {
            rule.prefix = p.to_string();
        }
        for t in and.tags() {
            rule.other.push(format!("only objects tagged {}={}", t.key(), t.value()));
        }
        if let Some(n) = and.object_size_greater_than() {
            rule.other.push(format!("only objects larger than {n} bytes"));
        }
        if let Some(n) = and.object_size_less_than() {
            rule.other.push(format!("only objects smaller than {n} bytes"));
        }
    }
}

/// The SDK rule trainctl writes for `r` (a prefix filter and the modelled actions only).
pub(crate) fn rule_to_sdk(r: &Rule) -> Result<LifecycleRule> {
    let days = |d: u32| i32::try_from(d).map_err(|_| Error::Usage(format!("lifecycle rule `{}`: {d} days is too many", r.id)));
    let mut b = LifecycleRule::builder()
        .id(&r.id)
        .status(if r.enabled { ExpirationStatus::Enabled } else { ExpirationStatus::Disabled })
        .filter(LifecycleRuleFilter::builder().prefix(&r.prefix).build());
    for t in &r.transitions {
        b = b.transitions(aws_sdk_s3::types::Transition::builder().days(days(t.days)?).storage_class(TransitionStorageClass::from(t.storage_class.as_str())).build());
    }
    if let Some(d) = r.expire_days {
        b = b.expiration(LifecycleExpiration::builder().days(days(d)?).build());
    }
    if let Some(d) = r.abort_multipart_days {
        b = b.abort_incomplete_multipart_upload(AbortIncompleteMultipartUpload::builder().days_after_initiation(days(d)?).build());
    }
    if let Some(d) = r.noncurrent_expire_days {
        b = b.noncurrent_version_expiration(NoncurrentVersionExpiration::builder().noncurrent_days(days(d)?).build());
    }
    b.build().map_err(|e| Error::Internal(format!("lifecycle rule `{}`: {e}", r.id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rule_survives_the_trip_through_the_sdk_types() {
        let mut r = Rule::new("trainctl-runs", "runs/");
        r.transitions = vec![Transition { days: 30, storage_class: StorageClass::GlacierIr }];
        r.expire_days = Some(365);
        r.abort_multipart_days = Some(7);
        r.noncurrent_expire_days = Some(14);
        assert_eq!(rule_from_sdk(&rule_to_sdk(&r).unwrap()), r);
    }

    #[test]
    fn unmodelled_parts_are_described_not_lost() {
        let sdk = LifecycleRule::builder()
            .id("tagged")
            .status(ExpirationStatus::Enabled)
            .filter(LifecycleRuleFilter::builder().tag(aws_sdk_s3::types::Tag::builder().key("env").value("prod").build().unwrap()).build())
            .expiration(LifecycleExpiration::builder().expired_object_delete_marker(true).build())
            .build()
            .unwrap();
        let r = rule_from_sdk(&sdk);
        assert!(r.other.iter().any(|o| o.contains("env=prod")), "{:?}", r.other);
        assert!(r.other.iter().any(|o| o.contains("delete markers")), "{:?}", r.other);
    }

    #[test]
    fn a_rule_stored_without_its_transition_is_reported_as_dropped() {
        let mut r = Rule::new("r1", "runs/");
        r.transitions = vec![Transition { days: 30, storage_class: StorageClass::GlacierIr }];
        r.expire_days = Some(100);
        let written = vec![rule_to_sdk(&r).unwrap()];
        r.transitions.clear();
        let dropped = dropped_by_server(&written, &[rule_to_sdk(&r).unwrap()]);
        assert_eq!(dropped.len(), 1);
        assert!(dropped[0].contains("GLACIER_IR"), "{dropped:?}");
        assert!(dropped_by_server(&written, &written).is_empty());
    }

    #[test]
    fn not_implemented_answers_are_lifecycle_unsupported() {
        let ctx = ErrContext::new("http://h:3900").bucket("b");
        assert!(matches!(classify("NotImplemented", "Transitions are not supported", 501, &ctx), Error::LifecycleUnsupported { .. }));
        assert!(matches!(classify("MalformedXML", "bad", 400, &ctx), Error::LifecycleRejected(_)));
        assert!(matches!(classify("AccessDenied", "", 403, &ctx), Error::AccessDenied(_)));
    }
}
