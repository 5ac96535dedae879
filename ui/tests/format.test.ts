import { describe, expect, it } from 'vitest';
import { absoluteTime, eta, humanBytes, humanDuration, humanRate, humanStorageClass, plural, relativeTime } from '../src/lib/format';

describe('humanBytes', () => {
  it('shows small sizes in bytes', () => {
    expect(humanBytes(0)).toBe('0 B');
    expect(humanBytes(1023)).toBe('1023 B');
  });
  it('uses binary units with three significant digits', () => {
    expect(humanBytes(1536)).toBe('1.50 KiB');
    expect(humanBytes(12.34 * 1024 ** 3)).toBe('12.3 GiB');
    expect(humanBytes(897 * 1024 ** 3)).toBe('897 GiB');
  });
  it('carries a value that rounds to 1024 into the next unit', () => {
    expect(humanBytes(1024 * 1024 - 1)).toBe('1.00 MiB');
  });
  it('shows a dash for unknown or invalid sizes', () => {
    expect(humanBytes(null)).toBe('—');
    expect(humanBytes(undefined)).toBe('—');
    expect(humanBytes(-1)).toBe('—');
    expect(humanBytes(Number.NaN)).toBe('—');
  });
});

describe('humanRate', () => {
  it('appends /s', () => expect(humanRate(58 * 1024 * 1024)).toBe('58.0 MiB/s'));
  it('shows a dash while the rate is zero or unknown', () => {
    expect(humanRate(0)).toBe('—');
    expect(humanRate(null)).toBe('—');
  });
});

describe('humanDuration and eta', () => {
  it('uses at most two units', () => {
    expect(humanDuration(0.4)).toBe('<1 s');
    expect(humanDuration(42)).toBe('42 s');
    expect(humanDuration(185)).toBe('3 min 05 s');
    expect(humanDuration(7620)).toBe('2 h 07 min');
    expect(humanDuration(3 * 86400 + 4 * 3600 + 5)).toBe('3 d 4 h');
  });
  it('says how long is left, or a dash when unknown', () => {
    expect(eta(130)).toBe('2 min 10 s left');
    expect(eta(null)).toBe('—');
    expect(eta(Number.POSITIVE_INFINITY)).toBe('—');
  });
});

describe('relativeTime', () => {
  const now = 1_800_000_000;
  it('says just now for the last few seconds', () => expect(relativeTime(now - 10, now)).toBe('just now'));
  it('counts minutes, hours and days', () => {
    expect(relativeTime(now - 5 * 60, now)).toBe('5 min ago');
    expect(relativeTime(now - 3 * 3600, now)).toBe('3 h ago');
    expect(relativeTime(now - 86_000, now)).toBe('23 h ago');
    expect(relativeTime(now - 30 * 3600, now)).toBe('yesterday');
    expect(relativeTime(now - 9 * 86400, now)).toBe('9 days ago');
  });
  it('falls back to a date for old times', () => {
    expect(relativeTime(now - 90 * 86400, now)).toMatch(/^\d{4}-\d{2}-\d{2}$/);
  });
  it('shows a dash for unknown times', () => expect(relativeTime(null, now)).toBe('—'));
});

describe('small formatters', () => {
  it('formats an absolute time as a sortable local string', () => expect(absoluteTime(0)).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}$/));
  it('pluralizes with thousands separators', () => {
    expect(plural(1, 'object')).toBe('1 object');
    expect(plural(100000, 'object')).toBe('100,000 objects');
  });
  it('turns storage classes into words', () => {
    expect(humanStorageClass(null)).toBe('Standard');
    expect(humanStorageClass('STANDARD_IA')).toBe('Standard IA');
    expect(humanStorageClass('INTELLIGENT_TIERING')).toBe('Intelligent Tiering');
    expect(humanStorageClass('GLACIER_IR')).toBe('Glacier IR');
  });
});
