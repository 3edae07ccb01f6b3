import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileLockManager, FileWorkflowStore, LocalFileStorageManager } from '../src/index.js';
import { encodeSegment } from '../src/paths.js';

let root: string;
let outside: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'durable-fs-root-'));
  outside = mkdtempSync(join(tmpdir(), 'durable-fs-outside-'));
});
afterEach(() => {
  rmSync(root, { recursive: true, force: true });
  rmSync(outside, { recursive: true, force: true });
});

test('a symlink planted inside the root as a key folder is refused with PATH_ESCAPE and nothing is written outside', async () => {
  const storage = new LocalFileStorageManager({ root });
  symlinkSync(outside, join(root, encodeSegment('tenant')));
  await expect(storage.write('tenant/secret', 'x')).rejects.toMatchObject({
    name: 'DurableError',
    code: 'PATH_ESCAPE',
  });
  await expect(storage.read('tenant/secret')).rejects.toMatchObject({
    name: 'DurableError',
    code: 'PATH_ESCAPE',
  });
  symlinkSync(outside, join(root, `${encodeSegment('leaf')}~`));
  await expect(storage.write('leaf', 'x')).rejects.toMatchObject({
    name: 'DurableError',
    code: 'PATH_ESCAPE',
  });
  expect(readdirSync(outside)).toEqual([]);
});

test('a symlink planted as a value file is not followed', async () => {
  const storage = new LocalFileStorageManager({ root });
  writeFileSync(join(outside, 'passwd'), '\u0001root:x:0:0');
  const dir = join(root, `${encodeSegment('k')}~`);
  mkdirSync(dir);
  symlinkSync(join(outside, 'passwd'), join(dir, '1'));
  await expect(storage.read('k')).rejects.toMatchObject({ name: 'DurableError', code: 'BACKEND' });
});

test('traversal, absolute and NUL keys never touch the disk', async () => {
  const storage = new LocalFileStorageManager({ root });
  const lock = new FileLockManager({ root });
  for (const key of ['../x', 'a/../../x', '/etc/passwd', 'a\u0000b', '..']) {
    await expect(storage.write(key, 'x')).rejects.toMatchObject({
      name: 'DurableError',
      code: 'INVALID_KEY',
    });
    await expect(lock.acquire(key)).rejects.toMatchObject({
      name: 'DurableError',
      code: 'INVALID_KEY',
    });
  }
  expect(readdirSync(root).filter((name) => name !== '.locks')).toEqual([]);
  expect(existsSync(join(root, '..', 'x~'))).toBe(false);
});

test('very long segments are stored under a hashed name and still listed by their key', async () => {
  const storage = new LocalFileStorageManager({ root });
  const long = `${'é'.repeat(300)}/${'Z'.repeat(400)}`;
  await storage.write(long, 'v');
  expect((await storage.list('')).keys).toEqual([long]);
  expect((await storage.read(long))?.version).toBeDefined();
});

test('keys differing only in case stay apart, also on a case-insensitive file system', () => {
  expect(encodeSegment('Orders')).not.toBe(encodeSegment('orders').toUpperCase());
  expect(encodeSegment('Orders').toLowerCase()).not.toBe(encodeSegment('orders'));
});

test('a missing root option is a CONFIG error', () => {
  expect(() => new LocalFileStorageManager({ root: '' })).toThrow(
    expect.objectContaining({ code: 'CONFIG' }),
  );
  expect(() => new FileLockManager(undefined as never)).toThrow(
    expect.objectContaining({ code: 'CONFIG' }),
  );
});

test('unknown and misnamed options are CONFIG naming ours, for the storage, the lock and the workflow store', () => {
  const root = mkdtempSync(join(tmpdir(), 'durable-fs-options-'));
  try {
    expect(() => new LocalFileStorageManager({ root, fsnyc: false } as never)).toThrow(
      /unknown option "fsnyc"/,
    );
    expect(() => new FileLockManager({ root, ttl: 5_000 } as never)).toThrow(
      /option "ttl" is not ours; use defaultTtlMs/,
    );
    expect(() => new FileLockManager({ dir: root } as never)).toThrow(
      /option "dir" is not ours; use root/,
    );
    expect(() => new FileWorkflowStore({ root, lockWrites: true } as never)).toThrow(
      /unknown option "lockWrites"/,
    );
    expect(() => new FileWorkflowStore({} as never)).toThrow(
      expect.objectContaining({ code: 'CONFIG', retryable: false }),
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
