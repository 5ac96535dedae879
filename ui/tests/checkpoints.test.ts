import { get } from 'svelte/store';
import { render } from 'svelte/server';
import { describe, expect, it } from 'vitest';
import CheckpointTimeline from '../src/components/checkpoints/CheckpointTimeline.svelte';
import ConfirmCleanup from '../src/components/checkpoints/ConfirmCleanup.svelte';
import {
  bucketOf, createPlanner, detectForm, emptyDraft, formatMetric, metricNames, planRows, policyFromDraft, prefixOf, s3Location,
  shortName, timelineRows, usdPerMonth, type PlannerApi,
} from '../src/lib/checkpoints';
import type { Checkpoint, CheckpointListing, CheckpointRun, CleanupPlan, CleanupReport, EventMap, ObjectEntry } from '../src/lib/types';

const NOW = 1_800_000_000;

function ckpt(step: number, opts: Partial<Checkpoint> = {}): Checkpoint {
  return {
    run: 'runs/a', id: `runs/a/checkpoint-${step}/`, layout: 'hf_trainer', step, epoch: null, metrics: { eval_loss: 1 / step },
    files: [{ path: `runs/a/checkpoint-${step}/model.safetensors`, size: step * 10, mtime: NOW - 1000 + step }],
    bytes: step * 10, last_modified: NOW - 1000 + step, complete: { state: 'complete' }, framework_keep: null, same_as: null, ...opts,
  };
}

const run: CheckpointRun = {
  name: 'runs/a',
  checkpoints: [ckpt(100), ckpt(200), ckpt(300), ckpt(400, { complete: { state: 'incomplete', reason: 'no trainer_state.json yet' }, metrics: {} })],
};

describe('locations', () => {
  it('builds and splits s3 locations', () => {
    expect(s3Location('b', 'runs')).toBe('s3://b/runs/');
    expect(s3Location('b', '')).toBe('s3://b/');
    expect(bucketOf('s3://b/runs/')).toBe('b');
    expect(bucketOf('/home/me/outputs')).toBeNull();
    expect(prefixOf('s3://b/runs/x/')).toBe('runs/x/');
    expect(shortName('runs/a/checkpoint-5/')).toBe('checkpoint-5/');
    expect(shortName('runs/b/last.ckpt')).toBe('last.ckpt');
  });
});

describe('timeline', () => {
  it('lists newest first with badges, pins and metrics', () => {
    const rows = timelineRows(run, ['runs/a/checkpoint-200/']);
    expect(rows.map((r) => r.step)).toEqual([400, 300, 200, 100]);
    expect(rows[0]).toMatchObject({ complete: false, incomplete_reason: 'no trainer_state.json yet', pinned: false });
    expect(rows[2].pinned).toBe(true);
    expect(rows[1].metrics).toEqual([['eval_loss', 1 / 300]]);
    expect(metricNames(run)).toEqual(['eval_loss']);
    expect(formatMetric(0.123456)).toBe('0.1235');
    expect(formatMetric(0.0000123)).toBe('1.23e-5');
  });

  it('renders rows with the test hooks', () => {
    const { body } = render(CheckpointTimeline, { props: { run, pins: ['runs/a/checkpoint-100/'], onpin: () => undefined } });
    expect(body.match(/data-testid="checkpoint-row"/g)).toHaveLength(4);
    expect(body).toContain('data-state="incomplete"');
    expect(body).toContain('data-testid="checkpoint-pinned"');
    expect(body).toContain('step 300');
  });

  it('badges a crashed save as abandoned, shows fractional epochs and a last.ckpt twin', () => {
    const crashed: CheckpointRun = {
      name: 'runs/a',
      checkpoints: [
        ckpt(100, { epoch: 2.5 }),
        ckpt(200, { complete: { state: 'abandoned', reason: 'no trainer_state.json yet; nothing written for 2days' }, metrics: {} }),
        { ...ckpt(0), id: 'runs/a/last.ckpt', step: null, layout: 'lightning', same_as: 'runs/a/epoch=1-step=100.ckpt' },
      ],
    };
    const rows = timelineRows(crashed, []);
    expect(rows.find((r) => r.step === 200)).toMatchObject({ complete: false, abandoned: true, incomplete_reason: expect.stringContaining('nothing written') });
    expect(rows.find((r) => r.step === null)?.same_as).toBe('epoch=1-step=100.ckpt');
    const { body } = render(CheckpointTimeline, { props: { run: crashed, pins: [], onpin: () => undefined } });
    expect(body).toContain('data-state="abandoned"');
    expect(body).toContain('epoch 2.5');
    expect(body).toContain('= epoch=1-step=100.ckpt');
  });
});

describe('policy form', () => {
  it('turns the draft into a PolicyForm', () => {
    const r = policyFromDraft({ ...emptyDraft(), keepLastN: '2', keepBest: '1', metric: 'eval_loss', keepSinceDays: '1.5' });
    expect(r).toEqual({ policy: { keep_last_n: 2, keep_best: { k: 1, metric: 'eval_loss', mode: 'min' }, keep_every: null, keep_since_secs: 129600, force_all: false, delete_abandoned: false } });
  });

  it('explains what is wrong', () => {
    expect(policyFromDraft(emptyDraft())).toMatchObject({ error: expect.stringContaining('at least one rule') });
    expect(policyFromDraft({ ...emptyDraft(), keepLastN: 'two' })).toMatchObject({ error: expect.stringContaining('whole number') });
    expect(policyFromDraft({ ...emptyDraft(), keepLastN: '0' })).toMatchObject({ error: expect.stringContaining('allow keep last 0') });
    expect(policyFromDraft({ ...emptyDraft(), keepLastN: '0', forceAll: true })).toHaveProperty('policy');
    expect(policyFromDraft({ ...emptyDraft(), keepBest: '2' })).toMatchObject({ error: expect.stringContaining('metric') });
    expect(detectForm('0')).toEqual({ grace_secs: 0, pattern: null, abandoned_after_secs: null });
    expect(detectForm('')).toEqual({ grace_secs: null, pattern: null, abandoned_after_secs: null });
    expect(policyFromDraft(emptyDraft())).toMatchObject({ error: expect.stringContaining('delete abandoned') });
    expect(policyFromDraft({ ...emptyDraft(), deleteAbandoned: true })).toMatchObject({ policy: { delete_abandoned: true, keep_last_n: null } });
  });
});

