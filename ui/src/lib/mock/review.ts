/**
 * `?mock` stand-ins for the review commands: a report computed from the fixture's objects with the
 * same groupings as the core (docs/review.md), a flat AWS us-east-1 price per class, a few savings
 * actions, and a month of review snapshots so the growth chart has a history. Never used in Tauri.
 */

import type { ClassUsage, ObjectEntry, ReviewGroup, ReviewOutcome, ReviewReport, ReviewSnapshot, RunGroup, SavingsAction } from '../types';

const GB = 1e9;
/** USD per GB-month, AWS S3 us-east-1 (first 50 TB tier), 2026-11. */
const PRICE: Record<string, number> = {
  STANDARD: 0.023, INTELLIGENT_TIERING: 0.023, STANDARD_IA: 0.0125, ONEZONE_IA: 0.01, GLACIER_IR: 0.004, GLACIER: 0.0036, DEEP_ARCHIVE: 0.00099,
};
const usdOf = (cls: string, bytes: number) => ((PRICE[cls] ?? PRICE.STANDARD) * bytes) / GB;

type Acc = { objects: number; bytes: number; usd: number; by: Map<string, ClassUsage> };
const acc = (): Acc => ({ objects: 0, bytes: 0, usd: 0, by: new Map() });
function add(a: Acc, cls: string, size: number) {
  a.objects += 1;
  a.bytes += size;
  a.usd += usdOf(cls, size);
  const u = a.by.get(cls) ?? { storage_class: cls, bytes: 0, objects: 0, small_objects: 0, small_bytes: 0 };
  u.bytes += size;
  u.objects += 1;
  if (size < 128 * 1024) {
    u.small_objects += 1;
    u.small_bytes += size;
  }
  a.by.set(cls, u);
}
const group = (name: string, a: Acc): ReviewGroup => ({ name, objects: a.objects, bytes: a.bytes, monthly_usd: a.usd, classes: [...a.by.values()] });

const AGE_BANDS: [string, number][] = [['<7d', 7], ['7-30d', 30], ['30-90d', 90], ['90-365d', 365], ['>1y', Infinity]];

/** The run directory of a key (`…runs/<name>/`), if any. */
function runOf(key: string): string | null {
  const m = /^(.*?runs\/[^/]+\/)/.exec(key);
  return m ? m[1] : null;
}

/** The checkpoint a key belongs to inside its run: `checkpoint-N/` directory or `*.ckpt` file. */
function checkpointOf(key: string, run: string): string | null {
  const rest = key.slice(run.length);
  const dir = /^(.*?checkpoint-\d+\/)/.exec(rest);
  if (dir) return run + dir[1];
  if (rest.endsWith('.ckpt')) return key;
  return null;
}

/** All directory prefixes of a relative key (`a/b/c.bin` → `a/`, `a/b/`). */
function dirsOf(rel: string): string[] {
  const out: string[] = [];
  for (let i = rel.indexOf('/'); i >= 0; i = rel.indexOf('/', i + 1)) out.push(rel.slice(0, i + 1));
  return out;
}

