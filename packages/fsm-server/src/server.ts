import { GetQueueUrlCommand, SQSClient } from '@aws-sdk/client-sqs';
import Fastify from 'fastify';
import type { FastifyInstance } from 'fastify';
import type { Server as GrpcServer } from '@grpc/grpc-js';
import type { StorageManager } from '@durable/core';
import { DurableError, ErrorCode } from '@durable/core';
import { checkOptions, toBackendError } from '@durable/core/adapter';
import { FsmService } from './fsm-service.js';
import { Notifier } from './notifier.js';
import { registerRoutes } from './rest.js';
import { startGrpcServer } from './grpc.js';
import { SqsConsumer } from './sqs-consumer.js';

/** The package version, reported by `/health` and the OpenAPI document. */
export const FSM_SERVER_VERSION = '0.1.0';

/** A pino-shaped logger (pino itself, or `console`). */
export interface FsmLogger {
  info(object: unknown, message?: string): void;
  warn(object: unknown, message?: string): void;
  error(object: unknown, message?: string): void;
  debug?(object: unknown, message?: string): void;
}

/** SQS settings of {@link FsmServerOptions}. */
export interface FsmSqsOptions {
  /** An SQS client; the server never destroys one it did not create. @default a client for `endpoint` / `region` */
  client?: SQSClient;
  /** SQS endpoint URL (a local SQS such as fauxqs). @default AWS's */
  endpoint?: string;
  /** @default process.env.AWS_REGION ?? "us-east-1" */
  region?: string;
  /** Name (or URL) of the queue to consume events from. */
  eventsQueue?: string;
  /** Name (or URL) of the queue that receives error notifications. */
  errorsQueue?: string;
  /** Deliveries of a transiently failing message before it goes to the errors queue. @default 3 */
  maxRetries?: number;
  /** Messages processed at once. @default 20 (two batches of 10) */
  concurrency?: number;
  /** Long-poll wait in seconds. @default 20 */
  waitTimeSeconds?: number;
  /** Seconds a transiently failed message stays hidden. @default 1 */
  retryDelaySeconds?: number;
  /** Messages per ReceiveMessage and per DeleteMessageBatch (1-10; 1 = unbatched). @default 10 */
  batchSize?: number;
}

/** Options for {@link createFsmServer}. */
export interface FsmServerOptions {
  /** Where configurations and machines live: any storage with conditional writes. */
  storage: StorageManager;
  /** HTTP port (REST, OpenAPI, POST /events); 0 picks a free one; `false` disables REST. @default 7399 */
  httpPort?: number | false;
  /** gRPC port; 0 picks a free one; `false` disables gRPC. @default 7398 */
  grpcPort?: number | false;
  /** Listen on 127.0.0.1 only (the Go sm-server's `--local`). @default false (all interfaces) */
  local?: boolean;
  /** SQS consumer and errors queue. */
  sqs?: FsmSqsOptions;
  /** URL receiving `notif.fsm.transitioned` and `sys.fsm.error` CloudEvents. */
  cloudEventsSink?: string;
  /** Largest HTTP body in bytes; larger ones get 413. @default 262144 */
  bodyLimit?: number;
  /** HTTP request timeout in ms (the Go sm-server's `--timeout`). @default 0 (none) */
  requestTimeoutMs?: number;
  /** Keep at most this many history entries per machine. @default unlimited */
  historyLimit?: number;
  /** Ids of this many dropped history entries still count as duplicates. @default 1000 */
  dedupWindow?: number;
  /** First key segment of everything stored. @default "fsm" */
  prefix?: string;
  /** Logger for failures that are not a caller's (a notification not published, a receive failed). @default console */
  logger?: FsmLogger;
  /** Log every event applied or refused (the Go sm-server's `--trace`). @default false */
  trace?: boolean;
  /** Log HTTP requests (the Go sm-server's `--debug`). @default false */
  debug?: boolean;
}

