import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bytesToText, isDurableError } from '@durable/core';
import { FileLockManager, FileWorkflowStore, LocalFileStorageManager } from '../src/index.js';
import { ABANDONED_AFTER_MS, SEAL_AT } from '../src/key-store.js';

/*
 * Deterministic versions of the stall attacks: a child process stops itself (SIGSTOP) at a chosen
 * file-system call of the protocol; meanwhile this process commits enough times to compact the
 * key's folder several times over (each epoch holds SEAL_AT slots); then the child is resumed.
 */

const WORKER = join(__dirname, 'fixtures', 'pause-worker.mjs');
const COMMITS = SEAL_AT * 3 + 7;
let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'durable-fs-pause-'));
});
const children: ChildProcess[] = [];
afterEach(() => {
  // A test that failed midway must not leave a stopped child behind (jest would wait for it).
  for (const child of children.splice(0))
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  rmSync(root, { recursive: true, force: true });
});

interface Paused {
  child: ChildProcess;
  outcome: Promise<Record<string, unknown>>;
}

/**
 * Resolves once the process is really stopped (state T in /proc): it announces the pause just
 * before it stops itself, and a SIGCONT sent in between would be lost, leaving it stopped for good.
 */
async function stopped(pid: number): Promise<void> {
  for (;;) {
    let state: string | undefined;
    try {
      state = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '')[0];
    } catch {
      return; // no /proc (not Linux), or the process is gone: nothing to wait for
    }
    if (state === 'T' || state === 't') return;
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

/** Starts the worker and resolves once it has stopped itself at the chosen call. */
function startPaused(args: string[]): Promise<Paused> {
  const child = spawn(process.execPath, [WORKER, root, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let buffer = '';
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolvePaused, rejectPaused) => {
    let resolveOutcome: (value: Record<string, unknown>) => void;
    const outcome = new Promise<Record<string, unknown>>((resolve) => (resolveOutcome = resolve));
    child.stdout!.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      for (let end = buffer.indexOf('\n'); end !== -1; end = buffer.indexOf('\n')) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 1);
        if (line.startsWith('paused'))
          void stopped(child.pid!).then(() => resolvePaused({ child, outcome }));
        else if (line.startsWith('{')) resolveOutcome!(JSON.parse(line) as Record<string, unknown>);
      }
    });
    child.on('exit', (code) =>
      rejectPaused(new Error(`worker exited (${code}) before pausing: ${stderr}`)),
    );
  });
}

/** Read-increment-write with retry on CONFLICT, as an application does; returns each (version, value). */
async function increment(
  storage: LocalFileStorageManager,
  key: string,
  times: number,
  seen: Map<string, string>,
): Promise<void> {
  for (let i = 0; i < times; i++) {
    for (;;) {
      const entry = await storage.read(key);
      const next = String(Number(entry === undefined ? '0' : bytesToText(entry.data)) + 1);
      try {
        seen.set(await storage.write(key, next, { ifVersion: entry?.version ?? null }), next);
        break;
      } catch (error) {
        if (!isDurableError(error, 'CONFLICT')) throw error;
      }
    }
  }
}

test('a conditional write paused just after its link (its commit), while others build on it and compact, reports success: no doubled increment', async () => {
  const storage = new LocalFileStorageManager({ root, fsync: false });
  await storage.write('counter', '0');
  const paused = await startPaused(['after:link', 'cas', 'counter']);
  await increment(storage, 'counter', COMMITS, new Map());
  paused.child.kill('SIGCONT');
  const outcome = await paused.outcome;
  expect(outcome).toMatchObject({ ok: true });
  expect(outcome.neverPaused).toBeUndefined();
  expect(bytesToText((await storage.read('counter'))!.data)).toBe(String(COMMITS + 1));
}, 120_000);

test('a conditional write paused just before its link, while others commit and compact, reports CONFLICT and changes nothing', async () => {
  const storage = new LocalFileStorageManager({ root, fsync: false });
  await storage.write('counter', '0');
  const paused = await startPaused(['before:link', 'cas', 'counter']);
  const seen = new Map<string, string>();
  await increment(storage, 'counter', COMMITS, seen);
  paused.child.kill('SIGCONT');
  expect(await paused.outcome).toMatchObject({ ok: false, code: 'CONFLICT' });
  const entry = await storage.read('counter');
  expect(bytesToText(entry!.data)).toBe(String(COMMITS));
  expect(seen.get(entry!.version)).toBe(String(COMMITS));
}, 120_000);

