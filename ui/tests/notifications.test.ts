import { describe, expect, it } from 'vitest';
import { routeForNotification } from '../src/lib/notifications';
import type { AppNotification } from '../src/lib/types';

const base: AppNotification = { id: 1, level: 'success', title: 'Run finished', body: 'b', at: 0, job: null, link: null };

describe('routeForNotification (a click on a native popup)', () => {
  it('opens the run prefix in the Browser when the popup names one', () => {
    expect(routeForNotification({ ...base, link: 's3://lab/runs/exp1' })).toEqual({ view: 'browser', bucket: 'lab', prefix: 'runs/exp1/' });
  });
  it('opens Transfers for a transfer popup', () => {
    expect(routeForNotification({ ...base, title: 'Upload finished', job: 7 })).toEqual({ view: 'transfers', bucket: null, prefix: '' });
  });
  it('falls back to the Notifications list', () => {
    expect(routeForNotification(base)).toEqual({ view: 'notifications', bucket: null, prefix: '' });
    expect(routeForNotification({ ...base, link: 'not a url' })).toEqual({ view: 'notifications', bucket: null, prefix: '' });
  });
});
