import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import type {
  ConditionalOptions,
  ListOptions,
  ListPage,
  StorageCapabilities,
  StorageManager,
  StoredEntry,
  StorageValue,
} from '@durable/core';
import { DurableError, ErrorCode, assertValidKey, assertValidPrefix, isDurableError, listLimit, toBytes } from '@durable/core';
import type { S3Connection, S3ConnectionOptions } from './connection.js';
import { resolveConnection } from './connection.js';
import { isNotFound, isPreconditionFailure, s3BackendError } from './s3-errors.js';
import { assertConditional, assertStorageValue } from './validation.js';

/** Options for {@link S3StorageManager}. */
export interface S3StorageOptions extends S3ConnectionOptions {
  /**
   * Use S3's conditional writes (`If-None-Match: *`, `If-Match: <etag>`). Set `false` only for
   * S3-compatible stores that lack them: `ifVersion` is then checked by a read before the write,
   * which is NOT atomic, so pair the storage with a lock (`LockableStorageManager`). @default true
   */
  conditionalWrites?: boolean;
}

const CONTEXT = 's3 storage';
/** ListObjectsV2 returns at most 1000 keys per call. */
const S3_PAGE_MAX = 1000;

/**
 * {@link StorageManager} on S3: one object per key under `prefix`, versions are ETags,
 * conditional create/update/delete are enforced by S3 itself (412 becomes `CONFLICT`).
 */
export class S3StorageManager implements StorageManager {
  readonly capabilities: StorageCapabilities;
  private readonly connection: S3Connection;
  private readonly conditional: boolean;

  constructor(options: S3StorageOptions) {
    this.connection = resolveConnection(options, CONTEXT);
    this.conditional = options.conditionalWrites ?? true;
    this.capabilities = { conditionalWrite: this.conditional };
  }

  /** The bucket this manager writes to. */
  get bucket(): string {
    return this.connection.bucket;
  }

  async read(key: string): Promise<StoredEntry | undefined> {
    assertValidKey(key, CONTEXT);
    try {
      const response = await this.connection.client.send(
        new GetObjectCommand({ Bucket: this.connection.bucket, Key: this.objectKey(key) }),
      );
      const data = response.Body === undefined ? new Uint8Array(0) : await response.Body.transformToByteArray();
      return { data, version: requireEtag(response.ETag, key) };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw s3BackendError(error, `${CONTEXT}: read failed for ${key}`, key);
    }
  }

  async write(key: string, value: StorageValue, options: ConditionalOptions = {}): Promise<string> {
    assertValidKey(key, CONTEXT);
    assertStorageValue(value, CONTEXT, key);
    assertConditional(options, CONTEXT, key);
    const body = toBytes(value);
    const ifVersion = options.ifVersion;
    if (!this.conditional && ifVersion !== undefined) await this.checkByRead(key, ifVersion, 'write');
    const conditions =
      !this.conditional || ifVersion === undefined ? {} : ifVersion === null ? { IfNoneMatch: '*' } : { IfMatch: ifVersion };
    try {
      const response = await this.connection.client.send(
        new PutObjectCommand({
          Bucket: this.connection.bucket,
          Key: this.objectKey(key),
          // A caller's own bytes are copied: the SDK may read the buffer after this call returns
          // (a string was already encoded into a fresh buffer).
          Body: typeof value === 'string' ? body : body.slice(),
          ContentLength: body.length,
          ContentType: 'application/octet-stream',
          ...conditions,
        }),
      );
      return requireEtag(response.ETag, key);
    } catch (error) {
      // S3 answers If-Match on a missing object with 404: the version did not hold either.
      if (isPreconditionFailure(error) || (ifVersion !== undefined && isNotFound(error))) {
        throw conflict(key, 'write', ifVersion, error);
      }
      throw s3BackendError(error, `${CONTEXT}: write failed for ${key}`, key);
    }
  }

