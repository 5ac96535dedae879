/**
 * Types of everything that crosses IPC between the Tauri shell and this UI.
 *
 * Types that exist in Rust are GENERATED from the Rust types by ts-rs into `./generated/` (cargo
 * feature `ts`; `make bindings` rewrites them, `make test` fails when they are stale) and only
 * re-exported here, so a renamed Rust field breaks `tsc` instead of a window. Types written by
 * hand below have no Rust twin (unions of codes, event maps, UI-only shapes) or are still to be
 * converted (see docs/ipc.md, "Generated types"). u64/i64/f64 are `number`.
 */

// ---- crates/trainctl-core/src/error.rs ------------------------------------------------------

export type { ErrorInfo } from './generated/ErrorInfo';
import type { ErrorInfo } from './generated/ErrorInfo';
import type { Direction } from './generated/Direction';
import type { Progress } from './generated/Progress';
import type { ObjectEntry } from './generated/ObjectEntry';
import type { CredentialSource } from './generated/CredentialSource';

/** Every `Error::code()` value; the UI may branch on these (e.g. connection-class errors). */
export type ErrorCode =
  | 'usage' | 'bad_url' | 'config_corrupt' | 'unknown_profile' | 'local_missing' | 'local_kind'
  | 'local_io' | 'disk_full' | 'no_credentials' | 'bad_access_key' | 'bad_secret' | 'access_denied'
  | 'no_such_bucket' | 'not_found' | 'unreachable' | 'dns' | 'tls' | 's5cmd_missing' | 's5cmd_failed'
  | 'integrity' | 'unsafe_key' | 'partial' | 'cancelled' | 'not_confirmed' | 's3_error' | 'keychain'
  | 'internal';

// ---- crates/trainctl-core/src/event.rs ------------------------------------------------------

/** `JobId` (u64). */
export type JobId = number;

export type { Direction } from './generated/Direction';
export type { Progress } from './generated/Progress';
import type { Event as CoreEvent } from './generated/Event';

/** `Event` (generated: internally tagged by `event`), plus the shell's own `transfer_failed`
 * (src-tauri/src/events.rs: the engine returned `Err`, the whole job stopped). */
export type Event = CoreEvent | { event: 'transfer_failed'; job: JobId; error: ErrorInfo };

/** Helper: the payload of one `Event` variant. */
export type EventOf<K extends Event['event']> = Extract<Event, { event: K }>;

// ---- crates/trainctl-core/src/s3/list.rs ----------------------------------------------------

export type { ObjectEntry } from './generated/ObjectEntry';

// ---- crates/trainctl-core/src/config/profile.rs ---------------------------------------------

export type { CredentialSource } from './generated/CredentialSource';
/** `Profile`: config.toml form (absent options are omitted by serde, hence `?:`). */
export type { Profile } from './generated/Profile';
export type { ResolvedProfile } from './generated/ResolvedProfile';

// ---- crates/trainctl-core/src/transfer/mod.rs -----------------------------------------------

export type { TransferItem } from './generated/TransferItem';
export type { Outcome } from './generated/Outcome';

// ---- shell: src-tauri (types the desktop commands return; see docs/ipc.md) ------------------

/** Generated from src-tauri/src/types.rs (docs/ipc.md has the field-level contract). */
export type { AppInfo } from './generated/AppInfo';
export type { ConnectionInfo } from './generated/ConnectionInfo';
export type { ProfileSummary } from './generated/ProfileSummary';
export type { ProfileForm } from './generated/ProfileForm';
export type { TestReport } from './generated/TestReport';
export type { BucketSummary } from './generated/BucketSummary';
export type { ListPage } from './generated/ListPage';
export type { DeleteItem } from './generated/DeleteItem';
export type { DeletePlan } from './generated/DeletePlan';
export type { DeleteFailure } from './generated/DeleteFailure';
export type { DeleteReport } from './generated/DeleteReport';
export type { TransferState } from './generated/TransferState';
export type { TransferFailure } from './generated/TransferFailure';
export type { TransferRecord } from './generated/TransferRecord';
export type { NotificationLevel } from './generated/NotificationLevel';
export type { ConnectionLost } from './generated/ConnectionLost';
export type { ConnectionRestored } from './generated/ConnectionRestored';
export type { ProfileOrigin } from './generated/ProfileOrigin';
import type { DeleteFailure } from './generated/DeleteFailure';
import type { NotificationLevel } from './generated/NotificationLevel';

