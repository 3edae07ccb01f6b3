// TEST INFRASTRUCTURE: a DynamoDB client whose replies can be lost. It goes through testkit's
// lost-reply proxy to dynalite; only UpdateItem (what acquire, extend and release send) loses
// its reply, the GetItem that settles an outcome gets its own.
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { LostReplyProxy, LostReplyProxyOptions } from '@durable/testkit';
import { startLostReplyProxy } from '@durable/testkit';
import type { DynamoTestEndpoint } from '@durable/test-support';
import { makeDynamoClient } from '@durable/test-support';

/** A proxy in front of the endpoint and a client (with `maxAttempts` SDK attempts) that uses it. */
export interface LossyDynamo {
  proxy: LostReplyProxy;
  client(maxAttempts?: number): DynamoDBClient;
  close(): Promise<void>;
}

/** True for the requests whose reply the proxy may drop: the lock's writes. */
export function isUpdateItem(request: { headers: Record<string, unknown> }): boolean {
  return String(request.headers['x-amz-target'] ?? '').endsWith('.UpdateItem');
}

/** Starts a proxy in front of `endpoint`; `client()` makes clients through it (destroyed by close). */
export async function startLossyDynamo(
  endpoint: DynamoTestEndpoint,
  extra: Partial<LostReplyProxyOptions> = {},
): Promise<LossyDynamo> {
  const proxy = await startLostReplyProxy({
    target: endpoint.endpoint,
    drops: isUpdateItem,
    ...extra,
  });
  const clients: DynamoDBClient[] = [];
  return {
    proxy,
    client: (maxAttempts = 3) => {
      const client = makeDynamoClient(proxy.endpoint, maxAttempts);
      clients.push(client);
      return client;
    },
    close: async () => {
      for (const client of clients) client.destroy();
      await proxy.close();
    },
  };
}
