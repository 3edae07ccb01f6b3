import { runLockSuite } from '@durable/testkit';
import { S3LockManager } from '../src/index.js';
import { useS3 } from './support/suite-setup.js';

// The lock conformance suite: two managers with two clients prove exclusion between clients.
const s3 = useS3();
runLockSuite('s3', {
  create: () => new S3LockManager({ client: s3.client, bucket: s3.endpoint.bucket, prefix: 'locks/', backoff: { maxMs: 50 } }),
  createPeer: () => new S3LockManager({ client: s3.endpoint.client(), bucket: s3.endpoint.bucket, prefix: 'locks/', backoff: { maxMs: 50 } }),
});
