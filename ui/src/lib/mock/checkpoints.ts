/**
 * `?mock` answers for the checkpoint and lifecycle commands: a small detector (HF `checkpoint-N/`
 * and Lightning `*.ckpt`) over the fixture's objects, a retention planner with the core's safety
 * rules and reason wording, apply with `checkpoint://*` events, pins, and lifecycle rules held in
 * memory. Scenario words: `stale` (the first apply answers `plan_stale`), `nolifecycle` (the
 * server does not support lifecycle rules). Never used inside Tauri.
 */

import type {
  Checkpoint, CheckpointListing, CheckpointRun, CleanupPlan, EventMap, EventName, ErrorInfo, LifecycleConfig, LifecyclePlan,
  LifecycleRequest, LifecycleRule, LifecycleRuleChange, LifecycleWarning, ObjectEntry, PlanItem, PolicyForm, RetentionPlan,
} from '../types';

type Emit = <K extends EventName>(name: K, payload: EventMap[K]) => void;

function err(code: string, message: string, hint: string, exit_code = 1): ErrorInfo {
  return { code, message, hint, exit_code };
}

const GiB = 1024 ** 3;

/** A plausible eval loss at a step (falls, with a little noise). */
function evalLoss(step: number): number {
  return Math.round((0.9 + 1.6 * Math.exp(-step / 900) + ((step * 7919) % 13) / 400) * 10000) / 10000;
}

/** Runs and checkpoints under `prefix` of one bucket's objects. */
export function detectMock(objects: ObjectEntry[], prefix: string, graceSecs: number, now: number): CheckpointRun[] {
  const byId = new Map<string, { run: string; id: string; files: ObjectEntry[]; kind: 'hf' | 'ckpt' }>();
  for (const o of objects) {
    if (!o.key.startsWith(prefix)) continue;
    const rel = o.key.slice(prefix.length);
    const hf = /^(.*?)(checkpoint-\d+)\//.exec(rel);
    if (hf) {
      const id = `${hf[1]}${hf[2]}/`;
      const c = byId.get(id) ?? { run: hf[1].replace(/\/$/, ''), id, files: [], kind: 'hf' as const };
      c.files.push(o);
      byId.set(id, c);
    } else if (rel.endsWith('.ckpt')) {
      const run = rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/')) : '';
      byId.set(rel, { run, id: rel, files: [o], kind: 'ckpt' });
    }
  }
  const runs = new Map<string, Checkpoint[]>();
  for (const c of byId.values()) {
    const name = c.id.replace(/\/$/, '').split('/').pop() ?? c.id;
    const step = Number(/(?:checkpoint-|step=)(\d+)/.exec(name)?.[1] ?? NaN);
    const epoch = Number(/epoch=(\d+)/.exec(name)?.[1] ?? NaN);
    const last = Math.max(...c.files.map((f) => f.last_modified ?? 0));
    const hasState = c.files.some((f) => f.key.endsWith('/trainer_state.json'));
    const metrics: Record<string, number> = {};
    if (c.kind === 'hf' && hasState && Number.isFinite(step)) {
      metrics.eval_loss = evalLoss(step);
      metrics.loss = Math.round((evalLoss(step) - 0.12) * 10000) / 10000;
    }
    const vl = /val_loss=([\d.]+)/.exec(name);
    if (vl) metrics.val_loss = Number(vl[1]);
    let complete: Checkpoint['complete'] = { state: 'complete' };
    if (c.kind === 'hf' && !hasState) complete = { state: 'incomplete', reason: 'no trainer_state.json yet (the Trainer writes it last)' };
    else if (now - last < graceSecs) complete = { state: 'incomplete', reason: `modified ${Math.round(now - last)}s ago (still being written?)` };
    const ck: Checkpoint = {
      run: c.run,
      id: c.id,
      layout: c.kind === 'hf' ? 'hf_trainer' : 'lightning',
      step: Number.isFinite(step) ? step : null,
      epoch: Number.isFinite(epoch) ? epoch : null,
      metrics,
      files: c.files.map((f) => ({ path: f.key.slice(prefix.length), size: f.size, mtime: f.last_modified })),
      bytes: c.files.reduce((a, f) => a + f.size, 0),
      last_modified: last || null,
      complete,
      framework_keep: name === 'last.ckpt' ? 'Lightning last.ckpt (resume point)' : null,
    };
    runs.set(c.run, [...(runs.get(c.run) ?? []), ck]);
  }
  const key = (c: Checkpoint) => [c.step ?? -1, c.epoch ?? -1, c.last_modified ?? 0];
  const cmp = (a: Checkpoint, b: Checkpoint) => {
    const [x, y] = [key(a), key(b)];
    return x[0] - y[0] || x[1] - y[1] || x[2] - y[2];
  };
  return [...runs.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([name, cs]) => ({ name, checkpoints: cs.sort(cmp) }));
}

