/**
 * Watches (issue #6): the list the Watches view draws, kept current by `watch://updated`, and
 * the small pure helpers it needs (where a click goes, how a status reads).
 */

import { writable, type Readable } from 'svelte/store';
import type { EventMap, WatchInfo } from './types';
import type { Route } from './route';

/** Inserts or replaces one watch, keeping the list ordered by id. */
export function upsertWatch(list: WatchInfo[], w: WatchInfo): WatchInfo[] {
  return [...list.filter((x) => x.id !== w.id), w].sort((a, b) => a.id - b.id);
}

/** `s3://bucket/a/b/` → the Browser at that prefix (what a click on a watch line opens). */
export function routeForS3(url: string): Route | null {
  const m = /^s3:\/\/([^/]+)\/?(.*)$/i.exec(url.trim());
  if (!m) return null;
  const prefix = m[2] && !m[2].endsWith('/') ? `${m[2]}/` : m[2];
  return { view: 'browser', bucket: m[1], prefix };
}

/** Pill style and words for a status. */
export function statusLook(status: WatchInfo['status']): { cls: string; label: string } {
  switch (status) {
    case 'running': return { cls: 'ok', label: 'watching' };
    case 'waiting': return { cls: 'accent', label: 'waiting for the prefix' };
    case 'stalled': return { cls: 'warn', label: 'stalled' };
    case 'finished': return { cls: 'ok', label: 'finished' };
    case 'error': return { cls: 'danger', label: 'cannot poll' };
    case 'no_connection': return { cls: 'danger', label: 'not connected' };
    default: return { cls: '', label: 'paused' };
  }
}

/** A plain `s3://bucket/prefix` check before asking the shell (which validates for real). */
export function looksLikeS3(url: string): boolean {
  return /^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/.*)?$/.test(url.trim());
}

export interface WatchesApi {
  watchesList(): Promise<WatchInfo[]>;
  onEvent<K extends 'watch://updated' | 'watch://removed'>(name: K, cb: (payload: EventMap[K]) => void): Promise<() => void>;
}

export interface WatchStore extends Readable<WatchInfo[]> {
  start(): Promise<() => void>;
  put(w: WatchInfo): void;
  /** A command's answer: taken only for a watch the list does not have yet. The shell emits
   *  `watch://updated` after every change, and that event can overtake the command's reply —
   *  a reply that replaced the row would roll it back (e.g. "waiting" → "running"). */
  adopt(w: WatchInfo): void;
  drop(id: number): void;
}

export function createWatchStore(api: WatchesApi): WatchStore {
  const { subscribe, set, update } = writable<WatchInfo[]>([]);
  const put = (w: WatchInfo) => update((l) => upsertWatch(l, w));
  const adopt = (w: WatchInfo) => update((l) => (l.some((x) => x.id === w.id) ? l : upsertWatch(l, w)));
  const drop = (id: number) => update((l) => l.filter((w) => w.id !== id));
  async function start() {
    const offs = [await api.onEvent('watch://updated', put), await api.onEvent('watch://removed', drop)];
    set(await api.watchesList());
    return () => offs.forEach((off) => off());
  }
  return { subscribe, start, put, adopt, drop };
}
