import pg from 'pg';
import { expectDurableError } from '@durable/testkit';
import { WorkflowStatus } from '@durable/core';
import { workflowTransitions } from '@durable/core/adapter';
import {
  PostgresLockManager,
  PostgresStorageManager,
  PostgresWorkflowStore,
} from '../src/index.js';
import type { TestPostgres } from '@durable/test-support';
import { postgresOrSkip, startTestPostgres, uniqueSchema } from '@durable/test-support';

describe('postgres options', () => {
  it('options are checked at once: pool or connectionString (not both), no unknown names nor names other libraries use, identifiers that cannot inject SQL', async () => {
    const url = 'postgresql://nobody@127.0.0.1:1/none';
    await expectDurableError(async () => new PostgresStorageManager({}), 'CONFIG');
    await expectDurableError(
      async () => new PostgresStorageManager({ connectionString: 'mysql://x' }),
      'CONFIG',
    );
    await expectDurableError(
      async () => new PostgresStorageManager({ connectionString: url, pool: new pg.Pool() }),
      'CONFIG',
    );
    await expectDurableError(async () => new PostgresStorageManager({ url } as never), 'CONFIG');
    await expectDurableError(
      async () =>
        new PostgresStorageManager({ connectionString: url, schema: 'x"; DROP TABLE y; --' }),
      'CONFIG',
    );
    await expectDurableError(
      async () => new PostgresStorageManager({ connectionString: url, tablePrefix: 'Upper' }),
      'CONFIG',
    );
    await expectDurableError(
      async () => new PostgresStorageManager({ connectionString: url, poolSize: 0 }),
      'CONFIG',
    );
    await expectDurableError(
      async () => new PostgresLockManager({ connectionString: url, defaultTtlMs: -1 }),
      'CONFIG',
    );
    await expectDurableError(
      async () => new PostgresWorkflowStore({ connectionString: url, clok: Date.now } as never),
      'CONFIG',
    );
  });

  it('an unreachable server is a retryable BACKEND error naming the operation', async () => {
    const storage = new PostgresStorageManager({
      connectionString: 'postgresql://nobody@127.0.0.1:1/none',
    });
    const error = await expectDurableError(() => storage.read('k'), 'BACKEND');
    expect(error.retryable).toBe(true);
    await storage.close();
  });

  it('keys too long for the index and workflow ids PostgreSQL cannot hold are INVALID_KEY before any I/O', async () => {
    const storage = new PostgresStorageManager({
      connectionString: 'postgresql://nobody@127.0.0.1:1/none',
    });
    await expectDurableError(() => storage.write('日'.repeat(1000), 'v'), 'INVALID_KEY');
    const store = new PostgresWorkflowStore({
      connectionString: 'postgresql://nobody@127.0.0.1:1/none',
    });
    await expectDurableError(() => store.insert({ id: 'a\u0000b', handler: 'h' }), 'INVALID_KEY');
    await Promise.all([storage.close(), store.close()]);
  });
});

