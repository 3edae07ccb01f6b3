import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalFileStorageManager } from '../src/index.js';

/*
 * Storage watch across processes: a write under a watched prefix by another process (or another
 * manager on the same root, whose registrations and signals go through the folder, not memory)
 * calls the listener. Ordering, not timing: each test waits for the listener.
 */

const DIST = join(__dirname, '..', 'dist', 'esm', 'index.js');
let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'durable-fs-storage-watch-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

function inOtherProcess(body: string): Promise<void> {
  const script = `const { LocalFileStorageManager } = await import(${JSON.stringify(
    DIST,
  )}); const storage = new LocalFileStorageManager({ root: ${JSON.stringify(
    root,
  )}, fsync: false }); ${body}`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  return new Promise((resolve, reject) =>
    child.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`child exited with ${String(code)}`)),
    ),
  );
}

test('a write by another process under a watched prefix calls the listener', async () => {
  const storage = new LocalFileStorageManager({ root, fsync: false });
  let stop: () => void = () => undefined;
  const heard = new Promise<void>((resolve) => (stop = storage.watch('timers/', resolve)));
  await inOtherProcess(`await storage.write('timers/a/b/c', 'x');`);
  await heard;
  stop();
  expect(new TextDecoder().decode((await storage.read('timers/a/b/c'))!.data)).toBe('x');
}, 20_000);

test('a writer that wrote before a prefix was watched signals it afterwards', async () => {
  const writer = new LocalFileStorageManager({ root, fsync: false });
  const watcher = new LocalFileStorageManager({ root, fsync: false });
  // The writer has read the registrations (one, of another prefix); 'timers/' comes after that.
  const stopOther = watcher.watch('unrelated/', () => undefined);
  await writer.write('timers/first', 'x');
  let stop: () => void = () => undefined;
  const heard = new Promise<void>((resolve) => (stop = watcher.watch('timers/', resolve)));
  await writer.write('other/key', 'y');
  await writer.write('timers/deep/er/key', 'z');
  await heard;
  stop();
  stopOther();
}, 20_000);
