// Orchestration timers across processes, on fs, on S3 + DynamoDB (s3rver with our conditional
// layer, dynalite; or S3_ENDPOINT / DYNAMODB_ENDPOINT), on MongoDB (MONGODB_URI, else
// mongo-java-server), on PostgreSQL (DATABASE_URL, else a throwaway cluster of Debian's
// postgresql) and on Redis (REDIS_URL, else redis-server); each skipped loudly without a server: a timer fires exactly once when the process
// delivering it is SIGKILLed, and four processes running timer workers on one store fire each of
// 200 timers at random deadlines once. Every process is a real OS process on the built packages.
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StorageManager } from '@durable/core';
import { bytesToText, listAll } from '@durable/core';
import { LocalFileStorageManager } from '@durable/fs';
import { MongoStorageManager } from '@durable/mongo';
import { PostgresStorageManager } from '@durable/postgres';
import { RedisStorageManager } from '@durable/redis-lock';
import { S3StorageManager } from '@durable/s3';
import { uniquePrefix } from '@durable/testkit';
import type { DynamoTestEndpoint, S3TestEndpoint } from './fixtures/composition-support.js';
import { startDynamoWithTable, startS3 } from './fixtures/composition-support.js';
import { spawnTimerWorker } from './fixtures/timer-support.js';
import type { MongoTestServer, RedisTestServer, TestPostgres } from '@durable/test-support';
import {
  mongoTestServerAvailability,
  postgresAvailability,
  startMongoTestServer,
  startRedisServer,
  startTestPostgres,
  uniqueSchema,
} from '@durable/test-support';

const mongoAvailability = mongoTestServerAvailability('mongo-java-server');
const pgAvailability = postgresAvailability();
const redisAvailability = ((): { available: boolean; reason: string } => {
  if (process.env['REDIS_URL'] !== undefined && process.env['REDIS_URL'] !== '')
    return { available: true, reason: '' };
  const found = (process.env['PATH'] ?? '')
    .split(':')
    .some((folder) => folder !== '' && existsSync(join(folder, 'redis-server')));
  return found
    ? { available: true, reason: '' }
    : {
        available: false,
        reason:
          'redis-server is not installed (apt-get install -y redis-server) and REDIS_URL is not set',
      };
})();
const BACKENDS = [
  'fs',
  's3+dynamo',
  ...(mongoAvailability.available ? (['mongo'] as const) : []),
  ...(pgAvailability.available ? (['postgres'] as const) : []),
  ...(redisAvailability.available ? (['redis'] as const) : []),
] as const;
type Backend = (typeof BACKENDS)[number];
const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const tableName = 'durable-timers';
let dir: string;
let s3: S3TestEndpoint;
let dynamo: DynamoTestEndpoint;
let mongo: MongoTestServer | undefined;
let postgres: TestPostgres | undefined;
let redis: RedisTestServer | undefined;
const opened: StorageManager[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'durable-timers-'));
  [s3, dynamo, mongo, postgres, redis] = await Promise.all([
    startS3(),
    startDynamoWithTable(tableName),
    mongoAvailability.available
      ? startMongoTestServer('mongo-java-server')
      : Promise.resolve(undefined),
    pgAvailability.available ? startTestPostgres() : Promise.resolve(undefined),
    redisAvailability.available ? startRedisServer() : Promise.resolve(undefined),
  ]);
}, 120_000);
afterAll(async () => {
  for (const storage of opened.splice(0)) await storage.close?.();
  await Promise.all([s3?.stop(), dynamo?.stop(), mongo?.stop(), postgres?.stop(), redis?.stop()]);
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

interface Store {
  specs: { storage: Record<string, unknown>; lock: Record<string, unknown> };
  storage: StorageManager;
}

function store(backend: Backend, name: string): Store {
  if (backend === 'mongo') {
    const database = uniquePrefix(`timers_${name}_`)
      .replace(/[^A-Za-z0-9_]/g, '_')
      .slice(0, 60);
    const spec = { kind: 'mongo', url: mongo!.uri, database };
    const storage = new MongoStorageManager({ url: mongo!.uri, database });
    opened.push(storage);
    return { specs: { storage: spec, lock: spec }, storage };
  }
  if (backend === 'postgres') {
    // One schema per test: the storage and lock tables of this store only.
    const spec = { kind: 'postgres', url: postgres!.url, schema: uniqueSchema(`timers_${name}`) };
    const storage = new PostgresStorageManager({
      connectionString: spec.url,
      schema: spec.schema,
    });
    opened.push(storage);
    return { specs: { storage: spec, lock: spec }, storage };
  }
  if (backend === 'redis') {
    const prefix = `${uniquePrefix(`timers-${name}-`)}:`;
    const spec = { kind: 'redis', url: redis!.url, prefix };
    const storage = new RedisStorageManager({ url: spec.url, prefix });
    opened.push(storage);
    return { specs: { storage: spec, lock: { ...spec, prefix: `${prefix}lock:` } }, storage };
  }
  if (backend === 'fs') {
    const root = join(dir, `${name}-${uniquePrefix('')}`);
    return {
      specs: { storage: { kind: 'fs', root }, lock: { kind: 'fs', root } },
      storage: new LocalFileStorageManager({ root }),
    };
  }
  const prefix = uniquePrefix(`${name}-`);
  const local = s3.directory !== undefined;
  return {
    specs: {
      storage: { kind: 's3', endpoint: s3.endpoint, bucket: s3.bucket, prefix, local },
      lock: { kind: 'dynamo', endpoint: dynamo.endpoint, tableName },
    },
    storage: new S3StorageManager({
      bucket: s3.bucket,
      prefix,
      endpoint: s3.endpoint,
      forcePathStyle: true,
      region: 'us-east-1',
      ...(local ? { credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } } : {}),
    }),
  };
}

interface Logged {
  id: string;
  subject: string;
  type: string;
  data: { fired: number };
}

function readLog(file: string): Logged[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Logged);
}

