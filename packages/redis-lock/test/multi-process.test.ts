import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { RedisLockManager } from '../src/index.js';
import { closeClient } from '../src/connection.js';
import type { RedisTestServer } from '@durable/test-support';
import { startRedisServer } from '@durable/test-support';
import type { WorkerEvent } from './support/workers.js';
import { startWorker } from './support/workers.js';

// Reliability across OS processes, each test on a redis-server of its own (started here, since
// one test kills it; REDIS_URL is not used).
const PROCESSES = 8;
const CYCLES = 300;
let server: RedisTestServer;
let client: Redis;
let dir: string;

beforeEach(async () => {
  server = await startRedisServer({ own: true });
  client = new Redis(server.url, { maxRetriesPerRequest: 1, retryStrategy: () => 50 });
  client.on('error', () => undefined);
  dir = mkdtempSync(join(tmpdir(), 'durable-redis-mp-'));
}, 30_000);
afterEach(async () => {
  await closeClient(client);
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}, 30_000);

test(`${PROCESSES} processes x ${CYCLES} lock-protected increments: exactly ${
  PROCESSES * CYCLES
}, zero double grants`, async () => {
  const marker = join(dir, 'holder');
  const workers = Array.from({ length: PROCESSES }, () =>
    startWorker('lock-counter', server.url, [String(CYCLES), marker]),
  );
  await Promise.all(workers.map((worker) => worker.finished()));
  expect(Number(await client.get('data:counter'))).toBe(PROCESSES * CYCLES);
  const events = workers.flatMap((worker) => worker.events);
  expect(events.filter((e) => e.event === 'double-grant')).toEqual([]);
  const tokens = events.filter((e) => e.event === 'grant').map((e) => e.fencingToken as number);
  expect(tokens).toHaveLength(PROCESSES * CYCLES);
  expect(new Set(tokens).size).toBe(tokens.length);
}, 180_000);

test("a holder SIGSTOPped past its TTL: another process takes over, and the resumed holder's late write is refused by its fencing token", async () => {
  const ttlMs = 800;
  const holder = startWorker('hold-late', server.url, [String(ttlMs)]);
  const held = await holder.next('held');
  holder.child.kill('SIGSTOP');
  try {
    // The paused holder cannot extend; a second process takes the expired lease and writes.
    const taker = startWorker('fenced-write', server.url, ['written by the taker']);
    const wrote = await taker.next('wrote');
    await taker.finished();
    expect(wrote.wrote).toBe(true);
    expect(wrote.fencingToken as number).toBeGreaterThan(held.fencingToken as number);
  } finally {
    holder.child.kill('SIGCONT');
  }
  holder.child.stdin!.write('go\n');
  const late = await holder.next('late');
  await holder.finished();
  expect(late).toEqual({ event: 'late', wrote: false, extend: 'LOCK_LOST', released: false });
  expect(await client.hgetall('data:resource')).toMatchObject({ value: 'written by the taker' });
}, 60_000);

test('the server killed mid-run: lock calls fail with retryable BACKEND errors, no pre-crash lease is still reported held, and work resumes when it is back', async () => {
  const holder = startWorker('hold-across-crash', server.url);
  const held = await holder.next('held');
  const workers = Array.from({ length: 4 }, () => startWorker('survive', server.url));
  await Promise.all(workers.map((worker) => worker.next('ok')));
  await new Promise((resolve) => setTimeout(resolve, 300));
  const killedAt = Date.now();
  await server.kill();
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const restartedAt = Date.now();
  await server.restart();
  // Work resumes: every worker commits increments again once the server is back.
  await Promise.all(
    workers.map(async (worker) => {
      for (;;) {
        const ok = await worker.next('ok');
        if ((ok.at as number) > restartedAt) return;
      }
    }),
  );
  for (const worker of workers) worker.child.stdin!.write('stop\n');
  await Promise.all(workers.map((worker) => worker.finished()));

  const events: WorkerEvent[] = workers.flatMap((worker) => worker.events);
  const lockErrors = events.filter((e) => e.event === 'error' && e.stage !== 'data');
  const outage = lockErrors.filter(
    (e) => (e.at as number) >= killedAt && (e.at as number) < restartedAt,
  );
  // Every failure of a lock call is a typed DurableError; while the server is down it is BACKEND.
  expect(lockErrors.length).toBeGreaterThan(0);
  for (const error of lockErrors) {
    expect(error.name).toBe('DurableError');
    expect(['BACKEND', 'LOCK_LOST', 'LOCK_TIMEOUT']).toContain(error.code);
  }
  expect(outage.length).toBeGreaterThan(0);
  for (const error of outage)
    expect({ code: error.code, retryable: error.retryable }).toEqual({
      code: 'BACKEND',
      retryable: true,
    });
  // Each worker made progress again after the restart.
  for (const worker of workers) {
    expect(worker.events.some((e) => e.event === 'ok' && (e.at as number) > restartedAt)).toBe(
      true,
    );
  }

  // The server lost the lease it held before the crash: its holder is told so, and the next
  // grant's fencing token is still greater than the lost one.
  holder.child.stdin!.write('go\n');
  expect(await holder.next('after-crash')).toEqual({
    event: 'after-crash',
    extend: 'LOCK_LOST',
    released: false,
  });
  await holder.finished();
  const manager = new RedisLockManager({ client });
  try {
    const next = await manager.acquire('held', { waitMs: 1000 });
    expect(next.fencingToken).toBeGreaterThan(held.fencingToken as number);
    await next.release();
  } finally {
    await manager.close();
  }
}, 60_000);
