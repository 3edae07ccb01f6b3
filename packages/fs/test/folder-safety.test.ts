import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  renameSync,
  rmSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
  readFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { expectDurableError } from '@durable/testkit';
import { FileLockManager, LocalFileStorageManager, FileWorkflowStore } from '../src/index.js';
import { workflowName } from '../src/due-index.js';
import { encodeSegment } from '../src/paths.js';
import { markers } from './workflow-support.js';

let root: string;
let outside: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'durable-fs-safety-'));
  outside = mkdtempSync(join(tmpdir(), 'durable-fs-outside-'));
});
afterEach(() => {
  rmSync(root, { recursive: true, force: true });
  rmSync(outside, { recursive: true, force: true });
});

// The newest slot file of a key folder (the layout of protocol.ts).
function newestSlot(keyDir: string): string {
  const epoch = readdirSync(keyDir)
    .filter((name) => /^e\d+$/.test(name))
    .sort((a, b) => Number(a.slice(1)) - Number(b.slice(1)))
    .pop()!;
  const slots = readdirSync(join(keyDir, epoch))
    .filter((name) => /^\d+$/.test(name))
    .map(Number);
  return join(keyDir, epoch, String(Math.max(...slots)));
}

test('a symlink planted after the key was first used is refused with PATH_ESCAPE: nothing is cached per process', async () => {
  const storage = new LocalFileStorageManager({ root });
  await storage.write('tenant/a', 'x');
  renameSync(join(root, encodeSegment('tenant')), join(root, 'moved-away'));
  symlinkSync(outside, join(root, encodeSegment('tenant')));
  await expectDurableError(() => storage.write('tenant/b', 'y'), 'PATH_ESCAPE');
  await expectDurableError(() => storage.read('tenant/a'), 'PATH_ESCAPE');
  expect(readdirSync(outside)).toEqual([]);
});

test('a value file truncated, emptied or altered is a non-retryable BACKEND error naming the key, never data; an unconditional write repairs it', async () => {
  const storage = new LocalFileStorageManager({ root });
  for (const [key, damage] of [
    ['cut', (path: string) => truncateSync(path, 5)],
    ['empty', (path: string) => truncateSync(path, 0)],
    [
      'flipped',
      (path: string) => {
        const bytes = readFileSync(path);
        bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 0xff;
        writeFileSync(path, bytes);
      },
    ],
  ] as const) {
    await storage.write(key, 'a value of some length');
    damage(newestSlot(join(root, `${key}~`)));
    const error = await expectDurableError(() => storage.read(key), 'BACKEND');
    expect(error.retryable).toBe(false);
    expect(error.message).toContain(key);
    expect(error.message).toContain('corrupt');
    await expectDurableError(() => storage.write(key, 'v', { ifVersion: null }), 'BACKEND');
    await storage.write(key, 'repaired');
    expect(Buffer.from((await storage.read(key))!.data).toString()).toBe('repaired');
  }
});

test('files the store did not write (a planted 999999999999999) never shadow later writes', async () => {
  const storage = new LocalFileStorageManager({ root });
  await storage.write('k', 'one');
  const slot = newestSlot(join(root, 'k~'));
  writeFileSync(join(slot, '..', '999999999999999'), 'planted');
  writeFileSync(join(root, 'k~', '999999999999999'), 'planted');
  mkdirSync(join(root, 'k~', 'e99x'));
  const version = await storage.write('k', 'two');
  const entry = await storage.read('k');
  expect(entry?.version).toBe(version);
  expect(Buffer.from(entry!.data).toString()).toBe('two');
});

test('a key whose path would pass the OS limit is INVALID_KEY, not retryable, and touches nothing', async () => {
  const storage = new LocalFileStorageManager({ root });
  const key = Array.from({ length: 31 }, () => '🙂'.repeat(16)).join('/');
  expect(key.length).toBeLessThanOrEqual(1024);
  const error = await expectDurableError(() => storage.write(key, 'x'), 'INVALID_KEY');
  expect(error.retryable).toBe(false);
  expect(readdirSync(root)).toEqual([]);
});

