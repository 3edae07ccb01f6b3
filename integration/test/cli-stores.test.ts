import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createActor, createMachine, assign } from 'xstate';
import type { StorageManager, WorkflowStore } from '@durable/core';
import { StorageWorkflowStore } from '@durable/core';
import { withPersistedActor } from '@durable/core/actor';
import { orchestrateCloudEvents } from '@durable/core/orchestrator';
import { DynamoLockingManager } from '@durable/dynamo-lock';
import { FileLockManager, LocalFileStorageManager, FileWorkflowStore } from '@durable/fs';
import { MongoStorageManager, MongoWorkflowStore } from '@durable/mongo';
import { S3StorageManager } from '@durable/s3';
import { uniquePrefix } from '@durable/testkit';
import { NonRetryableError, WorkflowClient, defineWorkflow } from '@durable/workflow';
import type { DynamoTestEndpoint, S3TestEndpoint } from './fixtures/composition-support.js';
import { startDynamoWithTable, startS3 } from './fixtures/composition-support.js';
import type { MongoTestServer } from '@durable/test-support';
import { mongoTestServerAvailability, startMongoTestServer } from '@durable/test-support';

// The `durable` bin (a child process, as a user runs it) on real stores: local files (--fs), the
// storage-backed store on S3 + DynamoDB (s3rver + our conditional layer, dynalite) and MongoDB
// (mongo-java-server) through durable.config.mjs files. Workflows are seeded and run by the
// workflow engine in this process; the CLI reads and changes them from its own.
const BIN = join(__dirname, '..', '..', 'packages', 'cli', 'dist', 'esm', 'bin.js');
const CONFIGS = join(__dirname, '..', '.cli-configs');
const TABLE = 'durable-cli-locks';
const mongoAvailability = mongoTestServerAvailability('mongo-java-server');

function durable(
  args: string[],
  cwd: string,
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      {
        cwd,
        env: { ...process.env, ...env, NODE_OPTIONS: '' },
        timeout: 120_000,
        maxBuffer: 16 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        if (error !== null && typeof error.code !== 'number') return reject(error);
        resolve({ code: error === null ? 0 : (error.code as number), stdout, stderr });
      },
    );
  });
}

let recorded = 0;
const review = defineWorkflow('review', async (ctx, input: { n: number }) => {
  await ctx.step('prepare', () => {
    recorded += 1;
    return input.n;
  });
  const answer = await ctx.waitForEvent<{ by: string }>('approved', { timeoutMs: 3_600_000 });
  return answer.received ? answer.payload.by : 'nobody';
});
let failing = true;
const charge = defineWorkflow('charge', async (ctx) => {
  await ctx.step('reserve', () => {
    recorded += 1;
    return 'reserved';
  });
  return ctx.step('capture', () => {
    if (failing) throw new NonRetryableError('card declined');
    return 'captured';
  });
});
const cart = createMachine({
  id: 'cart',
  initial: 'open',
  context: { items: 0 },
  states: {
    open: { on: { ADD: { actions: assign({ items: ({ context }) => context.items + 1 }) } } },
  },
});
const book = createMachine({
  id: 'book',
  initial: 'fetching',
  states: { fetching: { on: { 'evt.fetched': 'done' } }, done: { type: 'final' } },
});

interface StoreCase {
  name: string;
  /** The store as this process sees it, with the storage and lock of actors and orchestrations. */
  open(): Promise<{
    store: WorkflowStore;
    storage: StorageManager;
    lock?: FileLockManager | DynamoLockingManager;
    close(): Promise<void>;
  }>;
  /** The CLI's arguments and folder to reach the same stores. */
  cli(): { args: string[]; cwd: string; env?: Record<string, string> };
}

let s3: S3TestEndpoint | undefined;
let dynamo: DynamoTestEndpoint | undefined;
let mongo: MongoTestServer | undefined;
const folders: string[] = [];
beforeAll(async () => {
  [s3, dynamo, mongo] = await Promise.all([
    startS3(),
    startDynamoWithTable(TABLE),
    mongoAvailability.available
      ? startMongoTestServer('mongo-java-server')
      : Promise.resolve(undefined),
  ]);
}, 120_000);
afterAll(async () => {
  await Promise.all([s3?.stop(), dynamo?.stop(), mongo?.stop()]);
  for (const dir of folders) rmSync(dir, { recursive: true, force: true });
  rmSync(CONFIGS, { recursive: true, force: true });
}, 60_000);

function configFolder(body: string): string {
  mkdirSync(CONFIGS, { recursive: true });
  const dir = mkdtempSync(join(CONFIGS, 'c-'));
  writeFileSync(join(dir, 'durable.config.mjs'), body);
  return dir;
}

const fsRoot = mkdtempSync(join(tmpdir(), 'durable-cli-fs-'));
folders.push(fsRoot);
const awsPrefix = `${uniquePrefix('cli')}/`;
const mongoDatabase = `cli_${Date.now().toString(36)}`;

