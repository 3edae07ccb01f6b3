import { resolve } from 'node:path';
import type { Statement } from 'better-sqlite3';
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
  assertValidKey,
  createLease,
  createLockToken,
  resolveBackoff,
  resolveTtl,
} from '@durable/core/adapter';
import type { SqliteConnectionOptions } from './database.js';
import { Connection, checkConnectionOptions, settle } from './database.js';
import { notifyRelease, watchReleases } from './wake-up.js';

/** Options for {@link SqliteLockManager}. */
export interface SqliteLockOptions extends SqliteConnectionOptions {
  /** Lease duration when `acquire` names none. @default 30000 */
  defaultTtlMs?: number;
  /** Epoch-ms time source; every process on the file must agree on it. @default Date.now */
  clock?: Clock;
  /** `{ baseMs, maxMs }` of the jittered backoff between attempts while waiting. @default { baseMs: 5, maxMs: 250 } */
  backoff?: BackoffOptions;
}

const CONTEXT = 'sqlite lock';
const MIGRATIONS = [
  {
    name: 'locks',
    version: 1,
    // A row outlives its lease (token NULL once released) so that the fencing counter of a key
    // keeps increasing across every grant, release and takeover, for the life of the file.
    sql: 'CREATE TABLE IF NOT EXISTS durable_locks (key TEXT PRIMARY KEY, token TEXT, expires_at INTEGER NOT NULL, fencing INTEGER NOT NULL) WITHOUT ROWID',
  },
] as const;

interface LockRow {
  token: string | null;
  expires_at: number;
  fencing: number;
}

/**
 * {@link LockManager} on a SQLite table: a grant is one `BEGIN IMMEDIATE` transaction that reads
 * the holder and, when the lease is free or expired, writes a new owner token, expiry and fencing
 * token. Exclusive across every process on the file; a stalled holder's lease expires and is
 * taken over with a greater fencing token, and its release or extend is refused.
 */
export class SqliteLockManager implements LockManager {
  readonly capabilities: LockCapabilities = { fencing: true, crossProcess: true };
  private readonly connection: Connection;
  private readonly clock: Clock;
  private readonly defaultTtlMs: number;
  private readonly backoff: BackoffOptions;
  private readonly wakeKey: string;
  private statements: Record<'get' | 'grant' | 'release' | 'extend', Statement> | undefined;

  constructor(options: SqliteLockOptions) {
    checkConnectionOptions(options, CONTEXT, ['defaultTtlMs', 'clock', 'backoff']);
    this.connection = new Connection(options, CONTEXT, MIGRATIONS);
    this.clock = options.clock ?? systemClock;
    this.defaultTtlMs = resolveTtl(options.defaultTtlMs, 30_000, CONTEXT);
    this.backoff = resolveBackoff(options.backoff, CONTEXT);
    // Managers on one file share wake-ups, whatever the spelling of its path.
    const file = options.path ?? options.database?.name;
    this.wakeKey = file === undefined || file === ':memory:' || file === '' ? '' : resolve(file);
  }

  acquire(key: string, options: AcquireOptions = {}): Promise<Lease> {
    return acquireWithRetry({
      context: CONTEXT,
      key,
      options,
      defaultTtlMs: this.defaultTtlMs,
      backoff: this.backoff,
      attempt: (ttlMs) => this.tryAcquire(key, ttlMs),
      // A release in this process wakes its waiters at once; other processes' releases are seen
      // at the next attempt of the backoff (SQLite has no cross-process notification).
      ...(this.wakeKey === ''
        ? {}
        : { watch: (onChange: () => void) => watchReleases(this.wakeKey, key, onChange) }),
    });
  }

  async release(key: string, token: string): Promise<boolean> {
    assertValidKey(key, CONTEXT);
    assertLockToken(token, CONTEXT);
    const released = await this.connection.write(
      () => this.sql().release.run(key, token).changes > 0,
      'release',
      key,
    );
    if (released && this.wakeKey !== '') notifyRelease(this.wakeKey, key);
    return released;
  }

  async extend(key: string, token: string, ttlMs: number): Promise<number> {
    assertValidKey(key, CONTEXT);
    assertLockToken(token, CONTEXT);
    const ttl = resolveTtl(ttlMs, this.defaultTtlMs, CONTEXT);
    const now = this.clock();
    const expiresAt = now + ttl;
    const changed = await this.connection.write(
      () => this.sql().extend.run(expiresAt, key, token, now).changes,
      'extend',
      key,
    );
    if (changed === 0) {
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

  /** The live lease on `key` (fencing token and expiry, never the owner token), or `undefined` when free. */
  holder(key: string): Promise<LockHolder | undefined> {
    return settle(() => {
      assertValidKey(key, CONTEXT);
      const row = this.sql().get.get(key) as LockRow | undefined;
      if (row === undefined || row.token === null || row.expires_at <= this.clock())
        return undefined;
      return { fencingToken: row.fencing, expiresAt: row.expires_at };
    });
  }

  close(): Promise<void> {
    return settle(() => {
      this.connection.close();
    });
  }

  private async tryAcquire(key: string, ttlMs: number): Promise<Lease | undefined> {
    const token = createLockToken();
    const grant = await this.connection.write(
      () => {
        const sql = this.sql();
        // The clock is read inside the transaction: a grant made after a long wait for the write
        // lock measures the holder's expiry against the time it actually decides.
        const now = this.clock();
        const row = sql.get.get(key) as LockRow | undefined;
        if (row !== undefined && row.token !== null && row.expires_at > now) return undefined;
        const fencingToken = (row?.fencing ?? 0) + 1;
        const expiresAt = now + ttlMs;
        sql.grant.run(key, token, expiresAt, fencingToken);
        return { fencingToken, expiresAt };
      },
      'acquire',
      key,
    );
    return grant === undefined ? undefined : createLease(this, { key, token, ttlMs, ...grant });
  }

  private sql(): Record<'get' | 'grant' | 'release' | 'extend', Statement> {
    if (this.statements === undefined) {
      const db = this.connection.database;
      this.statements = {
        get: db.prepare('SELECT token, expires_at, fencing FROM durable_locks WHERE key = ?'),
        grant: db.prepare(
          'INSERT INTO durable_locks (key, token, expires_at, fencing) VALUES (?, ?, ?, ?) ' +
            'ON CONFLICT(key) DO UPDATE SET token = excluded.token, expires_at = excluded.expires_at, fencing = excluded.fencing',
        ),
        release: db.prepare(
          'UPDATE durable_locks SET token = NULL, expires_at = 0 WHERE key = ? AND token = ?',
        ),
        extend: db.prepare(
          'UPDATE durable_locks SET expires_at = ? WHERE key = ? AND token = ? AND expires_at > ?',
        ),
      };
    }
    return this.statements;
  }
}