/** shell `AppNotification`: every native popup, mirrored in the in-app list. Hand-written (an
 * interface) because other sections extend it by declaration merging (watches: `link`). */
export interface AppNotification {
  id: number;
  level: NotificationLevel;
  title: string;
  body: string;
  /** Seconds since the Unix epoch. */
  at: number;
  job: JobId | null;
}
import type { ConnectionLost } from './generated/ConnectionLost';
import type { ConnectionRestored } from './generated/ConnectionRestored';

/** shell `DragDrop`: what the drop handler sees (from the webview drag-drop event). */
export type DragDrop =
  | { type: 'enter'; paths: string[]; x: number; y: number }
  | { type: 'over'; x: number; y: number }
  | { type: 'drop'; paths: string[]; x: number; y: number }
  | { type: 'leave' };

/** IPC event names and their payloads (see docs/ipc.md). */
export interface EventMap {
  'transfer://started': EventOf<'transfer_started'>;
  'transfer://progress': EventOf<'progress'>;
  'transfer://object-failed': EventOf<'object_failed'>;
  'transfer://finished': EventOf<'transfer_finished'>;
  'transfer://failed': EventOf<'transfer_failed'>;
  'notification://new': AppNotification;
  /** Linux: a popup's default action (a click) was invoked. */
  'notification://activated': AppNotification;
  'connection://lost': ConnectionLost;
  'connection://restored': ConnectionRestored;
  'app://close-requested': CloseRequest;
  'review://progress': ReviewProgressEvent;
}
export type EventName = keyof EventMap;

// ---- review & cost (issue #5: Dashboard) -------------------------------------------------------
// The core `review::Report` exactly as `trainctl s3 review --json` prints it (docs/review.md), and
// what the shell adds around it (`ReviewOutcome`: savings actions; `ReviewSnapshot`: history).
// `ui/src/lib/review.ts` shapes them for the charts. Prefixes and run ids are relative to the
// reviewed location.

/** core `cost::Usage`: stored usage of one storage class. */
export interface ClassUsage {
  storage_class: string;
  bytes: number;
  objects: number;
  /** Objects below 128 KiB (billed as 128 KiB in the IA and Glacier classes) and their bytes. */
  small_objects: number;
  small_bytes: number;
}

/** core `review::Group`: a prefix, a storage class, an age band, or `total`. */
export interface ReviewGroup {
  name: string;
  objects: number;
  bytes: number;
  /** USD per month; `null` when no price table applies (see `pricing.missing`). */
  monthly_usd: number | null;
  classes: ClassUsage[];
}

/** core `review::CheckpointSize`. `id` ends with `/` for directory checkpoints. */
export interface CheckpointSize {
  id: string;
  layout: string;
  step: number | null;
  objects: number;
  bytes: number;
  last_modified: number | null;
}

/** core `review::RunGroup`: a training run found by its checkpoints. */
export interface RunGroup {
  run: string;
  total: ReviewGroup;
  checkpoints: number;
  checkpoint_bytes: number;
  checkpoint_objects: number;
  /** Oldest step first. */
  checkpoint_sizes: CheckpointSize[];
  last_modified: number | null;
}

/** core `review::ObjectItem`. */
export interface ReviewObject {
  key: string;
  bytes: number;
  storage_class: string;
  last_modified: number | null;
}

/** core `review::Hidden`: what the bill counts and a listing does not show. */
export interface ReviewHidden {
  multipart_uploads: number;
  multipart_parts: number;
  multipart_bytes: number;
  oldest_upload: number | null;
  versioning: string | null;
  noncurrent_versions: number;
  noncurrent_bytes: number;
  delete_markers: number;
  monthly_usd: number | null;
  classes: ClassUsage[];
}

/** core `review::Pricing`. */
export interface ReviewPricing {
  provider: string | null;
  region: string | null;
  missing: string | null;
}

/** core `review::Report`. */
export interface ReviewReport {
  version: number;
  location: string;
  source: 'listing' | 'inventory';
  manifest?: string | null;
  generated_at: number;
  elapsed_ms: number;
  totals: ReviewGroup;
  by_prefix: ReviewGroup[];
  by_storage_class: ReviewGroup[];
  by_age: ReviewGroup[];
  by_run: RunGroup[];
  largest_objects: ReviewObject[];
  largest_prefixes: ReviewGroup[];
  hidden: ReviewHidden | null;
  pricing: ReviewPricing;
  unseen: string[];
}