test('a read paused between listing the folder and opening the newest file returns a value that was committed under that version', async () => {
  const storage = new LocalFileStorageManager({ root, fsync: false });
  const seen = new Map<string, string>();
  await increment(storage, 'counter', 3, seen);
  const reader = await startPaused(['before:readFile', 'read', 'counter']);
  // A writer paused before its link too: its late link must not land where the reader looks.
  const writer = await startPaused(['before:link', 'cas', 'counter']);
  await increment(storage, 'counter', COMMITS, seen);
  writer.child.kill('SIGCONT');
  expect(await writer.outcome).toMatchObject({ ok: false, code: 'CONFLICT' });
  reader.child.kill('SIGCONT');
  const read = (await reader.outcome) as { ok: boolean; value: string; version: string };
  expect(read.ok).toBe(true);
  expect(seen.get(read.version)).toBe(read.value);
}, 120_000);

test('a lock grant paused before its commit, while other grants come and go, gets a fencing token above every earlier one', async () => {
  const lock = new FileLockManager({ root });
  let highest = 0;
  const first = await lock.acquire('resource', { ttlMs: 60_000 }); // the key exists: grants are links
  highest = first.fencingToken;
  await first.release();
  const paused = await startPaused(['before:link', 'acquire', 'resource', '60000']);
  for (let i = 0; i < COMMITS / 2; i++) {
    const lease = await lock.acquire('resource', { ttlMs: 60_000 });
    expect(lease.fencingToken).toBeGreaterThan(highest);
    highest = lease.fencingToken;
    await lease.release();
  }
  paused.child.kill('SIGCONT');
  const outcome = (await paused.outcome) as { ok: boolean; fencingToken: number };
  expect(outcome.ok).toBe(true);
  expect(outcome.fencingToken).toBeGreaterThan(highest);
  await expect(lock.acquire('resource', { ttlMs: 1000, waitMs: 0 })).rejects.toMatchObject({
    code: 'LOCK_TIMEOUT',
  });
}, 120_000);

