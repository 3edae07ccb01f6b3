// fs storage: conditional write + read cycles per second for a 1 KB value, against the bare
// durable write done by hand (write temp + fsync + rename, then readFile) in the same run, with
// the promise API (the baseline the issue names) and with the calls ours makes for small values
// (synchronous open/write/close/rename/read, only the fsync asynchronous), which shows what the
// compare-and-swap itself costs.
import {
  closeSync,
  fsync,
  mkdtempSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { open, readFile, rename } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalFileStorageManager } from '@durable/fs';
import { median } from './support/stats.mjs';

const CYCLES = Number(process.env.CYCLES ?? 200);
const ROUNDS = Number(process.env.ROUNDS ?? 15);
const value = Buffer.alloc(1024, 'x');
const root = mkdtempSync(join(tmpdir(), 'durable-bench-fs-'));

async function baseline() {
  const path = join(root, 'bare');
  const started = performance.now();
  for (let i = 0; i < CYCLES; i++) {
    const temp = `${path}.tmp`;
    const handle = await open(temp, 'w');
    await handle.writeFile(value);
    await handle.sync();
    await handle.close();
    await rename(temp, path);
    await readFile(path);
  }
  return CYCLES / ((performance.now() - started) / 1000);
}

async function baselineSync() {
  const path = join(root, 'bare-sync');
  const started = performance.now();
  for (let i = 0; i < CYCLES; i++) {
    const temp = `${path}.tmp`;
    const fd = openSync(temp, 'w');
    writeSync(fd, value);
    await new Promise((resolve, reject) =>
      fsync(fd, (error) => (error ? reject(error) : resolve())),
    );
    closeSync(fd);
    renameSync(temp, path);
    readFileSync(path);
  }
  return CYCLES / ((performance.now() - started) / 1000);
}

const storage = new LocalFileStorageManager({ root: join(root, 'store') });
let version = await storage.write('bench/key', value);
async function ours() {
  const started = performance.now();
  for (let i = 0; i < CYCLES; i++) {
    version = await storage.write('bench/key', value, { ifVersion: version });
    const entry = await storage.read('bench/key');
    if (entry.version !== version) throw new Error('read a different version');
  }
  return CYCLES / ((performance.now() - started) / 1000);
}

// Short interleaved rounds, alternating which goes first: the disk's fsync time drifts a lot on
// a virtual machine, and both sides should see the same drift.
const rates = { baseline: [], baselineSync: [], ours: [] };
const runs = { baseline, baselineSync, ours };
for (let round = 0; round < ROUNDS; round++) {
  const names = Object.keys(runs);
  for (const name of names.slice(round % 3).concat(names.slice(0, round % 3)))
    rates[name].push(await runs[name]());
}
rmSync(root, { recursive: true, force: true });
const ratio = median(rates.baseline.map((b, i) => b / rates.ours[i]));
const ratioSync = median(rates.baselineSync.map((b, i) => b / rates.ours[i]));
console.log(`fs storage, 1 KB, ${ROUNDS} interleaved rounds of ${CYCLES} cycles (medians):`);
console.log(
  `  bare writeFile+fsync+rename+readFile (fs/promises): ${median(rates.baseline).toFixed(
    0,
  )} cycles/s`,
);
console.log(
  `  the same with sync calls, async fsync:              ${median(rates.baselineSync).toFixed(
    0,
  )} cycles/s`,
);
console.log(
  `  LocalFileStorageManager conditional write + read: ${median(rates.ours).toFixed(0)} cycles/s`,
);
console.log(
  `  ratio (baseline / ours, median of per-round ratios, target <= 1.3): ${ratio.toFixed(2)}x`,
);
console.log(`  ratio (sync-call baseline / ours): ${ratioSync.toFixed(2)}x`);
