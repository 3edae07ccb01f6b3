/**
 * The least string above every string that starts with `prefix`, in the byte order of UTF-8 (the
 * order of code points), or `undefined` when none exists: the prefix with its last code point
 * raised by one, skipping the surrogate range and dropping trailing U+10FFFF. With it a prefix
 * listing is an index range `prefix <= key < bound` instead of a scan to the end of the table.
 */
export function prefixUpperBound(prefix: string): string | undefined {
  const points = Array.from(prefix, (char) => char.codePointAt(0) as number);
  while (points.length > 0) {
    const last = points.pop() as number;
    if (last === 0x10ffff) continue;
    const next = last === 0xd7ff ? 0xe000 : last + 1;
    return String.fromCodePoint(...points, next);
  }
  return undefined;
}
