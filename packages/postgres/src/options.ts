import type { Pool } from 'pg';
import { DurableError, ErrorCode } from '@durable/core';
import { checkOptions, describeValue } from '@durable/core/adapter';

/** How a durable PostgreSQL component reaches its database, and where its tables live. */
export interface PostgresConnectionOptions {
  /** A `pg` Pool to use; durable never ends it. Give `pool` or `connectionString`. */
  pool?: Pool;
  /** A `postgresql://` URL: the component creates its own Pool, ended by `close()`. */
  connectionString?: string;
  /** Connections of the Pool created for `connectionString`. @default 10 */
  poolSize?: number;
  /** Schema of the tables, created when missing. Lower-case letters, digits and `_`. @default "public" */
  schema?: string;
  /**
   * Prefix of every table, index and sequence name, so several applications can share a schema.
   * Lower-case letters, digits and `_`, at most 40 characters. @default "durable_"
   */
  tablePrefix?: string;
}

/** Option names shared by every component (each adds its own). */
export const CONNECTION_OPTIONS = [
  'pool',
  'connectionString',
  'poolSize',
  'schema',
  'tablePrefix',
] as const;

const IDENTIFIER = /^[a-z_][a-z0-9_]*$/;

/** Checks a component's option bag: only known names, connection options valid. */
export function checkConnectionOptions(
  options: unknown,
  context: string,
  extra: readonly string[],
): void {
  checkOptions(options, context, {
    known: [...CONNECTION_OPTIONS, ...extra],
    renamed: {
      client: 'pool (a pg.Pool)',
      url: 'connectionString',
      connection: 'connectionString',
      max: 'poolSize',
      prefix: 'tablePrefix',
    },
  });
  const { pool, connectionString, poolSize, schema, tablePrefix } =
    options as PostgresConnectionOptions;
  if ((pool === undefined) === (connectionString === undefined)) {
    throw new DurableError(
      ErrorCode.CONFIG,
      `${context}: give exactly one of "pool" (a pg.Pool) or "connectionString" (a postgresql:// URL)`,
    );
  }
  if (
    pool !== undefined &&
    (typeof pool !== 'object' ||
      pool === null ||
      typeof (pool as { connect?: unknown }).connect !== 'function')
  ) {
    throw new DurableError(
      ErrorCode.CONFIG,
      `${context}: "pool" must be a pg.Pool, got ${describeValue(pool)}`,
    );
  }
  if (
    connectionString !== undefined &&
    (typeof connectionString !== 'string' || !/^postgres(ql)?:\/\//.test(connectionString))
  ) {
    throw new DurableError(
      ErrorCode.CONFIG,
      `${context}: "connectionString" must be a postgresql:// URL, got ${describeValue(
        connectionString,
      )}`,
    );
  }
  if (
    poolSize !== undefined &&
    (pool !== undefined ||
      typeof poolSize !== 'number' ||
      !Number.isInteger(poolSize) ||
      poolSize < 1)
  ) {
    throw new DurableError(
      ErrorCode.CONFIG,
      pool !== undefined
        ? `${context}: "poolSize" applies only with "connectionString"; size the pool you pass yourself`
        : `${context}: "poolSize" must be an integer >= 1, got ${describeValue(poolSize)}`,
    );
  }
  checkIdentifier(schema, 'schema', 63, context);
  checkIdentifier(tablePrefix, 'tablePrefix', 40, context);
}

function checkIdentifier(value: unknown, name: string, max: number, context: string): void {
  if (value === undefined) return;
  if (typeof value !== 'string' || !IDENTIFIER.test(value) || value.length > max) {
    throw new DurableError(
      ErrorCode.CONFIG,
      `${context}: "${name}" must be lower-case letters, digits and _ (not starting with a digit), at most ${max} characters, got ${
        typeof value === 'string' ? JSON.stringify(value) : describeValue(value)
      }`,
    );
  }
}

/** Quoted, schema-qualified names of one component's objects. */
export class Names {
  readonly schema: string;
  readonly prefix: string;

  constructor(options: PostgresConnectionOptions) {
    this.schema = options.schema ?? 'public';
    this.prefix = options.tablePrefix ?? 'durable_';
  }

  /** `"schema"."<prefix><name>"`. */
  table(name: string): string {
    return `"${this.schema}"."${this.prefix}${name}"`;
  }

  /** `<prefix><name>` unqualified (an index or constraint name). */
  local(name: string): string {
    return `"${this.prefix}${name}"`;
  }
}
