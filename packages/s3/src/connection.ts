import { S3Client } from '@aws-sdk/client-s3';
import type { S3ClientConfig } from '@aws-sdk/client-s3';
import { DurableError, ErrorCode } from '@durable/core';
import { assertValidKey, assertValidPrefix, checkOptions } from '@durable/core/adapter';

/** Static credentials; omit them to use the AWS default provider chain (env, profile, role). */
export interface S3Credentials {
  /** Access key id. */
  accessKeyId: string;
  /** Secret access key. */
  secretAccessKey: string;
  /** Session token of temporary credentials. */
  sessionToken?: string;
}

/** Where objects live and how to reach them; shared by {@link S3StorageManager} and {@link S3LockManager}. */
export interface S3ConnectionOptions {
  /** The bucket (must exist; see infra/ for Terraform). */
  bucket: string;
  /**
   * Folder of every object key this manager writes, e.g. `"app/state/"` (a trailing `/` is added
   * when missing, so that two prefixes never overlap). Give storage and locks different prefixes.
   * @default "" for S3StorageManager, "durable-locks/" for S3LockManager
   */
  prefix?: string;
  /** An S3 client to use; the manager never destroys it. When given, the options below are ignored. */
  client?: S3Client;
  /** AWS region. @default the SDK's resolution (AWS_REGION, profile) */
  region?: string;
  /** Endpoint of an S3-compatible store or a local test server. @default AWS S3 */
  endpoint?: string;
  /** Path-style URLs (`endpoint/bucket/key`), which most S3-compatible stores need. @default false */
  forcePathStyle?: boolean;
  /** Static credentials. @default the AWS default provider chain */
  credentials?: S3Credentials;
  /** Extra S3Client settings (retries, checksums, request handler) for a client the manager creates. */
  clientConfig?: S3ClientConfig;
}

/** A resolved connection: the client, whether we own it, the bucket and the key prefix. */
export interface S3Connection {
  readonly client: S3Client;
  readonly owned: boolean;
  readonly bucket: string;
  readonly prefix: string;
}

/** The option keys of {@link S3ConnectionOptions}. */
const CONNECTION_OPTIONS = [
  'bucket',
  'prefix',
  'client',
  'region',
  'endpoint',
  'forcePathStyle',
  'credentials',
  'clientConfig',
] as const;

/** Option names of the S3 storage managers users migrate from (durable-x-state, unified-serverless-storage), with ours. */
const SEED_NAMES: Readonly<Record<string, string>> = {
  awsAccessKey: 'credentials: { accessKeyId, secretAccessKey }',
  awsSecretKey: 'credentials: { accessKeyId, secretAccessKey }',
  awsRegion: 'region',
  bucketName: 'bucket',
};

/**
 * Validates the options at once (no I/O) and creates the client when none is injected. `known`
 * are the manager's own option keys besides the connection's: any other key is `CONFIG`, so a
 * misspelt or a seed library's option is never ignored in silence.
 */
export function resolveConnection(
  options: S3ConnectionOptions,
  context: string,
  defaultPrefix: string,
  known: readonly string[],
): S3Connection {
  checkOptions(options, context, {
    known: [...CONNECTION_OPTIONS, ...known],
    required: ['bucket'],
    renamed: SEED_NAMES,
  });
  if (
    typeof options.bucket !== 'string' ||
    !/^[a-z0-9][a-z0-9.\-_]{1,254}$/i.test(options.bucket)
  ) {
    throw new DurableError(
      ErrorCode.CONFIG,
      `${context}: bucket must be a valid bucket name, got ${JSON.stringify(options.bucket)}`,
    );
  }
  const given = options.prefix ?? defaultPrefix;
  try {
    assertValidPrefix(given, context);
  } catch (error) {
    throw new DurableError(
      ErrorCode.CONFIG,
      `${context}: invalid prefix ${JSON.stringify(given)}`,
      { cause: error },
    );
  }
  const prefix = given === '' || given.endsWith('/') ? given : `${given}/`;
  if (options.client !== undefined) {
    return { client: options.client, owned: false, bucket: options.bucket, prefix };
  }
  const client = new S3Client({
    ...options.clientConfig,
    ...(options.region === undefined ? {} : { region: options.region }),
    ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
    ...(options.forcePathStyle === undefined ? {} : { forcePathStyle: options.forcePathStyle }),
    ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
  });
  return { client, owned: true, bucket: options.bucket, prefix };
}

/** S3's limit on an object key: 1024 bytes of UTF-8, our prefix included. */
export const MAX_OBJECT_KEY_BYTES = 1024;

/**
 * The object key of `key` under the connection's prefix. Throws `INVALID_KEY` (before any I/O)
 * when `key` breaks the core key rules or is too long for S3 once prefixed and UTF-8 encoded:
 * S3 would answer 400 KeyTooLongError, which must not read as a backend outage.
 */
export function objectKeyFor(connection: S3Connection, key: string, context: string): string {
  assertValidKey(key, context);
  const objectKey = connection.prefix + key;
  const bytes = Buffer.byteLength(objectKey, 'utf8');
  if (bytes > MAX_OBJECT_KEY_BYTES) {
    throw new DurableError(
      ErrorCode.INVALID_KEY,
      `${context}: invalid key ${JSON.stringify(
        key.slice(0, 64),
      )}...: S3 object keys are at most ${MAX_OBJECT_KEY_BYTES} bytes of UTF-8 including the prefix ${JSON.stringify(
        connection.prefix,
      )}, this one is ${bytes}; use a shorter key`,
      { details: { key, bytes } },
    );
  }
  return objectKey;
}
