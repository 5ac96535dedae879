/**
 * The ONE module that talks to the Tauri shell. Every command of docs/ipc.md is a typed function
 * here; every IPC event is subscribed through [`onEvent`]; errors come back as [`ApiError`].
 *
 * Without a shell (`window.__TAURI_INTERNALS__` absent) calls fail with code `no_shell`: there is
 * no second backend in TypeScript (the app's behaviour lives once, in the Rust core). To see the
 * UI with data, run the app on the embedded demo (`make run`); unit tests pass their own backend.
 */

import { invoke as tauriInvoke } from '@tauri-apps/api/core';
import { listen as tauriListen } from '@tauri-apps/api/event';
import { getCurrentWebview } from '@tauri-apps/api/webview';
import type {
  AppInfo, BucketSummary, ConnectionInfo, DeletePlan, DeleteReport, DragDrop, ErrorInfo, EventMap,
  EventName, JobId, ListPage, AppNotification, LocalGrant, ProfileForm, ProfileSummary, TestReport, TransferRecord,
} from './types';
import { locationArg, rememberGrant } from './grants';
import type { ReviewOutcome, ReviewSnapshot, S3DedupPlan } from './types';

/** A failed command: the shell's `ErrorInfo` as a throwable with the stable `code`. */
export class ApiError extends Error {
  readonly code: string;
  readonly hint: string;
  readonly exitCode: number;
  private readonly scopeValue: ErrorInfo['scope'];

  constructor(info: Omit<ErrorInfo, 'scope'> & { scope?: ErrorInfo['scope'] }) {
    super(info.message);
    this.name = 'ApiError';
    this.code = info.code;
    this.hint = info.hint;
    this.exitCode = info.exit_code;
    this.scopeValue = info.scope ?? 'item';
  }

  /** The wire form again (for views that show `{message, hint}`). */
  get info(): ErrorInfo {
    return { code: this.code, message: this.message, hint: this.hint, exit_code: this.exitCode, scope: this.scope };
  }

  /** How far the failure reaches (`connection`: the endpoint cannot be reached). */
  get scope(): ErrorInfo['scope'] {
    return this.scopeValue;
  }

  /** Whatever `invoke` rejected with: an `ErrorInfo` object from our commands, or a plain string
   * from Tauri itself (unknown command, bad arguments, missing permission). */
  static from(e: unknown): ApiError {
    if (e instanceof ApiError) return e;
    if (e && typeof e === 'object' && 'code' in e && 'message' in e) {
      const o = e as Partial<ErrorInfo>;
      return new ApiError({ code: String(o.code), message: String(o.message), hint: o.hint ?? '', exit_code: o.exit_code ?? 1, scope: o.scope ?? 'item' });
    }
    const message = e instanceof Error ? e.message : String(e);
    return new ApiError({ code: 'internal', message, hint: 'this is a bug in trainctl; please report it', exit_code: 1 });
  }
}

/** What actually carries calls: the Tauri shell (unit tests pass their own). */
export interface Backend {
  invoke<T>(cmd: string, args?: Record<string, unknown>): Promise<T>;
  listen<K extends EventName>(name: K, cb: (payload: EventMap[K]) => void): Promise<() => void>;
  onDragDrop(cb: (d: DragDrop) => void): Promise<() => void>;
}

const tauriBackend: Backend = {
  invoke: (cmd, args) => tauriInvoke(cmd, args),
  listen: async (name, cb) => tauriListen(name, (e) => cb(e.payload as EventMap[typeof name])),
  onDragDrop: (cb) =>
    getCurrentWebview().onDragDropEvent((e) => {
      const p = e.payload;
      // Positions arrive in physical pixels; the DOM works in CSS pixels.
      const ratio = window.devicePixelRatio || 1;
      if (p.type === 'leave') cb({ type: 'leave' });
      else if (p.type === 'over') cb({ type: 'over', x: p.position.x / ratio, y: p.position.y / ratio });
      else cb({ type: p.type, paths: p.paths, x: p.position.x / ratio, y: p.position.y / ratio });
    }),
};

const noShell: ErrorInfo = {
  code: 'no_shell',
  message: 'the desktop shell is not running',
  hint: 'open this UI through trainctl-desktop (`make run` opens it on the embedded demo)',
  exit_code: 1,
  scope: 'job',
};

let backend: Promise<Backend> | null = null;

function getBackend(): Promise<Backend> {
  backend ??= (window as { __TAURI_INTERNALS__?: unknown }).__TAURI_INTERNALS__ ? Promise.resolve(tauriBackend) : Promise.reject(new ApiError(noShell));
  return backend;
}

/** Replaces the backend (unit tests). */
export function setBackend(b: Backend | null): void {
  backend = b ? Promise.resolve(b) : null;
}

