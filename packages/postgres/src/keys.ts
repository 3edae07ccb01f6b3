import { Buffer } from 'node:buffer';
import { DurableError, ErrorCode } from '@durable/core';
import { assertValidKey } from '@durable/core/adapter';

/**
 * Longest key in UTF-8 bytes: a B-tree index entry holds at most about 2,700 bytes, so a longer
 * key would fail in the server (or only when it does not compress); refused before any I/O.
 */
export const MAX_KEY_BYTES = 2048;

/** Throws `INVALID_KEY` unless `key` follows the shared key rules and fits PostgreSQL's index. */
export function assertStorableKey(key: unknown, context: string): asserts key is string {
  assertValidKey(key, context);
  const bytes = Buffer.byteLength(key, 'utf8');
  if (bytes > MAX_KEY_BYTES) {
    throw new DurableError(
      ErrorCode.INVALID_KEY,
      `${context}: key is ${bytes} bytes in UTF-8; PostgreSQL's index holds keys of at most ${MAX_KEY_BYTES} bytes: use a shorter key`,
      { details: { key: key.slice(0, 100), bytes } },
    );
  }
}

/**
 * The least string above every string that starts with `prefix`, in the byte order of UTF-8 (the
 * order of code points), or `undefined` when none exists: the prefix with its last code point
 * raised by one, skipping the surrogate range and dropping trailing U+10FFFF. With it a prefix
 * listing is an index range `prefix <= key < bound` (keys are `COLLATE "C"`: byte order).
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
