import type { Statement } from 'better-sqlite3';
import type {
  ConditionalOptions,
  ListOptions,
  ListPage,
  StorageCapabilities,
  StorageManager,
  StorageValue,
  StoredEntry,
} from '@durable/core';
import type { DurableError } from '@durable/core';
import {
  assertConditionalOptions,
  assertStorageValue,
  assertValidKey,
  assertValidPrefix,
  conflictError,
  createLockToken,
  listLimit,
  toBytes,
} from '@durable/core/adapter';
import type { SqliteConnectionOptions } from './database.js';
import { Connection, checkConnectionOptions, settle } from './database.js';
import { prefixUpperBound } from './prefix.js';

/** Options for {@link SqliteStorageManager}. */
export type SqliteStorageOptions = SqliteConnectionOptions;

const CONTEXT = 'sqlite storage';
const MIGRATIONS = [
  {
    name: 'kv',
    version: 1,
    // BINARY collation compares the UTF-8 bytes, so ORDER BY key is the byte order every backend
    // lists in. WITHOUT ROWID: the key is the only index, so a write touches one B-tree.
    sql: 'CREATE TABLE IF NOT EXISTS durable_kv (key TEXT PRIMARY KEY, value BLOB NOT NULL, version TEXT NOT NULL) WITHOUT ROWID',
  },
] as const;

interface Row {
  value: Buffer;
  version: string;
}

/**
 * {@link StorageManager} on one SQLite table: each operation is one transaction (a conditional
 * write reads the version and writes under the database's write lock), so compare-and-swap is
 * linearisable across every connection and process on the file, for any pause of any of them.
 */
export class SqliteStorageManager implements StorageManager {
  readonly capabilities: StorageCapabilities = { conditionalWrite: true };
  private readonly connection: Connection;
  private statements: ReturnType<typeof prepare> | undefined;

  constructor(options: SqliteStorageOptions) {
    checkConnectionOptions(options, CONTEXT, []);
    this.connection = new Connection(options, CONTEXT, MIGRATIONS);
  }

  read(key: string): Promise<StoredEntry | undefined> {
    return settle(() => {
      assertValidKey(key, CONTEXT);
      const row = this.connection.read(
        () => this.sql().read.get(key) as Row | undefined,
        'read',
        key,
      );
      return row === undefined
        ? undefined
        : {
            data: new Uint8Array(row.value.buffer, row.value.byteOffset, row.value.byteLength),
            version: row.version,
          };
    });
  }

  async write(key: string, value: StorageValue, options?: ConditionalOptions): Promise<string> {
    assertValidKey(key, CONTEXT);
    assertStorageValue(value, CONTEXT, key);
    assertConditionalOptions(options, CONTEXT, key);
    // Versions are random, not counters: one that was deleted can never match a re-created key.
    const version = createLockToken();
    const data = Buffer.from(toBytes(value));
    const ifVersion = options?.ifVersion;
    await this.connection.write(
      () => {
        const sql = this.sql();
        if (ifVersion !== undefined) {
          const current = sql.version.get(key) as { version: string } | undefined;
          if ((current?.version ?? null) !== ifVersion)
            throw conflict('write', key, ifVersion, current?.version);
        }
        sql.upsert.run(key, data, version);
      },
      'write',
      key,
    );
    return version;
  }

  async delete(key: string, options?: ConditionalOptions): Promise<boolean> {
    assertValidKey(key, CONTEXT);
    assertConditionalOptions(options, CONTEXT, key);
    const ifVersion = options?.ifVersion;
    return this.connection.write(
      () => {
        const sql = this.sql();
        if (ifVersion !== undefined) {
          const current = sql.version.get(key) as { version: string } | undefined;
          if (ifVersion === null || current?.version !== ifVersion)
            throw conflict('delete', key, ifVersion, current?.version);
        }
        return sql.delete.run(key).changes > 0;
      },
      'delete',
      key,
    );
  }

  exists(key: string): Promise<boolean> {
    return settle(() => {
      assertValidKey(key, CONTEXT);
      return this.connection.read(() => this.sql().version.get(key) !== undefined, 'exists', key);
    });
  }

  list(prefix: string, options: ListOptions = {}): Promise<ListPage> {
    return settle(() => {
      if (prefix !== '') assertValidPrefix(prefix, CONTEXT);
      const limit = listLimit(options, CONTEXT);
      // Keys are never empty, so `key > ''` holds for all of them when there is no cursor.
      const after = options.cursor ?? '';
      const upper = prefixUpperBound(prefix);
      // One more than the page: whether a next page exists without a second query.
      const rows = this.connection.read(
        () => {
          const sql = this.sql();
          return (
            upper === undefined
              ? sql.listOpen.all(prefix, after, limit + 1)
              : sql.list.all(prefix, after, upper, limit + 1)
          ) as Array<{ key: string }>;
        },
        'list',
        prefix,
      );
      // A fresh array of this realm: the driver's arrays come from Node's main realm, which
      // deep-equality checks in a sandbox (jest, vm) tell apart.
      const keys: string[] = [];
      for (const row of rows.slice(0, limit)) keys.push(row.key);
      const last = keys[keys.length - 1];
      return rows.length > limit && last !== undefined ? { keys, cursor: last } : { keys };
    });
  }

  close(): Promise<void> {
    return settle(() => {
      this.connection.close();
    });
  }

  private sql(): ReturnType<typeof prepare> {
    this.statements ??= prepare(this.connection);
    return this.statements;
  }
}

// Prepared once per connection: parsing SQL costs more than running these statements.
function prepare(
  connection: Connection,
): Record<'read' | 'version' | 'upsert' | 'delete' | 'list' | 'listOpen', Statement> {
  const db = connection.database;
  const after = 'key >= ? AND key > ?';
  return {
    read: db.prepare('SELECT value, version FROM durable_kv WHERE key = ?'),
    version: db.prepare('SELECT version FROM durable_kv WHERE key = ?'),
    upsert: db.prepare(
      'INSERT INTO durable_kv (key, value, version) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value, version = excluded.version',
    ),
    delete: db.prepare('DELETE FROM durable_kv WHERE key = ?'),
    list: db.prepare(`SELECT key FROM durable_kv WHERE ${after} AND key < ? ORDER BY key LIMIT ?`),
    listOpen: db.prepare(`SELECT key FROM durable_kv WHERE ${after} ORDER BY key LIMIT ?`),
  };
}

function conflict(
  operation: 'write' | 'delete',
  key: string,
  ifVersion: string | null,
  current: string | undefined,
): DurableError {
  return conflictError({
    context: CONTEXT,
    operation,
    key,
    expected: ifVersion,
    actual: current ?? null,
  });
}
