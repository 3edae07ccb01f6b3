import { GetItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import type {
  AcquireOptions,
  BackoffOptions,
  Clock,
  Lease,
  LockCapabilities,
  LockHolder,
  LockManager,
} from '@durable/core';
import { DurableError, ErrorCode, systemClock } from '@durable/core';
import {
  acquireWithRetry,
  assertLockToken,
  createLease,
  createLockToken,
  isWellFormedText,
  mayHaveBeenApplied,
  resolveBackoff,
  resolveTtl,
  wasRetried,
} from '@durable/core/adapter';
import type { DynamoConnection, DynamoConnectionOptions } from './connection.js';
import { itemIdFor, resolveConnection } from './connection.js';
import { dynamoBackendError, isConditionFailure } from './dynamo-errors.js';

/** Options for {@link DynamoLockingManager}. */
export interface DynamoLockOptions extends DynamoConnectionOptions {
  /** Lease duration when `acquire` names none (durable-x-state's lock used 900 s). @default 900000 */
  defaultTtlMs?: number;
  /** Prefix of every item id this manager writes, so several apps can share a table. @default "" */
  prefix?: string;
  /** Backoff between attempts while waiting for a held lock. @default { baseMs: 5, maxMs: 250 } */
  backoff?: BackoffOptions;
  /** Time source (epoch ms); processes sharing a lock must have roughly synchronised clocks. @default Date.now */
  clock?: Clock;
}

/** What one lock item holds (besides `id`). */
export interface LockItemState {
  /** Owner token of the current holder, or undefined when released. */
  token: string | undefined;
  /** Last fencing token granted. */
  fencingToken: number;
  /** Epoch ms after which the lease is free. */
  expiresAtMs: number;
}

const CONTEXT = 'dynamo lock';
// Attribute names. `expireAt` (epoch seconds) is the table's TTL attribute, as in the library we
// replace; `expiresAtMs` is the precise expiry every condition compares against, because the
// TTL sweeper may run up to days late (and dynalite has none).
const NAMES = {
  '#id': 'id',
  '#owner': 'owner',
  '#exp': 'expireAt',
  '#expMs': 'expiresAtMs',
  '#fence': 'fencingToken',
};
// `releasedBy` holds the owner token of the last release and is kept by later grants: a release
// whose reply was lost (the SDK's retry then fails its condition) recognises its own change by it.
const RELEASED_BY = 'releasedBy';
const OWN_OPTIONS = ['defaultTtlMs', 'prefix', 'backoff', 'clock'] as const;
const MAX_HELD = 10_000;

/**
 * A {@link LockManager} on one DynamoDB table. Acquire is a single conditional UpdateItem
 * (`attribute_not_exists(id) OR expiresAtMs < :now`, which also takes over an expired lease with
 * no sweeper); release and extend are conditional on the owner token. Only
 * `ConditionalCheckFailedException` means contended; every other failure is `BACKEND`.
 * Items are kept on release (owner removed) so the fencing counter never goes back.
 */
export class DynamoLockingManager implements LockManager {
  readonly capabilities: LockCapabilities = { fencing: true, crossProcess: true };
  private readonly connection: DynamoConnection;
  private readonly defaultTtlMs: number;
  private readonly prefix: string;
  private readonly backoff: BackoffOptions;
  private readonly clock: Clock;
  // The expiry of each lease this manager granted or extended (by token and key): a release whose
  // reply was lost, finding another owner before its lease could expire, knows that only its own
  // release can have ended it.
  private readonly held = new Map<string, number>();

  constructor(options: DynamoLockOptions) {
    this.connection = resolveConnection(options, CONTEXT, OWN_OPTIONS);
    this.defaultTtlMs = resolveTtl(options.defaultTtlMs, 900_000, CONTEXT);
    this.prefix = options.prefix ?? '';
    // A lone surrogate would turn into U+FFFD on the wire: two prefixes, one set of locks.
    if (
      typeof this.prefix !== 'string' ||
      !isWellFormedText(this.prefix) ||
      hasControlCharacter(this.prefix)
    ) {
      throw new DurableError(
        ErrorCode.CONFIG,
        `${CONTEXT}: prefix must be a string of well-formed Unicode without control characters, got ${JSON.stringify(
          this.prefix,
        )}`,
      );
    }
    this.backoff = resolveBackoff(options.backoff, CONTEXT);
    this.clock = options.clock ?? systemClock;
  }

  async acquire(key: string, options: AcquireOptions = {}): Promise<Lease> {
    this.itemId(key); // INVALID_KEY before any I/O, as a rejection
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
    const id = this.itemId(key);
    assertLockToken(token, CONTEXT);
    const now = this.clock();
    const heldUntil = this.held.get(`${token}\u0000${key}`);
    this.held.delete(`${token}\u0000${key}`);
    try {
      await this.connection.client.send(
        new UpdateItemCommand({
          TableName: this.connection.tableName,
          Key: { id: { S: id } },
          // Keep the item (and its fencing counter); the TTL sweeper may remove it later, and the
          // counter then restarts above the clock (see tryAcquire).
          UpdateExpression: 'REMOVE #owner SET #expMs = :zero, #exp = :nowSec, #rel = :token',
          ConditionExpression: '#owner = :token',
          ExpressionAttributeNames: {
            '#owner': NAMES['#owner'],
            '#expMs': NAMES['#expMs'],
            '#exp': NAMES['#exp'],
            '#rel': RELEASED_BY,
          },
          ExpressionAttributeValues: {
            ':token': { S: token },
            ':zero': { N: '0' },
            ':nowSec': { N: String(Math.floor(now / 1000)) },
          },
        }),
      );
      return true;
    } catch (error) {
      const refused = isConditionFailure(error);
      if (refused && !wasRetried(error)) return false;
      if (!refused && !mayHaveBeenApplied(error))
        throw dynamoBackendError(error, `${CONTEXT}: release failed for ${key}`, key);
      // The SDK sent the release more than once, or lost its reply: was it applied?
      const item = await this.readItem(key, 'release').catch(() => undefined);
      if (item !== undefined && item.owner?.S !== token) {
        if (item[RELEASED_BY]?.S === token) return true;
        // Our lease cannot have expired yet, so nobody could take it over: only a release with
        // our token (this one) can have ended it, and then the lock changed hands again.
        if (heldUntil !== undefined && this.clock() < heldUntil) return true;
      }
      if (!refused) throw dynamoBackendError(error, `${CONTEXT}: release failed for ${key}`, key);
      throw new DurableError(
        ErrorCode.UNKNOWN_OUTCOME,
        `${CONTEXT}: release of ${key} may or may not have been applied: its reply was lost and the lock changed hands since; the lease is not held by this owner any more either way`,
        { cause: error, details: { key } },
      );
    }
  }

  async extend(key: string, token: string, ttlMs: number): Promise<number> {
    const id = this.itemId(key);
    assertLockToken(token, CONTEXT);
    const ttl = resolveTtl(ttlMs, this.defaultTtlMs, CONTEXT);
    const now = this.clock();
    const expiresAt = now + ttl;
    try {
      // An SDK retry of an extend that was applied meets the same owner and a later expiry, so
      // it passes the condition again: extend needs no outcome check after a 400.
      await this.connection.client.send(
        new UpdateItemCommand({
          TableName: this.connection.tableName,
          Key: { id: { S: id } },
          UpdateExpression: 'SET #expMs = :expMs, #exp = :expSec',
          ConditionExpression: '#owner = :token AND #expMs > :now',
          ExpressionAttributeNames: {
            '#owner': NAMES['#owner'],
            '#expMs': NAMES['#expMs'],
            '#exp': NAMES['#exp'],
          },
          ExpressionAttributeValues: {
            ':token': { S: token },
            ':now': { N: String(now) },
            ':expMs': { N: String(expiresAt) },
            ':expSec': { N: String(Math.ceil(expiresAt / 1000)) },
          },
        }),
      );
      this.remember(key, token, expiresAt);
      return expiresAt;
    } catch (error) {
      if (isConditionFailure(error)) {
        throw new DurableError(
          ErrorCode.LOCK_LOST,
          `${CONTEXT}: extend failed for ${key}: the lease is no longer held`,
          {
            details: { key },
          },
        );
      }
      if (mayHaveBeenApplied(error)) {
        const item = await this.readItem(key, 'extend').catch(() => undefined);
        if (item?.owner?.S === token && item.expiresAtMs?.N === String(expiresAt)) {
          this.remember(key, token, expiresAt);
          return expiresAt;
        }
      }
      throw dynamoBackendError(error, `${CONTEXT}: extend failed for ${key}`, key);
    }
  }

  /** The stored state of `key` (strongly consistent read), or undefined when it never was locked. */
  async inspect(key: string): Promise<LockItemState | undefined> {
    const Item = await this.readItem(key, 'inspect');
    if (Item === undefined) return undefined;
    return {
      token: Item.owner?.S,
      fencingToken: Number(Item.fencingToken?.N ?? 0),
      expiresAtMs: Number(Item.expiresAtMs?.N ?? 0),
    };
  }

  /** The live lease on `key` (fencing token and expiry, never the owner token), or `undefined` when free. */
  async holder(key: string): Promise<LockHolder | undefined> {
    const state = await this.inspect(key);
    if (state === undefined || state.token === undefined || state.expiresAtMs <= this.clock())
      return undefined;
    return { fencingToken: state.fencingToken, expiresAt: state.expiresAtMs };
  }

  /** Destroys the DynamoDB client if this manager created it (never an injected one). */
  close(): Promise<void> {
    if (this.connection.owned) this.connection.client.destroy();
    return Promise.resolve();
  }

  private remember(key: string, token: string, expiresAt: number): void {
    // Leases never released (their holder gave up) must not grow the map forever.
    if (this.held.size >= MAX_HELD) this.held.clear();
    this.held.set(`${token}\u0000${key}`, expiresAt);
  }

  private itemId(key: string): string {
    return itemIdFor(this.prefix, key, CONTEXT);
  }

  /** The lock item (strongly consistent read), or undefined when there is none. */
  private async readItem(
    key: string,
    operation: string,
  ): Promise<Record<string, AttributeValue> | undefined> {
    const id = this.itemId(key);
    try {
      const { Item } = await this.connection.client.send(
        new GetItemCommand({
          TableName: this.connection.tableName,
          Key: { id: { S: id } },
          ConsistentRead: true,
        }),
      );
      return Item;
    } catch (error) {
      throw dynamoBackendError(error, `${CONTEXT}: ${operation} failed for ${key}`, key);
    }
  }

  private async tryAcquire(key: string, ttlMs: number): Promise<Lease | undefined> {
    const now = this.clock();
    const token = createLockToken();
    const expiresAt = now + ttlMs;
    try {
      const { Attributes } = await this.connection.client.send(
        new UpdateItemCommand({
          TableName: this.connection.tableName,
          Key: { id: { S: this.itemId(key) } },
          // A new item's counter starts at the clock (ms), so that if the TTL sweeper ever
          // deletes a released item, later tokens still exceed every token granted before.
          UpdateExpression:
            'SET #owner = :token, #expMs = :expMs, #exp = :expSec, #fence = if_not_exists(#fence, :now) + :one',
          // `#owner = :token` makes the SDK's own retry of a write that succeeded (but whose
          // answer was lost) a grant instead of "contended"; the token is fresh per attempt.
          ConditionExpression:
            'attribute_not_exists(#id) OR attribute_not_exists(#owner) OR #expMs < :now OR #owner = :token',
          ExpressionAttributeNames: NAMES,
          ExpressionAttributeValues: {
            ':token': { S: token },
            ':now': { N: String(now) },
            ':expMs': { N: String(expiresAt) },
            ':expSec': { N: String(Math.ceil(expiresAt / 1000)) },
            ':one': { N: '1' },
          },
          ReturnValues: 'UPDATED_NEW',
        }),
      );
      const fencingToken = Number(Attributes?.fencingToken?.N);
      if (!Number.isSafeInteger(fencingToken)) {
        throw new DurableError(
          ErrorCode.BACKEND,
          `${CONTEXT}: acquire for ${key} returned no fencing token`,
          { details: { key } },
        );
      }
      this.remember(key, token, expiresAt);
      return createLease(this, { key, token, fencingToken, expiresAt, ttlMs });
    } catch (error) {
      if (isConditionFailure(error)) return undefined;
      if (mayHaveBeenApplied(error)) {
        // The last attempt lost its reply: if the grant landed, it is ours to use (and release),
        // rather than a phantom lease that blocks everyone until it expires.
        const item = await this.readItem(key, 'acquire').catch(() => undefined);
        const fencingToken = Number(item?.fencingToken?.N);
        if (item?.owner?.S === token && Number.isSafeInteger(fencingToken)) {
          this.remember(key, token, expiresAt);
          return createLease(this, { key, token, fencingToken, expiresAt, ttlMs });
        }
      }
      throw dynamoBackendError(error, `${CONTEXT}: acquire failed for ${key}`, key);
    }
  }
}

/** True when `text` has a C0 or C1 control character (U+0000-U+001F, U+007F-U+009F). */
function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code <= 0x1f || (code >= 0x7f && code <= 0x9f)) return true;
  }
  return false;
}
