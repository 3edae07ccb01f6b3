import { randomBytes } from 'node:crypto';
import type {
  ConditionalOptions,
  ListOptions,
  ListPage,
  StorageCapabilities,
  StorageManager,
  StoredEntry,
  StorageValue,
} from '@durable/core';
import { DurableError, ErrorCode } from '@durable/core';
import {
  assertConditionalOptions,
  assertStorageValue,
  assertValidKey,
  assertValidPrefix,
  checkOptions,
  conflictError,
  listLimit,
  toBytes,
} from '@durable/core/adapter';
import type { RedisConnection, RedisConnectionOptions } from './connection.js';
import { closeClient, resolveConnection, runScript } from './connection.js';
import { redisBackendError } from './redis-errors.js';
import { resolvePrefix } from './redis-keys.js';
import { STORAGE_DELETE, STORAGE_WRITE } from './storage-scripts.js';
import { RedisWatches } from './storage-watch.js';

/** Options for {@link RedisStorageManager}. */
export interface RedisStorageOptions extends RedisConnectionOptions {
  /** Prefix of every key the manager writes (no `{` or `}`). @default "durable:storage:" */
  prefix?: string;
}

/** Default prefix of every key a Redis storage manager writes. */
export const DEFAULT_REDIS_STORAGE_PREFIX = 'durable:storage:';

const CONTEXT = 'redis-storage';

/** The Redis keys of one storage namespace; one hash tag, so a Cluster keeps them in one slot. */
interface StorageKeyNames {
  readonly index: string;
  readonly sequence: string;
  readonly valuePrefix: string;
  readonly watches: string;
  readonly channelPrefix: string;
}

/**
 * A {@link StorageManager} on Redis. Each value is a hash `{ d: bytes, v: version, w: writer }`;
 * writes and deletes are Lua compare-and-swap scripts on `v`, so `ifVersion` is enforced
 * atomically by the server. Versions come from one counter per namespace, so a version never
 * names two values, also across delete and re-create. A sorted set (all scores 0) indexes the
 * keys, so `list` is a `ZRANGEBYLEX` in the byte order of their UTF-8.
 *
 * Every key of one manager carries the same hash tag (`{storage}`): on a Redis Cluster a
 * namespace lives in one slot (correct, not sharded). Data lives as long as the Redis server
 * keeps it: run Redis with persistence (AOF `appendfsync always` for no loss on a crash).
 */
export class RedisStorageManager implements StorageManager {
  readonly capabilities: StorageCapabilities = { conditionalWrite: true, watch: true };
  private readonly connection: RedisConnection;
  private readonly keys: StorageKeyNames;
  private readonly watches: RedisWatches;

  constructor(options: RedisStorageOptions) {
    checkOptions(options, CONTEXT, {
      known: ['client', 'url', 'redisOptions', 'prefix'],
      renamed: { keyPrefix: 'prefix', redis: 'client', redisClient: 'client' },
    });
    this.connection = resolveConnection(options, CONTEXT);
    const prefix = resolvePrefix(options.prefix ?? DEFAULT_REDIS_STORAGE_PREFIX, CONTEXT);
    this.keys = {
      index: `${prefix}{storage}:i`,
      sequence: `${prefix}{storage}:s`,
      valuePrefix: `${prefix}{storage}:d:`,
      watches: `${prefix}{storage}:w`,
      channelPrefix: `${prefix}{storage}:c:`,
    };
    this.watches = new RedisWatches(this.connection.client, this.keys, CONTEXT);
  }

  async read(key: string): Promise<StoredEntry | undefined> {
    assertValidKey(key, CONTEXT);
    let reply: Array<Buffer | null>;
    try {
      reply = await this.connection.client.hmgetBuffer(this.keys.valuePrefix + key, 'd', 'v');
    } catch (error) {
      throw redisBackendError(error, `${CONTEXT}: read failed for ${key}`, key);
    }
    const [data, version] = reply;
    if (data === null || data === undefined || version === null || version === undefined)
      return undefined;
    return {
      data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice(),
      version: version.toString('utf8'),
    };
  }

