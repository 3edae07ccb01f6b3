import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bytesToText } from '@durable/core';
import { FileLockManager, LocalFileStorageManager } from '../src/index.js';
import { finished, firstLine, startWorker } from './support.js';

const PROCESSES = 8;
const CYCLES = 300;
let root: string;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'durable-fs-mp-'));
});
afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

async function readCounter(): Promise<number> {
  const entry = await new LocalFileStorageManager({ root }).read('counter');
  return Number(entry === undefined ? '0' : bytesToText(entry.data));
}

test(`${PROCESSES} processes x ${CYCLES} read-increment-write cycles under the fs lock: exactly ${
  PROCESSES * CYCLES
}, no fencing token granted twice`, async () => {
  const logs = Array.from({ length: PROCESSES }, (_, i) => join(root, `fencing-${i}.log`));
  const workers = logs.map((log) => startWorker(['lock-counter', root, String(CYCLES), log]));
  await Promise.all(workers.map(finished));
  expect(await readCounter()).toBe(PROCESSES * CYCLES);
  const tokens = logs.flatMap((log) => readFileSync(log, 'utf8').trim().split('\n').map(Number));
  expect(tokens).toHaveLength(PROCESSES * CYCLES);
  expect(new Set(tokens).size).toBe(tokens.length);
}, 420_000);

test(`${PROCESSES} processes x ${CYCLES} conditional writes with retry on CONFLICT: exactly ${
  PROCESSES * CYCLES
}`, async () => {
  const workers = Array.from({ length: PROCESSES }, () =>
    startWorker(['cas-counter', root, String(CYCLES)]),
  );
  await Promise.all(workers.map(finished));
  expect(await readCounter()).toBe(PROCESSES * CYCLES);
}, 420_000);

test("a holder killed with SIGKILL: another process gets the lock once the TTL has passed, and the dead holder's late write is refused", async () => {
  const storage = new LocalFileStorageManager({ root });
  const lock = new FileLockManager({ root });
  await storage.write('resource', JSON.stringify({ fencingToken: 0, owner: 'nobody' }));
  const ttlMs = 1500;
  const holder = startWorker(['hold', root, String(ttlMs)]);
  const held = JSON.parse(await firstLine(holder)) as {
    fencingToken: number;
    expiresAt: number;
    version: string;
  };
  holder.kill('SIGKILL');
  await new Promise((resolve) => holder.on('exit', resolve));

  const lease = await lock.acquire('resource', { ttlMs: 10_000, waitMs: 10_000 });
  // Not before the dead holder's lease expired (same machine, same clock), however slow the start.
  expect(Date.now()).toBeGreaterThanOrEqual(held.expiresAt);
  expect(lease.fencingToken).toBeGreaterThan(held.fencingToken);
  const current = await storage.read('resource');
  const newVersion = await storage.write(
    'resource',
    JSON.stringify({ fencingToken: lease.fencingToken, owner: 'survivor' }),
    {
      ifVersion: current?.version ?? null,
    },
  );

  // The dead holder's late write, replayed with what it had: its version is stale...
  await expect(
    storage.write('resource', 'late', { ifVersion: held.version }),
  ).rejects.toMatchObject({ name: 'DurableError', code: 'CONFLICT' });
  // ...and a resource that checks fencing tokens refuses its token as older than the last seen.
  const stored = JSON.parse(bytesToText((await storage.read('resource'))!.data)) as {
    fencingToken: number;
    owner: string;
  };
  expect(held.fencingToken < stored.fencingToken).toBe(true);
  expect(stored.owner).toBe('survivor');
  expect((await storage.read('resource'))?.version).toBe(newVersion);
  expect(await lock.release('resource', 'the-dead-holders-token')).toBe(false);
  expect(await lease.release()).toBe(true);
}, 60_000);

test('a writer killed mid-write leaves the old or the new value, never a torn one', async () => {
  const size = 1 << 20;
  for (let round = 0; round < 5; round++) {
    const writer = startWorker(['rewrite', root, String(size)]);
    await firstLine(writer);
    await new Promise((resolve) => setTimeout(resolve, 20 + Math.random() * 80));
    writer.kill('SIGKILL');
    await new Promise((resolve) => writer.on('exit', resolve));
    const entry = await new LocalFileStorageManager({ root }).read('torn');
    expect(entry).toBeDefined();
    const data = Buffer.from(entry!.data);
    expect(data.length).toBe(size);
    const first = data[0]!;
    expect([0x61, 0x62]).toContain(first);
    expect(data.every((byte) => byte === first)).toBe(true);
  }
}, 60_000);
