import { describe, expect, it } from 'vitest';
import { breadcrumb, filterRows, nextSort, parentPrefix, rowsFromPages, sortRows, totals, type Row } from '../src/lib/listing';
import type { ListPage, ObjectEntry } from '../src/lib/types';

const entry = (key: string, size: number, last_modified: number): ObjectEntry => ({ key, size, last_modified, etag: null, storage_class: null, is_prefix: false });

function page(prefix: string, prefixes: string[], objects: ObjectEntry[]): ListPage {
  return { bucket: 'b', prefix, prefixes, objects, truncated: false, next_token: null };
}

const rows = rowsFromPages(
  [page('runs/', ['runs/b/', 'runs/a/'], [entry('runs/checkpoint-10.ckpt', 300, 30), entry('runs/checkpoint-2.ckpt', 100, 10)]), page('runs/', [], [entry('runs/log.txt', 200, 20)])],
  'runs/',
);
const names = (rs: Row[]) => rs.map((r) => r.name);

describe('rowsFromPages', () => {
  it('puts folders first and names rows relative to the prefix', () => {
    expect(names(rows)).toEqual(['b/', 'a/', 'checkpoint-10.ckpt', 'checkpoint-2.ckpt', 'log.txt']);
    expect(rows[0].is_prefix).toBe(true);
  });
});

describe('sortRows', () => {
  it('sorts names naturally (checkpoint-2 before checkpoint-10) with folders first', () => {
    expect(names(sortRows(rows, { key: 'name', dir: 'asc' }))).toEqual(['a/', 'b/', 'checkpoint-2.ckpt', 'checkpoint-10.ckpt', 'log.txt']);
  });
  it('sorts by size and by date in both directions', () => {
    expect(names(sortRows(rows, { key: 'size', dir: 'desc' })).slice(2)).toEqual(['checkpoint-10.ckpt', 'log.txt', 'checkpoint-2.ckpt']);
    expect(names(sortRows(rows, { key: 'date', dir: 'asc' })).slice(2)).toEqual(['checkpoint-2.ckpt', 'log.txt', 'checkpoint-10.ckpt']);
  });
  it('does not change its input', () => {
    const before = names(rows);
    sortRows(rows, { key: 'size', dir: 'asc' });
    expect(names(rows)).toEqual(before);
  });
  it('sorts a 100k listing in the order S3 returns it quickly enough for a click', () => {
    // S3 lists keys in byte order; natural order of zero-padded names is the same, so this is the common case.
    const many: Row[] = Array.from({ length: 100_000 }, (_, i) => {
      const name = `part-${String(i).padStart(6, '0')}.bin`;
      return { key: `p/${name}`, name, is_prefix: false, size: (i * 7919) % 100_000, last_modified: i, storage_class: null };
    });
    const t = performance.now();
    const byName = sortRows(many, { key: 'name', dir: 'asc' });
    expect(performance.now() - t).toBeLessThan(1000);
    expect(byName[0].name).toBe('part-000000.bin');
    expect(sortRows(many, { key: 'size', dir: 'desc' })[0].size).toBe(99_999);
  });
  it('sorts shuffled unpadded names naturally', () => {
    const many: Row[] = Array.from({ length: 20_000 }, (_, i) => ({ key: `p/part-${(i * 7919) % 20_000}.bin`, name: `part-${(i * 7919) % 20_000}.bin`, is_prefix: false, size: i, last_modified: i, storage_class: null }));
    const sorted = sortRows(many, { key: 'name', dir: 'asc' });
    expect(sorted[0].name).toBe('part-0.bin');
    expect(sorted[2].name).toBe('part-2.bin');
    expect(sorted[19_999].name).toBe('part-19999.bin');
  });
});

describe('filterRows', () => {
  it('matches every word, case-insensitively', () => {
    expect(names(filterRows(rows, 'CKPT 10'))).toEqual(['checkpoint-10.ckpt']);
  });
  it('returns everything for an empty filter', () => expect(filterRows(rows, '  ')).toHaveLength(5));
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

describe('totals', () => {
  it('counts objects, folders and bytes', () => expect(totals(rows)).toEqual({ objects: 3, folders: 2, bytes: 600 }));
});

describe('naturalKey', () => {
  it('orders digit runs by value and ignores case', async () => {
    const { naturalKey } = await import('../src/lib/listing');
    expect(naturalKey('Ckpt-2') < naturalKey('ckpt-10')).toBe(true);
    expect(naturalKey('epoch=9-step=900') < naturalKey('epoch=10-step=1000')).toBe(true);
  });
});
