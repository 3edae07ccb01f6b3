import { PostgresWorkflowStore } from '../src/index.js';
import type { PgLostReplyProxy } from './support/lost-reply-proxy.js';
import { startPgLostReplyProxy } from './support/lost-reply-proxy.js';
import type { TestPostgres } from '@durable/test-support';
import { postgresOrSkip, startTestPostgres, uniqueSchema } from '@durable/test-support';

// Workflow-store writes whose reply is lost after the server committed them (a proxy cuts the
// connection then): each is settled by reading its write id back, so the caller sees what
// happened, and nothing is applied twice.
if (postgresOrSkip('the PostgreSQL workflow-store lost-reply tests')) {
  let server: TestPostgres;
  let proxy: PgLostReplyProxy;
  beforeAll(async () => {
    server = await startTestPostgres();
    proxy = await startPgLostReplyProxy(server.url);
  }, 120_000);
  afterAll(async () => {
    await proxy?.close();
    await server?.stop();
  }, 60_000);

  test('insert, insertMany, claim, saveStep, suspend and finish whose replies were lost report what was applied, once', async () => {
    let now = 1_000_000;
    const schema = uniqueSchema('wflost');
    const store = new PostgresWorkflowStore({
      connectionString: proxy.url,
      schema,
      clock: () => now,
    });
    const dropped = (): void => expect(proxy.dropsPending()).toBe(0);
    proxy.dropNextReply();
    expect(await store.insert({ id: 'a', handler: 'h', input: 1 })).toBe(true);
    dropped();
    proxy.dropNextReply();
    expect(
      await store.insertMany([
        { id: 'b', handler: 'h' },
        { id: 'a', handler: 'h' },
        { id: 'c', handler: 'h' },
      ]),
    ).toEqual([true, false, true]);
    dropped();
    proxy.dropNextReply();
    const claimed = await store.claim({ leaseMs: 10_000 });
    dropped();
    expect(claimed?.record.id).toBe('a');
    const token = claimed!.token;
    proxy.dropNextReply();
    await store.saveStep('a', token, 0, {
      id: 'one',
      kind: 'step',
      done: true,
      value: { n: 1 },
      at: now,
    });
    dropped();
    proxy.dropNextReply();
    // Due before b and c (inserted at `now`), so the next claim takes it.
    await store.suspend('a', token, {
      runAt: now - 500,
      step: {
        index: 1,
        memo: { id: 'nap', kind: 'sleep', done: false, until: now - 500, at: now },
      },
    });
    dropped();
    now += 1;
    const again = await store.claim({ leaseMs: 10_000 });
    expect(again?.record.id).toBe('a');
    expect(again?.record.steps.map((s) => s.id)).toEqual(['one', 'nap']);
    proxy.dropNextReply();
    await store.finish('a', again!.token, { status: 'completed', result: 'done' });
    dropped();
    const record = await store.get('a');
    expect(record).toMatchObject({ status: 'completed', result: 'done', failures: 0 });
    expect(record?.steps).toHaveLength(2);
    expect((await store.counts()).ready).toBe(2);
    await store.close();
  }, 120_000);
}
