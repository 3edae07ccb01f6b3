import { prefixUpperBound } from '../src/prefix.js';

describe('prefixUpperBound', () => {
  it('raises the last code point, so prefix <= key < bound holds exactly for the keys with that prefix', () => {
    expect(prefixUpperBound('a/')).toBe('a0');
    expect(prefixUpperBound('日')).toBe('旦');
    const keys = ['a/', 'a/x', 'a/\u{10FFFF}\u{10FFFF}', 'a0', 'a.', 'b'];
    const bound = prefixUpperBound('a/') as string;
    expect(
      keys.filter((key) => key >= 'a/' && Buffer.compare(Buffer.from(key), Buffer.from(bound)) < 0),
    ).toEqual(['a/', 'a/x', 'a/\u{10FFFF}\u{10FFFF}']);
  });

  it('skips the surrogate range and drops a trailing U+10FFFF; an all-U+10FFFF prefix has no bound', () => {
    expect(prefixUpperBound('x\uD7FF')).toBe('x\uE000');
    expect(prefixUpperBound('x\u{10FFFF}')).toBe('y');
    expect(prefixUpperBound('\u{10FFFF}\u{10FFFF}')).toBeUndefined();
    expect(prefixUpperBound('')).toBeUndefined();
  });
});
