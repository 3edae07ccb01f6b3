import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import type { PutObjectCommandOutput } from '@aws-sdk/client-s3';
import type {
  ConditionalOptions,
  ListOptions,
  ListPage,
  StorageCapabilities,
  StorageManager,
  StoredEntry,
  StorageValue,
} from '@durable/core';
import { randomUUID } from 'node:crypto';
import { DurableError, ErrorCode, isDurableError } from '@durable/core';
import {
  assertConditionalOptions,
  conflictError,
  assertStorageValue,
  assertValidPrefix,
  listLimit,
  mayHaveBeenApplied,
  toBytes,
  wasRetried,
} from '@durable/core/adapter';
import type { S3Connection, S3ConnectionOptions } from './connection.js';
import { objectKeyFor, resolveConnection } from './connection.js';
import {
  httpStatus,
  isConcurrentConditionalWrite,
  isNotFound,
  isPreconditionFailure,
  s3BackendError,
} from './s3-errors.js';
import type { ConflictRetry, ConflictRetryOptions, ConflictTally } from './conflict-retry.js';
import { resolveConflictRetry, sendRetrying409 } from './conflict-retry.js';
import type { ObservedObject } from './write-outcome.js';
import {
  CONDITION_META,
  PREVIOUS_META,
  SeenWrites,
  WRITE_ID_META,
  conditionMark,
  settleOutcome,
} from './write-outcome.js';

/** Options for {@link S3StorageManager}. */
export interface S3StorageOptions extends S3ConnectionOptions {
  /**
   * Use S3's conditional writes (`If-None-Match: *`, `If-Match: <etag>`). Set `false` only for
   * S3-compatible stores that lack them: `ifVersion` is then checked by a read before the write,
   * which is NOT atomic, so pair the storage with a lock (`LockableStorageManager`). @default true
   */
  conditionalWrites?: boolean;
  /**
   * How a conditional write or delete that S3 answered `409 ConditionalRequestConflict` (another
   * conditional write on the key was in progress; nothing was applied) is sent again, unchanged,
   * before it is reported as `CONFLICT`. @default { maxAttempts: 4, baseMs: 20, maxMs: 500 }
   */
  conflictRetry?: ConflictRetryOptions;
}

const CONTEXT = 's3 storage';
/** ListObjectsV2 returns at most 1000 keys per call. */
const S3_PAGE_MAX = 1000;

/**
 * {@link StorageManager} on S3: one object per key under `prefix`, versions are ETags,
 * conditional create/update/delete are enforced by S3 itself (412 becomes `CONFLICT`). A
 * conditional write whose reply was lost (the SDK retried it, or the connection broke) is settled
 * by reading the object's write id back: applied, `CONFLICT`, or `UNKNOWN_OUTCOME` when S3 cannot
 * tell (see write-outcome.ts).
 */
export class S3StorageManager implements StorageManager {
  readonly capabilities: StorageCapabilities;
  private readonly connection: S3Connection;
  private readonly conditional: boolean;
  private readonly conflictRetry: ConflictRetry;
  private readonly seenWrites = new SeenWrites();

  constructor(options: S3StorageOptions) {
    this.connection = resolveConnection(options, CONTEXT, '', [
      'conditionalWrites',
      'conflictRetry',
    ]);
    this.conditional = options.conditionalWrites ?? true;
    this.conflictRetry = resolveConflictRetry(options.conflictRetry, CONTEXT);
    this.capabilities = { conditionalWrite: this.conditional };
  }

  /** The bucket this manager writes to. */
  get bucket(): string {
    return this.connection.bucket;
  }

  async read(key: string): Promise<StoredEntry | undefined> {
    const objectKey = this.objectKey(key);
    try {
      const response = await this.connection.client.send(
        new GetObjectCommand({ Bucket: this.connection.bucket, Key: objectKey }),
      );
      const data =
        response.Body === undefined
          ? new Uint8Array(0)
          : await response.Body.transformToByteArray();
      const version = requireEtag(response.ETag, key);
      this.seenWrites.note(key, version, response.Metadata?.[WRITE_ID_META]);
      return { data, version };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw s3BackendError(error, `${CONTEXT}: read failed for ${key}`, key);
    }
  }

