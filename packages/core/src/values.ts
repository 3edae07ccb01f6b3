import { DurableError, ErrorCode } from './errors.js';
import { describeValue } from './lock-options.js';
import type { ConditionalOptions, StorageValue } from './storage.js';

// Versions are opaque strings, but they travel in HTTP headers (S3's If-Match), document fields and
// file names: a control character or CR/LF would be a header injection or a different name, and
// '*' means "any version" to HTTP, which would turn a conditional write into a blind one.
const BAD_VERSION = /\p{Cc}/u;
/** Longest version string accepted by {@link assertConditionalOptions}. */
export const MAX_VERSION_LENGTH = 1024;

/**
 * Throws `CONFIG` (before any I/O) unless `value` is a string or a `Uint8Array` (a `Buffer` is
 * one). Anything else, an object, a number, an `ArrayBuffer`, `null`, would be stored as 0 bytes
 * or as its `toString()` by some backends: a silent data loss, so every storage refuses it.
 */
export function assertStorageValue(
  value: unknown,
  context: string,
  key?: string,
): asserts value is StorageValue {
  if (typeof value === 'string' || value instanceof Uint8Array) return;
  const hint =
    value instanceof ArrayBuffer || ArrayBuffer.isView(value)
      ? ' (wrap bytes as new Uint8Array(buffer))'
      : typeof value === 'object' && value !== null
        ? ' (serialise it first, e.g. JSON.stringify(value))'
        : '';
  throw new DurableError(
    ErrorCode.CONFIG,
    `${context}: ${
      key === undefined ? '' : `${key}: `
    }a value must be a string or a Uint8Array, got ${describeValue(value)}${hint}`,
    { details: key === undefined ? {} : { key } },
  );
}

/**
 * Throws `CONFIG` (before any I/O) unless `options` is undefined or an object whose `ifVersion` is
 * omitted, `null`, or a version string (non-empty, no control characters, not `'*'`).
 */
export function assertConditionalOptions(
  options: unknown,
  context: string,
  key?: string,
): asserts options is ConditionalOptions | undefined {
  const where = `${context}: ${key === undefined ? '' : `${key}: `}`;
  if (options === undefined) return;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new DurableError(
      ErrorCode.CONFIG,
      `${where}options must be an object like { ifVersion }, got ${describeValue(options)}`,
    );
  }
  const { ifVersion } = options as { ifVersion?: unknown };
  if (ifVersion === undefined || ifVersion === null) return;
  if (typeof ifVersion !== 'string') {
    throw new DurableError(
      ErrorCode.CONFIG,
      `${where}ifVersion must be null or a version string, got ${describeValue(ifVersion)}`,
    );
  }
  if (
    ifVersion === '' ||
    ifVersion === '*' ||
    ifVersion.length > MAX_VERSION_LENGTH ||
    BAD_VERSION.test(ifVersion)
  ) {
    throw new DurableError(
      ErrorCode.CONFIG,
      `${where}ifVersion ${JSON.stringify(
        ifVersion.slice(0, 64),
      )} is not a version this store returned (use null for "only if absent", omit it for an unconditional write)`,
    );
  }
}
