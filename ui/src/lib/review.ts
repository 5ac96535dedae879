/**
 * Data shaping for the Dashboard's storage review: the core `Report` (docs/review.md) turned into
 * what the charts draw — a prefix → run → checkpoint tree for the treemap, storage-class stacks
 * for the bars, the ranked savings actions, the growth series from local snapshots. Pure
 * functions, so the numbers the charts show are unit-tested without a webview.
 */

import type { ReviewGroup, ReviewHidden, ReviewReferences, ReviewReport, ReviewSnapshot, SavingsAction } from './types';

/** One treemap node: bytes are the area; objects and $/month go into the tooltip. */
export interface TreeNode {
  name: string;
  /** Path relative to the reviewed location (a prefix ending in `/`, or a checkpoint file). */
  path: string;
  value: number;
  objects: number;
  usd: number | null;
  children?: TreeNode[];
}

/** Name of the remainder node under a prefix (objects no known sub-prefix or checkpoint explains). */
export const OTHER = '(other files)';

/** The display name of a path relative to its parent: `runs/llama/` under `runs/` → `llama/`. */
export function relativeName(path: string, parent: string): string {
  const rel = path.startsWith(parent) ? path.slice(parent.length) : path;
  return rel || path;
}

/** `s3://bucket/pre/fix/` → bucket and prefix. */
export function parseLocation(location: string): { bucket: string; prefix: string } {
  const rest = location.replace(/^s3:\/\//, '');
  const slash = rest.indexOf('/');
  return slash < 0 ? { bucket: rest, prefix: '' } : { bucket: rest.slice(0, slash), prefix: rest.slice(slash + 1) };
}

/**
 * The treemap tree from every sized path the report knows: top-level prefixes, the largest
 * prefixes at any depth, the runs, and each run's checkpoints. Each path hangs under its longest
 * known ancestor; whatever a node's children do not explain becomes an `(other files)` child, so
 * children always add up to their parent (areas must not lie). Largest first at every level.
 */
export function treemapTree(report: ReviewReport): TreeNode[] {
  const known = new Map<string, TreeNode>();
  const put = (path: string, bytes: number, objects: number, usd: number | null) => {
    if (!path || path === TOP_LEVEL_NAME) return;
    if (!known.has(path)) known.set(path, { name: path, path, value: bytes, objects, usd });
  };
  for (const r of report.by_run) put(r.run, r.total.bytes, r.total.objects, r.total.monthly_usd);
  for (const g of report.by_prefix) put(g.name, g.bytes, g.objects, g.monthly_usd);
  for (const g of report.largest_prefixes) put(g.name, g.bytes, g.objects, g.monthly_usd);
  for (const r of report.by_run) {
    for (const c of r.checkpoint_sizes) put(c.id, c.bytes, c.objects, share(r.total, c.bytes));
  }
  // Top level: every by_prefix group (including `(top level)` files, as a leaf).
  const roots: TreeNode[] = [];
  const paths = [...known.keys()].sort((a, b) => a.length - b.length);
  for (const path of paths) {
    const node = known.get(path)!;
    const parent = ancestorOf(path, known);
    if (parent) {
      node.name = relativeName(path, parent.path);
      (parent.children ??= []).push(node);
    } else {
      roots.push(node);
    }
  }
  const top = report.by_prefix.find((g) => g.name === TOP_LEVEL_NAME);
  if (top && top.objects > 0) roots.push({ name: TOP_LEVEL_NAME, path: '', value: top.bytes, objects: top.objects, usd: top.monthly_usd });
  return finish(roots.filter((n) => n.value > 0 || n.objects > 0));
}

/** Label the core gives objects directly in the reviewed location. */
export const TOP_LEVEL_NAME = '(top level)';

/** The longest known path that is a proper directory ancestor of `path`. */
function ancestorOf(path: string, known: Map<string, TreeNode>): TreeNode | null {
  const trimmed = path.endsWith('/') ? path.slice(0, -1) : path;
  for (let i = trimmed.lastIndexOf('/'); i > 0; i = trimmed.lastIndexOf('/', i - 1)) {
    const candidate = known.get(trimmed.slice(0, i + 1));
    if (candidate) return candidate;
  }
  return null;
}

/** Sorts every level largest first and adds the remainders. */
function finish(nodes: TreeNode[]): TreeNode[] {
  for (const n of nodes) {
    if (n.children) n.children = withRemainder(finish(n.children), n);
  }
  return nodes.sort((a, b) => b.value - a.value || a.name.localeCompare(b.name));
}

/** The part of a group's cost that `bytes` of it stand for (same mix of classes assumed). */
function share(g: ReviewGroup, bytes: number): number | null {
  if (g.monthly_usd == null || g.bytes <= 0) return null;
  return (g.monthly_usd * bytes) / g.bytes;
}

function withRemainder(children: TreeNode[], parent: TreeNode): TreeNode[] {
  const bytes = parent.value - children.reduce((a, c) => a + c.value, 0);
  const objects = parent.objects - children.reduce((a, c) => a + c.objects, 0);
  if (bytes <= 0 && objects <= 0) return children;
  const usd = parent.usd == null ? null : parent.usd - children.reduce((a, c) => a + (c.usd ?? 0), 0);
  return [...children, { name: OTHER, path: parent.path, value: Math.max(0, bytes), objects: Math.max(0, objects), usd: usd == null ? null : Math.max(0, usd) }];
}

/** Storage classes in the order a bill lists them (hot to cold); unknown ones after. */
export const CLASS_ORDER = ['STANDARD', 'INTELLIGENT_TIERING', 'STANDARD_IA', 'ONEZONE_IA', 'EXPRESS_ONEZONE', 'GLACIER_IR', 'GLACIER', 'DEEP_ARCHIVE', 'REDUCED_REDUNDANCY'];

function classRank(c: string): number {
  const i = CLASS_ORDER.indexOf(c);
  return i < 0 ? CLASS_ORDER.length : i;
}

/** Bars × storage-class stacks, in bytes. */
export interface ClassStacks {
  categories: string[];
  series: { storageClass: string; data: number[] }[];
}

/** Bytes per class of a group (`''` is STANDARD, as S3 means it). */
function bytesByClass(g: ReviewGroup): Record<string, number> {
  const by: Record<string, number> = {};
  for (const c of g.classes ?? []) {
    const k = c.storage_class || 'STANDARD';
    by[k] = (by[k] ?? 0) + c.bytes;
  }
  return by;
}

/**
 * Stacked bars by storage class: one bar per top-level prefix (the largest `maxBars`, the rest
 * folded into "N more"); when no group carries a class breakdown, one bar from `by_storage_class`.
 */
export function classStacks(report: ReviewReport, maxBars = 8): ClassStacks {
  const groups = [...report.by_prefix].filter((g) => (g.classes ?? []).length > 0 && g.bytes > 0).sort((a, b) => b.bytes - a.bytes);
  if (groups.length === 0) {
    const classes = [...report.by_storage_class].filter((c) => c.bytes > 0).sort((a, b) => classRank(a.name) - classRank(b.name));
    return { categories: [report.location], series: classes.map((c) => ({ storageClass: c.name, data: [c.bytes] })) };
  }
  const shown = groups.slice(0, maxBars);
  const rest = groups.slice(maxBars);
  const rows = shown.map((g) => ({ name: g.name, by: bytesByClass(g) }));
  if (rest.length > 0) {
    const by: Record<string, number> = {};
    for (const g of rest) for (const [c, b] of Object.entries(bytesByClass(g))) by[c] = (by[c] ?? 0) + b;
    rows.push({ name: `${rest.length} more`, by });
  }
  const classes = [...new Set(rows.flatMap((r) => Object.keys(r.by)))].sort((a, b) => classRank(a) - classRank(b) || a.localeCompare(b));
  return {
    categories: rows.map((r) => r.name),
    series: classes.map((c) => ({ storageClass: c, data: rows.map((r) => r.by[c] ?? 0) })).filter((s) => s.data.some((v) => v > 0)),
  };
}

/** The savings worth showing: positive monthly savings, best first; ties → fewer bytes touched. */
export function rankSavings(actions: SavingsAction[], limit = 6): SavingsAction[] {
  return actions
    .filter((a) => a.monthly_usd_saved > 0)
    .sort((a, b) => b.monthly_usd_saved - a.monthly_usd_saved || a.bytes - b.bytes || a.title.localeCompare(b.title))
    .slice(0, limit);
}

/** Hidden storage as rows to show; zero rows dropped (so an empty list means "nothing hidden"). */
export function hiddenRows(h: ReviewHidden | null | undefined): { label: string; count: number; bytes: number | null }[] {
  if (!h) return [];
  const rows = [
    { label: 'Incomplete multipart uploads', count: h.multipart_uploads, bytes: h.multipart_bytes as number | null },
    { label: 'Noncurrent versions', count: h.noncurrent_versions, bytes: h.noncurrent_bytes as number | null },
    { label: 'Delete markers', count: h.delete_markers, bytes: null },
  ];
  return rows.filter((r) => r.count > 0 || (r.bytes ?? 0) > 0);
}

/**
 * The rows of a review's content references (`--dedup=refs`, docs/dedup-upload.md): what the
 * files amount to (logical), what the store holds (stored) and what the references save, with
 * its $/month when priced. The core computes every figure; empty when there are no references.
 */
export function referenceRows(r: ReviewReferences | null | undefined): { label: string; bytes: number; usd: number | null }[] {
  if (!r) return [];
  return [
    { label: 'Logical (every file at its size)', bytes: r.logical_total, usd: null },
    { label: 'Stored (what is billed)', bytes: r.stored_total, usd: null },
    { label: 'Saved by references', bytes: r.saved_bytes, usd: r.monthly_usd_saved ?? null },
  ];
}

/** Total hidden bytes (what the bill counts beyond the listing). */
export function hiddenBytes(h: ReviewHidden | null | undefined): number {
  return h ? h.multipart_bytes + h.noncurrent_bytes : 0;
}

/** uPlot's columnar data: `[times, bytes, usd]` for one location, oldest first, one point per time. */
export type GrowthSeries = [number[], number[], (number | null)[]];

export function growthSeries(snapshots: ReviewSnapshot[], location: string): GrowthSeries {
  const mine = snapshots.filter((s) => s.location === location).sort((a, b) => a.generated_at - b.generated_at);
  const out: GrowthSeries = [[], [], []];
  for (const s of mine) {
    if (out[0].length && out[0][out[0].length - 1] === s.generated_at) {
      out[1][out[1].length - 1] = s.totals.bytes;
      out[2][out[2].length - 1] = s.totals.monthly_usd;
      continue;
    }
    out[0].push(s.generated_at);
    out[1].push(s.totals.bytes);
    out[2].push(s.totals.monthly_usd);
  }
  return out;
}

/** `s3://bucket/prefix` of a review location. */
export function locationUrl(bucket: string, prefix: string): string {
  return `s3://${bucket}/${prefix}`;
}

/** True when an estimate is over a budget that is set (> 0). */
export function overBudget(monthlyUsd: number | null | undefined, budget: number | null | undefined): boolean {
  return budget != null && budget > 0 && monthlyUsd != null && monthlyUsd > budget;
}
