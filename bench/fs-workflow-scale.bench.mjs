// @durable/fs workflow store: does the cost of a claim or a step grow with the work around it?
//   - claims with N = 100 and N = 100,000 workflows sleeping (due in a day), measured on fresh
//     stores with fsync on, in interleaved rounds: an empty claim (nothing due: the cost every idle
//     poll pays) and a due claim (one due workflow inserted, claimed (timed), finished);
//   - one step (saveStep, fsync on) when the history holds 10 and 1,000 steps already.
// Sleepers are inserted with fsync off by 2 forked processes (setup, not measured). Prints the
// ratios 100,000 / 100 (target <= 2) and step 1,000 / step 10 (target <= 1.5).
// Usage: node bench/fs-workflow-scale.bench.mjs   (SCALES=100,100000 ROUNDS=3 CLAIMS=10 STEPS=40)
import { execFileSync, fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FileWorkflowStore } from '@durable/fs';
import { median } from './support/stats.mjs';

const SCALES = (process.env.SCALES ?? '100,100000').split(',').map(Number);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const CLAIMS = Number(process.env.CLAIMS ?? 10);
const STEPS = Number(process.env.STEPS ?? 40);
const HISTORIES = [10, 1000];
const DAY = 86_400_000;

if (process.argv[2] === 'insert') {
  const [, , , root, from, to] = process.argv;
  const store = new FileWorkflowStore({ root, fsync: false });
  const runAt = Date.now() + DAY;
  for (let i = Number(from); i < Number(to); i++)
    await store.insert({ id: `sleeper-${i}`, handler: 'h', runAt });
  process.exit(0);
}

async function setUp(n) {
  const root = mkdtempSync(join(tmpdir(), 'durable-fs-scale-'));
  const started = performance.now();
  const half = Math.ceil(n / 2);
  await Promise.all(
    [
      [0, half],
      [half, n],
    ].map(
      ([from, to]) =>
        new Promise((resolve, reject) => {
          fork(fileURLToPath(import.meta.url), ['insert', root, String(from), String(to)]).once(
            'exit',
            (code) => (code === 0 ? resolve() : reject(new Error(`insert exited ${code}`))),
          );
        }),
    ),
  );
  console.log(`  setup N=${n}: ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return root;
}

async function claims(root, round) {
  const store = new FileWorkflowStore({ root });
  const empty = [];
  const due = [];
  for (let i = 0; i < CLAIMS; i++) {
    let t = performance.now();
    if ((await store.claim({ leaseMs: 60_000 })) !== undefined)
      throw new Error('a sleeper was claimed');
    empty.push(performance.now() - t);
    const id = `due-${round}-${i}`;
    await store.insert({ id, handler: 'h' });
    t = performance.now();
    const claimed = await store.claim({ leaseMs: 60_000 });
    due.push(performance.now() - t);
    if (claimed?.record.id !== id)
      throw new Error(`claimed ${claimed?.record.id} instead of ${id}`);
    await store.finish(id, claimed.token, { status: 'completed' });
  }
  return { empty: median(empty), due: median(due) };
}

// A workflow with `history` steps recorded (fsync off: setup), then STEPS more timed with fsync on.
async function prepareSteps(history) {
  const root = mkdtempSync(join(tmpdir(), 'durable-fs-steps-'));
  const setup = new FileWorkflowStore({ root, fsync: false });
  await setup.insert({ id: 'w', handler: 'h' });
  const claimed = await setup.claim({ leaseMs: 3_600_000 });
  for (let i = 0; i < history; i++)
    await setup.saveStep('w', claimed.token, i, {
      id: `s${i}`,
      kind: 'step',
      done: true,
      value: { i, ok: true },
      at: Date.now(),
    });
  return { root, token: claimed.token, next: history };
}

async function stepCost(prepared) {
  const store = new FileWorkflowStore({ root: prepared.root });
  const times = [];
  for (let i = 0; i < STEPS; i++) {
    const index = prepared.next++;
    const t = performance.now();
    await store.saveStep('w', prepared.token, index, {
      id: `s${index}`,
      kind: 'step',
      done: true,
      value: { i: index, ok: true },
      at: Date.now(),
    });
    times.push(performance.now() - t);
  }
  return median(times);
}

const uptime = () => execFileSync('uptime').toString().trim();
console.log(`fs workflow store scale: ${ROUNDS} interleaved rounds; ${uptime()}`);
const sets = [];
for (const n of SCALES) sets.push({ n, root: await setUp(n), results: [] });
const histories = [];
for (const h of HISTORIES) histories.push({ h, prepared: await prepareSteps(h), results: [] });
const ratios = { empty: [], due: [], step: [] };
for (let round = 0; round < ROUNDS; round++) {
  const order = round % 2 === 0 ? sets : [...sets].reverse();
  for (const set of order) set.results.push(await claims(set.root, round));
  const first = sets[0].results[round];
  const last = sets[sets.length - 1].results[round];
  ratios.empty.push(last.empty / first.empty);
  ratios.due.push(last.due / first.due);
  const hOrder = round % 2 === 0 ? histories : [...histories].reverse();
  for (const h of hOrder) h.results.push(await stepCost(h.prepared));
  ratios.step.push(histories[histories.length - 1].results[round] / histories[0].results[round]);
}
const range = (list, digits = 2) =>
  `${median(list).toFixed(digits)} (${Math.min(...list).toFixed(digits)}–${Math.max(
    ...list,
  ).toFixed(digits)})`;
for (const set of sets) {
  console.log(
    `  N=${String(set.n).padStart(6)} sleeping: empty claim ${range(
      set.results.map((r) => r.empty),
    )} ms, due claim ${range(set.results.map((r) => r.due))} ms (median of rounds' medians, range)`,
  );
}
for (const h of histories)
  console.log(`  step with ${String(h.h).padStart(4)} recorded: ${range(h.results)} ms`);
console.log(
  `  ratios per round: empty claim ${SCALES.at(-1)}/${SCALES[0]} ${range(
    ratios.empty,
  )}, due claim ${range(ratios.due)} (target <= 2); step ${HISTORIES[1]}/${HISTORIES[0]} ${range(
    ratios.step,
  )} (target <= 1.5)`,
);
console.log(`  ${uptime()}`);
// Cleaned up after the figures are out (removing 100,000 folders takes a while).
for (const set of sets) rmSync(set.root, { recursive: true, force: true });
for (const h of histories) rmSync(h.prepared.root, { recursive: true, force: true });
