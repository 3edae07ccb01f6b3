// TEST INFRASTRUCTURE: a DynamoDB endpoint for the tests. Uses DYNAMODB_ENDPOINT when set;
// otherwise starts dynalite in a child process with its data in a temp folder (kept across
// restart, removed by stop()).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { ChildServer } from '@durable/testkit';
import { startChildServer } from '@durable/testkit';
import { SERVERS } from './paths.js';

// The SDK warns on every client that its releases from 2027 on need Node 22: not news in tests on Node 20.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

/** Where the tests' DynamoDB lives. */
export interface DynamoTestEndpoint {
  readonly endpoint: string;
  /** A new client (the caller destroys it). */
  client(options?: { maxAttempts?: number }): DynamoDBClient;
  /** Kills the server at once (only for a server we started). */
  kill(): Promise<void>;
  /** Starts it again on the same port with the same data. */
  restart(): Promise<void>;
  /** Stops the server and removes its data. */
  stop(): Promise<void>;
}

const SCRIPT = join(SERVERS, 'dynalite-server.cjs');

/**
 * Whether the endpoint has the UpdateTimeToLive API: dynalite has not, so tests create tables
 * with `timeToLive: false` unless DURABLE_DYNAMODB_TTL=1 (DynamoDB Local, real DynamoDB).
 */
export const DYNAMODB_TTL_API = process.env.DURABLE_DYNAMODB_TTL === '1';

/** Options for {@link startDynamo}. */
export interface StartDynamoOptions {
  /**
   * Keep the tables in memory instead of a LevelDB folder (faster; a restart loses them, so
   * restart() is refused). Benches use it. @default false
   */
  memory?: boolean;
}

/** Starts (or connects to) the tests' DynamoDB endpoint. */
export async function startDynamo(options: StartDynamoOptions = {}): Promise<DynamoTestEndpoint> {
  const fromEnv = process.env.DYNAMODB_ENDPOINT;
  if (fromEnv !== undefined && fromEnv !== '') {
    return {
      endpoint: fromEnv,
      client: (o = {}) => makeDynamoClient(fromEnv, o.maxAttempts),
      kill: () => Promise.reject(new Error('DYNAMODB_ENDPOINT is external: cannot kill it')),
      restart: () => Promise.reject(new Error('DYNAMODB_ENDPOINT is external: cannot restart it')),
      stop: () => Promise.resolve(),
    };
  }
  if (options.memory === true) {
    const server = await startChildServer(SCRIPT, ['-']);
    const endpoint = `http://127.0.0.1:${server.port}`;
    return {
      endpoint,
      client: (o = {}) => makeDynamoClient(endpoint, o.maxAttempts),
      kill: () => server.kill(),
      restart: () =>
        Promise.reject(new Error('an in-memory dynalite cannot restart with its data')),
      stop: () => server.stop(),
    };
  }
  const directory = mkdtempSync(join(tmpdir(), 'durable-dynalite-'));
  let server: ChildServer = await startChildServer(SCRIPT, [directory]);
  const port = server.port;
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    client: (o = {}) => makeDynamoClient(endpoint, o.maxAttempts),
    kill: () => server.kill(),
    restart: async () => {
      server = await startChildServer(SCRIPT, [directory, String(port)]);
    },
    stop: async () => {
      await server.stop();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

/** A DynamoDB client for `endpoint` (local credentials for a local endpoint). */
export function makeDynamoClient(
  endpoint: string,
  maxAttempts: number | undefined,
): DynamoDBClient {
  const local = endpoint.startsWith('http://127.0.0.1') || endpoint.startsWith('http://localhost');
  return new DynamoDBClient({
    endpoint,
    region: process.env.AWS_REGION ?? 'us-east-1',
    ...(maxAttempts === undefined ? {} : { maxAttempts }),
    ...(local ? { credentials: { accessKeyId: 'local', secretAccessKey: 'local' } } : {}),
  });
}
