// A quick click-through of the built UI in headless Chromium (mock mode, app CSP), driven over the
// DevTools protocol: no test framework, no downloads. Not the e2e suite (that runs the real app
// through tauri-driver); this checks the UI's own behaviour after `npm run build`.
// Usage: node --experimental-websocket scripts/smoke.mjs   (needs the apt package chromium)
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const PORT = 4181;
const DEBUG = 9333;
const server = spawn(process.execPath, [new URL('./serve-dist.mjs', import.meta.url).pathname, String(PORT)], { stdio: 'ignore' });
const chrome = spawn('chromium', [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run',
  `--remote-debugging-port=${DEBUG}`, `--user-data-dir=${mkdtempSync(join(tmpdir(), 'trainctl-smoke-'))}`, '--window-size=1280,800', 'about:blank',
], { stdio: 'ignore' });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let failures = 0;
const check = (name, ok, detail = '') => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}${detail ? ` — ${detail}` : ''}`);
  if (!ok) failures += 1;
};

async function connect() {
  for (let i = 0; i < 50; i++) {
    try {
      const targets = await (await fetch(`http://127.0.0.1:${DEBUG}/json`)).json();
      const page = targets.find((t) => t.type === 'page');
      if (page) return page.webSocketDebuggerUrl;
    } catch {}
    await sleep(100);
  }
  throw new Error('chromium did not start');
}

const ws = new WebSocket(await connect());
await new Promise((r) => ws.addEventListener('open', r));
let id = 0;
const pending = new Map();
const consoleErrors = [];
ws.addEventListener('message', (m) => {
  const msg = JSON.parse(m.data);
  if (msg.id && pending.has(msg.id)) {
    pending.get(msg.id)(msg);
    pending.delete(msg.id);
  } else if (msg.method === 'Runtime.exceptionThrown') consoleErrors.push(msg.params.exceptionDetails.exception?.description ?? 'exception');
  else if (msg.method === 'Runtime.consoleAPICalled' && msg.params.type === 'error') consoleErrors.push(msg.params.args.map((a) => a.value ?? a.description).join(' '));
  else if (msg.method === 'Log.entryAdded' && msg.params.entry.level === 'error') consoleErrors.push(msg.params.entry.text);
});
const send = (method, params = {}) => new Promise((r) => { const i = ++id; pending.set(i, r); ws.send(JSON.stringify({ id: i, method, params })); });
const js = async (expr) => {
  const res = await send('Runtime.evaluate', { expression: expr, awaitPromise: true, returnByValue: true });
  if (res.result.exceptionDetails) throw new Error(`${expr}: ${res.result.exceptionDetails.exception?.description}`);
  return res.result.result.value;
};
const until = async (expr, ms = 5000) => {
  for (let t = 0; t < ms; t += 50) {
    if (await js(expr)) return true;
    await sleep(50);
  }
  return false;
};
const open = async (path) => {
  await send('Page.navigate', { url: 'about:blank' });
  await send('Page.navigate', { url: `http://127.0.0.1:${PORT}/${path}` });
  await sleep(300);
};
const q = (sel) => `document.querySelector(${JSON.stringify(sel)})`;
const count = (sel) => js(`document.querySelectorAll(${JSON.stringify(sel)}).length`);

