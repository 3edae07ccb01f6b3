import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileLockManager } from '../src/index.js';
import { finished, firstLine, startWorker } from './support.js';

// Every wait of the backoff lasts its full ceiling (random() near 1), so how soon a waiter gets
// the lock after another process releases it shows whether the release woke it.
const BACKOFF_MS = 2_000;
const backoff = { baseMs: BACKOFF_MS, maxMs: BACKOFF_MS, random: () => 0.9999 };
let root: string;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'durable-fs-wake-'));
});
afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

/** Another process holds the lock for `holdMs`, then releases it; returns how long after the release our waiter got it. */
async function acquireAfterForeignRelease(lock: FileLockManager, holdMs: number): Promise<number> {
  const holder = startWorker(['hold-release', root, String(holdMs)]);
  const done = finished(holder);
  expect(await firstLine(holder)).toBe('held');
  let released: { releasedAt: number } | undefined;
  let buffer = '';
  holder.stdout!.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    const line = buffer.split('\n').find((text) => text.startsWith('{'));
    if (line !== undefined) released = JSON.parse(line) as { releasedAt: number };
  });
  const lease = await lock.acquire('resource', { ttlMs: 10_000, waitMs: 20_000 });
  const gotAt = Date.now();
  await done;
  expect(released).toBeDefined();
  await lease.release();
  return gotAt - released!.releasedAt;
}

test('a waiter wakes when another process releases the lock, instead of sleeping out its backoff', async () => {
  const lock = new FileLockManager({ root, backoff });
  const afterRelease = await acquireAfterForeignRelease(lock, 600);
  expect(afterRelease).toBeLessThan(BACKOFF_MS / 2);
}, 30_000);

test('with wakeOnChange: false the same waiter sleeps out its backoff (what the wake-up saves)', async () => {
  const lock = new FileLockManager({ root, backoff, wakeOnChange: false });
  const afterRelease = await acquireAfterForeignRelease(lock, 600);
  // The release (600 ms after the grant) lands inside the waiter's first full backoff wait
  // (2 s), which runs to its end.
  expect(afterRelease).toBeGreaterThan(BACKOFF_MS / 2);
}, 30_000);

test('a waiter still times out with LOCK_TIMEOUT, and an abort still ends the wait at once', async () => {
  const holder = new FileLockManager({ root });
  const lease = await holder.acquire('busy', { ttlMs: 30_000 });
  const waiter = new FileLockManager({ root, backoff });
  const started = Date.now();
  await expect(waiter.acquire('busy', { waitMs: 300 })).rejects.toMatchObject({
    code: 'LOCK_TIMEOUT',
  });
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 100);
  await expect(
    waiter.acquire('busy', { waitMs: 20_000, signal: controller.signal }),
  ).rejects.toMatchObject({ code: 'LOCK_TIMEOUT' });
  expect(Date.now() - started).toBeLessThan(BACKOFF_MS);
  await lease.release();
});

test('changes that leave the lock held wake the waiter, which waits on and gets the lock after the release', async () => {
  const holder = new FileLockManager({ root });
  const lease = await holder.acquire('busy', { ttlMs: 30_000 });
  const waiter = new FileLockManager({ root, backoff });
  const waiting = waiter.acquire('busy', { ttlMs: 5_000, waitMs: 20_000 });
  for (let i = 0; i < 3; i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    await lease.extend(30_000); // a commit in the folder: wakes the waiter, which finds the lock still held
  }
  await lease.release();
  const released = Date.now();
  const granted = await waiting;
  expect(Date.now() - released).toBeLessThan(BACKOFF_MS / 2);
  expect(granted.fencingToken).toBeGreaterThan(lease.fencingToken);
  await granted.release();
});

test('a bad backoff option is a CONFIG error at construction, not a busy loop later', () => {
  expect(() => new FileLockManager({ root, backoff: { maxMs: Number.NaN } })).toThrow(
    expect.objectContaining({ code: 'CONFIG' }),
  );
});
