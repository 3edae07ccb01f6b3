import type { Collection } from 'mongodb';
import type { AcquireOptions, BackoffOptions, Clock, Lease, LockCapabilities, LockManager } from '@durable/core';
import {
  DurableError,
  ErrorCode,
  acquireWithRetry,
  assertLockToken,
  assertValidKey,
  createLease,
  createLockToken,
  resolveBackoff,
  resolveTtl,
  systemClock,
} from '@durable/core';
import type { MongoConnection, MongoConnectionOptions } from './connection.js';
import { resolveKeyPrefix, resolveMongoConnection } from './connection.js';
import { isDuplicateKey, mongoBackendError } from './mongo-errors.js';

/**
 * One lock, kept after release so its counter never goes back. Format 2:
 * `{ _id: keyPrefix + key, owner, expiresAt, fence, grants, format: 2 }`; the fencing token of a
 * grant is `fence + grants`. `fence` is set once, when the document is created (to the clock in
 * ms, so tokens still rise if someone deletes lock documents), and `grants` goes up by one on
 * every grant. A format-1 document (`fence` = the last token granted, no `grants`) continues from
 * its last token the same way.
 */
export interface LockDocument {
  _id: string;
  /** Owner token of the holder; null when released. */
  owner: string | null;
  /** Epoch ms after which the lease may be taken over; 0 when released. */
  expiresAt: number;
  /** Base of the fencing tokens (format 1: the last token granted). */
  fence: number;
  /** Grants since the base (absent in format 1). */
  grants?: number;
  /** Format of this document's shape ({@link LOCK_DOCUMENT_FORMAT}). */
  format: number;
}

/** Format of the documents {@link MongoLockManager} writes. */
export const LOCK_DOCUMENT_FORMAT = 2;

/** Options for {@link MongoLockManager}. */
export interface MongoLockOptions extends MongoConnectionOptions {
  /** Collection of the lock documents. @default "durable_locks" */
  collection?: string;
  /** Prefix of every `_id` this manager writes. @default "" */
  keyPrefix?: string;
  /** Lease duration when `acquire` names none. @default 30000 */
  defaultTtlMs?: number;
  /** Backoff between attempts while waiting for a held lock. @default { baseMs: 5, maxMs: 250 } */
  backoff?: BackoffOptions;
  /** Time source (epoch ms); processes sharing a lock must have roughly synchronised clocks. @default Date.now */
  clock?: Clock;
}

const CONTEXT = 'mongo lock';

/**
 * The acquire update: one `findOneAndUpdate` whose filter matches a free or expired lease and
 * whose upsert creates a missing one. A held lease matches nothing, so the upsert tries to insert
 * a second document with the same `_id` and fails with E11000: that, and only that, is contention
 * (MongoDB retries an upsert's duplicate key itself only for a filter of equalities alone; this
 * one has an `$or`). Plain update operators, no pipeline: `$setOnInsert` gives a new document's
 * base, `$inc` the grant, so it also runs on servers without pipeline updates (FerretDB 1.x).
 */
export function acquireUpdate(token: string, now: number, expiresAt: number): { filter: object; update: object } {
  return {
    filter: { $or: [{ owner: null }, { expiresAt: { $lt: now } }] },
    update: {
      $set: { owner: token, expiresAt, format: LOCK_DOCUMENT_FORMAT },
      $setOnInsert: { fence: now },
      $inc: { grants: 1 },
    },
  };
}

/** The fencing token of the grant a document records (`fence + grants`), or undefined if malformed. */
export function grantedFencingToken(document: Pick<LockDocument, 'fence' | 'grants'>): number | undefined {
  const token = document.fence + (document.grants ?? 0);
  return Number.isSafeInteger(document.fence) && Number.isSafeInteger(token) ? token : undefined;
}

/**
 * A {@link LockManager} on one MongoDB collection: lease documents with expiry takeover in a
 * single atomic `findOneAndUpdate` (no TTL index: an expired lease is free by the filter, at
 * once), owner-conditional release and extend, and a fencing counter in the same document.
 */