/** The core's retention rules (simplified where the fixture cannot reach). */
export function planMock(run: CheckpointRun, policy: PolicyForm, pins: Set<string>, now: number): RetentionPlan {
  const complete = run.checkpoints.filter((c) => c.complete.state === 'complete');
  const newest = complete[complete.length - 1]?.id;
  const lastN = new Set(policy.keep_last_n === null ? [] : complete.slice(Math.max(0, complete.length - policy.keep_last_n)).map((c) => c.id));
  const kb = policy.keep_best;
  const best = new Set<string>();
  if (kb) {
    const ranked = complete.filter((c) => c.metrics[kb.metric] !== undefined).sort((a, b) => (kb.mode === 'min' ? 1 : -1) * (a.metrics[kb.metric] - b.metrics[kb.metric]));
    ranked.slice(0, kb.k).forEach((c) => best.add(c.id));
  }
  const items: PlanItem[] = run.checkpoints.map((c) => {
    const keep: string[] = [];
    const del: string[] = [];
    if (c.complete.state === 'incomplete') keep.push(`incomplete, may still be written: ${c.complete.reason}`);
    if (c.id === newest) keep.push('newest complete checkpoint');
    if (c.framework_keep) keep.push(c.framework_keep);
    if (pins.has(c.id)) keep.push('pinned');
    if (policy.keep_last_n !== null) {
      if (lastN.has(c.id)) keep.push(`among the last ${policy.keep_last_n} complete`);
      else del.push(`older than the last ${policy.keep_last_n} complete`);
    }
    if (kb) {
      const v = c.metrics[kb.metric];
      if (best.has(c.id)) keep.push(`best ${kb.k} by ${kb.metric} (${kb.metric} = ${v})`);
      else if (v === undefined && c.complete.state === 'complete') keep.push(`has no \`${kb.metric}\` metric to rank it by; kept to be safe`);
      else del.push(`not among the best ${kb.k} by ${kb.metric}`);
    }
    if (policy.keep_every !== null) {
      if (c.step !== null && c.step % policy.keep_every === 0) keep.push(`step ${c.step} is a multiple of ${policy.keep_every}`);
      else del.push(c.step === null ? 'no step number for --keep-every' : `step ${c.step} is not a multiple of ${policy.keep_every}`);
    }
    if (policy.keep_since_secs !== null) {
      const days = Math.round(policy.keep_since_secs / 86400);
      if ((c.last_modified ?? 0) >= now - policy.keep_since_secs) keep.push(`modified within the last ${days}days`);
      else del.push(`older than ${days}days`);
    }
    return keep.length > 0 ? { checkpoint: c, action: 'keep', reasons: keep } : { checkpoint: c, action: 'delete', reasons: del };
  });
  return { run: run.name, items, bytes_reclaimed: items.filter((i) => i.action === 'delete').reduce((a, i) => a + i.checkpoint.bytes, 0) };
}