/** core `cost::SavingsAction`: a cleanup or lifecycle change and what it saves (ranked by `cost::suggest_savings`). */
export interface SavingsAction {
  kind: 'cleanup' | 'lifecycle';
  /** Human sentence: `Delete 4 old checkpoints of llama-7b-sft/ (keep the newest 2)`. */
  title: string;
  bucket: string;
  /** Absolute prefix the action applies to (the run, or the prefix a rule would filter on). */
  prefix: string;
  objects: number;
  bytes: number;
  monthly_usd_saved: number;
  /** Early-deletion and transition-request charges, once. */
  one_time_usd: number;
}

/** shell `ReviewOutcome`: what `review_run` returns. */
export interface ReviewOutcome {
  report: ReviewReport;
  /** Best first. */
  savings: SavingsAction[];
}

/** core `review::snapshots::Snapshot`: the summary of one past review (local history, for the
 * growth chart). */
export interface ReviewSnapshot {
  generated_at: number;
  location: string;
  source: 'listing' | 'inventory';
  totals: ReviewGroup;
  by_storage_class: ReviewGroup[];
  by_prefix: ReviewGroup[];
}

/** Payload of `review://progress` (core `Event::ReviewProgress`), about 4 a second. */
export interface ReviewProgressEvent {
  event: 'review_progress';
  objects: number;
  bytes: number;
  /** Listing units (prefixes, or inventory data files) done, out of those known so far. */
  units_done: number;
  units_total: number;
}

// ---- checkpoints (issue #4: Checkpoints view, cleanup planner, lifecycle editor) ---------------
// core `checkpoint::{Run, Checkpoint, Plan, …}` (crates/trainctl-core/src/checkpoint/) as serde
// emits them, and the shell types of src-tauri/src/commands_checkpoints.rs (docs/ipc.md).

/** core `checkpoint::Layout`. */
export type CheckpointLayout =
  | 'hf_trainer' | 'lightning' | 'deep_speed' | 'megatron' | 'torch_dcp' | 'step_file'
  | 'sharded_safetensors' | 'success_marker' | 'pattern';

/** core `checkpoint::Completeness` (internally tagged by `state`). */
export type Completeness = { state: 'complete' } | { state: 'incomplete'; reason: string };

/** core `checkpoint::FileEntry`: a path relative to the location. */
export interface CheckpointFile {
  path: string;
  size: number;
  mtime: number | null;
}

/** core `checkpoint::Checkpoint`. `id` is relative to the location; directories end with `/`. */
export interface Checkpoint {
  run: string;
  id: string;
  layout: CheckpointLayout;
  step: number | null;
  epoch: number | null;
  metrics: Record<string, number>;
  files: CheckpointFile[];
  bytes: number;
  last_modified: number | null;
  complete: Completeness;
  /** Set when the framework relies on it (`last.ckpt`, HF `best_model_checkpoint`): always kept. */
  framework_keep: string | null;
}

/** core `checkpoint::Run`: the checkpoints of one directory, oldest first. */
export interface CheckpointRun {
  name: string;
  checkpoints: Checkpoint[];
}

/** core `checkpoint::Action`. */
export type PlanAction = 'keep' | 'delete';

/** core `checkpoint::PlanItem`. */
export interface PlanItem {
  checkpoint: Checkpoint;
  action: PlanAction;
  reasons: string[];
}

/** core `checkpoint::Plan`: one run's verdicts. */
export interface RetentionPlan {
  run: string;
  items: PlanItem[];
  bytes_reclaimed: number;
}

/** shell `DetectForm`: how checkpoints are recognised (`grace_secs` null → 60 s). */
export interface DetectForm {
  grace_secs: number | null;
  pattern: string | null;
}

/** shell `KeepBestForm`. */
export interface KeepBestForm {
  k: number;
  metric: string;
  mode: 'min' | 'max';
}

/** shell `PolicyForm`: the CLI's retention flags. */
export interface PolicyForm {
  keep_last_n: number | null;
  keep_best: KeepBestForm | null;
  keep_every: number | null;
  keep_since_secs: number | null;
  force_all: boolean;
}

/** shell `CheckpointListing`: what `checkpoints_discover` returns. */
export interface CheckpointListing {
  location: string;
  runs: CheckpointRun[];
  pins: string[];
  checkpoints: number;
  bytes: number;
}

