// fs workflow store, 3-step workflows end to end, against its floor: the file-system writes one
// workflow cannot avoid in this layout, done bare with node:fs (no engine, no reads, no checks; see
// support/fs-floor.mjs: 2 marker links, 3 folders, 2 head files written, fsynced and linked, and a
// step log, one append and fdatasync per step; a start claimed by the worker of its process)
// with the store's split (metadata calls synchronous, fsync on the thread pool) and the engine's
// default concurrency (10 workflows at a time). The store side runs WorkflowClient on
// FileWorkflowStore (fsync on, the default) as bench/peer-dbos.bench.mjs does: start them one
// after another, then wait for every result. Interleaved rounds, a fresh folder each; prints both
// rates and store/floor per round. Usage: node bench/fs-workflow-floor.bench.mjs
//   (BENCH_WORKFLOWS=500 BENCH_ROUNDS=4)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileWorkflowStore } from '@durable/fs';
import { WorkflowClient, defineWorkflow } from '@durable/workflow';
import { floorInsert, floorRun as floorWork, prepareFloor } from './support/fs-floor.mjs';
import { median } from './support/stats.mjs';

const WORKFLOWS = Number(process.env.BENCH_WORKFLOWS ?? 500);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4);
const CONCURRENCY = 10;
const root = mkdtempSync(join(tmpdir(), 'durable-wf-floor-'));

async function floorRun(base) {
  prepareFloor(base);
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < WORKFLOWS) {
        const i = next++;
        await floorInsert(base, i);
        await floorWork(base, i, 3);
      }
    }),
  );
  return WORKFLOWS / ((performance.now() - started) / 1000);
}

const threeSteps = defineWorkflow('three', async (ctx, input) => {
  let value = input.n;
  for (let i = 0; i < 3; i++) value = await ctx.step(`s${i}`, async () => value + 1);
  return { total: value };
});

async function storeRun(base) {
  const store = new FileWorkflowStore({ root: base });
  const client = new WorkflowClient({ store, workflows: [threeSteps] });
  const worker = client.poll();
  await store.get('warm-up');
  const started = performance.now();
  const handles = [];
  for (let i = 0; i < WORKFLOWS; i++)
    handles.push(await client.start(threeSteps, `wf-${i}`, { n: i }));
  await Promise.all(handles.map((handle) => handle.result()));
  const rate = WORKFLOWS / ((performance.now() - started) / 1000);
  await worker.stop();
  return rate;
}

const rows = [];
try {
  for (let round = 0; round < ROUNDS; round++) {
    const bareFirst = round % 2 === 0;
    const a = bareFirst
      ? await floorRun(join(root, `floor-${round}`))
      : await storeRun(join(root, `store-${round}`));
    const b = bareFirst
      ? await storeRun(join(root, `store-${round}`))
      : await floorRun(join(root, `floor-${round}`));
    const [floor, ours] = bareFirst ? [a, b] : [b, a];
    rows.push({ floor, ours, ratio: ours / floor });
    // Folders are removed at the end only: deleting thousands of files between rounds would make
    // the next round's file creations slower (ext4 skips recently deleted inodes; peer-dbos.bench.mjs).
  }
} finally {
  rmSync(root, { recursive: true, force: true });
}
const fmt = (n) => n.toFixed(0);
console.log(
  `fs workflow store, 3-step workflows, vs its floor: ${ROUNDS} interleaved rounds of ${WORKFLOWS}:`,
);
for (const [i, r] of rows.entries())
  console.log(
    `  round ${i + 1}: floor ${fmt(r.floor)}/s, store ${fmt(r.ours)}/s, store/floor ${r.ratio.toFixed(2)}`,
  );
const ratios = rows.map((r) => r.ratio);
console.log(
  `  store/floor: median ${median(ratios).toFixed(2)}, range ${Math.min(...ratios).toFixed(
    2,
  )}-${Math.max(...ratios).toFixed(2)}`,
);
