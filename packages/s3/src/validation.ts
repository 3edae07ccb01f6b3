import type { ConditionalOptions, StorageValue } from '@durable/core';
import { DurableError, ErrorCode, describeValue as describe } from '@durable/core';

/** Throws `CONFIG` (before any I/O) unless `value` is text or bytes. */
export function assertStorageValue(value: unknown, context: string, key: string): asserts value is StorageValue {
  if (typeof value !== 'string' && !(value instanceof Uint8Array)) {
    throw new DurableError(ErrorCode.CONFIG, `${context}: write ${key}: the value must be a string or a Uint8Array, got ${describe(value)}`, {
      details: { key },
    });
  }
}

/** Throws `CONFIG` unless `ifVersion` is omitted, null or a non-empty string. */
export function assertConditional(options: ConditionalOptions, context: string, key: string): void {
  const version: unknown = options.ifVersion;
  if (version === undefined || version === null || (typeof version === 'string' && version !== '')) return;
  throw new DurableError(ErrorCode.CONFIG, `${context}: ${key}: ifVersion must be null or a version string, got ${describe(version)}`, {
    details: { key },
  });
}
