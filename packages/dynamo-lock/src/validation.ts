import { DurableError, ErrorCode } from '@durable/core';

/** Throws `CONFIG` unless `waitMs` is omitted or a number >= 0 (Infinity waits for good). */
export function assertWaitMs(waitMs: unknown, context: string): void {
  if (waitMs === undefined || (typeof waitMs === 'number' && waitMs >= 0)) return;
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
