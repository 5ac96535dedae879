//! The network policy of every SDK client trainctl builds: how long to wait, how often to retry.
//!
//! Why it exists: without explicit bounds a half-open connection (a peer that accepted and then
//! went silent) hangs a List, a Head, a CompleteMultipartUpload or an SQS receive forever, and a
//! watch never even reports it. One policy, applied in one place to the S3 client
//! ([`crate::s3::Connection`]) and the SQS client ([`crate::watch::sqs`]), gives every request:
//!
//! - a **connect timeout** (TCP + TLS);
//! - a **per-attempt timeout**: one try, up to the response headers. Requests whose body is data
//!   (PutObject, UploadPart) get it raised by their size at a floor rate ([`data_op_timeouts`]),
//!   so a slow but moving link is not cut; an SQS long poll gets its wait added on top;
//! - a **per-operation timeout**: all attempts and backoffs together;
//! - **stalled-stream protection** on bodies (both directions): a body that moves no byte for
//!   `stall_grace` fails, which covers a download whose server went silent after the headers;
//! - the SDK's **standard retry strategy**, made explicit: exponential backoff with full jitter,
//!   `max_attempts` tries, and throttling answers (`503 SlowDown`, `Throttling…`) classified as
//!   retryable (aws-runtime's `THROTTLING_ERRORS` lists `SlowDown`), as are 5xx and timeouts.
//!
//! Every bound can be overridden by environment variables (humantime durations such as `2s` or
//! `500ms`), which is how the fault tests keep their timeouts short:
//! `TRAINCTL_CONNECT_TIMEOUT`, `TRAINCTL_ATTEMPT_TIMEOUT`, `TRAINCTL_OPERATION_TIMEOUT`,
//! `TRAINCTL_STALL_TIMEOUT`, `TRAINCTL_RETRY_ATTEMPTS` (a count).

use crate::error::{Error, Result};
use aws_config::retry::RetryConfig;
use aws_config::stalled_stream_protection::StalledStreamProtectionConfig;
use aws_config::timeout::TimeoutConfig;
use std::time::Duration;

/// The slowest rate a data request (one part, one small object) is assumed to move at when its
/// attempt timeout is computed: 64 KiB/s, far below any usable link, so only a dead one trips it.
pub const MIN_DATA_RATE: u64 = 64 * 1024;

/// Timeouts and retries of every SDK client. See the module documentation for what each bounds.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkPolicy {
    pub connect_timeout: Duration,
    /// One attempt of a metadata request (List, Head, Create/Complete/Abort, Delete, the headers
    /// of a GET), up to its response headers.
    pub attempt_timeout: Duration,
    /// All attempts of one metadata request, backoffs included.
    pub operation_timeout: Duration,
    /// A body (upload or download) that moves no byte for this long fails.
    pub stall_grace: Duration,
    /// Tries per request (the first one included).
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for NetworkPolicy {
    fn default() -> Self {
        NetworkPolicy {
            connect_timeout: Duration::from_secs(5),
            attempt_timeout: Duration::from_secs(60),
            operation_timeout: Duration::from_secs(300),
            stall_grace: Duration::from_secs(30),
            max_attempts: 5,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(20),
        }
    }
}

/// Environment variables that override the policy (see the module documentation).
pub const ENV_CONNECT: &str = "TRAINCTL_CONNECT_TIMEOUT";
pub const ENV_ATTEMPT: &str = "TRAINCTL_ATTEMPT_TIMEOUT";
pub const ENV_OPERATION: &str = "TRAINCTL_OPERATION_TIMEOUT";
pub const ENV_STALL: &str = "TRAINCTL_STALL_TIMEOUT";
pub const ENV_ATTEMPTS: &str = "TRAINCTL_RETRY_ATTEMPTS";

