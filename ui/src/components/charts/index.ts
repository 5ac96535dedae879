/**
 * The chart components, loaded together and lazily (`import('./charts')`): ECharts and uPlot are
 * most of the UI's bytes, and only the Dashboard's review needs them, so start-up does not pay.
 */
export { default as ClassBars } from './ClassBars.svelte';
export { default as Growth } from './Growth.svelte';
export { default as Treemap } from './Treemap.svelte';
