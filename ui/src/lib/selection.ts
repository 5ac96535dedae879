/**
 * Multi-select as file managers do it: click selects one, Ctrl/Cmd-click toggles, Shift-click
 * selects the range from the anchor. Pure: the Browser keeps the value, these functions compute
 * the next one from the keys in on-screen order.
 */

export interface Selection {
  keys: ReadonlySet<string>;
  /** Where the next Shift-click range starts. */
  anchor: string | null;
}

export interface ClickMods {
  shift?: boolean;
  toggle?: boolean;
}

export const emptySelection: Selection = { keys: new Set(), anchor: null };

/** The selection after clicking `key`; `order` is the visible keys in display order. */
export function clickSelect(sel: Selection, key: string, mods: ClickMods, order: readonly string[]): Selection {
  if (mods.shift && sel.anchor !== null) {
    const a = order.indexOf(sel.anchor);
    const b = order.indexOf(key);
    if (a >= 0 && b >= 0) {
      const [lo, hi] = a <= b ? [a, b] : [b, a];
      const keys = new Set(mods.toggle ? sel.keys : []);
      for (let i = lo; i <= hi; i++) keys.add(order[i]);
      return { keys, anchor: sel.anchor };
    }
  }
  if (mods.toggle) return toggleKey(sel, key);
  return { keys: new Set([key]), anchor: key };
}

/** Adds or removes one key (checkbox behaviour). */
export function toggleKey(sel: Selection, key: string): Selection {
  const keys = new Set(sel.keys);
  if (keys.has(key)) keys.delete(key);
  else keys.add(key);
  return { keys, anchor: key };
}

/** Selects all of `order` (what is on screen after filtering), or clears if all are selected. */
export function toggleAll(sel: Selection, order: readonly string[]): Selection {
  const all = order.length > 0 && order.every((k) => sel.keys.has(k));
  return all ? emptySelection : { keys: new Set(order), anchor: sel.anchor };
}

/** Drops keys that are no longer listed (after a refresh, filter or delete). */
export function retainListed(sel: Selection, listed: readonly string[]): Selection {
  const present = new Set(listed);
  const keys = new Set([...sel.keys].filter((k) => present.has(k)));
  if (keys.size === sel.keys.size) return sel;
  return { keys, anchor: sel.anchor !== null && present.has(sel.anchor) ? sel.anchor : null };
}

/** Selected keys in display order (stable input for download/delete calls). */
export function selectedInOrder(sel: Selection, order: readonly string[]): string[] {
  return order.filter((k) => sel.keys.has(k));
}

/** What a key press does in a list (arrows, Home/End, Enter, Backspace, Delete, typing). */
export type KeyAction =
  | { kind: 'move'; to: number; extend: boolean }
  | { kind: 'open' }
  | { kind: 'up' }
  | { kind: 'delete' }
  | { kind: 'type'; text: string }
  | null;

/** The action of a key press over a list of `count` rows with the cursor at `cursor`. */
export function keyAction(e: { key: string; shiftKey?: boolean; ctrlKey?: boolean; metaKey?: boolean; altKey?: boolean }, cursor: number | null, count: number): KeyAction {
  const last = count - 1;
  const from = cursor ?? -1;
  const move = (to: number): KeyAction => (count === 0 ? null : { kind: 'move', to: Math.max(0, Math.min(last, to)), extend: !!e.shiftKey });
  switch (e.key) {
    case 'ArrowDown': return move(from + 1);
    case 'ArrowUp': return move(cursor === null ? last : from - 1);
    case 'PageDown': return move(from + 10);
    case 'PageUp': return move(from - 10);
    case 'Home': return move(0);
    case 'End': return move(last);
    case 'Enter': return cursor === null ? null : { kind: 'open' };
    case 'Backspace': return { kind: 'up' };
    case 'Delete': return { kind: 'delete' };
  }
  if (e.key.length === 1 && !e.ctrlKey && !e.metaKey && !e.altKey && e.key.trim() !== '') return { kind: 'type', text: e.key };
  return null;
}

/** The selection after the cursor moved to `key`: that row alone, or (Shift) the range from the anchor. */
export function cursorSelect(sel: Selection, key: string, extend: boolean, order: readonly string[]): Selection {
  return clickSelect(sel, key, { shift: extend }, order);
}
