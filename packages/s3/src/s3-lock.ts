import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
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
  createLease,
  createLockToken,
  mayHaveBeenApplied,
  resolveBackoff,
  resolveTtl,
  wasRetried,
} from '@durable/core/adapter';
import type { S3Connection, S3ConnectionOptions } from './connection.js';
import { objectKeyFor, resolveConnection } from './connection.js';
import type { ConflictRetry, ConflictRetryOptions } from './conflict-retry.js';
import { resolveConflictRetry, sendRetrying409 } from './conflict-retry.js';
import { isNotFound, isPreconditionFailure, s3BackendError } from './s3-errors.js';

/** Options for {@link S3LockManager}. */
export interface S3LockOptions extends S3ConnectionOptions {
  /** Lease duration when `acquire` names none. @default 30000 */
  defaultTtlMs?: number;
  /** Backoff between attempts while waiting for a held lock. @default { baseMs: 5, maxMs: 250 } */
  backoff?: BackoffOptions;
  /** Time source (epoch ms); inject one in tests. Processes sharing a lock must have roughly synchronised clocks. @default Date.now */
  clock?: Clock;
  /**
   * How a lease write that S3 answered `409 ConditionalRequestConflict` (another conditional write
   * on the lease was in progress; nothing was applied) is sent again, unchanged, before it counts
   * as a lost race. @default { maxAttempts: 4, baseMs: 20, maxMs: 500 }
   */
  conflictRetry?: ConflictRetryOptions;
}

/** The lease object's body (format version 1). */
interface LeaseRecord {
  v: 1;
  /** Owner token, or null once released. */
  token: string | null;
  fencingToken: number;
  /** Epoch ms; the lease is free from then on. */
  expiresAt: number;
  /**
   * Owner token of the last release (optional, added within format 1): a release whose reply was
   * lost finds its own token here when the SDK's retry meets its already-applied change.
   */
  released?: string;
}

/** A failed compare-and-swap: `retried` when the SDK had sent the PUT more than once. */
interface SwapFailure {
  retried: boolean;
}

interface Observed {
  record: LeaseRecord;
  etag: string;
}

const CONTEXT = 's3 lock';
/** Where lease objects go when no `prefix` is given: apart from the data of a storage on the same bucket. */
export const DEFAULT_LOCK_PREFIX = 'durable-locks/';
const MAX_CAS_ROUNDS = 20;
const MAX_KNOWN = 10_000;

/**
 * A {@link LockManager} on S3 alone (no DynamoDB): one small lease object per key, created with
 * `If-None-Match: *` and changed only with `If-Match: <etag>`, so every grant, takeover,
 * extension and release is a compare-and-swap that S3 itself enforces. The object is never
 * deleted, so its fencing counter keeps increasing across releases.
 */
export class S3LockManager implements LockManager {
  readonly capabilities: LockCapabilities = { fencing: true, crossProcess: true };
  private readonly connection: S3Connection;
  private readonly defaultTtlMs: number;
  private readonly backoff: BackoffOptions;
  private readonly clock: Clock;
  private readonly conflictRetry: ConflictRetry;
  // What this manager last wrote for each lease it holds (by key and token), so release and
  // extend can swap on that ETag at once instead of reading the object first.
  private readonly known = new Map<string, Observed>();

  constructor(options: S3LockOptions) {
    this.connection = resolveConnection(options, CONTEXT, DEFAULT_LOCK_PREFIX, [
      'defaultTtlMs',
      'backoff',
      'clock',
      'conflictRetry',
    ]);
    this.conflictRetry = resolveConflictRetry(options.conflictRetry, CONTEXT);
    this.defaultTtlMs = resolveTtl(options.defaultTtlMs, 30_000, CONTEXT);
    this.backoff = resolveBackoff(options.backoff, CONTEXT);
    this.clock = options.clock ?? systemClock;
  }

  async acquire(key: string, options: AcquireOptions = {}): Promise<Lease> {
    objectKeyFor(this.connection, key, CONTEXT); // INVALID_KEY before any I/O, as a rejection
    const attempt = (ttlMs: number): Promise<Lease | undefined> => this.tryAcquire(key, ttlMs);
    return await acquireWithRetry({
      context: CONTEXT,
      key,
      options,
      defaultTtlMs: this.defaultTtlMs,
      backoff: this.backoff,
      attempt,
    });
  }