  async write(key: string, value: StorageValue, options?: ConditionalOptions): Promise<string> {
    const objectKey = this.objectKey(key);
    assertStorageValue(value, CONTEXT, key);
    assertConditionalOptions(options, CONTEXT, key);
    const body = toBytes(value);
    const ifVersion = options?.ifVersion;
    if (!this.conditional && ifVersion !== undefined)
      await this.checkByRead(key, ifVersion, 'write');
    const conditional = this.conditional && ifVersion !== undefined;
    const conditions = !conditional
      ? {}
      : ifVersion === null
        ? { IfNoneMatch: '*' }
        : { IfMatch: ifVersion };
    const writeId = randomUUID();
    const previous =
      typeof ifVersion === 'string' ? this.seenWrites.writeIdOf(key, ifVersion) : undefined;
    const metadata = {
      [WRITE_ID_META]: writeId,
      [CONDITION_META]: conditionMark(conditional ? ifVersion : undefined),
      ...(previous === undefined ? {} : { [PREVIOUS_META]: previous }),
    };
    const put = (): Promise<PutObjectCommandOutput> =>
      this.connection.client.send(
        new PutObjectCommand({
          Bucket: this.connection.bucket,
          Key: objectKey,
          // A caller's own bytes are copied: the SDK may read the buffer after this call returns
          // (a string was already encoded into a fresh buffer).
          Body: typeof value === 'string' ? body : body.slice(),
          ContentLength: body.length,
          ContentType: 'application/octet-stream',
          Metadata: metadata,
          ...conditions,
        }),
      );
    // Every attempt carries the same write id: a 409 applied nothing, so whichever attempt lands
    // is this call's one write, and a lost reply on any of them is settled by that id.
    const tally: ConflictTally = { conflicts: 0 };
    try {
      const response = conditional
        ? await sendRetrying409(this.conflictRetry, tally, put)
        : await put();
      const version = requireEtag(response.ETag, key);
      this.seenWrites.note(key, version, writeId);
      return version;
    } catch (error) {
      // S3 answers If-Match on a missing object with 404: the version did not hold either.
      const failed = conditional && (isPreconditionFailure(error) || isNotFound(error));
      if (failed && !wasRetried(error)) throw conflict(key, 'write', ifVersion, error, tally);
      if (!failed && !mayHaveBeenApplied(error))
        throw s3BackendError(error, `${CONTEXT}: write failed for ${key}`, key);
      return this.settleWrite(key, writeId, conditional ? ifVersion : undefined, error);
    }
  }

  async delete(key: string, options?: ConditionalOptions): Promise<boolean> {
    this.objectKey(key);
    assertConditionalOptions(options, CONTEXT, key);
    const ifVersion = options?.ifVersion;
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
        // Gone after a lost reply: we deleted it, or another deleter did; either way it existed.
        if (
          isDurableError(error, ErrorCode.UNKNOWN_OUTCOME) &&
          (error.details as { gone?: boolean }).gone === true
        )
          return true;
        if (attempt >= 10 || !isDurableError(error, ErrorCode.CONFLICT)) throw error;
      }
    }
  }

  async exists(key: string): Promise<boolean> {
    this.objectKey(key);
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
            ...(token === undefined
              ? startAfter === undefined
                ? {}
                : { StartAfter: startAfter }
              : { ContinuationToken: token }),
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
  close(): Promise<void> {
    if (this.connection.owned) this.connection.client.destroy();
    return Promise.resolve();
  }

  private objectKey(key: string): string {
    return objectKeyFor(this.connection, key, CONTEXT);
  }

  private async head(key: string): Promise<string | undefined> {
    return (await this.observe(key))?.etag;
  }

  /** HeadObject: the ETag and our write metadata, or undefined when there is no object. */
  private async observe(key: string): Promise<ObservedObject | undefined> {
    try {
      const response = await this.connection.client.send(
        new HeadObjectCommand({ Bucket: this.connection.bucket, Key: this.objectKey(key) }),
      );
      const metadata = response.Metadata ?? {};
      return {
        etag: requireEtag(response.ETag, key),
        writeId: metadata[WRITE_ID_META],
        condition: metadata[CONDITION_META],
        previous: metadata[PREVIOUS_META],
      };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw s3BackendError(error, `${CONTEXT}: head failed for ${key}`, key);
    }
  }

  /**
   * After a write whose outcome is unknown (`error`): reads the object back and returns its
   * version when our write id is there; otherwise CONFLICT when another write provably consumed
   * our precondition, a retryable BACKEND error for an unconditional write (a blind retry is
   * safe), and UNKNOWN_OUTCOME for a conditional one.
   */
  private async settleWrite(
    key: string,
    writeId: string,
    ifVersion: string | null | undefined,
    error: unknown,
  ): Promise<string> {
    const current = await this.observeAfter(key, 'write', error);
    if (ifVersion === undefined) {
      if (current?.writeId === writeId) return current.etag;
      throw s3BackendError(error, `${CONTEXT}: write failed for ${key}`, key);
    }
    const outcome = settleOutcome(current, writeId, ifVersion);
    if (outcome.kind === 'applied') return outcome.version;
    if (outcome.kind === 'conflict')
      throw conflict(key, 'write', ifVersion, error, undefined, outcome.reason);
    throw unknownOutcome(key, 'write', outcome.reason, error, {
      writeId,
      gone: current === undefined,
    });
  }

  private async observeAfter(
    key: string,
    operation: string,
    error: unknown,
  ): Promise<ObservedObject | undefined> {
    try {
      return await this.observe(key);
    } catch (readError) {
      throw unknownOutcome(
        key,
        operation,
        `its reply was lost and reading the object back failed too (${
          (readError as Error).message
        })`,
        error,
        {},
      );
    }
  }

  private async deleteObject(
    key: string,
    ifMatch: string | undefined,
    expected: string,
  ): Promise<void> {
    let failure: unknown;
    const remove = (): Promise<unknown> =>
      this.connection.client.send(
        new DeleteObjectCommand({
          Bucket: this.connection.bucket,
          Key: this.objectKey(key),
          ...(ifMatch === undefined ? {} : { IfMatch: ifMatch }),
        }),
      );
    const tally: ConflictTally = { conflicts: 0 };
    try {
      await (ifMatch === undefined ? remove() : sendRetrying409(this.conflictRetry, tally, remove));
      return;
    } catch (error) {
      const failed = isPreconditionFailure(error) || isNotFound(error);
      if (failed && !wasRetried(error)) throw conflict(key, 'delete', expected, error, tally);
      if (!failed && !mayHaveBeenApplied(error))
        throw s3BackendError(error, `${CONTEXT}: delete failed for ${key}`, key);
      failure = error;
    }
    // A retried delete answered 412/404, or a lost reply: find out what is there now.
    const current = await this.observeAfter(key, 'delete', failure);
    const outcome = settleOutcome(current, undefined, expected);
    if (outcome.kind === 'conflict')
      throw conflict(key, 'delete', expected, failure, undefined, outcome.reason);
    const reason = outcome.kind === 'unknown' ? outcome.reason : 'the object changed';
    throw unknownOutcome(key, 'delete', reason, failure, { gone: current === undefined });
  }

  // Without conditional writes: compare by a read first (not atomic; see `conditionalWrites`).
  private async checkByRead(
    key: string,
    ifVersion: string | null,
    operation: 'write' | 'delete',
  ): Promise<void> {
    const current = (await this.head(key)) ?? null;
    if (current !== ifVersion)
      throw conflictError({
        context: CONTEXT,
        operation,
        key,
        expected: ifVersion,
        actual: current,
      });
  }
}

