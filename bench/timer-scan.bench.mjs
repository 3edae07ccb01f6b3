// Cost of a timer run (fireDueTimers) that finds nothing due, with 10 and with 10,000 pending
// orchestration timers, on memory and on fs; and a run that fires 10 due timers among 10,000.
// The due index lists soonest first and a run stops at the first entry not yet due, so the cost
// should not grow with what is pending (target: 10,000 within 2x of 10). Setup writes the
// orchestrations without fsync (timing the runs only); the runs use a normal store.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryLockManager, MemoryStorageManager } from '@durable/core';
import { fireDueTimers, orchestrateCloudEvents } from '@durable/core/orchestrator';
import { FileLockManager, LocalFileStorageManager } from '@durable/fs';
import { assign, setup } from 'xstate';
import { median } from './support/stats.mjs';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);
const T0 = Date.parse('2026-01-01T00:00:00.000Z');

const machine = setup({ delays: { timeout: ({ context }) => context.delayMs } }).createMachine({
  id: 'deadline',
  initial: 'waiting',
  context: ({ input }) => ({ delayMs: input.delayMs, fired: 0 }),
  states: {
    waiting: {
      after: {
        timeout: {
          target: 'timedOut',
          actions: assign({ fired: ({ context }) => context.fired + 1 }),
        },
      },
    },
    timedOut: { type: 'final' },
  },
});

async function populate(storage, count, dueCount, name = 'p') {
  const starts = Array.from({ length: count }, (_, i) => ({
    subject: `${name}${i}`,
    // The first dueCount are due at T0 + 1 s; the rest an hour or more later.
    input: { delayMs: i < dueCount ? 1000 : 3_600_000 + i },
  }));
  const options = {
    versions: [{ version: '1', logic: machine }],
    storage,
    locking: 'write',
    concurrency: 16,
    clock: () => T0,
  };
  for (let i = 0; i < starts.length; i += 500)
    await orchestrateCloudEvents(options, [], starts.slice(i, i + 500));
}

async function timeRuns(makeOptions, rounds) {
  const times = [];
  for (let r = 0; r < rounds; r++) {
    const options = makeOptions();
    const started = performance.now();
    const result = await fireDueTimers(options);
    times.push(performance.now() - started);
    if (result.fired !== 0 || result.errors.length > 0)
      throw new Error(`expected nothing due, fired ${result.fired}`);
  }
  return median(times);
}

for (const backend of ['memory', 'fs']) {
  const results = {};
  for (const pending of [10, 10_000]) {
    const root = mkdtempSync(join(tmpdir(), 'durable-bench-timers-'));
    const memory = new MemoryStorageManager();
    const setupStorage =
      backend === 'memory' ? memory : new LocalFileStorageManager({ root, fsync: false });
    const t = performance.now();
    await populate(setupStorage, pending, 0);
    const setupMs = performance.now() - t;
    const makeOptions = () => ({
      versions: [{ version: '1', logic: machine }],
      storage: backend === 'memory' ? memory : new LocalFileStorageManager({ root }),
      lock: backend === 'memory' ? new MemoryLockManager() : new FileLockManager({ root }),
      clock: () => T0 + 5000,
    });
    results[pending] = await timeRuns(makeOptions, ROUNDS);
    console.log(
      `${backend}: ${pending} pending, none due: run median ${results[pending].toFixed(
        2,
      )} ms (${ROUNDS} runs; setup ${(setupMs / 1000).toFixed(1)} s)`,
    );
    if (pending === 10_000) {
      // 10 due among them: add 10 that are due, fire them once (one run), timed.
      await populate(setupStorage, 10, 10, 'due');
      const options = { ...makeOptions(), clock: () => T0 + 5000 };
      const started = performance.now();
      const fired = await fireDueTimers(options);
      console.log(
        `${backend}: 10,000 pending, 10 due: the run firing them took ${(
          performance.now() - started
        ).toFixed(1)} ms (fired ${fired.fired})`,
      );
    }
    rmSync(root, { recursive: true, force: true });
  }
  console.log(
    `${backend}: 10,000 / 10 pending, none due: ${(results[10_000] / results[10]).toFixed(
      2,
    )}x (target <= 2x)`,
  );
}
