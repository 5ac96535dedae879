//! The lifecycle rule model trainctl edits, and the values that cross to the CLI and the desktop.
//!
//! Why our own model instead of the SDK types: the SDK types are not serde, and they carry every
//! corner of the S3 API (tag filters, dates, noncurrent transitions). trainctl edits the handful
//! of actions a researcher needs for checkpoints; what it does not model is described in words
//! ([`Rule::other`]) and kept verbatim on the server when the rule is not touched.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A storage class a lifecycle rule can move objects to (the S3 `TransitionStorageClass` values).
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StorageClass {
    StandardIa,
    IntelligentTiering,
    OnezoneIa,
    GlacierIr,
    Glacier,
    DeepArchive,
}

impl StorageClass {
    /// Every class in the order S3 allows transitions between them (the "waterfall"): a rule may
    /// only move objects further down this list.
    pub const ALL: [StorageClass; 6] = [
        StorageClass::StandardIa,
        StorageClass::IntelligentTiering,
        StorageClass::OnezoneIa,
        StorageClass::GlacierIr,
        StorageClass::Glacier,
        StorageClass::DeepArchive,
    ];

    /// The S3 spelling (`GLACIER_IR`).
    pub fn as_str(self) -> &'static str {
        match self {
            StorageClass::StandardIa => "STANDARD_IA",
            StorageClass::OnezoneIa => "ONEZONE_IA",
            StorageClass::IntelligentTiering => "INTELLIGENT_TIERING",
            StorageClass::GlacierIr => "GLACIER_IR",
            StorageClass::Glacier => "GLACIER",
            StorageClass::DeepArchive => "DEEP_ARCHIVE",
        }
    }

    /// Days AWS bills an object in this class at least, even when it is deleted or moved earlier.
    pub fn min_storage_days(self) -> u32 {
        match self {
            StorageClass::StandardIa | StorageClass::OnezoneIa => 30,
            StorageClass::IntelligentTiering => 0,
            StorageClass::GlacierIr | StorageClass::Glacier => 90,
            StorageClass::DeepArchive => 180,
        }
    }

    /// True for the classes that bill objects under 128 KB as 128 KB.
    pub fn bills_small_objects_as_128k(self) -> bool {
        matches!(self, StorageClass::StandardIa | StorageClass::OnezoneIa | StorageClass::GlacierIr)
    }
}

impl fmt::Display for StorageClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for StorageClass {
    type Err = String;
    /// Accepts `GLACIER_IR`, `glacier-ir`, `glacier_ir`.
    fn from_str(s: &str) -> Result<Self, String> {
        let norm = s.trim().to_ascii_uppercase().replace('-', "_");
        StorageClass::ALL
            .into_iter()
            .find(|c| c.as_str() == norm)
            .ok_or_else(|| format!("unknown storage class `{s}` (one of STANDARD_IA, ONEZONE_IA, INTELLIGENT_TIERING, GLACIER_IR, GLACIER, DEEP_ARCHIVE)"))
    }
}

/// Move objects to `storage_class` `days` after they were created.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Transition {
    pub days: u32,
    pub storage_class: StorageClass,
}

/// One lifecycle rule as trainctl sees it.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    /// The rule's ID. trainctl finds "its" rules by id, so a merge never touches another rule.
    pub id: String,
    /// Key prefix the rule applies to; empty = the whole bucket.
    #[serde(default)]
    pub prefix: String,
    /// `Status = Enabled`.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Storage-class transitions, in order of days.
    #[serde(default)]
    pub transitions: Vec<Transition>,
    /// Delete current objects this many days after creation.
    #[serde(default)]
    pub expire_days: Option<u32>,
    /// Abort multipart uploads still incomplete this many days after they started.
    #[serde(default)]
    pub abort_multipart_days: Option<u32>,
    /// Delete noncurrent object versions this many days after they became noncurrent.
    #[serde(default)]
    pub noncurrent_expire_days: Option<u32>,
    /// Parts of an existing rule trainctl does not model (tag or size filters, dates, noncurrent
    /// transitions, delete-marker expiry...), in words. Kept verbatim on the server while the rule
    /// is not replaced; empty for every rule trainctl writes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other: Vec<String>,
}

fn yes() -> bool {
    true
}

impl Rule {
    /// An enabled rule with no actions yet.
    pub fn new(id: impl Into<String>, prefix: impl Into<String>) -> Self {
        Rule {
            id: id.into(),
            prefix: prefix.into(),
            enabled: true,
            transitions: vec![],
            expire_days: None,
            abort_multipart_days: None,
            noncurrent_expire_days: None,
            other: vec![],
        }
    }

