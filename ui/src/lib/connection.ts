/**
 * The live connection and whether it is lost. Any view whose call fails with a connection-class
 * error reports it here; the shell's `connection://lost` does the same. The banner's Retry
 * reconnects and bumps `epoch`, which views watch to reload what they show.
 */

import { writable, type Readable } from 'svelte/store';
import type { ConnectionInfo, ConnectionLost, ConnectionRestored, ErrorInfo } from './types';

export interface ConnectionState {
  info: ConnectionInfo | null;
  lost: ErrorInfo | null;
  retrying: boolean;
  /** Incremented on every (re)connect: views reload when it changes. */
  epoch: number;
}

export interface ConnectionApi {
  connect(name: string): Promise<ConnectionInfo>;
  onEvent(name: 'connection://lost', cb: (p: ConnectionLost) => void): Promise<() => void>;
  onEvent(name: 'connection://restored', cb: (p: ConnectionRestored) => void): Promise<() => void>;
}

/** Codes that mean "cannot talk to the endpoint" (not "the request was wrong"). */
export const CONNECTION_ERROR_CODES: ReadonlySet<string> = new Set(['unreachable', 'dns', 'tls']);

export interface ConnectionStore extends Readable<ConnectionState> {
  start(): Promise<() => void>;
  set(info: ConnectionInfo | null): void;
  /** Returns true when `e` was a connection error (and the banner is now up). */
  report(e: { code: string; message: string; hint: string; exit_code?: number }): boolean;
  retry(): Promise<void>;
}

export function createConnectionStore(api: ConnectionApi): ConnectionStore {
  const store = writable<ConnectionState>({ info: null, lost: null, retrying: false, epoch: 0 });
  let current: ConnectionState = { info: null, lost: null, retrying: false, epoch: 0 };
  store.subscribe((s) => (current = s));

  const set = (info: ConnectionInfo | null) => store.update((s) => ({ ...s, info, lost: null, epoch: s.epoch + 1 }));
  const report: ConnectionStore['report'] = (e) => {
    if (!CONNECTION_ERROR_CODES.has(e.code)) return false;
    store.update((s) => ({ ...s, lost: { code: e.code, message: e.message, hint: e.hint, exit_code: e.exit_code ?? 26 } }));
    return true;
  };

  async function retry() {
    const name = current.info?.profile;
    if (!name) return;
    store.update((s) => ({ ...s, retrying: true }));
    try {
      const info = await api.connect(name);
      store.update((s) => ({ ...s, info, lost: null, retrying: false, epoch: s.epoch + 1 }));
    } catch (e) {
      const err = e as { code?: string; message?: string; hint?: string };
      store.update((s) => ({ ...s, retrying: false, lost: { code: err.code ?? 'unreachable', message: err.message ?? String(e), hint: err.hint ?? '', exit_code: 26 } }));
    }
  }

  async function start() {
    const offLost = await api.onEvent('connection://lost', (p) => report(p.error) || store.update((s) => ({ ...s, lost: p.error })));
    const offRestored = await api.onEvent('connection://restored', () => store.update((s) => (s.lost ? { ...s, lost: null, epoch: s.epoch + 1 } : s)));
    return () => {
      offLost();
      offRestored();
    };
  }

  return { subscribe: store.subscribe, start, set, report, retry };
}
