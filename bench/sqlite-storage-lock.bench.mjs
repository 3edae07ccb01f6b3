// @durable/sqlite against @durable/fs (whatever main has) on the two primitives, in interleaved
// rounds in one process, fsync on for both: a 1 KB conditional write + read cycle (with the bare
// writeFile+fsync+rename+readFile sequence as the floor the fs target is measured against), and
// an uncontended lock acquire + release pair. Prints cycles or pairs per second and the ratios.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { open, readFile, rename } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileLockManager, LocalFileStorageManager } from '@durable/fs';
import { SqliteLockManager, SqliteStorageManager } from '@durable/sqlite';
import { median } from './support/stats.mjs';

const CYCLES = Number(process.env.CYCLES ?? 200);
const PAIRS = Number(process.env.PAIRS ?? 300);
const ROUNDS = Number(process.env.ROUNDS ?? 10);
const value = Buffer.alloc(1024, 'x');
const root = mkdtempSync(join(tmpdir(), 'durable-bench-sqlite-'));

async function bare() {
  const path = join(root, 'bare');
  const started = performance.now();
  for (let i = 0; i < CYCLES; i++) {
    const handle = await open(`${path}.tmp`, 'w');
    await handle.writeFile(value);
    await handle.sync();
    await handle.close();
    await rename(`${path}.tmp`, path);
    await readFile(path);
  }
  return CYCLES / ((performance.now() - started) / 1000);
}

function casCycles(storage) {
  let version;
  return async () => {
    version ??= await storage.write('bench/key', value);
    const started = performance.now();
    for (let i = 0; i < CYCLES; i++) {
      version = await storage.write('bench/key', value, { ifVersion: version });
      const entry = await storage.read('bench/key');
      if (entry.version !== version) throw new Error('read a different version');
    }
    return CYCLES / ((performance.now() - started) / 1000);
  };
}

function lockPairs(lock) {
  return async () => {
    const started = performance.now();
    for (let i = 0; i < PAIRS; i++) {
      const lease = await lock.acquire('bench/solo', { ttlMs: 30_000 });
      await lease.release();
    }
    return PAIRS / ((performance.now() - started) / 1000);
  };
}

const runs = {
  bare,
  fsCas: casCycles(new LocalFileStorageManager({ root: join(root, 'fs') })),
  sqliteCas: casCycles(new SqliteStorageManager({ path: join(root, 'cas.db') })),
  fsLock: lockPairs(new FileLockManager({ root: join(root, 'fs') })),
  sqliteLock: lockPairs(new SqliteLockManager({ path: join(root, 'lock.db') })),
};
const rates = Object.fromEntries(Object.keys(runs).map((name) => [name, []]));
console.log(
  `sqlite vs fs, ${ROUNDS} interleaved rounds (${CYCLES} CAS cycles, ${PAIRS} lock pairs), fsync on; ${execFileSync(
    'uptime',
  )
    .toString()
    .trim()}`,
);
for (let round = 0; round < ROUNDS; round++) {
  const names = Object.keys(runs);
  const shift = round % names.length;
  for (const name of names.slice(shift).concat(names.slice(0, shift)))
    rates[name].push(await runs[name]());
}
rmSync(root, { recursive: true, force: true });
const fmt = (list) =>
  `${median(list).toFixed(0)} (${Math.min(...list).toFixed(0)}–${Math.max(...list).toFixed(0)})`;
const ratio = (a, b) => median(rates[a].map((x, i) => x / rates[b][i])).toFixed(2);
console.log(`  bare writeFile+fsync+rename+readFile: ${fmt(rates.bare)} cycles/s`);
console.log(
  `  fs     CAS write + read:              ${fmt(rates.fsCas)} cycles/s (bare/fs ${ratio(
    'bare',
    'fsCas',
  )}x, target <= 1.3)`,
);
console.log(
  `  sqlite CAS write + read:              ${fmt(rates.sqliteCas)} cycles/s (bare/sqlite ${ratio(
    'bare',
    'sqliteCas',
  )}x)`,
);
console.log(`  sqlite/fs CAS: ${ratio('sqliteCas', 'fsCas')}x`);
console.log(`  fs     lock acquire + release:        ${fmt(rates.fsLock)} pairs/s`);
console.log(`  sqlite lock acquire + release:        ${fmt(rates.sqliteLock)} pairs/s`);
console.log(`  sqlite/fs lock: ${ratio('sqliteLock', 'fsLock')}x`);
console.log(`  ${execFileSync('uptime').toString().trim()}`);
