/**
 * The Checkpoints view's logic, kept out of the components so it can be unit-tested: locations,
 * timeline rows, the policy form → `PolicyForm`, and the cleanup planner's state machine
 * (plan → confirm → apply with progress → result; `plan_stale` → "re-plan").
 */

import { writable, type Readable } from 'svelte/store';
import type {
  Checkpoint, CheckpointDeletedEvent, CheckpointListing, CheckpointRun, CleanupFinishedEvent, CleanupPlan, CleanupReport,
  DetectForm, EventMap, PlanItem, PolicyForm,
} from './types';

// ---- locations --------------------------------------------------------------------------------

/** `s3://bucket/prefix` (the prefix as a folder). */
export function s3Location(bucket: string, prefix: string): string {
  const p = prefix && !prefix.endsWith('/') ? `${prefix}/` : prefix;
  return `s3://${bucket}/${p}`;
}

/** The bucket of an `s3://` location (`null` for a local folder). */
export function bucketOf(location: string): string | null {
  const m = /^s3:\/\/([^/]+)/.exec(location.trim());
  return m ? m[1] : null;
}

/** `s3://b/runs/` → `runs/`; `null` for a local folder. */
export function prefixOf(location: string): string | null {
  const m = /^s3:\/\/[^/]+\/?(.*)$/.exec(location.trim());
  return m ? m[1] : null;
}

/** A run's name as shown (`""` is the location itself). */
export function runLabel(name: string): string {
  return name === '' ? '(top level)' : `${name}/`;
}

// ---- timeline ---------------------------------------------------------------------------------

/** One checkpoint as the timeline draws it. */
export interface TimelineRow {
  id: string;
  /** The last path segment (`checkpoint-500/`, `epoch=3-step=900.ckpt`). */
  name: string;
  step: number | null;
  epoch: number | null;
  bytes: number;
  files: number;
  metrics: [string, number][];
  last_modified: number | null;
  complete: boolean;
  /** A crashed save: incomplete, nothing written for the abandoned-after window, no writer. */
  abandoned: boolean;
  /** Why incomplete (or abandoned), when it is. */
  incomplete_reason: string | null;
  pinned: boolean;
  framework_keep: string | null;
  layout: string;
  /** A `last.ckpt` byte-identical to this numbered checkpoint (its short name). */
  same_as: string | null;
}

export function shortName(id: string): string {
  const trimmed = id.replace(/\/$/, '');
  const name = trimmed.slice(trimmed.lastIndexOf('/') + 1);
  return id.endsWith('/') ? `${name}/` : name;
}

/** Rows of one run, newest first (the timeline reads top-down from the latest checkpoint). */
export function timelineRows(run: CheckpointRun, pins: Iterable<string>): TimelineRow[] {
  const pinned = new Set(pins);
  return run.checkpoints
    .map((c: Checkpoint) => ({
      id: c.id,
      name: shortName(c.id),
      step: c.step,
      epoch: c.epoch,
      bytes: c.bytes,
      files: c.files.length,
      metrics: Object.entries(c.metrics).sort(([a], [b]) => a.localeCompare(b)),
      last_modified: c.last_modified,
      complete: c.complete.state === 'complete',
      abandoned: c.complete.state === 'abandoned',
      incomplete_reason: c.complete.state === 'complete' ? null : c.complete.reason,
      pinned: pinned.has(c.id),
      framework_keep: c.framework_keep,
      layout: c.layout,
      same_as: c.same_as === null ? null : shortName(c.same_as),
    }))
    .reverse();
}

/** Every metric name logged by some checkpoint of the run (for the keep-best picker). */
export function metricNames(run: CheckpointRun | null): string[] {
  const names = new Set<string>();
  for (const c of run?.checkpoints ?? []) for (const k of Object.keys(c.metrics)) names.add(k);
  return [...names].sort();
}

/** Bytes and counts of a run. */
export function runTotals(run: CheckpointRun): { checkpoints: number; bytes: number; incomplete: number; abandoned: number } {
  return {
    checkpoints: run.checkpoints.length,
    bytes: run.checkpoints.reduce((a, c) => a + c.bytes, 0),
    incomplete: run.checkpoints.filter((c) => c.complete.state === 'incomplete').length,
    abandoned: run.checkpoints.filter((c) => c.complete.state === 'abandoned').length,
  };
}

/** An epoch as the frameworks write it: HF's are fractional (`2.5`), Lightning's whole. */
export function formatEpoch(e: number): string {
  return Number.isInteger(e) ? String(e) : String(Number(e.toPrecision(6)));
}

