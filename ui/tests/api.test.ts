// The API module against a mocked Tauri: the `@tauri-apps/api` modules are replaced with vi.mock,
// and the page looks like a Tauri webview (window.__TAURI_INTERNALS__ present).
import { beforeEach, describe, expect, it, vi } from 'vitest';

const invoke = vi.fn();
const listeners = new Map<string, (e: { payload: unknown }) => void>();
const dragHandlers: ((e: { payload: unknown }) => void)[] = [];

vi.mock('@tauri-apps/api/core', () => ({ invoke: (cmd: string, args?: unknown) => invoke(cmd, args) }));
vi.mock('@tauri-apps/api/event', () => ({
  listen: async (name: string, cb: (e: { payload: unknown }) => void) => {
    listeners.set(name, cb);
    return () => listeners.delete(name);
  },
}));
vi.mock('@tauri-apps/api/webview', () => ({
  getCurrentWebview: () => ({
    onDragDropEvent: async (cb: (e: { payload: unknown }) => void) => {
      dragHandlers.push(cb);
      return () => undefined;
    },
  }),
}));

vi.stubGlobal('window', { __TAURI_INTERNALS__: {}, location: { search: '' }, devicePixelRatio: 2 });

const api = await import('../src/lib/api');

beforeEach(() => {
  invoke.mockReset();
  api.setBackend(null);
});

describe('commands', () => {
  it('call the shell with the documented command names and snake_case arguments', async () => {
    invoke.mockResolvedValue({ job: 7 });
    await api.downloadKeys('demo', ['a', 'b/'], 'grant-1');
    expect(invoke).toHaveBeenCalledWith('download_keys', { bucket: 'demo', keys: ['a', 'b/'], dest: 'grant-1' });
    await api.objectsList('demo', 'runs/');
    expect(invoke).toHaveBeenLastCalledWith('objects_list', { bucket: 'demo', prefix: 'runs/', token: null });
    await api.uploadDropped(['grant-2'], 'demo', 'runs/');
    expect(invoke).toHaveBeenLastCalledWith('upload_dropped', { tokens: ['grant-2'], bucket: 'demo', prefix: 'runs/' });
    await api.deleteApply(3);
    expect(invoke).toHaveBeenLastCalledWith('delete_apply', { plan_id: 3 });
  });

  it('pick a folder through the shell, and name it by its grant afterwards', async () => {
    const grant = { token: 'grant-abc', name: 'runs', path: '/home/r/runs', is_dir: true };
    invoke.mockResolvedValueOnce(grant).mockResolvedValueOnce(null);
    expect(await api.pickFolder('Folder')).toEqual(grant);
    expect(invoke).toHaveBeenCalledWith('pick_folder', { title: 'Folder' });
    expect(await api.pickFolder('Folder')).toBeNull();
    invoke.mockResolvedValue([]);
    await api.runsList('/home/r/runs/');
    expect(invoke).toHaveBeenLastCalledWith('runs_list', { location: 'grant-abc' });
    await api.runsList('/elsewhere');
    expect(invoke).toHaveBeenLastCalledWith('runs_list', { location: '/elsewhere' });
    await api.runsList('s3://b/runs/');
    expect(invoke).toHaveBeenLastCalledWith('runs_list', { location: 's3://b/runs/' });
  });

  it('turn an ErrorInfo rejection into an ApiError with code and hint', async () => {
    invoke.mockRejectedValue({ code: 'bad_secret', message: 'the secret access key is wrong', hint: 'store it again', exit_code: 22 });
    const err = await api.profileTest('lab').catch((e) => e);
    expect(err).toBeInstanceOf(api.ApiError);
    expect(err).toMatchObject({ code: 'bad_secret', hint: 'store it again', exitCode: 22, message: 'the secret access key is wrong' });
    expect(err.info).toEqual({ code: 'bad_secret', message: 'the secret access key is wrong', hint: 'store it again', exit_code: 22, scope: 'item' });
  });

  it('wrap a plain string rejection from Tauri itself as an internal error', async () => {
    invoke.mockRejectedValue('command buckets_list not allowed');
    const err = await api.bucketsList().catch((e) => e);
    expect(err).toBeInstanceOf(api.ApiError);
    expect(err.code).toBe('internal');
    expect(err.message).toContain('not allowed');
  });
});

describe('events, drag-drop and dialogs', () => {
  it('deliver event payloads to subscribers', async () => {
    const got: unknown[] = [];
    const off = await api.onEvent('transfer://updated', (p) => got.push(p));
    listeners.get('transfer://updated')!({ payload: { job: 1, version: 3 } });
    expect(got).toEqual([{ job: 1, version: 3 }]);
    off();
    expect(listeners.has('transfer://updated')).toBe(false);
  });

  it('convert drop positions from physical to CSS pixels', async () => {
    const got: unknown[] = [];
    await api.onDragDrop((d) => got.push(d));
    dragHandlers[0]({ payload: { type: 'drop', paths: ['/data/ckpt'], position: { x: 200, y: 100 } } });
    dragHandlers[0]({ payload: { type: 'leave' } });
    expect(got).toEqual([{ type: 'drop', paths: ['/data/ckpt'], x: 100, y: 50 }, { type: 'leave' }]);
  });
});
