/**
 * Watches (issue #6): the list the Watches view draws, kept current by `watch://updated`, and
 * the small pure helpers it needs (where a click goes, how a status reads).
 */

import { createRowStore, upsertRow, type RowStore } from './rows';
import type { EventMap, WatchInfo } from './types';
import type { Route } from './route';

/** Inserts or replaces one watch, keeping the list ordered by id. */
export const upsertWatch = (list: WatchInfo[], w: WatchInfo): WatchInfo[] => upsertRow(list, w);

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

export type WatchStore = RowStore<WatchInfo>;

export function createWatchStore(api: WatchesApi): WatchStore {
  return createRowStore(
    () => api.watchesList(),
    async (put, drop) => [await api.onEvent('watch://updated', put), await api.onEvent('watch://removed', drop)],
  );
}
