import { describe, expect, it } from 'vitest';
import { describePaths, dropTarget, s3Url } from '../src/lib/drop';

describe('dropTarget', () => {
  const here = { bucket: 'demo', prefix: 'runs/' };
  it('uploads to the prefix on screen', () => expect(dropTarget(here, null)).toEqual(here));
  it('uploads into a folder row dropped on', () => expect(dropTarget(here, 'runs/a/')).toEqual({ bucket: 'demo', prefix: 'runs/a/' }));
  it('ignores a row prefix that is not under the folder on screen', () => expect(dropTarget(here, 'other/')).toEqual(here));
  it('has no target when no bucket is open', () => expect(dropTarget(null, 'runs/a/')).toBeNull());
});

describe('describePaths and s3Url', () => {
  it('names the first path and counts the rest', () => {
    expect(describePaths(['/home/r/checkpoint-2500/'])).toBe('checkpoint-2500');
    expect(describePaths(['/a/x.bin', '/a/y.bin', '/a/z.bin'])).toBe('x.bin and 2 more');
    expect(describePaths(['C:\\runs\\ckpt'])).toBe('ckpt');
  });
  it('writes an s3 URL', () => expect(s3Url({ bucket: 'b', prefix: 'p/' })).toBe('s3://b/p/'));
});
