// Redis lock: acquire+release pairs per second, one in flight, on one redis-server started here:
// @durable/redis-lock against `redlock` (npm, single instance) and against the two bare round
// trips (SET NX PX + EVAL of the compare-and-delete script) done by hand, in interleaved rounds
// (BENCH_ROUNDS, default 21); ratios are the median of per-round ratios. Then the client-side
// cost alone, on a stand-in client. BENCH_PIN=0 runs unpinned.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { startRedis } from './support/redis-server.mjs';
import Redlock from 'redlock';
import { RedisLockManager } from '@durable/redis-lock';
import { median } from './support/stats.mjs';

// On this 2-vCPU VM, a round trip between two idle vCPUs costs about 70 µs of wake-up latency,
// which swamps what either library does and drifts from round to round. Unless BENCH_PIN=0, the
// bench re-runs itself with it and its redis-server on one CPU (taskset), where a pair costs
// about 47 µs of real work and the figures repeat.
if (
  process.env.BENCH_PIN !== '0' &&
  process.env.BENCH_PINNED !== '1' &&
  spawnSync('taskset', ['-V']).status === 0
) {
  const pinned = spawnSync('taskset', ['-c', '0', process.execPath, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, BENCH_PINNED: '1' },
  });
  process.exit(pinned.status ?? 1);
}
const PAIRS = Number(process.env.BENCH_PAIRS ?? 500);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 21);
const { url, stop } = await startRedis();
const client = new Redis(url);
const RELEASE =
  "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";

const ours = new RedisLockManager({ client });
const redlock = new Redlock([client], { retryCount: 0, automaticExtensionThreshold: 0 });
const contenders = {
  '@durable/redis-lock': async (key) => {
    const lease = await ours.acquire(key, { ttlMs: 30_000 });
    await lease.release();
  },
  'redlock 5.0.0-beta.2': async (key) => {
    const lock = await redlock.acquire([key], 30_000);
    await lock.release();
  },
  'bare SET NX PX + EVAL': async (key) => {
    const token = randomBytes(16).toString('hex');
    if ((await client.set(key, token, 'PX', 30_000, 'NX')) !== 'OK') throw new Error('not granted');
    await client.eval(RELEASE, 1, key, token);
  },
};

const results = Object.fromEntries(Object.keys(contenders).map((name) => [name, []]));
for (const [name, pair] of Object.entries(contenders))
  for (let i = 0; i < 200; i++) await pair(`warm:${name}`);
for (let round = 0; round < ROUNDS; round++) {
  // Rotate the order each round, so that no contender always runs right after another's burst.
  const entries = Object.entries(contenders);
  const order = entries
    .slice(round % entries.length)
    .concat(entries.slice(0, round % entries.length));
  for (const [name, pair] of order) {
    const key = `bench:${name}:${round}`;
    const started = performance.now();
    for (let i = 0; i < PAIRS; i++) await pair(key);
    results[name].push(PAIRS / ((performance.now() - started) / 1000));
  }
}
if (process.env.BENCH_VERBOSE)
  for (const [n, v] of Object.entries(results))
    console.log(n, v.map((x) => x.toFixed(0)).join(' '));
const rate = Object.fromEntries(
  Object.entries(results).map(([name, values]) => [name, median(values)]),
);
const best = Object.fromEntries(
  Object.entries(results).map(([name, values]) => [name, Math.max(...values)]),
);
// The machine is shared, so the load changes between rounds: compare within each round.
const perRound = (a, b) => median(results[a].map((value, i) => value / results[b][i]));
console.log(
  `redis lock, acquire+release pairs per second (one in flight, ${PAIRS} pairs per round, ${ROUNDS} interleaved rounds, redis-server on 127.0.0.1, ${
    process.env.BENCH_PINNED === '1' ? 'both pinned to CPU 0' : 'not pinned'
  }):`,
);
for (const [name, value] of Object.entries(rate)) {
  console.log(
    `  ${name.padEnd(24)} median ${value.toFixed(0).padStart(6)} pairs/s, best ${best[name]
      .toFixed(0)
      .padStart(6)}`,
  );
}
console.log(
  `  ours / redlock: ${perRound('@durable/redis-lock', 'redlock 5.0.0-beta.2').toFixed(
    2,
  )}x, median of per-round ratios (target >= 1)`,
);
console.log(
  `  bare / ours:    ${perRound('bare SET NX PX + EVAL', '@durable/redis-lock').toFixed(
    2,
  )}x, median of per-round ratios (target <= 1.2)`,
);

await ours.close();
await redlock.quit?.().catch?.(() => undefined);
client.disconnect();
await stop();

// The client-side share of that cost, without the network or the server: the same calls on a
// stand-in client whose EVALSHA answers at once (a grant, then a release), so what remains is
// each library's own bookkeeping (tokens, key names, validation, promises, lease objects).
const granting = (reply) => ({
  evalsha: () => Promise.resolve(reply),
  eval: () => Promise.resolve(reply),
  on() {},
  status: 'ready',
});
let fence = 0;
const oursOffline = new RedisLockManager({
  client: { ...granting(0), evalsha: () => Promise.resolve(++fence) },
  wakeOnRelease: false,
});
const redlockOffline = new Redlock([granting(1)], {
  retryCount: 0,
  automaticExtensionThreshold: 0,
});
const offline = {
  '@durable/redis-lock': async () =>
    (await oursOffline.acquire('bench:offline', { ttlMs: 30_000 })).release(),
  'redlock 5.0.0-beta.2': async () =>
    (await redlockOffline.acquire(['bench:offline'], 30_000)).release(),
};
const OFFLINE_PAIRS = 100_000;
const nanos = Object.fromEntries(Object.keys(offline).map((name) => [name, []]));
for (let round = 0; round < 5; round++) {
  for (const [name, pair] of Object.entries(offline)) {
    const started = performance.now();
    for (let i = 0; i < OFFLINE_PAIRS; i++) await pair();
    nanos[name].push(((performance.now() - started) * 1e6) / OFFLINE_PAIRS);
  }
}
console.log(
  `client-side cost per acquire+release, stand-in client answering at once (median of 5 rounds of ${OFFLINE_PAIRS}):`,
);
for (const [name, values] of Object.entries(nanos))
  console.log(`  ${name.padEnd(24)} ${(median(values) / 1000).toFixed(2)} µs`);
