// MongoWorkflowStore: does a claim cost more with many workflows sleeping, and does recording a
// step cost more with a long history? Claim: N sleeping workflows (not due for an hour) plus 20
// due ones, N = 100 and 100,000; the median of the 20 claims that find one, and of 20 claims
// that find nothing. Step: one workflow records 1,000 steps; the median saveStep at positions
// 5-15 and at 990-1000. Ratios measured in the same run. On mongo-java-server 1.46 (memory) and
// FerretDB 1.24.2 (SQLite): their figures, not MongoDB's. BENCH_MONGO_SERVERS picks servers
// (comma-separated); MONGODB_URI uses a server of your own.
import { loadavg } from 'node:os';
import { createRequire } from 'node:module';
import { startServer } from './support/mongo-server.mjs';
import { median } from './support/stats.mjs';

const { MongoClient, ObjectId } = createRequire(
  new URL('../packages/mongo/package.json', import.meta.url),
)('mongodb');
const { MongoWorkflowStore, newWorkflowDocument } = await import('@durable/mongo');
const { workflowTransitions } = await import('@durable/core/adapter');

const DUE = 20;
const SIZES = [100, 100_000];
const STEPS = 1000;
const servers = (process.env.BENCH_MONGO_SERVERS ?? 'mongo-java-server,ferretdb').split(',');

async function claimScale(client, n) {
  const collection = `claims_${n}_${Date.now()}`;
  const store = new MongoWorkflowStore({ client, database: 'bench', collection });
  await store.ensureIndexes();
  const later = Date.now() + 3_600_000;
  const documents = client.db('bench').collection(collection);
  // The sleeping ones in bulk, in the store's own document format.
  for (let from = 0; from < n; from += 1000) {
    const batch = [];
    for (let i = from; i < Math.min(n, from + 1000); i++) {
      batch.push(
        newWorkflowDocument(
          workflowTransitions.create(
            { id: `sleeping-${i}`, handler: 'h', runAt: later },
            Date.now(),
          ),
          new ObjectId().toHexString(),
        ),
      );
    }
    await documents.insertMany(batch, { ordered: false });
  }
  for (let i = 0; i < DUE; i++) await store.insert({ id: `due-${i}`, handler: 'h' });
  const found = [];
  const empty = [];
  for (let i = 0; i < DUE; i++) {
    const t = performance.now();
    const claim = await store.claim({ leaseMs: 3_600_000 });
    found.push(performance.now() - t);
    if (claim === undefined) throw new Error(`claim ${i} found nothing`);
  }
  for (let i = 0; i < DUE; i++) {
    const t = performance.now();
    const claim = await store.claim({ leaseMs: 3_600_000 });
    empty.push(performance.now() - t);
    if (claim !== undefined) throw new Error('claimed a workflow that is not due');
  }
  await documents.drop();
  return { found: median(found), empty: median(empty) };
}

async function stepCost(client) {
  const collection = `steps_${Date.now()}`;
  const store = new MongoWorkflowStore({ client, database: 'bench', collection });
  await store.insert({ id: 'long', handler: 'h' });
  const claim = await store.claim({ leaseMs: 3_600_000 });
  const times = [];
  for (let i = 0; i <= STEPS; i++) {
    const t = performance.now();
    await store.saveStep('long', claim.token, i, {
      id: `s${i}`,
      kind: 'step',
      done: true,
      value: { n: i, text: 'x'.repeat(100) },
      at: Date.now(),
    });
    times.push(performance.now() - t);
  }
  await client.db('bench').collection(collection).drop();
  return { early: median(times.slice(5, 16)), late: median(times.slice(STEPS - 10)) };
}

for (const kind of servers) {
  const server = await startServer(kind);
  const client = new MongoClient(server.uri);
  try {
    console.log(
      `MongoWorkflowStore on ${server.label}, 127.0.0.1, 2-core machine (load ${loadavg()
        .map((x) => x.toFixed(2))
        .join(' ')})`,
    );
    const claims = {};
    for (const n of SIZES) {
      claims[n] = await claimScale(client, n);
      console.log(
        `  N = ${String(n).padStart(6)} sleeping: claim that finds one ${claims[n].found.toFixed(
          2,
        )} ms, claim that finds none ${claims[n].empty.toFixed(2)} ms (medians of ${DUE})`,
      );
    }
    const [small, large] = SIZES;
    console.log(
      `  ratio ${large}/${small}: ${(claims[large].found / claims[small].found).toFixed(
        2,
      )}x (finds one), ${(claims[large].empty / claims[small].empty).toFixed(
        2,
      )}x (finds none); target <= 2x`,
    );
    const steps = await stepCost(client);
    console.log(
      `  saveStep median at steps 5-15 ${steps.early.toFixed(2)} ms, at ${
        STEPS - 10
      }-${STEPS} ${steps.late.toFixed(2)} ms: ${(steps.late / steps.early).toFixed(
        2,
      )}x; target <= 1.5x`,
    );
    console.log(
      `  (load after: ${loadavg()
        .map((x) => x.toFixed(2))
        .join(' ')})`,
    );
  } finally {
    await client.close();
    await server.stop();
  }
}
