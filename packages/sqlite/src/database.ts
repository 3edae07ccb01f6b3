import Database from 'better-sqlite3';
import type { Database as SqliteDatabase } from 'better-sqlite3';
import { DurableError, ErrorCode } from '@durable/core';
import { checkOptions, describeValue, toBackendError } from '@durable/core/adapter';
import { GroupCommit } from './group-commit.js';

/** How a durable SQLite component reaches its database: a file path, or an open handle. */
export interface SqliteConnectionOptions {
  /**
   * Path of the database file, created when missing (and `-wal` / `-shm` files beside it). Several
   * processes and several managers may open the same file. Give `path` or `database`.
   */
  path?: string;
  /** An open better-sqlite3 database to use instead of `path`; durable never closes it. */
  database?: SqliteDatabase;
  /**
   * fsync every commit before it is reported (`synchronous = FULL`); `false` keeps every commit
   * atomic and consistent but a power loss may drop the last ones (`NORMAL`). Only with `path`.
   * @default true
   */
  fsync?: boolean;
  /**
   * How long a write waits for another connection's transaction before failing with a retryable
   * `BACKEND` error. The wait blocks the thread (better-sqlite3 is synchronous), but every
   * transaction here is a few statements with no I/O to the application in between. @default 5000
   */
  busyTimeoutMs?: number;
}

/** Option names shared by every component (each adds its own). */
export const CONNECTION_OPTIONS = ['path', 'database', 'fsync', 'busyTimeoutMs'] as const;

/**
 * One connection to the database, opened on first use, with the component's tables created by
 * versioned, idempotent migrations. A handle opened here is closed by `close()`; an injected one
 * never is.
 */
export class Connection {
  private db: SqliteDatabase | undefined;
  private readonly owned: boolean;
  private migrated = false;
  private readonly group = new GroupCommit(() => this.database);

  constructor(
    private readonly options: SqliteConnectionOptions,
    private readonly context: string,
    private readonly migrations: readonly Migration[],
  ) {
    const { path, database, fsync, busyTimeoutMs } = options;
    if ((path === undefined) === (database === undefined)) {
      throw new DurableError(
        ErrorCode.CONFIG,
        `${context}: give exactly one of "path" (a database file) or "database" (an open better-sqlite3 handle)`,
      );
    }
    if (path !== undefined && (typeof path !== 'string' || path === '')) {
      throw new DurableError(
        ErrorCode.CONFIG,
        `${context}: "path" must be a non-empty file path, got ${describeValue(path)}`,
      );
    }
    if (
      database !== undefined &&
      (typeof database !== 'object' || database === null || typeof database.prepare !== 'function')
    ) {
      throw new DurableError(
        ErrorCode.CONFIG,
        `${context}: "database" must be an open better-sqlite3 Database, got ${describeValue(
          database,
        )}`,
      );
    }
    if (database !== undefined && fsync !== undefined) {
      throw new DurableError(
        ErrorCode.CONFIG,
        `${context}: "fsync" applies only with "path"; set PRAGMA synchronous on the database you pass`,
      );
    }
    if (fsync !== undefined && typeof fsync !== 'boolean') {
      throw new DurableError(
        ErrorCode.CONFIG,
        `${context}: "fsync" must be a boolean, got ${describeValue(fsync)}`,
      );
    }
    if (
      busyTimeoutMs !== undefined &&
      (typeof busyTimeoutMs !== 'number' || !Number.isInteger(busyTimeoutMs) || busyTimeoutMs < 0)
    ) {
      throw new DurableError(
        ErrorCode.CONFIG,
        `${context}: "busyTimeoutMs" must be an integer >= 0, got ${describeValue(busyTimeoutMs)}`,
      );
    }
    this.owned = database === undefined;
    this.db = database;
  }

