import pg from 'pg';
import { PostgresStorageManager } from '../src/index.js';
import { channelName } from '../src/notifier.js';
import type { TestPostgres } from '@durable/test-support';
import { postgresOrSkip, startTestPostgres, uniqueSchema } from '@durable/test-support';

// watch across managers that share no pool (as two processes do), on a real PostgreSQL: a write
// is heard through NOTIFY, and a write under no live watched prefix notifies nothing.
if (postgresOrSkip('the PostgreSQL storage watch tests')) {
  let server: TestPostgres;
  const open: Array<{ close(): Promise<void> }> = [];

  beforeAll(async () => {
    server = await startTestPostgres();
  }, 120_000);
  afterEach(async () => {
    await Promise.all(open.splice(0).map((item) => item.close()));
  });
  afterAll(async () => {
    await server?.stop();
  }, 60_000);

  function manager(schema: string): PostgresStorageManager {
    const storage = new PostgresStorageManager({ connectionString: server.url, schema });
    open.push(storage);
    return storage;
  }

  // A plain connection LISTENing on `channels` and on a sentinel; `until()` notifies the sentinel
  // and resolves with every channel notified before it, in commit order.
  async function listen(channels: string[]): Promise<{ until: () => Promise<string[]> }> {
    const client = new pg.Client({ connectionString: server.url });
    await client.connect();
    open.push({ close: () => client.end() });
    for (const channel of [...channels, 'sentinel']) await client.query(`LISTEN ${channel}`);
    const heard: string[] = [];
    const done = new Promise<string[]>((resolve) =>
      client.on('notification', (message) =>
        message.channel === 'sentinel' ? resolve(heard) : heard.push(message.channel),
      ),
    );
    return {
      until: async () => {
        await client.query(`NOTIFY sentinel`);
        return done;
      },
    };
  }

  const channelOf = (schema: string, prefix: string): string =>
    channelName(schema, 'durable_', `watch\u0000${prefix}`);

  test('a write by another manager (its own pool) is heard by the watcher, and is readable then', async () => {
    const schema = uniqueSchema('watch');
    const watcher = manager(schema);
    const writer = manager(schema);
    await writer.write('setup', 'x');
    let registered: () => void = () => undefined;
    const ready = new Promise<void>((resolve) => (registered = resolve));
    let seen: string | undefined;
    const heard = new Promise<void>((resolve) => {
      watcher.watch('orders/', () => {
        void watcher.read('orders/1').then((entry) => {
          // The write is made only after a call whose read found nothing: a later call is needed.
          if (entry === undefined) return registered();
          seen = Buffer.from(entry.data).toString();
          resolve();
        });
      });
    });
    // The first call comes once the registration and its LISTEN hold (see PostgresWatches).
    await ready;
    await writer.write('orders/1', 'paid');
    await heard;
    expect(seen).toBe('paid');
  }, 30_000);

  test('a write under no live watched prefix sends no notification (an expired registration is skipped)', async () => {
    const schema = uniqueSchema('watch');
    const watcher = manager(schema);
    const writer = manager(schema);
    let registered: () => void = () => undefined;
    const ready = new Promise<void>((resolve) => (registered = resolve));
    watcher.watch('watched/', () => registered());
    await ready;
    // A crashed watcher's row, expired: writers under its prefix must not notify it.
    const admin = new pg.Client({ connectionString: server.url });
    await admin.connect();
    open.push({ close: () => admin.end() });
    await admin.query(
      `INSERT INTO "${schema}"."durable_kv_watches" (prefix, watcher, channel, expires_at) VALUES ($1, 'gone', $2, now() - interval '1 second')`,
      ['stale/', channelOf(schema, 'stale/')],
    );
    const listener = await listen([
      channelOf(schema, 'plain/'),
      channelOf(schema, 'stale/'),
      channelOf(schema, 'watched/'),
    ]);
    await writer.write('plain/1', 'a');
    await writer.write('stale/1', 'b');
    await writer.write('watched/1', 'c');
    // Notifications arrive in commit order, the sentinel's last: all the writes' are in.
    expect(await listener.until()).toEqual([channelOf(schema, 'watched/')]);
  }, 30_000);

  test('after its listening connection is ended, the watcher calls its listeners once and hears writes again', async () => {
    const schema = uniqueSchema('watch');
    const watcher = manager(schema);
    const writer = manager(schema);
    let emptyCalls = 0;
    let seen: string | undefined;
    const heard = new Promise<void>((resolve) => {
      watcher.watch('orders/', () => {
        void watcher.read('orders/1').then((entry) => {
          if (entry === undefined) {
            emptyCalls += 1;
            return;
          }
          seen = Buffer.from(entry.data).toString();
          resolve();
        });
      });
    });
    while (emptyCalls === 0) await new Promise((resolve) => setTimeout(resolve, 20));
    const before = emptyCalls;
    const admin = new pg.Client({ connectionString: server.url });
    await admin.connect();
    open.push({ close: () => admin.end() });
    // The notifier's connection is the one whose last statement was a LISTEN.
    const ended = await admin.query(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN %' AND pid <> pg_backend_pid()",
    );
    expect(ended.rowCount).toBeGreaterThan(0);
    // Back and listening, it calls the listener once: that read finds nothing, then the write is made.
    while (emptyCalls === before) await new Promise((resolve) => setTimeout(resolve, 20));
    await writer.write('orders/1', 'paid');
    await heard;
    expect(seen).toBe('paid');
  }, 30_000);
}
