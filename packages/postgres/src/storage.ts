import type {
  ConditionalOptions,
  ListOptions,
  ListPage,
  StorageCapabilities,
  StorageManager,
  StorageValue,
  StoredEntry,
} from '@durable/core';
import { DurableError, ErrorCode } from '@durable/core';
import {
  assertConditionalOptions,
  conflictError,
  assertStorageValue,
  assertValidPrefix,
  createLockToken,
  listLimit,
  toBytes,
} from '@durable/core/adapter';
import type { Statement } from './connection.js';
import { AmbiguousWrite, Connection, statement } from './connection.js';
import { assertStorableKey, prefixUpperBound } from './keys.js';
import type { PostgresConnectionOptions } from './options.js';
import { checkConnectionOptions } from './options.js';
import type { Names } from './options.js';
import { PostgresWatches, notifyWatchers, watchMigration } from './storage-watch.js';

/** Options for {@link PostgresStorageManager}. */
export type PostgresStorageOptions = PostgresConnectionOptions;

const CONTEXT = 'postgres storage';

/** The storage table: keys in byte order (`COLLATE "C"`), values as bytes, a random version per write. */
export function storageMigrations(
  names: Names,
): Array<{ name: string; version: number; sql: string }> {
  return [
    {
      name: 'kv',
      version: 1,
      sql: `CREATE TABLE IF NOT EXISTS ${names.table(
        'kv',
      )} (key text COLLATE "C" PRIMARY KEY, value bytea NOT NULL, version text NOT NULL)`,
    },
    watchMigration(names),
  ];
}

type Statements = Record<
  'read' | 'version' | 'upsert' | 'create' | 'update' | 'delete' | 'deleteIf' | 'list' | 'listOpen',
  Statement
>;

function prepare(names: Names): Statements {
  const kv = names.table('kv');
  const after = 'key >= $1 AND key > $2';
  const notify = notifyWatchers(names);
  return {
    read: statement(`SELECT value, version FROM ${kv} WHERE key = $1`),
    version: statement(`SELECT version FROM ${kv} WHERE key = $1`),
    // Writes notify the watchers of the key (see notifyWatchers); deletes need not be heard.
    upsert: statement(
      `WITH w AS (INSERT INTO ${kv} (key, value, version) VALUES ($1, $2, $3) ON CONFLICT (key) DO UPDATE SET value = excluded.value, version = excluded.version RETURNING key)${notify}`,
    ),
    create: statement(
      `WITH w AS (INSERT INTO ${kv} (key, value, version) VALUES ($1, $2, $3) ON CONFLICT (key) DO NOTHING RETURNING key)${notify}`,
    ),
    update: statement(
      `WITH w AS (UPDATE ${kv} SET value = $2, version = $3 WHERE key = $1 AND version = $4 RETURNING key)${notify}`,
    ),
    delete: statement(`DELETE FROM ${kv} WHERE key = $1`),
    deleteIf: statement(`DELETE FROM ${kv} WHERE key = $1 AND version = $2`),
    list: statement(`SELECT key FROM ${kv} WHERE ${after} AND key < $3 ORDER BY key LIMIT $4`),
    listOpen: statement(`SELECT key FROM ${kv} WHERE ${after} ORDER BY key LIMIT $3`),
  };
}

/**
 * {@link StorageManager} on one PostgreSQL table. Each operation is one statement (one
 * transaction): a conditional write is an `UPDATE ... WHERE version = $old` or an insert that
 * refuses an existing key, so compare-and-swap is linearisable across every connection. A write
 * whose reply was lost is settled by making sure the server process that ran it is gone and
 * reading its random version back: applied, not applied, or (only when the key has changed
 * again since) `UNKNOWN_OUTCOME`.
 */
export class PostgresStorageManager implements StorageManager {
  readonly capabilities: StorageCapabilities = { conditionalWrite: true, watch: true };
  private readonly connection: Connection;
  private readonly sql: Statements;
  private readonly watches: PostgresWatches;

  constructor(options: PostgresStorageOptions) {
    checkConnectionOptions(options, CONTEXT, []);
    this.connection = new Connection(options, CONTEXT, storageMigrations);
    this.sql = prepare(this.connection.names);
    this.watches = new PostgresWatches(this.connection, CONTEXT);
  }

  async read(key: string): Promise<StoredEntry | undefined> {
    assertStorableKey(key, CONTEXT);
    const result = await this.connection.query<{ value: Buffer; version: string }>(
      this.sql.read,
      [key],
      'read',
      key,
    );
    const row = result.rows[0];
    return row === undefined
      ? undefined
      : {
          data: new Uint8Array(row.value.buffer, row.value.byteOffset, row.value.byteLength),
          version: row.version,
        };
  }

  async write(key: string, value: StorageValue, options?: ConditionalOptions): Promise<string> {
    assertStorableKey(key, CONTEXT);
    assertStorageValue(value, CONTEXT, key);
    assertConditionalOptions(options, CONTEXT, key);
    // Versions are random, not counters: one that was deleted never matches a re-created key,
    // and finding ours in place after a lost reply proves the write was applied.
    const version = createLockToken();
    // A copy: the caller may change its buffer while the statement is being sent.
    const data = Buffer.from(toBytes(value));
    const ifVersion = options?.ifVersion;
    try {
      if (ifVersion === undefined) {
        await this.connection.write(this.sql.upsert, [key, data, version], 'write', key);
      } else if (ifVersion === null) {
        const result = await this.connection.write(
          this.sql.create,
          [key, data, version],
          'write',
          key,
        );
        if (result.rowCount === 0) throw conflict('write', key, null);
      } else {
        const result = await this.connection.write(
          this.sql.update,
          [key, data, version, ifVersion],
          'write',
          key,
        );
        if (result.rowCount === 0) throw conflict('write', key, ifVersion);
      }
    } catch (error) {
      if (!(error instanceof AmbiguousWrite)) throw error;
      await this.settleWrite(key, version, ifVersion, error);
    }
    this.watches.changed(key);
    return version;
  }

