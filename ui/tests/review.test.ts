// Data shaping of the Dashboard's storage review (ui/src/lib/review.ts): the numbers the charts
// draw, checked on small hand-made reports and on the mock fixture's report.
import { describe, expect, it } from 'vitest';
import { humanUsd } from '../src/lib/format';
import {
  classStacks, growthSeries, hiddenBytes, hiddenRows, OTHER, overBudget, parseLocation, rankSavings, referenceRows, relativeName, treemapTree, type TreeNode,
} from '../src/lib/review';
import type { ReviewGroup, ReviewReport, ReviewSnapshot, RunGroup, SavingsAction } from '../src/lib/types';

const G = 1e9;

const g = (name: string, bytes: number, objects = 1, monthly_usd: number | null = null, classes: Record<string, number> = {}): ReviewGroup => ({
  name, objects, bytes, monthly_usd,
  classes: Object.entries(classes).map(([storage_class, b]) => ({ storage_class, bytes: b, objects: 1, small_objects: 0, small_bytes: 0 })),
});

function run(path: string, total: ReviewGroup, ckpts: [string, number, number][] = []): RunGroup {
  return {
    run: path, total, checkpoints: ckpts.length, checkpoint_bytes: ckpts.reduce((a, c) => a + c[1], 0), checkpoint_objects: ckpts.reduce((a, c) => a + c[2], 0),
    checkpoint_sizes: ckpts.map(([id, bytes, objects], i) => ({ id, layout: 'hf_trainer', step: i, objects, bytes, last_modified: i })), last_modified: null, datasets: [],
  };
}

function report(partial: Partial<ReviewReport> = {}): ReviewReport {
  return {
    version: 1, location: 's3://b/', source: 'listing', generated_at: 1000, elapsed_ms: 500,
    totals: g('total', 0, 0, 0),
    by_prefix: [], by_storage_class: [], by_age: [], by_run: [], largest_objects: [], largest_prefixes: [],
    hidden: null, duplicates: null, pricing: { provider: 'aws', region: 'us-east-1', missing: null }, unseen: [], ...partial,
  };
}

const sum = (nodes: TreeNode[]) => nodes.reduce((a, n) => a + n.value, 0);

describe('treemapTree', () => {
  const r = report({
    by_prefix: [g('datasets/', 30 * G, 10, 0.6), g('runs/', 100 * G, 25, 2.3), g('empty/', 0, 0, 0), g('(top level)', 1 * G, 2, 0.02)],
    largest_prefixes: [g('runs/', 100 * G, 25, 2.3), g('runs/a/', 70 * G, 15, 1.61), g('datasets/big/', 20 * G, 4, 0.4)],
    by_run: [
      run('runs/a/', g('runs/a/', 70 * G, 15, 1.61), [['runs/a/checkpoint-1/', 20 * G, 5], ['runs/a/checkpoint-2/', 40 * G, 5]]),
      run('runs/b/', g('runs/b/', 25 * G, 8, 0.575)),
    ],
  });
  const tree = treemapTree(r);

  it('orders top-level prefixes by bytes, keeps the top-level files, drops empty prefixes', () => {
    expect(tree.map((n) => n.name)).toEqual(['runs/', 'datasets/', '(top level)']);
    expect(sum(tree)).toBe(131 * G);
  });

  it('hangs runs and nested prefixes under their longest known ancestor, with a remainder that closes the sum', () => {
    const runs = tree[0].children!;
    expect(runs.map((n) => n.name)).toEqual(['a/', 'b/', OTHER]);
    expect(sum(runs)).toBe(100 * G);
    expect(runs[2]).toMatchObject({ value: 5 * G, objects: 2, path: 'runs/' });
    expect(tree[1].children!.map((n) => n.name)).toEqual(['big/', OTHER]);
  });

  it('puts checkpoints under their run, largest first, with a share of its cost', () => {
    const a = tree[0].children![0];
    expect(a.children!.map((n) => n.name)).toEqual(['checkpoint-2/', 'checkpoint-1/', OTHER]);
    expect(sum(a.children!)).toBe(70 * G);
    expect(a.children![0].usd).toBeCloseTo((1.61 * 40) / 70, 6);
  });

  it('leaves prefixes nothing is known under as leaves', () => {
    expect(tree[1].children![0].children).toBeUndefined();
    expect(tree[2].children).toBeUndefined();
  });

  it('names paths relative to their parent and parses locations', () => {
    expect(relativeName('runs/a/', 'runs/')).toBe('a/');
    expect(relativeName('x/', 'runs/')).toBe('x/');
    expect(parseLocation('s3://demo/runs/a/')).toEqual({ bucket: 'demo', prefix: 'runs/a/' });
    expect(parseLocation('s3://demo/')).toEqual({ bucket: 'demo', prefix: '' });
  });
});

