// Persisted actor cycle on @durable/fs with a 2 KB context: lease, load, send one event, save,
// release (withPersistedActor, read-write locking), against the same storage + lock operations
// done by hand (acquire, read, JSON parse, change, JSON stringify, conditional write, release)
// in the same run. Target: the actor cycle within 1.3x of the bare operations.
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { bytesToText } from '@durable/core';
import { withPersistedActor } from '@durable/core/actor';
import { FileLockManager, LocalFileStorageManager } from '@durable/fs';
import { median } from './support/stats.mjs';

// xstate as @durable/core itself resolves it (the bench package does not depend on it).
const coreDir = dirname(createRequire(import.meta.url).resolve('@durable/core/package.json'));
const { assign, createActor, createMachine } = await import(
  pathToFileURL(createRequire(join(coreDir, 'package.json')).resolve('xstate')).href
);

const payload = 'x'.repeat(2048);
const machine = createMachine({
  id: 'bench',
  initial: 'active',
  context: { count: 0, payload },
  states: {
    active: { on: { INC: { actions: assign({ count: ({ context }) => context.count + 1 }) } } },
  },
});

const root = mkdtempSync(join(tmpdir(), 'durable-bench-actor-'));
const storage = new LocalFileStorageManager({ root });
const lock = new FileLockManager({ root });

async function actorCycle(id) {
  await withPersistedActor(
    {
      id,
      storage,
      lock,
      locking: 'read-write',
      actorCreator: (key, snapshot) =>
        createActor(machine, snapshot === undefined ? {} : { snapshot }),
    },
    (actor) => actor.send({ type: 'INC' }),
  );
}

async function bareCycle(id) {
  const lease = await lock.acquire(id, { ttlMs: 30_000, waitMs: 10_000 });
  try {
    const entry = await storage.read(id);
    const state = entry === undefined ? { count: 0, payload } : JSON.parse(bytesToText(entry.data));
    state.count += 1;
    await storage.write(id, JSON.stringify(state), { ifVersion: entry?.version ?? null });
  } finally {
    await lease.release();
  }
}

async function measure(fn, id, n) {
  const started = performance.now();
  for (let i = 0; i < n; i++) await fn(id);
  return performance.now() - started;
}

const ROUNDS = 10;
const N = 50;
await measure(actorCycle, 'warm/actor', 20);
await measure(bareCycle, 'warm/bare', 20);
let actorMs = 0;
let bareMs = 0;
const roundRatios = [];
// Interleaved rounds in alternating order, so machine noise (other processes on 2 shared cores)
// and whatever runs second hit both alike.
for (let round = 0; round < ROUNDS; round++) {
  let bare;
  let actor;
  if (round % 2 === 0) {
    bare = await measure(bareCycle, 'bench/bare', N);
    actor = await measure(actorCycle, 'bench/actor', N);
  } else {
    actor = await measure(actorCycle, 'bench/actor', N);
    bare = await measure(bareCycle, 'bench/bare', N);
  }
  bareMs += bare;
  actorMs += actor;
  roundRatios.push(actor / bare);
}
const medianRatio = median(roundRatios);
const stored = JSON.parse(bytesToText((await storage.read('bench/actor')).data));
rmSync(root, { recursive: true, force: true });

const total = ROUNDS * N;
const actorRate = total / (actorMs / 1000);
const bareRate = total / (bareMs / 1000);
const ratio = bareRate / actorRate;
console.log(`persisted actor cycle on fs, 2 KB context, ${total} cycles each (interleaved):`);
console.log(
  `  withPersistedActor (lease, load, send, save, release): ${actorRate.toFixed(0)} cycles/s (${(
    actorMs / total
  ).toFixed(2)} ms each)`,
);
console.log(
  `  bare storage + lock by hand:                           ${bareRate.toFixed(0)} cycles/s (${(
    bareMs / total
  ).toFixed(2)} ms each)`,
);
console.log(
  `  ratio ${ratio.toFixed(2)}x overall, median of ${ROUNDS} rounds ${medianRatio.toFixed(
    2,
  )}x (target <= 1.3x): ${medianRatio <= 1.3 ? 'ok' : 'OVER'}`,
);
if (stored.snapshot.context.count !== total)
  throw new Error(`expected count ${total}, stored ${stored.snapshot.context.count}`);
