import { describe, expect, it } from 'vitest';
import { EXPIRIES, mapOf, rowsOf } from '../src/lib/objects';

describe('key/value rows of the object panel', () => {
  it('lists a map sorted, with one blank row when empty', () => {
    expect(rowsOf({ b: '2', a: '1' })).toEqual([{ key: 'a', value: '1' }, { key: 'b', value: '2' }]);
    expect(rowsOf(null)).toEqual([{ key: '', value: '' }]);
  });
  it('drops blank rows, trims keys, and refuses a value without a key or a repeated key', () => {
    expect(mapOf([{ key: ' run ', value: 'llama' }, { key: '', value: '' }])).toEqual({ map: { run: 'llama' } });
    expect(mapOf([{ key: '', value: 'orphan' }])).toHaveProperty('error');
    expect(mapOf([{ key: 'a', value: '1' }, { key: 'a', value: '2' }])).toHaveProperty('error');
  });
  it('offers share links up to S3s limit of 7 days', () => {
    expect(Math.max(...EXPIRIES.map((e) => e.secs))).toBe(604_800);
  });
});

import { egressText, indexInsights, markers, metricText } from '../src/lib/insights';
import type { CheckpointRow } from '../src/lib/types';

describe('checkpoint-aware rows', () => {
  const row = (over: Partial<CheckpointRow> = {}): CheckpointRow => ({
    key: 'runs/r/checkpoint-5/', run: 'runs/r/', layout: 'hf_trainer', step: 5, epoch: null, bytes: 10, files: 2, last_modified: 1,
    complete: true, abandoned: false, reason: null, same_as: null, metric: { name: 'eval_loss', value: 0.412345 }, newest: true, best: false, pinned: true,
    resume_command: 'x', download_usd: 0.5, ...over,
  });
  it('index rows by key and name their markers', () => {
    const idx = indexInsights({ bucket: 'b', prefix: 'runs/', checkpoints: [row()], runs: [], folders: [], objects_listed: 2, too_large: false, price_table: null });
    expect(idx.checkpoint.get('runs/r/checkpoint-5/')?.step).toBe(5);
    expect(markers(row())).toEqual(['newest', 'pinned']);
    expect(metricText(row())).toBe('eval_loss 0.4123');
  });
  it('say what a download costs', () => {
    expect(egressText(null)).toMatch(/unknown/);
    expect(egressText(0)).toBe('no egress fee');
    expect(egressText(0.004)).toBe('under $0.01 egress');
    expect(egressText(1.234)).toBe('about $1.23 egress');
  });
});