  async release(key: string, token: string): Promise<boolean> {
    objectKeyFor(this.connection, key, CONTEXT);
    assertLockToken(token, CONTEXT);
    let ours = false;
    const known = this.takeKnown(key, token);
    // While our lease could not have expired nobody could take it over: if it changed hands, a
    // release with our token (this one, its reply lost) ended it.
    const heldUntil = known?.record.expiresAt;
    const swapped = await this.swap(key, 'release', known, (seen, now, afterRetry) => {
      if (seen !== undefined && seen.record.token === token)
        return { ...seen.record, token: null, expiresAt: 0, released: token };
      // Our PUT was sent more than once and the last answer was 412: was the first one applied?
      if (
        afterRetry &&
        (seen?.record.released === token || (heldUntil !== undefined && now < heldUntil))
      )
        ours = true;
      else if (afterRetry) throw releaseUnknown(key);
      return undefined;
    });
    return swapped !== undefined || ours;
  }

  async extend(key: string, token: string, ttlMs: number): Promise<number> {
    objectKeyFor(this.connection, key, CONTEXT);
    assertLockToken(token, CONTEXT);
    const ttl = resolveTtl(ttlMs, this.defaultTtlMs, CONTEXT);
    const known = this.takeKnown(key, token);
    const swapped = await this.swap(
      key,
      'extend',
      known !== undefined && known.record.expiresAt > this.clock() ? known : undefined,
      (seen, now) => {
        if (seen === undefined || seen.record.token !== token || seen.record.expiresAt <= now) {
          throw new DurableError(
            ErrorCode.LOCK_LOST,
            `${CONTEXT}: extend failed for ${key}: the lease is no longer held`,
            {
              details: { key },
            },
          );
        }
        return { ...seen.record, expiresAt: now + ttl };
      },
    );
    this.remember(key, swapped!.record, swapped!.etag);
    return swapped!.record.expiresAt;
  }

  /** Destroys the S3 client if this manager created it (never an injected one). */
  close(): Promise<void> {
    if (this.connection.owned) this.connection.client.destroy();
    return Promise.resolve();
  }

  private remember(key: string, record: LeaseRecord, etag: string): void {
    if (etag === '') return;
    // Leases that are never released (their holder gave up) must not grow the map forever.
    if (this.known.size >= MAX_KNOWN) this.known.clear();
    this.known.set(`${record.token}\u0000${key}`, { record, etag });
  }

  private takeKnown(key: string, token: string): Observed | undefined {
    const id = `${token}\u0000${key}`;
    const known = this.known.get(id);
    this.known.delete(id);
    return known;
  }

  /**
   * The compare-and-swap loop of release and extend. Tries `first` (this manager's own last
   * write of the lease) at once, without reading; after a 412, or without it, reads the object
   * and swaps again, up to MAX_CAS_ROUNDS reads. `change` gives the record to write, or
   * undefined to stop (then the result is undefined).
   */
  private async swap(
    key: string,
    operation: string,
    first: Observed | undefined,
    change: (
      seen: Observed | undefined,
      now: number,
      afterRetry: boolean,
    ) => LeaseRecord | undefined,
  ): Promise<Observed | undefined> {
    let seen = first;
    let reads = 0;
    let afterRetry = false;
    for (;;) {
      if (seen === undefined) {
        if (reads++ === MAX_CAS_ROUNDS) break;
        seen = await this.load(key, operation);
      }
      const record = change(seen, this.clock(), afterRetry);
      if (record === undefined) return undefined;
      const stored = await this.store(key, record, seen?.etag ?? null, operation);
      if (typeof stored === 'string') return { record, etag: stored };
      afterRetry = stored.retried;
      seen = undefined;
    }
    throw new DurableError(
      ErrorCode.BACKEND,
      `${CONTEXT}: ${operation} failed for ${key}: too many concurrent changes`,
      {
        retryable: true,
        details: { key },
      },
    );
  }

