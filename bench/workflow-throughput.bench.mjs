// Workflows of 3 steps completed per second with 1, 2 and 4 worker processes sharing one folder,
// on the fs-native workflow store and on the generic store over fs storage + fs lock.
// Each run: 200 workflows started up front, then N forked workers (concurrency 8 each) drain them.
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FileLockManager, LocalFileStorageManager, FileWorkflowStore } from '@durable/fs';

const { StorageWorkflowStore } = await import('@durable/core');
const { LidexClient } = await import('@durable/workflow/lidex');

const WORKFLOWS = Number(process.env.BENCH_WORKFLOWS ?? 200);

function openStore(kind, root) {
  if (kind === 'fs') return new FileWorkflowStore({ root });
  return new StorageWorkflowStore({
    storage: new LocalFileStorageManager({ root }),
    lock: new FileLockManager({ root }),
    lockWrites: kind === 'generic+lock',
  });
}

const handlers = {
  threeSteps: async (ctx, input) => {
    const a = await ctx.step('one', () => input.n + 1);
    const b = await ctx.step('two', () => a * 2);
    return ctx.step('three', () => ({ total: b, at: Date.now() }));
  },
};

if (process.argv[2] === 'worker') {
  const [, , , kind, root] = process.argv;
  // Each accepted finish is reported to the parent, which counts them (polling every record
  // from the parent would compete with the workers for the CPUs).
  const base = openStore(kind, root);
  const store = Object.create(base);
  store.finish = async (id, token, outcome) => {
    await base.finish(id, token, outcome);
    process.send(id);
  };
  const client = new LidexClient({
    store,
    handlers,
    concurrency: 8,
    pollIntervalMs: 10,
    onError: (e) => console.error(e),
  });
  let worker;
  process.on('message', async (message) => {
    if (message === 'go') worker = client.poll();
    if (message === 'stop') {
      await worker.stop();
      process.exit(0);
    }
  });
  process.send('ready');
} else {
  console.log(`${WORKFLOWS} workflows of 3 steps, fsync on, 2-core machine`);
  for (const kind of ['fs', 'generic', 'generic+lock']) {
    for (const workers of [1, 2, 4]) {
      const root = mkdtempSync(join(tmpdir(), 'durable-bench-wf-'));
      const client = new LidexClient({ store: openStore(kind, root), handlers, concurrency: 0 });
      for (let i = 0; i < WORKFLOWS; i++) await client.start(`wf-${i}`, 'threeSteps', { n: i });
      let started;
      let finishedAt = 0;
      const done = new Set();
      let allDone;
      const all = new Promise((resolve) => (allDone = resolve));
      const children = await Promise.all(
        Array.from(
          { length: workers },
          () =>
            new Promise((resolve) => {
              const child = fork(fileURLToPath(import.meta.url), ['worker', kind, root]);
              child.on('message', (message) => {
                if (message === 'ready') return resolve(child);
                done.add(message);
                if (done.size === WORKFLOWS) {
                  finishedAt = performance.now();
                  allDone();
                }
              });
            }),
        ),
      );
      // Every worker is up; the clock starts as they are told to go.
      started = performance.now();
      for (const child of children) child.send('go');
      await all;
      const seconds = (finishedAt - started) / 1000;
      for (let i = 0; i < WORKFLOWS; i++) {
        const record = await client.get(`wf-${i}`);
        if (record?.status !== 'completed') throw new Error(`wf-${i} is ${record?.status}`);
      }
      await Promise.all(
        children.map(
          (child) =>
            new Promise((resolve) => {
              child.once('exit', resolve);
              child.send('stop');
            }),
        ),
      );
      rmSync(root, { recursive: true, force: true });
      console.log(
        `${kind.padEnd(13)} ${workers} worker process(es): ${(WORKFLOWS / seconds)
          .toFixed(1)
          .padStart(6)} workflows/s (${(seconds * 1000).toFixed(0)} ms)`,
      );
    }
  }
}
