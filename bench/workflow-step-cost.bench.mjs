// Two measures of one ctx.step.
// 1. Growth: does step N cost more as the history grows? Two workflows, one with 990 steps
//    recorded and one with 10, take turns, one step each, timed from inside
//    (support/step-growth.mjs): step ~1,000 against step ~10 in the same seconds, on the memory
//    store, the storage-backed store on memory storage and on fs storage, and the fs store.
//    Target: step 1,000 <= 1.5x step 10.
// 2. Against the bare durable writes it needs, STEPS steps timed from inside one workflow: for the
//    fs store, a conditional (compare-and-swap), fsynced write of a record of the same size to the
//    fs storage (also printed for the storage-backed store, whose steps were inline in the record
//    before they became their own keys); for the storage-backed store, the two writes it makes
//    now (the step's key created, then the record's compare-and-swap). Target: within 1.5x.
// BENCH_PARTS=growth,bare picks the parts.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileLockManager, LocalFileStorageManager, FileWorkflowStore } from '@durable/fs';
import { median } from './support/stats.mjs';
import { stepGrowth } from './support/step-growth.mjs';

const { MemoryStorageManager, MemoryWorkflowStore, StorageWorkflowStore } = await import(
  '@durable/core'
);
const { LidexClient } = await import('@durable/workflow/lidex');

const STEPS = Number(process.env.BENCH_STEPS ?? 150);
const ROUNDS = 7;
const PARTS = (process.env.BENCH_PARTS ?? 'growth,bare').split(',');
const GROWTH_STEPS = 1000;
const GROWTH_ROUNDS = Number(process.env.BENCH_GROWTH_ROUNDS ?? 3);

const growthStores = {
  memory: () => ({ store: new MemoryWorkflowStore() }),
  'storage on memory': () => ({
    store: new StorageWorkflowStore({ storage: new MemoryStorageManager() }),
  }),
  'storage on fs': () => {
    const root = mkdtempSync(join(tmpdir(), 'durable-bench-growth-'));
    return {
      store: new StorageWorkflowStore({ storage: new LocalFileStorageManager({ root }) }),
      root,
    };
  },
  fs: () => {
    const root = mkdtempSync(join(tmpdir(), 'durable-bench-growth-'));
    return { store: new FileWorkflowStore({ root }), root };
  },
};

if (PARTS.includes('growth')) {
  console.log(
    `step cost at step ~10 and step ~1,000: two workflows taking turns, one step in flight (support/step-growth.mjs), ${GROWTH_ROUNDS} rounds`,
  );
  for (const [kind, make] of Object.entries(growthStores)) {
    const rows = [];
    for (let round = 0; round < GROWTH_ROUNDS; round++) {
      const { store, root } = make();
      const row = await stepGrowth(
        (handlers) => new LidexClient({ store, pollIntervalMs: 1000, handlers }),
        { total: GROWTH_STEPS, timed: 40 },
      );
      if (root !== undefined) rmSync(root, { recursive: true, force: true });
      rows.push(row);
    }
    const fmt = (key, digits) => rows.map((r) => r[key].toFixed(digits)).join(' / ');
    console.log(
      `  ${kind.padEnd(18)} step 10: ${fmt('early', 3)} ms, step 1,000: ${fmt('late', 3)} ms: ${fmt(
        'ratio',
        2,
      )}x (target <= 1.5x)`,
    );
  }
}

