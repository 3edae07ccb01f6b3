import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { WorkflowRecord } from '@durable/core';
import { FileWorkflowStore } from '@durable/fs';
import { LidexClient } from '@durable/workflow/lidex';

// A worker never dies of a workflow. One worker process, run with
// --unhandled-rejections=strict (any escaped rejection ends it), over handlers that forget
// awaits, throw non-Errors, Promise.all over steps, never settle, and a store that fails.

const fixture = join(__dirname, 'fixtures', 'workflow-misbehaving-worker.mjs');
const TIMEOUT_MS = 3000;
let root = '';
let child: ChildProcess | undefined;

afterEach(() => {
  if (child !== undefined && child.exitCode === null) child.kill('SIGKILL');
  if (root !== '') rmSync(root, { recursive: true, force: true });
});

interface Expected {
  status: 'completed' | 'aborted';
  failures: number;
  code?: string;
  message?: string | RegExp;
  result?: unknown;
  /** Side effects each step had, in the log ("a", "b", ...). */
  effects?: string[];
}

const GOOD = 10;
const culprits: Record<string, [handler: string, expected: Expected]> = {
  'missing-await': [
    'missingAwait',
    {
      status: 'aborted',
      failures: 1,
      code: 'NON_DETERMINISTIC',
      message: /await each ctx operation/,
      effects: ['a'],
    },
  ],
  'missing-await-return': [
    'missingAwaitReturn',
    {
      status: 'aborted',
      failures: 1,
      code: 'NON_DETERMINISTIC',
      message: /returned while step "slow" was still running/,
      effects: ['slow'],
    },
  ],
  'floating-misuse': [
    'floatingMisuse',
    {
      status: 'aborted',
      failures: 1,
      code: 'CONFIG',
      message: /sleep "s": ms must be a finite number/,
      effects: [],
    },
  ],
  'late-call': ['lateCall', { status: 'completed', failures: 0, result: 'done', effects: [] }],
  'promise-all': [
    'promiseAll',
    {
      status: 'aborted',
      failures: 1,
      code: 'NON_DETERMINISTIC',
      message: /no Promise\.all/,
      effects: ['a'],
    },
  ],
  'throw-undefined': [
    'throwUndefined',
    { status: 'aborted', failures: 2, message: 'a non-Error value was thrown: undefined' },
  ],
  'throw-null': [
    'throwNull',
    { status: 'aborted', failures: 2, message: 'a non-Error value was thrown: null' },
  ],
  'throw-string': ['throwString', { status: 'aborted', failures: 2, message: 'a plain string' }],
  'throw-object': [
    'throwObject',
    { status: 'aborted', failures: 2, message: 'a non-Error value was thrown: [object Object]' },
  ],
  'throw-null-proto': [
    'throwNullProto',
    { status: 'aborted', failures: 2, message: 'a non-Error value was thrown: {}' },
  ],
  'throw-revoked-proxy': [
    'throwRevokedProxy',
    { status: 'aborted', failures: 2, message: /a value that cannot be inspected was thrown/ },
  ],
  'throw-getter': [
    'throwGetter',
    { status: 'aborted', failures: 2, message: /a value that cannot be inspected was thrown/ },
  ],
  'throw-sync': [
    'throwSync',
    { status: 'aborted', failures: 2, message: 'a non-Error value was thrown: 7' },
  ],
  'step-throws-string': [
    'stepThrowsString',
    { status: 'aborted', failures: 2, message: 'step said no' },
  ],
  'non-json-result': [
    'nonJsonResult',
    { status: 'aborted', failures: 1, code: 'SERIALIZATION', message: /\$ is a Date/ },
  ],
  'never-settles': [
    'neverSettles',
    {
      status: 'aborted',
      failures: 2,
      code: 'HANDLER_STALLED',
      message: /outside any ctx operation/,
      effects: ['before'],
    },
  ],
  'store-get-fails': [
    'storeGetFails',
    { status: 'aborted', failures: 2, message: /get failed \(injected\)/ },
  ],
  'heartbeat-throws': ['heartbeatThrows', { status: 'completed', failures: 0, result: 'survived' }],
};

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