const cases: StoreCase[] = [
  {
    name: 'fs (--fs)',
    open: async () => {
      const lock = new FileLockManager({ root: fsRoot });
      return {
        store: new FileWorkflowStore({ root: fsRoot }),
        storage: new LocalFileStorageManager({ root: fsRoot }),
        lock,
        close: async () => undefined,
      };
    },
    cli: () => ({ args: ['--fs', fsRoot], cwd: fsRoot }),
  },
  {
    name: 'storage-backed store on S3 + DynamoDB (durable.config.mjs)',
    open: async () => {
      const client = (s3 as S3TestEndpoint).client();
      const dynamoClient = (dynamo as DynamoTestEndpoint).client();
      const storage = new S3StorageManager({
        client,
        bucket: (s3 as S3TestEndpoint).bucket,
        prefix: awsPrefix,
      });
      const lock = new DynamoLockingManager({
        client: dynamoClient,
        tableName: TABLE,
        prefix: awsPrefix,
      });
      return {
        store: new StorageWorkflowStore({ storage, lock }),
        storage,
        lock,
        close: async () => {
          client.destroy();
          dynamoClient.destroy();
        },
      };
    },
    cli: () => ({
      args: [],
      cwd: configFolder(`import { S3Client } from '@aws-sdk/client-s3';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { StorageWorkflowStore } from '@durable/core';
import { S3StorageManager } from '@durable/s3';
import { DynamoLockingManager } from '@durable/dynamo-lock';
const env = process.env;
export default () => {
  const s3 = new S3Client({ endpoint: env.DURABLE_CLI_S3, forcePathStyle: true, region: 'us-east-1', credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
  const dynamo = new DynamoDBClient({ endpoint: env.DURABLE_CLI_DYNAMO, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
  const storage = new S3StorageManager({ client: s3, bucket: env.DURABLE_CLI_BUCKET, prefix: env.DURABLE_CLI_PREFIX });
  const lock = new DynamoLockingManager({ client: dynamo, tableName: env.DURABLE_CLI_TABLE, prefix: env.DURABLE_CLI_PREFIX });
  return { workflows: new StorageWorkflowStore({ storage, lock }), storage, lock, close: () => { s3.destroy(); dynamo.destroy(); } };
};
`),
      env: {
        DURABLE_CLI_S3: (s3 as S3TestEndpoint).endpoint,
        DURABLE_CLI_BUCKET: (s3 as S3TestEndpoint).bucket,
        DURABLE_CLI_DYNAMO: (dynamo as DynamoTestEndpoint).endpoint,
        DURABLE_CLI_TABLE: TABLE,
        DURABLE_CLI_PREFIX: awsPrefix,
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      },
    }),
  },
  {
    name: 'MongoDB (mongo-java-server, durable.config.mjs)',
    open: async () => {
      const store = new MongoWorkflowStore({
        url: (mongo as MongoTestServer).uri,
        database: mongoDatabase,
      });
      const storage = new MongoStorageManager({
        url: (mongo as MongoTestServer).uri,
        database: mongoDatabase,
      });
      return {
        store,
        storage,
        close: async () => Promise.all([store.close?.(), storage.close?.()]).then(() => undefined),
      };
    },
    cli: () => ({
      args: [],
      cwd: configFolder(`import { MongoStorageManager, MongoWorkflowStore } from '@durable/mongo';
const { DURABLE_CLI_MONGO: url, DURABLE_CLI_DATABASE: database } = process.env;
const workflows = new MongoWorkflowStore({ url, database });
const storage = new MongoStorageManager({ url, database });
export default { workflows, storage, close: async () => { await workflows.close(); await storage.close(); } };
`),
      env: {
        DURABLE_CLI_MONGO: (mongo as MongoTestServer | undefined)?.uri ?? '',
        DURABLE_CLI_DATABASE: mongoDatabase,
      },
    }),
  },
];

