/**
 * The arithmetic of a fixed-row-height virtual list: which rows to render for a scroll
 * position. Kept apart from the component so it is unit-tested at 100k rows.
 */

export interface VisibleRange {
  /** First rendered row index (inclusive). */
  start: number;
  /** Last rendered row index (exclusive). */
  end: number;
  /** Pixels from the top of the content to the first rendered row. */
  offset: number;
  /** Full content height in pixels. */
  total: number;
}

/** Rows intersecting the viewport, plus `overscan` rows either side. */
export function visibleRange(scrollTop: number, viewport: number, rowHeight: number, count: number, overscan = 8): VisibleRange {
  const total = count * rowHeight;
  if (count === 0 || rowHeight <= 0) return { start: 0, end: 0, offset: 0, total };
  const top = Math.max(0, Math.min(scrollTop, Math.max(0, total - viewport)));
  const first = Math.floor(top / rowHeight);
  const shown = Math.ceil(viewport / rowHeight) + 1;
  const start = Math.max(0, first - overscan);
  const end = Math.min(count, first + shown + overscan);
  return { start, end, offset: start * rowHeight, total };
}

/** The scrollTop that brings row `index` into view (unchanged if it is already visible). */
export function scrollToShow(index: number, scrollTop: number, viewport: number, rowHeight: number): number {
  const top = index * rowHeight;
  if (top < scrollTop) return top;
  if (top + rowHeight > scrollTop + viewport) return top + rowHeight - viewport;
  return scrollTop;
}
