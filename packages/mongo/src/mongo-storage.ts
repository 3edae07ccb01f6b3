import { Binary, ObjectId } from 'mongodb';
import type { Collection, Filter } from 'mongodb';
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
  assertStorageValue,
  conflictError,
  assertValidKey,
  assertValidPrefix,
  listLimit,
} from '@durable/core/adapter';
import type { MongoConnection, MongoConnectionOptions } from './connection.js';
import { resolveKeyPrefix, resolveMongoConnection } from './connection.js';
import {
  isAmbiguousWriteError,
  settleAmbiguousDelete,
  settleAmbiguousWrite,
} from './ambiguous-writes.js';
import { isDuplicateKey, mongoBackendError } from './mongo-errors.js';

/** One stored value: `{ _id: prefix + key, value, version }` (`prefix`, the option). */
export interface StorageDocument {
  _id: string;
  /** The bytes exactly as written (BSON binary, subtype 0). */
  value: Binary;
  /** Opaque version, new on every write. */
  version: string;
  /** Format of this document's shape. */
  format: number;
}

/** Options for {@link MongoStorageManager}. */
export interface MongoStorageOptions extends MongoConnectionOptions {
  /** Collection of the values. @default "durable_storage" */
  collection?: string;
  /** Prefix of every `_id` this manager writes, so several apps can share a collection. @default "" */
  prefix?: string;
}

const CONTEXT = 'mongo storage';
/** Format of the documents {@link MongoStorageManager} writes. */
export const STORAGE_DOCUMENT_FORMAT = 1;
const REGEX_SPECIAL = /[.*+?^${}()|[\]\\/-]/g;

/** The `_id` of a key. */
export function storageDocumentId(keyPrefix: string, key: string): string {
  return keyPrefix + key;
}

/**
 * The query of one `list` page: ids that start with `keyPrefix + prefix` (an anchored,
 * case-sensitive regex, which MongoDB answers from the `_id` index), after the cursor.
 */
export function listFilter(
  keyPrefix: string,
  prefix: string,
  cursor?: string,
): Filter<StorageDocument> {
  const pattern = `^${(keyPrefix + prefix).replace(REGEX_SPECIAL, '\\$&')}`;
  // An $and of two conditions rather than one { $regex, $gt } object: the same query and index
  // use for MongoDB, and mongo-java-server applies only the regex of the combined form.
  return cursor === undefined
    ? { _id: { $regex: pattern } }
    : {
        $and: [
          { _id: { $regex: pattern } },
          { _id: { $gt: storageDocumentId(keyPrefix, cursor) } },
        ],
      };
}

/** The stored bytes of a document's value, as a fresh Uint8Array. */
export function valueBytes(value: unknown): Uint8Array {
  if (value instanceof Binary) return new Uint8Array(value.value());
  if (value instanceof Uint8Array) return new Uint8Array(value);
  throw new DurableError(ErrorCode.BACKEND, `${CONTEXT}: a stored value is not binary`);
}

/**
 * A {@link StorageManager} on one MongoDB collection. Conditional create is an insert (the unique
 * `_id` refuses a second one: `CONFLICT`); conditional update and delete filter on the version, so
 * a stale writer matches nothing and changes nothing. Values are BSON binary, so any bytes round
 * trip; a document holds at most about 16 MB.
 */
export class MongoStorageManager implements StorageManager {
  readonly capabilities: StorageCapabilities = { conditionalWrite: true };
  private readonly connection: MongoConnection;
  private readonly keyPrefix: string;
  private readonly documents: Collection<StorageDocument>;

  constructor(options: MongoStorageOptions) {
    this.connection = resolveMongoConnection(
      options,
      options?.collection ?? 'durable_storage',
      CONTEXT,
      ['collection', 'prefix'],
    );
    this.keyPrefix = resolveKeyPrefix(options.prefix, CONTEXT);
    this.documents = this.connection.collection<StorageDocument>();
  }

  async read(key: string): Promise<StoredEntry | undefined> {
    assertValidKey(key, CONTEXT);
    let document: StorageDocument | null;
    try {
      await this.connection.ready();
      document = await this.documents.findOne({ _id: this.id(key) });
    } catch (error) {
      throw mongoBackendError(error, `${CONTEXT}: read failed for ${key}`, key);
    }
    return document === null
      ? undefined
      : { data: valueBytes(document.value), version: document.version };
  }

