import { S3LockManager } from '@durable/s3';
import type { S3TestEndpoint } from './fixtures/composition-support.js';
import { startS3 } from './fixtures/composition-support.js';
import { defineLockReliabilityTests } from './fixtures/composition-reliability.js';

// Reliability of @durable/s3's S3LockManager (and S3 storage in the SIGSTOP scenario) against
// s3rver with our conditional-write layer in a child process (data on disk, so it survives a
// kill), or S3_ENDPOINT.
let server: S3TestEndpoint;
beforeAll(async () => {
  server = await startS3();
}, 30_000);
afterAll(async () => {
  await server?.stop();
}, 30_000);

const connection = (prefix: string, maxAttempts?: number): Record<string, unknown> => ({
  endpoint: server.endpoint,
  bucket: server.bucket,
  prefix,
  local: server.directory !== undefined,
  ...(maxAttempts === undefined ? {} : { maxAttempts }),
});

defineLockReliabilityTests('s3', {
  lockSpec: (maxAttempts) => ({ kind: 's3', ...connection('reliability-locks/', maxAttempts) }),
  storageSpec: () => ({ kind: 's3', ...connection('reliability-data/') }),
  createLock: () => new S3LockManager({ client: server.client({ maxAttempts: 1 }), bucket: server.bucket, prefix: 'reliability-locks/' }),
  kill: () => server.kill(),
  restart: () => server.restart(),
  canKill: () => process.env.S3_ENDPOINT === undefined,
});
