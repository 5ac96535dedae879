//! S3 lifecycle rules: bucket-scale retention executed by S3 itself.
//!
//! Why: deleting old checkpoints from a laptop loop does not scale to a bucket; a lifecycle rule
//! ("abort stale multipart uploads after 7 days", "move checkpoints to GLACIER_IR after 30 days")
//! does, and costs nothing to run. But a bucket's lifecycle configuration is ONE document: a naive
//! put replaces every rule in it. So trainctl reads the configuration ([`read`]), merges the rules
//! it manages into it by id ([`plan`], never dropping or altering an unrelated rule), shows the
//! diff with the billing caveats ([`warnings`]), and writes it back only if the server still has
//! what the plan was made from ([`apply`]).

pub mod model;
pub mod plan;
pub mod remote;
pub mod savings;
pub mod warnings;

pub use model::{ApplyReport, ChangeKind, LifecycleConfig, LifecyclePlan, LifecycleRequest, Rule, RuleChange, StorageClass, Transition, Warning, WarningCode};
pub use plan::{default_rule_id, plan, preset_checkpoints};
pub use remote::{apply, read};
pub use savings::{rule_savings, savings, LifecycleSavings, RuleSavings, Versioning};
pub use warnings::warnings;