/** `4.2` → `4.2`, `0.000123` → `1.23e-4`: metrics in little space. */
export function formatMetric(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (v !== 0 && (Math.abs(v) < 0.001 || Math.abs(v) >= 1e6)) return v.toExponential(2);
  return String(Number(v.toPrecision(4)));
}

/** Finds a run of a listing by name. */
export function findRun(listing: CheckpointListing | null, name: string | null): CheckpointRun | null {
  if (!listing || name === null) return null;
  return listing.runs.find((r) => r.name === name) ?? null;
}

// ---- the policy form --------------------------------------------------------------------------

/** The planner's inputs as typed (empty = that rule is off). */
export interface PolicyDraft {
  keepLastN: string;
  keepBest: string;
  metric: string;
  mode: 'min' | 'max';
  keepEvery: string;
  keepSinceDays: string;
  forceAll: boolean;
  /** `--delete-abandoned`: also delete crashed saves (off unless ticked). */
  deleteAbandoned: boolean;
}

export const emptyDraft = (): PolicyDraft => ({ keepLastN: '', keepBest: '', metric: '', mode: 'min', keepEvery: '', keepSinceDays: '', forceAll: false, deleteAbandoned: false });

/** A whole number ≥ 0 from a text field; `null` when empty; `NaN` when not a number. */
function count(s: string): number | null {
  const t = s.trim();
  if (t === '') return null;
  return /^\d+$/.test(t) ? Number(t) : NaN;
}

/** The draft as the shell's `PolicyForm`, or the first problem in plain words. */
export function policyFromDraft(d: PolicyDraft): { policy: PolicyForm } | { error: string } {
  const n = count(d.keepLastN);
  const k = count(d.keepBest);
  const every = count(d.keepEvery);
  const sinceText = d.keepSinceDays.trim();
  const since = sinceText === '' ? null : Number(sinceText);
  if (Number.isNaN(n)) return { error: 'Keep last: type a whole number of checkpoints' };
  if (Number.isNaN(k)) return { error: 'Keep best: type a whole number of checkpoints' };
  if (Number.isNaN(every)) return { error: 'Keep every: type a whole number of steps' };
  if (since !== null && (!Number.isFinite(since) || since <= 0)) return { error: 'Keep since: type a number of days above 0' };
  if (n === null && k === null && every === null && since === null && !d.deleteAbandoned) return { error: 'Choose at least one rule: keep last, keep best, keep every, keep since or delete abandoned' };
  if (n === 0 && !d.forceAll) return { error: 'Keep last 0 deletes every checkpoint but the newest complete one: tick "allow keep last 0" if you mean it' };
  if (k === 0 || every === 0) return { error: 'Keep best and keep every need a number above 0' };
  if (k !== null && !d.metric.trim()) return { error: 'Keep best: choose the metric' };
  return {
    policy: {
      keep_last_n: n,
      keep_best: k === null ? null : { k, metric: d.metric.trim(), mode: d.mode },
      keep_every: every,
      keep_since_secs: since === null ? null : Math.round(since * 86400),
      force_all: d.forceAll,
      delete_abandoned: d.deleteAbandoned,
    },
  };
}

/** The detection options from the view's "still being written" window (seconds). */
export function detectForm(graceSecs: string, pattern = ''): DetectForm {
  const g = count(graceSecs);
  return { grace_secs: g === null || Number.isNaN(g) ? null : g, pattern: pattern.trim() || null, abandoned_after_secs: null };
}

// ---- plan views -------------------------------------------------------------------------------

/** Plan items of every run in the plan, newest first within each run. */
export function planRows(plan: CleanupPlan): PlanItem[] {
  return plan.plans.flatMap((p) => [...p.items].reverse());
}

/** "$0.42/month" — the plan carries USD at the S3 Standard list price. */
export function usdPerMonth(usd: number): string {
  if (usd > 0 && usd < 0.01) return 'under $0.01/month';
  return `about $${usd.toFixed(2)}/month`;
}

// ---- the planner ------------------------------------------------------------------------------

/** Where the planner is. */
export type PlannerPhase = 'idle' | 'planning' | 'planned' | 'confirming' | 'applying' | 'done' | 'stale' | 'error';

export interface PlannerState {
  phase: PlannerPhase;
  plan: CleanupPlan | null;
  report: CleanupReport | null;
  /** Checkpoints / bytes deleted so far (from `checkpoint://deleted`). */
  progress: { checkpoints: number; bytes: number };
  error: { code: string; message: string; hint: string } | null;
}