  async delete(key: string, options: ConditionalOptions = {}): Promise<boolean> {
    assertValidKey(key, CONTEXT);
    assertConditional(options, CONTEXT, key);
    const ifVersion = options.ifVersion;
    if (ifVersion === null) {
      // "Only if absent": nothing to delete when absent, CONFLICT when present.
      if ((await this.head(key)) !== undefined) throw conflict(key, 'delete', null);
      return false;
    }
    if (ifVersion !== undefined) {
      if (!this.conditional) await this.checkByRead(key, ifVersion, 'delete');
      await this.deleteObject(key, this.conditional ? ifVersion : undefined, ifVersion);
      return true;
    }
    // Unconditional: S3 answers 204 whether or not the object existed, so learn its ETag first
    // and delete that version, retrying when it changes underneath, to report presence truthfully.
    for (let attempt = 0; ; attempt++) {
      const etag = await this.head(key);
      if (etag === undefined) return false;
      try {
        await this.deleteObject(key, this.conditional ? etag : undefined, etag);
        return true;
      } catch (error) {
        if (attempt >= 10 || !isDurableError(error, ErrorCode.CONFLICT)) throw error;
      }
    }
  }

  async exists(key: string): Promise<boolean> {
    assertValidKey(key, CONTEXT);
    return (await this.head(key)) !== undefined;
  }

  async list(prefix: string, options: ListOptions = {}): Promise<ListPage> {
    assertValidPrefix(prefix, CONTEXT);
    const limit = listLimit(options, CONTEXT);
    const keys: string[] = [];
    // The cursor is the last key of the previous page (StartAfter), like every other backend.
    const startAfter = options.cursor === undefined ? undefined : this.objectKey(options.cursor);
    let token: string | undefined;
    let more = true;
    try {
      while (keys.length < limit && more) {
        const response = await this.connection.client.send(
          new ListObjectsV2Command({
            Bucket: this.connection.bucket,
            Prefix: this.connection.prefix + prefix,
            MaxKeys: Math.min(S3_PAGE_MAX, limit - keys.length),
            ...(token === undefined ? (startAfter === undefined ? {} : { StartAfter: startAfter }) : { ContinuationToken: token }),
          }),
        );
        for (const object of response.Contents ?? []) {
          if (object.Key !== undefined) keys.push(object.Key.slice(this.connection.prefix.length));
        }
        token = response.NextContinuationToken;
        more = response.IsTruncated === true && token !== undefined;
      }
    } catch (error) {
      throw s3BackendError(error, `${CONTEXT}: list failed for prefix ${JSON.stringify(prefix)}`);
    }
    const last = keys[keys.length - 1];
    return more && last !== undefined ? { keys, cursor: last } : { keys };
  }

  /** Destroys the S3 client if this manager created it (never an injected one). */
  async close(): Promise<void> {
    if (this.connection.owned) this.connection.client.destroy();
  }

  private objectKey(key: string): string {
    return this.connection.prefix + key;
  }

  private async head(key: string): Promise<string | undefined> {
    try {
      const response = await this.connection.client.send(
        new HeadObjectCommand({ Bucket: this.connection.bucket, Key: this.objectKey(key) }),
      );
      return requireEtag(response.ETag, key);
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw s3BackendError(error, `${CONTEXT}: head failed for ${key}`, key);
    }
  }

  private async deleteObject(key: string, ifMatch: string | undefined, expected: string): Promise<void> {
    try {
      await this.connection.client.send(
        new DeleteObjectCommand({
          Bucket: this.connection.bucket,
          Key: this.objectKey(key),
          ...(ifMatch === undefined ? {} : { IfMatch: ifMatch }),
        }),
      );
    } catch (error) {
      if (isPreconditionFailure(error) || isNotFound(error)) throw conflict(key, 'delete', expected, error);
      throw s3BackendError(error, `${CONTEXT}: delete failed for ${key}`, key);
    }
  }

  // Without conditional writes: compare by a read first (not atomic; see `conditionalWrites`).
  private async checkByRead(key: string, ifVersion: string | null, operation: string): Promise<void> {
    const current = (await this.head(key)) ?? null;
    if (current !== ifVersion) throw conflict(key, operation, ifVersion);
  }
}

function requireEtag(etag: string | undefined, key: string): string {
  if (etag === undefined || etag === '') {
    throw new DurableError(ErrorCode.BACKEND, `${CONTEXT}: the store returned no ETag for ${key}`, { details: { key } });
  }
  return etag;
}

function conflict(key: string, operation: string, expected: string | null | undefined, cause?: unknown): DurableError {
  return new DurableError(
    ErrorCode.CONFLICT,
    `${CONTEXT}: ${operation} conflict for ${key}: the version is no longer ${expected === null ? '"absent"' : String(expected)}`,
    { ...(cause === undefined ? {} : { cause }), details: { key, expected } },
  );
}

/** Creates an {@link S3StorageManager}. */
export function createS3Storage(options: S3StorageOptions): S3StorageManager {
  return new S3StorageManager(options);
}
