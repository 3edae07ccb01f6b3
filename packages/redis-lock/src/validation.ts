import type { AcquireOptions } from '@durable/core';
import { DurableError, ErrorCode } from '@durable/core';

/** Throws `CONFIG` unless the acquire options are usable: an object whose `waitMs` is omitted or a number >= 0 (Infinity waits for good). */
export function assertAcquireOptions(options: unknown, context: string): asserts options is AcquireOptions {
  if (typeof options !== 'object' || options === null) {
    throw new DurableError(ErrorCode.CONFIG, `${context}: acquire options must be an object, got ${describe(options)}`);
  }
  const { waitMs } = options as { waitMs?: unknown };
  if (waitMs === undefined || (typeof waitMs === 'number' && waitMs >= 0)) return;
  // A NaN would make the deadline NaN and the wait endless.
  throw new DurableError(ErrorCode.CONFIG, `${context}: waitMs must be a number of milliseconds >= 0, got ${describe(waitMs)}`);
}

/** Throws `CONFIG` unless `token` is a non-empty string. */
export function assertToken(token: unknown, context: string): asserts token is string {
  if (typeof token === 'string' && token !== '') return;
  throw new DurableError(ErrorCode.CONFIG, `${context}: the owner token must be a non-empty string, got ${describe(token)}`);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'number' || typeof value === 'boolean') return `${typeof value} ${String(value)}`;
  return typeof value === 'object' ? (value.constructor?.name ?? 'object') : typeof value;
}
