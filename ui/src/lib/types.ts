/**
 * Types of everything that crosses IPC between the Tauri shell and this UI.
 *
 * Every payload type is GENERATED from its Rust type by ts-rs into `./generated/` (cargo feature
 * `ts`; `make bindings` rewrites them, `make test` fails when they are stale) and only re-exported
 * here — under the name the views use where that differs from the Rust name (`CheckpointRun` is
 * `checkpoint::Run`). Written by hand: `JobId` (a Rust alias), the event map (IPC names → payload
 * types, docs/ipc.md) and `DragDrop` (the webview's own drag event, for the drop overlay).
 * u64/i64/f64 are `number`.
 */

import type { Event } from './generated/Event';
import type { AppNotification } from './generated/AppNotification';
import type { CloseRequest } from './generated/CloseRequest';
import type { Dropped } from './generated/Dropped';
import type { ErrorInfo } from './generated/ErrorInfo';
import type { TransferRecord } from './generated/TransferRecord';
import type { WatchInfo } from './generated/WatchInfo';
import type { SyncPairInfo } from './generated/SyncPairInfo';
import type { Progress } from './generated/Progress';

// ---- core: errors, events, listings, profiles, transfers ------------------------------------
export type { ErrorInfo } from './generated/ErrorInfo';
export type { Scope } from './generated/Scope';
export type { Event } from './generated/Event';
export type { Direction } from './generated/Direction';
export type { Progress } from './generated/Progress';
export type { ObjectEntry } from './generated/ObjectEntry';
export type { CredentialSource } from './generated/CredentialSource';
export type { Profile } from './generated/Profile';
export type { ResolvedProfile } from './generated/ResolvedProfile';
export type { ProfileOrigin } from './generated/ProfileOrigin';
export type { TransferItem } from './generated/TransferItem';
export type { Outcome } from './generated/Outcome';

/** `event::JobId` (u64). */
export type JobId = number;

/** The payload of one core `Event` variant. */
export type EventOf<K extends Event['event']> = Extract<Event, { event: K }>;

// ---- the application layer (core `app`): connection, profiles, browsing, transfers ------------
export type { AppInfo } from './generated/AppInfo';
export type { ConnectionInfo } from './generated/ConnectionInfo';
export type { LocalGrant } from './generated/LocalGrant';
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
export type { AppNotification } from './generated/AppNotification';
export type { CloseRequest } from './generated/CloseRequest';
export type { Dropped } from './generated/Dropped';
export type { ObjectDetails } from './generated/ObjectDetails';
export type { ObjectVersion } from './generated/ObjectVersion';
export type { RestorePlan } from './generated/RestorePlan';
export type { RenamePlan } from './generated/RenamePlan';
export type { RenameReport } from './generated/RenameReport';
export type { Move } from './generated/Move';
export type { RenamePlanned } from './generated/RenamePlanned';
export type { ShareLink } from './generated/ShareLink';
export type { FolderInsights } from './generated/FolderInsights';
export type { CheckpointRow } from './generated/CheckpointRow';
export type { RunRow } from './generated/RunRow';
export type { FolderSize } from './generated/FolderSize';

/** Payload of `connection://lost` (core `Event::ConnectionLost`). */
export type ConnectionLost = Omit<EventOf<'connection_lost'>, 'event'>;
/** Payload of `connection://restored`. */
export type ConnectionRestored = Omit<EventOf<'connection_restored'>, 'event'>;

// ---- review & cost (the Dashboard; docs/review.md) ------------------------------------------
export type { Usage as ClassUsage } from './generated/Usage';
export type { Group as ReviewGroup } from './generated/Group';
export type { CheckpointSize } from './generated/CheckpointSize';
export type { RunGroup } from './generated/RunGroup';
export type { ObjectItem as ReviewObject } from './generated/ObjectItem';
export type { Hidden as ReviewHidden } from './generated/Hidden';
export type { References as ReviewReferences } from './generated/References';
export type { Pricing as ReviewPricing } from './generated/Pricing';
export type { Report as ReviewReport } from './generated/Report';
export type { SavingsAction } from './generated/SavingsAction';
export type { SavingsKind } from './generated/SavingsKind';
export type { ReviewOutcome } from './generated/ReviewOutcome';
export type { Snapshot as ReviewSnapshot } from './generated/Snapshot';
/** Payload of `review://progress`, about 4 a second. */
export type ReviewProgressEvent = EventOf<'review_progress'>;
export type { S3DedupPlan } from './generated/S3DedupPlan';
export type { DedupCopies } from './generated/DedupCopies';
export type { CompressEstimate } from './generated/CompressEstimate';
export type { CompressibleObject } from './generated/CompressibleObject';
export type { ComputeSpend } from './generated/ComputeSpend';
/** Payload of `dedup://progress`, once per group of copies deleted. */
export type DedupProgressEvent = EventOf<'dedup_progress'>;

