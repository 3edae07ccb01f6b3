import { DurableError, ErrorCode } from './errors.js';
import type { ListOptions, ListPage } from './storage.js';

/** Default page size of `list`. */
export const DEFAULT_LIST_LIMIT = 1000;

/**
 * Largest page size of `list` (S3's own page size): every storage serves a page of up to this
 * many keys in one call, and refuses a larger `limit` with `CONFIG`.
 */
export const MAX_LIST_LIMIT = 1000;

/** Validates a `list` page size: an integer from 1 to {@link MAX_LIST_LIMIT}. */
export function listLimit(options: ListOptions, context: string): number {
  const limit = options.limit ?? DEFAULT_LIST_LIMIT;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) {
    throw new DurableError(
      ErrorCode.CONFIG,
      `${context}: list limit must be an integer from 1 to ${MAX_LIST_LIMIT}, got ${String(
        limit,
      )}; read more keys by passing each page's cursor to the next call`,
    );
  }
  return limit;
}

/**
 * Orders keys by the bytes of their UTF-8 (= by code point), the one list order of every backend.
 * JavaScript's `<` compares UTF-16 units, which puts U+1F600 (a surrogate pair) before U+FF61;
 * S3, MongoDB, SQLite and file names sort the other way. Surrogates move above the rest of the
 * BMP and U+E000..U+FFFF down, which turns UTF-16 unit order into code point order.
 */
export function compareKeys(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codePointRank(x) - codePointRank(y);
  }
  return a.length - b.length;
}

function codePointRank(unit: number): number {
  if (unit >= 0xd800 && unit <= 0xdfff) return unit + 0x2000;
  return unit >= 0xe000 ? unit - 0x800 : unit;
}

/**
 * Sorts keys and cuts the page after `options.cursor` (the last key of the previous page), for
 * backends that gather all matching keys first.
 */
export function pageKeys(keys: string[], options: ListOptions, context = 'durable'): ListPage {
  const limit = listLimit(options, context);
  const sorted = keys.sort(compareKeys);
  const after = options.cursor;
  const start = after === undefined ? 0 : sorted.findIndex((key) => compareKeys(key, after) > 0);
  const from = start === -1 ? sorted.length : start;
  const page = sorted.slice(from, from + limit);
  const last = page[page.length - 1];
  return from + limit < sorted.length && last !== undefined
    ? { keys: page, cursor: last }
    : { keys: page };
}
