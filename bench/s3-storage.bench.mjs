// S3 storage: conditional write + read cycles per second through S3StorageManager, against the
// same two calls made with the bare SDK (PutObject with If-Match, GetObject) on the same server
// in the same run. Server: s3rver with our conditional-write layer (a local process, so the
// figures measure our overhead over the SDK, not S3's latency).
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { S3StorageManager } from '@durable/s3';
import { startS3 } from '@durable/test-support';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
const server = await startS3({ external: false });
const client = new S3Client({
  endpoint: server.endpoint,
  forcePathStyle: true,
  region: 'us-east-1',
  credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
});
const storage = new S3StorageManager({ client, bucket: server.bucket, prefix: 'bench/' });
const N = Number(process.env.BENCH_S3_CYCLES ?? 400);
const WARMUP = 50;

async function ours(key, count) {
  let version = await storage.write(key, '0');
  for (let i = 0; i < count; i++) {
    version = await storage.write(key, `value-${i}`, { ifVersion: version });
    const entry = await storage.read(key);
    if (entry.version !== version) throw new Error('read returned another version');
  }
}

async function bare(key, count) {
  let etag = (
    await client.send(new PutObjectCommand({ Bucket: server.bucket, Key: key, Body: '0' }))
  ).ETag;
  for (let i = 0; i < count; i++) {
    etag = (
      await client.send(
        new PutObjectCommand({
          Bucket: server.bucket,
          Key: key,
          Body: `value-${i}`,
          IfMatch: etag,
        }),
      )
    ).ETag;
    const response = await client.send(new GetObjectCommand({ Bucket: server.bucket, Key: key }));
    await response.Body.transformToByteArray();
    if (response.ETag !== etag) throw new Error('read returned another version');
  }
}

async function rate(fn, key) {
  await fn(`${key}-warmup`, WARMUP);
  const started = performance.now();
  await fn(key, N);
  return N / ((performance.now() - started) / 1000);
}

// Interleave the two three times so that a busy machine affects both alike.
const results = { ours: [], bare: [] };
for (let round = 0; round < 3; round++) {
  results.bare.push(await rate(bare, `bench/bare-${round}`));
  results.ours.push(await rate(ours, `ours-${round}`));
}
const best = (xs) => Math.max(...xs);
console.log(
  `S3 storage, conditional write + read cycles per second (${N} cycles, sequential, s3rver + conditional layer on 127.0.0.1):`,
);
console.log(
  `  S3StorageManager write(ifVersion) + read : ${best(results.ours).toFixed(0)} cycles/s`,
);
console.log(
  `  bare SDK PutObject(If-Match) + GetObject  : ${best(results.bare).toFixed(0)} cycles/s`,
);
console.log(
  `  ours / bare                               : ${(
    best(results.ours) / best(results.bare)
  ).toFixed(2)}`,
);
client.destroy();
await server.stop();
