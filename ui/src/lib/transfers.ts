/**
 * The transfers store: one `TransferRecord` per job, as the shell reports it whole
 * (`transfer://updated`). The record is folded from the engine's events once, in the core
 * (`trainctl_core::app::transfers`); here a newer record (higher `version`) simply replaces an
 * older one, so the Transfers view, the Dashboard and the nav badge read the same state.
 */

import { writable, type Readable } from 'svelte/store';
import type { EventMap, JobId, TransferRecord } from './types';

/** Jobs by id. Insertion order is not relied on: views sort with [`activeJobs`] / [`finishedJobs`]. */
export type Jobs = ReadonlyMap<JobId, TransferRecord>;

/** True once a job can no longer change. */
export function isFinished(r: TransferRecord): boolean {
  return r.state === 'done' || r.state === 'partial' || r.state === 'failed' || r.state === 'cancelled';
}

/** The jobs with `rec` in, unless a newer version of it is already there. */
export function putRecord(jobs: Jobs, rec: TransferRecord): Map<JobId, TransferRecord> {
  const next = new Map(jobs);
  const old = jobs.get(rec.job);
  if (!old || rec.version >= old.version) next.set(rec.job, rec);
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
  onEvent<K extends 'transfer://updated'>(name: K, cb: (payload: EventMap[K]) => void): Promise<() => void>;
}

/** A readable store of jobs plus the operations the views call. */
export interface TransferStore extends Readable<Jobs> {
  /** Subscribes to updates, then loads the shell's list (updates first, so nothing is missed). */
  start(): Promise<() => void>;
  /** Puts a record a command returned (upload_dropped, download_keys, transfer_retry). */
  track(rec: TransferRecord): void;
}

export function createTransferStore(api: TransfersApi): TransferStore {
  const { subscribe, update } = writable<Jobs>(new Map());
  const track = (rec: TransferRecord) => update((jobs) => putRecord(jobs, rec));

  async function start(): Promise<() => void> {
    const off = await api.onEvent('transfer://updated', track);
    for (const rec of await api.transfersList()) track(rec);
    return off;
  }

  return { subscribe, start, track };
}
