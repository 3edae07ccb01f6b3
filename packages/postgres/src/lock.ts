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
  resolveBackoff,
  resolveTtl,
} from '@durable/core/adapter';
import type { Statement } from './connection.js';
import { AmbiguousWrite, Connection, statement } from './connection.js';
import { assertStorableKey } from './keys.js';
import { Notifier, channelName } from './notifier.js';
import type { Names, PostgresConnectionOptions } from './options.js';
import { checkConnectionOptions } from './options.js';

/** Options for {@link PostgresLockManager}. */
export interface PostgresLockOptions extends PostgresConnectionOptions {
  /** Lease duration when `acquire` names none. @default 30000 */
  defaultTtlMs?: number;
  /** Epoch-ms time source; every process using the locks must agree on it. @default Date.now */
  clock?: Clock;
  /** `{ baseMs, maxMs }` of the jittered backoff between attempts while waiting. @default { baseMs: 5, maxMs: 250 } */
  backoff?: BackoffOptions;
}

const CONTEXT = 'postgres lock';

/** The lock table and the sequence its fencing tokens come from. */
export function lockMigrations(
  names: Names,
): Array<{ name: string; version: number; sql: string }> {
  return [
    {
      name: 'locks',
      version: 1,
      // A row outlives its lease (token NULL once released), so a key's fencing token keeps
      // increasing across every grant, release and takeover. released_by names the owner whose
      // release emptied the row, to tell a release whose reply was lost from a takeover.
      sql:
        `CREATE SEQUENCE IF NOT EXISTS ${names.table('lock_fencing')} CACHE 1;` +
        `CREATE TABLE IF NOT EXISTS ${names.table(
          'locks',
        )} (key text COLLATE "C" PRIMARY KEY, token text, expires_at bigint NOT NULL, fencing bigint NOT NULL, released_by text)`,
    },
  ];
}

interface LockRow {
  token: string | null;
  expires_at: string;
  fencing: string;
  released_by: string | null;
}

type Statements = Record<'get' | 'grant' | 'release' | 'extend' | 'holder', Statement>;

function prepare(names: Names, channel: string): Statements {
  const locks = names.table('locks');
  return {
    get: statement(`SELECT token, expires_at, fencing, released_by FROM ${locks} WHERE key = $1`),
    // One statement: a new key is inserted; a held one is taken only when free or expired (the
    // row is locked and the condition re-checked on its newest version). The fencing token is
    // drawn from the sequence after that lock, and never below the key's last one + 1, so it
    // strictly increases per key whatever the sequence's cache or a stalled attempt.
    grant: statement(
      `INSERT INTO ${locks} AS l (key, token, expires_at, fencing) VALUES ($1, $2, $3, nextval('${names.table(
        'lock_fencing',
      )}'))` +
        ` ON CONFLICT (key) DO UPDATE SET token = excluded.token, expires_at = excluded.expires_at,` +
        ` fencing = GREATEST(nextval('${names.table(
          'lock_fencing',
        )}'), l.fencing + 1), released_by = NULL` +
        ` WHERE l.token IS NULL OR l.expires_at <= $4 RETURNING fencing`,
    ),
    release: statement(
      `WITH released AS (UPDATE ${locks} SET token = NULL, expires_at = 0, released_by = $2 WHERE key = $1 AND token = $2 RETURNING key)` +
        ` SELECT pg_notify('${channel}', key) FROM released`,
    ),
    extend: statement(
      `UPDATE ${locks} SET expires_at = $3 WHERE key = $1 AND token = $2 AND expires_at > $4`,
    ),
    holder: statement(
      `SELECT fencing, expires_at FROM ${locks} WHERE key = $1 AND token IS NOT NULL AND expires_at > $2`,
    ),
  };
}

/**
 * {@link LockManager} on a PostgreSQL table: a grant is one statement that inserts the key or
 * takes it over when free or expired, with a fencing token from a sequence. Exclusive across
 * every connection and process; a stalled holder's lease expires and is taken over with a
 * greater fencing token, and its release or extend is refused. A release wakes the waiters of
 * its key in every process through LISTEN/NOTIFY.
 */
export class PostgresLockManager implements LockManager {
  readonly capabilities: LockCapabilities = { fencing: true, crossProcess: true };
  private readonly connection: Connection;
  private readonly clock: Clock;
  private readonly defaultTtlMs: number;
  private readonly backoff: BackoffOptions;
  private readonly channel: string;
  private readonly notifier: Notifier;
  private readonly sql: Statements;

  constructor(options: PostgresLockOptions) {
    checkConnectionOptions(options, CONTEXT, ['defaultTtlMs', 'clock', 'backoff']);
    this.connection = new Connection(options, CONTEXT, lockMigrations);
    this.clock = options.clock ?? systemClock;
    this.defaultTtlMs = resolveTtl(options.defaultTtlMs, 30_000, CONTEXT);
    this.backoff = resolveBackoff(options.backoff, CONTEXT);
    const { names } = this.connection;
    this.channel = channelName(names.schema, names.prefix, 'lock');
    this.notifier = new Notifier(() => this.connection.clients);
    this.sql = prepare(names, this.channel);
  }

