/**
 * Loads uPlot lazily, after making sure `navigator.language` is a valid BCP 47 tag.
 *
 * Why: uPlot builds `new Intl.NumberFormat(navigator.language)` when its module is evaluated.
 * WebKitGTK reports the POSIX locale verbatim (`C` under `LANG=C`, as in CI and the e2e suite),
 * which Intl rejects with a RangeError — and a module that throws at import takes the whole
 * bundle with it. Lazy loading keeps the app up whatever happens; the fallback keeps charts up.
 */

import type uPlotType from 'uplot';

let loading: Promise<typeof uPlotType> | null = null;

export function ensureValidLocale(): void {
  if (typeof navigator === 'undefined') return;
  try {
    new Intl.NumberFormat(navigator.language);
  } catch {
    Object.defineProperty(navigator, 'language', { value: 'en-US', configurable: true });
  }
}

export function loadUplot(): Promise<typeof uPlotType> {
  ensureValidLocale();
  loading ??= import('uplot').then((m) => m.default);
  return loading;
}
