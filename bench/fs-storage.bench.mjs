// fs storage: conditional write + read cycles per second for a 1 KB value, against the bare
// durable write done by hand (write temp + fsync + rename, then readFile) in the same run.
import { mkdtempSync, rmSync } from 'node:fs';
import { open, readFile, rename } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalFileStorageManager } from '../packages/fs/dist/esm/index.js';

const CYCLES = Number(process.env.CYCLES ?? 1500);
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

async function ours() {
  const storage = new LocalFileStorageManager({ root: join(root, 'store') });
  let version = await storage.write('bench/key', value);
  const started = performance.now();
  for (let i = 0; i < CYCLES; i++) {
    version = await storage.write('bench/key', value, { ifVersion: version });
    const entry = await storage.read('bench/key');
    if (entry.version !== version) throw new Error('read a different version');
  }
  return CYCLES / ((performance.now() - started) / 1000);
}

const best = { baseline: 0, ours: 0 };
for (let round = 0; round < 3; round++) {
  best.baseline = Math.max(best.baseline, await baseline());
  best.ours = Math.max(best.ours, await ours());
}
rmSync(root, { recursive: true, force: true });
console.log(`fs storage, 1 KB, ${CYCLES} cycles x 3 rounds (best round):`);
console.log(`  bare writeFile+fsync+rename+readFile: ${best.baseline.toFixed(0)} cycles/s`);
console.log(`  LocalFileStorageManager conditional write + read: ${best.ours.toFixed(0)} cycles/s`);
console.log(`  ratio (baseline / ours, target <= 1.3): ${(best.baseline / best.ours).toFixed(2)}x`);
