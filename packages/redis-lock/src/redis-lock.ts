import type {
  AcquireOptions,
  BackoffOptions,
  Lease,
  LockCapabilities,
  LockHolder,
  LockManager,
} from '@durable/core';
import { DurableError, ErrorCode } from '@durable/core';
import {
  acquireWithRetry,
  assertAcquireOptions,
  assertLockToken,
  assertValidKey,
  checkOptions,
  createLease,
  createLockToken,
  resolveBackoff,
  resolveTtl,
} from '@durable/core/adapter';
import type { RedisClient, RedisConnection, RedisConnectionOptions } from './connection.js';
import { closeClient, resolveConnection, runScript } from './connection.js';
import type { LockKeyNames } from './redis-keys.js';
import { lockKeyNames, releaseChannel, resolvePrefix } from './redis-keys.js';
import { redisBackendError } from './redis-errors.js';
import { ReleaseNotifier } from './release-notifier.js';
import type { LuaScript } from './scripts.js';
import { EXTEND, HOLDER, RELEASE, acquireScript } from './scripts.js';

/** Options for {@link RedisLockManager}. */
export interface RedisLockOptions extends RedisConnectionOptions {
  /** Prefix for every key this manager writes. @default "durable:lock:" */
  prefix?: string;
  /** Lease duration when `acquire` names none. @default 30000 */
  defaultTtlMs?: number;
  /** Backoff between attempts while waiting for a held lock. @default { baseMs: 5, maxMs: 250 } */
  backoff?: BackoffOptions;
  /**
   * Wake waiters through pub/sub when a lock is released (one extra subscriber connection per
   * manager, opened on the first wait). @default true
   */
  wakeOnRelease?: boolean;
  /**
   * How long a fencing counter is kept after its last grant. An expired counter is re-seeded from
   * the server clock in microseconds, which is still above every token it gave. @default 86400000
   */
  fenceRetentionMs?: number;
}

const CONTEXT = 'redis-lock';

/** Option names of the lock libraries users migrate from, with ours. */
export const SEED_OPTION_NAMES: Readonly<Record<string, string>> = {
  redis: 'client',
  redisClient: 'client',
  connection: 'client (an ioredis instance) or url',
  ttl: 'defaultTtlMs',
  timeToLiveDurationInSeconds: 'defaultTtlMs (milliseconds)',
  retryDelay: 'backoff: { baseMs, maxMs }',
  retryCount: "acquire's waitMs",
  keyPrefix: 'prefix',
};

/** Parses the acquire script's reply: a positive fencing token, or -pttl of the current holder. */
export function parseAcquireReply(
  reply: unknown,
  key: string,
): { fencingToken: number } | { heldForMs: number } {
  const value = typeof reply === 'string' ? Number(reply) : reply;
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw new DurableError(
      ErrorCode.BACKEND,
      `${CONTEXT}: acquire for ${key} got an unexpected reply ${String(reply)}`,
      {
        details: { key },
      },
    );
  }
  return value > 0 ? { fencingToken: value } : { heldForMs: Math.abs(value) };
}

/**
 * A {@link LockManager} on one Redis server (or a Redis Cluster): acquire is one EVALSHA of
 * `SET lock token NX PX ttl` plus `INCR` of a companion fencing counter in the same hash slot;
 * release and extend compare the owner token in Lua. Expired leases vanish by Redis's own expiry,
 * so takeover is immediate. Waiters back off with jitter, never longer than the holder's
 * remaining TTL, and wake at once on a release announced by pub/sub. Every Redis failure is
 * `BACKEND`; only a held lock is contention.
 */
export class RedisLockManager implements LockManager {
  readonly capabilities: LockCapabilities = { fencing: true, crossProcess: true };
  private readonly connection: RedisConnection;
  private readonly prefix: string;
  private readonly defaultTtlMs: number;
  private readonly acquireLua: LuaScript;
  private readonly backoff: BackoffOptions;
  private readonly notifier: ReleaseNotifier | undefined;

  constructor(options: RedisLockOptions) {
    checkOptions(options, CONTEXT, {
      known: [
        'client',
        'url',
        'redisOptions',
        'prefix',
        'defaultTtlMs',
        'backoff',
        'wakeOnRelease',
        'fenceRetentionMs',
      ],
      renamed: SEED_OPTION_NAMES,
    });
    this.connection = resolveConnection(options, CONTEXT);
    this.prefix = resolvePrefix(options.prefix, CONTEXT);
    this.defaultTtlMs = resolveTtl(options.defaultTtlMs, 30_000, CONTEXT);
    this.acquireLua = acquireScript(resolveTtl(options.fenceRetentionMs, 86_400_000, CONTEXT));
    this.backoff = resolveBackoff(options.backoff, CONTEXT);
    this.notifier =
      options.wakeOnRelease === false
        ? undefined
        : new ReleaseNotifier(this.connection.client, releaseChannel(this.prefix));
  }

  /** The ioredis client in use (injected or created). */
  get client(): RedisClient {
    return this.connection.client;
  }

