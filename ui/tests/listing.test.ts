import { describe, expect, it } from 'vitest';
import {
  breadcrumb, bytesOf, emptyListing, filterListing, keysOf, ListingBuilder, listingFromPages, naturalKey, nextSort, parentPrefix,
  rowsOf, sortListing, totals, type Listing,
} from '../src/lib/listing';
import type { ListPage, ObjectEntry } from '../src/lib/types';

const entry = (key: string, size: number, last_modified: number | null, storage_class: string | null = null): ObjectEntry =>
  ({ key, size, last_modified, etag: null, storage_class, is_prefix: false });

function page(prefix: string, prefixes: string[], objects: ObjectEntry[]): ListPage {
  return { bucket: 'b', prefix, prefixes, objects, truncated: false, next_token: null };
}

const listing = listingFromPages(
  [
    page('runs/', ['runs/b/', 'runs/a/'], [entry('runs/checkpoint-10.ckpt', 300, 30, 'STANDARD_IA'), entry('runs/checkpoint-2.ckpt', 100, 10)]),
    page('runs/', [], [entry('runs/log.txt', 200, 20, 'STANDARD_IA')]),
  ],
  'runs/',
);
const all = (l: Listing) => Uint32Array.from({ length: l.length }, (_, i) => i);
const names = (l: Listing, idx: Uint32Array) => Array.from(idx, (i) => l.name(i));

describe('Listing', () => {
  it('keeps entries in listing order, names relative to the prefix', () => {
    expect(names(listing, all(listing))).toEqual(['b/', 'a/', 'checkpoint-10.ckpt', 'checkpoint-2.ckpt', 'log.txt']);
    expect(listing.isFolder(0)).toBe(true);
    expect(listing.isFolder(2)).toBe(false);
  });
  it('gives rows back as they came in (size, date, storage class)', () => {
    expect(listing.row(2)).toEqual({ key: 'runs/checkpoint-10.ckpt', name: 'checkpoint-10.ckpt', is_prefix: false, size: 300, last_modified: 30, storage_class: 'STANDARD_IA' });
    expect(listing.row(0)).toEqual({ key: 'runs/b/', name: 'b/', is_prefix: true, size: 0, last_modified: null, storage_class: null });
    expect(listing.storageClass(3)).toBeNull();
    expect(listing.storageClass(4)).toBe('STANDARD_IA');
  });
  it('snapshots do not change as more pages arrive', () => {
    const b = new ListingBuilder('p/');
    for (let i = 0; i < 300; i++) b.add(page('p/', [], [entry(`p/f${i}`, i, null)]));
    const early = b.snapshot();
    for (let i = 300; i < 1000; i++) b.add(page('p/', [], [entry(`p/f${i}`, i, i)]));
    const late = b.snapshot();
    expect(early.length).toBe(300);
    expect(late.length).toBe(1000);
    expect(early.size(299)).toBe(299);
    expect(late.row(999)).toMatchObject({ key: 'p/f999', size: 999, last_modified: 999 });
    expect(late.lastModified(10)).toBeNull();
    expect(late.keys()).toHaveLength(1000);
    expect(early.keys()).toHaveLength(300);
  });
  it('is empty before anything arrives', () => {
    const e = emptyListing('x/');
    expect(e.length).toBe(0);
    expect(sortListing(e, { key: 'name', dir: 'asc' })).toHaveLength(0);
  });
});

