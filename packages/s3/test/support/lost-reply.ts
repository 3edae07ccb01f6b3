// TEST INFRASTRUCTURE: an S3 client whose replies can be lost. It goes through testkit's
// lost-reply proxy to the tests' S3 endpoint; only requests that change an object (PUT, DELETE
// on an object key) lose their reply, the reads that settle an outcome get theirs.
import type { S3Client } from '@aws-sdk/client-s3';
import type { LostReplyProxy } from '@durable/testkit';
import { startLostReplyProxy } from '@durable/testkit';
import type { S3TestEndpoint } from '@durable/test-support';
import { makeS3Client } from '@durable/test-support';

/** A proxy in front of the endpoint and a client (with `maxAttempts` SDK attempts) that uses it. */
export interface LossyS3 {
  proxy: LostReplyProxy;
  client: S3Client;
  close(): Promise<void>;
}

/** True for the requests whose reply the proxy may drop: writes and deletes of objects. */
export function changesAnObject(request: { method: string }): boolean {
  return request.method === 'PUT' || request.method === 'DELETE';
}

/** Starts a proxy in front of `endpoint` and a client through it. */
export async function startLossyS3(
  endpoint: S3TestEndpoint,
  maxAttempts = 3,
  random?: () => number,
): Promise<LossyS3> {
  const proxy = await startLostReplyProxy({
    target: endpoint.endpoint,
    drops: changesAnObject,
    ...(random === undefined ? {} : { random }),
  });
  const client = makeS3Client(proxy.endpoint, maxAttempts, endpoint.directory !== undefined);
  return {
    proxy,
    client,
    close: async () => {
      client.destroy();
      await proxy.close();
    },
  };
}