/** Every process finished by its timer exactly once, and no index entry left behind. */
async function expectFiredOnce(
  storage: StorageManager,
  subjects: readonly string[],
): Promise<void> {
  for (const subject of subjects) {
    const entry = await storage.read(`orchestrations/${subject}`);
    const envelope = JSON.parse(bytesToText(entry!.data)) as {
      snapshot: { value: unknown; context: { fired: number } };
      timers?: unknown;
    };
    expect({
      subject,
      value: envelope.snapshot.value,
      fired: envelope.snapshot.context.fired,
      timers: envelope.timers,
    }).toEqual({
      subject,
      value: 'timedOut',
      fired: 1,
      timers: undefined,
    });
  }
  const left: string[] = [];
  for await (const key of listAll(storage, 'orchestrations-timers/e/')) left.push(key);
  expect(left).toEqual([]);
}

/** One event per process, published at least once, and an id never with two payloads. */
function expectOneEventEach(
  logged: readonly Logged[],
  subjects: readonly string[],
): { duplicates: number } {
  const byId = new Map<string, string>();
  for (const event of logged) {
    const payload = JSON.stringify([event.subject, event.type, event.data]);
    expect(byId.get(event.id) ?? payload).toBe(payload);
    byId.set(event.id, payload);
  }
  expect([...new Set(logged.map((event) => event.subject))].sort()).toEqual([...subjects].sort());
  expect(byId.size).toBe(subjects.length);
  for (const event of logged) expect(event.data.fired).toBe(1);
  return { duplicates: logged.length - byId.size };
}

if (!mongoAvailability.available) {
  test(`SKIPPED: orchestration timers across processes on MongoDB: ${mongoAvailability.reason}`, () => {
    console.warn(`integration: SKIPPED: timers on MongoDB: ${mongoAvailability.reason}`);
    expect(mongoAvailability.available).toBe(false);
  });
}

if (!pgAvailability.available) {
  test(`SKIPPED: orchestration timers across processes on PostgreSQL: ${pgAvailability.reason}`, () => {
    console.warn(`integration: SKIPPED: timers on PostgreSQL: ${pgAvailability.reason}`);
    expect(pgAvailability.available).toBe(false);
  });
}
if (!redisAvailability.available) {
  test(`SKIPPED: orchestration timers across processes on Redis: ${redisAvailability.reason}`, () => {
    console.warn(`integration: SKIPPED: timers on Redis: ${redisAvailability.reason}`);
    expect(redisAvailability.available).toBe(false);
  });
}