async function call<T>(cmd: string, args?: Record<string, unknown>): Promise<T> {
  const b = await getBackend();
  try {
    return await b.invoke<T>(cmd, args);
  } catch (e) {
    throw ApiError.from(e);
  }
}

// ---- commands (docs/ipc.md) -------------------------------------------------------------------

export const appInfo = () => call<AppInfo>('app_info');
export const demoStart = () => call<ConnectionInfo>('demo_start');

export const profilesList = () => call<ProfileSummary[]>('profiles_list');
export const profileSave = (form: ProfileForm) => call<ProfileSummary>('profile_save', { form });
export const profileTest = (name: string) => call<TestReport>('profile_test', { name });
export const profileTestForm = (form: ProfileForm) => call<TestReport>('profile_test_form', { form });
export const profileRemove = (name: string) => call<void>('profile_remove', { name });
export const connect = (name: string) => call<ConnectionInfo>('connect', { name });

export const bucketsList = () => call<BucketSummary[]>('buckets_list');
export const objectsList = (bucket: string, prefix: string, token: string | null = null) =>
  call<ListPage>('objects_list', { bucket, prefix, token });

/** Uploads what was dropped, named by the grant tokens of its `drop://dropped` event. */
export const uploadDropped = (tokens: string[], bucket: string, prefix: string) =>
  call<TransferRecord>('upload_dropped', { tokens, bucket, prefix });
/** Downloads selected keys into a folder the user picked (`dest`: its grant token). */
export const downloadKeys = (bucket: string, keys: string[], dest: string) =>
  call<TransferRecord>('download_keys', { bucket, keys, dest });
// ---- the object panel (tags, metadata, share links, versions) --------------------------------
import type { ObjectDetails, ObjectVersion, RenamePlan, RenameReport, RestorePlan, ShareLink } from './types';

export const objectDetails = (bucket: string, key: string) => call<ObjectDetails>('object_details', { bucket, key });
/** Replaces the tags, unless the object is no longer the one with `etag` (`plan_stale`). */
export const objectTagsSet = (bucket: string, key: string, etag: string | null, tags: Record<string, string>) =>
  call<ObjectDetails>('object_tags_set', { bucket, key, etag, tags });
/** Replaces the user metadata, unless the object is no longer the one with `etag` (`plan_stale`). */
export const objectMetadataSet = (bucket: string, key: string, etag: string, metadata: Record<string, string>) =>
  call<ObjectDetails>('object_metadata_set', { bucket, key, etag, metadata });
/** A presigned download link valid for `expires_secs` (at most 7 days). */
export const shareLink = (bucket: string, key: string, expires_secs: number) => call<ShareLink>('share_link', { bucket, key, expires_secs });
export const objectVersions = (bucket: string, key: string) => call<ObjectVersion[]>('object_versions', { bucket, key });
/** Plans making an older version current; `versionRestoreApply(plan.plan_id)` applies it. */
export const versionRestorePlan = (bucket: string, key: string, version_id: string) => call<RestorePlan>('version_restore_plan', { bucket, key, version_id });
export const versionRestoreApply = (planId: number) => call<string | null>('version_restore_apply', { plan_id: planId });

import type { FolderInsights } from './types';
/** Checkpoints, runs and folder sizes of a folder (one capped recursive listing; `full` lifts the cap). */
export const folderInsights = (bucket: string, prefix: string, full = false) => call<FolderInsights>('folder_insights', { bucket, prefix, full });

/** A delete plan the shell holds; `deleteApply(plan.plan_id)` deletes exactly it. */
export const deletePlan = (bucket: string, keys: string[]) => call<DeletePlan>('delete_plan', { bucket, keys });
export const deleteApply = (planId: number) => call<DeleteReport>('delete_apply', { plan_id: planId });
export const renamePlan = (bucket: string, from: string, to: string) => call<RenamePlan>('rename_plan', { bucket, from, to });
export const renameApply = (planId: number) => call<RenameReport>('rename_apply', { plan_id: planId });

export const transferCancel = (job: JobId) => call<void>('transfer_cancel', { job });
export const transferRetry = (job: JobId) => call<TransferRecord>('transfer_retry', { job });
export const transfersList = () => call<TransferRecord[]>('transfers_list');
export const notificationsList = () => call<AppNotification[]>('notifications_list');

// ---- events, drag-drop, dialogs -------------------------------------------------------------------

/** Subscribes to one IPC event; resolves to the unsubscribe function. */
export async function onEvent<K extends EventName>(name: K, cb: (payload: EventMap[K]) => void): Promise<() => void> {
  return (await getBackend()).listen(name, cb);
}

