import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { runLockSuite, runStorageSuite } from '@durable/testkit';
import { S3LockManager, S3StorageManager } from '../src/index.js';
import type { MotoTestServer } from '@durable/test-support';
import { motoOrSkip, startMoto } from '@durable/test-support';

// The storage and lock conformance suites against moto's S3 (moto_server 5.2.5), which enforces
// If-None-Match and If-Match on PutObject with code of its own: the conditional semantics are
// then checked against an implementation we did not write (s3rver runs them through our own
// conditional layer). Skipped loudly when moto_server is not installed.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

if (motoOrSkip('@durable/s3', 'the S3 storage and lock suites')) {
  const bucket = 'durable-moto';
  let moto: MotoTestServer;
  let client: S3Client;
  let peer: S3Client;
  const makeClient = (): S3Client =>
    new S3Client({
      endpoint: moto.endpoint,
      forcePathStyle: true,
      region: 'us-east-1',
      credentials: { accessKeyId: 'moto', secretAccessKey: 'moto' },
    });

  beforeAll(async () => {
    moto = await startMoto();
    client = makeClient();
    peer = makeClient();
    await client
      .send(new CreateBucketCommand({ Bucket: bucket }))
      .catch((error: { name?: string }) => {
        if (error.name !== 'BucketAlreadyOwnedByYou') throw error;
      });
  }, 90_000);
  afterAll(async () => {
    client?.destroy();
    peer?.destroy();
    await moto?.stop();
  }, 30_000);

  // moto serves one request at a time: the race tests' hundreds of requests can pass the default
  // 30 s on a loaded machine (they did at load 45), so a wider backstop.
  runStorageSuite('s3 on moto', {
    create: () => new S3StorageManager({ client, bucket, prefix: 'suite/' }),
    timeoutMs: 120_000,
  });
  // moto answers in tens of ms, one request at a time: a 300 ms lease could expire before the
  // suite's extend reaches it on a loaded machine.
  runLockSuite('s3 on moto', {
    create: () => new S3LockManager({ client, bucket, prefix: 'locks/', backoff: { maxMs: 50 } }),
    createPeer: () =>
      new S3LockManager({ client: peer, bucket, prefix: 'locks/', backoff: { maxMs: 50 } }),
    shortTtlMs: 1500,
    timeoutMs: 120_000,
  });
}
