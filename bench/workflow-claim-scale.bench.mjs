// How a claim scales with the number of workflows that are not due (sleeping, or scheduled
// later): N such workflows plus 20 due ones, N = 100 and 100,000 (and 1,000 / 10,000 on fs).
// Target: a claim with 100,000 sleeping workflows costs at most 2x the claim with 100.
//  - memory: the core's memory store (a due-time queue).
//  - storage-memory: the storage-backed store on the core's memory storage (the layout a store on
//    S3 uses; memory storage lists by prefix the way S3 does, page by page in key order).
//  - fs: the fs store, in a fresh worker process per N (its first claim reads every unfinished
//    record once; later ones skip those from memory).
// Each store is measured in rounds; a round times 20 claims that find a due workflow and 50
// claims that find nothing due. BENCH_STORES=memory,storage-memory,fs picks stores;
// BENCH_FS_MAX caps N on fs (default 10000: filling 100,000 takes minutes there).
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median } from './support/stats.mjs';

const DUE = 20;
const EMPTY = 50;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const STORES = (process.env.BENCH_STORES ?? 'memory,storage-memory,fs').split(',');
const FS_MAX = Number(process.env.BENCH_FS_MAX ?? 10_000);
const [, , role, rootArg] = process.argv;

async function timeClaims(store) {
  const due = [];
  for (let i = 0; i < DUE; i++) {
    const started = performance.now();
    const claimed = await store.claim({ leaseMs: 3_600_000 });
    due.push(performance.now() - started);
    if (claimed === undefined) throw new Error(`claim ${i} found nothing`);
  }
  const empty = [];
  for (let i = 0; i < EMPTY; i++) {
    const started = performance.now();
    const claimed = await store.claim({ leaseMs: 3_600_000 });
    empty.push(performance.now() - started);
    if (claimed !== undefined) throw new Error('claimed a workflow that is not due');
  }
  return { due, empty };
}

async function fill(store, n, later) {
  const batch = [];
  for (let i = 0; i < n; i++) {
    batch.push(store.insert({ id: `sleeping-${i}`, handler: 'h', runAt: later + i }));
    if (batch.length === 500) await Promise.all(batch.splice(0));
  }
  await Promise.all(batch);
  for (let i = 0; i < DUE; i++) await store.insert({ id: `due-${i}`, handler: 'h' });
}

if (role === 'claimer') {
  const { FileWorkflowStore } = await import('@durable/fs');
  const store = new FileWorkflowStore({ root: rootArg });
  const times = [];
  for (let i = 0; i < DUE + 1; i++) {
    const started = performance.now();
    const claimed = await store.claim({ leaseMs: 60_000 });
    times.push(performance.now() - started);
    if (i < DUE && claimed === undefined) throw new Error(`claim ${i} found nothing`);
    if (i === DUE && claimed !== undefined) throw new Error('claimed a workflow that is not due');
  }
  process.send(times);
} else {
  const core = await import('@durable/core');
  const makers = {
    memory: () => new core.MemoryWorkflowStore(),
    'storage-memory': () =>
      new core.StorageWorkflowStore({ storage: new core.MemoryStorageManager() }),
  };
  for (const kind of STORES.filter((k) => k in makers)) {
    console.log(
      `${kind}: claim time, N workflows not due + ${DUE} due, ${ROUNDS} rounds (medians per round)`,
    );
    const byN = {};
    for (const n of [100, 100_000]) {
      const rounds = [];
      for (let round = 0; round < ROUNDS; round++) {
        const store = makers[kind]();
        await fill(store, n, Date.now() + 3_600_000);
        const { due, empty } = await timeClaims(store);
        rounds.push({ due: median(due), empty: median(empty) });
      }
      byN[n] = rounds;
      const fmt = (key) => rounds.map((r) => r[key].toFixed(3)).join(' / ');
      console.log(
        `  N = ${String(n).padStart(6)}: due claim ${fmt('due')} ms, claim finding nothing ${fmt(
          'empty',
        )} ms`,
      );
    }
    const ratio = (key) =>
      byN[100_000].map((r, i) => (r[key] / byN[100][i][key]).toFixed(2)).join(' / ');
    console.log(
      `  100,000 vs 100, per round: due ${ratio('due')}x, nothing due ${ratio(
        'empty',
      )}x (target <= 2x)`,
    );
  }
  if (STORES.includes('fs')) {
    const { FileWorkflowStore } = await import('@durable/fs');
    console.log(
      `fs workflow store: claim time with N workflows not due + ${DUE} due, in a fresh process (fsync off while filling)`,
    );
    for (const n of [100, 1_000, 10_000, 100_000].filter((x) => x <= FS_MAX)) {
      const root = mkdtempSync(join(tmpdir(), 'durable-bench-claim-'));
      const filler = new FileWorkflowStore({ root, fsync: false });
      await fill(filler, n, Date.now() + 3_600_000);
      const times = await new Promise((resolve, reject) => {
        const child = fork(fileURLToPath(import.meta.url), ['claimer', root]);
        child.once('message', resolve);
        child.once('exit', (code) =>
          code === 0 ? undefined : reject(new Error(`claimer exited ${code}`)),
        );
      });
      console.log(
        `  N = ${String(n).padStart(6)}: first claim ${times[0].toFixed(
          1,
        )} ms, later claims median ${median(times.slice(1, DUE)).toFixed(2)} ms` +
          `, a claim that finds nothing due ${times[DUE].toFixed(2)} ms`,
      );
      rmSync(root, { recursive: true, force: true });
    }
  }
}