it('a worker run with --unhandled-rejections=strict survives misbehaving handlers: each culprit is aborted with its real cause, the others lose no failure count', async () => {
  root = mkdtempSync(join(tmpdir(), 'durable-wf-misbehave-'));
  const log = join(root, 'effects.log');
  writeFileSync(log, '');
  const client = new LidexClient({
    store: new FileWorkflowStore({ root, fsync: false }),
    handlers: {},
    concurrency: 0,
  });
  for (const [id, [handler]] of Object.entries(culprits))
    expect(await client.start(id, handler)).toBe(true);
  for (let i = 0; i < GOOD; i++) expect(await client.start(`good-${i}`, 'good')).toBe(true);

  const worker = spawn(
    process.execPath,
    [
      '--unhandled-rejections=strict',
      fixture,
      JSON.stringify({ root, log, timeoutMs: TIMEOUT_MS }),
    ],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  child = worker;
  let out = '';
  let err = '';
  worker.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
  worker.stderr?.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const exited = new Promise<number | null>((resolve) =>
    worker.on('exit', (code) => resolve(code)),
  );

  const ids = [...Object.keys(culprits), ...Array.from({ length: GOOD }, (_, i) => `good-${i}`)];
  const deadline = Date.now() + 60_000;
  let records: Array<WorkflowRecord | undefined> = [];
  for (;;) {
    records = await Promise.all(ids.map((id) => client.get(id)));
    const settled = records.every((r) => r?.status === 'completed' || r?.status === 'aborted');
    if (settled || Date.now() > deadline || worker.exitCode !== null) break;
    await delay(100);
  }
  // The process lived through all of it (it would have exited at the first escaped rejection).
  expect(worker.exitCode).toBeNull();
  expect(err).not.toMatch(/unhandled|uncaught/i);
  // The fixture's onError throws: its failures were written to stderr instead, not fatal.
  expect(err).toContain(
    'onError threw while reporting Error: store: heartbeat threw synchronously',
  );

  const effects = new Map<string, string[]>();
  for (const line of readFileSync(log, 'utf8')
    .split('\n')
    .filter((l) => l !== '')) {
    const [id, step] = line.split(' ') as [string, string];
    effects.set(id, [...(effects.get(id) ?? []), step]);
  }
  const byId = new Map(records.map((r) => [r?.id, r]));
  for (const [id, [, expected]] of Object.entries(culprits)) {
    const record = byId.get(id);
    const seen = {
      id,
      status: record?.status,
      failures: record?.failures,
      ...(expected.code === undefined ? {} : { code: record?.error?.code }),
      ...(expected.result === undefined ? {} : { result: record?.result }),
      ...(expected.effects === undefined ? {} : { effects: effects.get(id) ?? [] }),
    };
    expect(seen).toEqual({
      id,
      status: expected.status,
      failures: expected.failures,
      ...(expected.code === undefined ? {} : { code: expected.code }),
      ...(expected.result === undefined ? {} : { result: expected.result }),
      ...(expected.effects === undefined ? {} : { effects: expected.effects }),
    });
    if (expected.message !== undefined) {
      const message =
        typeof expected.message === 'string'
          ? expected.message
          : expect.stringMatching(expected.message);
      expect({ id, message: record?.error?.message }).toEqual({ id, message });
    }
    expect(record?.error?.name).not.toBe('LeaseExpired');
  }
  for (let i = 0; i < GOOD; i++) {
    const record = byId.get(`good-${i}`);
    expect({
      id: `good-${i}`,
      status: record?.status,
      failures: record?.failures,
      result: record?.result,
    }).toEqual({ id: `good-${i}`, status: 'completed', failures: 0, result: 3 });
    expect(effects.get(`good-${i}`)).toEqual(['a', 'b']);
  }

  worker.kill('SIGTERM');
  expect(await exited).toBe(0);
  expect(out).toContain('stopped');
  expect(err).not.toMatch(/unhandled|uncaught/i);
}, 90_000);
