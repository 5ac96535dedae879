/**
 * The lifecycle editor's logic: the trainctl rule as a form (text fields, empty = off) ↔ the core
 * `Rule`, the request it makes, and plain words for the diff and the server's refusals.
 */

import { humanBytes, humanUsd } from './format';
import type { LifecycleChangeKind, LifecycleRequest, LifecycleRule, LifecycleRuleSavings, LifecycleSavings, LifecycleStorageClass } from './types';

export const STORAGE_CLASSES: { value: LifecycleStorageClass; label: string }[] = [
  { value: 'STANDARD_IA', label: 'Standard-IA' },
  { value: 'INTELLIGENT_TIERING', label: 'Intelligent-Tiering' },
  { value: 'ONEZONE_IA', label: 'One Zone-IA' },
  { value: 'GLACIER_IR', label: 'Glacier Instant Retrieval' },
  { value: 'GLACIER', label: 'Glacier Flexible Retrieval' },
  { value: 'DEEP_ARCHIVE', label: 'Glacier Deep Archive' },
];

/** The rule form as typed. */
export interface RuleDraft {
  id: string;
  prefix: string;
  enabled: boolean;
  /** '' = no transition. */
  transitionClass: LifecycleStorageClass | '';
  transitionDays: string;
  expireDays: string;
  abortMultipartDays: string;
  noncurrentExpireDays: string;
}

const days = (n: number | null | undefined) => (n === null || n === undefined ? '' : String(n));

/** A rule as the form shows it (its first transition only; more are kept when unchanged). */
export function draftOf(rule: LifecycleRule): RuleDraft {
  const t = rule.transitions[0];
  return {
    id: rule.id,
    prefix: rule.prefix,
    enabled: rule.enabled,
    transitionClass: t?.storage_class ?? '',
    transitionDays: days(t?.days),
    expireDays: days(rule.expire_days),
    abortMultipartDays: days(rule.abort_multipart_days),
    noncurrentExpireDays: days(rule.noncurrent_expire_days),
  };
}

function parseDays(label: string, s: string): number | null | string {
  const t = s.trim();
  if (t === '') return null;
  if (!/^\d+$/.test(t) || Number(t) < 1) return `${label}: type a whole number of days (1 or more)`;
  return Number(t);
}

/** The form as a core `Rule`, or the first problem in plain words. The server-side checks (class
 * order, minimum days) come back from the plan as a `usage` error or warnings. */
export function ruleFromDraft(d: RuleDraft, base?: LifecycleRule): { rule: LifecycleRule } | { error: string } {
  const td = parseDays('Transition', d.transitionDays);
  const ex = parseDays('Expire', d.expireDays);
  const ab = parseDays('Abort multipart uploads', d.abortMultipartDays);
  const nc = parseDays('Noncurrent versions', d.noncurrentExpireDays);
  for (const v of [td, ex, ab, nc]) if (typeof v === 'string') return { error: v };
  if (d.transitionClass !== '' && td === null) return { error: 'Transition: type after how many days' };
  if (d.transitionClass === '' && td !== null) return { error: 'Transition: choose the storage class' };
  if (!d.id.trim()) return { error: 'The rule needs an id' };
  const transitions = d.transitionClass === '' ? [] : [{ days: td as number, storage_class: d.transitionClass }];
  // Extra transitions of a rule read from the server survive an edit of the first one.
  if (base && base.transitions.length > 1 && d.transitionClass !== '') transitions.push(...base.transitions.slice(1));
  const rule: LifecycleRule = {
    id: d.id.trim(),
    prefix: d.prefix,
    enabled: d.enabled,
    transitions,
    expire_days: ex as number | null,
    abort_multipart_days: ab as number | null,
    noncurrent_expire_days: nc as number | null,
  };
  if (!hasAction(rule)) return { error: 'Give the rule at least one action (transition, expire, abort multipart or noncurrent)' };
  return { rule };
}

export function hasAction(r: LifecycleRule): boolean {
  return r.transitions.length > 0 || r.expire_days !== null || r.abort_multipart_days !== null || r.noncurrent_expire_days !== null;
}

/** The request that sets (adds or replaces) one rule. */
export function setRequest(rule: LifecycleRule): LifecycleRequest {
  return { set: [rule], remove: [] };
}

/** The request that removes one rule. */
export function removeRequest(id: string): LifecycleRequest {
  return { set: [], remove: [id] };
}

/** A rule's actions in words, one per item (like core `Rule::describe`). */
export function describeRule(r: LifecycleRule): string[] {
  const out = r.transitions.map((t) => `to ${t.storage_class} after ${t.days} d`);
  if (r.expire_days !== null) out.push(`expire after ${r.expire_days} d`);
  if (r.abort_multipart_days !== null) out.push(`abort incomplete multipart uploads after ${r.abort_multipart_days} d`);
  if (r.noncurrent_expire_days !== null) out.push(`expire noncurrent versions after ${r.noncurrent_expire_days} d`);
  out.push(...(r.other ?? []));
  return out;
}

export function scopeOf(r: LifecycleRule): string {
  return r.prefix === '' ? 'whole bucket' : `prefix ${r.prefix}`;
}

export const CHANGE_LABEL: Record<LifecycleChangeKind, string> = {
  added: 'added',
  changed: 'changed',
  unchanged: 'unchanged',
  removed: 'removed',
  kept_unrelated: 'kept as is',
};

/** A lifecycle error in plain words (the UI keys on `code`). */
export function lifecycleErrorText(e: { code: string; message: string }): string {
  switch (e.code) {
    case 'lifecycle_unsupported':
      return 'This server does not support these lifecycle rules, so nothing was changed.';
    case 'lifecycle_rejected':
      return 'The server refused the rules as invalid; nothing was changed.';
    case 'plan_stale':
      return "The bucket's rules changed since this plan; nothing was written. Plan again.";
    case 'access_denied':
      return 'These credentials may not read or change lifecycle rules of this bucket.';
    default:
      return e.message;
  }
}

/** The headline of a plan's savings (core `lifecycle::savings`), one line. */
export function savingsHeadline(s: LifecycleSavings): string {
  if (s.rules.length === 0 && s.not_estimated_because === null) return 'No added or changed rule moves or expires objects: nothing to price on what is stored.';
  if (s.table === null) return `Savings not estimated: ${s.not_estimated_because ?? 'no price table applies'}`;
  const when = s.after_days > 0 ? ` in ${s.after_days} days` : ' now';
  const payback = s.payback_months !== null && s.payback_months > 0 ? `, pays back in ${s.payback_months.toFixed(1)} months` : '';
  return `Saves ${humanUsd(s.monthly_savings_usd)}/month on today's objects${when}; once ${humanUsd(s.one_time_usd)} (transition requests + early deletion); first month net ${humanUsd(s.net_first_month_usd)}${payback}`;
}

/** What one rule does to today's objects, in words (moves, expiries, what waits). */
export function ruleSavingsDetails(r: LifecycleRuleSavings): string[] {
  const out = r.transitions.map((t) => `move ${t.objects_moved} objects (${humanBytes(t.bytes_moved)}) to ${t.to_class}: ${humanUsd(t.monthly_savings_usd)}/month`);
  if (r.expired_objects > 0) out.push(`expire ${r.expired_objects} objects (${humanBytes(r.expired_bytes)})`);
  if (r.small_objects_staying > 0) out.push(`${r.small_objects_staying} objects under 128 KiB stay in their class`);
  if (r.objects_later > 0) out.push(`${r.objects_later} objects (${humanBytes(r.bytes_later)}) are too young yet: not counted`);
  out.push(...r.notes);
  return out;
}
