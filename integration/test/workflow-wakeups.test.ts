// A workflow worker of another process is woken by a start, not by its next poll: process A runs
// a worker of the storage-backed store on fs storage polling once a minute; this process starts
// workflows on the same folder through its own store, and A runs each long before its next poll
// (the test's 30 s timeout is half of it). The wake-up is the store's watch over the storage's
// (fs: <root>/.watch registrations). Real OS processes on the built packages.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StorageWorkflowStore } from '@durable/core';
import { LocalFileStorageManager } from '@durable/fs';

const FIXTURE = join(__dirname, 'fixtures', 'workflow-wakeup-worker.mjs');
let root: string;
let child: ChildProcess | undefined;

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'durable-workflow-wakeups-'));
});
afterAll(() => {
  if (child !== undefined && child.exitCode === null) child.kill('SIGKILL');
  rmSync(root, { recursive: true, force: true });
});

it('a start in one process wakes a worker of another polling once a minute (storage-backed store on fs)', async () => {
  child = spawn(process.execPath, [FIXTURE, JSON.stringify({ root })], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr?.on('data', (chunk: Buffer) => (err += chunk.toString()));
  await new Promise<void>((resolve, reject) => {
    child?.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('ready\n')) resolve();
    });
    child?.on('exit', (code, signal) =>
      reject(new Error(`worker exited (${code ?? signal}) before ready: ${err}`)),
    );
  });
  expect(out).toContain('watch true');
  // Past the worker's first claim (at start), so only a wake-up (or a poll a minute later) runs these.
  await new Promise((resolve) => setTimeout(resolve, 500));
  const store = new StorageWorkflowStore({ storage: new LocalFileStorageManager({ root }) });
  // Bounded below the test's timeout, so a failure ends the loop (and the test run) too.
  const deadline = Date.now() + 25_000;
  for (let i = 0; i < 3; i++) {
    expect(await store.insert({ id: `w${i}`, handler: 'echo' })).toBe(true);
    for (;;) {
      if (Date.now() > deadline)
        throw new Error(
          `w${i} did not run within 25 s: the worker was not woken (it polls every 60 s)`,
        );
      const record = await store.get(`w${i}`);
      if (record?.status === 'completed') {
        expect(record.result).toBe(`ran in ${child.pid}`);
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  expect(err).toBe('');
}, 30_000);