try {
  await send('Runtime.enable');
  await send('Log.enable');
  await send('Page.enable');

  // First run → demo.
  await open('?mock=firstrun');
  check('first run offers the demo', await until(`!!${q('[data-testid=try-demo]')}`));
  await js(`${q('[data-testid=try-demo]')}.click()`);
  check('the demo lands on the dashboard with buckets', await until(`document.querySelectorAll('[data-testid=dashboard-bucket]').length === 3`));

  // Browser: 100k objects, virtualized.
  await open('?mock#/browser/demo-training/datasets/tokenized-100k/');
  check('the 100k listing loads', await until(`${q('[data-testid=object-list]')}?.dataset.count === '100000'`, 15000));
  const rendered = await count('[data-testid=object-row]');
  check('only visible rows are in the DOM', rendered > 10 && rendered < 80, `${rendered} rows rendered`);
  const t0 = await js(`(async () => { const el = ${q('[data-testid=object-list]')}; const t = performance.now(); for (let i = 1; i <= 30; i++) { el.scrollTop = i * 100000; el.dispatchEvent(new Event('scroll')); await new Promise(requestAnimationFrame); } return performance.now() - t; })()`);
  check('30 big scroll jumps render within 30 frames-ish', t0 < 3000, `${Math.round(t0)} ms`);
  const first = await js(`[...document.querySelectorAll('[data-testid=object-row]')].map(r => r.dataset.key).find(k => k)`);
  check('scrolling deep shows rows from deep in the list', /part-0(8|9)\d{4}/.test(first ?? ''), first);

  // Sort and filter.
  await js(`${q('[data-testid=sort-size]')}.click()`);
  await sleep(400);
  const sizes = await js(`${q('[data-testid=object-list]')}.scrollTop = 0, new Promise(r => setTimeout(() => r([...document.querySelectorAll('[data-testid=object-row] .c-size')].slice(0, 3).map(e => e.textContent)), 200))`);
  check('sort by size puts the largest first', (sizes ?? []).every((s) => /MiB/.test(s)), JSON.stringify(sizes));
  await js(`(() => { const i = ${q('[data-testid=browser-filter]')}; i.value = '099999'; i.dispatchEvent(new Event('input', { bubbles: true })); })()`);
  check('the filter narrows 100k rows to one', await until(`${q('[data-testid=object-list]')}?.dataset.count === '1'`));

  // Selection, download, delete.
  await open('?mock#/browser/demo-training/runs/llama3-8b-sft-2026-11/checkpoint-1000/');
  await until(`document.querySelectorAll('[data-testid=object-row]').length === 10`);
  await js(`document.querySelectorAll('[data-testid=row-select]')[0].click(); document.querySelectorAll('[data-testid=row-select]')[2].click()`);
  check('checkboxes select two rows', await until(`${q('[data-testid=selection-summary]')}?.textContent.includes('2 items')`));
  await js(`document.querySelectorAll('[data-testid=object-row]')[4].dispatchEvent(new MouseEvent('click', { bubbles: true, shiftKey: true }))`);
  check('shift-click extends the selection', await until(`${q('[data-testid=selection-summary]')}?.textContent.includes('3 items')`), await js(`${q('[data-testid=selection-summary]')}?.textContent`));
  await js(`${q('[data-testid=download-selection]')}.click()`);
  check('download starts a transfer', await until(`${q('[data-testid=browser-status]')}?.textContent.includes('Downloading')`));
  await js(`${q('[data-testid=delete-selection]')}.click()`);
  check('delete opens the confirm dialog listing the keys', await until(`${q('[data-testid=delete-dialog]')}?.open && document.querySelectorAll('[data-testid=delete-dialog-keys] li').length === 3`));
  await js(`${q('[data-testid=delete-confirm]')}.click()`);
  check('confirming deletes and refreshes the listing', await until(`document.querySelectorAll('[data-testid=object-row]').length === 7 && !${q('[data-testid=delete-dialog]')}`));

  // Drop: on the window → prefix on screen; on a folder row → that folder.
  await open('?mock#/browser/demo-training/runs/');
  await until(`document.querySelectorAll('[data-testid=folder-row]').length === 2`);
  await js(`__trainctlMockDrop(['/home/r/new-ckpt.bin'], 700, 600)`);
  check('a drop on empty space uploads to the prefix on screen', await until(`[...document.querySelectorAll('[data-testid=toast]')].some(t => t.textContent.includes('s3://demo-training/runs/'))`));
  const row = await js(`(() => { const el = ${q('[data-testid=folder-row]')}; const r = el.getBoundingClientRect(); return [r.x + 300, r.y + r.height / 2, el.dataset.key]; })()`);
  await js(`__trainctlMockDrop(['/home/r/other.bin'], ${row[0]}, ${row[1]})`);
  check('a drop on a folder row uploads into that folder', await until(`[...document.querySelectorAll('[data-testid=toast]')].some(t => t.textContent.includes('s3://demo-training/${row[2]}'))`), row[2]);

  // Transfers: cancel the live one, retry it.
  await js(`${q('[data-testid=nav-transfers]')}.click()`);
  check('transfers view lists active jobs', await until(`document.querySelectorAll('[data-testid=transfers-active] [data-testid=transfer-row]').length >= 1`));
  await js(`${q('[data-testid=transfers-active] [data-testid=transfer-cancel]')}.click()`);
  check('cancel moves the job to history as cancelled', await until(`!!${q('[data-testid=transfers-history] [data-state=cancelled]')}`));
  await js(`${q('[data-testid=transfers-history] [data-state=cancelled] [data-testid=transfer-retry]')}.click()`);
  check('retry starts a new job', await until(`document.querySelectorAll('[data-testid=transfers-active] [data-testid=transfer-row]').length >= 1`));
  check('finished uploads raise notifications', await until(`!!${q('[data-testid=nav-notifications-badge]')}`, 8000));

  // Connections: a wrong secret is explained inside the form.
  await open('?mock#/connections');
  await until(`!!${q('[data-testid=profile-add]')}`);
  await js(`${q('[data-testid=profile-add]')}.click()`);
  await sleep(100);
  await js(`(() => { const set = (t, v) => { const i = ${q('[data-testid=profile-form]')}.querySelector('[data-testid=' + t + ']'); i.value = v; i.dispatchEvent(new Event('input', { bubbles: true })); };
    const sel = ${q('[data-testid=profile-form-provider]')}; sel.value = 'minio'; sel.dispatchEvent(new Event('change', { bubbles: true }));
    set('profile-form-name', 'lab2'); set('profile-form-endpoint', 'http://127.0.0.1:9000'); set('profile-form-access-key', 'AK'); set('profile-form-secret', 'wrong'); })()`);
  await js(`${q('[data-testid=profile-form-test]')}.click()`);
  check('a wrong secret is diagnosed in the form', await until(`${q('[data-testid=profile-form-result]')}?.dataset.code === 'bad_secret'`));
  await js(`(() => { const i = ${q('[data-testid=profile-form-secret]')}; i.value = 'right'; i.dispatchEvent(new Event('input', { bubbles: true })); })()`);
  await js(`${q('[data-testid=profile-form-save]')}.click()`);
  check('saving adds the profile', await until(`!!${q('[data-profile=lab2]')}`));
  await js(`${q('[data-profile=lab2] [data-testid=profile-remove]')}.click()`);
  check('remove deletes it', await until(`!${q('[data-profile=lab2]')}`));

  // Connection lost → banner → retry.
  await open('?mock=lost#/browser/demo-training/runs/');
  check('losing the endpoint shows the banner', await until(`!!${q('[data-testid=connection-banner]')}`));
  check('the listing stays on screen', (await count('[data-testid=folder-row]')) === 2);
  await js(`${q('[data-testid=connection-retry]')}.click()`);
  check('retry clears the banner', await until(`!${q('[data-testid=connection-banner]')}`));

  // No shell and no ?mock: say so, do not fake.
  await open('');
  check('without a shell the UI says so instead of faking data', await until(`${q('[data-testid=fatal]')}?.textContent.includes('desktop shell is not running')`));

  const cspDrops = consoleErrors.filter((e) => /Content Security Policy/i.test(e));
  check('no CSP violations', cspDrops.length === 0, cspDrops.slice(0, 3).join(' | '));
  const other = consoleErrors.filter((e) => !/Content Security Policy/i.test(e));
  check('no uncaught errors', other.length === 0, other.slice(0, 3).join(' | '));
  const enforced = await js(`(() => { const d = document.createElement('div'); d.setAttribute('style', 'width: 123px; position: absolute'); document.body.append(d); const w = d.getBoundingClientRect().width; d.remove(); return w !== 123; })()`);
  check('the app CSP is in force here (an inline style attribute is dropped)', enforced);
} catch (e) {
  check('smoke run', false, String(e));
} finally {
  ws.close();
  chrome.kill();
  server.kill();
}
console.log(failures ? `${failures} check(s) failed` : 'all checks passed');
process.exit(failures ? 1 : 0);
