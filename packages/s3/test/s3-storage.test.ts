import { runStorageSuite } from '@durable/testkit';
import { S3StorageManager } from '../src/index.js';
import { useS3 } from './support/suite-setup.js';

// The storage conformance suite against s3rver + our conditional-write layer, or S3_ENDPOINT.
const s3 = useS3();
runStorageSuite('s3', {
  create: () => new S3StorageManager({ client: s3.client, bucket: s3.endpoint.bucket, prefix: 'suite/' }),
});
