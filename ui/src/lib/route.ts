/**
 * Hash routes (`#/browser/<bucket>/<prefix>`): the view on screen survives a reload and e2e tests
 * and screenshots can open a view by URL.
 */

export type ViewName = 'checkpoints' | 'watches' | 'runs' | 'dashboard' | 'connections' | 'browser' | 'transfers' | 'sync' | 'datasets' | 'notifications';

export interface Route {
  view: ViewName;
  bucket: string | null;
  prefix: string;
}

const VIEWS: ViewName[] = ['checkpoints', 'watches', 'runs', 'dashboard', 'connections', 'browser', 'transfers', 'sync', 'datasets', 'notifications'];

/** `#/browser/demo/runs/a/` → {browser, demo, runs/a/}; anything unknown → dashboard. */
export function parseHash(hash: string): Route {
  const path = hash.replace(/^#\/?/, '');
  const [head, ...rest] = path.split('/');
  const view = VIEWS.includes(head as ViewName) ? (head as ViewName) : 'dashboard';
  if (view !== 'browser' || rest.length === 0 || rest[0] === '') return { view, bucket: null, prefix: '' };
  const bucket = decodeURIComponent(rest[0]);
  const prefix = rest.slice(1).map(decodeURIComponent).join('/');
  return { view, bucket, prefix };
}

/** Inverse of [`parseHash`]; segments are URI-encoded so keys with `#`/`?`/`%` survive. */
export function formatHash(route: Route): string {
  if (route.view !== 'browser' || !route.bucket) return `#/${route.view}`;
  const prefix = route.prefix.split('/').map(encodeURIComponent).join('/');
  return `#/browser/${encodeURIComponent(route.bucket)}/${prefix}`;
}
