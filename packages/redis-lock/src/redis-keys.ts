import { DurableError, ErrorCode } from '@durable/core';

/** The Redis keys behind one lock: the lease itself and its fencing counter. */
export interface LockKeyNames {
  /** Holds the owner token, with the lease TTL as its Redis expiry. */
  readonly lock: string;
  /** The fencing counter (INCR on every grant). */
  readonly fence: string;
}

/** Default prefix of every key a Redis lock manager writes. */
export const DEFAULT_REDIS_LOCK_PREFIX = 'durable:lock:';

// "{" and "}" would end or start a Redis Cluster hash tag early, and "%" is the escape itself.
const ESCAPES: Record<string, string> = { '%': '%25', '{': '%7B', '}': '%7D' };

/**
 * Maps a durable key to its Redis keys. The escaped key is wrapped in a hash tag (`{...}`), so
 * that both keys of one lock land in the same Cluster slot (a Lua script may touch only keys of
 * one slot), and escaping is injective, so two durable keys never share a Redis key.
 */
export function lockKeyNames(prefix: string, key: string): LockKeyNames {
  const tag = `{${key.replace(/[%{}]/g, (c) => ESCAPES[c] ?? c)}}`;
  return { lock: `${prefix}${tag}`, fence: `${prefix}${tag}:fence` };
}

/** The pub/sub channel on which releases under `prefix` are announced. */
export function releaseChannel(prefix: string): string {
  return `${prefix}released`;
}

/** Validates a key prefix: a string without hash-tag braces (they would break slot routing). */
export function resolvePrefix(prefix: unknown, context: string): string {
  const value = prefix ?? DEFAULT_REDIS_LOCK_PREFIX;
  if (typeof value !== 'string' || /[{}]/.test(value) || value.length > 256) {
    throw new DurableError(
      ErrorCode.CONFIG,
      `${context}: prefix must be a string of at most 256 characters without "{" or "}", got ${JSON.stringify(
        value,
      )}`,
    );
  }
  return value;
}
