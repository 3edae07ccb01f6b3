import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bytesToText } from '@durable/core';
import { LocalFileStorageManager } from '@durable/fs';

interface Event {
  id: string;
  type: string;
  subject?: string;
  data?: unknown;
}
interface Report {
  emitted: Event[];
  errors: Event[];
  undelivered?: number;
  final?: Record<string, { value: unknown; status: string; context: unknown }>;
}

const WORKERS = 4;
const SUBJECTS = 20;
const fixture = join(__dirname, 'fixtures', 'orchestrator-worker.mjs');
let root: string;

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'durable-orchestrator-mp-'));
});
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

function killed(args: string[]): Promise<NodeJS.Signals | null> {
  return new Promise((resolve, reject) => {
    const child = fork(fixture, args, {
      execArgv: [],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    child.on('error', reject);
    child.on('exit', (_code, signal) => resolve(signal));
  });
}

function run(args: string[]): Promise<Report> {
  return new Promise((resolve, reject) => {
    const child = fork(fixture, args, {
      execArgv: [],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let report: Report | undefined;
    child.on('message', (message) => {
      report = message as Report;
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code === 0 && report !== undefined) resolve(report);
      else reject(new Error(`orchestrator worker ${args.join(' ')} exited with ${String(code)}`));
    });
  });
}

test(`${WORKERS} processes each deliver the same 200 events (shuffled, with duplicates) for ${SUBJECTS} processes on fs: every process ends as a single in-order run leaves it, and no outgoing id has two payloads`, async () => {
  const [reference, ...workers] = await Promise.all([
    run(['reference']),
    ...Array.from({ length: WORKERS }, (_, i) => run(['deliver', root, String(1000 + i * 7919)])),
  ]);
  expect(reference.errors).toEqual([]);
  for (const worker of workers) {
    expect(worker.errors).toEqual([]);
    expect(worker.undelivered).toBe(0);
  }

  // Final state of every process, read back from the files.
  const storage = new LocalFileStorageManager({ root });
  const expected = reference.final as NonNullable<Report['final']>;
  expect(Object.keys(expected)).toHaveLength(SUBJECTS);
  for (const [subject, state] of Object.entries(expected)) {
    const entry = await storage.read(`orchestrations/${subject}`);
    expect(entry).toBeDefined();
    const stored = JSON.parse(bytesToText(entry!.data));
    expect({
      subject,
      value: stored.snapshot.value,
      status: stored.snapshot.status,
      context: stored.snapshot.context,
    }).toEqual({
      subject,
      value: state.value,
      status: state.status,
      context: state.context,
    });
    expect(state.value).toBe('complete');
    // Each of the 10 distinct events was applied exactly once, whatever the redeliveries.
    expect(stored.extensions.orchestration.sequence).toBe(10);
  }

  // Deterministic ids: one id, one payload, across all four processes.
  const byId = new Map<string, string>();
  let conflicts = 0;
  for (const event of workers.flatMap((worker) => worker.emitted)) {
    const body = JSON.stringify(event);
    const seen = byId.get(event.id);
    if (seen !== undefined && seen !== body) conflicts++;
    byId.set(event.id, body);
  }
  expect(conflicts).toBe(0);
  // Every process started once (one cmd.collect.begin id each) and completed once.
  const distinct = [...byId.values()].map((body) => JSON.parse(body) as Event);
  expect(distinct.filter((event) => event.type === 'cmd.collect.begin')).toHaveLength(SUBJECTS);
  expect(distinct.filter((event) => event.type === 'notif.complete')).toHaveLength(SUBJECTS);
  // One ack on entering the first substate at the start, then one per applied event.
  expect(distinct.filter((event) => event.type === 'cmd.ack')).toHaveLength(SUBJECTS * 11);
}, 240_000);

test('a process SIGKILLed between save and publish, mid-batch with leases held: the re-run batch returns exactly the events of an uncrashed run, same ids', async () => {
  const clean = mkdtempSync(join(tmpdir(), 'durable-orchestrator-clean-'));
  const crashed = mkdtempSync(join(tmpdir(), 'durable-orchestrator-crash-'));
  try {
    const reference = await run(['batch', clean]);
    expect(reference.errors).toEqual([]);
    expect(await killed(['crash', crashed])).toBe('SIGKILL');
    // Some processes were saved before the kill, others not; leases the dead process held
    // expire after their 1.5 s TTL and are taken over.
    const storage = new LocalFileStorageManager({ root: crashed });
    const savedBeforeRerun = (
      await Promise.all(
        Array.from({ length: SUBJECTS }, (_, s) =>
          storage.exists(`orchestrations/p${String(s).padStart(2, '0')}`),
        ),
      )
    ).filter(Boolean).length;
    expect(savedBeforeRerun).toBeGreaterThanOrEqual(3);
    expect(savedBeforeRerun).toBeLessThan(SUBJECTS);
    const rerun = await run(['batch', crashed]);
    expect(rerun.errors).toEqual([]);
    expect(rerun.emitted).toEqual(reference.emitted);
    expect(rerun.final).toEqual(reference.final);
  } finally {
    rmSync(clean, { recursive: true, force: true });
    rmSync(crashed, { recursive: true, force: true });
  }
}, 120_000);
