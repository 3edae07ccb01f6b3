// A timer worker is woken by writes of other processes where the storage can watch: process A
// runs a worker polling once a minute, process B saves orchestrations whose timers are due in
// 300 ms, and A fires each once long before its next poll (the test's 45 s timeout is under
// it). On fs (a watch of <root>/.watch), on PostgreSQL (LISTEN/NOTIFY; DATABASE_URL, else a
// throwaway cluster) and on Redis (PUBLISH/SUBSCRIBE; REDIS_URL, else redis-server), each skipped
// loudly without a server. Real OS processes on the built packages.
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { uniquePrefix } from '@durable/testkit';
import type { RedisTestServer, TestPostgres } from '@durable/test-support';
import {
  postgresAvailability,
  startRedisServer,
  startTestPostgres,
  uniqueSchema,
} from '@durable/test-support';

const FIXTURE = join(__dirname, 'fixtures', 'timer-wakeup-worker.mjs');
const pgAvailability = postgresAvailability();
const redisAvailable =
  (process.env['REDIS_URL'] ?? '') !== '' ||
  (process.env['PATH'] ?? '')
    .split(':')
    .some((folder) => folder !== '' && existsSync(join(folder, 'redis-server')));
if (!pgAvailability.available)
  console.warn(`SKIPPED: PostgreSQL timer wake-ups (${pgAvailability.reason})`);
if (!redisAvailable)
  console.warn('SKIPPED: Redis timer wake-ups (no redis-server on PATH and no REDIS_URL)');
const BACKENDS = [
  'fs',
  ...(pgAvailability.available ? (['postgres'] as const) : []),
  ...(redisAvailable ? (['redis'] as const) : []),
] as const;
let dir: string;
let postgres: TestPostgres | undefined;
let redis: RedisTestServer | undefined;
const children: ChildProcess[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'durable-timer-wakeups-'));
  [postgres, redis] = await Promise.all([
    pgAvailability.available ? startTestPostgres() : Promise.resolve(undefined),
    redisAvailable ? startRedisServer() : Promise.resolve(undefined),
  ]);
}, 120_000);
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
});
afterAll(async () => {
  await Promise.all([postgres?.stop(), redis?.stop()]);
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

type Message = Record<string, unknown>;

// Forks the fixture with `job`; `next(predicate)` resolves with its first message that matches.
function start(job: Record<string, unknown>) {
  const child = fork(FIXTURE, [JSON.stringify(job)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  children.push(child);
  const messages: Message[] = [];
  const waiters: Array<() => void> = [];
  child.on('message', (message: Message) => {
    messages.push(message);
    for (const waiter of waiters.splice(0)) waiter();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  void exited.then(() => {
    for (const waiter of waiters.splice(0)) waiter();
  });
  const next = async (matches: (message: Message) => boolean): Promise<Message> => {
    for (;;) {
      const found = messages.find(matches);
      if (found !== undefined) return found;
      if (child.exitCode !== null) throw new Error(`fixture exited with ${child.exitCode}`);
      await new Promise<void>((resolve) => waiters.push(resolve));
    }
  };
  return { child, next };
}

function backendSpec(backend: (typeof BACKENDS)[number]): Record<string, unknown> {
  if (backend === 'postgres')
    return { kind: 'postgres', url: postgres!.url, schema: uniqueSchema('wakeups') };
  if (backend === 'redis')
    return { kind: 'redis', url: redis!.url, prefix: `${uniquePrefix('wakeups')}:` };
  return { kind: 'fs', root: join(dir, uniquePrefix('fs')) };
}

function published(log: string): Array<{ subject: string; type: string }> {
  if (!existsSync(log)) return [];
  return readFileSync(log, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as { subject: string; type: string });
}

describe.each(BACKENDS)('%s timer wake-ups across processes', (backend) => {
  test('a worker polling once a minute fires timers saved by another process, each once, long before its poll', async () => {
    const spec = backendSpec(backend);
    const log = join(dir, `${uniquePrefix('log')}.jsonl`);
    const worker = start({ mode: 'worker', backend: spec, log, pollIntervalMs: 60_000 });
    // Its first run found nothing: from here only a wake-up (or the poll in 60 s) finds a timer.
    await worker.next((message) => message['ready'] === true);
    const saver = start({
      mode: 'start',
      backend: spec,
      subjects: [
        ['w1', 300],
        ['w2', 300],
        ['w3', 900],
      ],
    });
    expect(await saver.next((message) => 'started' in message)).toEqual({ started: 3, errors: 0 });
    while (published(log).length < 3) await new Promise((resolve) => setTimeout(resolve, 50));
    worker.child.send('stop');
    const stopped = await worker.next((message) => 'runs' in message);
    expect(
      published(log)
        .map((event) => [event.subject, event.type])
        .sort(),
    ).toEqual([
      ['w1', 'notif.late'],
      ['w2', 'notif.late'],
      ['w3', 'notif.late'],
    ]);
    expect(stopped['fired']).toBe(3);
    // Under the poll's 60 s from the worker's first run, with room for loaded machines.
  }, 45_000);
});
