/**
 * Local folders the user picked, by path: the page shows a picked folder as its path but names
 * it to the shell by the grant token the shell handed out (the shell refuses local paths it did
 * not offer). A typed path the user never picked is sent as typed, and refused with a message
 * that says to pick it.
 */

import type { LocalGrant } from './types';

const byPath = new Map<string, string>();

const key = (path: string) => path.trim().replace(/\/+$/, '');

/** Remembers a grant the shell returned (the folder dialog). */
export function rememberGrant(g: LocalGrant): void {
  byPath.set(key(g.path), g.token);
}

/** What to send for a location the user sees: `s3://…` as is, a picked folder as its token. */
export function locationArg(location: string): string {
  const t = location.trim();
  if (t.startsWith('s3://')) return t;
  return byPath.get(key(t)) ?? t;
}

/** Forgets every grant (unit tests). */
export function clearGrants(): void {
  byPath.clear();
}
