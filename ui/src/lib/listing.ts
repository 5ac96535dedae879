/**
 * The Browser's listing: pages collected column-wise ([`ListingBuilder`], [`Listing`]), sorted
 * and filtered as index arrays, rows made only for the window on screen; plus breadcrumb and
 * prefix arithmetic. Pure code, so that 100k-row behaviour and cost are unit-tested.
 */

import type { ListPage } from './types';

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

/** A key that sorts names naturally with a plain string compare: lower-cased, digit runs padded
 * (`ckpt-2` → `ckpt-00…02`), so `ckpt-2` < `ckpt-10`. Much faster than `Intl.Collator` at 100k rows. */
export function naturalKey(name: string): string {
  return name.toLowerCase().replace(/\d+/g, (d) => (d.length >= 20 ? d : d.padStart(20, '0')));
}

// ---- the listing, column-wise ----------------------------------------------------------------------
//
// Why columns: a folder of 100,000 objects held as row objects (plus their sort keys, the pages
// they came from, and the sorted and filtered copies) cost ~1.3 KB a row in the webview. Here a
// row is its key string (the one IPC already made) and 20 bytes of typed arrays; sorting and
// filtering produce index arrays (4 bytes a row); `Row` objects exist only for the rows on
// screen (`rowsOf`), made when the virtual list asks for them.

const NO_DATE = Number.NaN;

/** The columns, shared by every `Listing` snapshot of one load (they only ever grow). */
class Columns {
  keys: string[] = [];
  sizes = new Float64Array(256);
  dates = new Float64Array(256);
  classes = new Uint16Array(256);
  folders = new Uint8Array(256);
  /** Storage class names by index; 0 is "none given". */
  classNames: (string | null)[] = [null];
  private classIndex = new Map<string, number>();

  push(key: string, folder: boolean, size: number, date: number | null, storageClass: string | null): void {
    const i = this.keys.length;
    if (i === this.sizes.length) this.grow();
    this.keys.push(key);
    this.folders[i] = folder ? 1 : 0;
    this.sizes[i] = size;
    this.dates[i] = date ?? NO_DATE;
    this.classes[i] = storageClass === null ? 0 : this.classOf(storageClass);
  }

  private classOf(name: string): number {
    let c = this.classIndex.get(name);
    if (c === undefined) {
      c = this.classNames.length;
      this.classNames.push(name);
      this.classIndex.set(name, c);
    }
    return c;
  }

  private grow(): void {
    const n = this.sizes.length * 2;
    const grown = <A extends Float64Array | Uint16Array | Uint8Array>(a: A, make: (n: number) => A): A => {
      const b = make(n);
      b.set(a);
      return b;
    };
    this.sizes = grown(this.sizes, (k) => new Float64Array(k));
    this.dates = grown(this.dates, (k) => new Float64Array(k));
    this.classes = grown(this.classes, (k) => new Uint16Array(k));
    this.folders = grown(this.folders, (k) => new Uint8Array(k));
  }
}

/**
 * An immutable snapshot of a folder listing: the first `length` entries of its columns, in the
 * order the server sent them. Read it by index; sort and filter with [`sortListing`] and
 * [`filterListing`], which return indices.
 */
export class Listing {
  private natural: Uint32Array | null = null;

  constructor(
    private readonly cols: Columns,
    readonly prefix: string,
    readonly length: number,
  ) {}

  /** Full key (`runs/a/` for a folder, `runs/a/model.bin` for an object). */
  key(i: number): string {
    return this.cols.keys[i];
  }
  /** The name shown (the key under the listing's prefix). */
  name(i: number): string {
    return displayName(this.cols.keys[i], this.prefix);
  }
  isFolder(i: number): boolean {
    return this.cols.folders[i] === 1;
  }
  size(i: number): number {
    return this.cols.sizes[i];
  }
  lastModified(i: number): number | null {
    const d = this.cols.dates[i];
    return Number.isNaN(d) ? null : d;
  }
  storageClass(i: number): string | null {
    return this.cols.classNames[this.cols.classes[i]];
  }

  /** Row `i` as an object (for the rows on screen). */
  row(i: number): Row {
    return { key: this.key(i), name: this.name(i), is_prefix: this.isFolder(i), size: this.size(i), last_modified: this.lastModified(i), storage_class: this.storageClass(i) };
  }

  /** Every key, in listing order (shared, do not change). */
  keys(): readonly string[] {
    return this.cols.keys.length === this.length ? this.cols.keys : this.cols.keys.slice(0, this.length);
  }

  /** Indices in natural name order (folders and objects mixed), computed once per snapshot; the
   * sort keys are made for this and dropped after it. Ties (same natural key) go by key. */
  naturalOrder(): Uint32Array {
    if (this.natural) return this.natural;
    const keys = this.cols.keys;
    const nat = new Array<string>(this.length);
    for (let i = 0; i < this.length; i++) nat[i] = naturalKey(this.name(i));
    const order = identity(this.length).sort((a, b) => (nat[a] < nat[b] ? -1 : nat[a] > nat[b] ? 1 : keys[a] < keys[b] ? -1 : keys[a] > keys[b] ? 1 : 0));
    this.natural = order;
    return order;
  }
}

