/**
 * The Browser's checkpoint-aware rows: the core's `FolderInsights` for the folder on screen,
 * indexed by row key so each row finds its checkpoint, run or folder size in O(1).
 */

import type { CheckpointRow, FolderInsights, FolderSize, RunRow } from './types';

export interface InsightIndex {
  checkpoint: Map<string, CheckpointRow>;
  run: Map<string, RunRow>;
  folder: Map<string, FolderSize>;
}

export const emptyIndex = (): InsightIndex => ({ checkpoint: new Map(), run: new Map(), folder: new Map() });

/** Rows by key. Checkpoints deeper than one level below the folder annotate nothing here. */
export function indexInsights(ins: FolderInsights | null): InsightIndex {
  if (!ins) return emptyIndex();
  return {
    checkpoint: new Map(ins.checkpoints.map((c) => [c.key, c])),
    run: new Map(ins.runs.map((r) => [r.key, r])),
    folder: new Map(ins.folders.map((f) => [f.key, f])),
  };
}

/** The short markers of a checkpoint row, in the order they are shown. */
export function markers(c: CheckpointRow): string[] {
  const out: string[] = [];
  if (c.newest) out.push('newest');
  if (c.best) out.push('best');
  if (c.pinned) out.push('pinned');
  return out;
}

/** `eval_loss 0.412` (four significant digits). */
export function metricText(c: CheckpointRow): string {
  return c.metric ? `${c.metric.name} ${Number(c.metric.value.toPrecision(4))}` : '';
}

/** `about $0.12 egress` / `no egress price` for a download of `bytes`. */
export function egressText(usd: number | null | undefined): string {
  if (usd == null) return 'egress price unknown (no price table for this connection)';
  if (usd === 0) return 'no egress fee';
  if (usd < 0.01) return 'under $0.01 egress';
  return `about $${usd.toFixed(2)} egress`;
}

/** The folder (relative to the location) and run to open in Checkpoints/Runs for a checkpoint row. */
export function locationOf(bucket: string, prefix: string): string {
  return `s3://${bucket}/${prefix}`;
}