/** What the planner needs from `api.ts` (injected, so tests can fake it). */
export interface PlannerApi {
  checkpointsPlan(location: string, run: string | null, policy: PolicyForm, detect: DetectForm | null): Promise<CleanupPlan>;
  checkpointsApply(plan_id: number): Promise<CleanupReport>;
  onEvent<K extends keyof EventMap>(name: K, cb: (p: EventMap[K]) => void): Promise<() => void>;
}

export interface Planner extends Readable<PlannerState> {
  /** Plans (again); the last request wins. */
  plan(location: string, run: string | null, policy: PolicyForm, detect: DetectForm | null): Promise<void>;
  /** Opens the confirm dialog (only with something to delete). */
  confirm(): void;
  /** Closes the dialog; the plan stays on screen. */
  cancel(): void;
  /** Deletes exactly the planned checkpoints. */
  apply(): Promise<void>;
  /** Plans again with the last inputs (after `plan_stale`). */
  replan(): Promise<void>;
  reset(): void;
}

const initial = (): PlannerState => ({ phase: 'idle', plan: null, report: null, progress: { checkpoints: 0, bytes: 0 }, error: null });

function errorOf(e: unknown): PlannerState['error'] {
  if (e && typeof e === 'object' && 'code' in e) {
    const o = e as { code: unknown; message?: unknown; hint?: unknown };
    return { code: String(o.code), message: String(o.message ?? ''), hint: String(o.hint ?? '') };
  }
  return { code: 'internal', message: e instanceof Error ? e.message : String(e), hint: '' };
}

export function createPlanner(api: PlannerApi): Planner {
  const store = writable<PlannerState>(initial());
  let state = initial();
  store.subscribe((s) => (state = s));
  let last: Parameters<Planner['plan']> | null = null;
  let generation = 0;

  async function plan(...args: Parameters<Planner['plan']>) {
    last = args;
    const gen = ++generation;
    store.set({ ...initial(), phase: 'planning' });
    try {
      const p = await api.checkpointsPlan(...args);
      if (gen === generation) store.set({ ...initial(), phase: 'planned', plan: p });
    } catch (e) {
      if (gen === generation) store.set({ ...initial(), phase: 'error', error: errorOf(e) });
    }
  }

  async function apply() {
    const p = state.plan;
    if (!p || (state.phase !== 'confirming' && state.phase !== 'planned')) return;
    store.update((s) => ({ ...s, phase: 'applying', progress: { checkpoints: 0, bytes: 0 } }));
    const ids = new Set(p.plans.flatMap((r) => r.items.filter((i) => i.action === 'delete').map((i) => i.checkpoint.id)));
    const offs = await Promise.all([
      api.onEvent('checkpoint://deleted', (ev: CheckpointDeletedEvent) => {
        if (!ids.has(ev.id)) return;
        store.update((s) => ({ ...s, progress: { checkpoints: s.progress.checkpoints + 1, bytes: s.progress.bytes + ev.bytes } }));
      }),
      api.onEvent('checkpoint://cleanup-finished', (_ev: CleanupFinishedEvent) => undefined),
    ]);
    try {
      const report = await api.checkpointsApply(p.plan_id);
      store.update((s) => ({ ...s, phase: 'done', report, progress: { checkpoints: report.checkpoints_deleted, bytes: report.bytes_reclaimed } }));
    } catch (e) {
      const error = errorOf(e);
      store.update((s) => ({ ...s, phase: error?.code === 'plan_stale' ? 'stale' : 'error', error }));
    } finally {
      offs.forEach((off) => off());
    }
  }

  return {
    subscribe: store.subscribe,
    plan,
    confirm() {
      if (state.phase === 'planned' && state.plan && state.plan.checkpoints_deleted > 0) store.update((s) => ({ ...s, phase: 'confirming' }));
    },
    cancel() {
      if (state.phase === 'confirming') store.update((s) => ({ ...s, phase: 'planned' }));
    },
    apply,
    async replan() {
      if (last) await plan(...last);
    },
    reset() {
      generation++;
      last = null;
      store.set(initial());
    },
  };
}

// ---- view memory ------------------------------------------------------------------------------

/** What the Checkpoints view had open, so leaving and coming back keeps it. */
export interface CheckpointView {
  location: string;
  /** The "still being written" window in seconds, as typed. */
  grace: string;
  run: string | null;
  tab: 'timeline' | 'cleanup' | 'lifecycle';
}

export const checkpointView = writable<CheckpointView>({ location: '', grace: '60', run: null, tab: 'timeline' });