function plan(overrides: Partial<CleanupPlan> = {}): CleanupPlan {
  const items = run.checkpoints.map((c, i) => ({ checkpoint: c, action: i < 2 ? ('delete' as const) : ('keep' as const), reasons: ['r'] }));
  return {
    plan_id: 7, location: 's3://b/', run: 'runs/a', plans: [{ run: 'runs/a', items, bytes_reclaimed: 3000 }], checkpoints_deleted: 2,
    objects: [{ checkpoint: 'runs/a/checkpoint-100/', key: 'runs/a/checkpoint-100/model.safetensors', size: 1000 }, { checkpoint: 'runs/a/checkpoint-200/', key: 'runs/a/checkpoint-200/model.safetensors', size: 2000 }],
    bytes_reclaimed: 3000, monthly_usd_saved: 0.000069, abandoned_note: null, ...overrides,
  };
}

/** A fake shell: answers plan/apply, and plays `checkpoint://deleted` during apply. */
function fakeApi(applyResult: 'ok' | 'stale'): PlannerApi & { applied: number[] } {
  const listeners = new Map<string, (p: unknown) => void>();
  return {
    applied: [],
    checkpointsPlan: async () => plan(),
    async checkpointsApply(id) {
      this.applied.push(id);
      if (applyResult === 'stale') throw { code: 'plan_stale', message: 'runs/a/checkpoint-500/ appeared', hint: 'nothing was deleted' };
      listeners.get('checkpoint://deleted')?.({ event: 'checkpoint_deleted', id: 'runs/a/checkpoint-100/', objects: 1, bytes: 1000 });
      return { checkpoints_deleted: 2, objects_deleted: 2, bytes_reclaimed: 3000, failed: [], seconds: 0.1 };
    },
    onEvent: async <K extends keyof EventMap>(name: K, cb: (p: EventMap[K]) => void) => {
      listeners.set(name, cb as (p: unknown) => void);
      return () => listeners.delete(name);
    },
  };
}

describe('planner', () => {
  const policy = { keep_last_n: 1, keep_best: null, keep_every: null, keep_since_secs: null, force_all: false, delete_abandoned: false };

  it('plans, confirms and applies exactly the plan id', async () => {
    const api = fakeApi('ok');
    const p = createPlanner(api);
    await p.plan('s3://b/', 'runs/a', policy, null);
    expect(get(p).phase).toBe('planned');
    expect(planRows(get(p).plan!).map((i) => i.checkpoint.step)).toEqual([400, 300, 200, 100]);
    p.confirm();
    expect(get(p).phase).toBe('confirming');
    p.cancel();
    expect(get(p).phase).toBe('planned');
    p.confirm();
    await p.apply();
    expect(api.applied).toEqual([7]);
    expect(get(p)).toMatchObject({ phase: 'done', report: { checkpoints_deleted: 2 }, progress: { checkpoints: 2, bytes: 3000 } });
  });

  it('turns plan_stale into "re-plan", and re-plans with the same inputs', async () => {
    const api = fakeApi('stale');
    const p = createPlanner(api);
    await p.plan('s3://b/', 'runs/a', policy, null);
    p.confirm();
    await p.apply();
    expect(get(p)).toMatchObject({ phase: 'stale', error: { code: 'plan_stale' } });
    await p.replan();
    expect(get(p).phase).toBe('planned');
  });

  it('does not confirm a plan that deletes nothing', async () => {
    const p = createPlanner({ ...fakeApi('ok'), checkpointsPlan: async () => plan({ checkpoints_deleted: 0 }) });
    await p.plan('s3://b/', null, policy, null);
    p.confirm();
    expect(get(p).phase).toBe('planned');
  });

  it('reports planning errors with their code', async () => {
    const p = createPlanner({ ...fakeApi('ok'), checkpointsPlan: async () => Promise.reject({ code: 'usage', message: 'give a retention rule', hint: '' }) });
    await p.plan('s3://b/', null, policy, null);
    expect(get(p)).toMatchObject({ phase: 'error', error: { code: 'usage' } });
  });

  it('the confirm dialog lists every key and the total', () => {
    const { body } = render(ConfirmCleanup, { props: { plan: plan(), onconfirm: () => undefined, oncancel: () => undefined } });
    expect(body).toContain('runs/a/checkpoint-100/model.safetensors');
    expect(body).toContain('runs/a/checkpoint-200/model.safetensors');
    expect(body).toContain('data-testid="cleanup-dialog-total"');
    expect(body).toContain('2.93 KiB');
    expect(usdPerMonth(0.000069)).toBe('under $0.01/month');
    expect(usdPerMonth(1.5)).toBe('about $1.50/month');
  });
});
