// Workflows of 3 steps completed per second with 1, 2 and 4 worker processes sharing one folder,
// on the fs-native workflow store and on the generic store over fs storage + fs lock.
// Each run: 200 workflows started up front, then N forked workers (concurrency 8 each) drain them.
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createFileLock, createFileStorage, createFileWorkflowStore } from '@durable/fs';

const { createStorageWorkflowStore, createWorkflowClient } = await import('../packages/workflow/dist/esm/index.js');

const WORKFLOWS = Number(process.env.BENCH_WORKFLOWS ?? 200);

function openStore(kind, root) {
  if (kind === 'fs') return createFileWorkflowStore({ root });
  return createStorageWorkflowStore({ storage: createFileStorage({ root }), lock: createFileLock({ root }), lockWrites: kind === 'generic+lock' });
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
  const client = createWorkflowClient({ store: openStore(kind, root), handlers, concurrency: 8, pollIntervalMs: 10, onError: (e) => console.error(e) });
  const worker = client.poll();
  process.on('message', async (message) => {
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
      const client = createWorkflowClient({ store: openStore(kind, root), handlers, concurrency: 0 });
      for (let i = 0; i < WORKFLOWS; i++) await client.start(`wf-${i}`, 'threeSteps', { n: i });
      const children = await Promise.all(
        Array.from({ length: workers }, () => new Promise((resolve) => {
          const child = fork(fileURLToPath(import.meta.url), ['worker', kind, root]);
          child.once('message', () => resolve(child));
        })),
      );
      // The clock starts when every worker is ready; they start claiming at once, so include it.
      const started = performance.now();
      let remaining = WORKFLOWS;
      const pending = new Set(Array.from({ length: WORKFLOWS }, (_, i) => `wf-${i}`));
      while (remaining > 0) {
        for (const id of [...pending]) {
          const record = await client.get(id);
          if (record?.status === 'completed') pending.delete(id);
        }
        remaining = pending.size;
        if (remaining > 0) await new Promise((r) => setTimeout(r, 20));
      }
      const seconds = (performance.now() - started) / 1000;
      await Promise.all(children.map((child) => new Promise((resolve) => {
        child.once('exit', resolve);
        child.send('stop');
      })));
      rmSync(root, { recursive: true, force: true });
      console.log(`${kind.padEnd(13)} ${workers} worker process(es): ${(WORKFLOWS / seconds).toFixed(1).padStart(6)} workflows/s (${(seconds * 1000).toFixed(0)} ms)`);
    }
  }
}
