import { DynamoLockingManager } from '@durable/dynamo-lock';
import { isDurableError } from '@durable/core';
import type { LostReplyProxy } from '@durable/testkit';
import { startLostReplyProxy, uniquePrefix } from '@durable/testkit';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { makeDynamoClient } from '@durable/test-support';
import type { DynamoTestEndpoint } from './fixtures/composition-support.js';
import { startDynamoWithTable } from './fixtures/composition-support.js';

// Lost replies on the DynamoDB lock: replies of UpdateItem (acquire, extend, release) are dropped at
// random by a proxy that lets the request reach dynalite first; the SDK retries with more
// attempts than its default. Checked: never two holders, fencing tokens increase, a release is
// never reported false (nobody's lease expired here), no phantom lease is left. Prints figures.
const tableName = 'durable-lost-replies';
let server: DynamoTestEndpoint;
let proxy: LostReplyProxy;
const clients: DynamoDBClient[] = [];
const proxied = !(process.env.DYNAMODB_ENDPOINT ?? '').startsWith('https:');
const describeProxied = proxied ? describe : describe.skip;

beforeAll(async () => {
  server = await startDynamoWithTable(tableName);
  if (proxied) {
    proxy = await startLostReplyProxy({
      target: server.endpoint,
      drops: (r) => String(r.headers['x-amz-target'] ?? '').endsWith('.UpdateItem'),
    });
  }
}, 30_000);
afterAll(async () => {
  for (const client of clients) client.destroy();
  await proxy?.close();
  await server?.stop();
}, 30_000);

function lock(via: 'proxy' | 'direct', maxAttempts = 8): DynamoLockingManager {
  const client = makeDynamoClient(via === 'proxy' ? proxy.endpoint : server.endpoint, maxAttempts);
  clients.push(client);
  return new DynamoLockingManager({ client, tableName, backoff: { maxMs: 40 } });
}

describeProxied('DynamoDB lock with replies dropped at random', () => {
  it('chaos: 4 contenders x 15 acquire/release cycles, 30% of replies dropped, 8 SDK attempts: one holder at a time, no false release, no phantom', async () => {
    const key = uniquePrefix('chaos');
    proxy.setDropRate(0.3);
    const dropsBefore = proxy.stats.dropped;
    const stats = { grants: 0, releasedTrue: 0, releasedFalse: 0, releaseUnknown: 0, overlaps: 0 };
    let holders = 0;
    const fences: number[] = [];
    const contender = async (): Promise<void> => {
      const manager = lock('proxy');
      for (let i = 0; i < 15; i++) {
        const lease = await manager.acquire(key, { ttlMs: 60_000, waitMs: 60_000 });
        stats.grants++;
        if (++holders > 1) stats.overlaps++;
        fences.push(lease.fencingToken);
        await new Promise((resolve) => setImmediate(resolve));
        holders--;
        try {
          if (await lease.release()) stats.releasedTrue++;
          else stats.releasedFalse++;
        } catch (error) {
          if (!isDurableError(error, 'UNKNOWN_OUTCOME')) throw error;
          stats.releaseUnknown++;
        }
      }
    };
    await Promise.all([0, 1, 2, 3].map(contender));
    proxy.setDropRate(0);
    const state = await lock('direct').inspect(key);
    console.log(
      `DynamoDB lock chaos, 30% of UpdateItem replies dropped, maxAttempts 8: ${
        proxy.stats.dropped - dropsBefore
      } replies dropped; ` +
        `${stats.grants} grants, ${stats.overlaps} overlaps; releases true ${stats.releasedTrue}, false ${stats.releasedFalse}, ` +
        `UNKNOWN_OUTCOME ${stats.releaseUnknown}; lock left held: ${state?.token !== undefined}`,
    );
    expect(proxy.stats.dropped - dropsBefore).toBeGreaterThan(0);
    expect(stats.grants).toBe(60);
    expect(stats.overlaps).toBe(0);
    expect(stats.releasedFalse).toBe(0);
    expect(fences).toEqual([...fences].sort((a, b) => a - b));
    expect(new Set(fences).size).toBe(fences.length);
    expect(state?.token).toBeUndefined();
  }, 240_000);
});
