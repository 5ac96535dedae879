//! `s3 watch --setup-events`: make a bucket send ObjectCreated/ObjectRemoved notifications for
//! the watched prefix to an SQS queue. Plan first (what is added, what is kept), apply on
//! confirmation — the same plan-then-apply shape as lifecycle rules.
//!
//! Why read-modify-write: a bucket has ONE notification configuration; writing ours alone would
//! silently drop the topic/queue/Lambda/EventBridge targets someone else set up. The queue's
//! access policy is only written when the queue has none (S3 must be allowed to SendMessage, and
//! AWS checks that when the configuration is written); an existing policy is never replaced.

use super::sqs::{check_provider, Queue, QueueSpec};
use crate::error::{Error, Result};
use crate::s3::errors::{map_sdk_error, SdkResultExt};
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::operation::get_bucket_notification_configuration::GetBucketNotificationConfigurationOutput;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use crate::s3::{Connection, S3Url};
use aws_sdk_s3::types::{Event as S3Event, FilterRule, FilterRuleName, NotificationConfiguration, NotificationConfigurationFilter, QueueConfiguration, S3KeyFilter};
use serde::Serialize;

/// The events a watch needs.
pub const EVENTS: [&str; 2] = ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"];

/// What `--setup-events` would change.
#[derive(Debug, Clone, Serialize)]
pub struct EventsPlan {
    pub bucket: String,
    pub prefix: String,
    pub queue_url: String,
    pub queue_arn: String,
    /// Id of the queue configuration added (`trainctl-watch-…`).
    pub configuration_id: String,
    /// A queue configuration already sends these events for this prefix to this queue.
    pub already_configured: bool,
    /// Other notification targets of the bucket, kept as they are.
    pub kept_configurations: usize,
    /// The access policy written to the queue (only when it has none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue_policy: Option<String>,
    /// Things the user should know (an existing queue policy that may not allow S3…).
    pub notes: Vec<String>,
}

impl EventsPlan {
    pub fn changes_something(&self) -> bool {
        !self.already_configured || self.queue_policy.is_some()
    }
}

/// Reads the bucket's notification configuration and the queue, says what would change.
pub async fn plan(conn: &Connection, url: &S3Url, spec: &QueueSpec) -> Result<(EventsPlan, Queue)> {
    check_provider(conn, &url.bucket)?;
    let current = read(conn, &url.bucket).await?;
    let queue = Queue::open(conn, spec).await?;
    let prefix = if url.key.is_empty() { String::new() } else { url.dir_prefix() };
    let already = current.queue_configurations().iter().any(|c| c.queue_arn() == queue.arn && covers(c, &prefix));
    let kept = current.queue_configurations().len() + current.topic_configurations().len() + current.lambda_function_configurations().len() + usize::from(current.event_bridge_configuration().is_some());
    let mut notes = Vec::new();
    let bucket_arn = format!("arn:aws:s3:::{}", url.bucket);
    let queue_policy = match &queue.policy {
        None => Some(policy(&queue.arn, &bucket_arn)),
        Some(p) if p.contains(&bucket_arn) || p.contains("s3.amazonaws.com") => None,
        Some(_) => {
            notes.push(format!("the queue has an access policy that does not mention {bucket_arn}; it is left alone — make sure it lets s3.amazonaws.com SendMessage"));
            None
        }
    };
    let plan = EventsPlan {
        bucket: url.bucket.clone(),
        prefix: prefix.clone(),
        queue_url: queue.url.clone(),
        queue_arn: queue.arn.clone(),
        configuration_id: configuration_id(&prefix),
        already_configured: already,
        kept_configurations: kept,
        queue_policy,
        notes,
    };
    Ok((plan, queue))
}

/// Writes the plan: the queue policy when planned, then the bucket's configuration with ours
/// added and everything else kept. Re-reads the configuration right before writing it.
pub async fn apply(conn: &Connection, plan: &EventsPlan, queue: &Queue) -> Result<()> {
    if let Some(p) = &plan.queue_policy {
        queue
            .client
            .set_queue_attributes()
            .queue_url(&queue.url)
            .attributes(aws_sdk_sqs::types::QueueAttributeName::Policy, p)
            .send()
            .await
            .or_s3(&conn.ctx())?;
    }
    if plan.already_configured {
        return Ok(());
    }
    let current = read(conn, &plan.bucket).await?;
    let filter = NotificationConfigurationFilter::builder()
        .key(S3KeyFilter::builder().filter_rules(FilterRule::builder().name(FilterRuleName::Prefix).value(&plan.prefix).build()).build())
        .build();
    let mut ours = QueueConfiguration::builder().id(&plan.configuration_id).queue_arn(&plan.queue_arn).set_events(Some(EVENTS.iter().map(|e| S3Event::from(*e)).collect()));
    if !plan.prefix.is_empty() {
        ours = ours.filter(filter);
    }
    let ours = ours.build().map_err(|e| Error::Internal(format!("queue configuration: {e}")))?;
    let mut queues: Vec<QueueConfiguration> = current.queue_configurations().iter().filter(|c| c.id() != Some(plan.configuration_id.as_str())).cloned().collect();
    queues.push(ours);
    let config = NotificationConfiguration::builder()
        .set_queue_configurations(Some(queues))
        .set_topic_configurations(Some(current.topic_configurations().to_vec()))
        .set_lambda_function_configurations(Some(current.lambda_function_configurations().to_vec()))
        .set_event_bridge_configuration(current.event_bridge_configuration().cloned())
        .build();
    let ctx = conn.ctx().bucket(&plan.bucket);
    conn.client
        .put_bucket_notification_configuration()
        .bucket(&plan.bucket)
        .notification_configuration(config)
        .send()
        .await
        .or_s3(&ctx)
        .map_err(|e| unsupported(e, &plan.bucket))?;
    Ok(())
}

