import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bytesToText } from '@durable/core';
import { LocalFileStorageManager } from '@durable/fs';

const WORKERS = 4;
const CYCLES = 60;
const fixture = join(__dirname, 'fixtures', 'orchestrator-actor-worker.mjs');
let root: string;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'durable-actor-mp-'));
});
afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

function run(args: string[]): Promise<{ conflicts: number }> {
  return new Promise((resolve, reject) => {
    const child = fork(fixture, args, {
      execArgv: [],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let report: { conflicts: number } | undefined;
    child.on('message', (message) => {
      report = message as { conflicts: number };
    });
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 && report !== undefined
        ? resolve(report)
        : reject(new Error(`actor worker exited with ${String(code)}`)),
    );
  });
}

async function stored(): Promise<{
  machine: unknown;
  snapshot: { context: { count: number }; value: unknown };
}> {
  const entry = await new LocalFileStorageManager({ root }).read('actors/counter');
  return JSON.parse(bytesToText(entry!.data));
}

test(`read-write: ${WORKERS} processes x ${CYCLES} persisted-actor cycles under the fs lease lose no update`, async () => {
  await Promise.all(
    Array.from({ length: WORKERS }, () => run(['read-write', root, String(CYCLES)])),
  );
  const envelope = await stored();
  expect(envelope.snapshot.context.count).toBe(WORKERS * CYCLES);
  expect(envelope.snapshot.value).toEqual({
    counting: (WORKERS * CYCLES) % 2 === 0 ? 'even' : 'odd',
  });
  expect(envelope.machine).toEqual({ id: 'counter', version: '1' });
}, 120_000);

test(`write mode: ${WORKERS} processes x ${CYCLES} cycles with no lease; concurrent saves surface as CONFLICT and, retried, lose no update`, async () => {
  const reports = await Promise.all(
    Array.from({ length: WORKERS }, () => run(['write', root, String(CYCLES)])),
  );
  expect((await stored()).snapshot.context.count).toBe(WORKERS * CYCLES);
  // Without conflicts this would not have tested anything: the processes really raced.
  expect(reports.reduce((sum, r) => sum + r.conflicts, 0)).toBeGreaterThan(0);
}, 120_000);
