/**
 * Svelte actions that set CSS custom properties through the CSSOM. The window's CSP drops inline
 * `style="…"` attributes, but `element.style.setProperty` is allowed: this is the only way the
 * UI sets a computed length (the virtual list's height and offset).
 */

export type CssVars = Record<string, string | number>;

function apply(node: HTMLElement, vars: CssVars) {
  for (const [name, value] of Object.entries(vars)) {
    node.style.setProperty(name, typeof value === 'number' ? `${value}px` : value);
  }
}

/** `use:cssVars={{ '--total': 3200 }}` → `--total: 3200px` on the element. */
export function cssVars(node: HTMLElement, vars: CssVars) {
  apply(node, vars);
  return { update: (next: CssVars) => apply(node, next) };
}
