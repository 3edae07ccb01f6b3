import type { Pool } from 'pg';
import { DurableError, ErrorCode } from '@durable/core';
import type { Names } from './options.js';

/** One versioned schema change of a component (`name`), applied once, in order. */
export interface Migration {
  name: string;
  version: number;
  sql: string;
}

/**
 * Creates or upgrades a component's tables. Every component records the version it created in
 * `<prefix>schema_versions`, so a later release can upgrade old tables and an older release
 * refuses newer ones (`VERSION_UNKNOWN`) instead of misreading them. Idempotent and safe when
 * several processes start at once: the changes run in one transaction under an advisory lock of
 * the schema and prefix. The common case (already up to date) costs one read.
 */
export async function migrate(
  pool: Pool,
  names: Names,
  migrations: readonly Migration[],
  context: string,
): Promise<void> {
  const versions = names.table('schema_versions');
  const latest = new Map<string, number>();
  for (const migration of migrations)
    latest.set(migration.name, Math.max(latest.get(migration.name) ?? 0, migration.version));
  const components = [...latest.keys()];
  try {
    const current = await pool.query<{ name: string; version: number }>(
      `SELECT name, version FROM ${versions} WHERE name = ANY($1)`,
      [components],
    );
    if (upToDate(current.rows, latest, context)) return;
  } catch (error) {
    // 42P01: no such table yet (3F000: no such schema): the slow path creates them.
    const code = (error as { code?: unknown }).code;
    if (code !== '42P01' && code !== '3F000') throw error;
  }
  const client = await pool.connect();
  // Checked out, a client has no listener of the pool's: a broken connection must not end the process.
  const ignore = (): void => undefined;
  client.on('error', ignore);
  let failed: unknown;
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [
      `durable:${names.schema}.${names.prefix}`,
    ]);
    const encoding = await client.query<{ encoding: string }>(
      "SELECT current_setting('server_encoding') AS encoding",
    );
    if (encoding.rows[0]?.encoding !== 'UTF8') {
      throw new DurableError(
        ErrorCode.CONFIG,
        `${context}: the database's encoding is ${
          encoding.rows[0]?.encoding ?? 'unknown'
        }; durable needs UTF8 (keys are compared by their UTF-8 bytes): create the database WITH ENCODING 'UTF8'`,
      );
    }
    const schema = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [
      names.schema,
    ]);
    if (schema.rowCount === 0) await client.query(`CREATE SCHEMA IF NOT EXISTS "${names.schema}"`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${versions} (name text PRIMARY KEY, version integer NOT NULL)`,
    );
    const rows = (
      await client.query<{ name: string; version: number }>(
        `SELECT name, version FROM ${versions} FOR UPDATE`,
      )
    ).rows;
    const applied = new Map(rows.map((row) => [row.name, row.version]));
    upToDate(rows, latest, context);
    for (const migration of migrations) {
      if ((applied.get(migration.name) ?? 0) >= migration.version) continue;
      await client.query(migration.sql);
      await client.query(
        `INSERT INTO ${versions} (name, version) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET version = excluded.version`,
        [migration.name, migration.version],
      );
      applied.set(migration.name, migration.version);
    }
    await client.query('COMMIT');
  } catch (error) {
    failed = error;
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.removeListener('error', ignore);
    client.release(
      failed instanceof DurableError || failed === undefined ? undefined : (failed as Error),
    );
  }
}

// True when every component is at its latest version; throws when one is newer than we know.
function upToDate(
  rows: ReadonlyArray<{ name: string; version: number }>,
  latest: ReadonlyMap<string, number>,
  context: string,
): boolean {
  for (const row of rows) {
    const known = latest.get(row.name);
    if (known !== undefined && row.version > known) {
      throw new DurableError(
        ErrorCode.VERSION_UNKNOWN,
        `${context}: the database holds ${row.name} schema version ${row.version}, newer than this release knows (${known}); upgrade @durable/postgres`,
      );
    }
  }
  return [...latest].every(([name, version]) =>
    rows.some((row) => row.name === name && row.version === version),
  );
}
