import { describe, expect, it } from 'vitest';
import { clickSelect, emptySelection, keyAction, retainListed, selectedInOrder, toggleAll, toggleKey } from '../src/lib/selection';

const order = ['a', 'b', 'c', 'd', 'e'];
const keys = (s: { keys: ReadonlySet<string> }) => [...s.keys].sort();

describe('clickSelect', () => {
  it('a plain click selects only that row', () => {
    const s = clickSelect({ keys: new Set(['a', 'b']), anchor: 'a' }, 'c', {}, order);
    expect(keys(s)).toEqual(['c']);
    expect(s.anchor).toBe('c');
  });
  it('ctrl-click toggles one row and keeps the rest', () => {
    const s1 = clickSelect(emptySelection, 'b', {}, order);
    const s2 = clickSelect(s1, 'd', { toggle: true }, order);
    expect(keys(s2)).toEqual(['b', 'd']);
    expect(keys(clickSelect(s2, 'b', { toggle: true }, order))).toEqual(['d']);
  });
  it('shift-click selects the range from the anchor, in either direction', () => {
    const s1 = clickSelect(emptySelection, 'd', {}, order);
    expect(keys(clickSelect(s1, 'b', { shift: true }, order))).toEqual(['b', 'c', 'd']);
    expect(keys(clickSelect(s1, 'e', { shift: true }, order))).toEqual(['d', 'e']);
  });
  it('shift+ctrl adds the range to the existing selection', () => {
    const s = { keys: new Set(['a']), anchor: 'c' };
    expect(keys(clickSelect(s, 'd', { shift: true, toggle: true }, order))).toEqual(['a', 'c', 'd']);
  });
  it('shift-click without an anchor acts like a click', () => {
    expect(keys(clickSelect(emptySelection, 'c', { shift: true }, order))).toEqual(['c']);
  });
});

describe('toggleAll, toggleKey, retainListed', () => {
  it('selects everything shown, then clears', () => {
    const all = toggleAll(emptySelection, order);
    expect(all.keys.size).toBe(5);
    expect(toggleAll(all, order).keys.size).toBe(0);
  });
  it('toggles a single key like a checkbox', () => {
    expect(keys(toggleKey(toggleKey(emptySelection, 'a'), 'b'))).toEqual(['a', 'b']);
  });
  it('drops keys that disappeared from the listing', () => {
    const s = retainListed({ keys: new Set(['a', 'x']), anchor: 'x' }, order);
    expect(keys(s)).toEqual(['a']);
    expect(s.anchor).toBeNull();
  });
  it('returns selected keys in display order', () => {
    expect(selectedInOrder({ keys: new Set(['e', 'a', 'c']), anchor: null }, order)).toEqual(['a', 'c', 'e']);
  });
});

describe('keyAction (the Browser keyboard)', () => {
  it('moves within the list and extends with Shift', () => {
    expect(keyAction({ key: 'ArrowDown' }, null, 5)).toEqual({ kind: 'move', to: 0, extend: false });
    expect(keyAction({ key: 'ArrowDown', shiftKey: true }, 4, 5)).toEqual({ kind: 'move', to: 4, extend: true });
    expect(keyAction({ key: 'ArrowUp' }, null, 5)).toEqual({ kind: 'move', to: 4, extend: false });
    expect(keyAction({ key: 'End' }, 1, 5)).toEqual({ kind: 'move', to: 4, extend: false });
    expect(keyAction({ key: 'ArrowDown' }, null, 0)).toBeNull();
  });
  it('opens, goes up, deletes, and types to filter (not with a modifier)', () => {
    expect(keyAction({ key: 'Enter' }, 2, 5)).toEqual({ kind: 'open' });
    expect(keyAction({ key: 'Enter' }, null, 5)).toBeNull();
    expect(keyAction({ key: 'Backspace' }, null, 5)).toEqual({ kind: 'up' });
    expect(keyAction({ key: 'Delete' }, 1, 5)).toEqual({ kind: 'delete' });
    expect(keyAction({ key: 'c' }, 1, 5)).toEqual({ kind: 'type', text: 'c' });
    expect(keyAction({ key: 'c', ctrlKey: true }, 1, 5)).toBeNull();
    expect(keyAction({ key: ' ' }, 1, 5)).toBeNull();
  });
});
