import { get } from 'svelte/store';
import { describe, expect, it } from 'vitest';
import { activeJobs, applyEvent, createTransferStore, finishedJobs, fraction, mergeRecord, placeholder, type TransferEvent, type TransfersApi } from '../src/lib/transfers';
import type { ErrorInfo, EventMap, TransferRecord } from '../src/lib/types';

const NOW = 1_800_000_000;
const started = (job: number): TransferEvent => ({ name: 'transfer://started', payload: { event: 'transfer_started', job, direction: 'upload', engine: 's5cmd', objects_total: 4, bytes_total: 400, skipped: 1 } });
const progress = (job: number, bytes_done: number): TransferEvent => ({ name: 'transfer://progress', payload: { event: 'progress', job, bytes_done, bytes_total: 400, objects_done: bytes_done / 100, objects_total: 4, bytes_per_sec: 50, eta_secs: (400 - bytes_done) / 50 } });
const finished = (job: number, failed = 0): TransferEvent => ({ name: 'transfer://finished', payload: { event: 'transfer_finished', job, objects_done: 4 - failed, objects_failed: failed, objects_skipped: 1, bytes_done: 400, seconds: 8 } });
const err = (code: string): ErrorInfo => ({ code, message: code, hint: 'h', exit_code: 1 });

function fold(events: TransferEvent[]) {
  return events.reduce((jobs, ev, i) => applyEvent(jobs, ev, NOW + i), new Map<number, TransferRecord>());
}

describe('applyEvent', () => {
  it('builds a running job from started + progress', () => {
    const r = fold([started(1), progress(1, 100)]).get(1)!;
    expect(r).toMatchObject({ state: 'running', bytes_done: 100, bytes_total: 400, objects_skipped: 1, engine: 's5cmd', eta_secs: 6 });
    expect(fraction(r)).toBe(0.25);
  });
  it('marks a finished job done, with the average rate', () => {
    const r = fold([started(1), progress(1, 200), finished(1)]).get(1)!;
    expect(r).toMatchObject({ state: 'done', bytes_done: 400, bytes_per_sec: 50, eta_secs: null, finished_at: NOW + 2 });
    expect(fraction(r)).toBe(1);
  });
  it('marks a job with failed objects partial and keeps each failure', () => {
    const failed: TransferEvent = { name: 'transfer://object-failed', payload: { event: 'object_failed', job: 1, key: 'a/x.bin', error: err('local_missing') } };
    const r = fold([started(1), failed, finished(1, 1)]).get(1)!;
    expect(r.state).toBe('partial');
    expect(r.failures).toEqual([{ key: 'a/x.bin', error: err('local_missing') }]);
  });
  it('tells a cancelled job from a failed one', () => {
    const cancelled = fold([started(1), { name: 'transfer://failed', payload: { event: 'transfer_failed', job: 1, error: err('cancelled') } }]).get(1)!;
    const failed = fold([started(2), { name: 'transfer://failed', payload: { event: 'transfer_failed', job: 2, error: err('unreachable') } }]).get(2)!;
    expect(cancelled).toMatchObject({ state: 'cancelled', error: null });
    expect(failed).toMatchObject({ state: 'failed', error: err('unreachable') });
  });
  it('ignores a late progress sample after the job finished', () => {
    expect(fold([started(1), finished(1), progress(1, 10)]).get(1)!.state).toBe('done');
  });
  it('creates a placeholder for events of a job it has not seen', () => {
    expect(fold([progress(9, 100)]).get(9)).toMatchObject({ job: 9, state: 'running', bytes_done: 100 });
  });
});

describe('mergeRecord', () => {
  const rec = (over: Partial<TransferRecord>): TransferRecord => ({ ...placeholder(1, NOW), label: 'ckpt/', bucket: 'demo', prefix: 'runs/', ...over });
  it('adds what a command returned', () => {
    expect(mergeRecord(new Map(), rec({})).get(1)!.label).toBe('ckpt/');
  });
  it('keeps the finished state events already reported when the reply arrives late', () => {
    const jobs = fold([started(1), finished(1)]);
    const merged = mergeRecord(jobs, rec({ state: 'planning', bytes_done: 0 })).get(1)!;
    expect(merged).toMatchObject({ state: 'done', label: 'ckpt/', bucket: 'demo', bytes_done: 400 });
  });
  it('never rolls progress counters back', () => {
    const jobs = fold([started(1), progress(1, 300)]);
    expect(mergeRecord(jobs, rec({ state: 'running', bytes_done: 100 })).get(1)!.bytes_done).toBe(300);
  });
});

describe('activeJobs / finishedJobs', () => {
  it('splits live jobs from history, newest first', () => {
    const jobs = fold([started(1), started(2), finished(1), started(3)]);
    expect(activeJobs(jobs).map((r) => r.job)).toEqual([3, 2]);
    expect(finishedJobs(jobs).map((r) => r.job)).toEqual([1]);
  });
});

describe('createTransferStore with a mocked IPC', () => {
  function fakeApi(existing: TransferRecord[]) {
    const handlers = new Map<string, (p: unknown) => void>();
    const api: TransfersApi = {
      transfersList: async () => existing,
      onEvent: async <K extends keyof EventMap>(name: K, cb: (p: EventMap[K]) => void) => {
        handlers.set(name, cb as (p: unknown) => void);
        return () => handlers.delete(name);
      },
    } as TransfersApi;
    return { api, emit: (name: string, p: unknown) => handlers.get(name)!(p), handlers };
  }

  it('subscribes to every transfer event, loads history, and folds live events', async () => {
    const history = { ...placeholder(5, NOW - 100), state: 'done' as const, label: 'old/' };
    const { api, emit, handlers } = fakeApi([history]);
    const store = createTransferStore(api, () => NOW);
    const stop = await store.start();
    expect([...handlers.keys()].sort()).toEqual(['transfer://failed', 'transfer://finished', 'transfer://object-failed', 'transfer://progress', 'transfer://started']);
    emit('transfer://started', started(6).payload);
    emit('transfer://progress', progress(6, 200).payload);
    const jobs = get(store);
    expect(jobs.get(5)!.label).toBe('old/');
    expect(jobs.get(6)).toMatchObject({ state: 'running', bytes_done: 200 });
    stop();
    expect(handlers.size).toBe(0);
  });

  it('fetches the shell\'s records when a job it did not start appears', async () => {
    const { api, emit } = fakeApi([]);
    let calls = 0;
    const shellRecord = { ...placeholder(8, NOW), label: 'dropped/', bucket: 'demo', prefix: 'runs/', state: 'running' as const };
    api.transfersList = async () => (calls++ === 0 ? [] : [shellRecord]);
    const store = createTransferStore(api, () => NOW);
    await store.start();
    emit('transfer://started', started(8).payload);
    await new Promise((r) => setTimeout(r, 0));
    expect(calls).toBe(2);
    expect(get(store).get(8)).toMatchObject({ label: 'dropped/', bucket: 'demo', state: 'running', engine: 's5cmd' });
  });
});