  /** The open database, opened and migrated on first use. */
  get database(): SqliteDatabase {
    if (this.migrated && this.db !== undefined) return this.db;
    try {
      const db = this.db ?? new Database(this.options.path as string);
      this.db = db;
      db.pragma(`busy_timeout = ${this.options.busyTimeoutMs ?? 5000}`);
      if (this.owned) {
        // WAL: readers never block the writer nor each other, and a commit is one append (+ fsync).
        db.pragma('journal_mode = WAL');
        db.pragma(`synchronous = ${this.options.fsync === false ? 'NORMAL' : 'FULL'}`);
      }
      migrate(db, this.migrations);
      this.migrated = true;
      return db;
    } catch (error) {
      throw this.fail(error, `cannot open ${this.options.path ?? 'the database'}`);
    }
  }

  /**
   * Runs `fn` atomically under the database's write lock (in a savepoint of the transaction of
   * its group, see {@link GroupCommit}) and resolves once that transaction has committed.
   */
  async write<T>(fn: (db: SqliteDatabase) => T, what: string, key?: string): Promise<T> {
    const db = this.database;
    try {
      return await this.group.run(() => fn(db));
    } catch (error) {
      throw this.fail(error, what, key);
    }
  }

  /** Runs a read (one statement sees one snapshot; no transaction needed). */
  read<T>(fn: (db: SqliteDatabase) => T, what: string, key?: string): T {
    const db = this.database;
    try {
      return fn(db);
    } catch (error) {
      throw this.fail(error, what, key);
    }
  }

  /** Closes the database when this component opened it. */
  close(): void {
    if (this.owned && this.db?.open === true) this.db.close();
  }

  /** A DurableError for a failure: ours pass through, SQLite's become `BACKEND` naming the operation and key. */
  fail(error: unknown, what: string, key?: string): DurableError {
    const code = (error as { code?: unknown }).code;
    // BUSY and LOCKED mean another connection held the write lock past busyTimeoutMs: the
    // transaction never started, so the same call may simply be made again.
    const retryable =
      typeof code === 'string' &&
      (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'));
    return toBackendError(
      error,
      `${this.context}: ${what}${key === undefined ? '' : ` failed for ${key}`}`,
      {
        retryable,
        ...(key === undefined ? {} : { details: { key } }),
      },
    );
  }
}

/**
 * Runs the synchronous `fn` (better-sqlite3 is synchronous) and returns its result as a promise
 * that rejects with what `fn` throws: a method built on it fails by rejection, never by a throw
 * the caller's `await` would not see coming.
 */
export function settle<T>(fn: () => T): Promise<T> {
  return new Promise((resolve) => resolve(fn()));
}

/** One versioned schema change of a component (`name`), applied once, in order. */
export interface Migration {
  name: string;
  version: number;
  sql: string;
}

// Each component records the schema version it created in durable_schema, so a later release can
// upgrade an old file, and an older release refuses a newer file instead of misreading it.
function migrate(db: SqliteDatabase, migrations: readonly Migration[]): void {
  db.transaction(() => {
    db.exec(
      'CREATE TABLE IF NOT EXISTS durable_schema (name TEXT PRIMARY KEY, version INTEGER NOT NULL)',
    );
    const current = db.prepare('SELECT version FROM durable_schema WHERE name = ?');
    const set = db.prepare(
      'INSERT INTO durable_schema (name, version) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET version = excluded.version',
    );
    for (const migration of migrations) {
      const row = current.get(migration.name) as { version: number } | undefined;
      const latest = Math.max(
        ...migrations.filter((m) => m.name === migration.name).map((m) => m.version),
      );
      if (row !== undefined && row.version > latest) {
        throw new DurableError(
          ErrorCode.VERSION_UNKNOWN,
          `sqlite: the database holds ${migration.name} schema version ${row.version}, newer than this release knows (${latest}); upgrade @durable/sqlite`,
        );
      }
      if (row !== undefined && row.version >= migration.version) continue;
      db.exec(migration.sql);
      set.run(migration.name, migration.version);
    }
  }).immediate();
}

/** Checks a component's option bag: only known names, connection options valid. */
export function checkConnectionOptions(
  options: unknown,
  context: string,
  extra: readonly string[],
): void {
  checkOptions(options, context, {
    known: [...CONNECTION_OPTIONS, ...extra],
    renamed: { filename: 'path', db: 'database' },
  });
}