/** Subscribes to OS file drags over the window (paths of dropped files and folders). */
export async function onDragDrop(cb: (d: DragDrop) => void): Promise<() => void> {
  return (await getBackend()).onDragDrop(cb);
}

/** The native folder dialog (in the shell); the folder comes back as a grant (token + path for
 * display), `null` when the user cancels. */
export async function pickFolder(title: string): Promise<LocalGrant | null> {
  const grant = await call<LocalGrant | null>('pick_folder', { title });
  if (grant) rememberGrant(grant);
  return grant;
}

/** TEST-ONLY (e2e builds of the shell): drops paths on the window as an OS drop would. */
export const e2eDrop = (paths: string[], x: number, y: number) => call<void>('e2e_drop', { paths, x, y });

// ---- review & cost (issue #5: Dashboard) --------------------------------------------------------

/** Reviews `s3://bucket/prefix` on the current connection: the core Report (priced) plus ranked
 * savings actions; stores a local snapshot for the growth chart. Over `budget_usd` (USD/month)
 * the shell pops up a warning. Progress arrives as `review://progress`. */
export const reviewRun = (bucket: string, prefix: string, budget_usd: number | null = null) =>
  call<ReviewOutcome>('review_run', { bucket, prefix, budget_usd });
/** Plans the Dashboard's "deduplicate" action on `s3://bucket/prefix`: one copy of each group
 * stays; `dedupApply(plan.plan_id)` deletes exactly the others. Progress: `dedup://progress`. */
export const dedupPlan = (bucket: string, prefix: string) => call<S3DedupPlan>('dedup_plan', { bucket, prefix });
export const dedupApply = (planId: number) => call<DeleteReport>('dedup_apply', { plan_id: planId });
/** Stops the review in progress (it then rejects with code `cancelled`). */
export const reviewCancel = () => call<void>('review_cancel');
/** Local review snapshots of one location (`s3://bucket/prefix/`), oldest first. */
export const reviewSnapshots = (location: string) => call<ReviewSnapshot[]>('review_snapshots', { location });

// ---- checkpoints (issue #4: Checkpoints view, cleanup planner, lifecycle editor) ---------------
// Locations are `s3://bucket/prefix/` on the current connection or an absolute local folder.

import type { CheckpointListing, CleanupPlan, CleanupReport, DetectForm, PolicyForm } from './types';

/** Runs and checkpoints at a location (plus the ids pinned there). */
export const checkpointsDiscover = (location: string, detect: DetectForm | null = null) =>
  call<CheckpointListing>('checkpoints_discover', { location: locationArg(location), detect });
/** A cleanup plan for one run (`run`) or every run (`null`); the shell keeps it under `plan_id`. */
export const checkpointsPlan = (location: string, run: string | null, policy: PolicyForm, detect: DetectForm | null = null) =>
  call<CleanupPlan>('checkpoints_plan', { location: locationArg(location), run, policy, detect });
/** Deletes exactly the stored plan; rejects with code `plan_stale` (nothing deleted) when the
 * checkpoints changed since. Progress: `checkpoint://deleted`, `checkpoint://cleanup-finished`. */
export const checkpointsApply = (plan_id: number) => call<CleanupReport>('checkpoints_apply', { plan_id });
/** Pins (or unpins) checkpoint ids at the location; resolves to the new pin set. */
export const checkpointsPin = (location: string, ids: string[], pin: boolean) =>
  call<string[]>('checkpoints_pin', { location: locationArg(location), ids, pin });

// ---- platform: closing the window with transfers running (src-tauri/src/close.rs) ----------------

/** "Keep going in the tray": hides the window, transfers go on. */
export const closeKeepInTray = () => call<void>('close_keep_in_tray');
/** "Stop transfers and quit": stops every job cleanly (each is offered again, as interrupted, at the next start), then the app exits. */
export const closeCancelAndQuit = () => call<void>('close_cancel_and_quit');

// ---- watches (issue #6: src-tauri/src/commands_watch.rs) ----------------------------------------
import type { WatchInfo } from './types';

export const watchesList = () => call<WatchInfo[]>('watches_list');
export const watchAdd = (url: string, interval_secs: number | null = null, stall_after: number | null = null) =>
  call<WatchInfo>('watch_add', { url, interval_secs, stall_after });
export const watchPause = (id: number) => call<WatchInfo>('watch_pause', { id });
export const watchResume = (id: number) => call<WatchInfo>('watch_resume', { id });
export const watchRemove = (id: number) => call<void>('watch_remove', { id });

import type { HeldLifecyclePlan, LifecycleApplyReport, LifecycleRequest, LifecycleSavings, LifecycleView } from './types';

/** The bucket's lifecycle rules and the trainctl rule for the location's prefix. Errors:
 * `lifecycle_unsupported` when the server does not implement lifecycle rules. */
