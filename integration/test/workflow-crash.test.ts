import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { WorkflowRecord, WorkflowStore } from '@durable/core';
import { FileLockManager, LocalFileStorageManager, FileWorkflowStore } from '@durable/fs';
import { StorageWorkflowStore } from '@durable/core';
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
  if (kind === 'fs') return new FileWorkflowStore({ root });
  return new StorageWorkflowStore({
    storage: new LocalFileStorageManager({ root }),
    lock: new FileLockManager({ root }),
  });
}

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe.each(['fs', 'generic'])('workflow crash tests on the %s store', (storeKind) => {
  it('4 workers, 200 workflows of 5 steps, 20 SIGKILLs and 10 stalls past the lease: all complete, no recorded step runs again, no workflow ends twice', async () => {
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
    const stopped = new Set<string>();
    const stalls: Array<Promise<void>> = [];
    let kills = 0;
    while (kills < 20) {
      // Every other round a live worker is also stopped past its lease and resumed, as a loaded
      // machine can stall one: its steps in flight are taken over and their records refused.
      if (kills % 2 === 0) {
        const stalled = workers[Math.floor(Math.random() * workers.length)] as Worker;
        stopped.add(String(stalled.child.pid));
        stalled.child.kill('SIGSTOP');
        stalls.push(delay(config.timeoutMs * 3).then(() => void stalled.child.kill('SIGCONT')));
      }
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

    await Promise.all(stalls);
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

    // The log: "<wf> <step> <pid> <failures>" when a step's function ran (failures: the count
    // the run's claim saw, which grows with every takeover, so it orders the claims),
    // "saved <wf> <step> <pid>" once the store accepted a record, "finish <wf> <pid>". Lines of a
    // stalled process can land late, so claims are ordered by their failure count, not by lines.
    const runs = new Map<string, Array<{ pid: string; claim: number }>>();
    const saves = new Map<string, string[]>();
    const finishes = new Map<string, string[]>();
    for (const [a, b, c, d] of logLines(log) as Array<[string, string, string, string]>) {
      if (a === 'finish') finishes.set(b, [...(finishes.get(b) ?? []), c]);
      else if (a === 'saved') saves.set(`${b} ${c}`, [...(saves.get(`${b} ${c}`) ?? []), d]);
      else runs.set(`${a} ${b}`, [...(runs.get(`${a} ${b}`) ?? []), { pid: c, claim: Number(d) }]);
    }
    let killedRepeats = 0;
    let stoppedRepeats = 0;
    let stalledRepeats = 0;
    for (let i = 0; i < TOTAL; i++) {
      const record = records[i] as WorkflowRecord;
      expect(record.steps.map((s) => s.id)).toEqual(['s1', 's2', 's3', 's4', 's5']);
      for (let step = 1; step <= 5; step++) {
        const key = `wf-${i} s${step}`;
        const ran = runs.get(key) ?? [];
        const [pid, claim] = String(record.steps[step - 1]?.value).split('/') as [string, string];
        // At-least-once only for a step in flight: runs under earlier claims (killed, or stalled
        // past their lease) may have run it too, but the record is a run's own, no claim after
        // the recording one ran it again, and the store acknowledged no other run's record.
        expect({
          key,
          recordedRan: ran.some((r) => r.pid === pid && r.claim === Number(claim)),
        }).toEqual({ key, recordedRan: true });
        expect({ key, laterClaims: ran.filter((r) => r.claim > Number(claim)) }).toEqual({
          key,
          laterClaims: [],
        });
        expect({
          key,
          sameClaimOthers: ran.filter((r) => r.claim === Number(claim) && r.pid !== pid),
        }).toEqual({ key, sameClaimOthers: [] });
        for (const saver of saves.get(key) ?? [])
          expect({ key, saver }).toEqual({ key, saver: pid });
        for (const run of ran.filter((r) => r.claim < Number(claim))) {
          // Its record was refused: the worker was stopped past its lease (SIGSTOP here, or a
          // stall of the machine) or killed.
          if (stopped.has(run.pid)) stoppedRepeats++;
          else if (killed.has(run.pid)) killedRepeats++;
          else stalledRepeats++;
        }
      }
      expect((finishes.get(`wf-${i}`) ?? []).length).toBeLessThanOrEqual(1);
      // The result is what the recorded steps returned, whoever ran them.
      expect(record.result).toEqual(record.steps.map((s) => s.value));
    }
    console.log(
      `${storeKind}: 20 kills, 10 stops; steps run again: ${killedRepeats} after a kill, ${stoppedRepeats} after a SIGSTOP past the lease (the worker maybe killed later), ${stalledRepeats} after another stall; ${finishes.size} finishes logged`,
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
    // 1, or more if B itself stalled past its lease on a loaded machine and claimed it again.
    expect(done?.failures).toBeGreaterThanOrEqual(1);

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
