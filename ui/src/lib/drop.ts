/**
 * Where a file drop goes: the folder row under the cursor, else the prefix on screen. The shell
 * grants what was dropped and reports where (`drop://dropped`); App.svelte finds the row element
 * under the position and asks these functions for the target, then uploads by grant token
 * (`api.uploadDropped`).
 */

/** A bucket and prefix to upload into. */
export interface DropLocation {
  bucket: string;
  prefix: string;
}

/** The drop's destination, or `null` when no bucket is open (the overlay then says so). */
export function dropTarget(here: DropLocation | null, rowPrefix: string | null): DropLocation | null {
  if (!here) return null;
  if (rowPrefix !== null && rowPrefix.startsWith(here.prefix) && rowPrefix.endsWith('/')) return { bucket: here.bucket, prefix: rowPrefix };
  return here;
}

/** `s3://bucket/prefix` for the overlay and toasts. */
export function s3Url(loc: DropLocation): string {
  return `s3://${loc.bucket}/${loc.prefix}`;
}

/** `checkpoint-2500` / `checkpoint-2500 and 2 more` for what is being dragged. */
export function describePaths(paths: readonly string[]): string {
  if (paths.length === 0) return 'files';
  const base = paths[0].replace(/[\\/]+$/, '').split(/[\\/]/).pop() || paths[0];
  return paths.length === 1 ? base : `${base} and ${paths.length - 1} more`;
}