    /// True when the rule has at least one action.
    pub fn has_action(&self) -> bool {
        !self.transitions.is_empty() || self.expire_days.is_some() || self.abort_multipart_days.is_some() || self.noncurrent_expire_days.is_some() || !self.other.is_empty()
    }

    /// The actions in words, one per item: `GLACIER_IR after 30 d`, `expire after 90 d`...
    pub fn describe(&self) -> Vec<String> {
        let mut out: Vec<String> = self.transitions.iter().map(|t| format!("to {} after {} d", t.storage_class, t.days)).collect();
        if let Some(d) = self.expire_days {
            out.push(format!("expire after {d} d"));
        }
        if let Some(d) = self.abort_multipart_days {
            out.push(format!("abort incomplete multipart uploads after {d} d"));
        }
        if let Some(d) = self.noncurrent_expire_days {
            out.push(format!("expire noncurrent versions after {d} d"));
        }
        out.extend(self.other.iter().cloned());
        out
    }

    /// `s3://bucket/prefix*` style scope for messages.
    pub fn scope(&self) -> String {
        if self.prefix.is_empty() {
            "whole bucket".to_string()
        } else {
            format!("prefix `{}`", self.prefix)
        }
    }
}

/// A bucket's lifecycle configuration as read from the server.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleConfig {
    pub bucket: String,
    /// The provider id of the profile it was read with (row of `data/quirks/providers.toml`).
    pub provider: String,
    /// Rules in server order. Empty when the bucket has no configuration.
    pub rules: Vec<Rule>,
    /// A hash of the configuration exactly as the server returned it. A plan made from it is
    /// applied only while the server still returns the same.
    pub fingerprint: String,
}

/// What the user wants: rules to create or replace (matched by id) and rule ids to remove.
/// Rules not named here are never touched.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleRequest {
    #[serde(default)]
    pub set: Vec<Rule>,
    #[serde(default)]
    pub remove: Vec<String>,
}

/// How one rule fares in a plan.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// A new rule (its id was not on the server).
    Added,
    /// A rule with this id exists and will be replaced by a different one.
    Changed,
    /// A rule with this id exists and already says exactly this.
    Unchanged,
    /// The user asked to remove this rule.
    Removed,
    /// A rule the request does not name: kept exactly as it is on the server.
    KeptUnrelated,
}

/// One line of the diff.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleChange {
    pub id: String,
    pub change: ChangeKind,
    /// The rule on the server (None for `added`).
    pub before: Option<Rule>,
    /// The rule after apply (None for `removed`).
    pub after: Option<Rule>,
    /// For `changed`: what differs, in words (`expire: 30 d → 60 d`).
    #[serde(default)]
    pub differences: Vec<String>,
}

/// Why a warning was raised; the UI keys on this, never on the message.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WarningCode {
    /// A transition or expiry comes before the minimum storage duration of the class the object
    /// is in at that point; AWS bills the remaining days anyway.
    MinStorageDuration,
    /// Objects under 128 KB: billed as 128 KB in IA / GLACIER_IR, and not transitioned by default.
    SmallObjects,
    /// Replacing a rule drops parts trainctl does not model (tag/size filters...).
    DropsUnmodelled,
    /// The new rule's prefix overlaps another rule's; both apply to the same objects.
    OverlapsOtherRule,
    /// The server's provider is known not to execute (part of) this rule.
    ProviderLimited,
}

/// A plain-words caveat about a rule in the plan.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warning {
    pub rule_id: String,
    pub code: WarningCode,
    pub message: String,
}

/// A merge of the server's rules with a request: the diff to show, the warnings to read, and the
/// fingerprint of the configuration it was made from. `apply` executes exactly this value.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecyclePlan {
    pub bucket: String,
    pub provider: String,
    /// [`LifecycleConfig::fingerprint`] of the configuration the plan was made from.
    pub base_fingerprint: String,
    /// Every rule: server rules in server order, then added ones.
    pub changes: Vec<RuleChange>,
    pub warnings: Vec<Warning>,
}

/// What [`super::apply`] did.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplyReport {
    pub bucket: String,
    /// False when the plan changed nothing and no call was made.
    pub written: bool,
    pub added: usize,
    pub changed: usize,
    pub removed: usize,
    pub kept: usize,
    /// Rules on the server after apply.
    pub rules_after: usize,
}
