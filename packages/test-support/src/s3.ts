// TEST INFRASTRUCTURE: an S3 endpoint for the tests. Uses S3_ENDPOINT when set (a developer's
// own server or real S3, with S3_BUCKET and the default AWS credentials); otherwise starts
// s3rver with our conditional-write layer (s3-test-server.cjs) in a child process.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import type { ChildServer } from '@durable/testkit';
import { startChildServer } from '@durable/testkit';
import { SERVERS } from './paths.js';

// The SDK warns on every client that its releases from 2027 on need Node 22: not news in tests on Node 20.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

/** Where the tests' S3 lives. */
export interface S3TestEndpoint {
  readonly endpoint: string;
  readonly bucket: string;
  /** The data folder of a server we started (kept across restart). */
  readonly directory: string | undefined;
  /** A new client for this endpoint (the caller destroys it). */
  client(options?: { maxAttempts?: number }): S3Client;
  /** Kills the server at once (only for a server we started). */
  kill(): Promise<void>;
  /** Starts it again on the same port with the same data. */
  restart(): Promise<void>;
  /** Stops the server and removes its data. */
  stop(): Promise<void>;
}

/** Test bucket name for the started server (and default for S3_ENDPOINT). */
export const S3_TEST_BUCKET = process.env.S3_BUCKET ?? 'durable-test';
const SCRIPT = join(SERVERS, 's3-test-server.cjs');

/** Starts (or connects to) the tests' S3 endpoint. */
export async function startS3(options: { external?: boolean } = {}): Promise<S3TestEndpoint> {
  const fromEnv = process.env.S3_ENDPOINT;
  if (fromEnv !== undefined && fromEnv !== '' && options.external !== false) {
    return {
      endpoint: fromEnv,
      bucket: S3_TEST_BUCKET,
      directory: undefined,
      client: (o = {}) => makeS3Client(fromEnv, o.maxAttempts, false),
      kill: () => Promise.reject(new Error('S3_ENDPOINT is external: cannot kill it')),
      restart: () => Promise.reject(new Error('S3_ENDPOINT is external: cannot restart it')),
      stop: () => Promise.resolve(),
    };
  }
  const directory = mkdtempSync(join(tmpdir(), 'durable-s3rver-'));
  const env = { NODE_OPTIONS: '--openssl-legacy-provider', S3_TEST_BUCKETS: S3_TEST_BUCKET };
  let server: ChildServer = await startChildServer(SCRIPT, [directory], env);
  const port = server.port;
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    bucket: S3_TEST_BUCKET,
    directory,
    client: (o = {}) => makeS3Client(endpoint, o.maxAttempts, true),
    kill: () => server.kill(),
    restart: async () => {
      server = await startChildServer(SCRIPT, [directory, String(port)], env);
    },
    stop: async () => {
      await server.stop();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

/** An S3 client for `endpoint` (path style; s3rver's credentials when `local`). */
export function makeS3Client(
  endpoint: string,
  maxAttempts: number | undefined,
  local: boolean,
): S3Client {
  return new S3Client({
    endpoint,
    forcePathStyle: true,
    region: process.env.AWS_REGION ?? 'us-east-1',
    ...(maxAttempts === undefined ? {} : { maxAttempts }),
    // s3rver accepts any credentials; an external endpoint uses the default provider chain.
    ...(local ? { credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } } : {}),
  });
}
