import { get } from 'svelte/store';
import { describe, expect, it, vi } from 'vitest';
import { createConnectionStore, type ConnectionApi } from '../src/lib/connection';
import { addNotification, createNotificationStore, unreadCount, type NotificationsApi } from '../src/lib/notifications';
import type { AppNotification, ConnectionInfo } from '../src/lib/types';

const note = (id: number, at = id): AppNotification => ({ id, level: 'success', title: `t${id}`, body: 'b', at, job: null, link: null });

describe('notifications', () => {
  it('keeps newest first and ignores duplicates', () => {
    let s = { items: [], toasts: [], seen: 0 } as Parameters<typeof addNotification>[0];
    s = addNotification(s, note(1));
    s = addNotification(s, note(2));
    s = addNotification(s, note(2));
    expect(s.items.map((n) => n.id)).toEqual([2, 1]);
    expect(unreadCount(s)).toBe(2);
  });

  it('loads history as seen and without toasts; live ones toast and count as unread', async () => {
    let live: ((n: AppNotification) => void) | null = null;
    const api: NotificationsApi = {
      notificationsList: async () => [note(1), note(2)],
      onEvent: async (_name, cb) => {
        live = cb;
        return () => undefined;
      },
    };
    const store = createNotificationStore(api, 0);
    await store.start();
    expect(get(store).toasts).toEqual([]);
    expect(unreadCount(get(store))).toBe(0);
    live!(note(3));
    expect(get(store).toasts).toEqual([3]);
    expect(unreadCount(get(store))).toBe(1);
    store.markAllSeen();
    expect(unreadCount(get(store))).toBe(0);
  });

  it('drops a toast after its time but keeps it in the list', async () => {
    vi.useFakeTimers();
    const store = createNotificationStore({ notificationsList: async () => [], onEvent: async () => () => undefined }, 1000);
    store.push(note(4));
    vi.advanceTimersByTime(1001);
    expect(get(store).toasts).toEqual([]);
    expect(get(store).items).toHaveLength(1);
    vi.useRealTimers();
  });
});

describe('connection', () => {
  const info: ConnectionInfo = { profile: 'demo', endpoint_url: 'http://127.0.0.1:1', region: 'r', provider: null, demo: true };
  const unreachable = { code: 'unreachable', message: 'cannot reach', hint: 'check', exit_code: 26, scope: 'connection' as const };

  function fakeApi(connect: ConnectionApi['connect']) {
    const handlers = new Map<string, (p: never) => void>();
    const api = { connect, onEvent: async (name: string, cb: (p: never) => void) => (handlers.set(name, cb), () => handlers.delete(name)) } as unknown as ConnectionApi;
    return { api, handlers };
  }

  it('raises the banner only for connection-class errors', () => {
    const store = createConnectionStore(fakeApi(async () => info).api);
    store.set(info);
    expect(store.report({ code: 'access_denied', message: 'no', hint: 'h', exit_code: 23, scope: 'item' })).toBe(false);
    expect(get(store).lost).toBeNull();
    expect(store.report(unreachable)).toBe(true);
    expect(get(store).lost?.code).toBe('unreachable');
  });

  it('retry reconnects, clears the banner and bumps the epoch so views reload', async () => {
    const connect = vi.fn(async () => info);
    const store = createConnectionStore(fakeApi(connect).api);
    store.set(info);
    store.report(unreachable);
    const epoch = get(store).epoch;
    await store.retry();
    expect(connect).toHaveBeenCalledWith('demo');
    expect(get(store)).toMatchObject({ lost: null, retrying: false, epoch: epoch + 1 });
  });

  it('keeps the banner up with the new reason when retry fails', async () => {
    const store = createConnectionStore(fakeApi(async () => Promise.reject({ code: 'dns', message: 'cannot resolve', hint: 'spelling' })).api);
    store.set(info);
    store.report(unreachable);
    await store.retry();
    expect(get(store).lost).toMatchObject({ code: 'dns', message: 'cannot resolve' });
  });

  it('follows connection://lost and connection://restored from the shell', async () => {
    const { api, handlers } = fakeApi(async () => info);
    const store = createConnectionStore(api);
    store.set(info);
    await store.start();
    handlers.get('connection://lost')!({ profile: 'demo', error: unreachable } as never);
    expect(get(store).lost).not.toBeNull();
    handlers.get('connection://restored')!({ profile: 'demo' } as never);
    expect(get(store).lost).toBeNull();
  });
});
