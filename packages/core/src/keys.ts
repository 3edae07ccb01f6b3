import { DurableError, ErrorCode } from './errors.js';

/** Longest key accepted, in UTF-16 code units. */
export const MAX_KEY_LENGTH = 1024;

// C0 and C1 control characters, DEL and NUL (Unicode category Cc, U+0000-U+001F and
// U+007F-U+009F): they break file names, logs and some backends.
const CONTROL = /\p{Cc}/u;

/** Why `key` breaks the key rules, or `undefined` when it is valid. */
export function keyProblem(key: unknown): string | undefined {
  if (typeof key !== 'string') return 'a key must be a string';
  if (key.length === 0) return 'a key must not be empty';
  if (key.length > MAX_KEY_LENGTH) return `a key must be at most ${MAX_KEY_LENGTH} characters`;
  if (CONTROL.test(key)) return 'a key must not contain NUL or control characters';
  // A lone surrogate becomes U+FFFD in UTF-8, so two different keys would share one stored name.
  if (!isWellFormedText(key))
    return 'a key must be well-formed Unicode (no unpaired UTF-16 surrogate)';
  if (key.startsWith('/')) return 'a key must not start with "/"';
  if (key.includes('\\')) return 'a key must not contain "\\"';
  for (const segment of key.split('/')) {
    if (segment.length === 0)
      return 'a key must not contain an empty segment ("//" or a trailing "/")';
    if (segment === '.' || segment === '..') return 'a key must not contain a "." or ".." segment';
  }
  return undefined;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * True when `text` is well-formed Unicode: no unpaired UTF-16 surrogate, so it survives a trip
 * through UTF-8 unchanged (`String.prototype.isWellFormed`, which Node 20 has, as a function).
 */
export function isWellFormedText(text: string): boolean {
  return !LONE_SURROGATE.test(text);
}

/** True when `key` follows the key rules shared by every backend. */
export function isValidKey(key: unknown): key is string {
  return keyProblem(key) === undefined;
}

/** Throws `INVALID_KEY` (before any I/O) unless `key` follows the key rules. */
export function assertValidKey(key: unknown, context = 'durable'): asserts key is string {
  const problem = keyProblem(key);
  if (problem !== undefined) {
    throw new DurableError(
      ErrorCode.INVALID_KEY,
      `${context}: invalid key ${JSON.stringify(key)}: ${problem}`,
      {
        details: { key },
      },
    );
  }
}

/**
 * Throws `INVALID_KEY` unless `prefix` can start a key: empty, or a key prefix that may end in
 * "/" or in the middle of a segment.
 */
export function assertValidPrefix(prefix: unknown, context = 'durable'): asserts prefix is string {
  if (prefix === '') return;
  if (typeof prefix !== 'string') {
    throw new DurableError(ErrorCode.INVALID_KEY, `${context}: a prefix must be a string`);
  }
  // A prefix may stop in the middle of a segment ("orders/4" matches "orders/42"), so an
  // unfinished last segment is checked as if more characters followed it.
  const problem = keyProblem(prefix.endsWith('/') ? prefix.slice(0, -1) : `${prefix}x`);
  if (problem !== undefined) {
    throw new DurableError(
      ErrorCode.INVALID_KEY,
      `${context}: invalid prefix ${JSON.stringify(prefix)}: ${problem}`,
      {
        details: { prefix },
      },
    );
  }
}

/** Joins key segments with "/" and validates the result. */
export function joinKey(...segments: string[]): string {
  const key = segments.join('/');
  assertValidKey(key);
  return key;
}
