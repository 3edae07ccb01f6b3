import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { MongoClient } from 'mongodb';
import type { MongoTestServer } from '@durable/test-support';
import { mongoServerOrSkip, startMongoTestServer } from '@durable/test-support';

// Multi-process reliability of MongoLockManager against a MongoDB-wire server: MONGODB_URI, else
// mongo-java-server (not FerretDB: its updates are not atomic, see the README); skipped loudly
// without either.
const PROCESSES = 8;
const CYCLES = 300;
const SCRIPT = join(__dirname, 'fixtures', 'mongo-worker.mjs');

type Event = Record<string, unknown> & { event: string };
interface Worker {
  child: ReturnType<typeof spawn>;
  events: Event[];
  next(name: string): Promise<Event>;
  finished(): Promise<void>;
}

function startWorker(args: string[]): Worker {
  const child = spawn(process.execPath, [SCRIPT, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  const events: Event[] = [];
  const waiters: Array<() => void> = [];
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  createInterface({ input: child.stdout }).on('line', (line) => {
    events.push(JSON.parse(line) as Event);
    for (const wake of waiters.splice(0)) wake();
  });
  const exit = new Promise<number | null>((resolve) => child.once('exit', resolve));
  return {
    child,
    events,
    next: (name) =>
      new Promise((resolve) => {
        const check = (): void => {
          const found = events.find((e) => e.event === name);
          if (found !== undefined) resolve(found);
          else waiters.push(check);
        };
        check();
      }),
    finished: async () => {
      const code = await exit;
      if (code !== 0) throw new Error(`worker exited with ${String(code)}: ${stderr}`);
    },
  };
}

if (
  mongoServerOrSkip(
    'the MongoDB multi-process tests (8x300 increments, SIGSTOPped holder)',
    'mongo-java-server',
  )
) {
  let server: MongoTestServer;
  let uri: string;
  let client: MongoClient;
  let database: string;
  let dir: string;

  beforeAll(async () => {
    server = await startMongoTestServer('mongo-java-server');
    uri = server.uri;
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
  }, 30_000);
  beforeEach(async () => {
    database = `durable_mp_${process.pid}_${Date.now().toString(36)}`;
    client = new MongoClient(uri);
    await client.connect();
    dir = mkdtempSync(join(tmpdir(), 'durable-mongo-mp-'));
  }, 30_000);
  afterEach(async () => {
    await client.db(database).dropDatabase();
    await client.close();
    rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  test(`${PROCESSES} processes x ${CYCLES} lock-protected increments: exactly ${
    PROCESSES * CYCLES
  }, zero double grants`, async () => {
    const marker = join(dir, 'holder');
    const workers = Array.from({ length: PROCESSES }, () =>
      startWorker(['lock-counter', uri, database, String(CYCLES), marker]),
    );
    await Promise.all(workers.map((worker) => worker.finished()));
    const counter = await client
      .db(database)
      .collection<{ _id: string; n: number }>('data')
      .findOne({ _id: 'counter' });
    expect(counter?.n).toBe(PROCESSES * CYCLES);
    const events = workers.flatMap((worker) => worker.events);
    expect(events.filter((e) => e.event === 'double-grant')).toEqual([]);
    const tokens = events.filter((e) => e.event === 'grant').map((e) => e.fencingToken as number);
    expect(tokens).toHaveLength(PROCESSES * CYCLES);
    expect(new Set(tokens).size).toBe(tokens.length);
  }, 900_000);

  test("a holder SIGSTOPped past its TTL: another process takes over, and the resumed holder's late write is refused by its fencing token", async () => {
    await client
      .db(database)
      .collection<{ _id: string; fence: number }>('data')
      .insertOne({ _id: 'resource', fence: 0 });
    const holder = startWorker(['hold-late', uri, database, '800']);
    const held = await holder.next('held');
    holder.child.kill('SIGSTOP');
    try {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const taker = startWorker(['fenced-write', uri, database, 'written by the taker']);
      const wrote = await taker.next('wrote');
      await taker.finished();
      expect(wrote.wrote).toBe(true);
      expect(wrote.fencingToken as number).toBeGreaterThan(held.fencingToken as number);
    } finally {
      holder.child.kill('SIGCONT');
    }
    holder.child.stdin!.write('go\n');
    expect(await holder.next('late')).toEqual({
      event: 'late',
      wrote: false,
      extend: 'LOCK_LOST',
      released: false,
    });
    await holder.finished();
    const resource = await client
      .db(database)
      .collection<{ _id: string; value?: string }>('data')
      .findOne({ _id: 'resource' });
    expect(resource?.value).toBe('written by the taker');
  }, 60_000);
}
