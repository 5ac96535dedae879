/**
 * Types of everything that crosses IPC between the Tauri shell and this UI.
 *
 * Names are the Rust type names and fields are spelled exactly as serde emits them (snake_case),
 * so that a file generated from the Rust types (ts-rs / specta) can replace this one 1:1.
 * Sections say which Rust file each type mirrors; "shell:" types are owned by `src-tauri`
 * (see docs/ipc.md). u64/i64/f64 become `number` (job ids and byte counts stay far below 2^53).
 */

// ---- crates/trainctl-core/src/error.rs ------------------------------------------------------

/** `ErrorInfo`: the wire form of `trainctl_core::Error`. The UI keys on `code`, never on `message`. */
export interface ErrorInfo {
  code: string;
  message: string;
  hint: string;
  exit_code: number;
}

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

/** `Direction`. */
export type Direction = 'upload' | 'download';

/** `Progress`: a snapshot of a job's progress. */
export interface Progress {
  job: JobId;
  bytes_done: number;
  bytes_total: number;
  objects_done: number;
  objects_total: number;
  bytes_per_sec: number;
  eta_secs: number | null;
}

/** `Event` (serde: internally tagged by `event`, snake_case variant names). */
export type Event =
  | { event: 'transfer_started'; job: JobId; direction: Direction; engine: string; objects_total: number; bytes_total: number; skipped: number }
  | ({ event: 'progress' } & Progress)
  | { event: 'object_done'; job: JobId; key: string; local: string; bytes: number }
  | { event: 'object_skipped'; job: JobId; key: string; reason: string }
  | { event: 'object_failed'; job: JobId; key: string; error: ErrorInfo }
  | { event: 'transfer_finished'; job: JobId; objects_done: number; objects_failed: number; objects_skipped: number; bytes_done: number; seconds: number }
  | { event: 'notice'; message: string }
  /** Proposed core variant `Event::TransferFailed` (the engine returned `Err`: the whole job stopped). */
  | { event: 'transfer_failed'; job: JobId; error: ErrorInfo };

/** Helper: the payload of one `Event` variant. */
export type EventOf<K extends Event['event']> = Extract<Event, { event: K }>;

// ---- crates/trainctl-core/src/s3/list.rs ----------------------------------------------------

/** `ObjectEntry`: one object (or common prefix) from a listing. */
export interface ObjectEntry {
  key: string;
  size: number;
  /** Seconds since the Unix epoch. */
  last_modified: number | null;
  etag: string | null;
  storage_class: string | null;
  is_prefix: boolean;
}

// ---- crates/trainctl-core/src/config/profile.rs ---------------------------------------------

/** `CredentialSource` (serde: internally tagged by `type`). Never the secret itself. */
export type CredentialSource =
  | { type: 'aws_chain' }
  | { type: 'aws_profile'; name: string }
  | { type: 'keychain'; access_key_id: string };

/** `Profile`: a trainctl profile as stored in config.toml (absent options are omitted by serde). */
export interface Profile {
  name: string;
  provider?: string;
  endpoint_url?: string;
  region?: string;
  path_style?: boolean;
  checksum_when_required?: boolean;
  credentials: CredentialSource;
}

/** `ResolvedProfile`: a profile with every setting decided. */
export interface ResolvedProfile {
  name: string;
  endpoint_url: string | null;
  region: string;
  path_style: boolean;
  checksum_when_required: boolean;
  credentials: CredentialSource;
}

// ---- crates/trainctl-core/src/transfer/mod.rs -----------------------------------------------

/** `TransferItem`. */
export interface TransferItem {
  local: string;
  key: string;
  size: number;
  etag: string | null;
}

/** `Outcome`: what happened to each item of a job (`failed` is a list of `(key, error)` tuples). */
export interface Outcome {
  done: number;
  bytes_done: number;
  skipped: number;
  failed: [string, ErrorInfo][];
  seconds: number;
}

// ---- shell: src-tauri (types the desktop commands return; see docs/ipc.md) ------------------

/** shell `AppInfo`: what `app_info` returns at start-up. */
export interface AppInfo {
  version: string;
  /** Started with `--demo` (or the demo was started this session). */
  demo: boolean;
  /** No trainctl profile, no AWS profile and no AWS env credentials: show the first-run screen. */
  first_run: boolean;
  /** The profile the shell connected to at start-up, if any. */
  connection: ConnectionInfo | null;
}

