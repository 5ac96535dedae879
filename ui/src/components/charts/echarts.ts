/**
 * The one place ECharts is assembled: only the core, the treemap and bar charts, the components
 * they use and the canvas renderer, so the bundle carries no map, 3D or SVG code.
 *
 * CSP note: the window's CSP (`style-src 'self'`) drops inline `style="…"` attributes that arrive
 * through HTML parsing, and ECharts' default HTML tooltips are built that way. Tooltips here use
 * `renderMode: 'richText'` (drawn on the canvas), so nothing depends on inline styles.
 */

import { BarChart, TreemapChart } from 'echarts/charts';
import { GridComponent, LegendComponent, TooltipComponent } from 'echarts/components';
import * as echarts from 'echarts/core';
import { CanvasRenderer } from 'echarts/renderers';

echarts.use([TreemapChart, BarChart, GridComponent, LegendComponent, TooltipComponent, CanvasRenderer]);

export { echarts };
export type EChartsInstance = ReturnType<typeof echarts.init>;

/** Colors of the app's tokens (read once per chart from the CSS custom properties). */
export function themeColors(el: Element) {
  const css = getComputedStyle(el);
  const v = (name: string, fallback: string) => css.getPropertyValue(name).trim() || fallback;
  return { text: v('--text', '#1d232b'), text2: v('--text-2', '#59636e'), border: v('--border', '#dfe3e8'), surface: v('--surface', '#ffffff'), accent: v('--accent', '#2f6feb') };
}

/** Storage-class colors: hot classes warm-blue, cold classes grey-violet. */
export const CLASS_COLORS: Record<string, string> = {
  STANDARD: '#2f6feb',
  INTELLIGENT_TIERING: '#14a3a3',
  STANDARD_IA: '#7cb342',
  ONEZONE_IA: '#c0ca33',
  EXPRESS_ONEZONE: '#ff8f00',
  GLACIER_IR: '#8e7cc3',
  GLACIER: '#6a5acd',
  DEEP_ARCHIVE: '#455a64',
  REDUCED_REDUNDANCY: '#a1887f',
};

/** The treemap palette for top-level prefixes. */
export const PALETTE = ['#2f6feb', '#14a3a3', '#e8743b', '#7cb342', '#8e7cc3', '#d4a017', '#c2185b', '#546e7a', '#00897b', '#5c6bc0'];

/**
 * Mounts a chart on `el`, keeps it sized with the element, and disposes it on destroy.
 * Exposes the instance on the element (`__chart`) so e2e tests can read the option it draws.
 */
export function mountChart(el: HTMLElement): { chart: EChartsInstance; destroy: () => void } {
  const chart = echarts.init(el, undefined, { renderer: 'canvas' });
  (el as unknown as { __chart?: EChartsInstance }).__chart = chart;
  const ro = new ResizeObserver(() => chart.resize());
  ro.observe(el);
  return {
    chart,
    destroy: () => {
      ro.disconnect();
      chart.dispose();
    },
  };
}
