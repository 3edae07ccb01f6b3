// The storage x lock composition scenarios once more, on moto's S3 and DynamoDB (moto_server
// 5.2.5, an emulator written independently of us, whose S3 enforces If-None-Match and If-Match
// with code of its own), where composition.test.ts runs them on s3rver with our conditional
// layer and dynalite. The pairs with an S3 or DynamoDB side (and memory x memory, which is cheap);
// the others do not touch moto.
// Skipped loudly when moto_server is not installed.
import { motoOrSkip } from '@durable/test-support';
import { runCompositionMatrix } from './fixtures/composition-matrix.js';
import { startMotoEndpoints } from './fixtures/moto-endpoints.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

if (motoOrSkip('@durable/integration-tests', 'the storage x lock composition tests')) {
  const tableName = 'durable-composition-moto';
  runCompositionMatrix({
    label: 'on moto',
    start: async () => {
      const { s3, dynamo, stop } = await startMotoEndpoints('durable-composition-moto', tableName);
      return { s3, s3Local: true, dynamo, tableName, stop };
    },
    storages: ['memory', 's3'],
    locks: ['memory', 'dynamo', 's3'],
    crossPairs: [
      ['s3', 's3'],
      ['s3', 'dynamo'],
    ],
    // moto answers one request at a time, each in milliseconds to tens of them.
    timeoutMs: 300_000,
  });
}