/** A running (or startable) fsm server. */
export interface FsmServer {
  /** The state-machine service itself (for embedding without a network). */
  readonly service: FsmService;
  /** Starts the listeners and the SQS consumer; resolves with where they listen. */
  start(): Promise<{ httpUrl?: string; grpcAddress?: string }>;
  /** Stops the SQS consumer (finishing the messages in progress), then gRPC and HTTP. */
  stop(): Promise<void>;
  /** The SQS consumer, when an events queue is configured (its `stats` count outcomes). */
  readonly consumer: SqsConsumer | undefined;
}

const CONTEXT = 'fsm-server';
const KNOWN = [
  'storage',
  'httpPort',
  'grpcPort',
  'local',
  'sqs',
  'cloudEventsSink',
  'bodyLimit',
  'requestTimeoutMs',
  'historyLimit',
  'dedupWindow',
  'prefix',
  'logger',
  'trace',
  'debug',
];

/**
 * Creates the fsm server: REST (Fastify) and gRPC over one {@link FsmService}, an SQS consumer
 * when `sqs.eventsQueue` is set, and notifications to the errors queue and a CloudEvents sink.
 * Options are checked at once; nothing listens until `start()`.
 */
export function createFsmServer(options: FsmServerOptions): FsmServer {
  checkOptions(options, CONTEXT, {
    known: KNOWN,
    required: ['storage'],
    renamed: {
      redis: 'storage: new RedisStorageManager({ url })',
      keyPrefix: 'prefix',
      notifications: 'sqs.errorsQueue',
      events: 'sqs.eventsQueue',
    },
  });
  const service = new FsmService({
    storage: options.storage,
    ...(options.historyLimit === undefined ? {} : { historyLimit: options.historyLimit }),
    ...(options.dedupWindow === undefined ? {} : { dedupWindow: options.dedupWindow }),
    ...(options.prefix === undefined ? {} : { prefix: options.prefix }),
  });
  const logger: FsmLogger = options.logger ?? console;
  const onError = (error: unknown, context: string): void =>
    logger.error({ err: error }, `${CONTEXT}: ${context}`);
  const host = options.local === true ? '127.0.0.1' : '0.0.0.0';
  const bodyLimit = options.bodyLimit ?? 262_144;
  if (!Number.isInteger(bodyLimit) || bodyLimit < 1)
    throw new DurableError(ErrorCode.CONFIG, `${CONTEXT}: bodyLimit must be a positive integer`);
  const sqs = options.sqs;
  let sqsClient: SQSClient | undefined;
  if (sqs !== undefined && (sqs.eventsQueue !== undefined || sqs.errorsQueue !== undefined)) {
    sqsClient = sqs.client ?? createSqsClient(sqs);
  }
  const ownsSqsClient = sqs?.client === undefined && sqsClient !== undefined;

  let app: FastifyInstance | undefined;
  let grpcServer: GrpcServer | undefined;
  let consumer: SqsConsumer | undefined;
  let notifier = new Notifier({
    ...(options.cloudEventsSink === undefined ? {} : { cloudEventsSink: options.cloudEventsSink }),
  });

  const server: FsmServer = {
    service,
    get consumer() {
      return consumer;
    },
    async start() {
      if (sqsClient !== undefined && sqs?.errorsQueue !== undefined) {
        notifier = new Notifier({
          errorsQueue: { client: sqsClient, queueUrl: await queueUrl(sqsClient, sqs.errorsQueue) },
          ...(options.cloudEventsSink === undefined
            ? {}
            : { cloudEventsSink: options.cloudEventsSink }),
        });
      }
      const traced = options.trace === true ? tracingService(service, logger) : service;
      const result: { httpUrl?: string; grpcAddress?: string } = {};
      if (options.httpPort !== false) {
        app = Fastify({
          bodyLimit,
          routerOptions: { maxParamLength: 512 },
          logger: options.debug === true,
          ...(options.requestTimeoutMs === undefined
            ? {}
            : { requestTimeout: options.requestTimeoutMs }),
          ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
        });
        registerRoutes(app, { service: traced, notifier, version: FSM_SERVER_VERSION, onError });
        const address = await app.listen({ host, port: options.httpPort ?? 7399 });
        result.httpUrl = address.replace('0.0.0.0', '127.0.0.1');
      }
      if (options.grpcPort !== false) {
        const started = await startGrpcServer(
          { service: traced, notifier, onError },
          host,
          options.grpcPort ?? 7398,
        );
        grpcServer = started.server;
        result.grpcAddress = `${host === '0.0.0.0' ? '127.0.0.1' : host}:${started.port}`;
      }
      if (sqsClient !== undefined && sqs?.eventsQueue !== undefined) {
        consumer = new SqsConsumer({
          client: sqsClient,
          queueUrl: await queueUrl(sqsClient, sqs.eventsQueue),
          service: traced,
          notifier,
          onError: (error, context) => logger.warn({ err: error }, context),
          ...(sqs.maxRetries === undefined ? {} : { maxRetries: sqs.maxRetries }),
          ...(sqs.concurrency === undefined ? {} : { concurrency: sqs.concurrency }),
          ...(sqs.waitTimeSeconds === undefined ? {} : { waitTimeSeconds: sqs.waitTimeSeconds }),
          ...(sqs.retryDelaySeconds === undefined
            ? {}
            : { retryDelaySeconds: sqs.retryDelaySeconds }),
          ...(sqs.batchSize === undefined ? {} : { batchSize: sqs.batchSize }),
        });
        consumer.start();
      }
      return result;
    },
    async stop() {
      await consumer?.stop();
      if (grpcServer !== undefined) {
        const g = grpcServer;
        await new Promise<void>((resolve) => g.tryShutdown(() => resolve()));
      }
      await app?.close();
      if (ownsSqsClient) sqsClient?.destroy();
    },
  };
  return server;
}