export const lifecycleShow = (location: string) => call<LifecycleView>('lifecycle_show', { location });
/** Merges the request into the bucket's current rules: the diff and warnings (nothing written),
 * held by the shell under `plan_id`. */
export const lifecyclePlan = (location: string, request: LifecycleRequest) => call<HeldLifecyclePlan>('lifecycle_plan', { location, request });
/** What held plan `planId` saves on the objects stored now (or `afterDays` from now), priced with
 * the connection's table; `table: null` + `not_estimated_because` when none applies. */
export const lifecycleSavings = (planId: number, afterDays = 0) => call<LifecycleSavings>('lifecycle_savings', { plan_id: planId, after_days: afterDays });
/** Writes exactly held plan `planId` (rejects with `plan_stale` if the rules changed since). */
export const lifecycleApply = (planId: number) => call<LifecycleApplyReport>('lifecycle_apply', { plan_id: planId });

// ---- runs (issue #6: Runs view; src-tauri/src/commands_runs.rs) --------------------------------
import type { RunMetrics, RunOverview } from './types';

/** Runs under a location (`s3://bucket/prefix/` or an absolute folder) with status and progress. */
export const runsList = (location: string) => call<RunOverview[]>('runs_list', { location: locationArg(location) });
/** One run's metric series, from `source` (relative to the location) or its best source. */
export const runMetrics = (location: string, run: string, source: string | null = null) =>
  call<RunMetrics>('run_metrics', { location: locationArg(location), run, source });

// ---- desktop start-up trace (issue #3; src-tauri/src/startup.rs, ui/src/lib/startup.ts) ----------

/** The page's start-up marks `[what, wall-clock ms]`; the shell prints them only when tracing. */
export const startupTrace = (marks: [string, number][]) => call<void>('startup_trace', { marks });

// ---- two-way sync (issue #12: Sync view; docs/sync.md) -----------------------------------------
import type { ConflictPolicy, SyncPairInfo } from './types';

export const syncPairsList = () => call<SyncPairInfo[]>('sync_pairs_list');
/** Pairs a folder the user picked or dropped (`localToken`: its grant) with `s3://bucket/prefix/`. */
export const syncPairAdd = (localToken: string, remote: string) => call<SyncPairInfo>('sync_pair_add', { local: localToken, remote });
export const syncPairRemove = (id: number) => call<void>('sync_pair_remove', { id });
/** "Sync now": the shell looks first; deletions come back as the row's `prompt`, conflicts as its
 * `conflicts`; the row follows on `sync://updated`. */
export const syncRun = (id: number) => call<SyncPairInfo>('sync_run', { id });
/** Applies exactly the deletions the prompt `planId` listed (`plan_stale` when the world moved). */
export const syncConfirm = (planId: number) => call<SyncPairInfo>('sync_confirm', { plan_id: planId });
/** Decides one listed conflict: `keep-both`, `local` or `remote`, then syncs. */
export const syncResolve = (id: number, path: string, choice: ConflictPolicy) => call<SyncPairInfo>('sync_resolve', { id, path, choice });
/** Continuous sync on (a pass on every local change and every interval, tray too) or off. */
export const syncSetContinuous = (id: number, on: boolean) => call<SyncPairInfo>('sync_set_continuous', { id, on });

// ---- datasets (issue #13: Datasets view; trainctl_core::app::datasets) -------------------------
import type { DatasetDetails, DatasetDiff, DatasetLevel, DatasetRow, DatasetStageReport, DatasetTarget, DatasetVerifyReport } from './types';

/** Versions in `store` (`s3://bucket/` or a manifests prefix; `local`), or in every store this
 * machine has cached when `null`. */
export const datasetsList = (store: string | null) => call<DatasetRow[]>('datasets_list', { store });
/** One version (`NAME@VERSION`): its header and first files. */
export const datasetShow = (store: string, reference: string) => call<DatasetDetails>('dataset_show', { store, reference });
/** What changed from one version to another. */
export const datasetDiff = (store: string, from: string, to: string) => call<DatasetDiff>('dataset_diff', { store, from, to });
/** Verifies a version where it was snapshotted (`{kind: 'source'}`) or in a granted folder. */
export const datasetVerify = (store: string, reference: string, target: DatasetTarget, level: DatasetLevel) =>
  call<DatasetVerifyReport>('dataset_verify', { store, reference, target, level });
/** Stages a version into `NAME-VERSION/` inside a granted folder, verified at `verify`. */
export const datasetStage = (store: string, reference: string, folderGrant: string, verify: DatasetLevel) =>
  call<DatasetStageReport>('dataset_stage', { store, reference, folder_grant: folderGrant, verify });
