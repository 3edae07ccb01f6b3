import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { WorkflowRecord, WorkflowStore } from '@durable/core';
import { createFileLock, createFileStorage, createFileWorkflowStore } from '@durable/fs';
import { createStorageWorkflowStore } from '@durable/core';
import { LidexClient } from '@durable/workflow/lidex';

const fixture = join(__dirname, 'fixtures', 'workflow-worker.mjs');
const roots: string[] = [];
const children = new Set<ChildProcess>();

afterAll(() => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});

function freshRoot(): string {
  const root = mkdtempSync(join(tmpdir(), 'durable-wf-crash-'));
  roots.push(root);
  return root;
}

interface Worker {
  child: ChildProcess;
  ready: Promise<void>;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<void>;
}

function startWorker(config: Record<string, unknown>): Worker {
  const child = spawn(process.execPath, [fixture, JSON.stringify(config)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let out = '';
  let err = '';
  child.stderr?.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('ready\n')) resolve();
    });
    child.on('exit', (code, signal) =>
      reject(new Error(`worker exited (${code ?? signal}) before ready: ${err}`)),
    );
  });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  return { child, ready, stdout: () => out, stderr: () => err, exited };
}

function logLines(log: string): string[][] {
  let text = '';
  try {
    text = readFileSync(log, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => line.split(' '));
}

// The same folder seen through the store the workers use: the fs-native one, or the generic one
// over the fs storage and the fs lock.
function openStore(kind: string, root: string): WorkflowStore {
  if (kind === 'fs') return createFileWorkflowStore({ root });
  return createStorageWorkflowStore({
    storage: createFileStorage({ root }),
    lock: createFileLock({ root }),
  });
}

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe.each(['fs', 'generic'])('workflow crash tests on the %s store', (storeKind) => {
  it('4 workers, 200 workflows of 5 steps, 20 SIGKILLs: all complete, each side effect once (bar interrupted steps), no workflow ends twice', async () => {
    const root = freshRoot();
    const log = join(root, 'effects.log');
    writeFileSync(log, '');
    const TOTAL = 200;
    const starter = new LidexClient({
      store: openStore(storeKind, root),
      handlers: {},
      concurrency: 0,
    });
    for (let i = 0; i < TOTAL; i++) expect(await starter.start(`wf-${i}`, 'fiveSteps')).toBe(true);

    const config = { root, log, store: storeKind, concurrency: 3, timeoutMs: 600, stepDelayMs: 15 };
    const workers: Worker[] = [];
    for (let i = 0; i < 4; i++) workers.push(startWorker(config));
    await Promise.all(workers.map((w) => w.ready));

    const killed = new Set<string>();
    let kills = 0;
    while (kills < 20) {
      await delay(80 + Math.floor(Math.random() * 120));
      const slot = Math.floor(Math.random() * workers.length);
      const victim = workers[slot] as Worker;
      killed.add(String(victim.child.pid));
      victim.child.kill('SIGKILL');
      await victim.exited;
      kills++;
      const replacement = startWorker(config);
      workers[slot] = replacement;
      await replacement.ready;
    }

    const deadline = Date.now() + 90_000;
    let records: Array<WorkflowRecord | undefined> = [];
    for (;;) {
      records = await Promise.all(Array.from({ length: TOTAL }, (_, i) => starter.get(`wf-${i}`)));
      if (records.every((r) => r?.status === 'completed') || Date.now() > deadline) break;
      await delay(200);
    }
    await Promise.all(
      workers.map(async (w) => {
        w.child.kill('SIGTERM');
        await w.exited;
      }),
    );
    const notDone = records
      .filter((r) => r?.status !== 'completed')
      .map((r) => `${r?.id}:${r?.status}`);
    expect(notDone).toEqual([]);

    const effects = new Map<string, string[]>();
    const finishes = new Map<string, string[]>();
    for (const [a, b, c] of logLines(log)) {
      if (a === 'finish')
        finishes.set(b as string, [...(finishes.get(b as string) ?? []), c as string]);
      else effects.set(`${a} ${b}`, [...(effects.get(`${a} ${b}`) ?? []), c as string]);
    }
    let repeats = 0;
    for (let i = 0; i < TOTAL; i++) {
      for (let step = 1; step <= 5; step++) {
        const pids = effects.get(`wf-${i} s${step}`) ?? [];
        expect(pids.length).toBeGreaterThanOrEqual(1);
        // A step may repeat only when the process that ran it earlier was killed mid-step.
        for (const pid of pids.slice(0, -1)) expect(killed.has(pid)).toBe(true);
        repeats += pids.length - 1;
      }
      expect((finishes.get(`wf-${i}`) ?? []).length).toBeLessThanOrEqual(1);
      const record = records[i] as WorkflowRecord;
      expect(record.steps.map((s) => s.id)).toEqual(['s1', 's2', 's3', 's4', 's5']);
      // The result is what the recorded steps returned, whoever ran them.
      expect(record.result).toEqual(record.steps.map((s) => s.value));
    }
    // Each kill interrupts at most `concurrency` steps.
    expect(repeats).toBeLessThanOrEqual(20 * config.concurrency);
    console.log(
      `${storeKind}: 20 kills, ${repeats} interrupted steps repeated, ${
        [...finishes.values()].length
      } finishes logged`,
    );
  }, 180_000);

  it('a worker SIGSTOPped past its lease in a step and resumed after a takeover lands none of its writes', async () => {
    const root = freshRoot();
    const log = join(root, 'effects.log');
    writeFileSync(log, '');
    const client = new LidexClient({
      store: openStore(storeKind, root),
      handlers: {},
      concurrency: 0,
    });
    await client.start('frozen', 'slow');
    const config = {
      root,
      log,
      store: storeKind,
      concurrency: 1,
      timeoutMs: 400,
      slowStepMs: 1200,
    };
    const a = startWorker(config);
    await a.ready;
    while (!logLines(log).some(([id, step]) => id === 'frozen' && step === 'slow')) await delay(10);
    a.child.kill('SIGSTOP');
    await delay(700); // past A's 400 ms lease
    const b = startWorker(config);
    await b.ready;
    const done = await client.wait('frozen', ['completed'], 100, 50);
    expect(done?.status).toBe('completed');
    const bPid = b.child.pid as number;
    expect(done?.result).toEqual([bPid, bPid]);
    expect(done?.failures).toBe(1);

    a.child.kill('SIGCONT');
    await delay(1500); // A's step ends, its save and heartbeats are refused
    const after = await client.get('frozen');
    expect(after).toEqual(done);
    for (const w of [a, b]) {
      w.child.kill('SIGTERM');
      await w.exited;
    }
    const aStats = JSON.parse(a.stdout().split('stats ')[1] ?? '{}') as Record<string, number>;
    expect(aStats.lost).toBe(1);
    expect(aStats.completed).toBe(0);
    const finishes = logLines(log).filter(([kind]) => kind === 'finish');
    expect(finishes).toEqual([['finish', 'frozen', String(bPid)]]);
    expect(logLines(log).filter(([, step]) => step === 'after')).toEqual([
      ['frozen', 'after', String(bPid)],
    ]);
  }, 60_000);
});
