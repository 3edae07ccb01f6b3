import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import { DurableError, ErrorCode } from '@durable/core';

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

/** Validates the options at once (no I/O) and creates the client when none is injected. */
export function resolveConnection(options: DynamoConnectionOptions, context: string): DynamoConnection {
  if (typeof options !== 'object' || options === null) {
    throw new DurableError(ErrorCode.CONFIG, `${context}: options are required`);
  }
  if (typeof options.tableName !== 'string' || !/^[a-zA-Z0-9_.-]{3,255}$/.test(options.tableName)) {
    throw new DurableError(ErrorCode.CONFIG, `${context}: tableName must be a valid table name, got ${JSON.stringify(options.tableName)}`);
  }
  if (options.client !== undefined) return { client: options.client, owned: false, tableName: options.tableName };
  const client = new DynamoDBClient({
    ...options.clientConfig,
    ...(options.region === undefined ? {} : { region: options.region }),
    ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
    ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
  });
  return { client, owned: true, tableName: options.tableName };
}