impl NetworkPolicy {
    /// The defaults with the environment's overrides. A malformed value is a usage error naming
    /// the variable, rather than a silently ignored setting.
    pub fn from_env() -> Result<NetworkPolicy> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// [`from_env`](Self::from_env) over any lookup (tests pass a closure).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<NetworkPolicy> {
        let mut p = NetworkPolicy::default();
        let duration = |name: &str, slot: &mut Duration| -> Result<()> {
            if let Some(v) = get(name).filter(|v| !v.trim().is_empty()) {
                *slot = humantime::parse_duration(v.trim())
                    .ok()
                    .filter(|d| !d.is_zero())
                    .ok_or_else(|| Error::Usage(format!("{name}={v:?} is not a duration such as `30s` or `500ms`")))?;
            }
            Ok(())
        };
        duration(ENV_CONNECT, &mut p.connect_timeout)?;
        duration(ENV_ATTEMPT, &mut p.attempt_timeout)?;
        duration(ENV_OPERATION, &mut p.operation_timeout)?;
        duration(ENV_STALL, &mut p.stall_grace)?;
        if let Some(v) = get(ENV_ATTEMPTS).filter(|v| !v.trim().is_empty()) {
            p.max_attempts = v.trim().parse().ok().filter(|n| (1..=20).contains(n)).ok_or_else(|| Error::Usage(format!("{ENV_ATTEMPTS}={v:?} is not a count from 1 to 20")))?;
        }
        // An operation bound shorter than one attempt would make the attempt bound meaningless.
        p.operation_timeout = p.operation_timeout.max(p.attempt_timeout);
        Ok(p)
    }

    /// Connect, attempt and operation timeouts for metadata requests.
    pub fn timeout_config(&self) -> TimeoutConfig {
        TimeoutConfig::builder()
            .connect_timeout(self.connect_timeout)
            .operation_attempt_timeout(self.attempt_timeout)
            .operation_timeout(self.operation_timeout)
            .build()
    }

    /// The standard strategy (exponential backoff with jitter, throttling-aware), with our bounds.
    pub fn retry_config(&self) -> RetryConfig {
        RetryConfig::standard().with_max_attempts(self.max_attempts).with_initial_backoff(self.initial_backoff).with_max_backoff(self.max_backoff)
    }

    pub fn stalled_stream(&self) -> StalledStreamProtectionConfig {
        StalledStreamProtectionConfig::enabled().grace_period(self.stall_grace).build()
    }

    /// Applies the policy to an S3 client configuration.
    pub fn apply_s3(&self, b: aws_sdk_s3::config::Builder) -> aws_sdk_s3::config::Builder {
        b.timeout_config(self.timeout_config()).retry_config(self.retry_config()).stalled_stream_protection(self.stalled_stream())
    }

    /// Applies the policy to an SQS client configuration.
    pub fn apply_sqs(&self, b: aws_sdk_sqs::config::Builder) -> aws_sdk_sqs::config::Builder {
        b.timeout_config(self.timeout_config()).retry_config(self.retry_config()).stalled_stream_protection(self.stalled_stream())
    }

    /// Reads the policy back from an S3 client's configuration (what [`apply_s3`](Self::apply_s3)
    /// set), so code holding only a client derives per-request bounds from the same numbers.
    pub fn of_s3_client(client: &aws_sdk_s3::Client) -> NetworkPolicy {
        let conf = client.config();
        let d = NetworkPolicy::default();
        let t = conf.timeout_config();
        let r = conf.retry_config();
        NetworkPolicy {
            connect_timeout: t.and_then(|t| t.connect_timeout()).unwrap_or(d.connect_timeout),
            attempt_timeout: t.and_then(|t| t.operation_attempt_timeout()).unwrap_or(d.attempt_timeout),
            operation_timeout: t.and_then(|t| t.operation_timeout()).unwrap_or(d.operation_timeout),
            stall_grace: conf.stalled_stream_protection().map(|s| s.grace_period()).unwrap_or(d.stall_grace),
            max_attempts: r.map(|r| r.max_attempts()).unwrap_or(d.max_attempts),
            initial_backoff: r.map(|r| r.initial_backoff()).unwrap_or(d.initial_backoff),
            max_backoff: r.map(|r| r.max_backoff()).unwrap_or(d.max_backoff),
        }
    }

    /// Timeouts of a request that carries `bytes` of data: the attempt bound raised by the time
    /// those bytes take at [`MIN_DATA_RATE`], the operation bound by that for every attempt.
    pub fn data_timeouts(&self, bytes: u64) -> TimeoutConfig {
        let attempt = self.attempt_timeout + Duration::from_secs(bytes / MIN_DATA_RATE);
        self.with_attempt(attempt)
    }

    /// Timeouts of an SQS long poll that may legitimately wait `wait` before answering.
    pub fn long_poll_timeouts(&self, wait: Duration) -> TimeoutConfig {
        self.with_attempt(self.attempt_timeout + wait)
    }

    fn with_attempt(&self, attempt: Duration) -> TimeoutConfig {
        let operation = self.operation_timeout.max(attempt.saturating_mul(self.max_attempts) + self.max_backoff.saturating_mul(self.max_attempts));
        TimeoutConfig::builder().connect_timeout(self.connect_timeout).operation_attempt_timeout(attempt).operation_timeout(operation).build()
    }

    /// How long to wait before retry number `retry` (1-based) of something the SDK does not retry
    /// itself (a download body cut mid-stream): exponential with full jitter, like the SDK.
    pub fn backoff(&self, retry: u32) -> Duration {
        let cap = self.initial_backoff.saturating_mul(2u32.saturating_pow(retry.saturating_sub(1).min(16))).min(self.max_backoff);
        cap.mul_f64(fastrand::f64())
    }
}

