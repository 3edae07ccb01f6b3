import type {
  AcquireOptions,
  BackoffOptions,
  Lease,
  LockCapabilities,
  LockManager,
} from '@durable/core';
import { DurableError, ErrorCode } from '@durable/core';
import {
  acquireWithRetry,
  assertLockToken,
  assertValidKey,
  checkOptions,
  createLease,
  createLockToken,
  resolveBackoff,
  resolveTtl,
} from '@durable/core/adapter';
import type { RedisClient, RedisConnection } from './connection.js';
import { closeClient, resolveConnection, runScript } from './connection.js';
import { lockKeyNames, resolvePrefix } from './redis-keys.js';
import { redisBackendError } from './redis-errors.js';
import { SEED_OPTION_NAMES, parseAcquireReply } from './redis-lock.js';
import type { LuaScript } from './scripts.js';
import { EXTEND, RAISE_FENCE, RELEASE, acquireScript } from './scripts.js';
import type { RedisOptions } from 'ioredis';

/** Options for {@link RedisQuorumLockManager}. */
export interface RedisQuorumLockOptions {
  /** Independent Redis servers (not replicas of each other); the manager never closes them. Give this or `urls`. */
  clients?: RedisClient[];
  /** `redis://` URLs of independent servers, for clients the manager creates and closes. */
  urls?: string[];
  /** Extra ioredis options for clients the manager creates. @default { lazyConnect: true, maxRetriesPerRequest: 1 } */
  redisOptions?: RedisOptions;
  /** Prefix for every key this manager writes. @default "durable:lock:" */
  prefix?: string;
  /** Lease duration when `acquire` names none. @default 30000 */
  defaultTtlMs?: number;
  /** Backoff between attempts while waiting for a held lock. @default { baseMs: 5, maxMs: 250 } */
  backoff?: BackoffOptions;
  /** Share of the TTL assumed lost to clock drift between servers (the Redlock algorithm's). @default 0.01 */
  driftFactor?: number;
  /** How long a fencing counter is kept after its last grant. @default 86400000 */
  fenceRetentionMs?: number;
}

const CONTEXT = 'redis-lock quorum';

interface Tally {
  /** Servers that answered 1. */
  ok: number;
  failures: unknown[];
}

/**
 * A {@link LockManager} over several independent Redis servers (the Redlock algorithm): a lease
 * is granted when a majority grants it within its validity time (TTL minus the time taken and a
 * drift allowance). The fencing token is the largest counter of the granting majority, written
 * back to each of them while still held, so that any later majority (which shares at least one
 * server with this one) grants a larger token. Limits are in the README: it assumes bounded
 * clock drift, and a server that restarts without persistence can break exclusion.
 */
export class RedisQuorumLockManager implements LockManager {
  readonly capabilities: LockCapabilities = { fencing: true, crossProcess: true };
  private readonly connections: RedisConnection[];
  private readonly quorum: number;
  private readonly prefix: string;
  private readonly defaultTtlMs: number;
  private readonly acquireLua: LuaScript;
  private readonly driftFactor: number;
  private readonly backoff: BackoffOptions;

  constructor(options: RedisQuorumLockOptions) {
    checkOptions(options, CONTEXT, {
      known: [
        'clients',
        'urls',
        'redisOptions',
        'prefix',
        'defaultTtlMs',
        'backoff',
        'driftFactor',
        'fenceRetentionMs',
      ],
      renamed: {
        ...SEED_OPTION_NAMES,
        client: 'clients (several independent servers)',
        url: 'urls',
      },
    });
    const clients = options.clients;
    const urls = options.urls;
    if (Array.isArray(clients) && clients.length > 0) {
      this.connections = clients.map((client) => resolveConnection({ client }, CONTEXT));
    } else if (Array.isArray(urls) && urls.length > 0) {
      this.connections = urls.map((url) =>
        resolveConnection(
          {
            url,
            ...(options.redisOptions === undefined ? {} : { redisOptions: options.redisOptions }),
          },
          CONTEXT,
        ),
      );
    } else {
      throw new DurableError(
        ErrorCode.CONFIG,
        `${CONTEXT}: pass a non-empty clients or urls array`,
      );
    }
    this.quorum = Math.floor(this.connections.length / 2) + 1;
    this.prefix = resolvePrefix(options.prefix, CONTEXT);
    this.defaultTtlMs = resolveTtl(options.defaultTtlMs, 30_000, CONTEXT);
    this.acquireLua = acquireScript(resolveTtl(options.fenceRetentionMs, 86_400_000, CONTEXT));
    this.driftFactor = options.driftFactor ?? 0.01;
    if (
      typeof this.driftFactor !== 'number' ||
      !(this.driftFactor >= 0 && this.driftFactor < 0.5)
    ) {
      throw new DurableError(
        ErrorCode.CONFIG,
        `${CONTEXT}: driftFactor must be in [0, 0.5), got ${String(this.driftFactor)}`,
      );
    }
    this.backoff = resolveBackoff(options.backoff, CONTEXT);
  }

