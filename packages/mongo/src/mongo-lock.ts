import type { Collection } from 'mongodb';
import type {
  AcquireOptions,
  BackoffOptions,
  Clock,
  Lease,
  LockCapabilities,
  LockManager,
} from '@durable/core';
import { DurableError, ErrorCode, systemClock } from '@durable/core';
import {
  acquireWithRetry,
  assertLockToken,
  assertValidKey,
  createLease,
  createLockToken,
  resolveBackoff,
  resolveTtl,
} from '@durable/core/adapter';
import type { MongoConnection, MongoConnectionOptions } from './connection.js';
import { resolveKeyPrefix, resolveMongoConnection } from './connection.js';
import { isAmbiguousWriteError } from './ambiguous-writes.js';
import { isDuplicateKey, mongoBackendError } from './mongo-errors.js';

/**
 * One lock, kept after release so its counter never goes back. Format 2:
 * `{ _id: prefix + key, owner, expiresAt, fence, grants, format: 2 }`; the fencing token of a
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
  /**
   * Owner token of the last release, kept through later grants (acquire does not touch it), so a
   * release whose reply was lost can recognise its own change. Absent before the first release.
   */
  released?: string;
}

/** Format of the documents {@link MongoLockManager} writes. */
export const LOCK_DOCUMENT_FORMAT = 2;