/** shell `ConnectionInfo`: the live connection the Browser and Transfers use. */
export interface ConnectionInfo {
  profile: string;
  endpoint_url: string | null;
  region: string;
  provider: string | null;
  demo: boolean;
}

/** shell `ProfileOrigin`: where a profile was found. */
export type ProfileOrigin = 'trainctl' | 'aws';

/** shell `ProfileSummary`: one row of the Connections view. */
export interface ProfileSummary {
  name: string;
  origin: ProfileOrigin;
  provider: string | null;
  endpoint_url: string | null;
  region: string | null;
  credentials: CredentialSource;
  /** A secret is stored in the OS keychain for this profile (trainctl keychain profiles only). */
  secret_stored: boolean;
}

/** shell `ProfileForm`: the add-profile form. The shell puts `secret_access_key` in the OS keychain. */
export interface ProfileForm {
  name: string;
  provider: string | null;
  endpoint_url: string | null;
  region: string | null;
  access_key_id: string;
  secret_access_key: string;
}

/** shell `TestReport`: the result of testing a profile (saved or still in the form). */
export interface TestReport {
  ok: boolean;
  /** Buckets visible with these credentials, when listing them worked. */
  bucket_count: number | null;
  latency_ms: number | null;
  /** Why it failed, in plain words (`null` when `ok`). */
  diagnosis: ErrorInfo | null;
}

/** shell `BucketSummary`: one bucket; counts are `null` while unknown (too big, not computed yet). */
export interface BucketSummary {
  name: string;
  /** Seconds since the Unix epoch. */
  created: number | null;
  object_count: number | null;
  bytes: number | null;
}

/** shell `ListPage`: one page of a delimiter listing under `prefix`. */
export interface ListPage {
  bucket: string;
  prefix: string;
  /** Common prefixes, each ending in `/`, full keys (`runs/a/`). */
  prefixes: string[];
  objects: ObjectEntry[];
  /** More pages follow; pass `next_token` back as `token`. */
  truncated: boolean;
  next_token: string | null;
}

/** shell `DeleteItem`. */
export interface DeleteItem {
  key: string;
  size: number;
}

/** shell `DeletePlan`: exactly what `delete_apply` removes (prefixes already expanded). */
export interface DeletePlan {
  bucket: string;
  items: DeleteItem[];
  bytes: number;
}

/** shell `DeleteFailure`. */
export interface DeleteFailure {
  key: string;
  error: ErrorInfo;
}

/** shell `DeleteReport`. */
export interface DeleteReport {
  deleted: number;
  bytes: number;
  failed: DeleteFailure[];
}

/** shell `TransferState`: where a job is in its life. */
export type TransferState = 'planning' | 'running' | 'done' | 'partial' | 'failed' | 'cancelled';

/** shell `TransferFailure`: one object that failed within a job. */
export interface TransferFailure {
  key: string;
  error: ErrorInfo;
}

/** shell `TransferRecord`: one job as the Transfers view shows it (live or finished). */
export interface TransferRecord {
  job: JobId;
  direction: Direction;
  bucket: string;
  /** Upload: destination prefix. Download: the local destination directory. */
  prefix: string;
  dest_dir: string | null;
  /** Short human label ("checkpoint-500/ and 2 more"). */
  label: string;
  state: TransferState;
  engine: string | null;
  bytes_done: number;
  bytes_total: number;
  objects_done: number;
  objects_total: number;
  objects_failed: number;
  objects_skipped: number;
  bytes_per_sec: number;
  eta_secs: number | null;
  /** Seconds since the Unix epoch. */
  started_at: number;
  finished_at: number | null;
  failures: TransferFailure[];
  /** Whole-job error (state `failed`). */
  error: ErrorInfo | null;
}

/** shell `NotificationLevel`. */
export type NotificationLevel = 'info' | 'success' | 'warning' | 'error';

/** shell `AppNotification`: every native popup, mirrored in the in-app list. */
export interface AppNotification {
  id: number;
  level: NotificationLevel;
  title: string;
  body: string;
  /** Seconds since the Unix epoch. */
  at: number;
  job: JobId | null;
}

/** shell `ConnectionLost`: payload of `connection://lost`. */
export interface ConnectionLost {
  profile: string;
  error: ErrorInfo;
}

/** shell `ConnectionRestored`: payload of `connection://restored`. */
export interface ConnectionRestored {
  profile: string;
}

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
  'connection://lost': ConnectionLost;
  'connection://restored': ConnectionRestored;
}
export type EventName = keyof EventMap;
