/**
 * Two-way sync (issue #12): the pairs the Sync view draws, kept current by `sync://updated`,
 * and the small pure helpers it needs (how a state reads, the held deletions per side, a
 * pass's progress). The rules (what a pass does, what is a conflict, the delete guard) live in
 * the core; the page only shows rows and sends ids, grant tokens and a choice per path.
 */

import { writable } from 'svelte/store';
import { humanBytes, plural } from './format';
import { createRowStore, type RowStore } from './rows';
import type { ConflictPolicy, EventMap, LocalGrant, SyncPairInfo, SyncProgress, SyncPrompt, SyncState, SyncVersion } from './types';

/** Pill style and words for a pair's state. */
export function stateLook(state: SyncState, continuous = false): { cls: string; label: string } {
  switch (state) {
    case 'running': return { cls: 'accent', label: 'syncing…' };
    case 'needs_confirmation': return { cls: 'warn', label: 'deletions to confirm' };
    case 'needs_decision': return { cls: 'warn', label: 'conflicts to decide' };
    case 'error': return { cls: 'danger', label: 'failed' };
    case 'no_connection': return { cls: 'danger', label: 'not connected' };
    default: return continuous ? { cls: 'ok', label: 'continuous' } : { cls: 'ok', label: 'idle' };
  }
}

/** One held deletion as the confirm dialog lists it. */
export interface HeldDeletion {
  side: 'local' | 'remote';
  path: string;
  bytes: number;
}

/** The prompt's `local:path` / `remote:path` entries, split by side (local first, then S3). */
export function heldDeletions(prompt: SyncPrompt): HeldDeletion[] {
  const rows = prompt.deletions.map(([entry, bytes]): HeldDeletion => {
    const remote = entry.startsWith('remote:');
    return { side: remote ? 'remote' : 'local', path: entry.replace(/^(local|remote):/, ''), bytes };
  });
  return [...rows.filter((r) => r.side === 'local'), ...rows.filter((r) => r.side === 'remote')];
}

/** "3 files (1.20 MiB): 2 here, 1 on S3" — the confirm button's and the row's summary. */
export function deletionSummary(prompt: SyncPrompt): string {
  const rows = heldDeletions(prompt);
  const local = rows.filter((r) => r.side === 'local').length;
  const sides = [local ? `${local} in the folder` : '', rows.length - local ? `${rows.length - local} on S3` : ''].filter(Boolean).join(', ');
  return `${plural(rows.length, 'file')} (${humanBytes(prompt.bytes)})${sides ? `: ${sides}` : ''}`;
}

/** Percent of the running pass's bytes (objects when there are no bytes), `null` before it copies. */
export function progressPercent(p: SyncProgress | null): number | null {
  if (!p) return null;
  if (p.bytes_total > 0) return Math.min(100, (100 * p.bytes_done) / p.bytes_total);
  if (p.objects_total > 0) return Math.min(100, (100 * p.objects_done) / p.objects_total);
  return null;
}

/** "1.2 KiB" or, for a checkpoint folder, "3 files, 1.2 GiB". */
export function describeVersion(v: SyncVersion): string {
  return v.files > 1 ? `${plural(v.files, 'file')}, ${humanBytes(v.bytes)}` : humanBytes(v.bytes);
}

/** The three decisions the view offers for a conflict, in the order shown. */
export const CONFLICT_CHOICES: { choice: ConflictPolicy; label: string; title: string }[] = [
  { choice: 'local', label: 'Keep local', title: 'The folder’s version goes to S3; the S3 version is replaced' },
  { choice: 'remote', label: 'Keep remote', title: 'The S3 version comes to the folder; the local version is replaced' },
  { choice: 'keep-both', label: 'Keep both', title: 'Both stay on both sides: the folder’s version is renamed NAME.conflict-…-local and uploaded' },
];

/** `s3://bucket` or `s3://bucket/prefix/` (the shell validates for real). */
export function looksLikeS3Prefix(url: string): boolean {
  return /^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/.*)?$/.test(url.trim());
}

/** A folder dropped on the window while the Sync view is open: its grant, for the add form. */
export const droppedFolder = writable<LocalGrant | null>(null);

export interface SyncApi {
  syncPairsList(): Promise<SyncPairInfo[]>;
  onEvent<K extends 'sync://updated' | 'sync://removed'>(name: K, cb: (payload: EventMap[K]) => void): Promise<() => void>;
}

export type SyncStore = RowStore<SyncPairInfo>;

export function createSyncStore(api: SyncApi): SyncStore {
  return createRowStore(
    () => api.syncPairsList(),
    async (put, drop) => [await api.onEvent('sync://updated', put), await api.onEvent('sync://removed', drop)],
  );
}
