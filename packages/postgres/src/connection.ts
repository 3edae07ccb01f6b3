import { createHash } from 'node:crypto';
import pg from 'pg';
import type { Pool, PoolClient, QueryResult, QueryResultRow } from 'pg';
import { DurableError, ErrorCode } from '@durable/core';
import { sleep } from '@durable/core/adapter';
import type { Migration } from './migrations.js';
import { migrate } from './migrations.js';
import type { PostgresConnectionOptions } from './options.js';
import { Names } from './options.js';
import { mayHaveBeenApplied, pgBackendError } from './pg-errors.js';

/** A prepared statement: named by a hash of its text, so each connection parses and plans it once. */
export interface Statement {
  readonly name: string;
  readonly text: string;
}

/** A statement of `text`, prepared once per connection. */
export function statement(text: string): Statement {
  return { name: `durable_${createHash('sha1').update(text).digest('hex').slice(0, 20)}`, text };
}

/**
 * A write whose reply was lost after it was sent (the connection broke): it may or may not have
 * been applied. When `settled` is true the server process that ran it is gone, so it is now
 * applied or never will be, and reading the row back tells which.
 */
export class AmbiguousWrite extends Error {
  constructor(
    override readonly cause: unknown,
    readonly settled: boolean,
  ) {
    super('the outcome of a write is unknown: the connection failed after it was sent');
    this.name = 'AmbiguousWrite';
  }
}

// How long settling a lost write may take: terminating its server process and seeing it gone.
const SETTLE_MS = 20_000;

/**
 * One component's way to its database: a pg Pool (created here and ended by `close()`, or
 * injected and never ended), the component's tables created by versioned, idempotent migrations
 * before its first statement, and PostgreSQL's failures turned into `DurableError`s.
 */
export class Connection {
  readonly names: Names;
  private pool: Pool | undefined;
  private readonly owned: boolean;
  private migrated: Promise<void> | undefined;
  private closed = false;

  constructor(
    private readonly options: PostgresConnectionOptions,
    private readonly context: string,
    private readonly migrations: (names: Names) => readonly Migration[],
  ) {
    this.names = new Names(options);
    this.owned = options.pool === undefined;
    this.pool = options.pool;
  }

  /** The pool, created on first use for a `connectionString`. */
  get clients(): Pool {
    if (this.pool === undefined) {
      const pool = new pg.Pool({
        connectionString: this.options.connectionString,
        max: this.options.poolSize ?? 10,
      });
      // A connection that breaks while idle (a server restart) is dropped by the pool; without a
      // listener its 'error' event would end the process.
      pool.on('error', () => undefined);
      // pg-pool drops its own 'error' listener from a client while it is checked out: a server
      // that ends the connection between two statements (a restart) would then end the process.
      // The failure still reaches the statement that meets it.
      pool.on('connect', (client) => client.on('error', () => undefined));
      this.pool = pool;
    }
    return this.pool;
  }

  /** Resolves once the component's tables exist at the version this release knows. */
  ready(): Promise<void> {
    if (this.closed)
      return Promise.reject(
        new DurableError(ErrorCode.CONFIG, `${this.context}: used after close()`),
      );
    this.migrated ??= migrate(
      this.clients,
      this.names,
      this.migrations(this.names),
      this.context,
    ).catch((error: unknown) => {
      this.migrated = undefined;
      throw error instanceof DurableError
        ? error
        : pgBackendError(
            error,
            `${this.context}: cannot prepare the tables in schema ${this.names.schema}`,
          );
    });
    return this.migrated;
  }

  /** Runs a statement that changes nothing, or whose failure needs no settling; failures are `BACKEND`. */
  async query<R extends QueryResultRow>(
    sql: Statement,
    values: unknown[],
    what: string,
    key?: string,
  ): Promise<QueryResult<R>> {
    await this.ready();
    try {
      return await this.clients.query<R>({ name: sql.name, text: sql.text, values });
    } catch (error) {
      throw this.fail(error, what, key);
    }
  }

  /**
   * Runs a write (one statement, one transaction). A failure that proves it was not applied is a
   * `BACKEND` error; one after which it may have been (the connection broke once it was sent) is
   * an {@link AmbiguousWrite}, thrown once the server process that ran it is gone when that can
   * be made sure of, so the caller can read back what happened.
   */
  async write<R extends QueryResultRow>(
    sql: Statement,
    values: unknown[],
    what: string,
    key?: string,
  ): Promise<QueryResult<R>> {
    await this.ready();
    let client: PoolClient;
    try {
      client = await this.clients.connect();
    } catch (error) {
      throw this.fail(error, what, key);
    }
    const pid = (client as unknown as { processID?: unknown }).processID;
    // A connection that breaks mid-statement also emits 'error' on the client: the statement's
    // rejection carries it, and without a listener the event would end the process.
    const swallow = (): void => undefined;
    client.on('error', swallow);
    try {
      const result = await client.query<R>({ name: sql.name, text: sql.text, values });
      client.removeListener('error', swallow);
      client.release();
      return result;
    } catch (error) {
      const ambiguous = mayHaveBeenApplied(error);
      client.removeListener('error', swallow);
      client.release(
        ambiguous ? (error instanceof Error ? error : new Error(String(error))) : undefined,
      );
      if (!ambiguous) throw this.fail(error, what, key);
      const settled = typeof pid === 'number' ? await this.settle(pid) : false;
      throw new AmbiguousWrite(error, settled);
    }
  }

  /** A `BACKEND` error for a failure (ours pass through), naming the operation and key. */
  fail(error: unknown, what: string, key?: string): DurableError {
    const cause = error instanceof AmbiguousWrite ? error.cause : error;
    return pgBackendError(
      cause,
      `${this.context}: ${what}${key === undefined ? '' : ` failed for ${key}`}`,
      key,
    );
  }

  /** Ends the pool when this component created it. */
  async close(): Promise<void> {
    this.closed = true;
    const pool = this.pool;
    this.pool = undefined;
    if (this.owned && pool !== undefined) await pool.end();
  }

  /**
   * Makes sure the server process `pid` (which ran a write whose reply was lost) is gone: asks
   * the server to end it and waits until it has. Then its transaction is committed or rolled back
   * for good, and a read tells which. False when the server cannot be reached to make sure.
   */
  private async settle(pid: number): Promise<boolean> {
    const deadline = Date.now() + SETTLE_MS;
    for (let wait = 2; Date.now() < deadline; wait = Math.min(wait * 2, 200)) {
      try {
        // A pid is not reused while its process lives, so "no such pid" means ours has ended.
        const alive = await this.clients.query({
          name: 'durable_settle',
          text: 'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = $1',
          values: [pid],
        });
        if (alive.rowCount === 0) return true;
      } catch {
        // The server is unreachable (restarting, say): when it comes back, our process is gone.
      }
      await sleep(wait);
    }
    return false;
  }
}
