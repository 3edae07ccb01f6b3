// fs storage: conditional write + read cycles per second for a 1 KB value, against the bare
// durable write done by hand (write temp + fsync + rename, then readFile) in the same run.
import { mkdtempSync, rmSync } from 'node:fs';
import { open, readFile, rename } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalFileStorageManager } from '../packages/fs/dist/esm/index.js';

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
const rates = { baseline: [], ours: [] };
for (let round = 0; round < ROUNDS; round++) {
  if (round % 2 === 0) {
    rates.baseline.push(await baseline());
    rates.ours.push(await ours());
  } else {
    rates.ours.push(await ours());
    rates.baseline.push(await baseline());
  }
}
rmSync(root, { recursive: true, force: true });
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const ratio = median(rates.baseline.map((b, i) => b / rates.ours[i]));
console.log(`fs storage, 1 KB, ${ROUNDS} interleaved rounds of ${CYCLES} cycles (medians):`);
console.log(`  bare writeFile+fsync+rename+readFile: ${median(rates.baseline).toFixed(0)} cycles/s`);
console.log(`  LocalFileStorageManager conditional write + read: ${median(rates.ours).toFixed(0)} cycles/s`);
console.log(`  ratio (baseline / ours, median of per-round ratios, target <= 1.3): ${ratio.toFixed(2)}x`);