  async write(key: string, value: StorageValue, options: ConditionalOptions = {}): Promise<string> {
    assertValidKey(key, CONTEXT);
    assertStorageValue(value, CONTEXT, key);
    assertConditionalOptions(options, CONTEXT, key);
    const [mode, expected] = condition(options);
    // The writer id makes a resent script (ioredis resends unanswered commands after a
    // reconnect) report its own earlier success instead of a CONFLICT with itself.
    const writer = randomBytes(12).toString('hex');
    const bytes = toBytes(value);
    let reply: unknown;
    try {
      reply = await runScript(
        this.connection.client,
        STORAGE_WRITE,
        [this.keys.valuePrefix + key, this.keys.index, this.keys.sequence, this.keys.watches],
        [
          mode,
          expected,
          Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) as never,
          key,
          writer,
          this.keys.channelPrefix,
        ],
      );
    } catch (error) {
      throw redisBackendError(error, `${CONTEXT}: write failed for ${key}`, key);
    }
    const [ok, version] = parseReply(reply, key, 'write');
    if (ok !== 1) throw conflict(key, 'write', options.ifVersion, version);
    this.watches.changed(key);
    return version;
  }

  async delete(key: string, options: ConditionalOptions = {}): Promise<boolean> {
    assertValidKey(key, CONTEXT);
    assertConditionalOptions(options, CONTEXT, key);
    const [mode, expected] = condition(options);
    let reply: unknown;
    try {
      reply = await runScript(
        this.connection.client,
        STORAGE_DELETE,
        [this.keys.valuePrefix + key, this.keys.index],
        [mode, expected, key],
      );
    } catch (error) {
      throw redisBackendError(error, `${CONTEXT}: delete failed for ${key}`, key);
    }
    const [outcome, version] = parseReply(reply, key, 'delete');
    if (outcome === 0) throw conflict(key, 'delete', options.ifVersion, version);
    return outcome === 1;
  }

  async exists(key: string): Promise<boolean> {
    assertValidKey(key, CONTEXT);
    try {
      return (await this.connection.client.hexists(this.keys.valuePrefix + key, 'v')) === 1;
    } catch (error) {
      throw redisBackendError(error, `${CONTEXT}: exists failed for ${key}`, key);
    }
  }

  async list(prefix: string, options: ListOptions = {}): Promise<ListPage> {
    assertValidPrefix(prefix, CONTEXT);
    const limit = listLimit(options, CONTEXT);
    // ZRANGEBYLEX compares members with memcmp: the byte order of their UTF-8, as the contract asks.
    const start =
      options.cursor !== undefined ? `(${options.cursor}` : prefix === '' ? '-' : `[${prefix}`;
    let members: string[];
    try {
      members = await this.connection.client.zrangebylex(
        this.keys.index,
        start,
        '+',
        'LIMIT',
        0,
        limit + 1,
      );
    } catch (error) {
      throw redisBackendError(
        error,
        `${CONTEXT}: list failed for prefix ${JSON.stringify(prefix)}`,
      );
    }
    const keys: string[] = [];
    for (const member of members) {
      if (!member.startsWith(prefix)) break;
      keys.push(member);
    }
    if (keys.length > limit) {
      keys.length = limit;
      return { keys, cursor: keys[limit - 1] as string };
    }
    return { keys };
  }

  /**
   * Calls `listener` soon after a write under `prefix` commits, by this manager or another one on
   * the same prefix and server (PUBLISH/SUBSCRIBE; see {@link StorageManager.watch} for what it
   * promises).
   */
  watch(prefix: string, listener: () => void): () => void {
    return this.watches.watch(prefix, listener);
  }

  /** Closes the watch's own connection, and the client when the manager created it (an injected one is left open). */
  async close(): Promise<void> {
    await this.watches.close();
    if (this.connection.owned) await closeClient(this.connection.client);
  }
}

function condition(options: ConditionalOptions): [string, string] {
  if (options.ifVersion === undefined) return ['any', ''];
  if (options.ifVersion === null) return ['absent', ''];
  return ['match', options.ifVersion];
}

function parseReply(reply: unknown, key: string, operation: string): [number, string] {
  if (Array.isArray(reply) && typeof reply[0] === 'number') {
    // The version is a string (or "" for none); Redis may send it as a bulk string or a number.
    const detail: unknown = reply[1];
    const version =
      typeof detail === 'string' || typeof detail === 'number'
        ? String(detail)
        : Buffer.isBuffer(detail)
          ? detail.toString('utf8')
          : '';
    return [reply[0], version];
  }
  throw new DurableError(
    ErrorCode.BACKEND,
    `${CONTEXT}: ${operation} for ${key} got an unexpected reply ${String(reply)}`,
    {
      details: { key },
    },
  );
}

function conflict(
  key: string,
  operation: 'write' | 'delete',
  expected: string | null | undefined,
  actual: string,
): DurableError {
  return conflictError({
    context: CONTEXT,
    operation,
    key,
    expected: expected ?? null,
    actual: actual === '' ? null : actual,
  });
}
