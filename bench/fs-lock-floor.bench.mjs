// fs lock, uncontended, against its floor: the file-system work one acquire+release pair cannot
// avoid (two small files written and linked into place, one fsync for the grant), done bare with
// node:fs in the same folder. Interleaved rounds; prints both rates and lock/floor per round.
import {
  closeSync,
  fsync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  rmSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileLockManager } from '@durable/fs';

const PAIRS = Number(process.env.BENCH_PAIRS ?? 500);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 6);
const root = mkdtempSync(join(tmpdir(), 'durable-lock-floor-'));
const fsyncAsync = (fd) =>
  new Promise((resolve, reject) => fsync(fd, (error) => (error ? reject(error) : resolve())));
const payload = Buffer.alloc(120, 'x');

async function floorPairs(dir) {
  mkdirSync(dir, { recursive: true });
  const start = process.hrtime.bigint();
  for (let i = 0; i < PAIRS; i++) {
    for (const grant of [true, false]) {
      const temp = join(dir, `.t-${i}-${grant}`);
      const fd = openSync(temp, 'wx', 0o600);
      writeSync(fd, payload);
      linkSync(temp, join(dir, `${i}-${grant}`));
      if (grant) await fsyncAsync(fd);
      closeSync(fd);
      unlinkSync(temp);
    }
  }
  return PAIRS / (Number(process.hrtime.bigint() - start) / 1e9);
}

async function lockPairs(lock, key) {
  const start = process.hrtime.bigint();
  for (let i = 0; i < PAIRS; i++) {
    const lease = await lock.acquire(key, { ttlMs: 10_000, waitMs: 1_000 });
    await lease.release();
  }
  return PAIRS / (Number(process.hrtime.bigint() - start) / 1e9);
}

const lock = new FileLockManager({ root: join(root, 'locks') });
const rows = [];
for (let round = 0; round < ROUNDS; round++) {
  const bareFirst = round % 2 === 0;
  const a = bareFirst
    ? await floorPairs(join(root, `bare-${round}`))
    : await lockPairs(lock, `k${round}`);
  const b = bareFirst
    ? await lockPairs(lock, `k${round}`)
    : await floorPairs(join(root, `bare-${round}`));
  const [floor, ours] = bareFirst ? [a, b] : [b, a];
  rows.push({ floor, ours, ratio: ours / floor });
}
rmSync(root, { recursive: true, force: true });
const fmt = (n) => n.toFixed(0);
console.log(`fs lock uncontended vs its floor, ${ROUNDS} interleaved rounds of ${PAIRS} pairs:`);
for (const [i, r] of rows.entries())
  console.log(
    `  round ${i + 1}: floor ${fmt(r.floor)} pairs/s, lock ${fmt(
      r.ours,
    )} pairs/s, lock/floor ${r.ratio.toFixed(2)}`,
  );
const ratios = rows.map((r) => r.ratio).sort((x, y) => x - y);
console.log(
  `  lock/floor: median ${ratios[Math.floor(ratios.length / 2)].toFixed(
    2,
  )}, range ${ratios[0].toFixed(2)}-${ratios[ratios.length - 1].toFixed(2)}`,
);