export class MongoLockManager implements LockManager {
  readonly capabilities: LockCapabilities = { fencing: true, crossProcess: true };
  private readonly connection: MongoConnection;
  private readonly keyPrefix: string;
  private readonly defaultTtlMs: number;
  private readonly backoff: BackoffOptions;
  private readonly clock: Clock;
  private readonly locks: Collection<LockDocument>;

  constructor(options: MongoLockOptions) {
    this.connection = resolveMongoConnection(options, options?.collection ?? 'durable_locks', CONTEXT, ['collection', 'keyPrefix', 'defaultTtlMs', 'backoff', 'clock']);
    this.keyPrefix = resolveKeyPrefix(options.keyPrefix, CONTEXT);
    this.defaultTtlMs = resolveTtl(options.defaultTtlMs, 30_000, CONTEXT);
    this.backoff = resolveBackoff(options.backoff, CONTEXT);
    this.clock = options.clock ?? systemClock;
    this.locks = this.connection.collection<LockDocument>();
  }

  acquire(key: string, options: AcquireOptions = {}): Promise<Lease> {
    const attempt = (ttlMs: number): Promise<Lease | undefined> => this.tryAcquire(key, ttlMs);
    return acquireWithRetry({ context: CONTEXT, key, options, defaultTtlMs: this.defaultTtlMs, backoff: this.backoff, attempt });
  }

  async release(key: string, token: string): Promise<boolean> {
    assertValidKey(key, CONTEXT);
    assertLockToken(token, CONTEXT);
    try {
      await this.connection.ready();
      const result = await this.locks.updateOne({ _id: this.keyPrefix + key, owner: token }, { $set: { owner: null, expiresAt: 0 } });
      return result.modifiedCount === 1;
    } catch (error) {
      throw mongoBackendError(error, `${CONTEXT}: release failed for ${key}`, key);
    }
  }

  async extend(key: string, token: string, ttlMs: number): Promise<number> {
    assertValidKey(key, CONTEXT);
    assertLockToken(token, CONTEXT);
    const ttl = resolveTtl(ttlMs, this.defaultTtlMs, CONTEXT);
    const now = this.clock();
    const expiresAt = now + ttl;
    let matched: number;
    try {
      await this.connection.ready();
      const result = await this.locks.updateOne(
        { _id: this.keyPrefix + key, owner: token, expiresAt: { $gt: now } },
        { $set: { expiresAt } },
      );
      matched = result.matchedCount;
    } catch (error) {
      throw mongoBackendError(error, `${CONTEXT}: extend failed for ${key}`, key);
    }
    if (matched !== 1) {
      throw new DurableError(ErrorCode.LOCK_LOST, `${CONTEXT}: extend failed for ${key}: the lease is no longer held`, { details: { key } });
    }
    return expiresAt;
  }

  /** Closes the client if this manager created it (never an injected one). */
  close(): Promise<void> {
    return this.connection.close();
  }

  private async tryAcquire(key: string, ttlMs: number): Promise<Lease | undefined> {
    const now = this.clock();
    const token = createLockToken();
    const expiresAt = now + ttlMs;
    const { filter, update } = acquireUpdate(token, now, expiresAt);
    let granted: LockDocument | null;
    try {
      await this.connection.ready();
      granted = await this.locks.findOneAndUpdate({ _id: this.keyPrefix + key, ...filter }, update, {
        upsert: true,
        returnDocument: 'after',
      });
    } catch (error) {
      if (isDuplicateKey(error)) return undefined;
      throw mongoBackendError(error, `${CONTEXT}: acquire failed for ${key}`, key);
    }
    const fencingToken = granted === null ? undefined : grantedFencingToken(granted);
    if (granted === null || granted.owner !== token || fencingToken === undefined) {
      throw new DurableError(ErrorCode.BACKEND, `${CONTEXT}: acquire for ${key} returned an unexpected document`, { details: { key } });
    }
    return createLease(this, { key, token, fencingToken, expiresAt, ttlMs });
  }
}

/** Creates a {@link MongoLockManager}. */
export function createMongoLock(options: MongoLockOptions): MongoLockManager {
  return new MongoLockManager(options);
}