async function stepCost(kind) {
  const root = mkdtempSync(join(tmpdir(), 'durable-bench-step-'));
  const store =
    kind === 'fs'
      ? new FileWorkflowStore({ root })
      : new StorageWorkflowStore({
          storage: new LocalFileStorageManager({ root }),
          lock: new FileLockManager({ root }),
          lockWrites: kind === 'generic+lock',
        });
  let perStep = 0;
  const client = new LidexClient({
    store,
    // The default poll interval: a 1 ms poll would read the running record every millisecond.
    pollIntervalMs: 1000,
    handlers: {
      many: async (ctx) => {
        const t0 = performance.now();
        for (let i = 0; i < STEPS; i++) await ctx.step(`step-${i}`, () => ({ i, ok: true }));
        perStep = (performance.now() - t0) / STEPS;
      },
    },
  });
  await client.start('w', 'many');
  const worker = client.poll();
  // Polled slowly: frequent reads of the record in this process would slow the steps down.
  const record = await client.wait('w', ['completed'], 10_000, 250);
  await worker.stop();
  const recordBytes = JSON.stringify(record).length;
  rmSync(root, { recursive: true, force: true });
  return { perStep, recordBytes };
}

async function bareWrite(bytes) {
  const root = mkdtempSync(join(tmpdir(), 'durable-bench-bare-'));
  const storage = new LocalFileStorageManager({ root });
  // The same growth as the workflow record: from a small record up to `bytes`.
  let version = await storage.write('workflows/w', '{}', { ifVersion: null });
  const t0 = performance.now();
  for (let i = 0; i < STEPS; i++) {
    const value = JSON.stringify({ pad: 'x'.repeat(Math.floor((bytes * (i + 1)) / STEPS)) });
    version = await storage.write('workflows/w', value, { ifVersion: version });
  }
  const perWrite = (performance.now() - t0) / STEPS;
  rmSync(root, { recursive: true, force: true });
  return perWrite;
}

// The storage-backed store's writes for one step since steps are their own keys: the step's key,
// created once ("only if absent"), then the record's compare-and-swap (its step count raised; the
// record no longer holds the history, so it does not grow).
async function bareKeyedWrites() {
  const root = mkdtempSync(join(tmpdir(), 'durable-bench-bare-'));
  const storage = new LocalFileStorageManager({ root });
  const header = JSON.stringify({ pad: 'x'.repeat(400) });
  let version = await storage.write('workflows/w', header, { ifVersion: null });
  const t0 = performance.now();
  for (let i = 0; i < STEPS; i++) {
    await storage.write(`workflows/steps/w/${String(i).padStart(10, '0')}`, JSON.stringify({ i }), {
      ifVersion: null,
    });
    version = await storage.write('workflows/w', header, { ifVersion: version });
  }
  const perStep = (performance.now() - t0) / STEPS;
  rmSync(root, { recursive: true, force: true });
  return perStep;
}

// Rounds pair a workflow run with a bare-write run right after it (the disk and the CPUs are
// shared with other work), and the figure is the median of the per-round ratios.
if (PARTS.includes('bare'))
  console.log(`${STEPS} steps per workflow, median of ${ROUNDS} paired rounds, fsync on`);
for (const kind of PARTS.includes('bare') ? ['fs', 'generic', 'generic+lock'] : []) {
  const steps = [];
  const writes = [];
  const ratios = [];
  const keyed = [];
  const keyedRatios = [];
  let bytes = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const { perStep, recordBytes } = await stepCost(kind);
    const perWrite = await bareWrite(recordBytes);
    bytes = recordBytes;
    steps.push(perStep);
    writes.push(perWrite);
    ratios.push(perStep / perWrite);
    if (kind !== 'fs') {
      const perKeyed = await bareKeyedWrites();
      keyed.push(perKeyed);
      keyedRatios.push(perStep / perKeyed);
    }
  }
  console.log(
    `${kind.padEnd(13)} step ${median(steps).toFixed(3)} ms vs bare conditional write ${median(
      writes,
    ).toFixed(3)} ms ` +
      `(record up to ${bytes} B): ${median(ratios).toFixed(2)}x` +
      (kind === 'fs' ? ' (target <= 1.5x)' : ''),
  );
  if (kind !== 'fs')
    console.log(
      `${''.padEnd(13)} vs the two writes a keyed step needs (its key, then the record) ${median(
        keyed,
      ).toFixed(3)} ms: ${median(keyedRatios).toFixed(2)}x (target <= 1.5x)`,
    );
}
