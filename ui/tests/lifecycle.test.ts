import { describe, expect, it } from 'vitest';
import { describeRule, draftOf, lifecycleErrorText, removeRequest, ruleFromDraft, ruleSavingsDetails, savingsHeadline, setRequest } from '../src/lib/lifecycle';
import type { LifecycleRule, LifecycleRuleSavings, LifecycleSavings } from '../src/lib/types';

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

describe('lifecycle savings words', () => {
  const base: LifecycleSavings = {
    bucket: 'b', table: 'aws/us-east-1', table_name: 'Amazon S3', table_date: '2026-11-29', table_source: 'https://aws.amazon.com/s3/pricing/',
    not_estimated_because: null, rules: [], monthly_savings_usd: 0.19, one_time_usd: 0.0002, net_first_month_usd: 0.1898, payback_months: 0.001,
    listed_objects: 115, generated_at: 0, after_days: 0, notes: [],
  };
  const rule: LifecycleRuleSavings = {
    rule_id: 'trainctl-runs', change: 'added', prefix: 'runs/', objects: 115, bytes: 0, transitions: [{ table: 'aws/us-east-1', to_class: 'GLACIER_IR', objects_moved: 10, bytes_moved: 10 * 2 ** 30, objects_staying: 100, monthly_before_usd: 0.23, monthly_after_usd: 0.04, monthly_savings_usd: 0.19, transition_usd: 0.0002, early_deletion_usd: 0, payback_months: 0.001 }],
    expired_objects: 0, expired_bytes: 0, objects_later: 5, bytes_later: 5 * 2 ** 30, small_objects_staying: 100, monthly_savings_usd: 0.19, transition_usd: 0.0002, early_deletion_usd: 0, one_time_usd: 0.0002, net_first_month_usd: 0.1898, payback_months: 0.001, notes: [],
  };

  it('says what is saved, what it costs once, and names no table when none applies', () => {
    expect(savingsHeadline({ ...base, rules: [rule] })).toMatch(/^Saves \$0\.19\/month on today's objects now; once \$0\.0002 .* first month net \$0\.19/);
    expect(savingsHeadline({ ...base, rules: [rule], after_days: 40 })).toContain('in 40 days');
    expect(savingsHeadline({ ...base, table: null, not_estimated_because: 'no price table for other/us-east-1' })).toBe('Savings not estimated: no price table for other/us-east-1');
    expect(savingsHeadline(base)).toMatch(/nothing to price/);
    expect(savingsHeadline({ ...base, table: null })).toMatch(/nothing to price/);
  });

  it('details moves, small objects and what waits', () => {
    expect(ruleSavingsDetails(rule)).toEqual([
      'move 10 objects (10.0 GiB) to GLACIER_IR: $0.19/month',
      '100 objects under 128 KiB stay in their class',
      '5 objects (5.00 GiB) are too young yet: not counted',
    ]);
  });
});
