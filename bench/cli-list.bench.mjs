// `durable workflows list` on 10,000 workflows in the fs store, run as users run it (the bin in
// a fresh process): the first page (50, newest first) and every page to the end (`--all`, 1,000 a
// page), against `node -e ''` started the same way (the process start both include).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const { FileWorkflowStore } = await import('@durable/fs');
const TOTAL = Number(process.env.BENCH_WORKFLOWS ?? 10_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const BIN = fileURLToPath(new URL('../packages/cli/dist/esm/bin.js', import.meta.url));

const root = mkdtempSync(join(tmpdir(), 'durable-bench-list-'));
try {
  const store = new FileWorkflowStore({ root, fsync: false });
  if (typeof store.list !== 'function') {
    console.log('the fs workflow store has no list() yet: nothing to measure');
    process.exit(0);
  }
  const seedStart = performance.now();
  const batch = 200;
  for (let i = 0; i < TOTAL; i += batch) {
    await Promise.all(
      Array.from({ length: Math.min(batch, TOTAL - i) }, (_, k) =>
        store.insert({
          id: `order-${String(i + k).padStart(6, '0')}`,
          handler: (i + k) % 3 === 0 ? 'refund' : 'order',
          input: { n: i + k },
          runAt: Date.now() + 1e12,
        }),
      ),
    );
  }
  console.log(
    `${TOTAL} workflows seeded in ${((performance.now() - seedStart) / 1000).toFixed(
      1,
    )} s (fsync off for the seed only)`,
  );
  const time = (args) => {
    const started = performance.now();
    const out = execFileSync(process.execPath, args, { maxBuffer: 256 * 1024 * 1024 });
    return { ms: performance.now() - started, bytes: out.length };
  };
  const rows = { start: [], first: [], all: [] };
  for (let run = 0; run < RUNS; run++) {
    rows.start.push(time(['-e', '']).ms);
    rows.first.push(time([BIN, '--fs', root, 'workflows', 'list']).ms);
    const all = time([BIN, '--fs', root, 'workflows', 'list', '--all', '--json']);
    if (
      JSON.parse(
        all.bytes === 0
          ? '{}'
          : execFileSync(process.execPath, [
              BIN,
              '--fs',
              root,
              'workflows',
              'counts',
              '--json',
            ]).toString(),
      ).ready !== TOTAL
    )
      throw new Error('counts disagree');
    rows.all.push(all.ms);
  }
  const range = (xs) => `${Math.min(...xs).toFixed(0)}-${Math.max(...xs).toFixed(0)} ms`;
  console.log(`node start alone:               ${range(rows.start)}`);
  console.log(`durable workflows list (page 1): ${range(rows.first)}`);
  console.log(
    `durable workflows list --all:    ${range(rows.all)}  (${TOTAL} workflows, ${Math.ceil(
      TOTAL / 1000,
    )} pages)`,
  );
} finally {
  rmSync(root, { recursive: true, force: true });
}