if (postgresOrSkip('the PostgreSQL schema tests')) {
  let server: TestPostgres;
  beforeAll(async () => {
    server = await startTestPostgres();
  }, 120_000);
  afterAll(() => server?.stop(), 60_000);

  describe('postgres schema', () => {
    it('an injected pool is used and never ended; the tables go to the chosen schema and prefix, created once by concurrent managers', async () => {
      const pool = new pg.Pool({ connectionString: server.url });
      const schema = uniqueSchema('inj');
      const managers = Array.from(
        { length: 4 },
        () => new PostgresStorageManager({ pool, schema, tablePrefix: 'app_' }),
      );
      await Promise.all(managers.map((storage, i) => storage.write(`k${i}`, 'v')));
      const lock = new PostgresLockManager({ pool, schema, tablePrefix: 'app_' });
      const lease = await lock.acquire('k');
      const store = new PostgresWorkflowStore({ pool, schema, tablePrefix: 'app_' });
      expect(await store.insert({ id: 'w', handler: 'h' })).toBe(true);
      await Promise.all([...managers.map((m) => m.close()), lock.close(), store.close()]);
      const tables = await pool.query<{ name: string }>(
        'SELECT table_name AS name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1',
        [schema],
      );
      expect(tables.rows.map((row) => row.name)).toEqual([
        'app_kv',
        'app_kv_watches',
        'app_locks',
        'app_schema_versions',
        'app_workflow_steps',
        'app_workflows',
      ]);
      const versions = await pool.query(
        `SELECT name, version FROM "${schema}".app_schema_versions ORDER BY name`,
      );
      expect(versions.rows).toEqual([
        { name: 'kv', version: 1 },
        { name: 'kv_watches', version: 1 },
        { name: 'locks', version: 1 },
        { name: 'workflows', version: 2 },
      ]);
      expect(lease.fencingToken).toBeGreaterThan(0);
      await pool.end();
    });

    it('tables whose schema version is newer than this release are refused with VERSION_UNKNOWN, not misread', async () => {
      const schema = uniqueSchema('ver');
      await new PostgresStorageManager({ connectionString: server.url, schema }).write('k', 'v');
      const pool = new pg.Pool({ connectionString: server.url });
      await pool.query(
        `UPDATE "${schema}".durable_schema_versions SET version = 99 WHERE name = 'kv'`,
      );
      await pool.end();
      await expectDurableError(
        () => new PostgresStorageManager({ connectionString: server.url, schema }).read('k'),
        'VERSION_UNKNOWN',
      );
    });

    it("a claim in SQL makes the record core's claim transition makes, for a ready and for an expired running workflow", async () => {
      let now = 1_000_000;
      const store = new PostgresWorkflowStore({
        connectionString: server.url,
        schema: uniqueSchema('claim'),
        clock: () => now,
      });
      await store.insert({ id: 'w', handler: 'h', input: { a: [1, 'ü'] } });
      const before = (await store.get('w'))!;
      now += 10;
      const first = (await store.claim({ leaseMs: 100 }))!;
      expect(first.record).toEqual(workflowTransitions.claim(before, first.token, 100, now));
      await store.saveStep('w', first.token, 0, {
        id: 'a',
        kind: 'step',
        done: true,
        value: 1,
        at: now,
      });
      const running = (await store.get('w'))!;
      expect(running.status).toBe(WorkflowStatus.RUNNING);
      now += 500;
      const second = (await store.claim({ leaseMs: 100 }))!;
      expect(second.record).toEqual(workflowTransitions.claim(running, second.token, 100, now));
      expect(second.record.failures).toBe(1);
      expect(await store.get('w')).toEqual(second.record);
      await store.close();
    });

    it('a claim seeks the due-time index instead of scanning the workflows', async () => {
      const schema = uniqueSchema('plan');
      const store = new PostgresWorkflowStore({ connectionString: server.url, schema });
      await store.insert({ id: 'w', handler: 'h' });
      const pool = new pg.Pool({ connectionString: server.url });
      const client = await pool.connect();
      await client.query('SET enable_seqscan = off');
      const plan = await client.query(
        `EXPLAIN SELECT id FROM "${schema}".durable_workflows WHERE due_at <= 5 ORDER BY due_at LIMIT 1 FOR UPDATE SKIP LOCKED`,
      );
      client.release();
      await pool.end();
      expect(
        plan.rows.map((row: { 'QUERY PLAN': string }) => row['QUERY PLAN']).join('\n'),
      ).toMatch(/Index Scan using durable_workflows_due/);
      await store.close();
    });
  });
}

if (postgresOrSkip('the PostgreSQL migration test')) {
  let server: TestPostgres;
  beforeAll(async () => {
    server = await startTestPostgres();
  }, 120_000);
  afterAll(() => server?.stop(), 60_000);

  it('workflow tables of schema version 1 are upgraded to version 2 in place: their rows gain the handler and creation time that listing uses', async () => {
    const schema = uniqueSchema('up');
    const pool = new pg.Pool({ connectionString: server.url });
    // The version 1 tables, as the first release created them, holding one workflow.
    const { workflowMigrations } = await import('../src/workflow-sql.js');
    const { Names } = await import('../src/options.js');
    const names = new Names({ schema });
    await pool.query(`CREATE SCHEMA "${schema}"`);
    await pool.query(
      `CREATE TABLE "${schema}".durable_schema_versions (name text PRIMARY KEY, version integer NOT NULL)`,
    );
    await pool.query(workflowMigrations(names)[0]!.sql);
    await pool.query(`INSERT INTO "${schema}".durable_schema_versions VALUES ('workflows', 1)`);
    const record = workflowTransitions.create({ id: 'old', handler: 'legacy', input: 1 }, 42);
    await pool.query(
      `INSERT INTO "${schema}".durable_workflows (id, status, due_at, failures, updated_at, record) VALUES ('old', 'ready', 42, 0, 42, $1)`,
      [JSON.stringify(record)],
    );
    const store = new PostgresWorkflowStore({ connectionString: server.url, schema });
    const page = await store.list({ limit: 10, handler: 'legacy' });
    expect(page.items.map((item) => [item.id, item.createdAt])).toEqual([['old', 42]]);
    expect(
      (
        await pool.query(
          `SELECT version FROM "${schema}".durable_schema_versions WHERE name = 'workflows'`,
        )
      ).rows[0],
    ).toEqual({ version: 2 });
    await store.close();
    await pool.end();
  });
}
