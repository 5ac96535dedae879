/**
 * The app-wide stores, wired to the real API module: one transfers store, one notifications
 * store, one connection store and the route. Views import these instead of building their own.
 */

import { writable } from 'svelte/store';
import * as api from './api';
import { createConnectionStore } from './connection';
import { createNotificationStore } from './notifications';
import { formatHash, parseHash, type Route } from './route';
import { createSyncStore } from './sync';
import { createTransferStore } from './transfers';

export const transfers = createTransferStore(api);
export const notifications = createNotificationStore(api);
export const connection = createConnectionStore(api);
/** The sync pairs (the Sync view, and the nav's badge for pairs waiting on a decision). */
export const syncPairs = createSyncStore(api);

/** The view on screen, kept in sync with `location.hash`. */
export const route = writable<Route>(parseHash(typeof location === 'undefined' ? '' : location.hash));

/** Goes to a route (pushes a history entry so Back works). */
export function navigate(r: Route): void {
  const hash = formatHash(r);
  if (location.hash !== hash) location.hash = hash;
  route.set(r);
}

/** Starts following `hashchange`. */
export function followHash(): () => void {
  const on = () => route.set(parseHash(location.hash));
  window.addEventListener('hashchange', on);
  return () => window.removeEventListener('hashchange', on);
}

/** Reports a failed call: connection-class errors raise the banner; returns the error for the view. */
export function reportError(e: unknown): api.ApiError {
  const err = api.ApiError.from(e);
  connection.report(err.info);
  return err;
}

/** An OS file drag over the window: what is dragged and the folder row under the cursor. */
export interface DragState {
  active: boolean;
  paths: string[];
  rowPrefix: string | null;
}
export const drag = writable<DragState>({ active: false, paths: [], rowPrefix: null });