test('a damaged lock file is recovered without a human: held for one default TTL, then taken over with a higher fencing token', async () => {
  let now = 1_000_000;
  const lock = new FileLockManager({ root, defaultTtlMs: 500, clock: () => now });
  const lease = await lock.acquire('job', { ttlMs: 60_000 });
  writeFileSync(newestSlot(join(root, '.locks', 'job~')), 'garbage');
  await expectDurableError(() => lock.acquire('job', { ttlMs: 1000, waitMs: 0 }), 'LOCK_TIMEOUT');
  now += 501;
  const next = await lock.acquire('job', { ttlMs: 1000, waitMs: 0 });
  expect(next.fencingToken).toBeGreaterThan(lease.fencingToken);
  expect(await lease.release()).toBe(false);
});

test('the due index of the workflow store ignores names it did not write; a planted file never hides or shadows a workflow', async () => {
  const store = new FileWorkflowStore({ root, fsync: false });
  await store.insert({ id: 'w1', handler: 'h' });
  const [marker] = markers(root);
  const bucket = join(root, '.workflow-due', dirname(marker!));
  writeFileSync(join(bucket, 'not-hex'), 'x');
  writeFileSync(join(bucket, '#abc.0'), 'x');
  writeFileSync(join(bucket, '6162.0'), 'garbage'); // hex of "ab": a well-formed name whose workflow does not exist
  mkdirSync(join(bucket, '6364.0')); // a folder where a marker would be
  writeFileSync(join(bucket, basename(marker!)), 'truncated garbage'); // content is never read: the name is the marker
  writeFileSync(join(root, '.workflow-due', '999999999999'), 'x'); // a file where a bucket folder would be
  const claimed = await store.claim({ leaseMs: 1000 });
  expect(claimed?.record.id).toBe('w1');
  expect(await store.claim({ leaseMs: 1000 })).toBeUndefined();
});

test("a symlink planted as a workflow folder or as the store's folders is refused with PATH_ESCAPE", async () => {
  const store = new FileWorkflowStore({ root, fsync: false });
  symlinkSync(outside, join(root, '.workflows', workflowName('planted')));
  await expectDurableError(() => store.insert({ id: 'planted', handler: 'h' }), 'PATH_ESCAPE');
  await expectDurableError(() => store.get('planted'), 'PATH_ESCAPE');
  rmSync(join(root, '.workflow-due'), { recursive: true });
  symlinkSync(outside, join(root, '.workflow-due'));
  await expectDurableError(() => store.claim({ leaseMs: 1000 }), 'PATH_ESCAPE');
  expect(readdirSync(outside)).toEqual([]);
});

test('a symlink planted as the creation index folder is refused with PATH_ESCAPE by an insert and a listing; nothing is written through it', async () => {
  const store = new FileWorkflowStore({ root, fsync: false });
  rmSync(join(root, '.workflow-created'), { recursive: true });
  symlinkSync(outside, join(root, '.workflow-created'));
  await expectDurableError(() => store.insert({ id: 'w', handler: 'h' }), 'PATH_ESCAPE');
  await expectDurableError(() => store.list({ limit: 10 }), 'PATH_ESCAPE');
  expect(readdirSync(outside)).toEqual([]);
  expect(await store.get('w')).toBeUndefined();
});

test('a key folder in the layout of @durable/fs 0.1 (numbered files, no epoch) is a non-retryable BACKEND error saying so, not data', async () => {
  const storage = new LocalFileStorageManager({ root });
  mkdirSync(join(root, 'old~'));
  writeFileSync(join(root, 'old~', '0'), '');
  writeFileSync(join(root, 'old~', '1'), '\u0001value');
  const error = await expectDurableError(() => storage.read('old'), 'BACKEND');
  expect(error.retryable).toBe(false);
  expect(error.message).toContain('not written by this version');
  await expectDurableError(() => storage.write('old', 'x'), 'BACKEND');
});