  /** How many servers must agree. */
  get quorumSize(): number {
    return this.quorum;
  }

  acquire(key: string, options: AcquireOptions = {}): Promise<Lease> {
    // Redis takes whole milliseconds.
    const attempt = (ttlMs: number): Promise<Lease | undefined> =>
      this.tryAcquire(key, Math.ceil(ttlMs));
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
    const { lock } = lockKeyNames(this.prefix, key);
    const tally = await this.onAll((client) => runScript(client, RELEASE, [lock], [token]));
    if (tally.ok >= this.quorum) return true;
    // Failed servers might have held it: the answer is unknown, which is not "false".
    if (tally.ok + tally.failures.length >= this.quorum)
      throw this.backendError('release', key, tally.failures);
    return false;
  }

  async extend(key: string, token: string, ttlMs: number): Promise<number> {
    assertValidKey(key, CONTEXT);
    assertLockToken(token, CONTEXT);
    const ttl = Math.ceil(resolveTtl(ttlMs, this.defaultTtlMs, CONTEXT));
    const { lock } = lockKeyNames(this.prefix, key);
    const startedAt = Date.now();
    const tally = await this.onAll((client) => runScript(client, EXTEND, [lock], [token, ttl]));
    const validUntil = startedAt + ttl - this.drift(ttl);
    if (tally.ok >= this.quorum && validUntil > Date.now()) return validUntil;
    if (tally.ok + tally.failures.length >= this.quorum)
      throw this.backendError('extend', key, tally.failures);
    throw new DurableError(
      ErrorCode.LOCK_LOST,
      `${CONTEXT}: extend failed for ${key}: the lease is no longer held by a majority`,
      {
        details: { key },
      },
    );
  }

  /** Closes the clients this manager created (never injected ones). */
  async close(): Promise<void> {
    await Promise.all(this.connections.filter((c) => c.owned).map((c) => closeClient(c.client)));
  }

  private async tryAcquire(key: string, ttlMs: number): Promise<Lease | undefined> {
    const names = lockKeyNames(this.prefix, key);
    const token = createLockToken();
    const startedAt = Date.now();
    const grants = await Promise.all(
      this.connections.map(async ({ client }) => {
        try {
          const outcome = parseAcquireReply(
            await runScript(client, this.acquireLua, [names.lock, names.fence], [token, ttlMs]),
            key,
          );
          return {
            client,
            fencingToken: 'fencingToken' in outcome ? outcome.fencingToken : undefined,
          };
        } catch (error) {
          return { client, error };
        }
      }),
    );
    const granted = grants.filter(
      (g): g is { client: RedisClient; fencingToken: number } =>
        'fencingToken' in g && g.fencingToken !== undefined,
    );
    const failed = grants.filter((g): g is { client: RedisClient; error: unknown } => 'error' in g);
    const validUntil = startedAt + ttlMs - this.drift(ttlMs);
    if (granted.length >= this.quorum && validUntil > Date.now()) {
      const fencingToken = Math.max(...granted.map((g) => g.fencingToken));
      const raised = await this.onClients(
        granted.map((g) => g.client),
        (client) =>
          runScript(client, RAISE_FENCE, [names.lock, names.fence], [token, fencingToken]),
      );
      if (raised.ok >= this.quorum && validUntil > Date.now()) {
        return createLease(this, { key, token, fencingToken, expiresAt: validUntil, ttlMs });
      }
    }
    // Not granted: undo what we got, and what a failed call may have set (best effort;
    // unreleased parts expire with the TTL). A server that refused holds someone else's token.
    const undo = [...granted, ...failed].map((g) => g.client);
    if (undo.length > 0)
      await this.onClients(undo, (client) => runScript(client, RELEASE, [names.lock], [token]));
    if (failed.length > this.connections.length - this.quorum) {
      throw this.backendError(
        'acquire',
        key,
        failed.map((g) => g.error),
      );
    }
    return undefined;
  }

  private drift(ttlMs: number): number {
    return Math.ceil(ttlMs * this.driftFactor) + 2;
  }

  private onAll(call: (client: RedisClient) => Promise<unknown>): Promise<Tally> {
    return this.onClients(
      this.connections.map((c) => c.client),
      call,
    );
  }

  private async onClients(
    clients: RedisClient[],
    call: (client: RedisClient) => Promise<unknown>,
  ): Promise<Tally> {
    const settled = await Promise.allSettled(clients.map(call));
    const tally: Tally = { ok: 0, failures: [] };
    for (const result of settled) {
      if (result.status === 'rejected') tally.failures.push(result.reason);
      else if (result.value === 1) tally.ok++;
    }
    return tally;
  }

  private backendError(operation: string, key: string, failures: unknown[]): DurableError {
    return redisBackendError(
      failures[0],
      `${CONTEXT}: ${operation} failed for ${key}: ${failures.length} of ${this.connections.length} servers failed`,
      key,
    );
  }
}
