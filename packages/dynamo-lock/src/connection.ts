import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import { DurableError, ErrorCode } from '@durable/core';
import { assertValidKey, checkOptions } from '@durable/core/adapter';

/** Static credentials; omit them to use the AWS default provider chain (env, profile, role). */
export interface DynamoCredentials {
  /** Access key id. */
  accessKeyId: string;
  /** Secret access key. */
  secretAccessKey: string;
  /** Session token of temporary credentials. */
  sessionToken?: string;
}

/** How to reach the lock table; shared by {@link DynamoLockingManager} and {@link createLockTable}. */
export interface DynamoConnectionOptions {
  /** The lock table (hash key `id` of type string; see infra/ or {@link createLockTable}). */
  tableName: string;
  /** A DynamoDB client to use; never destroyed by this package. When given, the options below are ignored. */
  client?: DynamoDBClient;
  /** AWS region. @default the SDK's resolution (AWS_REGION, profile) */
  region?: string;
  /** Endpoint of DynamoDB Local, dynalite or a VPC endpoint. @default AWS DynamoDB */
  endpoint?: string;
  /** Static credentials. @default the AWS default provider chain */
  credentials?: DynamoCredentials;
  /** Extra DynamoDBClient settings (retries, request handler) for a client the package creates. */
  clientConfig?: DynamoDBClientConfig;
}

/** A resolved connection: the client, whether we own it, and the table. */
export interface DynamoConnection {
  readonly client: DynamoDBClient;
  readonly owned: boolean;
  readonly tableName: string;
}

/** The option keys of {@link DynamoConnectionOptions}. */
const CONNECTION_OPTIONS = [
  'tableName',
  'client',
  'region',
  'endpoint',
  'credentials',
  'clientConfig',
] as const;

/** Option names of durable-x-state's DynamoLockingManager, and what to use instead (named in the CONFIG error). */
const SEED_NAMES: Readonly<Record<string, string>> = {
  awsAccessKey: 'credentials: { accessKeyId, secretAccessKey }',
  awsSecretKey: 'credentials: { accessKeyId, secretAccessKey }',
  awsRegion: 'region',
  timeToLiveDurationInSeconds: 'defaultTtlMs (in milliseconds: 60 s is 60000)',
};

/**
 * Validates the options at once (no I/O) and creates the client when none is injected. `known`
 * are the caller's own option keys besides the connection's: any other key is `CONFIG`, so a
 * misspelt or a seed library's option (which used to be ignored in silence) is reported.
 */
export function resolveConnection(
  options: DynamoConnectionOptions,
  context: string,
  known: readonly string[],
): DynamoConnection {
  checkOptions(options, context, {
    known: [...CONNECTION_OPTIONS, ...known],
    required: ['tableName'],
    renamed: SEED_NAMES,
  });
  if (typeof options.tableName !== 'string' || !/^[a-zA-Z0-9_.-]{3,255}$/.test(options.tableName)) {
    throw new DurableError(
      ErrorCode.CONFIG,
      `${context}: tableName must be a valid table name, got ${JSON.stringify(options.tableName)}`,
    );
  }
  if (options.client !== undefined)
    return { client: options.client, owned: false, tableName: options.tableName };
  const client = new DynamoDBClient({
    ...options.clientConfig,
    ...(options.region === undefined ? {} : { region: options.region }),
    ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
    ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
  });
  return { client, owned: true, tableName: options.tableName };
}

/** DynamoDB's limit on a partition key value: 2048 bytes of UTF-8. */
export const MAX_PARTITION_KEY_BYTES = 2048;

/**
 * The item id of `key` under `prefix`. Throws `INVALID_KEY` (before any I/O) when `key` breaks the
 * core key rules or the id is longer than DynamoDB allows: a ValidationException there must not
 * read as a backend outage.
 */
export function itemIdFor(prefix: string, key: string, context: string): string {
  assertValidKey(key, context);
  const id = prefix + key;
  const bytes = Buffer.byteLength(id, 'utf8');
  if (bytes > MAX_PARTITION_KEY_BYTES) {
    throw new DurableError(
      ErrorCode.INVALID_KEY,
      `${context}: invalid key ${JSON.stringify(
        key.slice(0, 64),
      )}...: DynamoDB partition keys are at most ${MAX_PARTITION_KEY_BYTES} bytes of UTF-8 including the prefix ${JSON.stringify(
        prefix,
      )}, this one is ${bytes}; use a shorter key`,
      { details: { key, bytes } },
    );
  }
  return id;
}
