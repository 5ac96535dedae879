/**
 * Pure helpers of the Runs view: which series are curves worth drawing, how series with different
 * steps become one uPlot data table, and the words and numbers shown per run.
 */

import { writable } from 'svelte/store';
import type { MetricSeries, RunOverview, RunStatus } from './types';

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

export const STATUS_LABEL: Record<RunStatus, string> = { running: 'Running', finished: 'Finished', stalled: 'Stalled', unknown: 'Unknown' };

/** The run label shown in lists (`.` for the location itself). */
export function runLabel(name: string): string {
  return name === '' ? '.' : name;
}

/** What the Runs view had on screen (kept across navigation). */
export const runsView = writable<{ location: string; run: string | null; source: string | null }>({ location: '', run: null, source: null });
