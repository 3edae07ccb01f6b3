import { runLockSuite } from '@durable/testkit';
import { S3LockManager } from '../src/index.js';
import type { LossyS3 } from './support/lost-reply.js';
import { startLossyS3 } from './support/lost-reply.js';
import { useS3 } from './support/suite-setup.js';

// The lock conformance suite: two managers with two clients prove exclusion between clients. The
// first manager's client goes through the lost-reply proxy, for the suite's lost-reply test.
const s3 = useS3();
let lossy: LossyS3 | undefined;
// The proxy speaks plain HTTP: an https S3_ENDPOINT (real S3) runs the suite without the lost-reply tests.
const proxied = !(process.env.S3_ENDPOINT ?? '').startsWith('https:');
beforeAll(async () => {
  if (proxied) lossy = await startLossyS3(s3.endpoint, 3);
});
afterAll(async () => {
  await lossy?.close();
});
if (!proxied) {
  const why = `S3_ENDPOINT is https (${process.env.S3_ENDPOINT}); the lost-reply proxy speaks plain HTTP`;
  test(`SKIPPED: the lock suite's lost-reply cases: ${why}`, () => {
    console.warn(`@durable/s3: SKIPPED: the lock suite's lost-reply cases: ${why}`);
    expect(proxied).toBe(false);
  });
}

runLockSuite('s3', {
  create: () =>
    new S3LockManager({
      client: lossy?.client ?? s3.client,
      bucket: s3.endpoint.bucket,
      prefix: 'locks/',
      backoff: { maxMs: 50 },
    }),
  createPeer: () =>
    new S3LockManager({
      client: s3.endpoint.client(),
      bucket: s3.endpoint.bucket,
      prefix: 'locks/',
      backoff: { maxMs: 50 },
    }),
  ...(proxied
    ? {
        lostReply: {
          dropNextReply: () => lossy!.proxy.dropNextReply(),
          dropsPending: () => lossy!.proxy.dropsPending(),
        },
      }
    : {}),
});
