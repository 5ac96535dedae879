import { describe, expect, it } from 'vitest';
import { alignSeries, buildLevels, computeText, computeTitle, formatDuration, lossSeries, pickLevel, progressText, rateText } from '../src/lib/runs';
import type { MetricSeries, RunOverview } from '../src/lib/types';

const s = (name: string, steps: number[], values: number[]): MetricSeries => ({ name, steps, values });

describe('lossSeries', () => {
  it('puts the train loss first, keeps other losses, drops non-losses and single points', () => {
    const out = lossSeries([s('learning_rate', [1, 2], [1, 1]), s('eval_loss', [1, 2], [2, 1]), s('loss', [1, 2], [3, 2]), s('train_loss', [9], [1])]);
    expect(out.map((x) => x.name)).toEqual(['loss', 'eval_loss']);
  });
});

describe('alignSeries', () => {
  it('merges steps and fills gaps with null', () => {
    const [x, a, b] = alignSeries([s('loss', [10, 20, 30], [3, 2, 1]), s('eval_loss', [20, 40], [2.5, 1.5])]);
    expect(Array.from(x)).toEqual([10, 20, 30, 40]);
    expect(a).toEqual([3, 2, 1, null]);
    expect(b).toEqual([null, 2.5, null, 1.5]);
  });

  it('turns NaN into gaps and aligns 100k points quickly', () => {
    const n = 100_000;
    const steps = Array.from({ length: n }, (_, i) => i);
    const t0 = performance.now();
    const [x, y, z] = alignSeries([s('loss', steps, steps.map((i) => (i === 5 ? NaN : 1 / (i + 1)))), s('eval_loss', steps.filter((i) => i % 1000 === 0), steps.filter((i) => i % 1000 === 0).map(() => 1))]);
    expect(performance.now() - t0).toBeLessThan(500);
    expect(x.length).toBe(n);
    expect(y[5]).toBeNull();
    expect(z[1000]).toBe(1);
    expect(z[999]).toBeNull();
  });
});

describe('texts', () => {
  const run = (latest: number | null, total: number | null) => ({ latest_step: latest, total_steps: total }) as RunOverview;
  it('formats progress, rates and durations', () => {
    expect(progressText(run(1500, 3000))).toBe('1,500 / 3,000 (50%)');
    expect(progressText(run(400, null))).toBe('400');
    expect(progressText(run(null, 10))).toBe('–');
    expect(rateText(2.25)).toBe('2.3 steps/s');
    expect(rateText(0.05)).toBe('3.0 steps/min');
    expect(formatDuration(42)).toBe('42s');
    expect(formatDuration(250)).toBe('4m 10s');
    expect(formatDuration(7500)).toBe('2h 05m');
    expect(formatDuration(null)).toBe('–');
  });
  it('shows a run\'s compute cost and where it comes from', () => {
    const c = { instance: 'p4d.24xlarge', spot: false, count: 2, usd_per_hour: 21.96, hours: 5.5, usd: 241.56, price_date: '2026-12-03', price_source: 'https://aws.amazon.com/ec2/instance-types/p4/', start: 0, end: 19800 };
    expect(computeText(c)).toBe('$241.56 · 2 × p4d.24xlarge');
    expect(computeText({ ...c, count: 1, spot: true, usd: 9.8 })).toBe('$9.80 · p4d.24xlarge spot');
    expect(computeText(null)).toBe('–');
    expect(computeTitle(c)).toBe('5.50 h × $21.96/h × 2 (prices of 2026-12-03: https://aws.amazon.com/ec2/instance-types/p4/)');
  });
});

describe('levels of detail (buildLevels / pickLevel)', () => {
  const n = 100_000;
  const xs = Array.from({ length: n }, (_, i) => i + 1);
  const ys = xs.map((x) => Math.sin(x / 50) + (x === 77_777 ? 10 : 0));

  it('keeps small curves as they are', () => {
    expect(buildLevels([xs.slice(0, 1000), ys.slice(0, 1000)])).toHaveLength(1);
  });

  it('coarser levels keep the ends, the order and every extreme (a one-step spike too)', () => {
    const levels = buildLevels([xs, ys]);
    expect(levels.length).toBeGreaterThan(2);
    for (const [lx, ly] of levels.slice(1)) {
      expect(lx.length).toBeLessThan(n);
      expect([lx[0], lx[lx.length - 1]]).toEqual([1, n]);
      expect((lx as number[]).every((x, i) => i === 0 || x > (lx[i - 1] as number))).toBe(true);
      expect(Math.max(...(ly as number[]))).toBe(Math.max(...ys));
    }
  });

  it('picks the coarsest level with two rows per pixel in view, the full data when zoomed in', () => {
    const levels = buildLevels([xs, ys]);
    const full = pickLevel(levels, 1, n, 800);
    expect(full).toBeGreaterThan(0);
    expect(levels[full][0].length).toBeGreaterThanOrEqual(1600);
    expect(pickLevel(levels, 50_000, 50_400, 800)).toBe(0);
    expect(pickLevel(levels, 1, n / 2, 800)).toBeLessThanOrEqual(full);
  });

  it('handles several series with gaps', () => {
    const other = xs.map((x) => (x % 3 === 0 ? x : null));
    const levels = buildLevels([xs, ys, other]);
    const last = levels[levels.length - 1];
    expect(last).toHaveLength(3);
    expect(Math.max(...(last[2].filter((v) => v !== null) as number[]))).toBe(99_999);
  });
});
