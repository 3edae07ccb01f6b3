// fsm-server: the cost of one transition (FsmService.applyEvent: duplicate check, transition
// lookup, one compare-and-swap of the machine record) against one bare compare-and-swap write of
// a value of the same size on the same storage, one in flight, on local files (@durable/fs,
// fsync on) and on Redis (RedisStorageManager, a redis-server started here). Interleaved rounds
// (BENCH_ROUNDS, default 9); the ratio is the median of per-round ratios. Target <= 1.5x.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalFileStorageManager } from '@durable/fs';
import { RedisStorageManager } from '@durable/redis-lock';
import { FsmService } from '@durable/fsm-server';
import { startRedis } from './support/redis-server.mjs';
import { median } from './support/stats.mjs';

const OPS = Number(process.env.BENCH_OPS ?? 200);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 9);
const HISTORY = 20; // history kept per machine, so every round writes records of one size
const TOGGLE = {
  name: 'toggle',
  version: 'v1',
  states: ['off', 'on'],
  transitions: [
    { from: 'off', to: 'on', event: 'toggle' },
    { from: 'on', to: 'off', event: 'toggle' },
  ],
  starting_state: 'off',
};

async function measure(label, storage) {
  // dedupWindow 0: no ids of dropped entries are kept, so the record keeps one size through a round.
  const service = new FsmService({ storage, historyLimit: HISTORY, dedupWindow: 0 });
  await service.createConfiguration(TOGGLE).catch(() => undefined);
  const transition = [];
  const bare = [];
  let seq = 0;
  // Warm up and size the value the bare writes use: a machine record with a full history.
  await service.createMachine('toggle:v1', `warm-${label}`);
  for (let i = 0; i < HISTORY + 5; i++)
    await service.applyEvent(`warm-${label}`, {
      event: 'toggle',
      eventId: `w${i}`,
      originator: 'bench',
    });
  const size = (await storage.read(`fsm/machines/warm-${label}`)).data.length;
  const value = 'x'.repeat(size);
  for (let round = 0; round < ROUNDS; round++) {
    const machine = `m-${round}`;
    await service.createMachine('toggle:v1', machine);
    for (let i = 0; i < HISTORY; i++)
      await service.applyEvent(machine, {
        event: 'toggle',
        eventId: `pre-${i}`,
        originator: 'bench',
      });
    let version = await storage.write(`bare/${round}`, value, { ifVersion: null });
    const runTransitions = async () => {
      const started = performance.now();
      for (let i = 0; i < OPS; i++)
        await service.applyEvent(machine, {
          event: 'toggle',
          eventId: `e-${seq++}`,
          originator: 'bench',
        });
      transition.push(OPS / ((performance.now() - started) / 1000));
    };
    const runBare = async () => {
      const started = performance.now();
      for (let i = 0; i < OPS; i++)
        version = await storage.write(`bare/${round}`, value, { ifVersion: version });
      bare.push(OPS / ((performance.now() - started) / 1000));
    };
    if (round % 2 === 0) {
      await runTransitions();
      await runBare();
    } else {
      await runBare();
      await runTransitions();
    }
  }
  const ratio = median(bare.map((b, i) => b / transition[i]));
  console.log(
    `  ${label.padEnd(6)} record ${size} B: transition median ${median(transition)
      .toFixed(0)
      .padStart(6)}/s, bare CAS write median ${median(bare)
      .toFixed(0)
      .padStart(6)}/s; transition cost ${ratio.toFixed(
      2,
    )}x a bare CAS (median of per-round ratios, target <= 1.5)`,
  );
}

console.log(
  `fsm transition vs bare compare-and-swap write, one in flight, ${OPS} per round, ${ROUNDS} interleaved rounds:`,
);
const root = mkdtempSync(join(tmpdir(), 'fsm-bench-'));
try {
  await measure('fs', new LocalFileStorageManager({ root }));
} finally {
  rmSync(root, { recursive: true, force: true });
}
const redis = await startRedis();
const storage = new RedisStorageManager({ url: redis.url, prefix: `bench${Date.now()}:` });
await measure('redis', storage);
await storage.close();
await redis.stop();
