/**
 * A fake shell for `?mock` pages: answers every command of docs/ipc.md from the demo fixture and
 * simulates transfers with the same events the shell emits. Never used inside Tauri.
 *
 * Scenario words (`?mock=firstrun,lost`): `firstrun` (no profiles), `lost` (the endpoint goes
 * away after a moment), `drop` (a file drag hovers the window), plus view hints that the views
 * read through `mockScenario()` (`addform`, `confirm`, `selected`).
 */

import type { Backend } from '../api';
import type {
  AppNotification, ConnectionInfo, DeletePlan, DragDrop, ErrorInfo, EventMap, EventName, ListPage,
  ObjectEntry, ProfileForm, ProfileSummary, ReviewSnapshot, TransferRecord,
} from '../types';
import { demoHistory, demoNotifications, demoObjects, demoProfiles, summarize } from './fixture';
import { checkpointHandlers } from './checkpoints';
import { runHandlers } from './runs';
import { mockReview, mockSnapshots, snapshotOf } from './review';

const PAGE = 5000;
const MiB = 1024 * 1024;

function err(code: string, message: string, hint: string, exit_code = 1): ErrorInfo {
  return { code, message, hint, exit_code };
}

const unreachable = err('unreachable', 'cannot reach http://127.0.0.1:39000: connection refused', 'check the endpoint URL and that the server is up and reachable from here', 26);

