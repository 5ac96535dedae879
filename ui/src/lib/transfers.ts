/**
 * The transfers store: folds `transfer://*` events into one `TransferRecord` per job, so the
 * Transfers view, the Dashboard and the nav badge read the same state. The reducer is pure;
 * the store wires it to the API.
 */

import { writable, type Readable } from 'svelte/store';
import type { EventMap, JobId, TransferRecord } from './types';

type TransferEventName = 'transfer://started' | 'transfer://progress' | 'transfer://object-failed' | 'transfer://finished' | 'transfer://failed';

/** A transfer event with its name (what the reducer consumes). */
export type TransferEvent = { [K in TransferEventName]: { name: K; payload: EventMap[K] } }[TransferEventName];

/** Jobs by id. Insertion order is not relied on: views sort with [`activeJobs`] / [`finishedJobs`]. */
export type Jobs = ReadonlyMap<JobId, TransferRecord>;

/** A record for a job we only know from an event (the command's reply has not arrived yet). */
export function placeholder(job: JobId, now: number): TransferRecord {
  return {
    job, direction: 'upload', bucket: '', prefix: '', dest_dir: null, label: `job ${job}`, state: 'planning',
    engine: null, bytes_done: 0, bytes_total: 0, objects_done: 0, objects_total: 0, objects_failed: 0,
    objects_skipped: 0, bytes_per_sec: 0, eta_secs: null, started_at: now, finished_at: null, failures: [], error: null,
  };
}

/** True once a job can no longer change. */
export function isFinished(r: TransferRecord): boolean {
  return r.state === 'done' || r.state === 'partial' || r.state === 'failed' || r.state === 'cancelled';
}

/** Merges a record from a command reply or `transfers_list` into what events already built. The
 * record is the truth for what the job is (label, bucket, prefix); for how far it got, the most
 * advanced of the two wins, and a finished state seen from events is never rolled back. */
export function mergeRecord(jobs: Jobs, rec: TransferRecord): Map<JobId, TransferRecord> {
  const next = new Map(jobs);
  const old = jobs.get(rec.job);
  if (!old) {
    next.set(rec.job, rec);
    return next;
  }
  const keepOldState = isFinished(old) || (rec.state === 'planning' && old.state !== 'planning');
  const newerLive = rec.bytes_done >= old.bytes_done ? rec : old;
  next.set(rec.job, {
    ...rec,
    state: keepOldState && !isFinished(rec) ? old.state : rec.state,
    engine: rec.engine ?? old.engine,
    bytes_done: Math.max(old.bytes_done, rec.bytes_done),
    bytes_total: Math.max(old.bytes_total, rec.bytes_total),
    objects_done: Math.max(old.objects_done, rec.objects_done),
    objects_total: Math.max(old.objects_total, rec.objects_total),
    objects_failed: Math.max(old.objects_failed, rec.objects_failed),
    objects_skipped: Math.max(old.objects_skipped, rec.objects_skipped),
    bytes_per_sec: newerLive.bytes_per_sec,
    eta_secs: isFinished(old) ? null : newerLive.eta_secs,
    finished_at: rec.finished_at ?? old.finished_at,
    failures: rec.failures.length >= old.failures.length ? rec.failures : old.failures,
    error: rec.error ?? old.error,
  });
  return next;
}