  async write(key: string, value: StorageValue, options: ConditionalOptions = {}): Promise<string> {
    assertValidKey(key, CONTEXT);
    assertStorageValue(value, CONTEXT, key);
    assertConditionalOptions(options, CONTEXT, key);
    // A copy (Uint8Array's slice, also for a Buffer, whose own slice is a view): the caller may
    // change its buffer while the request is still being sent.
    const bytes =
      typeof value === 'string'
        ? Buffer.from(value, 'utf8')
        : Uint8Array.prototype.slice.call(value);
    const version = new ObjectId().toHexString();
    const fields = { value: new Binary(bytes), version, format: STORAGE_DOCUMENT_FORMAT };
    const id = this.id(key);
    const { ifVersion } = options;
    try {
      await this.connection.ready();
      if (ifVersion === null) {
        await this.documents.insertOne({ _id: id, ...fields });
        return version;
      }
      if (typeof ifVersion === 'string') {
        const result = await this.documents.updateOne(
          { _id: id, version: ifVersion },
          { $set: fields },
        );
        if (result.matchedCount === 0) throw this.conflict(key, ifVersion);
        return version;
      }
      await this.upsert(id, fields);
      return version;
    } catch (error) {
      if (ifVersion === null && isDuplicateKey(error)) throw this.conflict(key, null);
      if (isAmbiguousWriteError(error)) {
        return settleAmbiguousWrite(this.documents, id, version, ifVersion !== undefined, error, {
          context: CONTEXT,
          key,
        });
      }
      throw mongoBackendError(error, `${CONTEXT}: write failed for ${key}`, key);
    }
  }

  async delete(key: string, options: ConditionalOptions = {}): Promise<boolean> {
    assertValidKey(key, CONTEXT);
    assertConditionalOptions(options, CONTEXT, key);
    const { ifVersion } = options;
    const id = this.id(key);
    try {
      await this.connection.ready();
      if (ifVersion === null) {
        // "Only if absent": there is nothing to delete when it holds; a present key is a conflict.
        if ((await this.documents.countDocuments({ _id: id }, { limit: 1 })) > 0)
          throw this.conflict(key, null, 'delete');
        return false;
      }
      const filter: Filter<StorageDocument> =
        typeof ifVersion === 'string' ? { _id: id, version: ifVersion } : { _id: id };
      const result = await this.documents.deleteOne(filter);
      if (result.deletedCount === 1) return true;
      if (typeof ifVersion === 'string') throw this.conflict(key, ifVersion, 'delete');
      return false;
    } catch (error) {
      if (typeof ifVersion === 'string' && isAmbiguousWriteError(error)) {
        return settleAmbiguousDelete(this.documents, id, error, { context: CONTEXT, key });
      }
      throw mongoBackendError(error, `${CONTEXT}: delete failed for ${key}`, key);
    }
  }

  async exists(key: string): Promise<boolean> {
    assertValidKey(key, CONTEXT);
    try {
      await this.connection.ready();
      return (await this.documents.countDocuments({ _id: this.id(key) }, { limit: 1 })) > 0;
    } catch (error) {
      throw mongoBackendError(error, `${CONTEXT}: exists failed for ${key}`, key);
    }
  }

  async list(prefix: string, options: ListOptions = {}): Promise<ListPage> {
    assertValidPrefix(prefix, CONTEXT);
    const limit = listLimit(options, CONTEXT);
    let ids: string[];
    try {
      await this.connection.ready();
      const documents = await this.documents
        .find(listFilter(this.keyPrefix, prefix, options.cursor), { projection: { _id: 1 } })
        .sort({ _id: 1 })
        .limit(limit + 1)
        .toArray();
      ids = documents.map((document) => document._id);
    } catch (error) {
      throw mongoBackendError(error, `${CONTEXT}: list failed for prefix ${prefix}`);
    }
    const keys = ids.slice(0, limit).map((id) => id.slice(this.keyPrefix.length));
    const last = keys[keys.length - 1];
    return ids.length > limit && last !== undefined ? { keys, cursor: last } : { keys };
  }

  /** Closes the client if this manager created it (never an injected one). */
  close(): Promise<void> {
    return this.connection.close();
  }

  private id(key: string): string {
    return storageDocumentId(this.keyPrefix, key);
  }

  private async upsert(id: string, fields: Omit<StorageDocument, '_id'>): Promise<void> {
    // Two concurrent upserts of a new _id can both try to insert; the loser sees E11000 and
    // retries as an update of the document the winner created.
    for (let attempt = 0; ; attempt++) {
      try {
        await this.documents.updateOne({ _id: id }, { $set: fields }, { upsert: true });
        return;
      } catch (error) {
        if (!isDuplicateKey(error) || attempt >= 3) throw error;
      }
    }
  }

  private conflict(
    key: string,
    expected: string | null,
    operation: 'write' | 'delete' = 'write',
  ): DurableError {
    return conflictError({ context: CONTEXT, operation, key, expected });
  }
}