export function createMockBackend(scenario: Set<string>): Backend {
  const now = () => Date.now() / 1000;
  const t0 = now();
  const objects = demoObjects(t0);
  const firstRun = scenario.has('firstrun');
  let profiles: ProfileSummary[] = firstRun ? [] : demoProfiles();
  let connection: ConnectionInfo | null = firstRun ? null : { profile: 'demo', endpoint_url: 'http://127.0.0.1:39000', region: 'garage', provider: 'garage', demo: true };
  let down = false;
  const transfers = new Map<number, TransferRecord>(firstRun ? [] : demoHistory(t0).map((r) => [r.job, r]));
  const notifications: AppNotification[] = firstRun ? [] : demoNotifications(t0);
  let nextJob = 10;
  let nextNote = 10;
  const listeners = new Map<string, Set<(p: unknown) => void>>();
  const dropListeners = new Set<(d: DragDrop) => void>();
  const timers = new Map<number, ReturnType<typeof setInterval>>();
  const snapshots: ReviewSnapshot[] = [];

  function emit<K extends EventName>(name: K, payload: EventMap[K]) {
    for (const cb of listeners.get(name) ?? []) cb(payload);
  }

  function notify(level: AppNotification['level'], title: string, body: string, job: number | null) {
    const n: AppNotification = { id: nextNote++, level, title, body, at: now(), job };
    notifications.unshift(n);
    emit('notification://new', n);
  }

  function needConnection() {
    if (down) throw unreachable;
    if (!connection) throw err('no_credentials', 'no credentials found', 'add a connection, or try the demo', 20);
  }

  function listPrefix(bucket: string, prefix: string): { prefixes: string[]; objs: ObjectEntry[] } {
    const all = objects.get(bucket);
    if (!all) throw err('no_such_bucket', `bucket \`${bucket}\` does not exist`, 'check the bucket name', 24);
    const prefixes = new Set<string>();
    const objs: ObjectEntry[] = [];
    for (const o of all) {
      if (!o.key.startsWith(prefix)) continue;
      const rest = o.key.slice(prefix.length);
      const slash = rest.indexOf('/');
      if (slash >= 0) prefixes.add(prefix + rest.slice(0, slash + 1));
      else objs.push(o);
    }
    return { prefixes: [...prefixes].sort(), objs };
  }

  /** Runs a simulated job: started, progress every 200 ms, finished, popup. */
  function simulate(rec: TransferRecord, rate: number, keys: string[]) {
    transfers.set(rec.job, rec);
    setTimeout(() => {
      rec.state = 'running';
      emit('transfer://started', { event: 'transfer_started', job: rec.job, direction: rec.direction, engine: 's5cmd', objects_total: rec.objects_total, bytes_total: rec.bytes_total, skipped: 0 });
      const timer = setInterval(() => {
        const jitter = 0.85 + Math.random() * 0.3;
        rec.bytes_done = Math.min(rec.bytes_total, rec.bytes_done + rate * 0.2 * jitter);
        rec.objects_done = Math.floor((rec.bytes_done / Math.max(1, rec.bytes_total)) * rec.objects_total);
        rec.bytes_per_sec = rate * jitter;
        rec.eta_secs = (rec.bytes_total - rec.bytes_done) / rate;
        emit('transfer://progress', { event: 'progress', job: rec.job, bytes_done: rec.bytes_done, bytes_total: rec.bytes_total, objects_done: rec.objects_done, objects_total: rec.objects_total, bytes_per_sec: rec.bytes_per_sec, eta_secs: rec.eta_secs });
        if (rec.bytes_done >= rec.bytes_total) finish(rec, keys);
      }, 200);
      timers.set(rec.job, timer);
    }, 100);
  }

  function finish(rec: TransferRecord, keys: string[]) {
    clearInterval(timers.get(rec.job));
    timers.delete(rec.job);
    const seconds = now() - rec.started_at;
    Object.assign(rec, { state: 'done', objects_done: rec.objects_total, finished_at: now(), eta_secs: null });
    if (rec.direction === 'upload') {
      const list = objects.get(rec.bucket) ?? [];
      const each = rec.bytes_total / Math.max(1, keys.length);
      for (const k of keys) list.push({ key: k, size: Math.round(each), last_modified: Math.round(now()), etag: '"mock"', storage_class: 'STANDARD', is_prefix: false });
    }
    emit('transfer://finished', { event: 'transfer_finished', job: rec.job, objects_done: rec.objects_total, objects_failed: 0, objects_skipped: 0, bytes_done: rec.bytes_total, seconds });
    const where = rec.direction === 'upload' ? `s3://${rec.bucket}/${rec.prefix}` : rec.dest_dir;
    notify('success', rec.direction === 'upload' ? 'Upload finished' : 'Download finished', `${rec.label} → ${where}`, rec.job);
  }

  function newRecord(direction: 'upload' | 'download', bucket: string, prefix: string, label: string, bytes: number, count: number, dest_dir: string | null = null): TransferRecord {
    return {
      job: nextJob++, direction, bucket, prefix, dest_dir, label, state: 'planning', engine: 's5cmd', bytes_done: 0, bytes_total: bytes,
      objects_done: 0, objects_total: count, objects_failed: 0, objects_skipped: 0, bytes_per_sec: 0, eta_secs: null, started_at: now(),
      finished_at: null, failures: [], error: null,
    };
  }

  function labelFor(paths: string[]): string {
    const base = (p: string) => p.replace(/\/+$/, '').split('/').pop() ?? p;
    const first = base(paths[0] ?? '?');
    return paths.length > 1 ? `${first} and ${paths.length - 1} more` : first;
  }

  function testForm(form: Pick<ProfileForm, 'endpoint_url' | 'access_key_id' | 'secret_access_key'>) {
    const endpoint = form.endpoint_url ?? '';
    if (endpoint.includes(':9999') || endpoint.includes('down')) return { ok: false, bucket_count: null, latency_ms: null, diagnosis: err('unreachable', `cannot reach ${endpoint}: connection refused`, 'check the endpoint URL and that the server is up and reachable from here', 26) };
    if (!form.access_key_id) return { ok: false, bucket_count: null, latency_ms: null, diagnosis: err('no_credentials', 'no credentials found: the access key id is empty', 'type the access key id and secret the provider gave you', 20) };
    if (form.access_key_id === 'nope') return { ok: false, bucket_count: null, latency_ms: 12, diagnosis: err('bad_access_key', 'the access key id is not recognised by the server', 'check the access key id of the profile', 21) };
    if (form.secret_access_key === 'wrong') return { ok: false, bucket_count: null, latency_ms: 9, diagnosis: err('bad_secret', 'the secret access key is wrong (signature mismatch)', 'the key id is right but the secret is not: paste the secret again', 22) };
    return { ok: true, bucket_count: objects.size, latency_ms: 7, diagnosis: null };
  }

  const handlers: Record<string, (a: Record<string, any>) => unknown> = {
    startup_trace: () => null,
    app_info: () => ({ version: '0.1.0-mock', demo: connection?.demo ?? false, first_run: profiles.length === 0, connection }),
    demo_start: () => {
      if (!profiles.some((p) => p.name === 'demo')) profiles = [demoProfiles()[0], ...profiles];
      connection = { profile: 'demo', endpoint_url: 'http://127.0.0.1:39000', region: 'garage', provider: 'garage', demo: true };
      return connection;
    },
    profiles_list: () => profiles,
    profile_save: ({ form }) => {
      const f = form as ProfileForm;
      if (!f.name) throw err('usage', 'the profile needs a name', 'type a short name such as `lab-minio`', 2);
      const p: ProfileSummary = { name: f.name, origin: 'trainctl', provider: f.provider, endpoint_url: f.endpoint_url, region: f.region, credentials: { type: 'keychain', access_key_id: f.access_key_id }, secret_stored: true };
      profiles = [...profiles.filter((x) => x.name !== f.name), p];
      return p;
    },
    profile_test: ({ name }) => {
      const p = profiles.find((x) => x.name === name);
      if (!p) throw err('unknown_profile', `unknown profile \`${name}\``, 'pick a profile from the list', 12);
      if (p.origin === 'aws') return { ok: false, bucket_count: null, latency_ms: null, diagnosis: err('no_credentials', 'no credentials found for the AWS profile (the SSO session has expired)', 'run `aws sso login --profile ' + name + '`', 20) };
      return testForm({ endpoint_url: p.endpoint_url, access_key_id: 'x', secret_access_key: 'x' });
    },
    profile_test_form: ({ form }) => testForm(form as ProfileForm),
    profile_remove: ({ name }) => {
      profiles = profiles.filter((p) => p.name !== name);
    },
    connect: ({ name }) => {
      const p = profiles.find((x) => x.name === name);
      if (!p) throw err('unknown_profile', `unknown profile \`${name}\``, 'pick a profile from the list', 12);
      down = false;
      connection = { profile: p.name, endpoint_url: p.endpoint_url, region: p.region ?? 'us-east-1', provider: p.provider, demo: p.name === 'demo' };
      emit('connection://restored', { profile: p.name });
      return connection;
    },
    buckets_list: () => {
      needConnection();
      return summarize(objects, t0);
    },
    objects_list: ({ bucket, prefix, token }): ListPage => {
      needConnection();
      const { prefixes, objs } = listPrefix(bucket, prefix);
      const start = token ? Number(token) : 0;
      const end = Math.min(objs.length, start + PAGE);
      return { bucket, prefix, prefixes: start === 0 ? prefixes : [], objects: objs.slice(start, end), truncated: end < objs.length, next_token: end < objs.length ? String(end) : null };
    },
    upload_paths: ({ paths, bucket, prefix }) => {
      needConnection();
      const list = paths as string[];
      const keys = list.map((p) => prefix + (p.replace(/\/+$/, '').split('/').pop() ?? 'file'));
      const rec = newRecord('upload', bucket, prefix, labelFor(list), (150 + list.length * 90) * MiB, list.length);
      simulate(rec, 60 * MiB, keys);
      return { ...rec };
    },
    download_keys: ({ bucket, keys, dest_dir }) => {
      needConnection();
      const all = objects.get(bucket) ?? [];
      const chosen = all.filter((o) => (keys as string[]).some((k) => o.key === k || (k.endsWith('/') && o.key.startsWith(k))));
      const bytes = chosen.reduce((a, o) => a + o.size, 0);
      const rec = newRecord('download', bucket, '', labelFor(keys as string[]), bytes, chosen.length, dest_dir);
      simulate(rec, Math.max(90 * MiB, bytes / 20), []);
      return { ...rec };
    },
    delete_plan: ({ bucket, keys }): DeletePlan => {
      needConnection();
      const all = objects.get(bucket) ?? [];
      const items = all.filter((o) => (keys as string[]).some((k) => o.key === k || (k.endsWith('/') && o.key.startsWith(k)))).map((o) => ({ key: o.key, size: o.size }));
      return { bucket, items, bytes: items.reduce((a, i) => a + i.size, 0) };
    },
    delete_apply: ({ plan }) => {
      needConnection();
      const p = plan as DeletePlan;
      const gone = new Set(p.items.map((i) => i.key));
      objects.set(p.bucket, (objects.get(p.bucket) ?? []).filter((o) => !gone.has(o.key)));
      notify('info', 'Deleted', `${p.items.length} objects from s3://${p.bucket}`, null);
      return { deleted: p.items.length, bytes: p.bytes, failed: [] };
    },
    transfer_cancel: ({ job }) => {
      const rec = transfers.get(job);
      if (!rec) return;
      clearInterval(timers.get(job));
      timers.delete(job);
      Object.assign(rec, { state: 'cancelled', finished_at: now(), eta_secs: null });
      emit('transfer://failed', { event: 'transfer_failed', job, error: err('cancelled', 'cancelled', 'retry to continue where it stopped', 130) });
    },
    transfer_retry: ({ job }) => {
      const old = transfers.get(job);
      if (!old) throw err('not_found', `no transfer ${job}`, 'refresh the Transfers view', 25);
      const rec = newRecord(old.direction, old.bucket, old.prefix, old.label, old.bytes_total - (old.state === 'partial' ? old.bytes_done : 0), Math.max(1, old.objects_failed || old.objects_total), old.dest_dir);
      simulate(rec, 50 * MiB, []);
      return { ...rec };
    },
    transfers_list: () => [...transfers.values()].map((r) => ({ ...r })),
    notifications_list: () => [...notifications],
    // Checkpoints (issue #4): detection, planner, apply with events, pins, lifecycle rules.
    ...checkpointHandlers(objects, emit, now, scenario),
    // Runs (issue #6): three runs and their curves; `bigcurve` → 100k points.
    ...runHandlers(now, scenario),
    // Review (issue #5): a report computed from the fixture; snapshots = a made-up month + each review.
    review_run: ({ bucket, prefix }) => {
      needConnection();
      if (!objects.has(bucket)) throw err('no_such_bucket', `bucket \`${bucket}\` does not exist`, 'check the bucket name', 24);
      const outcome = mockReview(objects.get(bucket) ?? [], bucket, prefix ?? '', now());
      const r = outcome.report;
      if (!snapshots.some((s) => s.location === r.location)) snapshots.push(...mockSnapshots(r, now()));
      snapshots.push(snapshotOf(r));
      return outcome;
    },
    review_cancel: () => undefined,
    review_snapshots: ({ location }) => snapshots.filter((s) => s.location === location),
  };

  // A long upload already running, so live views have something to show.
  if (!firstRun) {
    const live = newRecord('upload', 'demo-training', 'runs/llama3-8b-sft-2026-11/', 'checkpoint-2000/', 21.9 * 1024 * MiB, 10);
    live.started_at = now() - 95;
    live.bytes_done = 5.6 * 1024 * MiB;
    simulate(live, 58 * MiB, []);
  }
  if (scenario.has('lost')) {
    setTimeout(() => {
      down = true;
      emit('connection://lost', { profile: 'demo', error: unreachable });
    }, 400);
  }
  if (scenario.has('drop')) {
    setTimeout(() => dropListeners.forEach((cb) => cb({ type: 'enter', paths: ['/home/researcher/runs/checkpoint-2500'], x: 600, y: 400 })), 600);
  }
  // Lets a developer (or a test) play a file drop in mock mode: __trainctlMockDrop(['/tmp/a']).
  (globalThis as Record<string, unknown>).__trainctlMockDrop = (paths: string[], x = 600, y = 400) => {
    dropListeners.forEach((cb) => cb({ type: 'enter', paths, x, y }));
    setTimeout(() => dropListeners.forEach((cb) => cb({ type: 'drop', paths, x, y })), 50);
  };

  return {
    async invoke<T>(cmd: string, args: Record<string, unknown> = {}): Promise<T> {
      const h = handlers[cmd];
      if (!h) throw `command ${cmd} not found`;
      await new Promise((r) => setTimeout(r, 15));
      return structuredClone(await h(args)) as T;
    },
    async listen(name, cb) {
      const set = listeners.get(name) ?? new Set();
      set.add(cb as (p: unknown) => void);
      listeners.set(name, set);
      return () => set.delete(cb as (p: unknown) => void);
    },
    async onDragDrop(cb) {
      dropListeners.add(cb);
      return () => dropListeners.delete(cb);
    },
    async pickFolder() {
      return '/home/researcher/Downloads';
    },
  };
}
