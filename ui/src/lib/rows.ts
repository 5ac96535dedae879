/**
 * A list of rows the shell owns and reports (watches, sync pairs): one row per id, ordered by
 * id, kept current by an `…://updated` event (the whole row) and an `…://removed` event (its id).
 */

import { writable, type Readable } from 'svelte/store';

export interface HasId {
  id: number;
}

/** Inserts or replaces one row, keeping the list ordered by id. */
export function upsertRow<T extends HasId>(list: T[], row: T): T[] {
  return [...list.filter((x) => x.id !== row.id), row].sort((a, b) => a.id - b.id);
}

export interface RowStore<T extends HasId> extends Readable<T[]> {
  /** Subscribes to the events, then asks for the list; resolves to the unsubscribe function. */
  start(): Promise<() => void>;
  put(row: T): void;
  /** A command's answer: taken only for a row the list does not have yet. The shell emits the
   *  updated event after every change, and that event can overtake the command's reply — a
   *  reply that replaced the row would roll it back (a watch "waiting" → "running", a sync
   *  pass that ended → "syncing"). */
  adopt(row: T): void;
  drop(id: number): void;
}

/** `subscribe(onUpdated, onRemoved)` wires the two events; `list()` asks for every row. */
export function createRowStore<T extends HasId>(
  list: () => Promise<T[]>,
  subscribe: (onUpdated: (row: T) => void, onRemoved: (id: number) => void) => Promise<(() => void)[]>,
): RowStore<T> {
  const { subscribe: sub, update } = writable<T[]>([]);
  const put = (row: T) => update((l) => upsertRow(l, row));
  const adopt = (row: T) => update((l) => (l.some((x) => x.id === row.id) ? l : upsertRow(l, row)));
  const drop = (id: number) => update((l) => l.filter((x) => x.id !== id));
  async function start() {
    const offs = await subscribe(put, drop);
    const listed = await list();
    // Rows that arrived by event while the list was on its way are newer than the list.
    update((l) => listed.reduce((acc, row) => (acc.some((x) => x.id === row.id) ? acc : upsertRow(acc, row)), l));
    return () => offs.forEach((off) => off());
  }
  return { subscribe: sub, start, put, adopt, drop };
}
