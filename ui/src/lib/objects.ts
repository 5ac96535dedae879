/**
 * The Browser's object panel: editable key/value rows (tags, metadata) and the share-link
 * expiries. Pure functions; the rules that matter (at most 10 tags, an edit only over the version
 * the user saw, 7 days at most) are the core's — these only shape what the form shows and sends.
 */

/** One editable row of a key/value list. */
export interface KvRow {
  key: string;
  value: string;
}

/** Rows from a map, sorted by key (an empty list gets one blank row to type into). */
export function rowsOf(map: Record<string, string> | null | undefined): KvRow[] {
  const rows = Object.entries(map ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([key, value]) => ({ key, value }));
  return rows.length > 0 ? rows : [{ key: '', value: '' }];
}

/** The map the rows describe: blank rows dropped, keys trimmed; a repeated key is an error. */
export function mapOf(rows: KvRow[]): { map: Record<string, string> } | { error: string } {
  const map: Record<string, string> = {};
  for (const r of rows) {
    const key = r.key.trim();
    if (!key && !r.value.trim()) continue;
    if (!key) return { error: `a value without a key: "${r.value}"` };
    if (key in map) return { error: `"${key}" appears twice` };
    map[key] = r.value;
  }
  return { map };
}

/** The expiries a share link offers (seconds), the longest being S3's limit of 7 days. */
export const EXPIRIES: { label: string; secs: number }[] = [
  { label: '1 hour', secs: 3600 },
  { label: '1 day', secs: 86_400 },
  { label: '7 days', secs: 7 * 86_400 },
];