// ---- checkpoints (the Checkpoints view; docs/checkpoints.md) ---------------------------------
export type { Layout as CheckpointLayout } from './generated/Layout';
export type { Completeness } from './generated/Completeness';
export type { FileEntry as CheckpointFile } from './generated/FileEntry';
export type { Checkpoint } from './generated/Checkpoint';
export type { Run as CheckpointRun } from './generated/Run';
export type { Action as PlanAction } from './generated/Action';
export type { PlanItem } from './generated/PlanItem';
export type { Plan as RetentionPlan } from './generated/Plan';
export type { Mode as MetricMode } from './generated/Mode';
export type { DetectForm } from './generated/DetectForm';
export type { KeepBestForm } from './generated/KeepBestForm';
export type { PolicyForm } from './generated/PolicyForm';
export type { CheckpointListing } from './generated/CheckpointListing';
export type { CleanupObject } from './generated/CleanupObject';
export type { CleanupPlan } from './generated/CleanupPlan';
export type { CleanupReport } from './generated/CleanupReport';
/** Payload of `checkpoint://deleted`. */
export type CheckpointDeletedEvent = EventOf<'checkpoint_deleted'>;
/** Payload of `checkpoint://cleanup-finished`. */
export type CleanupFinishedEvent = EventOf<'cleanup_finished'>;

// ---- lifecycle rules (docs/lifecycle.md) ------------------------------------------------------
export type { StorageClass as LifecycleStorageClass } from './generated/StorageClass';
export type { Transition as LifecycleTransition } from './generated/Transition';
export type { Rule as LifecycleRule } from './generated/Rule';
export type { LifecycleConfig } from './generated/LifecycleConfig';
export type { LifecycleRequest } from './generated/LifecycleRequest';
export type { ChangeKind as LifecycleChangeKind } from './generated/ChangeKind';
export type { RuleChange as LifecycleRuleChange } from './generated/RuleChange';
export type { WarningCode as LifecycleWarningCode } from './generated/WarningCode';
export type { Warning as LifecycleWarning } from './generated/Warning';
export type { LifecyclePlan } from './generated/LifecyclePlan';
export type { HeldLifecyclePlan } from './generated/HeldLifecyclePlan';
export type { ApplyReport as LifecycleApplyReport } from './generated/ApplyReport';
export type { LifecycleView } from './generated/LifecycleView';
export type { TransitionSavings as LifecycleTransitionSavings } from './generated/TransitionSavings';
export type { RuleSavings as LifecycleRuleSavings } from './generated/RuleSavings';
export type { LifecycleSavings } from './generated/LifecycleSavings';

// ---- watches and runs (docs/watch.md, docs/runs.md) ------------------------------------------
export type { WatchInfo } from './generated/WatchInfo';
export type { WatchLine } from './generated/WatchLine';
export type { WatchState } from './generated/WatchState';
export type { RunStatus } from './generated/RunStatus';
export type { StatusJudgement } from './generated/StatusJudgement';
export type { RunOverview } from './generated/RunOverview';
export type { ComputeCost } from './generated/ComputeCost';
export type { Series as MetricSeries } from './generated/Series';
export type { MetricsFormat } from './generated/MetricsFormat';
export type { RunMetrics } from './generated/RunMetrics';

// ---- two-way sync (docs/sync.md) ------------------------------------------------------------
export type { SyncPairInfo } from './generated/SyncPairInfo';
export type { SyncState } from './generated/SyncState';
export type { SyncPrompt } from './generated/SyncPrompt';
export type { SyncProgress } from './generated/SyncProgress';
export type { SyncConflict } from './generated/SyncConflict';
export type { SyncVersion } from './generated/SyncVersion';
export type { ConflictPolicy } from './generated/ConflictPolicy';

// ---- datasets (docs/datasets.md) ---------------------------------------------------------------
export type { DatasetRow } from './generated/DatasetRow';
export type { DatasetDetails } from './generated/DatasetDetails';
export type { DatasetTarget } from './generated/DatasetTarget';
export type { Diff as DatasetDiff } from './generated/Diff';
export type { VerifyReport as DatasetVerifyReport } from './generated/VerifyReport';
export type { StageReport as DatasetStageReport } from './generated/StageReport';
export type { Level as DatasetLevel } from './generated/Level';
export type { Entry as DatasetEntry } from './generated/Entry';

// ---- hand-written: the page's own shapes -----------------------------------------------------

/** The webview's drag-drop event (position in CSS pixels): drives the drop overlay. The drop
 * itself arrives from the shell as `drop://dropped` (grants, never raw paths). */
export type DragDrop =
  | { type: 'enter'; paths: string[]; x: number; y: number }
  | { type: 'over'; x: number; y: number }
  | { type: 'drop'; paths: string[]; x: number; y: number }
  | { type: 'leave' };

/** IPC event names and their payloads (docs/ipc.md; src-tauri/src/events.rs names them). */
export interface EventMap {
  'transfer://updated': TransferRecord;
  'watch://updated': WatchInfo;
  'watch://removed': number;
  'sync://updated': SyncPairInfo;
  'sync://removed': number;
  'notification://new': AppNotification;
  /** Linux: a popup's default action (a click) was invoked. */
  'notification://activated': AppNotification;
  'connection://lost': ConnectionLost;
  'connection://restored': ConnectionRestored;
  'checkpoint://deleted': CheckpointDeletedEvent;
  'checkpoint://cleanup-finished': CleanupFinishedEvent;
  'review://progress': ReviewProgressEvent;
  'dedup://progress': DedupProgressEvent;
  /** Files/bytes done by the Datasets view's verify or stage (throttled to 5/s). */
  'dataset://progress': Progress;
  'app://close-requested': CloseRequest;
  'drop://dropped': Dropped;
}
export type EventName = keyof EventMap;