/** shell `CleanupObject`: one S3 key (or absolute local path) a cleanup deletes. */
export interface CleanupObject {
  checkpoint: string;
  key: string;
  size: number;
}

/** shell `CleanupPlan`: a stored plan; `checkpoints_apply(plan_id)` deletes exactly it. */
export interface CleanupPlan {
  plan_id: number;
  location: string;
  run: string | null;
  plans: RetentionPlan[];
  checkpoints_deleted: number;
  objects: CleanupObject[];
  bytes_reclaimed: number;
  monthly_usd_saved: number;
}

/** shell `CleanupReport`. */
export interface CleanupReport {
  checkpoints_deleted: number;
  objects_deleted: number;
  bytes_reclaimed: number;
  failed: DeleteFailure[];
  seconds: number;
}

/** core `Event::CheckpointDeleted` (`checkpoint://deleted`). */
export interface CheckpointDeletedEvent {
  event: 'checkpoint_deleted';
  id: string;
  objects: number;
  bytes: number;
}

/** core `Event::CleanupFinished` (`checkpoint://cleanup-finished`). */
export interface CleanupFinishedEvent {
  event: 'cleanup_finished';
  checkpoints_deleted: number;
  objects_deleted: number;
  objects_failed: number;
  bytes_reclaimed: number;
  seconds: number;
}

// Declaration merging: the checkpoint events join `EventMap` without editing it above.
export interface EventMap {
  'checkpoint://deleted': CheckpointDeletedEvent;
  'checkpoint://cleanup-finished': CleanupFinishedEvent;
}

// ---- platform (src-tauri/src/close.rs) ------------------------------------------------------

/** shell `CloseRequest`: payload of `app://close-requested` (labels of the running transfers). */
export type { CloseRequest } from './generated/CloseRequest';
import type { CloseRequest } from './generated/CloseRequest';

// ---- watches (issue #6: src-tauri/src/commands_watch.rs, core `watch`) -------------------------

/** shell `WatchInfo`: one watch as the Watches view shows it (`watches_list`, `watch://updated`). */
export interface WatchInfo {
  id: number;
  /** `s3://bucket/prefix/` */
  url: string;
  interval_secs: number;
  stall_after: number;
  paused: boolean;
  status: 'running' | 'paused' | 'waiting' | 'stalled' | 'finished' | 'error' | 'no_connection';
  last_event: string | null;
  last_event_at: number | null;
  checkpoints: number;
  last_checkpoint: string | null;
  last_step: number | null;
  /** Newest first. */
  recent: WatchLine[];
}

/** shell `WatchLine`: one line of a watch's history; `link` is the run's `s3://` prefix. */
export interface WatchLine {
  at: number;
  kind: string;
  text: string;
  link: string;
}

export interface EventMap {
  'watch://updated': WatchInfo;
  'watch://removed': number;
}

/** shell `AppNotification.link` (watch popups): the `s3://` prefix a click opens. */
export interface AppNotification {
  link?: string | null;
}

// core `lifecycle` (docs/lifecycle.md) and the shell's `LifecycleView`.

/** core `lifecycle::StorageClass`. */
export type LifecycleStorageClass = 'STANDARD_IA' | 'INTELLIGENT_TIERING' | 'ONEZONE_IA' | 'GLACIER_IR' | 'GLACIER' | 'DEEP_ARCHIVE';

/** core `lifecycle::Transition`. */
export interface LifecycleTransition {
  days: number;
  storage_class: LifecycleStorageClass;
}

/** core `lifecycle::Rule` (`other`: parts trainctl does not model, in words; never sent). */
export interface LifecycleRule {
  id: string;
  prefix: string;
  enabled: boolean;
  transitions: LifecycleTransition[];
  expire_days: number | null;
  abort_multipart_days: number | null;
  noncurrent_expire_days: number | null;
  other?: string[];
}

/** core `lifecycle::LifecycleConfig`. */
export interface LifecycleConfig {
  bucket: string;
  provider: string;
  rules: LifecycleRule[];
  fingerprint: string;
}

/** core `lifecycle::LifecycleRequest`: rules to add/replace by id, ids to remove. */
export interface LifecycleRequest {
  set: LifecycleRule[];
  remove: string[];
}

/** core `lifecycle::ChangeKind`. */
export type LifecycleChangeKind = 'added' | 'changed' | 'unchanged' | 'removed' | 'kept_unrelated';