/** Options for {@link MongoLockManager}. */
export interface MongoLockOptions extends MongoConnectionOptions {
  /** Collection of the lock documents. @default "durable_locks" */
  collection?: string;
  /** Prefix of every `_id` this manager writes. @default "" */
  prefix?: string;
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
export function acquireUpdate(
  token: string,
  now: number,
  expiresAt: number,
): { filter: object; update: object } {
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
export function grantedFencingToken(
  document: Pick<LockDocument, 'fence' | 'grants'>,
): number | undefined {
  const token = document.fence + (document.grants ?? 0);
  return Number.isSafeInteger(document.fence) && Number.isSafeInteger(token) ? token : undefined;
}

/** How many times an extend or release whose reply was lost is settled by reading back and sending it again. */
const SETTLE_ROUNDS = 3;

/**
 * A {@link LockManager} on one MongoDB collection: lease documents with expiry takeover in a
 * single atomic `findOneAndUpdate` (no TTL index: an expired lease is free by the filter, at
 * once), owner-conditional release and extend, and a fencing counter in the same document.
 *
 * A write whose reply was lost (the connection failed after the request was sent) is settled by
 * reading the lock document back, never reported as a plain failure: an acquire whose grant landed
 * (the document carries its fresh owner token) returns the lease; an extend whose new expiry is
 * there, or a release whose token is recorded in `released`, reports success; one that did not
 * land is sent again (the same conditional update, harmless if the first is still in flight);
 * what cannot be told apart is `UNKNOWN_OUTCOME`.
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
    this.connection = resolveMongoConnection(
      options,
      options?.collection ?? 'durable_locks',
      CONTEXT,
      ['collection', 'prefix', 'defaultTtlMs', 'backoff', 'clock'],
    );
    this.keyPrefix = resolveKeyPrefix(options.prefix, CONTEXT);
    this.defaultTtlMs = resolveTtl(options.defaultTtlMs, 30_000, CONTEXT);
    this.backoff = resolveBackoff(options.backoff, CONTEXT);
    this.clock = options.clock ?? systemClock;
    this.locks = this.connection.collection<LockDocument>();
  }

  acquire(key: string, options: AcquireOptions = {}): Promise<Lease> {
    const attempt = (ttlMs: number): Promise<Lease | undefined> => this.tryAcquire(key, ttlMs);
    return acquireWithRetry({
      context: CONTEXT,
      key,
      options,
      defaultTtlMs: this.defaultTtlMs,
      backoff: this.backoff,
      attempt,
    });
  }

  async release(key: string, token: string): Promise<boolean> {
    assertValidKey(key, CONTEXT);
    assertLockToken(token, CONTEXT);
    const id = this.keyPrefix + key;
    let failure: unknown;
    for (let round = 0; round < SETTLE_ROUNDS; round++) {
      try {
        await this.connection.ready();
        const result = await this.locks.updateOne(
          { _id: id, owner: token },
          { $set: { owner: null, expiresAt: 0, released: token } },
        );
        if (result.modifiedCount === 1) return true;
        if (failure === undefined) return false;
      } catch (error) {
        if (!isAmbiguousWriteError(error))
          throw mongoBackendError(error, `${CONTEXT}: release failed for ${key}`, key);
        failure = error;
      }
      // A release whose reply was lost (or, after one, a definite "no match"): look.
      const seen = await this.readBack(id, key, 'release', failure);
      if (seen?.released === token && seen.owner !== token) return true;
      if (seen?.owner === token) continue; // not applied (yet): the same release again
      // Neither held by us nor released by us last: our release may have landed and been followed
      // by another grant and release, or our lease expired and was taken over. Not ours either way.
      throw new DurableError(
        ErrorCode.UNKNOWN_OUTCOME,
        `${CONTEXT}: the outcome of release for ${key} is unknown: the connection failed after the request was sent and the lock changed hands since; the lease is not held by this owner any more either way`,
        { cause: failure, details: { key } },
      );
    }
    throw this.stillUnknown(key, 'release', failure);
  }

  async extend(key: string, token: string, ttlMs: number): Promise<number> {
    assertValidKey(key, CONTEXT);
    assertLockToken(token, CONTEXT);
    const ttl = resolveTtl(ttlMs, this.defaultTtlMs, CONTEXT);
    const id = this.keyPrefix + key;
    const expiresAt = this.clock() + ttl;
    let failure: unknown;
    for (let round = 0; round < SETTLE_ROUNDS; round++) {
      const now = this.clock();
      try {
        await this.connection.ready();
        const result = await this.locks.updateOne(
          { _id: id, owner: token, expiresAt: { $gt: now } },
          { $set: { expiresAt } },
        );
        if (result.matchedCount === 1) return expiresAt;
        if (failure === undefined) throw lockLost(key);
      } catch (error) {
        if (error instanceof DurableError) throw error;
        if (!isAmbiguousWriteError(error))
          throw mongoBackendError(error, `${CONTEXT}: extend failed for ${key}`, key);
        failure = error;
      }
      // An extend whose reply was lost: ours landed if the document holds our token and our expiry.
      const seen = await this.readBack(id, key, 'extend', failure);
      if (seen?.owner !== token || seen.expiresAt <= this.clock()) throw lockLost(key);
      if (seen.expiresAt >= expiresAt) return expiresAt;
      // Still ours with the old expiry: not applied (yet); the same extend again.
    }
    throw this.stillUnknown(key, 'extend', failure);
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
      granted = await this.locks.findOneAndUpdate(
        { _id: this.keyPrefix + key, ...filter },
        update,
        {
          upsert: true,
          returnDocument: 'after',
        },
      );
    } catch (error) {
      if (isDuplicateKey(error)) return undefined;
      if (!isAmbiguousWriteError(error))
        throw mongoBackendError(error, `${CONTEXT}: acquire failed for ${key}`, key);
      // The grant's reply was lost: it landed if the document carries this attempt's fresh token.
      // If not, it did not land (or is still in flight and will leave a lease nobody holds, which
      // expires by itself): this attempt failed and the next one uses a new token.
      const seen = await this.readBack(this.keyPrefix + key, key, 'acquire', error);
      if (seen?.owner !== token) return undefined;
      granted = seen;
    }
    const fencingToken = granted === null ? undefined : grantedFencingToken(granted);
    if (granted === null || granted.owner !== token || fencingToken === undefined) {
      throw new DurableError(
        ErrorCode.BACKEND,
        `${CONTEXT}: acquire for ${key} returned an unexpected document`,
        { details: { key } },
      );
    }
    return createLease(this, { key, token, fencingToken, expiresAt: granted.expiresAt, ttlMs });
  }

  // The lock document after a write whose reply was lost; a failed read leaves the outcome unknown.
  private async readBack(
    id: string,
    key: string,
    operation: string,
    failure: unknown,
  ): Promise<LockDocument | null> {
    try {
      await this.connection.ready();
      return await this.locks.findOne({ _id: id });
    } catch (readError) {
      throw new DurableError(
        ErrorCode.UNKNOWN_OUTCOME,
        `${CONTEXT}: the outcome of ${operation} for ${key} is unknown: the connection failed after the request was sent and reading the lock back failed too; try again`,
        { retryable: true, cause: failure, details: { key, readError: String(readError) } },
      );
    }
  }

  private stillUnknown(key: string, operation: string, failure: unknown): DurableError {
    return new DurableError(
      ErrorCode.UNKNOWN_OUTCOME,
      `${CONTEXT}: the outcome of ${operation} for ${key} is unknown: ${SETTLE_ROUNDS} attempts lost their replies; try again`,
      { retryable: true, cause: failure, details: { key } },
    );
  }
}

function lockLost(key: string): DurableError {
  return new DurableError(
    ErrorCode.LOCK_LOST,
    `${CONTEXT}: extend failed for ${key}: the lease is no longer held`,
    { details: { key } },
  );
}