/** The state after one event (`now` in seconds since the epoch). */
export function applyEvent(jobs: Jobs, ev: TransferEvent, now: number): Map<JobId, TransferRecord> {
  const next = new Map(jobs);
  const job = ev.payload.job;
  const r = jobs.get(job) ?? placeholder(job, now);
  switch (ev.name) {
    case 'transfer://started': {
      const p = ev.payload;
      next.set(job, { ...r, state: 'running', direction: p.direction, engine: p.engine, objects_total: p.objects_total, bytes_total: p.bytes_total, objects_skipped: p.skipped });
      break;
    }
    case 'transfer://progress': {
      if (isFinished(r)) return next; // a late sample must not resurrect a finished job
      const p = ev.payload;
      next.set(job, { ...r, state: 'running', bytes_done: p.bytes_done, bytes_total: p.bytes_total, objects_done: p.objects_done, objects_total: p.objects_total, bytes_per_sec: p.bytes_per_sec, eta_secs: p.eta_secs });
      break;
    }
    case 'transfer://object-failed': {
      const p = ev.payload;
      const failures = [...r.failures, { key: p.key, error: p.error }];
      next.set(job, { ...r, failures, objects_failed: Math.max(r.objects_failed, failures.length) });
      break;
    }
    case 'transfer://finished': {
      const p = ev.payload;
      const state = p.objects_failed > 0 ? 'partial' : 'done';
      next.set(job, {
        ...r, state, objects_done: p.objects_done, objects_failed: p.objects_failed, objects_skipped: p.objects_skipped,
        bytes_done: p.bytes_done, bytes_per_sec: p.seconds > 0 ? p.bytes_done / p.seconds : r.bytes_per_sec, eta_secs: null,
        finished_at: r.finished_at ?? now,
      });
      break;
    }
    case 'transfer://failed': {
      const p = ev.payload;
      const state = p.error.code === 'cancelled' ? 'cancelled' : 'failed';
      next.set(job, { ...r, state, error: state === 'failed' ? p.error : null, eta_secs: null, finished_at: r.finished_at ?? now });
      break;
    }
  }
  return next;
}

/** Running and planning jobs, newest first. */
export function activeJobs(jobs: Jobs): TransferRecord[] {
  return [...jobs.values()].filter((r) => !isFinished(r)).sort((a, b) => b.started_at - a.started_at || b.job - a.job);
}

/** Finished jobs, most recently finished first. */
export function finishedJobs(jobs: Jobs): TransferRecord[] {
  return [...jobs.values()].filter(isFinished).sort((a, b) => (b.finished_at ?? 0) - (a.finished_at ?? 0) || b.job - a.job);
}

/** Fraction done in [0, 1], by bytes (objects when the byte total is unknown). */
export function fraction(r: TransferRecord): number {
  if (r.state === 'done') return 1;
  if (r.bytes_total > 0) return Math.min(1, r.bytes_done / r.bytes_total);
  if (r.objects_total > 0) return Math.min(1, r.objects_done / r.objects_total);
  return 0;
}

/** The API calls the store needs (the real `api` module satisfies it; tests pass fakes). */
export interface TransfersApi {
  transfersList(): Promise<TransferRecord[]>;
  onEvent<K extends TransferEventName>(name: K, cb: (payload: EventMap[K]) => void): Promise<() => void>;
}

/** A readable store of jobs plus the operations the views call. */
export interface TransferStore extends Readable<Jobs> {
  /** Subscribes to events, then loads the shell's list (events first, so nothing is missed). */
  start(): Promise<() => void>;
  /** Adds/merges a record a command returned (upload_paths, download_keys, transfer_retry). */
  track(rec: TransferRecord): void;
  /** Feeds one event (used by `start`, exposed for tests). */
  apply(ev: TransferEvent): void;
}

export function createTransferStore(api: TransfersApi, clock: () => number = () => Date.now() / 1000): TransferStore {
  const { subscribe, update } = writable<Jobs>(new Map());
  const apply = (ev: TransferEvent) => update((jobs) => applyEvent(jobs, ev, clock()));
  const track = (rec: TransferRecord) => update((jobs) => mergeRecord(jobs, rec));
  const names: TransferEventName[] = ['transfer://started', 'transfer://progress', 'transfer://object-failed', 'transfer://finished', 'transfer://failed'];

  let known = new Set<JobId>();
  subscribe((jobs) => (known = new Set(jobs.keys())));
  let refreshing: Promise<void> | null = null;
  /** A job started by someone else (a drop handled elsewhere, an e2e test calling the command, the
   * tray): fetch the shell's records once so it gets its label, bucket and prefix. */
  function refresh() {
    refreshing ??= api
      .transfersList()
      .then((list) => list.forEach(track))
      .catch(() => undefined)
      .finally(() => (refreshing = null));
  }

  async function start(): Promise<() => void> {
    const onEvent = (ev: TransferEvent) => {
      const unknown = !known.has(ev.payload.job);
      apply(ev);
      if (unknown && ev.name === 'transfer://started') refresh();
    };
    const offs = await Promise.all(names.map((name) => api.onEvent(name, (payload) => onEvent({ name, payload } as TransferEvent))));
    for (const rec of await api.transfersList()) track(rec);
    return () => offs.forEach((off) => off());
  }

  return { subscribe, start, track, apply };
}