async fn read(conn: &Connection, bucket: &str) -> Result<GetBucketNotificationConfigurationOutput> {
    let ctx = conn.ctx().bucket(bucket);
    match conn.client.get_bucket_notification_configuration().bucket(bucket).send().await {
        Ok(out) => Ok(out),
        Err(e) if empty_answer(&e) => Ok(GetBucketNotificationConfigurationOutput::builder().build()),
        Err(e) => Err(unsupported(map_sdk_error(e, &ctx), bucket)),
    }
}

/// moto answers an empty configuration with `<GetBucketNotificationResponse/>`, which the SDK
/// cannot parse. A 200 whose body holds no `…Configuration>` element has nothing to keep, so
/// it is read as empty; any other unparseable answer stays an error (we would lose targets).
fn empty_answer<E>(e: &SdkError<E, HttpResponse>) -> bool {
    let Some(raw) = e.raw_response() else { return false };
    let Some(body) = raw.body().bytes() else { return false };
    let text = String::from_utf8_lossy(body);
    raw.status().as_u16() == 200 && !text.contains("Configuration>") && !text.contains("<Error")
}

/// A server that does not implement bucket notifications answers `NotImplemented` (or, for
/// some, a 400 naming the `notification` sub-resource).
fn unsupported(e: Error, bucket: &str) -> Error {
    match e {
        Error::S3 { code, message } if code == "NotImplemented" || message.to_lowercase().contains("notification") && code != "AccessDenied" => {
            Error::WatchEventsUnsupported { target: format!("s3://{bucket}"), detail: format!("the server answered {code}: {message}") }
        }
        other => other,
    }
}

/// Does queue configuration `c` deliver created and removed events for every key under `prefix`?
fn covers(c: &QueueConfiguration, prefix: &str) -> bool {
    let events: Vec<&str> = c.events().iter().map(|e| e.as_str()).collect();
    let has = |want: &str| events.iter().any(|e| *e == want || *e == "s3:*");
    if !(has("s3:ObjectCreated:*") && has("s3:ObjectRemoved:*")) {
        return false;
    }
    let rules = c.filter().and_then(|f| f.key()).map(|k| k.filter_rules()).unwrap_or_default();
    rules.iter().all(|r| match r.name().map(|n| n.as_str().to_ascii_lowercase()) {
        Some(n) if n == "prefix" => prefix.starts_with(r.value().unwrap_or_default()),
        Some(n) if n == "suffix" => r.value().unwrap_or_default().is_empty(),
        _ => true,
    })
}

/// `trainctl-watch-<prefix as a readable id>`; S3 ids are free text up to 255 characters.
fn configuration_id(prefix: &str) -> String {
    let clean: String = prefix.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' }).collect();
    let clean = clean.trim_matches('-');
    let mut id = if clean.is_empty() { "trainctl-watch".to_string() } else { format!("trainctl-watch-{clean}") };
    id.truncate(200);
    id
}

/// The access policy that lets the bucket send to the queue, nothing else.
fn policy(queue_arn: &str, bucket_arn: &str) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "trainctl-watch-s3-notifications",
            "Effect": "Allow",
            "Principal": {"Service": "s3.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": queue_arn,
            "Condition": {"ArnLike": {"aws:SourceArn": bucket_arn}}
        }]
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn qc(events: &[&str], prefix: Option<&str>) -> QueueConfiguration {
        let mut b = QueueConfiguration::builder().queue_arn("arn:aws:sqs:us-east-1:1:q").set_events(Some(events.iter().map(|e| S3Event::from(*e)).collect()));
        if let Some(p) = prefix {
            b = b.filter(NotificationConfigurationFilter::builder().key(S3KeyFilter::builder().filter_rules(FilterRule::builder().name(FilterRuleName::Prefix).value(p).build()).build()).build());
        }
        b.build().unwrap()
    }

    #[test]
    fn an_existing_configuration_covers_a_prefix_only_with_both_event_families() {
        assert!(covers(&qc(&EVENTS, Some("runs/")), "runs/run1/"));
        assert!(covers(&qc(&EVENTS, None), "runs/"));
        assert!(!covers(&qc(&EVENTS, Some("runs/run2/")), "runs/run1/"));
        assert!(!covers(&qc(&["s3:ObjectCreated:*"], None), "runs/"));
        assert!(covers(&qc(&["s3:*"], None), ""));
    }

    #[test]
    fn configuration_ids_are_readable() {
        assert_eq!(configuration_id("runs/run1/"), "trainctl-watch-runs-run1");
        assert_eq!(configuration_id(""), "trainctl-watch");
    }
}
