import { get } from 'svelte/store';
import { describe, expect, it } from 'vitest';
import { activeJobs, createTransferStore, finishedJobs, fraction, putRecord, type TransfersApi } from '../src/lib/transfers';
import type { EventMap, TransferRecord } from '../src/lib/types';

const NOW = 1_800_000_000;

/** A record as the core reports it (the fold itself is tested in Rust: app::transfers). */
function rec(job: number, over: Partial<TransferRecord> = {}): TransferRecord {
  return {
    job, version: 1, direction: 'upload', bucket: 'b', prefix: 'runs/', dest_dir: null, label: `job ${job}`, state: 'running',
    engine: 's5cmd', bytes_done: 100, bytes_total: 400, objects_done: 1, objects_total: 4, objects_failed: 0, objects_skipped: 0,
    bytes_per_sec: 50, eta_secs: 6, started_at: NOW, finished_at: null, failures: [], error: null, ...over,
  };
}

describe('putRecord', () => {
  it('keeps the newest version of each job', () => {
    let jobs = putRecord(new Map(), rec(1, { version: 5, bytes_done: 300 }));
    jobs = putRecord(jobs, rec(1, { version: 3, bytes_done: 100 }));
    expect(jobs.get(1)!.bytes_done).toBe(300);
    jobs = putRecord(jobs, rec(1, { version: 6, state: 'done', bytes_done: 400 }));
    expect(jobs.get(1)!.state).toBe('done');
  });
  it('a late command reply does not roll a finished job back', () => {
    const jobs = putRecord(new Map(), rec(2, { version: 9, state: 'partial' }));
    expect(putRecord(jobs, rec(2, { version: 0, state: 'planning' })).get(2)!.state).toBe('partial');
  });
});

describe('activeJobs / finishedJobs / fraction', () => {
  it('splits live jobs from history, newest first', () => {
    let jobs = putRecord(new Map(), rec(1, { started_at: NOW }));
    jobs = putRecord(jobs, rec(2, { started_at: NOW + 5 }));
    jobs = putRecord(jobs, rec(3, { state: 'done', finished_at: NOW + 9 }));
    expect(activeJobs(jobs).map((r) => r.job)).toEqual([2, 1]);
    expect(finishedJobs(jobs).map((r) => r.job)).toEqual([3]);
    expect(fraction(rec(4))).toBe(0.25);
    expect(fraction(rec(5, { state: 'done' }))).toBe(1);
  });
});

describe('interrupted jobs', () => {
  it('wait among the active ones until resumed (same row, higher version) or dismissed', () => {
    let jobs = putRecord(new Map(), rec(7, { state: 'interrupted', version: 0, bytes_done: 0 }));
    expect(activeJobs(jobs).map((r) => r.job)).toEqual([7]);
    jobs = putRecord(jobs, rec(7, { state: 'planning', version: 1 }));
    expect(jobs.get(7)!.state).toBe('planning');
    jobs = putRecord(jobs, rec(7, { state: 'cancelled', version: 2, finished_at: NOW }));
    expect(finishedJobs(jobs).map((r) => r.job)).toEqual([7]);
  });
});

describe('createTransferStore with a mocked IPC', () => {
  it('loads the shell\'s records and follows transfer://updated', async () => {
    let cb: ((r: TransferRecord) => void) | null = null;
    const api: TransfersApi = {
      transfersList: async () => [rec(5, { state: 'done', version: 4 })],
      onEvent: async <K extends 'transfer://updated'>(_name: K, f: (p: EventMap[K]) => void) => {
        cb = f as (r: TransferRecord) => void;
        return () => (cb = null);
      },
    };
    const store = createTransferStore(api);
    const off = await store.start();
    expect(get(store).get(5)!.state).toBe('done');
    cb!(rec(6, { version: 2, bytes_done: 200 }));
    expect(get(store).get(6)!.bytes_done).toBe(200);
    store.track(rec(6, { version: 0, state: 'planning', bytes_done: 0 }));
    expect(get(store).get(6)!.bytes_done).toBe(200);
    off();
    expect(cb).toBeNull();
  });
});