function requireEtag(etag: string | undefined, key: string): string {
  if (etag === undefined || etag === '') {
    throw new DurableError(ErrorCode.BACKEND, `${CONTEXT}: the store returned no ETag for ${key}`, {
      details: { key },
    });
  }
  return etag;
}

function conflict(
  key: string,
  operation: 'write' | 'delete',
  expected: string | null,
  cause?: unknown,
  tally?: ConflictTally,
  reason?: string,
): DurableError {
  // S3's 409 ConditionalRequestConflict on the last attempt: another conditional write on the key
  // was in progress every time, and S3 applied none of ours. Like every CONFLICT it is not
  // retryable as is (it was, `conflictRetry.maxAttempts` times): read the key again and decide.
  const concurrent =
    cause !== undefined && reason === undefined && isConcurrentConditionalWrite(cause);
  const conflicts = tally?.conflicts ?? 0;
  const why =
    reason ??
    (concurrent
      ? `S3 409 ConditionalRequestConflict: another conditional write on it was in progress, on all ${conflicts} attempt(s)`
      : conflicts > 0
        ? `it was answered S3 409 ConditionalRequestConflict ${conflicts} time(s) first, then the condition failed`
        : undefined);
  const base = conflictError({
    context: CONTEXT,
    operation,
    key,
    expected,
    ...(why === undefined ? {} : { reason: why }),
    ...(cause === undefined ? {} : { cause }),
  });
  if (conflicts === 0) return base;
  // Core's one CONFLICT shape, with what S3 said: how many 409s, and that none wrote anything.
  return new DurableError(base.code, base.message, {
    cause,
    retryable: false,
    details: {
      ...base.details,
      ...(httpStatus(cause) === undefined ? {} : { s3Status: httpStatus(cause) }),
      s3ConflictAnswers: conflicts,
      written: false,
    },
  });
}

function unknownOutcome(
  key: string,
  operation: string,
  reason: string,
  cause: unknown,
  details: Record<string, unknown>,
): DurableError {
  return new DurableError(
    ErrorCode.UNKNOWN_OUTCOME,
    `${CONTEXT}: ${operation} of ${key} may or may not have been applied: ${reason}; read the key again before deciding`,
    { cause, details: { key, ...details } },
  );
}
