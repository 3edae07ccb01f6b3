// TEST INFRASTRUCTURE: a mongo-java-server and a client whose commands and replies are recorded
// (the driver's command monitoring), for tests that check what the store sends rather than how
// long it takes.
import { MongoClient } from 'mongodb';
import type { CommandStartedEvent, CommandSucceededEvent } from 'mongodb';
import type { MongoTestServer } from '@durable/test-support';
import { startMongoTestServer } from '@durable/test-support';

/** What {@link useMonitoredMongo} gives a test file; `client` is set once `beforeAll` ran. */
export interface MonitoredMongo {
  readonly database: string;
  readonly client: MongoClient;
  /** Every command sent since the last {@link MonitoredMongo.clear}. */
  readonly started: CommandStartedEvent[];
  /** Every successful reply since the last {@link MonitoredMongo.clear}. */
  readonly succeeded: CommandSucceededEvent[];
  clear(): void;
}

/**
 * Registers `beforeAll`/`afterAll` that start mongo-java-server (or use MONGODB_URI) with a
 * monitored client on database `durable_<name>_<pid>` (or MONGODB_DATABASE, then left in place).
 */
export function useMonitoredMongo(name: string): MonitoredMongo {
  const database = process.env.MONGODB_DATABASE ?? `durable_${name}_${process.pid}`;
  let server: MongoTestServer | undefined;
  let client: MongoClient | undefined;
  const started: CommandStartedEvent[] = [];
  const succeeded: CommandSucceededEvent[] = [];
  beforeAll(async () => {
    server = await startMongoTestServer('mongo-java-server');
    client = new MongoClient(server.uri, {
      serverSelectionTimeoutMS: 10_000,
      monitorCommands: true,
    });
    client.on('commandStarted', (event) => started.push(event));
    client.on('commandSucceeded', (event) => succeeded.push(event));
    await client.connect();
  }, 60_000);
  afterAll(async () => {
    if (process.env.MONGODB_DATABASE === undefined) await client?.db(database).dropDatabase();
    await client?.close();
    await server?.stop();
  }, 30_000);
  return {
    database,
    get client(): MongoClient {
      if (client === undefined) throw new Error('useMonitoredMongo: used before beforeAll ran');
      return client;
    },
    started,
    succeeded,
    clear: () => {
      started.length = 0;
      succeeded.length = 0;
    },
  };
}
