import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileWorkflowStore } from '../src/index.js';

/*
 * Cross-process wake-up: a store's watch() listener is called when another process makes work
 * claimable (an insert, a waking signal), through fs.watch on the due index, so a worker need not
 * poll for it. Ordering, not timing: each test waits for the listener, then claims.
 */

const DIST = join(__dirname, '..', 'dist', 'esm', 'index.js');
let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'durable-fs-wf-watch-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

/** Runs `body` (an async function body with `store` on the same root) in another process. */
function inOtherProcess(body: string): Promise<void> {
  const script = `const { FileWorkflowStore } = await import(${JSON.stringify(
    DIST,
  )}); const store = new FileWorkflowStore({ root: ${JSON.stringify(
    root,
  )}, fsync: false }); ${body}`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  return new Promise((resolve, reject) =>
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`child exited ${code}`)),
    ),
  );
}

function nextCall(store: FileWorkflowStore): {
  called: Promise<void>;
  stop: () => void;
} {
  let stop: () => void = () => undefined;
  const called = new Promise<void>((resolve) => {
    stop = store.watch(() => resolve());
  });
  return { called, stop };
}

test('a workflow inserted by another process calls the watch listener, and the claim that follows finds it', async () => {
  const store = new FileWorkflowStore({ root, fsync: false });
  const { called, stop } = nextCall(store);
  await inOtherProcess(`await store.insert({ id: 'from-afar', handler: 'h' });`);
  await called;
  stop();
  expect((await store.claim({ leaseMs: 60_000 }))?.record.id).toBe('from-afar');
}, 60_000);

test('a signal from another process that wakes a sleeping workflow calls the watch listener, and the claim that follows finds it', async () => {
  const store = new FileWorkflowStore({ root, fsync: false });
  await store.insert({ id: 'sleeper', handler: 'h' });
  const claimed = await store.claim({ leaseMs: 60_000 });
  await store.suspend('sleeper', claimed!.token, { runAt: Date.now() + 3_600_000, wakeOn: ['go'] });
  expect(await store.claim({ leaseMs: 60_000 })).toBeUndefined();
  const { called, stop } = nextCall(store);
  await inOtherProcess(`if (!(await store.signal('sleeper', 'go', 1))) process.exit(3);`);
  await called;
  stop();
  expect((await store.claim({ leaseMs: 60_000 }))?.record.id).toBe('sleeper');
}, 60_000);

test('the function watch returns stops the calls', async () => {
  const store = new FileWorkflowStore({ root, fsync: false });
  let calls = 0;
  const stop = store.watch(() => calls++);
  stop();
  await inOtherProcess(`await store.insert({ id: 'unwatched', handler: 'h' });`);
  // A later, still-open watch proves the event was delivered; the stopped one saw none of it.
  const { called, stop: stopSecond } = nextCall(store);
  await inOtherProcess(`await store.insert({ id: 'watched', handler: 'h' });`);
  await called;
  stopSecond();
  expect(calls).toBe(0);
}, 60_000);
