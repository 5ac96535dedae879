/**
 * The Browser's rows: a listing page turned into rows, sorted and filtered, plus breadcrumb
 * and prefix arithmetic. Pure functions so that 100k-row behaviour is unit-tested.
 */

import type { ListPage, ObjectEntry } from './types';

/** One row of the Browser: a folder (common prefix) or an object. */
export interface Row {
  /** Full key (`runs/a/` for a folder, `runs/a/model.bin` for an object). */
  key: string;
  /** Last path segment as shown (`a/`, `model.bin`). */
  name: string;
  is_prefix: boolean;
  size: number;
  last_modified: number | null;
  storage_class: string | null;
}

export type SortKey = 'name' | 'size' | 'date';
export type SortDir = 'asc' | 'desc';
export interface Sort {
  key: SortKey;
  dir: SortDir;
}

/** The name shown for `key` under `prefix`. */
export function displayName(key: string, prefix: string): string {
  return key.startsWith(prefix) ? key.slice(prefix.length) : key;
}

/** Rows for one or more pages of the same prefix: folders first, then objects. */
export function rowsFromPages(pages: ListPage[], prefix: string): Row[] {
  const rows: Row[] = [];
  for (const page of pages) {
    for (const p of page.prefixes) {
      rows.push({ key: p, name: displayName(p, prefix), is_prefix: true, size: 0, last_modified: null, storage_class: null });
    }
  }
  for (const page of pages) {
    for (const o of page.objects) rows.push(rowFromEntry(o, prefix));
  }
  return rows;
}

/** A row from one `ObjectEntry`. */
export function rowFromEntry(o: ObjectEntry, prefix: string): Row {
  return {
    key: o.key,
    name: displayName(o.key, prefix),
    is_prefix: o.is_prefix,
    size: o.size,
    last_modified: o.last_modified,
    storage_class: o.storage_class,
  };
}

/** A key that sorts names naturally with a plain string compare: lower-cased, digit runs padded
 * (`ckpt-2` → `ckpt-00…02`), so `ckpt-2` < `ckpt-10`. Much faster than `Intl.Collator` at 100k rows. */
export function naturalKey(name: string): string {
  return name.toLowerCase().replace(/\d+/g, (d) => (d.length >= 20 ? d : d.padStart(20, '0')));
}

const keyCache = new WeakMap<Row, string>();

/** Re-sorting the same rows (another column, back again) reuses their keys. */
function cachedKey(row: Row): string {
  let key = keyCache.get(row);
  if (key === undefined) {
    key = naturalKey(row.name);
    keyCache.set(row, key);
  }
  return key;
}

/** Sorted copy: folders always before objects; names compare naturally (`ckpt-2` < `ckpt-10`). */
export function sortRows(rows: readonly Row[], sort: Sort): Row[] {
  const sign = sort.dir === 'asc' ? 1 : -1;
  const decorated = rows.map((row) => ({ row, key: cachedKey(row) }));
  decorated.sort((a, b) => {
    if (a.row.is_prefix !== b.row.is_prefix) return a.row.is_prefix ? -1 : 1;
    let c = 0;
    if (sort.key === 'size') c = a.row.size - b.row.size;
    else if (sort.key === 'date') c = (a.row.last_modified ?? 0) - (b.row.last_modified ?? 0);
    if (c === 0) c = a.key < b.key ? -1 : a.key > b.key ? 1 : a.row.name < b.row.name ? -1 : a.row.name > b.row.name ? 1 : 0;
    return c * sign;
  });
  return decorated.map((d) => d.row);
}

/** Rows whose name contains every whitespace-separated word of `text` (case-insensitive). */
export function filterRows(rows: readonly Row[], text: string): Row[] {
  const words = text.toLowerCase().split(/\s+/).filter(Boolean);
  if (words.length === 0) return rows as Row[];
  return rows.filter((r) => {
    const name = r.name.toLowerCase();
    return words.every((w) => name.includes(w));
  });
}

/** Clicking the same column flips the direction; a new column starts ascending (dates: newest first). */
export function nextSort(current: Sort, key: SortKey): Sort {
  if (current.key === key) return { key, dir: current.dir === 'asc' ? 'desc' : 'asc' };
  return { key, dir: key === 'name' ? 'asc' : 'desc' };
}

/** One breadcrumb segment. */
export interface Crumb {
  label: string;
  prefix: string;
}

/** `runs/a/` → [{runs/, runs/}, {a/, runs/a/}]; the bucket itself is the caller's first crumb. */
export function breadcrumb(prefix: string): Crumb[] {
  const parts = prefix.split('/').filter((p) => p.length > 0);
  const crumbs: Crumb[] = [];
  let acc = '';
  for (const part of parts) {
    acc += `${part}/`;
    crumbs.push({ label: part, prefix: acc });
  }
  return crumbs;
}

/** The prefix one level up (`runs/a/` → `runs/`, `runs/` → ``). */
export function parentPrefix(prefix: string): string {
  const crumbs = breadcrumb(prefix);
  return crumbs.length <= 1 ? '' : crumbs[crumbs.length - 2].prefix;
}

/** Total bytes and object count of rows (folders count as 0 bytes: their size is unknown here). */
export function totals(rows: readonly Row[]): { objects: number; folders: number; bytes: number } {
  let objects = 0;
  let folders = 0;
  let bytes = 0;
  for (const r of rows) {
    if (r.is_prefix) folders += 1;
    else {
      objects += 1;
      bytes += r.size;
    }
  }
  return { objects, folders, bytes };
}
