import { describe, expect, it } from 'vitest';
import { get } from 'svelte/store';
import { createSyncStore, deletionSummary, describeVersion, heldDeletions, looksLikeS3Prefix, progressPercent, stateLook } from '../src/lib/sync';
import { upsertRow } from '../src/lib/rows';
import type { SyncPairInfo, SyncPrompt } from '../src/lib/types';

function pair(id: number, state: SyncPairInfo['state'] = 'idle'): SyncPairInfo {
  return {
    id, local: `/home/me/run${id}`, remote: `s3://b/run${id}/`, continuous: false, interval_secs: 60, state,
    last_pass_at: null, last_pass: null, pending_local: 0, pending_remote: 0, conflicts: [], prompt: null, error: null, progress: null,
  };
}

const prompt: SyncPrompt = {
  plan_id: 7,
  deletions: [['remote:logs/old.log', 2048], ['local:notes.txt', 10], ['local:ckpt/checkpoint-100/model.safetensors', 1_048_576]],
  bytes: 2048 + 10 + 1_048_576,
  guard: null,
};

describe('sync', () => {
  it('lists held deletions per side, the folder first, with their bytes', () => {
    expect(heldDeletions(prompt)).toEqual([
      { side: 'local', path: 'notes.txt', bytes: 10 },
      { side: 'local', path: 'ckpt/checkpoint-100/model.safetensors', bytes: 1_048_576 },
      { side: 'remote', path: 'logs/old.log', bytes: 2048 },
    ]);
  });
  it('sums up a prompt in one line', () => {
    expect(deletionSummary(prompt)).toBe('3 files (1.00 MiB): 2 in the folder, 1 on S3');
    expect(deletionSummary({ ...prompt, deletions: [['remote:a', 5]], bytes: 5 })).toBe('1 file (5 B): 1 on S3');
  });
  it('says what a state means (continuous pairs read as such when idle)', () => {
    expect(stateLook('needs_decision')).toEqual({ cls: 'warn', label: 'conflicts to decide' });
    expect(stateLook('needs_confirmation').label).toBe('deletions to confirm');
    expect(stateLook('idle', true).label).toBe('continuous');
    expect(stateLook('no_connection').cls).toBe('danger');
  });
  it('shows a pass’s progress by bytes, by files when there are no bytes, and none before it copies', () => {
    expect(progressPercent(null)).toBeNull();
    expect(progressPercent({ bytes_done: 50, bytes_total: 200, objects_done: 0, objects_total: 4 })).toBe(25);
    expect(progressPercent({ bytes_done: 0, bytes_total: 0, objects_done: 1, objects_total: 4 })).toBe(25);
    expect(progressPercent({ bytes_done: 0, bytes_total: 0, objects_done: 0, objects_total: 0 })).toBeNull();
  });
  it('describes a checkpoint folder conflict by its files', () => {
    expect(describeVersion({ bytes: 2048, modified: null, files: 1 })).toBe('2.00 KiB');
    expect(describeVersion({ bytes: 2048, modified: null, files: 3 })).toBe('3 files, 2.00 KiB');
  });
  it('checks the prefix shape before asking the shell', () => {
    expect(looksLikeS3Prefix('s3://my-bucket/runs/')).toBe(true);
    expect(looksLikeS3Prefix('s3://my-bucket')).toBe(true);
    expect(looksLikeS3Prefix('/home/me/runs')).toBe(false);
  });
  it('keeps one row per pair, ordered by id', () => {
    const l = upsertRow(upsertRow([pair(2)], pair(1)), pair(2, 'running'));
    expect(l.map((p) => [p.id, p.state])).toEqual([[1, 'idle'], [2, 'running']]);
  });
  it('the store follows sync://updated and sync://removed, and a late reply does not roll a row back', async () => {
    const handlers: Record<string, (p: never) => void> = {};
    const store = createSyncStore({
      syncPairsList: async () => [pair(1)],
      onEvent: async (name, cb) => { handlers[name] = cb as never; return () => {}; },
    });
    await store.start();
    // The pass ended (its event) before the reply of "Sync now" (still "running") arrived.
    handlers['sync://updated']({ ...pair(1), state: 'needs_decision' } as never);
    store.adopt(pair(1, 'running'));
    expect(get(store).map((p) => p.state)).toEqual(['needs_decision']);
    handlers['sync://updated'](pair(2) as never);
    handlers['sync://removed'](1 as never);
    expect(get(store).map((p) => p.id)).toEqual([2]);
  });
  it('a row that arrived by event while the list was on its way is kept', async () => {
    const handlers: Record<string, (p: never) => void> = {};
    let answer!: (l: SyncPairInfo[]) => void;
    const store = createSyncStore({
      syncPairsList: () => new Promise((r) => (answer = r)),
      onEvent: async (name, cb) => { handlers[name] = cb as never; return () => {}; },
    });
    const started = store.start();
    await new Promise((r) => setTimeout(r, 0));
    handlers['sync://updated'](pair(1, 'needs_confirmation') as never);
    answer([pair(1, 'running'), pair(3)]);
    await started;
    expect(get(store).map((p) => [p.id, p.state])).toEqual([[1, 'needs_confirmation'], [3, 'idle']]);
  });
});
