//! The scaling path of a watch: S3 Event Notifications consumed from an SQS queue by long
//! polling, fed into the same [`Watcher`] as polling (so "complete, once", finished and stalled
//! mean exactly the same).
//!
//! Why it is safe to trust a queue: notifications are at-least-once and unordered, so the
//! watcher de-duplicates by checkpoint id and orders per key by `sequencer`; a message is
//! deleted only after its changes were folded in and reported; one full listing reconciles at
//! start and after every error (a lost or expired message cannot hide a checkpoint), and a
//! suspected stall is confirmed by a listing before it is reported.

use super::events::{self, Message};
use super::watcher::{WatchOptions, Watcher};
use crate::config::quirks;
use crate::error::{Error, Result};
use crate::event::{Event, Sink};
use crate::s3::errors::SdkResultExt;
use crate::s3::{Connection, NetworkPolicy, S3Url};
use aws_config::BehaviorVersion;
use aws_sdk_sqs::types::DeleteMessageBatchRequestEntry;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// The longest long poll SQS allows.
const MAX_WAIT_SECS: i32 = 20;

/// How the user named the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueSpec {
    /// `https://sqs.us-east-1.amazonaws.com/123456789012/name` (or a local server's URL).
    Url(String),
    /// `arn:aws:sqs:us-east-1:123456789012:name`.
    Arn { region: String, account: String, name: String },
    /// A bare queue name, resolved with GetQueueUrl in the profile's region.
    Name(String),
}

impl QueueSpec {
    pub fn parse(s: &str) -> Result<QueueSpec> {
        let s = s.trim();
        let bad = |reason: &str| Error::WatchQueue { queue: s.to_string(), reason: reason.to_string() };
        if s.starts_with("http://") || s.starts_with("https://") {
            let path = s.splitn(4, '/').nth(3).unwrap_or("");
            if path.split('/').filter(|p| !p.is_empty()).count() != 2 {
                return Err(bad("a queue URL ends in /ACCOUNT/NAME"));
            }
            return Ok(QueueSpec::Url(s.to_string()));
        }
        if let Some(rest) = s.strip_prefix("arn:") {
            let parts: Vec<&str> = rest.split(':').collect();
            if parts.len() != 5 || parts[1] != "sqs" || parts[2].is_empty() || parts[4].is_empty() {
                return Err(bad("not an SQS queue ARN (arn:aws:sqs:REGION:ACCOUNT:NAME)"));
            }
            return Ok(QueueSpec::Arn { region: parts[2].into(), account: parts[3].into(), name: parts[4].into() });
        }
        let name_ok = !s.is_empty() && s.len() <= 80 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
        if !name_ok {
            return Err(bad("not a queue URL, ARN or name"));
        }
        Ok(QueueSpec::Name(s.to_string()))
    }

    /// The region a queue URL or ARN names (`sqs.REGION.amazonaws.com`), if any.
    fn region(&self) -> Option<String> {
        match self {
            QueueSpec::Arn { region, .. } => Some(region.clone()),
            QueueSpec::Url(u) => {
                let host = u.split('/').nth(2)?;
                let rest = host.strip_prefix("sqs.")?;
                let region = rest.split('.').next()?;
                (rest.contains(".amazonaws.com") && !region.is_empty()).then(|| region.to_string())
            }
            QueueSpec::Name(_) => None,
        }
    }

    /// Where to send SQS requests when it is not AWS: the origin of a non-AWS queue URL
    /// (moto, LocalStack serve it there).
    fn origin(&self) -> Option<String> {
        let QueueSpec::Url(u) = self else { return None };
        let mut it = u.splitn(4, '/');
        let scheme = it.next()?;
        let host = it.nth(1)?;
        (!host.contains("amazonaws.com")).then(|| format!("{scheme}//{host}"))
    }
}

/// Refuses, before any request, a store the provider quirks say sends no notifications to SQS.
pub fn check_provider(conn: &Connection, bucket: &str) -> Result<()> {
    let Some(q) = quirks::get(&conn.profile.provider) else { return Ok(()) };
    if q.sqs_notifications {
        return Ok(());
    }
    Err(Error::WatchEventsUnsupported {
        target: format!("s3://{bucket} ({})", q.name),
        detail: format!("{} implements no bucket notifications (data/quirks/providers.toml)", q.name),
    })
}

/// A resolved queue and the client that talks to it.
pub struct Queue {
    pub client: aws_sdk_sqs::Client,
    pub url: String,
    pub arn: String,
    /// The queue's access policy (JSON), when it has one.
    pub policy: Option<String>,
    /// Timeouts and retries (the S3 connection's), so a receive on a half-open connection
    /// fails after its long-poll wait plus the attempt timeout instead of hanging.
    network: NetworkPolicy,
}