/** core `lifecycle::RuleChange`. */
export interface LifecycleRuleChange {
  id: string;
  change: LifecycleChangeKind;
  before: LifecycleRule | null;
  after: LifecycleRule | null;
  differences: string[];
}

/** core `lifecycle::WarningCode`. */
export type LifecycleWarningCode = 'min_storage_duration' | 'small_objects' | 'drops_unmodelled' | 'overlaps_other_rule' | 'provider_limited';

/** core `lifecycle::Warning`. */
export interface LifecycleWarning {
  rule_id: string;
  code: LifecycleWarningCode;
  message: string;
}

/** core `lifecycle::LifecyclePlan`: sent back unchanged to `lifecycle_apply`. */
export interface LifecyclePlan {
  bucket: string;
  provider: string;
  base_fingerprint: string;
  changes: LifecycleRuleChange[];
  warnings: LifecycleWarning[];
}

/** core `lifecycle::ApplyReport`. */
export interface LifecycleApplyReport {
  bucket: string;
  written: boolean;
  added: number;
  changed: number;
  removed: number;
  kept: number;
  rules_after: number;
}

/** shell `LifecycleView`: the bucket's rules and the trainctl rule for the location's prefix. */
export interface LifecycleView {
  config: LifecycleConfig;
  prefix: string;
  /** The trainctl rule on the server, or the checkpoint preset when there is none yet. */
  suggested: LifecycleRule;
  exists: boolean;
}

/** core `cost::TransitionSavings` (one target class of a lifecycle rule). */
export interface LifecycleTransitionSavings {
  table: string;
  to_class: string;
  objects_moved: number;
  bytes_moved: number;
  objects_staying: number;
  monthly_before_usd: number;
  monthly_after_usd: number;
  monthly_savings_usd: number;
  transition_usd: number;
  early_deletion_usd: number;
  payback_months: number | null;
}

/** core `lifecycle::RuleSavings`: what one added/changed rule does to today's objects. */
export interface LifecycleRuleSavings {
  rule_id: string;
  change: LifecycleChangeKind;
  prefix: string;
  objects: number;
  bytes: number;
  transitions: LifecycleTransitionSavings[];
  expired_objects: number;
  expired_bytes: number;
  objects_later: number;
  bytes_later: number;
  small_objects_staying: number;
  monthly_savings_usd: number;
  transition_usd: number;
  early_deletion_usd: number;
  one_time_usd: number;
  net_first_month_usd: number;
  payback_months: number | null;
  notes: string[];
}

/** core `lifecycle::LifecycleSavings` (`lifecycle_savings`): `table` null = not estimated, see why. */
export interface LifecycleSavings {
  bucket: string;
  table: string | null;
  table_name: string | null;
  table_date: string | null;
  table_source: string | null;
  not_estimated_because: string | null;
  rules: LifecycleRuleSavings[];
  monthly_savings_usd: number | null;
  one_time_usd: number | null;
  net_first_month_usd: number | null;
  payback_months: number | null;
  listed_objects: number;
  generated_at: number;
  after_days: number;
  notes: string[];
}

// ---- runs (issue #6: Runs view; core runs::overview, src-tauri/src/commands_runs.rs) ----------

export type RunStatus = 'running' | 'finished' | 'stalled' | 'unknown';

/** core `runs::status::StatusJudgement`. */
export interface StatusJudgement {
  status: RunStatus;
  cadence_secs: number | null;
  silent_secs: number | null;
  reason: string;
}

/** core `runs::overview::RunOverview`. */
export interface RunOverview {
  name: string;
  root: string;
  status: StatusJudgement;
  latest_step: number | null;
  total_steps: number | null;
  checkpoints: number;
  complete: number;
  bytes: number;
  last_activity: number | null;
  steps_per_sec: number | null;
  eta_secs: number | null;
  metric_sources: string[];
  latest_checkpoint: string | null;
}

/** core `runs::metrics::Series`: `steps[i]` is the x of `values[i]`. */
export interface MetricSeries {
  name: string;
  steps: number[];
  values: number[];
}

/** core `runs::overview::RunMetrics`. */
export interface RunMetrics {
  run: string;
  source: string;
  format: 'trainer_state' | 'csv' | 'lines';
  series: MetricSeries[];
  skipped: number;
  last_step: number | null;
  total_steps: number | null;
}