describe('workflow store', () => {
  const step = (id: string, value: number) => ({
    id,
    kind: 'step' as const,
    done: true,
    value,
    at: 0,
  });

  test('a step save paused just before its append, while another process takes the workflow over and records its own, is refused with LOCK_LOST and appears nowhere', async () => {
    const store = new FileWorkflowStore({ root, fsync: false });
    await store.insert({ id: 'w', handler: 'h' });
    const paused = await startPaused(['before:append', 'wf-step', 'w']);
    // The child's lease (0 ms) has expired: this claim takes the workflow over.
    const claimed = await store.claim({ leaseMs: 60_000 });
    expect(claimed?.record.steps.map((m) => m.id)).toEqual(['child-0']);
    await store.saveStep('w', claimed!.token, 1, step('parent-1', 1));
    paused.child.kill('SIGCONT');
    expect(await paused.outcome).toMatchObject({ ok: false, code: 'LOCK_LOST' });
    await store.finish('w', claimed!.token, { status: 'completed' });
    expect((await store.get('w'))?.steps.map((m) => m.id)).toEqual(['child-0', 'parent-1']);
  }, 120_000);

  test('a step save paused after its append, before the read-back that checks its claim, is seen by the process that takes over, which records after it; the paused save then reports its claim lost (LOCK_LOST), never a different record', async () => {
    const store = new FileWorkflowStore({ root, fsync: false });
    await store.insert({ id: 'w', handler: 'h' });
    const paused = await startPaused(['after:append', 'wf-step', 'w']);
    const claimed = await store.claim({ leaseMs: 60_000 });
    expect(claimed?.record.steps.map((m) => m.id)).toEqual(['child-0', 'child-1']);
    await store.saveStep('w', claimed!.token, 2, step('parent-2', 2));
    paused.child.kill('SIGCONT');
    // Its read-back finds the run folder moved: it cannot tell whether its bytes landed before the
    // takeover's move of the run folder or in the moved folder after it (the open resolves the
    // folder first), so it reports the lost claim.
    expect(await paused.outcome).toMatchObject({ ok: false, code: 'LOCK_LOST' });
    expect((await store.get('w'))?.steps.map((m) => m.id)).toEqual([
      'child-0',
      'child-1',
      'parent-2',
    ]);
  }, 120_000);

  test('a step save paused after its read-back found its claim held (acknowledged) is in the history of the process that takes over, which records after it', async () => {
    const store = new FileWorkflowStore({ root, fsync: false });
    await store.insert({ id: 'w', handler: 'h' });
    const paused = await startPaused(['done:', 'wf-step', 'w']);
    const claimed = await store.claim({ leaseMs: 60_000 });
    expect(claimed?.record.steps.map((m) => m.id)).toEqual(['child-0', 'child-1']);
    await store.saveStep('w', claimed!.token, 2, step('parent-2', 2));
    paused.child.kill('SIGCONT');
    expect(await paused.outcome).toMatchObject({ ok: true });
    expect((await store.get('w'))?.steps.map((m) => m.id)).toEqual([
      'child-0',
      'child-1',
      'parent-2',
    ]);
  }, 120_000);

  test('a claim paused before its barrier (it read a non-empty log), while another process takes the workflow over and records, gets nothing: its barrier finds the run folder moved', async () => {
    const store = new FileWorkflowStore({ root, fsync: false });
    await store.insert({ id: 'w', handler: 'h' });
    const first = (await store.claim({ leaseMs: 0 }))!;
    await store.saveStep('w', first.token, 0, step('first-0', 0));
    const paused = await startPaused(['before:append', 'wf-claim', 'w']);
    const claimed = await store.claim({ leaseMs: 60_000 });
    expect(claimed?.record.steps.map((m) => m.id)).toEqual(['first-0']);
    await store.saveStep('w', claimed!.token, 1, step('parent-1', 1));
    paused.child.kill('SIGCONT');
    expect(await paused.outcome).toMatchObject({ ok: true, claimed: null });
    expect((await store.get('w'))?.steps.map((m) => m.id)).toEqual(['first-0', 'parent-1']);
  }, 120_000);

  test('an insert paused between its due marker and creating the workflow, while others insert, claim and finish, is found by a claim once it completes', async () => {
    const store = new FileWorkflowStore({ root, fsync: false });
    const paused = await startPaused(['before:rename', 'wf-insert', 'late']);
    for (let i = 0; i < 20; i++) {
      await store.insert({ id: `other-${i}`, handler: 'h' });
      const claimed = await store.claim({ leaseMs: 60_000 });
      expect(claimed?.record.id).toBe(`other-${i}`);
      await store.finish(claimed!.record.id, claimed!.token, { status: 'completed' });
    }
    expect(await store.claim({ leaseMs: 60_000 })).toBeUndefined();
    paused.child.kill('SIGCONT');
    expect(await paused.outcome).toMatchObject({ ok: true });
    // A fresh process (no memory of having skipped the marker) finds it at once.
    const claimed = await new FileWorkflowStore({ root, fsync: false }).claim({ leaseMs: 60_000 });
    expect(claimed?.record.id).toBe('late');
  }, 120_000);

  // Prepared folders (.p-*) in the workflows folder, with their contents.
  const prepared = (): string[] =>
    readdirSync(join(root, '.workflows')).filter((name) => /^\.[px]-/.test(name));
  // Ages a folder past the abandon age (the sweep goes by modification time).
  const age = (name: string): void => {
    const past = (Date.now() - ABANDONED_AFTER_MS - 60_000) / 1000;
    utimesSync(join(root, '.workflows', name), past, past);
  };

  test('an insert killed (SIGKILL) just before it moves its prepared folder into place leaves no workflow; a listing sweeps the folder once abandoned (not before), and the id inserts afresh', async () => {
    const paused = await startPaused(['before:rename', 'wf-insert', 'killed']);
    paused.child.kill('SIGKILL');
    await new Promise((resolve) => paused.child.once('exit', resolve));
    const store = new FileWorkflowStore({ root, fsync: false });
    expect(await store.get('killed')).toBeUndefined();
    const left = prepared();
    expect(left).toHaveLength(1);
    // Young: it may belong to an insert that is merely slow, so it stays.
    expect((await store.list({ limit: 10 })).items).toEqual([]);
    expect(prepared()).toEqual(left);
    age(left[0]!);
    expect((await store.counts()).ready).toBe(0);
    expect(prepared()).toEqual([]);
    expect(await store.insert({ id: 'killed', handler: 'h' })).toBe(true);
    expect((await store.claim({ leaseMs: 60_000 }))?.record.id).toBe('killed');
  }, 120_000);

  test('an insert paused just before it moves its prepared folder into place, whose folder is swept as abandoned meanwhile, prepares again once resumed and succeeds', async () => {
    const paused = await startPaused(['before:rename', 'wf-insert', 'slow']);
    const store = new FileWorkflowStore({ root, fsync: false });
    const left = prepared();
    expect(left).toHaveLength(1);
    age(left[0]!);
    await store.list({ limit: 10 });
    expect(prepared()).toEqual([]);
    paused.child.kill('SIGCONT');
    expect(await paused.outcome).toMatchObject({ ok: true });
    expect(prepared()).toEqual([]);
    const record = await store.get('slow');
    expect(record).toMatchObject({ id: 'slow', status: 'ready', steps: [] });
    expect((await store.claim({ leaseMs: 60_000 }))?.record.id).toBe('slow');
  }, 120_000);
});
