/**
 * Pure helpers of the Runs view: which series are curves worth drawing, how series with different
 * steps become one uPlot data table, and the words and numbers shown per run.
 */

import { writable } from 'svelte/store';
import { humanUsd } from './format';
import type { ComputeCost, MetricSeries, RunOverview, RunStatus } from './types';

/** Loss-like series first (train loss, then eval/val losses), at most `max`. */
export function lossSeries(series: MetricSeries[], max = 4): MetricSeries[] {
  const rank = (n: string) => (n === 'loss' || n === 'train_loss_step' || n === 'train_loss' ? 0 : /(^|_)loss/.test(n) ? 1 : 9);
  return series
    .filter((s) => rank(s.name) < 9 && s.values.length > 1)
    .sort((a, b) => rank(a.name) - rank(b.name) || a.name.localeCompare(b.name))
    .slice(0, max);
}

/** uPlot's aligned data: one sorted x column (the union of every series' steps) and one y column
 * per series with `null` where that series has no point. Linear in the number of points (a merge
 * of already-sorted step arrays), so 100k points stay cheap. */
export function alignSeries(series: MetricSeries[]): (number | null)[][] {
  if (series.length === 1) {
    const s = series[0];
    return [Float64Array.from(s.steps) as unknown as number[], Array.from(s.values, finite)];
  }
  const xs: number[] = [];
  const idx = series.map(() => 0);
  const cols: (number | null)[][] = series.map(() => []);
  for (;;) {
    let x = Infinity;
    series.forEach((s, i) => { if (idx[i] < s.steps.length && s.steps[idx[i]] < x) x = s.steps[idx[i]]; });
    if (x === Infinity) break;
    xs.push(x);
    series.forEach((s, i) => {
      if (idx[i] < s.steps.length && s.steps[idx[i]] === x) cols[i].push(finite(s.values[idx[i]++]));
      else cols[i].push(null);
    });
  }
  return [xs, ...cols];
}

/** Aligned data with fewer rows than this is drawn as it is. */
export const DECIMATE_ABOVE = 20_000;

/**
 * Levels of detail for a long curve: level 0 is `data` itself; each next level halves the one
 * before by keeping, per bucket of 4 rows per series, the rows holding each series' min and max
 * (and the first and last row of the table), until a level would have fewer than 512 rows.
 * Why: uPlot's redraw is linear in the rows in view, and WebKitGTK runs it at a few µs per row;
 * two rows per pixel column look the same as a hundred. Extremes survive every level.
 */
export function buildLevels(data: (number | null)[][], above = DECIMATE_ABOVE): (number | null)[][][] {
  const levels = [data];
  if (data[0].length <= above) return levels;
  let prev = data;
  while (prev[0].length >= 1024) {
    const next = halve(prev);
    if (next[0].length >= prev[0].length * 0.75) break;
    levels.push(next);
    prev = next;
  }
  return levels;
}

/** One level coarser: per bucket of 4 rows per series, each series' min and max row. */
function halve(data: (number | null)[][]): (number | null)[][] {
  const n = data[0].length;
  const k = 4 * Math.max(1, data.length - 1);
  const keep: number[] = [0];
  for (let b = 0; b < n; b += k) {
    const end = Math.min(n, b + k);
    const picks: number[] = [];
    for (let c = 1; c < data.length; c++) {
      const col = data[c];
      let lo = -1, hi = -1;
      for (let i = b; i < end; i++) {
        const v = col[i];
        if (v === null || v === undefined) continue;
        if (lo < 0 || v < (col[lo] as number)) lo = i;
        if (hi < 0 || v > (col[hi] as number)) hi = i;
      }
      if (lo >= 0) picks.push(lo);
      if (hi >= 0) picks.push(hi);
    }
    picks.sort((x, y) => x - y);
    for (const i of picks) if (i > keep[keep.length - 1]) keep.push(i);
  }
  if (keep[keep.length - 1] !== n - 1) keep.push(n - 1);
  return data.map((col) => keep.map((i) => col[i]));
}

/** The coarsest level still giving at least two rows per pixel column over x in [min, max]. */
export function pickLevel(levels: (number | null)[][][], min: number, max: number, widthPx: number): number {
  for (let j = levels.length - 1; j > 0; j--) {
    const xs = levels[j][0] as number[];
    if (lowerBound(xs, max) - lowerBound(xs, min) >= 2 * widthPx) return j;
  }
  return 0;
}

function lowerBound(xs: ArrayLike<number>, v: number): number {
  let lo = 0, hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (xs[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function finite(v: number): number | null {
  return Number.isFinite(v) ? v : null;
}

/** `2h 05m`, `4m 10s`, `12s`. */
export function formatDuration(secs: number | null): string {
  if (secs === null || !Number.isFinite(secs)) return '–';
  const s = Math.round(secs);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(s / 3600);
  return h < 48 ? `${h}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m` : `${Math.floor(h / 24)}d ${h % 24}h`;
}

/** `1,500 / 3,000 (50%)`, or just the step. */
export function progressText(r: RunOverview): string {
  if (r.latest_step === null) return '–';
  if (!r.total_steps) return r.latest_step.toLocaleString('en-US');
  const pct = Math.min(100, Math.floor((100 * r.latest_step) / r.total_steps));
  return `${r.latest_step.toLocaleString('en-US')} / ${r.total_steps.toLocaleString('en-US')} (${pct}%)`;
}

export function rateText(stepsPerSec: number | null): string {
  if (stepsPerSec === null) return '–';
  return stepsPerSec >= 1 ? `${stepsPerSec.toFixed(1)} steps/s` : `${(stepsPerSec * 60).toFixed(1)} steps/min`;
}

/** A run's compute cost beside it: `$241.56 · 2 × p4d.24xlarge`, with `spot` when priced so. */
export function computeText(c: ComputeCost | null): string {
  return c ? computeLines(c).join(' · ') : '–';
}

/** The cost and what ran it, as the two lines of the Runs table's cell. */
export function computeLines(c: ComputeCost): [string, string] {
  return [humanUsd(c.usd), `${c.count > 1 ? `${c.count} × ` : ''}${c.instance}${c.spot ? ' spot' : ''}`];
}

/** Where the number comes from: hours × price, and the price's date and page. */
export function computeTitle(c: ComputeCost): string {
  return `${c.hours.toFixed(2)} h × ${humanUsd(c.usd_per_hour)}/h${c.count > 1 ? ` × ${c.count}` : ''} (prices of ${c.price_date}: ${c.price_source})`;
}

export const STATUS_LABEL: Record<RunStatus, string> = { running: 'Running', finished: 'Finished', stalled: 'Stalled', unknown: 'Unknown' };

/** The run label shown in lists (`.` for the location itself). */
export function runLabel(name: string): string {
  return name === '' ? '.' : name;
}

/** What the Runs view had on screen (kept across navigation). */
export const runsView = writable<{ location: string; run: string | null; source: string | null }>({ location: '', run: null, source: null });
