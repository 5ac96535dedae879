/**
 * `?mock` answers for the Runs view: three runs (one running with an ETA, one finished, one
 * stalled) and their loss curves. Scenario word `bigcurve`: the running run's log has 100,000
 * points (to check that pan and zoom stay smooth). Never used inside Tauri.
 */

import type { MetricSeries, RunMetrics, RunOverview } from '../types';

function lossAt(step: number, scale: number): number {
  const noise = (Math.sin(step * 12.9898) * 43758.5453) % 1;
  return 2.6 * Math.exp(-step / scale) + 0.35 + noise * 0.03;
}

function series(name: string, steps: number[], f: (s: number) => number): MetricSeries {
  return { name, steps, values: steps.map(f) };
}

function range(from: number, to: number, by: number): number[] {
  const out: number[] = [];
  for (let s = from; s <= to; s += by) out.push(s);
  return out;
}

export function runHandlers(now: () => number, scenario: Set<string>): Record<string, (a: Record<string, any>) => unknown> {
  const t = now();
  const big = scenario.has('bigcurve');
  const runs: RunOverview[] = [
    {
      name: 'llama3-8b-sft-2026-11', root: 'llama3-8b-sft-2026-11',
      status: { status: 'running', cadence_secs: 600, silent_secs: 140, reason: 'last activity 140s ago' },
      latest_step: 2000, total_steps: 5000, checkpoints: 5, complete: 4, bytes: 4 * 21.9 * 1024 ** 3,
      last_activity: t - 140, steps_per_sec: 0.83, eta_secs: 3000 / 0.83,
      metric_sources: ['llama3-8b-sft-2026-11/checkpoint-2000/trainer_state.json', 'llama3-8b-sft-2026-11/logs/train.log'],
      latest_checkpoint: 'llama3-8b-sft-2026-11/checkpoint-2000/',
    },
    {
      name: 'llama-7b-sft', root: 'llama-7b-sft',
      status: { status: 'finished', cadence_secs: 900, silent_secs: 86_000, reason: 'the run says it is done' },
      latest_step: 3000, total_steps: 3000, checkpoints: 6, complete: 6, bytes: 6 * 13.5 * 1024 ** 3,
      last_activity: t - 86_000, steps_per_sec: 0.55, eta_secs: null,
      metric_sources: ['llama-7b-sft/checkpoint-3000/trainer_state.json', 'llama-7b-sft/logs/train.log'],
      latest_checkpoint: 'llama-7b-sft/checkpoint-3000/',
    },
    {
      name: 'resnet50-lightning/checkpoints', root: 'resnet50-lightning',
      status: { status: 'stalled', cadence_secs: 420, silent_secs: 5400, reason: 'silent for 5400s, more than 1260s' },
      latest_step: 3509, total_steps: null, checkpoints: 8, complete: 8, bytes: 8 * 98 * 1024 ** 2,
      last_activity: t - 5400, steps_per_sec: 1.9, eta_secs: null,
      metric_sources: ['resnet50-lightning/lightning_logs/version_0/metrics.csv'],
      latest_checkpoint: 'resnet50-lightning/checkpoints/last.ckpt',
    },
  ];
  const curves = (run: string, source: string): RunMetrics => {
    if (run.startsWith('resnet')) {
      const steps = range(389, 3509, 390);
      return { run, source, format: 'csv', skipped: 0, last_step: 3509, total_steps: null,
        series: [series('train_loss', steps, (s) => lossAt(s * 3, 2500) * 0.45), series('val_loss', steps, (s) => lossAt(s * 3, 2500) * 0.4 + 0.02)] };
    }
    const last = run.startsWith('llama3') ? 2000 : 3000;
    const every = big && run.startsWith('llama3') && source.endsWith('.log') ? last / 100_000 : 10;
    const steps = range(1, last / every, 1).map((i) => i * every);
    return { run, source, format: source.endsWith('.json') ? 'trainer_state' : 'lines', skipped: source.endsWith('.log') ? 3 : 0, last_step: last, total_steps: run.startsWith('llama3') ? 5000 : 3000,
      series: [series('loss', steps, (s) => lossAt(s, 800)), series('eval_loss', steps.filter((_, i) => (i + 1) % Math.round(500 / every) === 0), (s) => lossAt(s, 800) + 0.08), series('learning_rate', steps, () => 2e-5)] };
  };
  return {
    runs_list: ({ location }) => (String(location).includes('empty') ? [] : runs.map((r) => ({ ...r }))),
    run_metrics: ({ run, source }) => {
      const r = runs.find((x) => x.name === run);
      if (!r) throw { code: 'not_found', message: `nothing found at run \`${run}\``, hint: 'refresh the Runs view', exit_code: 25 };
      const src = (source as string | null) ?? (big && r.name.startsWith('llama3') ? r.metric_sources[1] : r.metric_sources[0]);
      return curves(r.name, src);
    },
  };
}
