// How a claim on the fs workflow store scales with the number of unfinished workflows that are
// not due (sleeping, or scheduled later): N such workflows plus 20 due ones in one folder. A
// worker process's first claim reads every unfinished record once (and remembers which are not
// due before when); its later claims skip those from memory, so they cost one readdir of the
// pending folder plus the due records. Measured in a fresh process per N, like a new worker.
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FileWorkflowStore } from '../packages/fs/dist/esm/index.js';
import { median } from './support/stats.mjs';

const DUE = 20;
const [, , role, rootArg] = process.argv;

if (role === 'claimer') {
  const store = new FileWorkflowStore({ root: rootArg });
  const times = [];
  for (let i = 0; i < DUE + 1; i++) {
    const started = performance.now();
    const claimed = await store.claim({ leaseMs: 60_000 });
    times.push(performance.now() - started);
    if (i < DUE && claimed === undefined) throw new Error(`claim ${i} found nothing`);
    if (i === DUE && claimed !== undefined) throw new Error('claimed a workflow that is not due');
  }
  process.send(times);
} else {
  console.log(`fs workflow store: claim time with N workflows not due + ${DUE} due, in a fresh process (fsync off while filling)`);
  for (const n of [100, 1_000, 10_000]) {
    const root = mkdtempSync(join(tmpdir(), 'durable-bench-claim-'));
    const filler = new FileWorkflowStore({ root, fsync: false });
    const later = Date.now() + 3_600_000;
    for (let i = 0; i < n; i++) await filler.insert({ id: `sleeping-${i}`, handler: 'h', runAt: later });
    for (let i = 0; i < DUE; i++) await filler.insert({ id: `due-${i}`, handler: 'h' });
    const times = await new Promise((resolve, reject) => {
      const child = fork(fileURLToPath(import.meta.url), ['claimer', root]);
      child.once('message', resolve);
      child.once('exit', (code) => (code === 0 ? undefined : reject(new Error(`claimer exited ${code}`))));
    });
    console.log(
      `  N = ${String(n).padStart(6)}: first claim ${times[0].toFixed(1)} ms, later claims median ${median(times.slice(1, DUE)).toFixed(2)} ms` +
        `, a claim that finds nothing due ${times[DUE].toFixed(2)} ms`,
    );
    rmSync(root, { recursive: true, force: true });
  }
}
