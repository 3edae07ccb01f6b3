import { DurableError, ErrorCode } from './errors.js';
import type { ListOptions, ListPage } from './storage.js';

/** Default and largest page size of `list`. */
export const DEFAULT_LIST_LIMIT = 1000;

/** Validates a `list` page size. */
export function listLimit(options: ListOptions, context: string): number {
  const limit = options.limit ?? DEFAULT_LIST_LIMIT;
  if (!Number.isInteger(limit) || limit < 1) {
    throw new DurableError(ErrorCode.CONFIG, `${context}: list limit must be a positive integer, got ${String(limit)}`);
  }
  return limit;
}

/**
 * Sorts keys and cuts the page after `options.cursor` (the last key of the previous page), for
 * backends that gather all matching keys first.
 */
export function pageKeys(keys: string[], options: ListOptions, context = 'durable'): ListPage {
  const limit = listLimit(options, context);
  const sorted = keys.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const after = options.cursor;
  const start = after === undefined ? 0 : sorted.findIndex((key) => key > after);
  const from = start === -1 ? sorted.length : start;
  const page = sorted.slice(from, from + limit);
  const last = page[page.length - 1];
  return from + limit < sorted.length && last !== undefined ? { keys: page, cursor: last } : { keys: page };
}