/** Handlers for `createMockBackend`'s table. */
export function checkpointHandlers(objects: Map<string, ObjectEntry[]>, emit: Emit, now: () => number, scenario: Set<string>): Record<string, (a: Record<string, any>) => unknown> {
  const pins = new Map<string, Set<string>>();
  const plans = new Map<number, { bucket: string; prefix: string; plan: CleanupPlan; fingerprint: string }>();
  let nextPlan = 1;
  let staleOnce = scenario.has('stale');
  const rules = new Map<string, LifecycleRule[]>([
    ['demo-training', [{ id: 'datasets-to-ia', prefix: 'datasets/', enabled: true, transitions: [{ days: 30, storage_class: 'STANDARD_IA' }], expire_days: null, abort_multipart_days: null, noncurrent_expire_days: null }]],
  ]);

  // An in-flight checkpoint of the live run (no trainer_state.json yet).
  const training = objects.get('demo-training');
  const live = 'runs/llama3-8b-sft-2026-11/checkpoint-2500/';
  if (training && !training.some((o) => o.key.startsWith(live))) {
    training.push({ key: `${live}model-00001-of-00002.safetensors`, size: Math.round(4.63 * GiB), last_modified: Math.round(now() - 40), etag: '"live"', storage_class: 'STANDARD', is_prefix: false });
  }

  function where(location: string): { bucket: string; prefix: string } {
    const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(String(location).trim());
    if (!m) throw err('local_missing', `local path ${location} does not exist`, 'the mock serves only s3:// locations of the demo buckets', 13);
    if (!objects.has(m[1])) throw err('no_such_bucket', `bucket \`${m[1]}\` does not exist`, 'check the bucket name', 24);
    const prefix = m[2] && !m[2].endsWith('/') ? `${m[2]}/` : m[2];
    return { bucket: m[1], prefix };
  }

  function discover(location: string, grace: number | null) {
    const { bucket, prefix } = where(location);
    const runs = detectMock(objects.get(bucket) ?? [], prefix, grace ?? 60, now());
    return { bucket, prefix, runs, pins: pins.get(`${bucket}/${prefix}`) ?? new Set<string>() };
  }

  const fingerprint = (runs: CheckpointRun[]) => runs.flatMap((r) => r.checkpoints.map((c) => `${c.id}:${c.bytes}:${c.complete.state}`)).join('|');

  function configOf(bucket: string): LifecycleConfig {
    const list = rules.get(bucket) ?? [];
    return { bucket, provider: 'garage', rules: structuredClone(list), fingerprint: JSON.stringify(list) };
  }

  function lifecycleSupported() {
    if (scenario.has('nolifecycle')) {
      throw err('lifecycle_unsupported', 's3://demo-training does not support lifecycle configuration (NotImplemented)', 'nothing was changed; use only the actions this server implements (see docs/lifecycle.md)', 40);
    }
  }

  return {
    checkpoints_discover: ({ location, detect }): CheckpointListing => {
      const d = discover(location, detect?.grace_secs ?? null);
      return {
        location: `s3://${d.bucket}/${d.prefix}`,
        runs: d.runs,
        pins: [...d.pins],
        checkpoints: d.runs.reduce((a, r) => a + r.checkpoints.length, 0),
        bytes: d.runs.reduce((a, r) => a + r.checkpoints.reduce((b, c) => b + c.bytes, 0), 0),
      };
    },
    checkpoints_plan: ({ location, run, policy, detect }): CleanupPlan => {
      const p = policy as PolicyForm;
      if (p.keep_last_n === null && p.keep_best === null && p.keep_every === null && p.keep_since_secs === null) {
        throw err('usage', 'give a retention rule: --keep-last-n, --keep-best, --keep-every or --keep-since', 'see `trainctl checkpoint cleanup --help`', 2);
      }
      const d = discover(location, detect?.grace_secs ?? null);
      const plansOut = d.runs.filter((r) => run === null || r.name === run).map((r) => planMock(r, p, d.pins, now()));
      const deletions = plansOut.flatMap((x) => x.items.filter((i) => i.action === 'delete'));
      const bytes = deletions.reduce((a, i) => a + i.checkpoint.bytes, 0);
      const plan: CleanupPlan = {
        plan_id: nextPlan++,
        location: `s3://${d.bucket}/${d.prefix}`,
        run,
        plans: plansOut,
        checkpoints_deleted: deletions.length,
        objects: deletions.flatMap((i) => i.checkpoint.files.map((f) => ({ checkpoint: i.checkpoint.id, key: d.prefix + f.path, size: f.size }))),
        bytes_reclaimed: bytes,
        monthly_usd_saved: (bytes / 1e9) * 0.023,
      };
      plans.set(plan.plan_id, { bucket: d.bucket, prefix: d.prefix, plan, fingerprint: fingerprint(d.runs) });
      return plan;
    },
    checkpoints_apply: async ({ plan_id }) => {
      const stored = plans.get(plan_id);
      plans.delete(plan_id);
      if (!stored) throw err('plan_stale', `plan ${plan_id} is no longer held`, 'nothing was deleted; run the command again to see the new plan', 5);
      if (staleOnce) {
        staleOnce = false;
        throw err('plan_stale', 'the checkpoints changed since the plan: runs/llama3-8b-sft-2026-11/checkpoint-2500/ is now complete', 'nothing was deleted; run the command again to see the new plan', 5);
      }
      const started = now();
      const list = objects.get(stored.bucket) ?? [];
      let objectsDeleted = 0;
      for (const item of stored.plan.plans.flatMap((p) => p.items.filter((i) => i.action === 'delete'))) {
        await new Promise((r) => setTimeout(r, 250));
        const keys = new Set(item.checkpoint.files.map((f) => stored.prefix + f.path));
        for (let i = list.length - 1; i >= 0; i--) if (keys.has(list[i].key)) list.splice(i, 1);
        objectsDeleted += keys.size;
        emit('checkpoint://deleted', { event: 'checkpoint_deleted', id: item.checkpoint.id, objects: keys.size, bytes: item.checkpoint.bytes });
      }
      const seconds = now() - started;
      const p = stored.plan;
      emit('checkpoint://cleanup-finished', { event: 'cleanup_finished', checkpoints_deleted: p.checkpoints_deleted, objects_deleted: objectsDeleted, objects_failed: 0, bytes_reclaimed: p.bytes_reclaimed, seconds });
      return { checkpoints_deleted: p.checkpoints_deleted, objects_deleted: objectsDeleted, bytes_reclaimed: p.bytes_reclaimed, failed: [], seconds };
    },
    checkpoints_pin: ({ location, ids, pin }) => {
      const { bucket, prefix } = where(location);
      const k = `${bucket}/${prefix}`;
      const set = pins.get(k) ?? new Set<string>();
      for (const id of ids as string[]) (pin ? set.add(id) : set.delete(id));
      pins.set(k, set);
      return [...set].sort();
    },
    lifecycle_show: ({ location }) => {
      const { bucket, prefix } = where(location);
      lifecycleSupported();
      const config = configOf(bucket);
      const id = prefix === '' ? 'trainctl-bucket' : `trainctl-${prefix.replace(/[^A-Za-z0-9._]/g, '-').replace(/^-+|-+$/g, '')}`;
      const existing = config.rules.find((r) => r.id === id);
      const suggested: LifecycleRule = existing ?? { id, prefix, enabled: true, transitions: [], expire_days: null, abort_multipart_days: 7, noncurrent_expire_days: 7 };
      return { config, prefix, suggested, exists: !!existing };
    },
    lifecycle_plan: ({ location, request }): LifecyclePlan => {
      const { bucket } = where(location);
      lifecycleSupported();
      const req = request as LifecycleRequest;
      const config = configOf(bucket);
      const changes: LifecycleRuleChange[] = [];
      const warnings: LifecycleWarning[] = [];
      const setIds = new Map(req.set.map((r) => [r.id, r]));
      for (const r of config.rules) {
        const next = setIds.get(r.id);
        if (req.remove.includes(r.id)) changes.push({ id: r.id, change: 'removed', before: r, after: null, differences: [] });
        else if (next && JSON.stringify(next) === JSON.stringify(r)) changes.push({ id: r.id, change: 'unchanged', before: r, after: r, differences: [] });
        else if (next) changes.push({ id: r.id, change: 'changed', before: r, after: next, differences: ['rule replaced'] });
        else changes.push({ id: r.id, change: 'kept_unrelated', before: r, after: r, differences: [] });
        setIds.delete(r.id);
      }
      for (const r of setIds.values()) changes.push({ id: r.id, change: 'added', before: null, after: r, differences: [] });
      for (const r of req.set) {
        for (const t of r.transitions) {
          if (t.storage_class === 'STANDARD_IA' || t.storage_class === 'GLACIER_IR') {
            warnings.push({ rule_id: r.id, code: 'small_objects', message: `${r.id}: objects under 128 KB are billed as 128 KB in ${t.storage_class} and are not transitioned by default` });
          }
        }
      }
      return { bucket, provider: 'garage', base_fingerprint: config.fingerprint, changes, warnings };
    },
    lifecycle_savings: ({ plan, after_days }) => {
      const p = plan as LifecyclePlan;
      // The mock endpoint, like the demo's local store, has no price table: the editor shows why.
      return {
        bucket: p.bucket, table: null, table_name: null, table_date: null, table_source: null,
        not_estimated_because: 'no price table for this endpoint (add a `prices` table to the profile)',
        rules: [], monthly_savings_usd: null, one_time_usd: null, net_first_month_usd: null, payback_months: null,
        listed_objects: 0, generated_at: Math.floor(Date.now() / 1000), after_days: (after_days as number) ?? 0, notes: [],
      };
    },
    lifecycle_apply: ({ plan }) => {
      const p = plan as LifecyclePlan;
      lifecycleSupported();
      if (configOf(p.bucket).fingerprint !== p.base_fingerprint) throw err('plan_stale', 'the lifecycle configuration changed since the plan', 'nothing was changed; plan again', 5);
      const after = p.changes.filter((c) => c.after && c.change !== 'removed').map((c) => c.after!);
      rules.set(p.bucket, after);
      const n = (k: string) => p.changes.filter((c) => c.change === k).length;
      return { bucket: p.bucket, written: n('added') + n('changed') + n('removed') > 0, added: n('added'), changed: n('changed'), removed: n('removed'), kept: n('kept_unrelated') + n('unchanged'), rules_after: after.length };
    },
  };
}
