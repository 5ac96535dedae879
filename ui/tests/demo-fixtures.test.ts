// The views' data shaping on what the Rust core really answers for the embedded demo
// (ui/tests/fixtures/*.json, written by crates/trainctl-core/tests/ui_fixtures.rs; `make bindings`
// refreshes them, `cargo test` fails when their shape drifts) — no second planner in TypeScript.
import { describe, expect, it } from 'vitest';
import { findRun, planRows, runTotals, timelineRows } from '../src/lib/checkpoints';
import { classStacks, rankSavings, treemapTree, type TreeNode } from '../src/lib/review';
import { alignSeries, computeText, lossSeries, progressText } from '../src/lib/runs';
import type { CheckpointListing, CleanupPlan, ReviewOutcome, RunMetrics, RunOverview } from '../src/lib/types';
import checkpointsJson from './fixtures/demo-checkpoints.json';
import planJson from './fixtures/demo-cleanup-plan.json';
import reviewJson from './fixtures/demo-review.json';
import runsJson from './fixtures/demo-runs.json';
import metricsJson from './fixtures/demo-run-metrics.json';

const listing = checkpointsJson as unknown as CheckpointListing;
const plan = planJson as unknown as CleanupPlan;
const review = reviewJson as unknown as ReviewOutcome;
const runs = runsJson as unknown as RunOverview[];
const metrics = metricsJson as unknown as RunMetrics;

const sum = (nodes: TreeNode[]): number => nodes.reduce((a, n) => a + n.value, 0);

describe('the demo checkpoints and a keep-last-2 plan of the real planner', () => {
  it('every run of the listing gets one timeline row per checkpoint, totals matching', () => {
    expect(listing.runs.length).toBeGreaterThan(1);
    for (const run of listing.runs) {
      expect(timelineRows(run, listing.pins)).toHaveLength(run.checkpoints.length);
      expect(findRun(listing, run.name)).toBe(run);
    }
    const total = listing.runs.reduce((a, r) => a + runTotals(r).bytes, 0);
    expect(total).toBe(listing.bytes);
  });

  it('the plan keeps the newest complete checkpoint of each run and lists what it deletes', () => {
    for (const p of plan.plans) {
      // planRows: newest first.
      const complete = planRows({ ...plan, plans: [p] }).filter((i) => i.checkpoint.complete.state === 'complete' && i.checkpoint.step !== null);
      if (complete.length > 0) expect(complete[0].action).toBe('keep');
    }
    const deleted = plan.plans.flatMap((p) => p.items).filter((i) => i.action === 'delete');
    expect(deleted.length).toBe(plan.checkpoints_deleted);
    expect(plan.objects.reduce((a, o) => a + o.size, 0)).toBe(plan.bytes_reclaimed);
  });
});

describe('the demo review, priced as AWS us-east-1 in both faces', () => {
  const r = review.report;
  it('every grouping adds up to the totals, and so does the treemap', () => {
    for (const groups of [r.by_prefix, r.by_storage_class, r.by_age]) {
      expect(groups.reduce((a, g) => a + g.bytes, 0)).toBe(r.totals.bytes);
    }
    expect(sum(treemapTree(r))).toBe(r.totals.bytes);
    expect(classStacks(r).series.length).toBeGreaterThan(0);
  });

  it('has a price and ranked savings', () => {
    expect(r.pricing.missing).toBeNull();
    expect(r.totals.monthly_usd).toBeGreaterThan(0);
    const ranked = rankSavings(review.savings, 10);
    expect(ranked.length).toBeGreaterThan(0);
    for (let i = 1; i < ranked.length; i++) expect(ranked[i - 1].monthly_usd_saved).toBeGreaterThanOrEqual(ranked[i].monthly_usd_saved);
  });
});

describe('the demo runs and one run\'s curves', () => {
  it('lists each run with a status and a progress text', () => {
    expect(runs.map((x) => x.status.status)).toContain('finished');
    for (const run of runs) expect(progressText(run)).toBeTypeOf('string');
  });

  it('prices the run whose trainctl-run.json names its instances, and only that one', () => {
    const priced = runs.filter((x) => x.compute);
    expect(priced.map((x) => x.name)).toEqual(['llama-7b-sft']);
    const c = priced[0].compute!;
    expect([c.instance, c.count, c.usd_per_hour]).toEqual(['p4d.24xlarge', 2, 21.96]);
    expect(c.usd).toBeCloseTo(c.usd_per_hour * c.hours * 2, 9);
    expect(computeText(c)).toMatch(/^\$2\d\d\.\d\d · 2 × p4d\.24xlarge$/);
  });

  it('draws the loss from the real trainer_state.json, aligned for uPlot', () => {
    const loss = lossSeries(metrics.series);
    expect(loss.map((s) => s.name)).toContain('loss');
    const data = alignSeries(loss);
    expect(data[0].length).toBeGreaterThan(1);
    expect(data.every((col) => col.length === data[0].length)).toBe(true);
  });
});