  async delete(key: string, options?: ConditionalOptions): Promise<boolean> {
    assertStorableKey(key, CONTEXT);
    assertConditionalOptions(options, CONTEXT, key);
    const ifVersion = options?.ifVersion;
    if (ifVersion === null) {
      // "Only if absent": nothing to delete when it holds; a present key is a conflict.
      if ((await this.connection.query(this.sql.version, [key], 'delete', key)).rowCount !== 0)
        throw conflict('delete', key, null);
      return false;
    }
    try {
      const result =
        ifVersion === undefined
          ? await this.connection.write(this.sql.delete, [key], 'delete', key)
          : await this.connection.write(this.sql.deleteIf, [key, ifVersion], 'delete', key);
      if (result.rowCount === 0 && ifVersion !== undefined)
        throw conflict('delete', key, ifVersion);
      return (result.rowCount ?? 0) > 0;
    } catch (error) {
      if (!(error instanceof AmbiguousWrite)) throw error;
      return this.settleDelete(key, ifVersion, error);
    }
  }

  async exists(key: string): Promise<boolean> {
    assertStorableKey(key, CONTEXT);
    return (await this.connection.query(this.sql.version, [key], 'exists', key)).rowCount !== 0;
  }

  async list(prefix: string, options: ListOptions = {}): Promise<ListPage> {
    if (prefix !== '') assertValidPrefix(prefix, CONTEXT);
    const limit = listLimit(options, CONTEXT);
    // Keys are never empty, so `key > ''` holds for all of them when there is no cursor.
    const after = options.cursor ?? '';
    const upper = prefixUpperBound(prefix);
    // One more than the page: whether a next page exists without a second query.
    const result =
      upper === undefined
        ? await this.connection.query<{ key: string }>(
            this.sql.listOpen,
            [prefix, after, limit + 1],
            'list',
            prefix,
          )
        : await this.connection.query<{ key: string }>(
            this.sql.list,
            [prefix, after, upper, limit + 1],
            'list',
            prefix,
          );
    const keys: string[] = [];
    for (const row of result.rows.slice(0, limit)) keys.push(row.key);
    const last = keys[keys.length - 1];
    return result.rows.length > limit && last !== undefined ? { keys, cursor: last } : { keys };
  }

  /**
   * Calls `listener` soon after a write under `prefix` commits, in this process or another one
   * on the same tables (LISTEN/NOTIFY; see {@link StorageManager.watch} for what it promises).
   */
  watch(prefix: string, listener: () => void): () => void {
    return this.watches.watch(prefix, listener);
  }

  /** Stops watching, then ends the pool this manager created (never an injected one). */
  async close(): Promise<void> {
    await this.watches.close();
    await this.connection.close();
  }

  // After a lost reply: once the server process that ran the write is gone, our version in place
  // means applied; the condition still holding (or, blind, anything else) means not applied, a
  // retryable BACKEND error. Otherwise the key changed again since: nobody can tell whose it was.
  private async settleWrite(
    key: string,
    version: string,
    ifVersion: string | null | undefined,
    lost: AmbiguousWrite,
  ): Promise<string> {
    let current: string | null;
    try {
      if (!lost.settled) throw lost;
      current =
        (await this.connection.query<{ version: string }>(this.sql.version, [key], 'write', key))
          .rows[0]?.version ?? null;
    } catch {
      if (ifVersion === undefined) throw this.connection.fail(lost, 'write', key);
      throw unknownOutcome('write', key, lost.cause, 'it could not be read back');
    }
    if (current === version) return version;
    if (ifVersion === undefined || current === ifVersion) {
      throw this.connection.fail(
        lost,
        `write (not applied: the connection failed; try again)`,
        key,
      );
    }
    throw unknownOutcome(
      'write',
      key,
      lost.cause,
      'the key has changed since (applied and overwritten, or never applied)',
    );
  }

  private async settleDelete(
    key: string,
    ifVersion: string | undefined,
    lost: AmbiguousWrite,
  ): Promise<boolean> {
    let current: string | null;
    try {
      if (!lost.settled) throw lost;
      current =
        (await this.connection.query<{ version: string }>(this.sql.version, [key], 'delete', key))
          .rows[0]?.version ?? null;
    } catch {
      throw unknownOutcome('delete', key, lost.cause, 'it could not be read back');
    }
    if (current !== null && (ifVersion === undefined || current === ifVersion)) {
      throw this.connection.fail(
        lost,
        'delete (not applied: the connection failed; try again)',
        key,
      );
    }
    if (current === null && ifVersion !== undefined) return true;
    throw unknownOutcome(
      'delete',
      key,
      lost.cause,
      current === null
        ? 'the key is gone (whose delete removed it is unknown)'
        : 'the key holds another version',
    );
  }
}

function conflict(
  operation: 'write' | 'delete',
  key: string,
  ifVersion: string | null,
): DurableError {
  return conflictError({ context: CONTEXT, operation, key, expected: ifVersion });
}

function unknownOutcome(
  operation: string,
  key: string,
  cause: unknown,
  reason: string,
): DurableError {
  return new DurableError(
    ErrorCode.UNKNOWN_OUTCOME,
    `${CONTEXT}: the outcome of ${operation} for ${key} is unknown: the connection failed after it was sent and ${reason}. Read the key to decide what to do`,
    { retryable: true, cause, details: { key } },
  );
}
