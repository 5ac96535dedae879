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
