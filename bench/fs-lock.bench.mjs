// fs lock: acquire+release pairs per second uncontended (one process), and 8 processes contending
// for one key, each holding the lock ~1 ms per grant: grants per second and how long an acquire
// waits (p50/p99/max), with the wake-up on folder changes (fs.watch, the default) and with backoff
// alone (wakeOnChange: false), in alternating rounds.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FileLockManager } from '@durable/fs';
import { quantile } from './support/stats.mjs';

const [, , role, rootArg, countArg, modeArg] = process.argv;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function pairs(root, count, key) {
  const lock = new FileLockManager({ root });
  for (let i = 0; i < count; i++) {
    const lease = await lock.acquire(key, { ttlMs: 30_000, waitMs: 120_000 });
    await lease.release();
  }
}

if (role === 'child') {
  const lock = new FileLockManager({ root: rootArg, wakeOnChange: modeArg === 'wake' });
  const waits = [];
  for (let i = 0; i < Number(countArg); i++) {
    const started = performance.now();
    const lease = await lock.acquire('contended', { ttlMs: 30_000, waitMs: 120_000 });
    waits.push(performance.now() - started);
    await sleep(1);
    await lease.release();
  }
  process.stdout.write(JSON.stringify(waits));
} else {
  const root = mkdtempSync(join(tmpdir(), 'durable-bench-lock-'));
  const N = 1000;
  const started = performance.now();
  await pairs(root, N, 'solo');
  const solo = N / ((performance.now() - started) / 1000);
  console.log('fs lock (FileLockManager):');
  console.log(`  uncontended, 1 process, ${N} acquire+release pairs: ${solo.toFixed(0)} pairs/s`);

  const PROCS = Number(process.env.BENCH_PROCS ?? 8);
  const PER = 60;
  const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4);
  const results = { wake: [], poll: [] };
  for (let round = 0; round < ROUNDS; round++) {
    for (const mode of round % 2 === 0 ? ['wake', 'poll'] : ['poll', 'wake']) {
      const dir = join(root, `${mode}-${round}`);
      const children = Array.from(
        { length: PROCS },
        () =>
          new Promise((resolve, reject) => {
            const child = spawn(
              process.execPath,
              [fileURLToPath(import.meta.url), 'child', dir, String(PER), mode],
              { stdio: ['ignore', 'pipe', 'inherit'] },
            );
            let out = '';
            child.stdout.on('data', (chunk) => (out += chunk));
            child.on('exit', (code) =>
              code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`child exited ${code}`)),
            );
          }),
      );
      const began = performance.now();
      const waits = (await Promise.all(children)).flat();
      results[mode].push({
        grantsPerSecond: waits.length / ((performance.now() - began) / 1000),
        waits,
      });
    }
  }
  rmSync(root, { recursive: true, force: true });
  console.log(
    `  ${PROCS} processes x ${PER} grants on one key, ~1 ms held, ${ROUNDS} rounds each (process start included in grants/s):`,
  );
  for (const [mode, label] of [
    ['wake', 'wake on folder change (default)'],
    ['poll', 'backoff only (wakeOnChange: false)'],
  ]) {
    const waits = results[mode].flatMap((r) => r.waits);
    const rates = results[mode].map((r) => r.grantsPerSecond.toFixed(0)).join(', ');
    console.log(
      `    ${label.padEnd(36)} acquire wait p50 ${quantile(waits, 0.5).toFixed(
        2,
      )} ms, p99 ${quantile(waits, 0.99).toFixed(1)} ms, max ${Math.max(...waits).toFixed(
        0,
      )} ms; grants/s per round: ${rates}`,
    );
  }
}