impl Queue {
    /// Builds an SQS client with the connection's credentials and finds the queue (its URL and
    /// ARN). Endpoint: `AWS_ENDPOINT_URL_SQS`, else a non-AWS queue URL's origin, else (for an
    /// ARN or a name) the profile's custom endpoint (moto serves S3 and SQS on one port), else
    /// AWS by region.
    pub async fn open(conn: &Connection, spec: &QueueSpec) -> Result<Queue> {
        let region = spec.region().unwrap_or_else(|| conn.profile.region.clone());
        let aws_queue_url = matches!(spec, QueueSpec::Url(_)) && spec.origin().is_none();
        let endpoint = std::env::var("AWS_ENDPOINT_URL_SQS")
            .ok()
            .filter(|v| !v.is_empty())
            .or_else(|| spec.origin())
            .or_else(|| if aws_queue_url { None } else { conn.profile.endpoint_url.clone() });
        let mut loader = aws_config::defaults(BehaviorVersion::latest()).region(aws_config::Region::new(region));
        if let Some(c) = &conn.credentials {
            loader = loader.credentials_provider(c.clone());
        }
        if let Some(e) = &endpoint {
            loader = loader.endpoint_url(e);
        }
        let network = NetworkPolicy::of_s3_client(&conn.client);
        let client = aws_sdk_sqs::Client::from_conf(network.apply_sqs(aws_sdk_sqs::config::Builder::from(&loader.load().await)).build());
        let shown = match spec {
            QueueSpec::Url(u) | QueueSpec::Name(u) => u.clone(),
            QueueSpec::Arn { region, account, name } => format!("arn:aws:sqs:{region}:{account}:{name}"),
        };
        let ctx = conn.ctx();
        let queue_err = |e: Error| match e {
            Error::S3 { code, message } if is_missing_queue(&code) => Error::WatchQueue { queue: shown.clone(), reason: format!("no such queue ({message})") },
            Error::S3 { code, message } if is_not_sqs(&code) => Error::WatchEventsUnsupported {
                target: endpoint.clone().unwrap_or_else(|| "the endpoint".into()),
                detail: format!("it does not speak SQS ({code}: {message})"),
            },
            other => other,
        };
        let url = match spec {
            QueueSpec::Url(u) => u.clone(),
            QueueSpec::Arn { account, name, .. } => {
                let out = client.get_queue_url().queue_name(name).queue_owner_aws_account_id(account).send().await.or_s3(&ctx).map_err(queue_err)?;
                out.queue_url().unwrap_or_default().to_string()
            }
            QueueSpec::Name(name) => {
                let out = client.get_queue_url().queue_name(name).send().await.or_s3(&ctx).map_err(queue_err)?;
                out.queue_url().unwrap_or_default().to_string()
            }
        };
        use aws_sdk_sqs::types::QueueAttributeName as A;
        let attrs = client.get_queue_attributes().queue_url(&url).attribute_names(A::QueueArn).attribute_names(A::Policy).send().await.or_s3(&ctx).map_err(queue_err)?;
        let attrs = attrs.attributes().cloned().unwrap_or_default();
        let arn = attrs.get(&A::QueueArn).cloned().ok_or_else(|| Error::WatchQueue { queue: shown.clone(), reason: "the queue has no ARN (not an SQS queue?)".into() })?;
        Ok(Queue { client, url, arn, policy: attrs.get(&A::Policy).cloned(), network })
    }

    /// One long poll: up to 10 messages, waiting up to `wait` for the first. Its attempt
    /// timeout is the wait plus the policy's attempt timeout ([`NetworkPolicy::long_poll_timeouts`]).
    async fn receive(&self, conn: &Connection, wait: Duration) -> Result<Vec<(String, String)>> {
        let secs = (wait.as_secs_f64().ceil() as i32).clamp(1, MAX_WAIT_SECS);
        let timeouts = self.network.long_poll_timeouts(Duration::from_secs(secs as u64));
        let request = self.client.receive_message().queue_url(&self.url).max_number_of_messages(10).wait_time_seconds(secs);
        let out = request.customize().config_override(aws_sdk_sqs::config::Builder::default().timeout_config(timeouts)).send().await.or_s3(&conn.ctx())?;
        Ok(out.messages().iter().filter_map(|m| Some((m.receipt_handle()?.to_string(), m.body().unwrap_or_default().to_string()))).collect())
    }

    /// Deletes handled messages (one batch request per 10).
    async fn delete(&self, conn: &Connection, handles: &[String]) -> Result<()> {
        for chunk in handles.chunks(10) {
            let entries: Vec<DeleteMessageBatchRequestEntry> = chunk
                .iter()
                .enumerate()
                .map(|(i, h)| DeleteMessageBatchRequestEntry::builder().id(i.to_string()).receipt_handle(h).build().expect("id and handle are set"))
                .collect();
            let out = self.client.delete_message_batch().queue_url(&self.url).set_entries(Some(entries)).send().await.or_s3(&conn.ctx())?;
            if let Some(f) = out.failed().first() {
                return Err(Error::S3 { code: f.code().to_string(), message: format!("deleting a handled message: {}", f.message().unwrap_or_default()) });
            }
        }
        Ok(())
    }
}