export function mockReview(all: ObjectEntry[], bucket: string, prefix: string, now: number): ReviewOutcome {
  const t0 = Date.now();
  const totals = acc();
  const prefixes = new Map<string, Acc>();
  const dirs = new Map<string, Acc>();
  const runs = new Map<string, Acc>();
  const classes = new Map<string, Acc>();
  const ages = new Map<string, Acc>(AGE_BANDS.map(([n]) => [n, acc()]));
  const ckpts = new Map<string, Map<string, { bytes: number; objects: number; last: number }>>();
  const largest: ObjectEntry[] = [];
  for (const o of all) {
    if (!o.key.startsWith(prefix)) continue;
    const cls = o.storage_class ?? 'STANDARD';
    add(totals, cls, o.size);
    const rel = o.key.slice(prefix.length);
    const slash = rel.indexOf('/');
    const top = slash >= 0 ? rel.slice(0, slash + 1) : '(top level)';
    if (!prefixes.has(top)) prefixes.set(top, acc());
    add(prefixes.get(top)!, cls, o.size);
    for (const d of dirsOf(rel)) {
      if (!dirs.has(d)) dirs.set(d, acc());
      add(dirs.get(d)!, cls, o.size);
    }
    if (!classes.has(cls)) classes.set(cls, acc());
    add(classes.get(cls)!, cls, o.size);
    const days = (now - (o.last_modified ?? now)) / 86400;
    add(ages.get(AGE_BANDS.find(([, d]) => days < d)![0])!, cls, o.size);
    const run = runOf(rel);
    if (run) {
      if (!runs.has(run)) runs.set(run, acc());
      add(runs.get(run)!, cls, o.size);
      const ck = checkpointOf(rel, run);
      if (ck) {
        const m = ckpts.get(run) ?? new Map();
        const c = m.get(ck) ?? { bytes: 0, objects: 0, last: 0 };
        c.bytes += o.size;
        c.objects += 1;
        c.last = Math.max(c.last, o.last_modified ?? 0);
        m.set(ck, c);
        ckpts.set(run, m);
      }
    }
    if (largest.length < 20 || o.size > largest[largest.length - 1].size) {
      largest.push(o);
      largest.sort((a, b) => b.size - a.size || a.key.localeCompare(b.key));
      if (largest.length > 20) largest.pop();
    }
  }
  const byBytes = (a: ReviewGroup, b: ReviewGroup) => b.bytes - a.bytes;
  const byRun: RunGroup[] = [...runs].map(([run, a]) => {
    const m = ckpts.get(run) ?? new Map();
    const sizes = [...m.entries()]
      .map(([id, c]) => ({ id, layout: id.endsWith('.ckpt') ? 'lightning' : 'hf_trainer', step: Number(/(\d+)\D*$/.exec(id)?.[1] ?? 0), objects: c.objects, bytes: c.bytes, last_modified: c.last }))
      .sort((x, y) => (x.last_modified ?? 0) - (y.last_modified ?? 0));
    return {
      run, total: group(run, a), checkpoints: sizes.length, checkpoint_bytes: sizes.reduce((s, c) => s + c.bytes, 0),
      checkpoint_objects: sizes.reduce((s, c) => s + c.objects, 0), checkpoint_sizes: sizes, last_modified: Math.max(0, ...sizes.map((c) => c.last_modified ?? 0)),
    };
  }).sort((a, b) => b.total.bytes - a.total.bytes);
  const savings: SavingsAction[] = [];
  for (const r of byRun) {
    const old = r.checkpoint_sizes.slice(0, -2);
    const bytes = old.reduce((a, x) => a + x.bytes, 0);
    if (old.length > 0) {
      savings.push({ kind: 'cleanup', title: `Delete ${old.length} old checkpoints of ${r.run} (keep the newest 2)`, bucket, prefix: prefix + r.run, objects: old.reduce((a, x) => a + x.objects, 0), bytes, monthly_usd_saved: usdOf('STANDARD', bytes), one_time_usd: 0 });
    }
  }
  for (const [p, a] of prefixes) {
    const hot = a.by.get('STANDARD')?.bytes ?? 0;
    if (p.includes('datasets') && hot > 0) {
      savings.push({ kind: 'lifecycle', title: `Transition ${p} to GLACIER_IR after 30 days`, bucket, prefix: prefix + p, objects: a.by.get('STANDARD')?.objects ?? 0, bytes: hot, monthly_usd_saved: usdOf('STANDARD', hot) - usdOf('GLACIER_IR', hot), one_time_usd: ((a.by.get('STANDARD')?.objects ?? 0) * 0.02) / 1000 });
    }
  }
  savings.sort((a, b) => b.monthly_usd_saved - a.monthly_usd_saved);
  const report: ReviewReport = {
    version: 1,
    location: `s3://${bucket}/${prefix}`,
    source: 'listing',
    generated_at: Math.round(now),
    elapsed_ms: Date.now() - t0,
    totals: group('total', totals),
    by_prefix: [...prefixes].map(([n, a]) => group(n, a)).sort(byBytes),
    by_storage_class: [...classes].map(([n, a]) => group(n, a)).sort(byBytes),
    by_age: [...ages].map(([n, a]) => group(n, a)),
    by_run: byRun,
    largest_objects: largest.map((o) => ({ key: o.key, bytes: o.size, storage_class: o.storage_class ?? 'STANDARD', last_modified: o.last_modified })),
    largest_prefixes: [...dirs].map(([n, a]) => group(n, a)).sort(byBytes).slice(0, 20),
    hidden: { multipart_uploads: 2, multipart_parts: 37, multipart_bytes: 3.1 * 1024 ** 3, oldest_upload: Math.round(now - 9 * 86400), versioning: null, noncurrent_versions: 0, noncurrent_bytes: 0, delete_markers: 0, monthly_usd: usdOf('STANDARD', 3.1 * 1024 ** 3), classes: [] },
    pricing: { provider: 'aws', region: 'us-east-1', missing: null },
    unseen: ['noncurrent versions: this server does not implement ListObjectVersions'],
  };
  return { report, savings };
}

/** A month of reviews of the location growing towards `report` (stable for screenshots). */
export function mockSnapshots(report: ReviewReport, now: number): ReviewSnapshot[] {
  const out: ReviewSnapshot[] = [];
  for (let i = 9; i >= 1; i--) {
    const f = 1 - i * 0.065 + (i % 3) * 0.01;
    const totals = { ...report.totals, objects: Math.round(report.totals.objects * f), bytes: Math.round(report.totals.bytes * f), monthly_usd: (report.totals.monthly_usd ?? 0) * f };
    out.push({ ...snapshotOf(report), generated_at: Math.round(now - i * 3.3 * 86400), totals });
  }
  return out;
}

/** The snapshot the core keeps of a report. */
export function snapshotOf(r: ReviewReport): ReviewSnapshot {
  return { generated_at: r.generated_at, location: r.location, source: r.source, totals: r.totals, by_storage_class: r.by_storage_class, by_prefix: r.by_prefix.slice(0, 50) };
}