  // One attempt: undefined means "held by someone else (or lost a race)", so retryUntil waits.
  private async tryAcquire(key: string, ttlMs: number): Promise<Lease | undefined> {
    const seen = await this.load(key, 'acquire');
    const now = this.clock();
    if (seen !== undefined && seen.record.token !== null && seen.record.expiresAt > now)
      return undefined;
    const token = createLockToken();
    const fencingToken = (seen?.record.fencingToken ?? 0) + 1;
    const expiresAt = now + ttlMs;
    // The last release's token stays across grants, so a release whose reply was lost can still
    // recognise its own change after someone else took the lock.
    const released = seen?.record.released;
    const record: LeaseRecord = {
      v: 1,
      token,
      fencingToken,
      expiresAt,
      ...(released === undefined ? {} : { released }),
    };
    const stored = await this.store(key, record, seen?.etag ?? null, 'acquire', token);
    if (typeof stored === 'string') {
      this.remember(key, record, stored);
    } else {
      // A 412 can also answer the SDK's retry of our own PUT that succeeded but whose answer was
      // lost: then the lease object carries our fresh token and the lease is ours.
      const after = await this.load(key, 'acquire');
      if (after?.record.token !== token) return undefined;
      this.remember(key, after.record, after.etag);
    }
    return createLease(this, { key, token, fencingToken, expiresAt, ttlMs });
  }

  private async load(key: string, operation: string): Promise<Observed | undefined> {
    let text: string;
    let etag: string | undefined;
    try {
      const response = await this.connection.client.send(
        new GetObjectCommand({ Bucket: this.connection.bucket, Key: this.connection.prefix + key }),
      );
      text = response.Body === undefined ? '' : await response.Body.transformToString('utf-8');
      etag = response.ETag;
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw s3BackendError(error, `${CONTEXT}: ${operation} failed for ${key}`, key);
    }
    const record = parseRecord(text);
    if (record === undefined || etag === undefined) {
      throw new DurableError(
        ErrorCode.BACKEND,
        `${CONTEXT}: ${operation} failed for ${key}: the lease object is not a durable lease`,
        {
          details: { key },
        },
      );
    }
    return { record, etag };
  }

  /**
   * Compare-and-swap: the new ETag, or a {@link SwapFailure} when the condition failed (someone
   * else changed the lease, or, after an SDK retry, possibly our own first attempt). A PUT that
   * failed in a way that may hide an applied attempt is checked by reading the lease back when
   * `ownToken` (an acquire's fresh token) says how to recognise it.
   */
  private async store(
    key: string,
    record: LeaseRecord,
    ifEtag: string | null,
    operation: string,
    ownToken?: string,
  ): Promise<string | SwapFailure> {
    try {
      // A 409 applied nothing: the same conditional PUT goes again (S3 still checks its
      // condition), so a free lock is not reported held because a write was in flight on it.
      const response = await sendRetrying409(this.conflictRetry, { conflicts: 0 }, () =>
        this.connection.client.send(
          new PutObjectCommand({
            Bucket: this.connection.bucket,
            Key: this.connection.prefix + key,
            Body: JSON.stringify(record),
            ContentType: 'application/json',
            ...(ifEtag === null ? { IfNoneMatch: '*' } : { IfMatch: ifEtag }),
          }),
        ),
      );
      return response.ETag ?? '';
    } catch (error) {
      if (isPreconditionFailure(error) || (ifEtag !== null && isNotFound(error)))
        return { retried: wasRetried(error) };
      if (ownToken !== undefined && mayHaveBeenApplied(error)) {
        // A lost reply on the last attempt: if the grant landed, it is ours to use (and to
        // release), rather than a phantom lease that blocks everyone until it expires.
        const after = await this.load(key, operation).catch(() => undefined);
        if (after?.record.token === ownToken) return after.etag;
      }
      throw s3BackendError(error, `${CONTEXT}: ${operation} failed for ${key}`, key);
    }
  }
}

function parseRecord(text: string): LeaseRecord | undefined {
  try {
    const value = JSON.parse(text) as Partial<LeaseRecord>;
    if (
      value.v === 1 &&
      (value.token === null || typeof value.token === 'string') &&
      (value.released === undefined || typeof value.released === 'string') &&
      Number.isSafeInteger(value.fencingToken) &&
      typeof value.expiresAt === 'number'
    ) {
      return value as LeaseRecord;
    }
  } catch {
    // fall through: not JSON
  }
  return undefined;
}

function releaseUnknown(key: string): DurableError {
  return new DurableError(
    ErrorCode.UNKNOWN_OUTCOME,
    `${CONTEXT}: release of ${key} may or may not have been applied: its reply was lost and the lease changed hands since; the lease is not held by this owner any more either way`,
    { details: { key } },
  );
}
