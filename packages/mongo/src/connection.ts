import { MongoClient } from 'mongodb';
import type { Collection, Document, MongoClientOptions } from 'mongodb';
import { DurableError, ErrorCode } from '@durable/core';
import { checkOptions } from '@durable/core/adapter';

/** How to reach a collection: an injected client, or a connection string for a client the package creates. */
export interface MongoConnectionOptions {
  /** A MongoClient (connected or not: the driver connects on first use); the package never closes it. */
  client?: MongoClient;
  /** `mongodb://` or `mongodb+srv://` connection string for a client the package creates and closes. */
  url?: string;
  /** Extra MongoClient options for a client the package creates (they take precedence over the connection string's). */
  clientOptions?: MongoClientOptions;
  /** Database name (the connection string's database is used only for authentication). @default "durable" */
  database?: string;
}

/** A resolved connection: the client, whether we own it, and where the documents live. */
export interface MongoConnection {
  readonly client: MongoClient;
  readonly owned: boolean;
  readonly database: string;
  readonly collectionName: string;
  /**
   * Connects a client we created (at most one attempt at a time). The driver's own auto-connect
   * leaves a client whose first connection failed closed for good ("Topology is closed"); an
   * explicit connect() starts over, so work resumes once the server is back.
   */
  ready(): Promise<void>;
  /** The collection handle (no I/O). */
  collection<T extends Document>(): Collection<T>;
  /** Closes the client if it was created here (never an injected one). */
  close(): Promise<void>;
}

/** Database used when the options name none. */
export const DEFAULT_DATABASE = 'durable';

/** Throws `CONFIG` unless `name` is a usable MongoDB collection name. */
export function assertCollectionName(name: unknown, context: string): asserts name is string {
  const ok =
    typeof name === 'string' &&
    name.length > 0 &&
    name.length <= 120 &&
    !name.includes('$') &&
    !name.includes('\u0000') &&
    !name.startsWith('system.') &&
    !name.startsWith('.') &&
    !name.endsWith('.');
  if (!ok) {
    throw new DurableError(
      ErrorCode.CONFIG,
      `${context}: invalid collection name ${JSON.stringify(name)}`,
    );
  }
}

/** Throws `CONFIG` unless `name` is a usable MongoDB database name. */
export function assertDatabaseName(name: unknown, context: string): asserts name is string {
  if (
    typeof name !== 'string' ||
    name.length === 0 ||
    name.length > 63 ||
    /[/\\. "$*<>:|?]/.test(name) ||
    name.includes('\u0000')
  ) {
    throw new DurableError(
      ErrorCode.CONFIG,
      `${context}: invalid database name ${JSON.stringify(name)}`,
    );
  }
}

const CONNECTION_OPTIONS = ['client', 'url', 'clientOptions', 'database'] as const;
// Names users bring from other MongoDB libraries (or guess), with ours.
const RENAMED_OPTIONS: Readonly<Record<string, string>> = {
  uri: 'url',
  connectionString: 'url',
  mongoClient: 'client',
  db: 'database',
  dbName: 'database',
  collectionName: 'collection',
  keyPrefix: 'prefix',
};

/**
 * Validates the options at once (no I/O): unknown keys (a misspelt or another library's name
 * would be ignored in silence) are `CONFIG` naming ours; creates a client when none is injected.
 */
export function resolveMongoConnection(
  options: MongoConnectionOptions,
  collectionName: string,
  context: string,
  known: readonly string[],
): MongoConnection {
  if (typeof options !== 'object' || options === null) {
    throw new DurableError(ErrorCode.CONFIG, `${context}: options are required`);
  }
  checkOptions(options, context, {
    known: [...CONNECTION_OPTIONS, ...known],
    renamed: RENAMED_OPTIONS,
  });
  assertCollectionName(collectionName, context);
  if (options.database !== undefined) assertDatabaseName(options.database, context);
  let client: MongoClient;
  let owned: boolean;
  if (options.client !== undefined) {
    if (
      !(options.client instanceof MongoClient) &&
      typeof (options.client as { db?: unknown }).db !== 'function'
    ) {
      throw new DurableError(ErrorCode.CONFIG, `${context}: client must be a MongoClient`);
    }
    client = options.client;
    owned = false;
  } else {
    if (typeof options.url !== 'string' || !/^mongodb(\+srv)?:\/\//.test(options.url)) {
      throw new DurableError(
        ErrorCode.CONFIG,
        `${context}: pass a client or a mongodb:// url, got url ${JSON.stringify(options.url)}`,
      );
    }
    try {
      client = new MongoClient(options.url, options.clientOptions);
    } catch (error) {
      // The driver parses the connection string in the constructor.
      throw new DurableError(
        ErrorCode.CONFIG,
        `${context}: invalid connection string: ${
          error instanceof Error ? error.message : String(error)
        }`,
        {
          cause: error,
        },
      );
    }
    owned = true;
  }
  const database = options.database ?? DEFAULT_DATABASE;
  let connecting: Promise<void> | undefined;
  return {
    client,
    owned,
    database,
    collectionName,
    async close(): Promise<void> {
      if (owned) await client.close();
    },
    ready(): Promise<void> {
      // An injected client is the caller's to connect (the driver connects it on first use).
      if (!owned) return Promise.resolve();
      connecting ??= client.connect().then(
        () => undefined,
        (error: unknown) => {
          connecting = undefined;
          throw error;
        },
      );
      return connecting;
    },
    collection<T extends Document>(): Collection<T> {
      return client.db(database).collection<T>(collectionName);
    },
  };
}

/** Validates a `prefix` option: a string without NUL; `""` when absent. */
export function resolveKeyPrefix(keyPrefix: unknown, context: string): string {
  const prefix = keyPrefix ?? '';
  if (typeof prefix !== 'string' || prefix.includes('\u0000')) {
    throw new DurableError(ErrorCode.CONFIG, `${context}: prefix must be a string without NUL`);
  }
  return prefix;
}
