import { describe, expect, it } from 'vitest';
import { scrollToShow, visibleRange } from '../src/lib/virtual';

describe('visibleRange', () => {
  it('renders only the rows in view plus overscan, at 100k rows', () => {
    const r = visibleRange(340_000, 680, 34, 100_000, 8);
    expect(r.total).toBe(3_400_000);
    expect(r.start).toBe(10_000 - 8);
    expect(r.end - r.start).toBeLessThanOrEqual(21 + 16);
    expect(r.offset).toBe(r.start * 34);
  });
  it('starts at the top', () => {
    expect(visibleRange(0, 340, 34, 1000, 5)).toMatchObject({ start: 0, end: 16, offset: 0 });
  });
  it('clamps a scroll position past the end (list shrank after a filter)', () => {
    const r = visibleRange(1_000_000, 340, 34, 50, 5);
    expect(r.end).toBe(50);
    expect(r.start).toBeGreaterThanOrEqual(0);
  });
  it('handles an empty list', () => {
    expect(visibleRange(0, 500, 34, 0)).toEqual({ start: 0, end: 0, offset: 0, total: 0 });
  });
});

describe('scrollToShow', () => {
  it('scrolls up or down just enough to show a row, and not at all if visible', () => {
    expect(scrollToShow(0, 340, 340, 34)).toBe(0);
    expect(scrollToShow(20, 0, 340, 34)).toBe(20 * 34 + 34 - 340);
    expect(scrollToShow(3, 0, 340, 34)).toBe(0);
  });
});
