import { parseArgs } from 'node:util';
import { DurableError, ErrorCode } from '@durable/core';

/** The bin's flags, parsed (the Go sm-server's names, plus storage and CloudEvents flags). */
export interface FsmServerArgs {
  httpPort: number;
  grpcPort: number;
  events?: string;
  errors?: string;
  endpointUrl?: string;
  region?: string;
  local: boolean;
  maxRetries: number;
  timeoutMs?: number;
  debug: boolean;
  trace: boolean;
  /** Folder for the embedded default (`@durable/fs`). */
  data?: string;
  /** Redis URL (`@durable/redis-lock`'s RedisStorageManager). */
  redis?: string;
  /** Module whose default export (or `createStorage`) returns a StorageManager. */
  storageModule?: string;
  cloudEventsSink?: string;
  historyLimit?: number;
  bodyLimit?: number;
  /** SQS messages per receive and per batch delete (1-10). */
  sqsBatch?: number;
  help: boolean;
}

/** The usage text of the bin. */
export const USAGE = `Usage: durable-fsm-server [options]

Storage (one of):
  --data <dir>             local files with @durable/fs (the embedded default: ./.fsm-data)
  --redis <url>            Redis with @durable/redis-lock's RedisStorageManager
  --storage-module <file>  a module exporting createStorage() (or a default) that returns a StorageManager

Listeners and queues (the Go sm-server's flags):
  --http-port <n>          REST API port (default 7399; 0 = any free port)
  --grpc-port <n>          gRPC port (default 7398; 0 = any free port)
  --local                  listen on 127.0.0.1 only
  --events <queue>         SQS queue to consume events from (name or URL)
  --errors <queue>         SQS queue for error notifications (alias: --notifications)
  --endpoint-url <url>     SQS endpoint, for a local SQS such as fauxqs
  --region <region>        AWS region (default $AWS_REGION or us-east-1)
  --max-retries <n>        deliveries of a transiently failing message before it goes to --errors (default 3)
  --timeout <duration>     HTTP request timeout, e.g. 500ms, 5s (default none)
  --debug                  log HTTP requests
  --trace                  log every event applied or refused

Beyond the Go sm-server:
  --cloudevents-sink <url> POST notif.fsm.transitioned and sys.fsm.error CloudEvents here
  --history-limit <n>      keep at most n history entries per machine (default all)
  --body-limit <bytes>     largest HTTP body; larger ones get 413 (default 262144)
  --sqs-batch <n>          SQS messages per receive and per DeleteMessageBatch, 1-10 (default 10)
  --help                   this text
`;

function usageError(message: string): DurableError {
  return new DurableError(ErrorCode.CONFIG, `durable-fsm-server: ${message} (see --help)`);
}

function integer(value: string | undefined, flag: string, min: number): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < min || !Number.isSafeInteger(Number(value))) {
    throw usageError(`${flag} must be an integer >= ${min}, got ${JSON.stringify(value)}`);
  }
  return Number(value);
}

function sqsBatch(value: string): number {
  const n = integer(value, '--sqs-batch', 1) as number;
  if (n > 10) throw usageError(`--sqs-batch must be from 1 to 10, got ${n}`);
  return n;
}

function duration(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const match = /^(\d+)(ms|s|m)?$/.exec(value);
  if (match === null)
    throw usageError(
      `--timeout must be a duration like 500ms, 5s or 1m, got ${JSON.stringify(value)}`,
    );
  const unit = match[2] ?? 'ms';
  return Number(match[1]) * (unit === 'ms' ? 1 : unit === 's' ? 1000 : 60_000);
}

/**
 * Parses the bin's argv (without node and the script). Go-style single-dash long flags
 * (`-http-port 7399`, the Go sm-server's spelling) are accepted too. Bad flags throw `CONFIG` saying which.
 */
export function parseFsmServerArgs(argv: readonly string[]): FsmServerArgs {
  const normalised = argv.map((arg) => (/^-[a-z][a-z-]+(=.*)?$/.test(arg) ? `-${arg}` : arg));
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(normalised);
  } catch (error) {
    throw usageError(error instanceof Error ? error.message : String(error));
  }
  const v = parsed.values;
  const stores = [v.data, v.redis, v['storage-module']].filter((x) => x !== undefined);
  if (stores.length > 1) throw usageError('give only one of --data, --redis, --storage-module');
  const errors = v.errors ?? v.notifications;
  return {
    httpPort: integer(v['http-port'], '--http-port', 0) ?? 7399,
    grpcPort: integer(v['grpc-port'], '--grpc-port', 0) ?? 7398,
    ...(v.events === undefined ? {} : { events: v.events }),
    ...(errors === undefined ? {} : { errors }),
    ...(v['endpoint-url'] === undefined ? {} : { endpointUrl: v['endpoint-url'] }),
    ...(v.region === undefined ? {} : { region: v.region }),
    local: v.local === true,
    maxRetries: integer(v['max-retries'], '--max-retries', 1) ?? 3,
    ...(v.timeout === undefined ? {} : { timeoutMs: duration(v.timeout) as number }),
    debug: v.debug === true,
    trace: v.trace === true,
    ...(v.data === undefined ? {} : { data: v.data }),
    ...(v.redis === undefined ? {} : { redis: v.redis }),
    ...(v['storage-module'] === undefined ? {} : { storageModule: v['storage-module'] }),
    ...(v['cloudevents-sink'] === undefined ? {} : { cloudEventsSink: v['cloudevents-sink'] }),
    ...(v['history-limit'] === undefined
      ? {}
      : { historyLimit: integer(v['history-limit'], '--history-limit', 1) as number }),
    ...(v['body-limit'] === undefined
      ? {}
      : { bodyLimit: integer(v['body-limit'], '--body-limit', 1) as number }),
    ...(v['sqs-batch'] === undefined ? {} : { sqsBatch: sqsBatch(v['sqs-batch']) }),
    help: v.help === true,
  };
}

function parse(args: string[]) {
  const text = { type: 'string' } as const;
  const flag = { type: 'boolean' } as const;
  return parseArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      'http-port': text,
      'grpc-port': text,
      events: text,
      errors: text,
      notifications: text,
      'endpoint-url': text,
      region: text,
      local: flag,
      'max-retries': text,
      timeout: text,
      debug: flag,
      trace: flag,
      data: text,
      redis: text,
      'storage-module': text,
      'cloudevents-sink': text,
      'history-limit': text,
      'body-limit': text,
      'sqs-batch': text,
      help: { type: 'boolean', short: 'h' },
    },
  });
}
