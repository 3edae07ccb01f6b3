// Redis lock acquire latency, p50/p99: uncontended (one process, one key at a time), and 8
// processes contending for one key (each warmed up, started together, then acquires, holds
// ~1 ms, releases), with the pub/sub wake-up on release and with plain jittered backoff only.
// redis-server started here.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { startRedis } from './support/redis-server.mjs';
import { RedisLockManager } from '@durable/redis-lock';
import { quantile } from './support/stats.mjs';

const [, , role, urlArg, countArg, wakeArg] = process.argv;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

if (role === 'child') {
  const client = new Redis(urlArg);
  const lock = new RedisLockManager({ client, wakeOnRelease: wakeArg === 'wake' });
  // Warm up (connection, script load, pub/sub subscription), then start together, so the
  // figures are steady-state contention rather than process start-up.
  await (await lock.acquire(`warm/${process.pid}`, { waitMs: 1 })).release();
  const barrier = `barrier:${wakeArg}`;
  await client.incr(barrier);
  while (Number(await client.get(barrier)) < 8) await sleep(2);
  const latencies = [];
  const startedAt = Date.now();
  for (let i = 0; i < Number(countArg); i++) {
    const started = performance.now();
    const lease = await lock.acquire('contended', { ttlMs: 30_000, waitMs: 120_000 });
    latencies.push(performance.now() - started);
    await sleep(1);
    await lease.release();
  }
  process.stdout.write(JSON.stringify({ latencies, start: startedAt, end: Date.now() }));
  await lock.close();
  client.disconnect();
} else {
  const { url, stop } = await startRedis();
  const client = new Redis(url);
  const lock = new RedisLockManager({ client });
  const N = 2000;
  for (let i = 0; i < 200; i++) await (await lock.acquire(`warm/${i}`)).release();
  const solo = [];
  for (let i = 0; i < N; i++) {
    const started = performance.now();
    const lease = await lock.acquire(`solo/${i % 50}`, { ttlMs: 30_000 });
    solo.push(performance.now() - started);
    await lease.release();
  }
  console.log('redis lock (RedisLockManager) acquire latency, redis-server on 127.0.0.1:');
  console.log(`  uncontended, ${N} acquires:            ${summary(solo)}`);
  for (const mode of ['wake', 'backoff']) {
    const PROCS = 8;
    const PER = 100;
    const outputs = await Promise.all(
      Array.from({ length: PROCS }, () => runChild(url, PER, mode)),
    );
    const runs = outputs.map((text) => JSON.parse(text));
    const seconds =
      (Math.max(...runs.map((r) => r.end)) - Math.min(...runs.map((r) => r.start))) / 1000;
    const all = runs.flatMap((r) => r.latencies);
    const label =
      mode === 'wake' ? 'pub/sub wake-up on release' : 'backoff only (wakeOnRelease: false)';
    console.log(`  8 processes x ${PER} on one key, ${label}:`);
    console.log(`    ${summary(all)}; ${(all.length / seconds).toFixed(0)} grants/s`);
  }
  await lock.close();
  client.disconnect();
  await stop();
}

function summary(values) {
  return `p50 ${quantile(values, 0.5).toFixed(2)} ms, p99 ${quantile(values, 0.99).toFixed(
    2,
  )} ms, max ${Math.max(...values).toFixed(2)} ms`;
}

function runChild(url, count, mode) {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [fileURLToPath(import.meta.url), 'child', url, String(count), mode],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.on('exit', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`child exited ${code}`)),
    );
  });
}
