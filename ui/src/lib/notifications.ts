/**
 * The in-app mirror of every native popup (Linux notification daemons can swallow them), plus
 * the short-lived toasts shown inside the window.
 */

import { writable, type Readable } from 'svelte/store';
import type { AppNotification, EventMap } from './types';
import type { Route } from './route';
import { routeForS3 } from './watches';

export interface NotificationState {
  /** Newest first. */
  items: AppNotification[];
  /** Ids shown as toasts right now. */
  toasts: number[];
  /** Newest id the user has seen in the Notifications view. */
  seen: number;
}

/** Adds one notification (ignoring a duplicate id), newest first, keeping at most `limit`. */
export function addNotification(state: NotificationState, n: AppNotification, limit = 500): NotificationState {
  if (state.items.some((x) => x.id === n.id)) return state;
  const items = [n, ...state.items].sort((a, b) => b.at - a.at || b.id - a.id).slice(0, limit);
  return { ...state, items, toasts: [...state.toasts, n.id].slice(-3) };
}

/** Notifications newer than what the user has seen. */
export function unreadCount(state: NotificationState): number {
  return state.items.filter((n) => n.id > state.seen).length;
}

export interface NotificationsApi {
  notificationsList(): Promise<AppNotification[]>;
  onEvent<K extends 'notification://new'>(name: K, cb: (payload: EventMap[K]) => void): Promise<() => void>;
}

export interface NotificationStore extends Readable<NotificationState> {
  start(): Promise<() => void>;
  push(n: AppNotification): void;
  dismissToast(id: number): void;
  markAllSeen(): void;
}

/** Toasts disappear after `toastMs`; the list keeps everything. */
export function createNotificationStore(api: NotificationsApi, toastMs = 6000): NotificationStore {
  const { subscribe, update } = writable<NotificationState>({ items: [], toasts: [], seen: 0 });
  const dismissToast = (id: number) => update((s) => ({ ...s, toasts: s.toasts.filter((t) => t !== id) }));
  const push = (n: AppNotification) => {
    update((s) => addNotification(s, n));
    if (toastMs > 0) setTimeout(() => dismissToast(n.id), toastMs);
  };
  async function start() {
    const off = await api.onEvent('notification://new', push);
    const existing = await api.notificationsList();
    // History is not news: load it without toasts, and count it as seen.
    update((s) => {
      let next = s;
      for (const n of existing) next = addNotification(next, n);
      const ids = new Set(existing.map((n) => n.id));
      return { ...next, toasts: next.toasts.filter((t) => !ids.has(t)), seen: Math.max(next.seen, ...existing.map((n) => n.id), 0) };
    });
    return off;
  }
  const markAllSeen = () =>
    update((s) => {
      const seen = Math.max(s.seen, ...s.items.map((n) => n.id), 0);
      return seen === s.seen ? s : { ...s, seen };
    });
  return { subscribe, start, push, dismissToast, markAllSeen };
}

/** Where a click on a popup goes (`notification://activated`): the run's prefix in the Browser
 * when it names one, Transfers for a transfer, otherwise the Notifications list. */
export function routeForNotification(n: AppNotification): Route {
  const run = n.link ? routeForS3(n.link) : null;
  if (run) return run;
  if (n.job !== null && n.job !== undefined) return { view: 'transfers', bucket: null, prefix: '' };
  return { view: 'notifications', bucket: null, prefix: '' };
}
