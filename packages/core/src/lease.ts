import { randomBytes } from 'node:crypto';
import type { Lease, LockManager } from './lock.js';

/** A fresh unguessable owner token. */
export function createLockToken(): string {
  return randomBytes(16).toString('hex');
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
export function createLease(manager: Pick<LockManager, 'extend' | 'release'>, grant: LeaseGrant): Lease {
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
