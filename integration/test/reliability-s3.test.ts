import { S3LockManager, S3StorageManager } from '@durable/s3';
import { bytesToText } from '@durable/core';
import { uniquePrefix } from '@durable/testkit';
import type { S3TestEndpoint } from './fixtures/composition-support.js';
import { spawnWorker, startS3 } from './fixtures/composition-support.js';
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
  createLock: () =>
    new S3LockManager({
      client: server.client({ maxAttempts: 1 }),
      bucket: server.bucket,
      prefix: 'reliability-locks/',
    }),
  kill: () => server.kill(),
  restart: () => server.restart(),
  canKill: () => process.env.S3_ENDPOINT === undefined,
});

it('s3 storage: 8 processes x 40 compare-and-swap increments without any lock give the exact count', async () => {
  const counterKey = `${uniquePrefix('cas')}/counter`;
  const storage = { kind: 's3', ...connection('reliability-cas/') };
  const workers = Array.from({ length: 8 }, () =>
    spawnWorker({ mode: 'casCounter', storage, counterKey, iterations: 40 }),
  );
  const results = await Promise.all(workers.map((w) => w.result<{ conflicts: number }>()));
  const client = server.client();
  const entry = await new S3StorageManager({
    client,
    bucket: server.bucket,
    prefix: 'reliability-cas/',
  }).read(counterKey);
  client.destroy();
  expect(bytesToText(entry!.data)).toBe('320');
  // Not asserted (it depends on timing), but printed: how often a writer lost a race and retried.
  console.log(
    `s3 CAS: ${results.reduce((n, r) => n + r.conflicts, 0)} conflicts retried across 8 processes`,
  );
}, 300_000);
