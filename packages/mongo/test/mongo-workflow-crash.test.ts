import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { WorkflowStatus } from '@durable/core';
import { MongoWorkflowStore } from '../src/index.js';
import type { MongoTestServer } from '@durable/test-support';
import { mongoServerOrSkip, startMongoTestServer } from '@durable/test-support';

// A workflow worker process SIGKILLed in the middle of a step, on MongoWorkflowStore: another
// worker process takes the workflow over once the dead one's lease (1.5 s) expires and finishes
// it; the step that had completed before the kill is not run again. MONGODB_URI, else
// mongo-java-server; skipped loudly without either.
const SCRIPT = join(__dirname, 'fixtures', 'mongo-workflow-worker.mjs');

function startWorker(args: string[]): {
  child: ChildProcess;
  reached: (line: string) => Promise<void>;
} {
  const child = spawn(process.execPath, [SCRIPT, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
  return {
    child,
    reached: (line) =>
      new Promise((resolve, reject) => {
        const check = (): void => {
          if (out.includes(`${line}\n`)) resolve();
        };
        child.stdout!.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          check();
        });
        child.once('exit', (code, signal) =>
          reject(new Error(`worker exited (${String(code ?? signal)}) before "${line}": ${err}`)),
        );
        check();
      }),
  };
}

if (mongoServerOrSkip('the MongoDB workflow worker SIGKILL test', 'mongo-java-server')) {
  let server: MongoTestServer;
  let client: MongoClient;
  const children: ChildProcess[] = [];
  const database = `durable_wf_crash_${process.pid}`;

  beforeAll(async () => {
    server = await startMongoTestServer('mongo-java-server');
    client = new MongoClient(server.uri);
    await client.connect();
  }, 60_000);
  afterAll(async () => {
    for (const child of children)
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await client?.db(database).dropDatabase();
    await client?.close();
    await server?.stop();
  }, 30_000);

  test('a worker SIGKILLed inside a step: another worker finishes the workflow after the lease expires, without re-running the completed step', async () => {
    const store = new MongoWorkflowStore({ client, database, collection: 'workflows' });
    expect(await store.insert({ id: 'wf-crash', handler: 'twoSteps', input: { n: 20 } })).toBe(
      true,
    );
    const doomed = startWorker([server.uri, database, 'workflows', 'crash']);
    children.push(doomed.child);
    await doomed.reached('in-two');
    doomed.child.kill('SIGKILL');
    const heir = startWorker([server.uri, database, 'workflows', 'finish']);
    children.push(heir.child);
    await heir.reached('ready');
    let record = await store.get('wf-crash');
    const deadline = Date.now() + 30_000;
    while (record?.status !== WorkflowStatus.COMPLETED && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      record = await store.get('wf-crash');
    }
    expect(record?.status).toBe(WorkflowStatus.COMPLETED);
    expect(record?.result).toEqual({ two: 42 });
    const effects = await client
      .db(database)
      .collection<{ step: string; pid: number }>('effects')
      .find()
      .toArray();
    expect(effects.filter((e) => e.step === 'one').map((e) => e.pid)).toEqual([doomed.child.pid]);
    // The step that was running at the kill runs again (at least once semantics), in the heir.
    expect(effects.filter((e) => e.step === 'two').map((e) => e.pid)).toEqual([
      doomed.child.pid,
      heir.child.pid,
    ]);
    heir.child.kill('SIGTERM');
  }, 60_000);
}
