// fs lock: acquire+release pairs per second uncontended (one process), and with 8 processes
// contending for one key.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FileLockManager } from '../packages/fs/dist/esm/index.js';

const [, , role, rootArg, countArg] = process.argv;

async function pairs(root, count, key) {
  const lock = new FileLockManager({ root });
  for (let i = 0; i < count; i++) {
    const lease = await lock.acquire(key, { ttlMs: 30_000, waitMs: 120_000 });
    await lease.release();
  }
}

if (role === 'child') {
  await pairs(rootArg, Number(countArg), 'contended');
} else {
  const root = mkdtempSync(join(tmpdir(), 'durable-bench-lock-'));
  const N = 1000;
  let started = performance.now();
  await pairs(root, N, 'solo');
  const solo = N / ((performance.now() - started) / 1000);

  const PROCS = 8;
  const PER = 150;
  started = performance.now();
  await Promise.all(
    Array.from({ length: PROCS }, () => new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [fileURLToPath(import.meta.url), 'child', root, String(PER)], { stdio: 'inherit' });
      child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`child exited ${code}`))));
    })),
  );
  const contended = (PROCS * PER) / ((performance.now() - started) / 1000);
  rmSync(root, { recursive: true, force: true });
  console.log('fs lock (FileLockManager), acquire+release pairs per second:');
  console.log(`  uncontended, 1 process, ${N} pairs: ${solo.toFixed(0)} pairs/s`);
  console.log(`  8 processes x ${PER} pairs on one key (incl. process start): ${contended.toFixed(0)} pairs/s`);
}
