import { DurableError, ErrorCode } from './errors.js';

/** Validates a TTL in milliseconds (a positive finite number), falling back to `fallback`. */
export function resolveTtl(ttlMs: number | undefined, fallback: number, context: string): number {
  const ttl = ttlMs ?? fallback;
  if (typeof ttl !== 'number' || !Number.isFinite(ttl) || ttl <= 0) {
    throw new DurableError(ErrorCode.CONFIG, `${context}: ttlMs must be a positive number of milliseconds, got ${String(ttl)}`);
  }
  return ttl;
}
