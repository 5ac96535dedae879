/**
 * Start-up marks of the page, sent to the shell in ONE call once the first frame with the app in
 * it has been painted. The shell prints them only under `TRAINCTL_STARTUP_TRACE=1`
 * (src-tauri/src/startup.rs), next to its own marks, on one time axis (wall-clock ms).
 */

import * as api from './api';

const marks: [string, number][] = [];
let sent = false;

/** Wall-clock milliseconds (epoch) of a `performance.now()` value. */
const wall = (t: number) => performance.timeOrigin + t;

/** Records `what` now. */
export function mark(what: string): void {
  if (!sent) marks.push([what, wall(performance.now())]);
}

/** The navigation milestones the browser already timed (request start, DOMContentLoaded, …). */
function navigationMarks(): [string, number][] {
  const out: [string, number][] = [['page: navigation start', wall(0)]];
  const nav = performance.getEntriesByType?.('navigation')[0] as PerformanceNavigationTiming | undefined;
  if (nav) {
    out.push(['page: response end (index.html)', wall(nav.responseEnd)]);
    out.push(['page: DOMContentLoaded', wall(nav.domContentLoadedEventStart)]);
  }
  for (const r of (performance.getEntriesByType?.('resource') ?? []) as PerformanceResourceTiming[]) {
    const name = r.name.split('/').pop() ?? r.name;
    out.push([`page: loaded ${name}`, wall(r.responseEnd)]);
  }
  for (const p of performance.getEntriesByType?.('paint') ?? []) out.push([`page: ${p.name}`, wall(p.startTime)]);
  return out;
}

/** After the next painted frame: mark it and send everything (once). Errors are ignored. */
export function reportAfterPaint(what: string): void {
  if (sent || typeof requestAnimationFrame === 'undefined') return;
  // The callback of the first rAF runs before that frame paints; the second one runs after it.
  requestAnimationFrame(() =>
    requestAnimationFrame(() => {
      mark(what);
      if (sent) return;
      sent = true;
      const all = [...navigationMarks(), ...marks].sort((a, b) => a[1] - b[1]);
      api.startupTrace(all).catch(() => {});
    }),
  );
}