/// A per-request override carrying `timeouts`, for `.customize().config_override(…)`.
pub fn s3_override(timeouts: TimeoutConfig) -> aws_sdk_s3::config::Builder {
    aws_sdk_s3::config::Builder::default().timeout_config(timeouts)
}

/// The override for a data request of `bytes` bytes on `client` ([`NetworkPolicy::data_timeouts`]).
pub fn data_op_timeouts(client: &aws_sdk_s3::Client, bytes: u64) -> aws_sdk_s3::config::Builder {
    s3_override(NetworkPolicy::of_s3_client(client).data_timeouts(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_overrides_the_defaults_and_bad_values_are_usage_errors() {
        let env = |pairs: &'static [(&'static str, &'static str)]| move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string());
        let p = NetworkPolicy::from_lookup(env(&[(ENV_ATTEMPT, "2s"), (ENV_ATTEMPTS, "2"), (ENV_STALL, "750ms")])).unwrap();
        assert_eq!((p.attempt_timeout, p.max_attempts, p.stall_grace), (Duration::from_secs(2), 2, Duration::from_millis(750)));
        assert_eq!(p.connect_timeout, NetworkPolicy::default().connect_timeout);
        for bad in [&[(ENV_ATTEMPT, "soon")][..], &[(ENV_ATTEMPTS, "0")], &[(ENV_CONNECT, "0s")]] {
            let pairs: &'static [(&'static str, &'static str)] = bad;
            assert!(matches!(NetworkPolicy::from_lookup(env(pairs)), Err(Error::Usage(_))), "{bad:?}");
        }
    }

    #[test]
    fn data_requests_get_time_for_their_bytes_and_long_polls_for_their_wait() {
        let p = NetworkPolicy::default();
        let t = p.data_timeouts(32 * 1024 * 1024);
        assert_eq!(t.operation_attempt_timeout(), Some(p.attempt_timeout + Duration::from_secs(512)));
        assert!(t.operation_timeout().unwrap() >= t.operation_attempt_timeout().unwrap() * p.max_attempts);
        let l = p.long_poll_timeouts(Duration::from_secs(20));
        assert_eq!(l.operation_attempt_timeout(), Some(p.attempt_timeout + Duration::from_secs(20)));
    }

    #[test]
    fn backoff_is_jittered_below_an_exponential_cap() {
        let p = NetworkPolicy::default();
        for retry in 1..10 {
            let cap = (p.initial_backoff * 2u32.pow(retry - 1)).min(p.max_backoff);
            assert!(p.backoff(retry) <= cap);
        }
    }

    #[test]
    fn the_policy_reads_back_from_a_client_built_with_it() {
        let p = NetworkPolicy { attempt_timeout: Duration::from_secs(7), max_attempts: 3, ..NetworkPolicy::default() };
        let conf = p.apply_s3(aws_sdk_s3::config::Builder::new().behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())).build();
        let back = NetworkPolicy::of_s3_client(&aws_sdk_s3::Client::from_conf(conf));
        assert_eq!((back.attempt_timeout, back.max_attempts, back.operation_timeout), (p.attempt_timeout, 3, p.operation_timeout));
    }
}
