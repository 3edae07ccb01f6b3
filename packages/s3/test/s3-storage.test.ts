import { runStorageSuite } from '@durable/testkit';
import { S3StorageManager } from '../src/index.js';
import type { LossyS3 } from './support/lost-reply.js';
import { startLossyS3 } from './support/lost-reply.js';
import { useS3 } from './support/suite-setup.js';

// The storage conformance suite against s3rver + our conditional-write layer, or S3_ENDPOINT.
// The manager's client goes through the lost-reply proxy (plain HTTP endpoints only), so the
// suite's lost-reply tests run too: the SDK retries a PUT/DELETE whose reply the proxy cut.
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
  test(`SKIPPED: the storage suite's lost-reply cases: ${why}`, () => {
    console.warn(`@durable/s3: SKIPPED: the storage suite's lost-reply cases: ${why}`);
    expect(proxied).toBe(false);
  });
}

runStorageSuite('s3', {
  create: () =>
    new S3StorageManager({
      client: lossy?.client ?? s3.client,
      bucket: s3.endpoint.bucket,
      prefix: 'suite/',
    }),
  createIsolated: () =>
    new S3StorageManager({ client: s3.client, bucket: s3.endpoint.bucket, prefix: 'suite-other/' }),
  // s3rver lists from a walk of its folders ("a/b" before "a"); S3 itself lists in UTF-8 byte order.
  ...(process.env.S3_ENDPOINT === undefined
    ? { listOrderUncheckedBecause: "s3rver lists in folder-walk order, not S3's UTF-8 byte order" }
    : {}),
  ...(proxied
    ? {
        lostReply: {
          dropNextReply: () => lossy!.proxy.dropNextReply(),
          dropsPending: () => lossy!.proxy.dropsPending(),
        },
      }
    : {}),
});

// S3-compatible stores without conditional writes: the manager declares conditionalWrite: false
// and checks conditions by a read first, so the suite runs without its compare-and-swap cases.
runStorageSuite('s3 with conditionalWrites: false', {
  create: () =>
    new S3StorageManager({
      client: s3.client,
      bucket: s3.endpoint.bucket,
      prefix: 'suite-plain/',
      conditionalWrites: false,
    }),
  capabilities: { conditionalWrite: false },
  ...(process.env.S3_ENDPOINT === undefined
    ? { listOrderUncheckedBecause: "s3rver lists in folder-walk order, not S3's UTF-8 byte order" }
    : {}),
});
