// Claim cost as sleeping workflows pile up: @durable/sqlite's store (a partial index on due time)
// against @durable/fs's (whatever main has), with N = 100 and 100,000 workflows sleeping (not due
// for a day). The sleepers are inserted with fsync off by 2 forked processes (setup, not
// measured); claims are then measured on fresh stores with fsync on, in interleaved rounds:
//   - an empty claim (nothing due), the cost every idle poll pays;
//   - a due claim: one due workflow inserted, claimed (timed) and finished.
// Usage: node bench/sqlite-claim-scale.bench.mjs   (SCALES=100,100000 ROUNDS=3 CLAIMS=10)
import { execFileSync, fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FileWorkflowStore } from '@durable/fs';
import { SqliteWorkflowStore } from '@durable/sqlite';
import { median } from './support/stats.mjs';

const SCALES = (process.env.SCALES ?? '100,100000').split(',').map(Number);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const CLAIMS = Number(process.env.CLAIMS ?? 10);
const DAY = 86_400_000;

function open(backend, where, fsync) {
  return backend === 'fs'
    ? new FileWorkflowStore({ root: where, fsync })
    : new SqliteWorkflowStore({ path: where, fsync });
}

if (process.argv[2] === 'insert') {
  const [, , , backend, where, from, to] = process.argv;
  const store = open(backend, where, false);
  const runAt = Date.now() + DAY;
  for (let i = Number(from); i < Number(to); i++)
    await store.insert({ id: `sleeper-${i}`, handler: 'h', runAt });
  await store.close?.();
  process.exit(0);
}

async function setUp(backend, n) {
  const dir = mkdtempSync(join(tmpdir(), `durable-claim-${backend}-`));
  const where = backend === 'fs' ? dir : join(dir, 'durable.db');
  await open(backend, where, false).close?.(); // create the schema once, before two processes race to
  const started = performance.now();
  const half = Math.ceil(n / 2);
  await Promise.all(
    [
      [0, half],
      [half, n],
    ].map(
      ([from, to]) =>
        new Promise((resolve, reject) => {
          fork(fileURLToPath(import.meta.url), [
            'insert',
            backend,
            where,
            String(from),
            String(to),
          ]).once('exit', (code) =>
            code === 0 ? resolve() : reject(new Error(`insert exited ${code}`)),
          );
        }),
    ),
  );
  console.log(`  setup ${backend} N=${n}: ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return { dir, where };
}

async function measure(backend, where, round) {
  const store = open(backend, where, true);
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
  await store.close?.();
  return { empty: median(empty), due: median(due) };
}

const uptime = () => execFileSync('uptime').toString().trim();
console.log(
  `claim cost with N sleeping workflows, ${ROUNDS} interleaved rounds of ${CLAIMS} claims each; ${uptime()}`,
);
const sets = [];
for (const n of SCALES)
  for (const backend of ['sqlite', 'fs'])
    sets.push({ backend, n, ...(await setUp(backend, n)), results: [] });
for (let round = 0; round < ROUNDS; round++) {
  const order = round % 2 === 0 ? sets : [...sets].reverse();
  for (const set of order) set.results.push(await measure(set.backend, set.where, round));
}
for (const set of sets) rmSync(set.dir, { recursive: true, force: true });
const range = (list) =>
  `${median(list).toFixed(2)} (${Math.min(...list).toFixed(2)}–${Math.max(...list).toFixed(2)})`;
for (const set of sets) {
  console.log(
    `  ${set.backend.padEnd(6)} N=${String(set.n).padStart(6)}: empty claim ${range(
      set.results.map((r) => r.empty),
    )} ms, due claim ${range(set.results.map((r) => r.due))} ms (median of rounds' medians, range)`,
  );
}
for (const backend of ['sqlite', 'fs']) {
  const [small, large] = [SCALES[0], SCALES[SCALES.length - 1]].map((n) =>
    sets.find((s) => s.backend === backend && s.n === n),
  );
  const ratio = (kind) =>
    (median(large.results.map((r) => r[kind])) / median(small.results.map((r) => r[kind]))).toFixed(
      2,
    );
  console.log(
    `  ${backend}: N=${large.n} / N=${small.n}: empty ${ratio('empty')}x, due ${ratio(
      'due',
    )}x (target <= 2)`,
  );
}
console.log(`  ${uptime()}`);
