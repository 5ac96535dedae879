import { describe, expect, it } from 'vitest';
import { describeRule, draftOf, lifecycleErrorText, removeRequest, ruleFromDraft, setRequest } from '../src/lib/lifecycle';
import type { LifecycleRule } from '../src/lib/types';

const rule: LifecycleRule = {
  id: 'trainctl-runs', prefix: 'runs/', enabled: true, transitions: [{ days: 30, storage_class: 'GLACIER_IR' }, { days: 180, storage_class: 'DEEP_ARCHIVE' }],
  expire_days: 365, abort_multipart_days: 7, noncurrent_expire_days: null,
};

describe('lifecycle form', () => {
  it('round-trips a rule through the form, keeping extra transitions', () => {
    const d = draftOf(rule);
    expect(d).toMatchObject({ transitionClass: 'GLACIER_IR', transitionDays: '30', expireDays: '365', abortMultipartDays: '7', noncurrentExpireDays: '' });
    expect(ruleFromDraft(d, rule)).toEqual({ rule });
  });

  it('refuses what S3 would refuse or what makes no rule', () => {
    const d = draftOf(rule);
    expect(ruleFromDraft({ ...d, expireDays: '0' })).toMatchObject({ error: expect.stringContaining('Expire') });
    expect(ruleFromDraft({ ...d, transitionDays: '' })).toMatchObject({ error: expect.stringContaining('after how many days') });
    expect(ruleFromDraft({ ...d, transitionClass: '', transitionDays: '' , expireDays: '', abortMultipartDays: '' })).toMatchObject({ error: expect.stringContaining('at least one action') });
    expect(ruleFromDraft({ ...d, id: ' ' })).toMatchObject({ error: expect.stringContaining('id') });
  });

  it('makes requests and words', () => {
    expect(setRequest(rule)).toEqual({ set: [rule], remove: [] });
    expect(removeRequest('x')).toEqual({ set: [], remove: ['x'] });
    expect(describeRule(rule)).toEqual(['to GLACIER_IR after 30 d', 'to DEEP_ARCHIVE after 180 d', 'expire after 365 d', 'abort incomplete multipart uploads after 7 d']);
    expect(lifecycleErrorText({ code: 'lifecycle_unsupported', message: 'NotImplemented' })).toMatch(/does not support/);
    expect(lifecycleErrorText({ code: 'other', message: 'boom' })).toBe('boom');
  });
});
