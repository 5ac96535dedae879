import { describe, expect, it } from 'vitest';
import { get } from 'svelte/store';
import { createWatchStore, looksLikeS3, routeForS3, statusLook, upsertWatch } from '../src/lib/watches';
import type { WatchInfo } from '../src/lib/types';

function watch(id: number, status: WatchInfo['status'] = 'running'): WatchInfo {
  return {
    id, url: `s3://b/run${id}/`, interval_secs: 30, stall_after: 3, paused: false, status,
    last_event: null, last_event_at: null, checkpoints: 0, last_checkpoint: null, last_step: null, recent: [],
  };
}

describe('watches', () => {
  it('a click on a watch line opens the Browser at the run prefix', () => {
    expect(routeForS3('s3://b/runs/r1/')).toEqual({ view: 'browser', bucket: 'b', prefix: 'runs/r1/' });
    expect(routeForS3('s3://b/runs/r1')).toEqual({ view: 'browser', bucket: 'b', prefix: 'runs/r1/' });
    expect(routeForS3('s3://b')).toEqual({ view: 'browser', bucket: 'b', prefix: '' });
    expect(routeForS3('/tmp/x')).toBeNull();
  });
  it('keeps one row per watch, ordered by id', () => {
    const l = upsertWatch(upsertWatch([watch(2)], watch(1)), { ...watch(2), status: 'stalled' });
    expect(l.map((w) => [w.id, w.status])).toEqual([[1, 'running'], [2, 'stalled']]);
  });
  it('says what a status means', () => {
    expect(statusLook('stalled')).toEqual({ cls: 'warn', label: 'stalled' });
    expect(statusLook('paused').label).toBe('paused');
  });
  it('checks the URL shape before asking the shell', () => {
    expect(looksLikeS3('s3://my-bucket/runs/')).toBe(true);
    expect(looksLikeS3('my-bucket/runs')).toBe(false);
  });
  it('the store follows watch://updated and watch://removed', async () => {
    const handlers: Record<string, (p: never) => void> = {};
    const store = createWatchStore({
      watchesList: async () => [watch(1)],
      onEvent: async (name, cb) => { handlers[name] = cb as never; return () => {}; },
    });
    await store.start();
    handlers['watch://updated']({ ...watch(2), checkpoints: 3 } as never);
    expect(get(store).map((w) => w.id)).toEqual([1, 2]);
    handlers['watch://removed'](1 as never);
    expect(get(store).map((w) => w.checkpoints)).toEqual([3]);
  });
  it('a command reply that arrives after the event does not roll the row back', async () => {
    const handlers: Record<string, (p: never) => void> = {};
    const store = createWatchStore({
      watchesList: async () => [],
      onEvent: async (name, cb) => { handlers[name] = cb as never; return () => {}; },
    });
    await store.start();
    handlers['watch://updated']({ ...watch(1), status: 'waiting' } as never);
    store.adopt({ ...watch(1), status: 'running' });
    expect(get(store).map((w) => w.status)).toEqual(['waiting']);
    store.adopt({ ...watch(2), status: 'running' });
    expect(get(store).map((w) => w.id)).toEqual([1, 2]);
  });
});