describe('classStacks', () => {
  it('stacks classes per prefix (hot to cold), folding the tail into "N more"', () => {
    const r = report({
      by_prefix: [
        g('a/', 10, 2, 0, { GLACIER: 4, STANDARD: 6 }),
        g('b/', 8, 1, 0, { STANDARD_IA: 8 }),
        g('c/', 3, 1, 0, { '': 3 }),
        g('d/', 2, 1, 0, { GLACIER: 2 }),
      ],
    });
    const s = classStacks(r, 2);
    expect(s.categories).toEqual(['a/', 'b/', '2 more']);
    expect(s.series.map((x) => x.storageClass)).toEqual(['STANDARD', 'STANDARD_IA', 'GLACIER']);
    expect(s.series[0].data).toEqual([6, 0, 3]);
    expect(s.series[2].data).toEqual([4, 0, 2]);
  });

  it('falls back to one bar from by_storage_class when groups carry no class breakdown', () => {
    const r = report({ by_prefix: [g('a/', 10)], by_storage_class: [g('GLACIER', 4), g('STANDARD', 6), g('ONEZONE_IA', 0)] });
    expect(classStacks(r)).toEqual({ categories: ['s3://b/'], series: [{ storageClass: 'STANDARD', data: [6] }, { storageClass: 'GLACIER', data: [4] }] });
  });
});

describe('rankSavings', () => {
  const a = (title: string, usd: number, bytes = 1): SavingsAction => ({ kind: 'cleanup', title, bucket: 'b', prefix: 'p/', objects: 1, bytes, monthly_usd_saved: usd, one_time_usd: 0 });
  it('keeps positive savings, best first, at most `limit`', () => {
    const out = rankSavings([a('small', 0.5), a('none', 0), a('loss', -2), a('big', 9), a('mid', 3)], 3);
    expect(out.map((x) => x.title)).toEqual(['big', 'mid', 'small']);
  });
  it('breaks ties by fewer bytes touched', () => {
    expect(rankSavings([a('more', 1, 50), a('less', 1, 5)]).map((x) => x.title)).toEqual(['less', 'more']);
  });
});

describe('growth, hidden bytes, budget, dollars', () => {
  it('keeps one location, sorted, one point per time', () => {
    const snap = (location: string, generated_at: number, bytes: number, usd: number | null): ReviewSnapshot => ({
      location, generated_at, source: 'listing', totals: g('total', bytes, 1, usd), by_storage_class: [], by_prefix: [],
    });
    const s = growthSeries([snap('x', 30, 300, 3), snap('y', 5, 900, 9), snap('x', 10, 100, null), snap('x', 30, 400, 4)], 'x');
    expect(s).toEqual([[10, 30], [100, 400], [null, 4]]);
  });
  it('lists only hidden kinds that exist and sums their bytes', () => {
    const h = { multipart_uploads: 2, multipart_parts: 9, multipart_bytes: 500, oldest_upload: null, versioning: 'Enabled', noncurrent_versions: 0, noncurrent_bytes: 0, delete_markers: 3, monthly_usd: 0.1, classes: [] };
    expect(hiddenRows(h).map((r) => r.label)).toEqual(['Incomplete multipart uploads', 'Delete markers']);
    expect(hiddenBytes(h)).toBe(500);
    expect(hiddenRows(null)).toEqual([]);
  });
  it('shows logical, stored and saved bytes of content references, saved priced', () => {
    const x = {
      refs: 4, ref_bytes: 600, logical_bytes: 4 * G, content_objects: 2, content_bytes: 2 * G, unread: 0,
      logical_total: 5 * G, stored_total: 3 * G + 600, saved_bytes: 2 * G - 600, monthly_usd_saved: 0.046,
    };
    expect(referenceRows(x)).toEqual([
      { label: 'Logical (every file at its size)', bytes: 5 * G, usd: null },
      { label: 'Stored (what is billed)', bytes: 3 * G + 600, usd: null },
      { label: 'Saved by references', bytes: 2 * G - 600, usd: 0.046 },
    ]);
    expect(referenceRows({ ...x, monthly_usd_saved: null })[2].usd).toBeNull();
    expect(referenceRows(undefined)).toEqual([]);
    expect(referenceRows(report().references)).toEqual([]);
  });
  it('warns only over a budget that is set', () => {
    expect(overBudget(12, 10)).toBe(true);
    expect(overBudget(8, 10)).toBe(false);
    expect(overBudget(12, null)).toBe(false);
    expect(overBudget(12, 0)).toBe(false);
    expect(overBudget(null, 10)).toBe(false);
  });
  it('formats dollars', () => {
    expect(humanUsd(0)).toBe('$0.00');
    expect(humanUsd(1234.567)).toBe('$1,234.57');
    expect(humanUsd(0.0042)).toBe('$0.004');
    expect(humanUsd(-3)).toBe('-$3.00');
    expect(humanUsd(null)).toBe('—');
  });
});