function createSqsClient(sqs: FsmSqsOptions): SQSClient {
  const local = sqs.endpoint !== undefined && process.env['AWS_ACCESS_KEY_ID'] === undefined;
  return new SQSClient({
    region: sqs.region ?? process.env['AWS_REGION'] ?? 'us-east-1',
    ...(sqs.endpoint === undefined ? {} : { endpoint: sqs.endpoint }),
    // A local SQS accepts any credentials; AWS's default chain would look for real ones.
    ...(local ? { credentials: { accessKeyId: 'local', secretAccessKey: 'local' } } : {}),
  });
}

async function queueUrl(client: SQSClient, nameOrUrl: string): Promise<string> {
  if (/^https?:\/\//.test(nameOrUrl)) return nameOrUrl;
  try {
    const reply = await client.send(new GetQueueUrlCommand({ QueueName: nameOrUrl }));
    if (reply.QueueUrl === undefined) throw new Error('no QueueUrl in the reply');
    return reply.QueueUrl;
  } catch (error) {
    throw toBackendError(
      error,
      `${CONTEXT}: the SQS queue ${nameOrUrl} could not be found (create it, or check --endpoint-url)`,
    );
  }
}

function tracingService(service: FsmService, logger: FsmLogger): FsmService {
  return new Proxy(service, {
    get(target, property, receiver) {
      if (property !== 'applyEvent') return Reflect.get(target, property, receiver) as unknown;
      return async (...args: Parameters<FsmService['applyEvent']>) => {
        try {
          const outcome = await target.applyEvent(...args);
          logger.info(
            {
              dest: args[0],
              event: args[1].event,
              eventId: args[1].eventId,
              status: outcome.status,
              state: outcome.state,
            },
            'fsm-server: event',
          );
          return outcome;
        } catch (error) {
          logger.info(
            { dest: args[0], event: args[1].event, eventId: args[1].eventId, err: error },
            'fsm-server: event refused',
          );
          throw error;
        }
      };
    },
  });
}