function identity(n: number): Uint32Array {
  const a = new Uint32Array(n);
  for (let i = 0; i < n; i++) a[i] = i;
  return a;
}

/** Collects a listing page by page; `snapshot()` gives what has arrived so far. */
export class ListingBuilder {
  private readonly cols = new Columns();

  constructor(readonly prefix: string) {}

  /** Appends a page's folders and objects (the page itself is not kept). */
  add(page: ListPage): void {
    for (const p of page.prefixes) this.cols.push(p, true, 0, null, null);
    for (const o of page.objects) this.cols.push(o.key, o.is_prefix, o.size, o.last_modified, o.storage_class);
  }

  get length(): number {
    return this.cols.keys.length;
  }

  snapshot(): Listing {
    return new Listing(this.cols, this.prefix, this.cols.keys.length);
  }
}

/** A listing of `pages` (tests, small folders). */
export function listingFromPages(pages: readonly ListPage[], prefix: string): Listing {
  const b = new ListingBuilder(prefix);
  pages.forEach((p) => b.add(p));
  return b.snapshot();
}

/** An empty listing (nothing loaded yet). */
export const emptyListing = (prefix = ''): Listing => new ListingBuilder(prefix).snapshot();

/** Display order as indices: folders always before objects; names compare naturally
 * (`ckpt-2` < `ckpt-10`); sizes and dates break ties by name. */
export function sortListing(l: Listing, sort: Sort): Uint32Array {
  const natural = l.naturalOrder();
  const n = l.length;
  const out = new Uint32Array(n);
  if (sort.key === 'name') {
    // Natural order already sorts by name: keep it, folders first, reversed within each group for desc.
    let folders = 0;
    for (let k = 0; k < n; k++) if (l.isFolder(natural[k])) folders++;
    let f = 0;
    let o = folders;
    for (let k = 0; k < n; k++) {
      const i = natural[k];
      if (l.isFolder(i)) out[f++] = i;
      else out[o++] = i;
    }
    if (sort.dir === 'desc') {
      out.subarray(0, folders).reverse();
      out.subarray(folders).reverse();
    }
    return out;
  }
  const rank = new Uint32Array(n);
  for (let k = 0; k < n; k++) rank[natural[k]] = k;
  const sign = sort.dir === 'asc' ? 1 : -1;
  const value = sort.key === 'size' ? (i: number) => l.size(i) : (i: number) => l.lastModified(i) ?? 0;
  out.set(identity(n));
  return out.sort((a, b) => {
    const fa = l.isFolder(a);
    if (fa !== l.isFolder(b)) return fa ? -1 : 1;
    const c = value(a) - value(b) || rank[a] - rank[b];
    return c * sign;
  });
}

/** The entries of `order` whose name contains every whitespace-separated word of `text`
 * (case-insensitive), in the same order. */
export function filterListing(l: Listing, order: Uint32Array, text: string): Uint32Array {
  const words = text.toLowerCase().split(/\s+/).filter(Boolean);
  if (words.length === 0) return order;
  const out = new Uint32Array(order.length);
  let n = 0;
  for (let k = 0; k < order.length; k++) {
    const name = l.name(order[k]).toLowerCase();
    if (words.every((w) => name.includes(w))) out[n++] = order[k];
  }
  return out.slice(0, n);
}

/** Total bytes and object count of the entries `idx` (folders count as 0 bytes: unknown here). */
export function totals(l: Listing, idx: Uint32Array): { objects: number; folders: number; bytes: number } {
  let objects = 0;
  let folders = 0;
  let bytes = 0;
  for (let k = 0; k < idx.length; k++) {
    const i = idx[k];
    if (l.isFolder(i)) folders += 1;
    else {
      objects += 1;
      bytes += l.size(i);
    }
  }
  return { objects, folders, bytes };
}

/** Keys of the entries `idx`, in that order (selection arithmetic works on keys). */
export function keysOf(l: Listing, idx: Uint32Array): string[] {
  return Array.from(idx, (i) => l.key(i));
}

/** Bytes of the entries of `idx` whose key is in `keys`. */
export function bytesOf(l: Listing, idx: Uint32Array, keys: ReadonlySet<string>): number {
  if (keys.size === 0) return 0;
  let bytes = 0;
  for (let k = 0; k < idx.length; k++) if (keys.has(l.key(idx[k]))) bytes += l.size(idx[k]);
  return bytes;
}

/** What a virtual list needs: a length, and `Row`s made only for the slice it shows. */
export interface RowSource {
  readonly length: number;
  slice(start: number, end: number): Row[];
}

export function rowsOf(l: Listing, idx: Uint32Array): RowSource {
  return { length: idx.length, slice: (start, end) => Array.from(idx.subarray(start, end), (i) => l.row(i)) };
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
