// Four OS processes add to counters stored in local files: two under the fs lock, two with
// conditional writes that retry on CONFLICT (lock-free). No server, nothing lost.
import { fork } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LockableStorageManager, bytesToText, isDurableError } from '@durable/core';
import { FileLockManager, LocalFileStorageManager } from '@durable/fs';

const root = join(fileURLToPath(new URL('.', import.meta.url)), '.durable-data');
const store = new LockableStorageManager({
  storage: new LocalFileStorageManager({ root }),
  lock: new FileLockManager({ root }),
});
const PER_PROCESS = 50;
const keyOf = (mode) => `demo/${mode}-counter`;
const read = async (key) => {
  const entry = await store.read(key);
  return entry === undefined ? 0 : Number(bytesToText(entry.data));
};

if (process.argv[2] === 'worker') {
  const mode = process.argv[3];
  for (let i = 0; i < PER_PROCESS; i++) {
    if (mode === 'lock') {
      // The lease is held around the read-modify-write; the write is still conditional.
      await store.update(
        keyOf(mode),
        (current) => String((current ? Number(bytesToText(current.data)) : 0) + 1),
        {
          ttlMs: 10_000,
          waitMs: 30_000,
        },
      );
    } else {
      for (;;) {
        const entry = await store.read(keyOf(mode));
        try {
          await store.write(
            keyOf(mode),
            String((entry ? Number(bytesToText(entry.data)) : 0) + 1),
            {
              ifVersion: entry?.version ?? null,
            },
          );
          break;
        } catch (error) {
          if (!isDurableError(error, 'CONFLICT')) throw error;
        }
      }
    }
    if ((i + 1) % 10 === 0) process.send?.({ pid: process.pid, mode, done: i + 1 });
  }
  process.exit(0);
}

rmSync(root, { recursive: true, force: true });
mkdirSync(root, { recursive: true });
console.log(
  `durable counter demo: 4 processes x ${PER_PROCESS} increments on local files in ${root}`,
);
console.log(
  'two processes hold the fs lock around each increment; two use lock-free conditional writes\n',
);
const modes = ['lock', 'lock', 'conditional-write', 'conditional-write'];
const progress = new Map();
await Promise.all(
  modes.map(
    (mode) =>
      new Promise((resolve, reject) => {
        const child = fork(fileURLToPath(import.meta.url), ['worker', mode]);
        child.on('message', (m) => {
          progress.set(m.pid, m);
          const line = [...progress.values()]
            .map((p) => `${p.mode}#${p.pid}: ${'#'.repeat(p.done / 10).padEnd(5, '.')}`)
            .join('  ');
          console.log(`  ${line}`);
        });
        child.on('exit', (code) =>
          code === 0 ? resolve() : reject(new Error(`worker exited with ${code}`)),
        );
      }),
  ),
);
let lost = false;
console.log('');
for (const mode of ['lock', 'conditional-write']) {
  const total = await read(keyOf(mode));
  const expected = 2 * PER_PROCESS;
  lost ||= total !== expected;
  console.log(
    `${keyOf(mode)} = ${total} (expected ${expected}): ${
      total === expected ? 'no update lost' : 'LOST UPDATES'
    }`,
  );
}

// A persisted key-value round trip, and what a stale writer gets.
const v1 = await store.write('demo/profile', JSON.stringify({ name: 'Ada', plan: 'free' }));
await store.write('demo/profile', JSON.stringify({ name: 'Ada', plan: 'pro' }), { ifVersion: v1 });
try {
  await store.write('demo/profile', JSON.stringify({ name: 'Ada', plan: 'free' }), {
    ifVersion: v1,
  });
} catch (error) {
  console.log(`stale write refused: ${error.code}: ${error.message}`);
}
console.log(`demo/profile = ${bytesToText((await store.read('demo/profile')).data)}`);
if (lost) process.exit(1);
