// The storage-backed workflow store's start() against what the backend itself costs, on fs storage
// (fsync on) and on S3 (s3rver with our conditional-write layer: a local process, so the figures
// are round trips, not S3's latency). Rounds interleave, each measures in turn:
//   start        StorageWorkflowStore.insert of a fresh id: one conditional write of the start
//                key, then one read of the record (a start that wins the key while the id already
//                has a record must find it)
//   write        the floor: one conditional ("only if absent") write of the same bytes
//   write+read   the floor of what start() does: that write, then a read of an absent key
//   two writes   what start() wrote before: a due entry, then the record "only if absent"
// and then, per workflow, the first claim of what was started (it creates the record from the
// start: lists the due index, reads the record, the start, then writes the record "only if
// absent"), each claimed workflow finished untimed.
import { S3Client } from '@aws-sdk/client-s3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StorageWorkflowStore } from '@durable/core';
import { LocalFileStorageManager } from '@durable/fs';
import { S3StorageManager } from '@durable/s3';
import { startS3 } from '@durable/test-support';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const COUNTS = {
  fs: Number(process.env.BENCH_FS_STARTS ?? 200),
  s3: Number(process.env.BENCH_S3_STARTS ?? 100),
};
const KINDS = (process.env.BENCH_STORES ?? 'fs,s3').split(',');

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const range = (xs, d = 3) => `${Math.min(...xs).toFixed(d)}-${Math.max(...xs).toFixed(d)}`;

async function perOp(count, fn) {
  const started = performance.now();
  for (let i = 0; i < count; i++) await fn(i);
  return (performance.now() - started) / count;
}

async function round(storage, tag, count) {
  const store = new StorageWorkflowStore({ storage, prefix: `${tag}/wf/` });
  const text = JSON.stringify({
    id: 'x'.repeat(12),
    handler: 'bench',
    input: { n: 1 },
    pad: 'p'.repeat(200),
  });
  const ms = {};
  ms.start = await perOp(count, (i) =>
    store.insert({ id: `w-${i}`, handler: 'bench', input: { n: i } }),
  );
  ms.write = await perOp(count, (i) =>
    storage.write(`${tag}/floor1/${i}`, text, { ifVersion: null }),
  );
  ms.writeRead = await perOp(count, async (i) => {
    await storage.write(`${tag}/floor2/${i}`, text, { ifVersion: null });
    await storage.read(`${tag}/absent/${i}`);
  });
  ms.twoWrites = await perOp(count, async (i) => {
    await storage.write(`${tag}/floor3/due/${i}`, String(i));
    await storage.write(`${tag}/floor3/rec/${i}`, text, { ifVersion: null });
  });
  // Each claimed workflow is finished (not timed), so every claim meets a fresh start first.
  let claimMs = 0;
  for (let i = 0; i < count; i++) {
    const at = performance.now();
    const claimed = await store.claim({ leaseMs: 600_000 });
    claimMs += performance.now() - at;
    if (claimed === undefined) throw new Error('nothing claimed');
    await store.finish(claimed.record.id, claimed.token, { status: 'completed' });
  }
  ms.claim = claimMs / count;
  return ms;
}

console.log(
  `StorageWorkflowStore start(), ${ROUNDS} interleaved rounds; ms per operation (median, range)`,
);
for (const kind of KINDS) {
  let storage;
  let done;
  if (kind === 'fs') {
    const root = mkdtempSync(join(tmpdir(), 'durable-bench-start-'));
    storage = new LocalFileStorageManager({ root });
    done = async () => rmSync(root, { recursive: true, force: true });
  } else {
    const server = await startS3({ external: false });
    const client = new S3Client({
      endpoint: server.endpoint,
      forcePathStyle: true,
      region: 'us-east-1',
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    });
    storage = new S3StorageManager({ client, bucket: server.bucket, prefix: 'bench/' });
    done = async () => {
      client.destroy();
      await server.stop();
    };
  }
  const runs = [];
  for (let r = 0; r < ROUNDS; r++) runs.push(await round(storage, `r${r}`, COUNTS[kind]));
  await done();
  const col = (name) => runs.map((m) => m[name]);
  const ratio = (a, b) => runs.map((m) => m[a] / m[b]);
  console.log(`\n${kind} (${COUNTS[kind]} starts a round)`);
  for (const [name, label] of [
    ['start', 'start()'],
    ['write', 'floor: 1 conditional write'],
    ['writeRead', 'floor: write + read'],
    ['twoWrites', 'before: 2 writes'],
    ['claim', 'first claim'],
  ])
    console.log(`  ${label.padEnd(28)} ${median(col(name)).toFixed(3)} ms (${range(col(name))})`);
  console.log(
    `  start / (write + read) ${median(ratio('start', 'writeRead')).toFixed(2)}x (${range(ratio('start', 'writeRead'), 2)}); ` +
      `start / 2 writes ${median(ratio('start', 'twoWrites')).toFixed(2)}x (${range(ratio('start', 'twoWrites'), 2)}); ` +
      `start / 1 write ${median(ratio('start', 'write')).toFixed(2)}x (${range(ratio('start', 'write'), 2)})`,
  );
}
