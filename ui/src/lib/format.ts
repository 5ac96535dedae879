/**
 * Human formatting of sizes, rates, durations and times: one place, so every view says
 * "1.5 GiB" and "3 min ago" the same way.
 */

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** Bytes in binary units with three significant digits: `0 B`, `999 B`, `1.50 KiB`, `12.3 GiB`. */
export function humanBytes(bytes: number | null | undefined): string {
  if (bytes == null || !Number.isFinite(bytes) || bytes < 0) return '—';
  if (bytes < 1024) return `${Math.round(bytes)} B`;
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  // Rounding can turn 1023.9 KiB into "1024 KiB": show it as the next unit instead.
  if (Math.round(value) >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const digits = value >= 100 ? 0 : value >= 10 ? 1 : 2;
  return `${value.toFixed(digits)} ${UNITS[unit]}`;
}

/** Throughput: `12.3 MiB/s`; `—` when the rate is not known yet. */
export function humanRate(bytesPerSec: number | null | undefined): string {
  if (bytesPerSec == null || !Number.isFinite(bytesPerSec) || bytesPerSec <= 0) return '—';
  return `${humanBytes(bytesPerSec)}/s`;
}

/** A duration in seconds, two units at most: `<1 s`, `42 s`, `3 min 05 s`, `2 h 07 min`, `3 d 4 h`. */
export function humanDuration(seconds: number | null | undefined): string {
  if (seconds == null || !Number.isFinite(seconds) || seconds < 0) return '—';
  if (seconds < 1) return '<1 s';
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  const pad = (n: number) => String(n).padStart(2, '0');
  if (s < 3600) return `${Math.floor(s / 60)} min ${pad(s % 60)} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${pad(Math.floor((s % 3600) / 60))} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

/** Remaining time of a transfer: `2 min 10 s left`, or `—` while unknown. */
export function eta(etaSecs: number | null | undefined): string {
  if (etaSecs == null || !Number.isFinite(etaSecs) || etaSecs < 0) return '—';
  return `${humanDuration(etaSecs)} left`;
}

/** How long ago `then` was, relative to `now` (both seconds since the epoch). */
export function relativeTime(then: number | null | undefined, now: number = Date.now() / 1000): string {
  if (then == null || !Number.isFinite(then)) return '—';
  const d = now - then;
  if (d < -60) return absoluteTime(then);
  if (d < 45) return 'just now';
  if (d < 3600) return `${Math.max(1, Math.floor(d / 60))} min ago`;
  if (d < 86400) return `${Math.floor(d / 3600)} h ago`;
  if (d < 2 * 86400) return 'yesterday';
  if (d < 30 * 86400) return `${Math.floor(d / 86400)} days ago`;
  return absoluteTime(then).slice(0, 10);
}

/** `2026-11-29 10:12` in local time: sortable and unambiguous in a table. */
export function absoluteTime(epochSecs: number | null | undefined): string {
  if (epochSecs == null || !Number.isFinite(epochSecs)) return '—';
  const t = new Date(epochSecs * 1000);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${t.getFullYear()}-${p(t.getMonth() + 1)}-${p(t.getDate())} ${p(t.getHours())}:${p(t.getMinutes())}`;
}

/** `1 object` / `12,345 objects`. */
export function plural(n: number, word: string, wordPlural = `${word}s`): string {
  return `${n.toLocaleString('en-US')} ${n === 1 ? word : wordPlural}`;
}

/** Storage class for display: `STANDARD_IA` → `Standard IA`; absent → `Standard`. */
export function humanStorageClass(cls: string | null | undefined): string {
  if (!cls) return 'Standard';
  return cls
    .split('_')
    .map((w) => (w.length <= 2 ? w : w[0] + w.slice(1).toLowerCase()))
    .join(' ');
}

/** US dollars: `$0.00`, `$0.004` (tiny amounts keep one significant digit), `$1,234.56`. */
export function humanUsd(v: number | null | undefined): string {
  if (v == null || !Number.isFinite(v)) return '—';
  const sign = v < 0 ? '-' : '';
  const a = Math.abs(v);
  if (a !== 0 && a < 0.01) return `${sign}$${Number(a.toPrecision(1))}`;
  return `${sign}$${a.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
}
