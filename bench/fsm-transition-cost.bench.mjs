// fsm-server: the cost of one transition (FsmService.applyEvent: duplicate check, transition
// lookup, one compare-and-swap of the machine record) against one bare compare-and-swap write of
// a value of the same size on the same storage, one in flight, on local files (@durable/fs,
// fsync on) and on Redis (RedisStorageManager, a redis-server started here). BENCH_ROUNDS rounds
// (default 9) of BENCH_OPS pairs; within a round a transition and a bare write alternate one by
// one (so a change of the machine's load hits both sides alike), and the round's ratio is the
// sum of the transitions' times over the sum of the bare writes' times. The figure is the median
// of the per-round ratios. Target <= 1.5x. On Redis it also prints the server's own time per
// script call of each side (INFO commandstats), so a gap can be told server from client.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalFileStorageManager } from '@durable/fs';
import { RedisStorageManager } from '@durable/redis-lock';
import { FsmService } from '@durable/fsm-server';
import { startRedis } from './support/redis-server.mjs';
import { median } from './support/stats.mjs';
import Redis from 'ioredis';

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

/** The server's calls and microseconds of EVALSHA so far, or undefined without an admin client. */
async function scriptStats(admin) {
  if (admin === undefined) return undefined;
  const match = /cmdstat_evalsha:calls=(\d+),usec=(\d+)/.exec(await admin.info('commandstats'));
  return match === null
    ? { calls: 0, usec: 0 }
    : { calls: Number(match[1]), usec: Number(match[2]) };
}

async function measure(label, storage, admin) {
  // dedupWindow 0: no ids of dropped entries are kept, so the record keeps one size through a round.
  const service = new FsmService({ storage, historyLimit: HISTORY, dedupWindow: 0 });
  await service.createConfiguration(TOGGLE).catch(() => undefined);
  const ratios = [];
  const transition = [];
  const bare = [];
  const serverUs = { transition: { calls: 0, usec: 0 }, bare: { calls: 0, usec: 0 } };
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
    const oneTransition = async () => {
      const started = performance.now();
      await service.applyEvent(machine, {
        event: 'toggle',
        eventId: `e-${seq++}`,
        originator: 'bench',
      });
      return performance.now() - started;
    };
    const oneBare = async () => {
      const started = performance.now();
      version = await storage.write(`bare/${round}`, value, { ifVersion: version });
      return performance.now() - started;
    };
    let transitionMs = 0;
    let bareMs = 0;
    for (let i = 0; i < OPS; i++) {
      // Which side goes first alternates too.
      if (i % 2 === 0) {
        transitionMs += await oneTransition();
        bareMs += await oneBare();
      } else {
        bareMs += await oneBare();
        transitionMs += await oneTransition();
      }
    }
    transition.push(OPS / (transitionMs / 1000));
    bare.push(OPS / (bareMs / 1000));
    ratios.push(transitionMs / bareMs);
    // Server time per call of each side, from separate runs of 100 (a script call's own stats).
    for (const [side, run] of [
      ['transition', oneTransition],
      ['bare', oneBare],
    ]) {
      const before = await scriptStats(admin);
      if (before === undefined) break;
      for (let i = 0; i < 100; i++) await run();
      const after = await scriptStats(admin);
      serverUs[side].calls += after.calls - before.calls;
      serverUs[side].usec += after.usec - before.usec;
    }
  }
  const server =
    admin === undefined
      ? ''
      : `; server time per script call: transition ${(
          serverUs.transition.usec / serverUs.transition.calls
        ).toFixed(
          1,
        )} us (${(serverUs.transition.calls / (100 * ROUNDS)).toFixed(2)} calls each), bare ${(
          serverUs.bare.usec / serverUs.bare.calls
        ).toFixed(1)} us`;
  console.log(
    `  ${label.padEnd(6)} record ${size} B: transition median ${median(transition)
      .toFixed(0)
      .padStart(6)}/s, bare CAS write median ${median(bare)
      .toFixed(0)
      .padStart(
        6,
      )}/s; transition cost ${median(ratios).toFixed(2)}x a bare CAS (median of per-round ratios ${Math.min(
      ...ratios,
    ).toFixed(2)}-${Math.max(...ratios).toFixed(2)}, target <= 1.5)${server}`,
  );
}

console.log(
  `fsm transition vs bare compare-and-swap write, one in flight, ${ROUNDS} rounds of ${OPS} alternating pairs:`,
);
const root = mkdtempSync(join(tmpdir(), 'fsm-bench-'));
try {
  await measure('fs', new LocalFileStorageManager({ root }));
} finally {
  rmSync(root, { recursive: true, force: true });
}
const redis = await startRedis();
const storage = new RedisStorageManager({ url: redis.url, prefix: `bench${Date.now()}:` });
const admin = new Redis(redis.url);
await measure('redis', storage, admin);
admin.disconnect();
await storage.close();
await redis.stop();
