// The ?mock fixture must behave like the shell's contract, or screenshots lie.
import { describe, expect, it, vi } from 'vitest';
import { createMockBackend } from '../src/lib/mock/backend';
import type { AppInfo, DeletePlan, ListPage, TransferRecord } from '../src/lib/types';

describe('mock backend', () => {
  it('pages a 100k-object prefix with tokens', async () => {
    const b = createMockBackend(new Set());
    let token: string | null = null;
    let total = 0;
    let pages = 0;
    do {
      const page: ListPage = await b.invoke('objects_list', { bucket: 'demo-training', prefix: 'datasets/tokenized-100k/', token });
      total += page.objects.length;
      pages += 1;
      token = page.next_token;
      expect(page.truncated).toBe(token !== null);
    } while (token);
    expect(total).toBe(100_000);
    expect(pages).toBeGreaterThan(1);
  });

  it('lists common prefixes under a folder', async () => {
    const b = createMockBackend(new Set());
    const page: ListPage = await b.invoke('objects_list', { bucket: 'demo-training', prefix: 'runs/', token: null });
    expect(page.prefixes).toEqual(['runs/llama3-8b-sft-2026-11/', 'runs/resnet50-ablation-lr3e-4/']);
    expect(page.objects).toEqual([]);
  });

  it('starts on the first-run screen with no profiles, and the demo connects', async () => {
    const b = createMockBackend(new Set(['firstrun']));
    expect(await b.invoke<AppInfo>('app_info')).toMatchObject({ first_run: true, connection: null });
    await b.invoke('demo_start');
    expect(await b.invoke<AppInfo>('app_info')).toMatchObject({ first_run: false, demo: true });
  });

  it('rejects with ErrorInfo objects, like the shell', async () => {
    const b = createMockBackend(new Set());
    await expect(b.invoke('objects_list', { bucket: 'nope', prefix: '', token: null })).rejects.toMatchObject({ code: 'no_such_bucket' });
  });

  it('expands a folder key in a delete plan and applies exactly the plan', async () => {
    const b = createMockBackend(new Set());
    const plan: DeletePlan = await b.invoke('delete_plan', { bucket: 'demo-training', keys: ['runs/llama3-8b-sft-2026-11/checkpoint-500/'] });
    expect(plan.items).toHaveLength(10);
    expect(plan.bytes).toBe(plan.items.reduce((a, i) => a + i.size, 0));
    await b.invoke('delete_apply', { plan });
    const page: ListPage = await b.invoke('objects_list', { bucket: 'demo-training', prefix: 'runs/llama3-8b-sft-2026-11/', token: null });
    expect(page.prefixes).not.toContain('runs/llama3-8b-sft-2026-11/checkpoint-500/');
  });

  it('emits started, progress and finished for an upload', async () => {
    vi.useFakeTimers();
    const b = createMockBackend(new Set(['firstrun']));
    const started = b.invoke('demo_start');
    await vi.advanceTimersByTimeAsync(20);
    await started;
    const seen: string[] = [];
    for (const name of ['transfer://started', 'transfer://progress', 'transfer://finished', 'notification://new'] as const) {
      await b.listen(name, () => seen.push(name));
    }
    const pending = b.invoke<TransferRecord>('upload_paths', { paths: ['/tmp/a.bin'], bucket: 'scratch', prefix: '' });
    await vi.advanceTimersByTimeAsync(20);
    expect((await pending).state).toBe('planning');
    await vi.advanceTimersByTimeAsync(6000);
    vi.useRealTimers();
    expect(seen).toContain('transfer://started');
    expect(seen).toContain('transfer://progress');
    expect(seen).toContain('transfer://finished');
    expect(seen).toContain('notification://new');
  });
});