describe.each(BACKENDS)('orchestration timers across processes on %s', (backend) => {
  test('the process delivering timers is SIGKILLed after a save and before its publish, and another run at a random moment: each timer fires exactly once, its events are published again with the same ids', async () => {
    const { specs, storage } = store(backend, 'kill');
    const subjects = Array.from({ length: 12 }, (_, i) => `k${String(i).padStart(2, '0')}`);
    const log = join(dir, `kill-${backend.replace('+', '-')}-${Date.now()}.log`);
    const started = await spawnTimerWorker({
      ...specs,
      mode: 'start',
      now: T0,
      subjects: subjects.map((s, i) => [s, 1000 + i * 100]),
    }).result();
    expect(started).toEqual({ started: subjects.length, errors: 0 });
    // Crash 1: inside the 3rd process's publish (its save committed, its events not yet out).
    const crashed = spawnTimerWorker({
      ...specs,
      mode: 'fire',
      now: T0 + 60_000,
      log,
      killAtPublish: 3,
    });
    expect(await crashed.exit).toBe('SIGKILL');
    // Crash 2: wherever a random moment falls in a second run.
    const random = spawnTimerWorker({
      ...specs,
      mode: 'fire',
      now: T0 + 60_000,
      log,
      killAfterMs: Math.floor(Math.random() * 300),
    });
    await random.exit;
    const survivor = await spawnTimerWorker({
      ...specs,
      mode: 'fire',
      now: T0 + 60_000,
      log,
    }).result<{ fired: number; errors: unknown[] }>();
    expect(survivor.errors).toEqual([]);
    await expectFiredOnce(storage, subjects);
    const logged = readLog(log);
    expectOneEventEach(logged, subjects);
    // The third process was saved but not published by the first run: the survivors published it.
    expect(logged.filter((event) => event.subject === subjects[2])).not.toHaveLength(0);
  }, 180_000);

  test('four processes run timer workers on one store: 200 orchestrations with timers at random deadlines each fire once', async () => {
    const { specs, storage } = store(backend, 'four');
    const subjects = Array.from({ length: 200 }, (_, i) => `w${String(i).padStart(3, '0')}`);
    const log = join(dir, `four-${backend.replace('+', '-')}-${Date.now()}.log`);
    const now = Date.now();
    // Due after the four workers are up (their start takes a second or two here), spread over 3 s.
    const delays = subjects.map(() => 2500 + Math.floor(Math.random() * 3000));
    const started = await spawnTimerWorker({
      ...specs,
      mode: 'start',
      now,
      subjects: subjects.map((s, i) => [s, delays[i]]),
    }).result();
    expect(started).toEqual({ started: 200, errors: 0 });
    const until = now + Math.max(...delays);
    const results = await Promise.all(
      Array.from({ length: 4 }, () =>
        spawnTimerWorker({ ...specs, mode: 'worker', log, until }).result<{
          fired: number;
          errors: unknown[];
        }>(),
      ),
    );
    // A run's error leaves its timers due for the next run: only retryable ones may show (a loaded
    // emulator); the stored processes below are the proof that each timer fired once.
    const errors = results.flatMap((result) => result.errors) as Array<{
      retryable?: boolean;
      code?: string;
    }>;
    expect(errors.filter((error) => error.retryable !== true)).toEqual([]);
    expect(results.reduce((sum, result) => sum + result.fired, 0)).toBeLessThanOrEqual(200);
    await expectFiredOnce(storage, subjects);
    // The same id may be published again only where a run's lease was taken over or its entry
    // could not be removed (at least once); never with another payload.
    const { duplicates } = expectOneEventEach(readLog(log), subjects);
    console.log(
      `timers on ${backend}: fired per worker ${results.map((r) => r.fired).join(', ')}; ${
        errors.length
      } retried error(s) ${JSON.stringify(
        errors.map((e) => e.code),
      )}; ${duplicates} id(s) published again`,
    );
  }, 300_000);
});
