import { Redis } from 'ioredis';
import type { Cluster, RedisOptions } from 'ioredis';
import { DurableError, ErrorCode } from '@durable/core';
import type { LuaScript } from './scripts.js';
import { isNoScript } from './redis-errors.js';

/** A connected ioredis client: a single server or a Cluster. */
export type RedisClient = Redis | Cluster;

/** How to reach one Redis server: an injected client, or a URL for a client the package creates. */
export interface RedisConnectionOptions {
  /** A ready ioredis client (Redis or Cluster); the package never closes it. */
  client?: RedisClient;
  /** `redis://[:password@]host:port[/db]` (or `rediss://`) for a client the package creates and closes. */
  url?: string;
  /**
   * Extra ioredis options for a client the package creates. @default { lazyConnect: true,
   * maxRetriesPerRequest: 1 } (so a command fails fast with `BACKEND` while the server is down
   * instead of queueing for many seconds)
   */
  redisOptions?: RedisOptions;
}

/** A resolved connection: the client and whether we own it. */
export interface RedisConnection {
  readonly client: RedisClient;
  readonly owned: boolean;
}

/** Validates the options at once (no I/O) and creates a lazily connecting client when none is injected. */
export function resolveConnection(
  options: RedisConnectionOptions,
  context: string,
): RedisConnection {
  if (typeof options !== 'object' || options === null) {
    throw new DurableError(ErrorCode.CONFIG, `${context}: options are required`);
  }
  if (options.client !== undefined) {
    if (
      typeof options.client !== 'object' ||
      options.client === null ||
      typeof (options.client as Redis).evalsha !== 'function'
    ) {
      throw new DurableError(
        ErrorCode.CONFIG,
        `${context}: client must be an ioredis Redis or Cluster instance`,
      );
    }
    return { client: options.client, owned: false };
  }
  if (typeof options.url !== 'string' || !/^rediss?:\/\//.test(options.url)) {
    throw new DurableError(
      ErrorCode.CONFIG,
      `${context}: pass a client or a redis:// url, got url ${JSON.stringify(options.url)}`,
    );
  }
  const redisOptions: RedisOptions = {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    ...options.redisOptions,
  };
  // ioredis 6 types its constructor by reply mapping, and RedisOptions' optional `replyMapping`
  // does not fit that overload under exactOptionalPropertyTypes; the value is a plain RedisOptions.
  const client: Redis = new Redis(options.url, redisOptions as never);
  // Failures reach callers as rejected commands; this only keeps ioredis from printing each
  // reconnect attempt as an "unhandled error event".
  client.on('error', () => undefined);
  return { client, owned: true };
}

/** A second connection to the same server(s), e.g. for SUBSCRIBE; the caller owns and closes it. */
export function duplicateClient(client: RedisClient): RedisClient {
  return (client as Cluster).isCluster === true
    ? (client as Cluster).duplicate()
    : (client as Redis).duplicate();
}

/** Closes a client we own: QUIT when connected (replies already sent still arrive), else disconnect. */
export async function closeClient(client: RedisClient): Promise<void> {
  if (client.status === 'end') return;
  const ended = new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 2000);
    client.once('end', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  let quit = false;
  if (client.status === 'ready') {
    // The server went away meanwhile when this fails: drop the connection below.
    quit = await client.quit().then(
      () => true,
      () => false,
    );
  }
  if (!quit) client.disconnect();
  await ended;
}

/** Runs a script by EVALSHA (one round trip), loading it with EVAL when the server lacks it. */
export function runScript(
  client: RedisClient,
  lua: LuaScript,
  keys: string[],
  args: Array<string | number>,
): Promise<unknown> {
  return client
    .evalsha(lua.sha, keys.length, ...keys, ...args)
    .catch((error: unknown) =>
      isNoScript(error)
        ? client.eval(lua.source, keys.length, ...keys, ...args)
        : Promise.reject(error),
    );
}