  acquire(key: string, options: AcquireOptions = {}): Promise<Lease> {
    return acquireWithRetry({
      context: CONTEXT,
      key,
      options,
      defaultTtlMs: this.defaultTtlMs,
      backoff: this.backoff,
      attempt: (ttlMs) => this.tryAcquire(key, ttlMs),
      watch: (onChange) =>
        this.notifier.subscribe(this.channel, (payload) =>
          payload === key || payload === '' ? onChange() : undefined,
        ),
    });
  }

  async release(key: string, token: string): Promise<boolean> {
    assertStorableKey(key, CONTEXT);
    assertLockToken(token, CONTEXT);
    for (;;) {
      try {
        const released =
          (await this.connection.write(this.sql.release, [key, token], 'release', key)).rowCount ===
          1;
        if (released) this.notifier.local(this.channel, key);
        return released;
      } catch (error) {
        if (!(error instanceof AmbiguousWrite)) throw error;
        const row = await this.settled(key, error, 'release');
        // Still ours: the release was not applied, so make it again.
        if (row?.token === token) continue;
        return row?.token === null && row.released_by === token;
      }
    }
  }

  async extend(key: string, token: string, ttlMs: number): Promise<number> {
    assertStorableKey(key, CONTEXT);
    assertLockToken(token, CONTEXT);
    const ttl = resolveTtl(ttlMs, this.defaultTtlMs, CONTEXT);
    for (;;) {
      const now = this.clock();
      const expiresAt = now + ttl;
      let changed: boolean;
      try {
        changed =
          (
            await this.connection.write(
              this.sql.extend,
              [key, token, expiresAt, now],
              'extend',
              key,
            )
          ).rowCount === 1;
      } catch (error) {
        if (!(error instanceof AmbiguousWrite)) throw error;
        const row = await this.settled(key, error, 'extend');
        if (row?.token === token && Number(row.expires_at) === expiresAt) return expiresAt;
        // Not applied: make it again (it is refused if the lease has expired meanwhile).
        if (row?.token === token) continue;
        changed = false;
      }
      if (!changed) {
        throw new DurableError(
          ErrorCode.LOCK_LOST,
          `${CONTEXT}: extend failed for ${key}: the lease expired or was released; acquire it again`,
          {
            details: { key },
          },
        );
      }
      return expiresAt;
    }
  }

  /** The live lease on `key` (fencing token and expiry, never the owner token), or `undefined` when free. */
  async holder(key: string): Promise<LockHolder | undefined> {
    assertStorableKey(key, CONTEXT);
    const row = (
      await this.connection.query<{ fencing: string; expires_at: string }>(
        this.sql.holder,
        [key, this.clock()],
        'holder',
        key,
      )
    ).rows[0];
    return row === undefined
      ? undefined
      : { fencingToken: Number(row.fencing), expiresAt: Number(row.expires_at) };
  }

  /** Stops listening for releases and ends the pool this manager created (never an injected one). */
  async close(): Promise<void> {
    await this.notifier.close();
    await this.connection.close();
  }

  private async tryAcquire(key: string, ttlMs: number): Promise<Lease | undefined> {
    assertStorableKey(key, CONTEXT);
    const token = createLockToken();
    for (;;) {
      const now = this.clock();
      const expiresAt = now + ttlMs;
      try {
        const row = (
          await this.connection.write<{ fencing: string }>(
            this.sql.grant,
            [key, token, expiresAt, now],
            'acquire',
            key,
          )
        ).rows[0];
        return row === undefined
          ? undefined
          : createLease(this, { key, token, ttlMs, fencingToken: Number(row.fencing), expiresAt });
      } catch (error) {
        if (!(error instanceof AmbiguousWrite)) throw error;
        const row = await this.settled(key, error, 'acquire');
        if (row?.token === token)
          return createLease(this, {
            key,
            token,
            ttlMs,
            fencingToken: Number(row.fencing),
            expiresAt: Number(row.expires_at),
          });
        // Not granted: try again (a held lock answers undefined, as it would have).
      }
    }
  }

  // The lock row once the server process of a write whose reply was lost is gone (so the write is
  // applied or never will be); a retryable BACKEND error when that cannot be made sure of.
  private async settled(
    key: string,
    lost: AmbiguousWrite,
    what: string,
  ): Promise<LockRow | undefined> {
    if (!lost.settled)
      throw this.connection.fail(
        lost,
        `${what} (its outcome is unknown: the connection failed after it was sent)`,
        key,
      );
    return (await this.connection.query<LockRow>(this.sql.get, [key], what, key)).rows[0];
  }
}
