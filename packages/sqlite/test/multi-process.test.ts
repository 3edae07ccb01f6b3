import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { bytesToText } from '@durable/core';
import { SqliteLockManager, SqliteStorageManager, SqliteWorkflowStore } from '../src/index.js';
import { finished, freshDatabase, lineReader, startWorker } from './support.js';

// Modest on purpose: the machine has 2 cores shared with other test runs.
const PROCESSES = 4;
const CYCLES = 150;

async function counter(path: string, key: string): Promise<number> {
  const storage = new SqliteStorageManager({ path });
  const entry = await storage.read(key);
  await storage.close();
  return Number(entry === undefined ? '0' : bytesToText(entry.data));
}

test(`${PROCESSES} processes x ${CYCLES} increments by conditional write and ${PROCESSES} x ${CYCLES} under the lock: no update lost, no fencing token granted twice`, async () => {
  const path = freshDatabase();
  const logs = Array.from({ length: PROCESSES }, (_, i) => join(dirname(path), `fencing-${i}.log`));
  const workers = [
    ...logs.map((log) => startWorker(['lock-counter', path, String(CYCLES), log])),
    ...logs.map(() => startWorker(['cas-counter', path, String(CYCLES)])),
  ];
  await Promise.all(workers.map(finished));
  expect(await counter(path, 'counter')).toBe(PROCESSES * CYCLES);
  expect(await counter(path, 'cas-counter')).toBe(PROCESSES * CYCLES);
  const tokens = logs.flatMap((log) => readFileSync(log, 'utf8').trim().split('\n').map(Number));
  expect(tokens).toHaveLength(PROCESSES * CYCLES);
  expect(new Set(tokens).size).toBe(tokens.length);
}, 180_000);

test('a SIGSTOPped lock holder past its TTL: another process takes over with a greater fencing token; once resumed, the stalled holder is refused by fencing, cannot extend, and its release reports false', async () => {
  const path = freshDatabase();
  const storage = new SqliteStorageManager({ path });
  const lock = new SqliteLockManager({ path });
  await storage.write('resource', JSON.stringify({ fencingToken: 0, owner: 'nobody' }));
  const ttlMs = 300;
  const holder = startWorker(['hold-stall-write', path, String(ttlMs)]);
  const done = finished(holder);
  const next = lineReader(holder);
  const held = JSON.parse(await next()) as { fencingToken: number };
  holder.kill('SIGSTOP');
  try {
    const lease = await lock.acquire('resource', { ttlMs: 10_000, waitMs: 10_000 });
    expect(lease.fencingToken).toBeGreaterThan(held.fencingToken);
    const current = await storage.read('resource');
    await storage.write(
      'resource',
      JSON.stringify({ fencingToken: lease.fencingToken, owner: 'successor' }),
      { ifVersion: current?.version ?? null },
    );
    holder.kill('SIGCONT');
    holder.stdin?.write('go\n');
    expect(JSON.parse(await next())).toEqual({
      write: 'refused by fencing',
      extend: 'LOCK_LOST',
      released: false,
    });
    await done;
    expect(
      JSON.parse(bytesToText((await storage.read('resource'))?.data ?? new Uint8Array())),
    ).toEqual({ fencingToken: lease.fencingToken, owner: 'successor' });
    expect(await lease.release()).toBe(true);
  } finally {
    holder.kill('SIGCONT');
    await storage.close();
    await lock.close();
  }
}, 60_000);

test('a process stalled inside a write transaction holds writers off (BACKEND, retryable, after busyTimeoutMs) but not readers; killed, its write lock is freed at once and its uncommitted row never appears', async () => {
  const path = freshDatabase();
  const storage = new SqliteStorageManager({ path, busyTimeoutMs: 200 });
  await storage.write('k', 'before');
  const stalled = startWorker(['hold-write-transaction', path]);
  const exited = new Promise((resolve) => stalled.on('exit', resolve));
  try {
    expect(await lineReader(stalled)()).toBe('in transaction');
    stalled.kill('SIGSTOP');
    await expect(storage.write('k', 'during')).rejects.toMatchObject({
      name: 'DurableError',
      code: 'BACKEND',
      retryable: true,
    });
    expect(bytesToText((await storage.read('k'))?.data ?? new Uint8Array())).toBe('before');
    expect(await storage.exists('uncommitted')).toBe(false);
    stalled.kill('SIGKILL');
    await exited;
    await storage.write('k', 'after');
    expect(bytesToText((await storage.read('k'))?.data ?? new Uint8Array())).toBe('after');
    expect(await storage.exists('uncommitted')).toBe(false);
  } finally {
    stalled.kill('SIGKILL');
    await storage.close();
  }
}, 60_000);

test(`${PROCESSES} processes claiming from 120 due workflows: each is claimed, stepped and finished by exactly one of them`, async () => {
  const path = freshDatabase();
  const store = new SqliteWorkflowStore({ path });
  const ids = Array.from({ length: 120 }, (_, i) => `wf-${i}`);
  for (const id of ids) await store.insert({ id, handler: 'h' });
  const workers = Array.from({ length: PROCESSES }, () => startWorker(['claim-all', path]));
  const outputs = await Promise.all(
    workers.map(async (worker) => {
      const line = await lineReader(worker)();
      await finished(worker);
      return { pid: worker.pid, ids: JSON.parse(line) as string[] };
    }),
  );
  expect(outputs.flatMap((output) => output.ids).sort()).toEqual([...ids].sort());
  for (const { pid, ids: mine } of outputs) {
    for (const id of mine) {
      const record = await store.get(id);
      expect(record?.status).toBe('completed');
      expect(record?.result).toBe(pid);
      expect(record?.steps).toHaveLength(1);
    }
  }
  await store.close();
}, 120_000);