fn is_missing_queue(code: &str) -> bool {
    code.contains("NonExistentQueue") || code.contains("QueueDoesNotExist")
}

/// Answers of an S3-only server to an SQS request.
fn is_not_sqs(code: &str) -> bool {
    // SQS always names its errors; a bare status (`HTTP 400`) came from something else.
    code.starts_with("HTTP ") || matches!(code, "NotImplemented" | "NoSuchBucket" | "InvalidRequest" | "MethodNotAllowed" | "UnknownOperation" | "InvalidAction")
}

/// Watches `url` from the notifications on `queue` until `cancel` fires. Setup failures (no
/// such queue, a store without notifications) are returned; failures afterwards are reported
/// as `watch_error`, retried with backoff, and followed by a reconciling listing.
pub async fn watch_events(conn: &Connection, url: &S3Url, queue: &QueueSpec, opts: WatchOptions, sink: &dyn Sink, cancel: &CancellationToken) -> Result<()> {
    check_provider(conn, &url.bucket)?;
    let q = Queue::open(conn, queue).await?;
    let interval = opts.interval;
    let resync_every = opts.resync_every;
    let mut failures = super::Failures::new(&opts);
    let mut w = Watcher::for_events(conn.clone(), url, opts);
    let mut state = Loop { reconcile: true, last_tick: Instant::now(), said_foreign: false, rounds: 0 };
    loop {
        let result = tokio::select! {
            r = state.round(&mut w, &q, conn, interval, resync_every, sink) => r,
            _ = cancel.cancelled() => return Ok(()),
        };
        if let Some(wait) = failures.after(w.label(), result, sink) {
            // Events may have been missed while failing: list once before receiving again.
            state.reconcile = true;
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = cancel.cancelled() => return Ok(()),
            }
        }
    }
}

/// What the receive loop carries between rounds.
struct Loop {
    /// A full listing is due (start, after an error, `--resync-every`).
    reconcile: bool,
    last_tick: Instant,
    said_foreign: bool,
    rounds: u64,
}

impl Loop {
    /// Reconcile if due, one long poll, fold its messages in, delete them, check stalls.
    async fn round(&mut self, w: &mut Watcher, q: &Queue, conn: &Connection, interval: Duration, resync_every: u32, sink: &dyn Sink) -> Result<()> {
        if self.reconcile {
            w.reconcile(sink).await?;
            self.reconcile = false;
            self.last_tick = Instant::now();
        }
        let messages = q.receive(conn, interval.min(Duration::from_secs(MAX_WAIT_SECS as u64))).await?;
        let mut changes = Vec::new();
        let mut handles = Vec::with_capacity(messages.len());
        for (handle, body) in messages {
            match events::parse(&body) {
                Message::Changes(c) => changes.extend(c),
                Message::Test { bucket } => sink.send(Event::Notice { message: format!("{}: S3 test event for bucket `{bucket}` received; the queue is connected", w.label()) }),
                Message::Foreign(why) if !self.said_foreign => {
                    self.said_foreign = true;
                    sink.send(Event::Notice { message: format!("{}: a message on the queue is not an S3 event notification ({why}); such messages are deleted", w.label()) });
                }
                Message::Foreign(_) => {}
            }
            handles.push(handle);
        }
        // Handled = folded in and reported; only then are the messages deleted. If this fails,
        // they come back after the visibility timeout (duplicates are harmless).
        w.apply_changes(&changes, sink).await?;
        q.delete(conn, &handles).await?;
        if self.last_tick.elapsed() >= interval {
            self.last_tick = Instant::now();
            self.rounds += 1;
            let resync = resync_every > 0 && self.rounds.is_multiple_of(resync_every as u64);
            if resync {
                w.reconcile(sink).await?;
            }
            w.check_stalls_confirmed(sink, resync).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_specs_parse_and_know_their_region_and_origin() {
        let u = QueueSpec::parse("https://sqs.eu-west-1.amazonaws.com/123456789012/runs").unwrap();
        assert_eq!(u.region().as_deref(), Some("eu-west-1"));
        assert_eq!(u.origin(), None);
        let local = QueueSpec::parse("http://127.0.0.1:5000/123456789012/q1").unwrap();
        assert_eq!(local.origin().as_deref(), Some("http://127.0.0.1:5000"));
        assert_eq!(local.region(), None);
        let arn = QueueSpec::parse("arn:aws:sqs:us-west-2:123456789012:runs").unwrap();
        assert_eq!(arn, QueueSpec::Arn { region: "us-west-2".into(), account: "123456789012".into(), name: "runs".into() });
        assert_eq!(QueueSpec::parse("runs-events").unwrap(), QueueSpec::Name("runs-events".into()));
        for bad in ["", "arn:aws:sns:us-east-1:1:topic", "http://host/only-one", "s3://bucket/x", "a queue"] {
            assert!(matches!(QueueSpec::parse(bad), Err(Error::WatchQueue { .. })), "{bad}");
        }
    }
}
