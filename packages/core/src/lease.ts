import { randomBytes } from 'node:crypto';
import type { Lease, LockManager } from './lock.js';

// Owner tokens are cut from a pool of random bytes, hex-encoded 256 tokens at a time: one
// `randomBytes(16)` call per token costs about 1.7 µs, more than a lock's own bookkeeping, while
// a slice of the pool costs about 40 ns. Node's `randomUUID` caches its entropy the same way.
const TOKEN_HEX_CHARS = 32;
const TOKENS_PER_POOL = 256;
let tokenPool = '';
let tokenOffset = 0;

/** A fresh unguessable owner token: 128 random bits as 32 lower-case hex characters. */
export function createLockToken(): string {
  if (tokenOffset >= tokenPool.length) {
    tokenPool = randomBytes((TOKEN_HEX_CHARS / 2) * TOKENS_PER_POOL).toString('hex');
    tokenOffset = 0;
  }
  const token = tokenPool.slice(tokenOffset, tokenOffset + TOKEN_HEX_CHARS);
  tokenOffset += TOKEN_HEX_CHARS;
  return token;
}

/** Fields of a granted lease, for {@link createLease}. */
export interface LeaseGrant {
  key: string;
  token: string;
  fencingToken: number;
  expiresAt: number;
  /** TTL used by `extend()` without an argument. */
  ttlMs: number;
}

/**
 * The standard {@link Lease} over a manager's `extend`/`release`; adapters (ours and third
 * parties') return it from `acquire`.
 */
export function createLease(
  manager: Pick<LockManager, 'extend' | 'release'>,
  grant: LeaseGrant,
): Lease {
  let expiresAt = grant.expiresAt;
  return {
    key: grant.key,
    token: grant.token,
    fencingToken: grant.fencingToken,
    get expiresAt(): number {
      return expiresAt;
    },
    async extend(ttlMs?: number): Promise<void> {
      expiresAt = await manager.extend(grant.key, grant.token, ttlMs ?? grant.ttlMs);
    },
    release(): Promise<boolean> {
      return manager.release(grant.key, grant.token);
    },
  };
}
