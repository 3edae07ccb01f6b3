import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { Redis } from 'ioredis';
import type { RedisTestServer } from '@durable/test-support';
import { startRedisServer } from '@durable/test-support';
import { ORDERS_V3 } from './support/orders.js';
import { startServerProcess } from './support/sqs.js';

// The bin with each kind of storage: --storage-module, --redis (a real redis-server), and bad flags.
const hasRedis =
  process.env['REDIS_URL'] !== undefined || spawnSync('redis-server', ['--version']).status === 0;

async function createAndGet(httpUrl: string): Promise<string> {
  const post = (path: string, body: unknown) =>
    fetch(`${httpUrl}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  expect((await post('/api/v1/configurations', ORDERS_V3)).status).toBe(201);
  expect(
    (await post('/api/v1/statemachines', { configuration_version: 'test.orders:v3', id: 'b1' }))
      .status,
  ).toBe(201);
  const got = (await (await fetch(`${httpUrl}/api/v1/statemachines/b1`)).json()) as {
    statemachine: { state: string };
  };
  return got.statemachine.state;
}

it('--storage-module loads createStorage() from a module and serves on it', async () => {
  const server = await startServerProcess([
    '--storage-module',
    join(__dirname, 'fixtures', 'memory-storage.mjs'),
  ]);
  try {
    expect(await createAndGet(server.httpUrl)).toBe('start');
  } finally {
    await server.stop();
  }
});

(hasRedis ? describe : describe.skip)('--redis', () => {
  let redis: RedisTestServer;
  beforeAll(async () => {
    redis = await startRedisServer();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it('stores configurations and machines in Redis through RedisStorageManager', async () => {
    const server = await startServerProcess(['--redis', redis.url]);
    try {
      expect(await createAndGet(server.httpUrl)).toBe('start');
    } finally {
      await server.stop();
    }
    const client = new Redis(redis.url);
    try {
      expect(await client.hexists('durable:storage:{storage}:d:fsm/machines/b1', 'v')).toBe(1);
    } finally {
      client.disconnect();
    }
  });
});
if (!hasRedis)
  it('SKIPPED: --redis test: no redis-server on PATH and no REDIS_URL (apt-get install redis-server)', () =>
    undefined);

it.each([
  [['--http-port', 'x'], /--http-port must be an integer/],
  [
    ['--storage-module', '/nonexistent/module.mjs'],
    /Cannot find module|ERR_MODULE_NOT_FOUND|nonexistent/,
  ],
  [['--data', 'a', '--redis', 'redis://127.0.0.1:1'], /only one of/],
])('the bin refuses %j with a message and exit code 2, without a stack', (args, message) => {
  const bin = join(__dirname, '..', 'dist', 'esm', 'cli.js');
  expect(existsSync(bin)).toBe(true);
  const run = spawnSync(process.execPath, [bin, ...(args as string[])], { encoding: 'utf8' });
  expect(run.status).toBe(2);
  expect(run.stderr).toMatch(message);
  expect(run.stderr).not.toMatch(/^\s+at /m);
});