for (const storeCase of cases) {
  const isMongo = storeCase.name.startsWith('MongoDB');
  if (isMongo && !mongoAvailability.available) {
    it(`SKIPPED: durable CLI on ${storeCase.name}: ${mongoAvailability.reason}`, () => {
      console.warn(`integration: SKIPPED: durable CLI on MongoDB: ${mongoAvailability.reason}`);
      expect(mongoAvailability.available).toBe(false);
    });
    continue;
  }
  describe(`durable CLI on ${storeCase.name}`, () => {
    let opened: Awaited<ReturnType<StoreCase['open']>>;
    let cli: ReturnType<StoreCase['cli']>;
    const run = (args: string[]) => durable([...cli.args, ...args], cli.cwd, cli.env ?? {});
    const client = () =>
      new WorkflowClient({
        store: opened.store,
        workflows: [review, charge],
        retryIntervalMs: 0,
        pollIntervalMs: 0,
        onError: () => undefined,
      });

    beforeAll(async () => {
      opened = await storeCase.open();
      cli = storeCase.cli();
      recorded = 0;
      failing = true;
      const c = client();
      await c.start(review, 'review-1', { n: 1 });
      await c.start(charge, 'charge-1');
      await c.start(review, 'review-later', { n: 2 }, { runAt: Date.now() + 3_600_000 });
      await c.drain();
      if (!storeCase.name.startsWith('MongoDB')) {
        const actorCreator = (id: string, snapshot?: unknown) =>
          createActor(cart, {
            id,
            ...(snapshot === undefined ? {} : { snapshot: snapshot as never }),
          });
        await withPersistedActor(
          {
            id: 'carts/7',
            storage: opened.storage,
            ...(opened.lock === undefined ? {} : { lock: opened.lock }),
            actorCreator,
          },
          (actor) => {
            actor.send({ type: 'ADD' });
            actor.send({ type: 'ADD' });
          },
        );
        await orchestrateCloudEvents(
          { versions: [{ version: '1', logic: book }], storage: opened.storage },
          [],
          [{ subject: 'books/moby' }, { subject: 'books/dune' }],
        );
      }
    }, 120_000);
    afterAll(async () => opened?.close(), 60_000);

    it('workflows show prints the history; a missing workflow exits 3', async () => {
      const shown = await run(['workflows', 'show', 'charge-1', '--json']);
      expect(shown.code).toBe(0);
      expect(JSON.parse(shown.stdout)).toMatchObject({
        id: 'charge-1',
        status: 'aborted',
        steps: [{ id: 'reserve', kind: 'step', done: true, attempts: 1 }],
        error: { message: 'card declined' },
      });
      const text = await run(['workflows', 'show', 'review-1']);
      expect(text.stdout).toMatch(/status\s+sleeping/);
      expect(text.stdout).toMatch(/waits for\s+approved/);
      const missing = await run(['workflows', 'show', 'nope']);
      expect(missing.code).toBe(3);
    }, 120_000);

    it('signal wakes the waiting workflow and cancel finishes the ready one; a second cancel exits 4', async () => {
      const signalled = await run(['workflows', 'signal', 'review-1', 'approved', '{"by":"ana"}']);
      expect(signalled.code).toBe(0);
      await client().drain();
      expect(await opened.store.get('review-1')).toMatchObject({
        status: 'completed',
        result: 'ana',
      });
      expect((await run(['workflows', 'cancel', 'review-later'])).code).toBe(0);
      expect((await opened.store.get('review-later'))?.status).toBe('cancelled');
      const again = await run(['workflows', 'cancel', 'review-later']);
      expect(again.code).toBe(4);
      expect(again.stderr).toMatch(/it is cancelled/);
    }, 120_000);

    it('workflows list and counts show every workflow; resume runs the aborted one again without re-running its recorded step', async () => {
      const listed = await run(['workflows', 'list', '--all', '--json', '--order', 'asc']);
      expect(listed.code).toBe(0);
      expect(
        JSON.parse(listed.stdout)
          .items.map((w: { id: string; status: string }) => `${w.id}:${w.status}`)
          .sort(),
      ).toEqual(['charge-1:aborted', 'review-1:completed', 'review-later:cancelled']);
      const filtered = await run(['workflows', 'list', '--status', 'aborted', '--json']);
      expect(JSON.parse(filtered.stdout).items.map((w: { id: string }) => w.id)).toEqual([
        'charge-1',
      ]);
      expect(JSON.parse((await run(['workflows', 'counts', '--json'])).stdout)).toMatchObject({
        aborted: 1,
        completed: 1,
        cancelled: 1,
      });
      const before = recorded;
      failing = false;
      expect((await run(['workflows', 'resume', 'charge-1'])).code).toBe(0);
      await client().drain();
      expect(await opened.store.get('charge-1')).toMatchObject({
        status: 'completed',
        result: 'captured',
      });
      expect(recorded).toBe(before);
    }, 120_000);

    if (!storeCase.name.startsWith('MongoDB')) {
      it('actors show and orchestrations list/show read the stored actor and processes', async () => {
        const actor = await run(['actors', 'show', 'carts/7', '--json']);
        expect(actor.code).toBe(0);
        expect(JSON.parse(actor.stdout)).toMatchObject({
          key: 'carts/7',
          machine: { id: 'cart' },
          value: 'open',
          context: { items: 2 },
          holderKnown: true,
        });
        const list = await run(['orchestrations', 'list', '--json']);
        expect(
          JSON.parse(list.stdout).items.map(
            (p: { subject: string; value: string }) => `${p.subject}:${p.value}`,
          ),
        ).toEqual(['books/dune:fetching', 'books/moby:fetching']);
        const shown = await run(['orchestrations', 'show', 'books/moby']);
        expect(shown.stdout).toMatch(/state\s+fetching/);
        expect((await run(['orchestrations', 'show', 'books/nope'])).code).toBe(3);
        expect((await run(['actors', 'show', 'carts/none'])).code).toBe(3);
      }, 120_000);
    }
  });
}
