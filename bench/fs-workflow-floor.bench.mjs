// fs workflow store, 3-step workflows end to end, against its floor: the file-system writes one
// workflow cannot avoid in this layout, done bare with node:fs (no engine, no reads, no checks):
//   insert  2 marker files (due, created), a prepared folder with e0/ and r0/, the head written
//           and fsynced in it, the folder renamed into place
//   claim   a head written and fsynced, linked, its temp name removed; r0 renamed to r1
//   3 steps each a file written and fsynced, linked into r1, its temp name removed
//   finish  a head written and fsynced, linked, its temp name removed; r1 renamed to r2; the due
//           marker removed
// with the store's split (metadata calls synchronous, fsync on the thread pool) and the engine's
// default concurrency (10 workflows at a time). The store side runs WorkflowClient on
// FileWorkflowStore (fsync on, the default) as bench/peer-dbos.bench.mjs does: start them one
// after another, then wait for every result. Interleaved rounds, a fresh folder each; prints both
// rates and store/floor per round. Usage: node bench/fs-workflow-floor.bench.mjs
//   (BENCH_WORKFLOWS=500 BENCH_ROUNDS=4)
import {
  closeSync,
  fsync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  renameSync,
  rmSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileWorkflowStore } from '@durable/fs';
import { WorkflowClient, defineWorkflow } from '@durable/workflow';
import { median } from './support/stats.mjs';

const WORKFLOWS = Number(process.env.BENCH_WORKFLOWS ?? 500);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4);
const CONCURRENCY = 10;
const root = mkdtempSync(join(tmpdir(), 'durable-wf-floor-'));
const fsyncAsync = (fd) =>
  new Promise((resolve, reject) => fsync(fd, (error) => (error ? reject(error) : resolve())));
const head = Buffer.alloc(300, 'h');
const step = Buffer.alloc(120, 's');

async function writeSynced(path, bytes) {
  const fd = openSync(path, 'wx', 0o600);
  try {
    writeSync(fd, bytes);
    await fsyncAsync(fd);
  } finally {
    closeSync(fd);
  }
}

// A commit of the protocol: a temp file written and fsynced, linked to its slot, unlinked.
async function commitFile(dir, target, bytes, n) {
  const temp = join(dir, `.t-${n}`);
  await writeSynced(temp, bytes);
  linkSync(temp, target);
  unlinkSync(temp);
}

async function floorWorkflow(base, i) {
  const w = join(base, 'w', String(i));
  const marker = join(base, 'due', `${i}.0`);
  closeSync(openSync(marker, 'wx', 0o600));
  closeSync(openSync(join(base, 'created', `${i}`), 'wx', 0o600));
  const prep = join(base, 'w', `.p-${i}`);
  mkdirSync(prep);
  mkdirSync(join(prep, 'e0'));
  await writeSynced(join(prep, 'e0', '0'), head);
  mkdirSync(join(prep, 'r0'));
  renameSync(prep, w);
  await commitFile(w, join(w, 'e0', '1'), head, 'c');
  renameSync(join(w, 'r0'), join(w, 'r1'));
  for (let s = 0; s < 3; s++) await commitFile(w, join(w, 'r1', `${s}.0`), step, `s${s}`);
  await commitFile(w, join(w, 'e0', '2'), head, 'f');
  renameSync(join(w, 'r1'), join(w, 'r2'));
  unlinkSync(marker);
}

async function floorRun(base) {
  for (const dir of ['w', 'due', 'created']) mkdirSync(join(base, dir), { recursive: true });
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < WORKFLOWS) await floorWorkflow(base, next++);
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
    rmSync(join(root, `floor-${round}`), { recursive: true, force: true });
    rmSync(join(root, `store-${round}`), { recursive: true, force: true });
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
