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

export interface ConnectionStore extends Readable<ConnectionState> {
  start(): Promise<() => void>;
  set(info: ConnectionInfo | null): void;
  /** Returns true when `e` was a connection-scope error (and the banner is now up). */
  report(e: ErrorInfo): boolean;
  retry(): Promise<void>;
}

export function createConnectionStore(api: ConnectionApi): ConnectionStore {
  const store = writable<ConnectionState>({ info: null, lost: null, retrying: false, epoch: 0 });
  let current: ConnectionState = { info: null, lost: null, retrying: false, epoch: 0 };
  store.subscribe((s) => (current = s));

  const set = (info: ConnectionInfo | null) => store.update((s) => ({ ...s, info, lost: null, epoch: s.epoch + 1 }));
  const report: ConnectionStore['report'] = (e) => {
    // The core says how far an error reaches (`Error::scope`): no list of codes here.
    if (e.scope !== 'connection') return false;
    store.update((s) => ({ ...s, lost: e }));
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
      const err = e as Partial<ErrorInfo>;
      const lost: ErrorInfo = { code: err.code ?? 'unreachable', message: err.message ?? String(e), hint: err.hint ?? '', exit_code: err.exit_code ?? 26, scope: 'connection' };
      store.update((s) => ({ ...s, retrying: false, lost }));
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
