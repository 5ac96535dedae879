import { describe, expect, it } from 'vitest';
import { formatHash, parseHash } from '../src/lib/route';

describe('hash routes', () => {
  it('parses a browser location', () => {
    expect(parseHash('#/browser/demo/runs/a/')).toEqual({ view: 'browser', bucket: 'demo', prefix: 'runs/a/' });
  });
  it('falls back to the dashboard for anything unknown', () => {
    expect(parseHash('')).toEqual({ view: 'dashboard', bucket: null, prefix: '' });
    expect(parseHash('#/nope')).toEqual({ view: 'dashboard', bucket: null, prefix: '' });
  });
  it('round-trips keys with characters that mean something in a URL', () => {
    const r = { view: 'browser' as const, bucket: 'b', prefix: 'weird #1/50% ?x/' };
    expect(parseHash(formatHash(r))).toEqual(r);
  });
  it('writes plain views without a location', () => {
    expect(formatHash({ view: 'transfers', bucket: 'x', prefix: 'y/' })).toBe('#/transfers');
  });
});