describe('sortListing', () => {
  it('sorts names naturally (checkpoint-2 before checkpoint-10) with folders first', () => {
    expect(names(listing, sortListing(listing, { key: 'name', dir: 'asc' }))).toEqual(['a/', 'b/', 'checkpoint-2.ckpt', 'checkpoint-10.ckpt', 'log.txt']);
    expect(names(listing, sortListing(listing, { key: 'name', dir: 'desc' }))).toEqual(['b/', 'a/', 'log.txt', 'checkpoint-10.ckpt', 'checkpoint-2.ckpt']);
  });
  it('sorts by size and by date in both directions', () => {
    expect(names(listing, sortListing(listing, { key: 'size', dir: 'desc' })).slice(2)).toEqual(['checkpoint-10.ckpt', 'log.txt', 'checkpoint-2.ckpt']);
    expect(names(listing, sortListing(listing, { key: 'date', dir: 'asc' })).slice(2)).toEqual(['checkpoint-2.ckpt', 'log.txt', 'checkpoint-10.ckpt']);
    expect(names(listing, sortListing(listing, { key: 'date', dir: 'asc' })).slice(0, 2)).toEqual(['a/', 'b/']);
  });
  it('breaks size ties by name', () => {
    const l = listingFromPages([page('', [], [entry('c-10', 5, 1), entry('c-9', 5, 1), entry('big', 9, 1)])], '');
    expect(names(l, sortListing(l, { key: 'size', dir: 'asc' }))).toEqual(['c-9', 'c-10', 'big']);
  });
  it('sorts a 100k listing in the order S3 returns it quickly enough for a click', () => {
    // S3 lists keys in byte order; natural order of zero-padded names is the same, so this is the common case.
    const b = new ListingBuilder('p/');
    for (let p = 0; p < 100; p++) {
      b.add(page('p/', [], Array.from({ length: 1000 }, (_, k) => {
        const i = p * 1000 + k;
        return entry(`p/part-${String(i).padStart(6, '0')}.bin`, (i * 7919) % 100_000, i);
      })));
    }
    const many = b.snapshot();
    const t = performance.now();
    const byName = sortListing(many, { key: 'name', dir: 'asc' });
    expect(performance.now() - t).toBeLessThan(1000);
    expect(many.name(byName[0])).toBe('part-000000.bin');
    const t2 = performance.now();
    expect(many.size(sortListing(many, { key: 'size', dir: 'desc' })[0])).toBe(99_999);
    expect(performance.now() - t2).toBeLessThan(1000);
  });
  it('sorts shuffled unpadded names naturally', () => {
    const l = listingFromPages([page('p/', [], Array.from({ length: 20_000 }, (_, i) => entry(`p/part-${(i * 7919) % 20_000}.bin`, i, i)))], 'p/');
    const sorted = sortListing(l, { key: 'name', dir: 'asc' });
    expect(l.name(sorted[0])).toBe('part-0.bin');
    expect(l.name(sorted[2])).toBe('part-2.bin');
    expect(l.name(sorted[19_999])).toBe('part-19999.bin');
  });
});

describe('filterListing', () => {
  const byName = sortListing(listing, { key: 'name', dir: 'asc' });
  it('matches every word, case-insensitively, keeping the order', () => {
    expect(names(listing, filterListing(listing, byName, 'CKPT 10'))).toEqual(['checkpoint-10.ckpt']);
    expect(names(listing, filterListing(listing, byName, 'ckpt'))).toEqual(['checkpoint-2.ckpt', 'checkpoint-10.ckpt']);
  });
  it('returns everything for an empty filter', () => expect(filterListing(listing, byName, '  ')).toHaveLength(5));
  it('matches the name only, not the prefix above it', () => expect(filterListing(listing, byName, 'runs')).toHaveLength(0));
});

describe('totals, keys and rows of an index', () => {
  const every = all(listing);
  it('counts objects, folders and bytes', () => expect(totals(listing, every)).toEqual({ objects: 3, folders: 2, bytes: 600 }));
  it('gives keys in index order and the bytes of a selection', () => {
    expect(keysOf(listing, Uint32Array.of(4, 0))).toEqual(['runs/log.txt', 'runs/b/']);
    expect(bytesOf(listing, every, new Set(['runs/log.txt', 'runs/checkpoint-2.ckpt']))).toBe(300);
    expect(bytesOf(listing, every, new Set())).toBe(0);
  });
  it('makes rows only for the slice asked for', () => {
    const src = rowsOf(listing, sortListing(listing, { key: 'name', dir: 'asc' }));
    expect(src.length).toBe(5);
    expect(src.slice(2, 4).map((r) => r.name)).toEqual(['checkpoint-2.ckpt', 'checkpoint-10.ckpt']);
  });
});

describe('nextSort', () => {
  it('flips the direction on the same column', () => expect(nextSort({ key: 'name', dir: 'asc' }, 'name')).toEqual({ key: 'name', dir: 'desc' }));
  it('starts sizes and dates with the largest/newest', () => expect(nextSort({ key: 'name', dir: 'asc' }, 'date')).toEqual({ key: 'date', dir: 'desc' }));
});

describe('breadcrumb and parentPrefix', () => {
  it('splits a prefix into clickable crumbs', () => {
    expect(breadcrumb('runs/a/')).toEqual([{ label: 'runs', prefix: 'runs/' }, { label: 'a', prefix: 'runs/a/' }]);
    expect(breadcrumb('')).toEqual([]);
  });
  it('goes one level up', () => {
    expect(parentPrefix('runs/a/')).toBe('runs/');
    expect(parentPrefix('runs/')).toBe('');
  });
});

describe('naturalKey', () => {
  it('orders digit runs by value and ignores case', () => {
    expect(naturalKey('Ckpt-2') < naturalKey('ckpt-10')).toBe(true);
    expect(naturalKey('epoch=9-step=900') < naturalKey('epoch=10-step=1000')).toBe(true);
  });
});
