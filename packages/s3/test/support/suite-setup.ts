// TEST INFRASTRUCTURE: one S3 endpoint per test file (started in beforeAll, stopped in afterAll).
import type { S3Client } from '@aws-sdk/client-s3';
import type { S3TestEndpoint } from '@durable/test-support';
import { startS3 } from '@durable/test-support';

/** The endpoint of the current test file, set in beforeAll. */
export interface S3Fixture {
  endpoint: S3TestEndpoint;
  client: S3Client;
}

/** Registers beforeAll/afterAll that start and stop an S3 endpoint; read the fixture inside tests. */
export function useS3(): S3Fixture {
  const fixture = {} as S3Fixture;
  beforeAll(async () => {
    fixture.endpoint = await startS3();
    fixture.client = fixture.endpoint.client();
  }, 30_000);
  afterAll(async () => {
    fixture.client?.destroy();
    await fixture.endpoint?.stop();
  }, 30_000);
  return fixture;
}
