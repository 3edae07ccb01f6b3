// @durable/mongo on FerretDB 1.24.2 (SQLite backend, temp folder, 127.0.0.1): lock acquire
// latency p50/p99 uncontended and with 8 processes on one key, and 3-step workflows/s with 1 and
// 4 worker processes (concurrency 8 each) on MongoWorkflowStore. FerretDB's figures, not
// MongoDB's. BENCH_MONGO_SERVER=mongo-java-server runs the same on mongo-java-server 1.46 (in
// memory); MONGODB_URI uses a server of your own.
// FerretDB 1.x does not apply a conditional update atomically (see packages/mongo/README.md): the
// contended run counts overlapping grants, which it can produce.
import { fork, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { startServer } from './support/mongo-server.mjs';
import { quantile } from './support/stats.mjs';

const { MongoClient } = createRequire(new URL('../packages/mongo/package.json', import.meta.url))(
  'mongodb',
);
const { MongoLockManager, MongoWorkflowStore } = await import('@durable/mongo');
const { LidexClient } = await import('@durable/workflow/lidex');
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const WORKFLOWS = Number(process.env.BENCH_WORKFLOWS ?? 200);
const [, , role, uriArg, ...rest] = process.argv;

const handlers = {
  threeSteps: async (ctx, input) => {
    const a = await ctx.step('one', () => input.n + 1);
    const b = await ctx.step('two', () => a * 2);
    return ctx.step('three', () => ({ total: b, at: Date.now() }));
  },
};

if (role === 'lock-child') {
  const client = new MongoClient(uriArg);
  const lock = new MongoLockManager({ client, database: 'bench', backoff: { maxMs: 50 } });
  const counters = client.db('bench').collection('counters');
  await (await lock.acquire(`warm/${process.pid}`, { waitMs: 1000 })).release();
  // Inserts only: FerretDB applies an $inc by read-then-write, which loses increments under
  // concurrency (a counted barrier would never open), but a duplicate _id is refused atomically.
  await counters.insertOne({ _id: `ready/${process.pid}` });
  while ((await counters.countDocuments({ _id: { $regex: '^ready/' } })) < 8) await sleep(5);
  const latencies = [];
  let overlaps = 0;
  const started = Date.now();
  for (let i = 0; i < Number(rest[0]); i++) {
    const t = performance.now();
    const lease = await lock.acquire('contended', { ttlMs: 30_000, waitMs: 120_000 });
    latencies.push(performance.now() - t);
    // A holder marker: a second holder's insert meets the first one's (E11000) = an overlap.
    const mark = `${process.pid}/${i}`;
    const marked = await counters.insertOne({ _id: 'holder', mark }).then(
      () => true,
      (error) => {
        if (error?.code !== 11000) throw error;
        overlaps++;
        return false;
      },
    );
    await sleep(1);
    if (marked) await counters.deleteOne({ _id: 'holder', mark });
    await lease.release();
  }
  process.stdout.write(JSON.stringify({ latencies, overlaps, start: started, end: Date.now() }));
  await client.close();
} else if (role === 'worker') {
  const client = new MongoClient(uriArg);
  const base = new MongoWorkflowStore({ client, database: 'bench', collection: rest[0] });
  const store = Object.create(base);
  store.finish = async (id, token, outcome) => {
    await base.finish(id, token, outcome);
    process.send(id);
  };
  const workflows = new LidexClient({
    store,
    handlers,
    concurrency: 8,
    pollIntervalMs: 10,
    onError: (e) => console.error(e),
  });
  let worker;
  process.on('message', async (message) => {
    if (message === 'go') worker = workflows.poll();
    if (message === 'stop') {
      await worker.stop();
      await client.close();
      process.exit(0);
    }
  });
  process.send('ready');
} else {
  const server = await startServer(process.env.BENCH_MONGO_SERVER ?? 'ferretdb');
  try {
    await run(server);
  } finally {
    await server.stop();
  }
}

async function run(server) {
  console.log(
    `@durable/mongo on ${server.label}, 127.0.0.1, 2-core machine (load ${await loadAverage()})`,
  );
  const client = new MongoClient(server.uri);
  const lock = new MongoLockManager({ client, database: 'bench' });
  for (let i = 0; i < 100; i++) await (await lock.acquire(`warm/${i}`)).release();
  const solo = [];
  for (let i = 0; i < 1000; i++) {
    const t = performance.now();
    const lease = await lock.acquire(`solo/${i % 50}`, { ttlMs: 30_000 });
    solo.push(performance.now() - t);
    await lease.release();
  }
  console.log(`  lock, uncontended, 1000 acquires:   ${summary(solo)}`);
  const PER = Number(process.env.BENCH_LOCK_PER ?? 50);
  const runs = (
    await Promise.all(
      Array.from({ length: 8 }, () => child(['lock-child', server.uri, String(PER)])),
    )
  ).map((t) => JSON.parse(t));
  const all = runs.flatMap((r) => r.latencies);
  const seconds =
    (Math.max(...runs.map((r) => r.end)) - Math.min(...runs.map((r) => r.start))) / 1000;
  const overlaps = runs.reduce((sum, r) => sum + r.overlaps, 0);
  console.log(
    `  lock, 8 processes x ${PER} on one key: ${summary(all)}; ${(all.length / seconds).toFixed(
      0,
    )} grants/s; overlapping grants: ${overlaps}`,
  );
  for (const workers of [1, 4]) {
    const collection = `wf_${workers}_${Date.now()}`;
    const store = new MongoWorkflowStore({ client, database: 'bench', collection });
    const starter = new LidexClient({ store, handlers, concurrency: 0 });
    for (let i = 0; i < WORKFLOWS; i++) await starter.start(`wf-${i}`, 'threeSteps', { n: i });
    const done = new Set();
    let finishedAt = 0;
    let allDone;
    const finished = new Promise((resolve) => (allDone = resolve));
    const children = await Promise.all(
      Array.from(
        { length: workers },
        () =>
          new Promise((resolve) => {
            const worker = fork(fileURLToPath(import.meta.url), ['worker', server.uri, collection]);
            worker.on('message', (message) => {
              if (message === 'ready') return resolve(worker);
              done.add(message);
              if (done.size === WORKFLOWS) {
                finishedAt = performance.now();
                allDone();
              }
            });
          }),
      ),
    );
    const started = performance.now();
    for (const worker of children) worker.send('go');
    await finished;
    let completed = 0;
    for (let i = 0; i < WORKFLOWS; i++)
      if ((await starter.get(`wf-${i}`))?.status === 'completed') completed++;
    await Promise.all(
      children.map(
        (worker) =>
          new Promise((resolve) => {
            worker.once('exit', resolve);
            worker.send('stop');
          }),
      ),
    );
    const s = (finishedAt - started) / 1000;
    console.log(
      `  ${WORKFLOWS} workflows of 3 steps, ${workers} worker process(es): ${(
        WORKFLOWS / s
      ).toFixed(1)} workflows/s (${(s * 1000).toFixed(0)} ms, ${completed} completed)`,
    );
  }
  await client.close();
}

function summary(values) {
  return `p50 ${quantile(values, 0.5).toFixed(2)} ms, p99 ${quantile(values, 0.99).toFixed(
    2,
  )} ms, max ${Math.max(...values).toFixed(2)} ms`;
}

async function loadAverage() {
  const { loadavg } = await import('node:os');
  return loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
}

function child(args) {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [fileURLToPath(import.meta.url), ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    proc.stdout.on('data', (chunk) => (out += chunk));
    proc.on('exit', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`child exited ${code}`)),
    );
  });
}
