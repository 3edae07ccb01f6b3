#!/usr/bin/env node
// The durable-fsm-server bin: parses the flags, opens the storage, starts the server, and stops
// it gracefully (SQS messages in progress are finished) on SIGINT / SIGTERM.
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { StorageManager } from '@durable/core';
import { DurableError, ErrorCode } from '@durable/core';
import type { FsmServerArgs } from './cli-args.js';
import { USAGE, parseFsmServerArgs } from './cli-args.js';
import { createFsmServer } from './server.js';

async function openStorage(args: FsmServerArgs): Promise<StorageManager> {
  if (args.redis !== undefined) {
    const redis = await importOptional<typeof import('@durable/redis-lock')>(
      '@durable/redis-lock',
      '--redis',
    );
    return new redis.RedisStorageManager({ url: args.redis });
  }
  if (args.storageModule !== undefined) {
    const module = (await import(pathToFileURL(resolve(args.storageModule)).href)) as {
      createStorage?: () => unknown;
      default?: unknown;
    };
    const factory = module.createStorage ?? module.default;
    const storage = (await (typeof factory === 'function'
      ? (factory as () => unknown)()
      : factory)) as StorageManager | undefined;
    if (storage === undefined || typeof storage.write !== 'function') {
      throw new DurableError(
        ErrorCode.CONFIG,
        `durable-fsm-server: ${args.storageModule} must export createStorage() (or a default) returning a StorageManager`,
      );
    }
    return storage;
  }
  const fs = await importOptional<typeof import('@durable/fs')>('@durable/fs', '--data');
  return new fs.LocalFileStorageManager({ root: resolve(args.data ?? '.fsm-data') });
}

async function importOptional<T>(name: string, flag: string): Promise<T> {
  try {
    return (await import(name)) as T;
  } catch (error) {
    throw new DurableError(
      ErrorCode.CONFIG,
      `durable-fsm-server: ${flag} needs ${name}: npm install ${name}`,
      { cause: error },
    );
  }
}

async function main(): Promise<void> {
  const args = parseFsmServerArgs(process.argv.slice(2));
  if (args.help) {
    process.stdout.write(USAGE);
    return;
  }
  const storage = await openStorage(args);
  const queues = args.events !== undefined || args.errors !== undefined;
  const server = createFsmServer({
    storage,
    httpPort: args.httpPort,
    grpcPort: args.grpcPort,
    local: args.local,
    debug: args.debug,
    trace: args.trace,
    ...(queues
      ? {
          sqs: {
            ...(args.events === undefined ? {} : { eventsQueue: args.events }),
            ...(args.errors === undefined ? {} : { errorsQueue: args.errors }),
            ...(args.endpointUrl === undefined ? {} : { endpoint: args.endpointUrl }),
            ...(args.region === undefined ? {} : { region: args.region }),
            maxRetries: args.maxRetries,
            ...(args.sqsBatch === undefined ? {} : { batchSize: args.sqsBatch }),
          },
        }
      : {}),
    ...(args.cloudEventsSink === undefined ? {} : { cloudEventsSink: args.cloudEventsSink }),
    ...(args.historyLimit === undefined ? {} : { historyLimit: args.historyLimit }),
    ...(args.bodyLimit === undefined ? {} : { bodyLimit: args.bodyLimit }),
    ...(args.timeoutMs === undefined ? {} : { requestTimeoutMs: args.timeoutMs }),
  });
  const where = await server.start();
  // One JSON line first, for scripts and tests that start the bin.
  process.stdout.write(`${JSON.stringify({ listening: where, pid: process.pid })}\n`);
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    server
      .stop()
      .then(() => storage.close?.())
      .then(
        () => process.exit(0),
        (error: unknown) => {
          console.error(error);
          process.exit(1);
        },
      );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(2);
});