  acquire(key: string, options: AcquireOptions = {}): Promise<Lease> {
    try {
      assertValidKey(key, CONTEXT);
      assertAcquireOptions(options, CONTEXT);
      const ttlMs = Math.ceil(resolveTtl(options.ttlMs, this.defaultTtlMs, CONTEXT));
      const names = lockKeyNames(this.prefix, key);
      if ((options.waitMs ?? 0) > 0) return this.acquireWaiting(key, names, ttlMs, options);
      // The common call: one EVALSHA, no retry loop and no listener. Plain promise chains rather
      // than async functions on this path: each async layer costs a promise and a tick per call.
      return this.tryAcquire(key, names, ttlMs, false).then((outcome) =>
        typeof outcome === 'number'
          ? Promise.reject(
              new DurableError(ErrorCode.LOCK_TIMEOUT, `${CONTEXT}: acquire timed out for ${key}`, {
                retryable: true,
                details: { key },
              }),
            )
          : outcome,
      );
    } catch (error) {
      return Promise.reject(error);
    }
  }

  release(key: string, token: string): Promise<boolean> {
    try {
      assertValidKey(key, CONTEXT);
      assertLockToken(token, CONTEXT);
      return runScript(
        this.connection.client,
        RELEASE,
        [lockKeyNames(this.prefix, key).lock],
        [token],
      ).then(
        (reply) => reply === 1,
        (error: unknown) =>
          Promise.reject(redisBackendError(error, `${CONTEXT}: release failed for ${key}`, key)),
      );
    } catch (error) {
      return Promise.reject(error);
    }
  }

  async extend(key: string, token: string, ttlMs: number): Promise<number> {
    assertValidKey(key, CONTEXT);
    assertLockToken(token, CONTEXT);
    const ttl = Math.ceil(resolveTtl(ttlMs, this.defaultTtlMs, CONTEXT));
    const { lock } = lockKeyNames(this.prefix, key);
    // Measured before the request: the lease cannot outlive this on the server's side.
    const expiresAt = Date.now() + ttl;
    let reply: unknown;
    try {
      reply = await runScript(this.connection.client, EXTEND, [lock], [token, ttl]);
    } catch (error) {
      throw redisBackendError(error, `${CONTEXT}: extend failed for ${key}`, key);
    }
    if (reply !== 1) {
      throw new DurableError(
        ErrorCode.LOCK_LOST,
        `${CONTEXT}: extend failed for ${key}: the lease is no longer held`,
        {
          details: { key },
        },
      );
    }
    return expiresAt;
  }

  /** The live lease on `key` (its fencing token and expiry, never its owner token), or `undefined` when free. */
  async holder(key: string): Promise<LockHolder | undefined> {
    assertValidKey(key, CONTEXT);
    const names = lockKeyNames(this.prefix, key);
    const startedAt = Date.now();
    let reply: unknown;
    try {
      reply = await runScript(this.connection.client, HOLDER, [names.lock, names.fence], []);
    } catch (error) {
      throw redisBackendError(error, `${CONTEXT}: holder lookup failed for ${key}`, key);
    }
    if (!Array.isArray(reply)) return undefined;
    const [pttl, fencingToken] = reply.map(Number);
    return { fencingToken: fencingToken ?? 0, expiresAt: startedAt + (pttl ?? 0) };
  }

  /** Closes the subscriber connection, and the client if this manager created it (never an injected one). */
  async close(): Promise<void> {
    await this.notifier?.close();
    if (this.connection.owned) await closeClient(this.connection.client);
  }

  // One EVALSHA: the lease, or how long the current holder still has (ms).
  private tryAcquire(
    key: string,
    names: LockKeyNames,
    ttlMs: number,
    markWaiting: boolean,
  ): Promise<Lease | number> {
    const token = createLockToken();
    const startedAt = Date.now();
    return runScript(
      this.connection.client,
      this.acquireLua,
      [names.lock, names.fence],
      markWaiting ? [token, ttlMs, '1'] : [token, ttlMs],
    ).then(
      (reply) => {
        const outcome = parseAcquireReply(reply, key);
        if ('heldForMs' in outcome) return outcome.heldForMs;
        return createLease(this, {
          key,
          token,
          fencingToken: outcome.fencingToken,
          expiresAt: startedAt + ttlMs,
          ttlMs,
        });
      },
      (error: unknown) =>
        Promise.reject(redisBackendError(error, `${CONTEXT}: acquire failed for ${key}`, key)),
    );
  }

  // Waits for a held lock: core's acquire loop, woken early by a release announcement (a waiter
  // marks the lock so that its release is announced), and never sleeping past the holder's TTL.
  private acquireWaiting(
    key: string,
    names: LockKeyNames,
    ttlMs: number,
    options: AcquireOptions,
  ): Promise<Lease> {
    const notifier = this.notifier;
    let heldForMs = Number.POSITIVE_INFINITY;
    let marking = false;
    return acquireWithRetry({
      context: CONTEXT,
      key,
      options,
      defaultTtlMs: ttlMs,
      backoff: this.backoff,
      attempt: async () => {
        const outcome = await this.tryAcquire(key, names, ttlMs, marking);
        if (typeof outcome !== 'number') return outcome;
        heldForMs = outcome;
        return undefined;
      },
      maxWaitMs: () => heldForMs + 1,
      ...(notifier === undefined
        ? {}
        : {
            watch: (onChange: () => void) => {
              marking = true;
              return notifier.listen(names.lock, onChange);
            },
          }),
    });
  }
}
