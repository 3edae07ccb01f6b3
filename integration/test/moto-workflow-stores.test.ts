// The generic workflow store on S3 + DynamoDB and the serverless workflow tests once more, on
// moto's S3 and DynamoDB (moto_server 5.2.5, written independently of us) where
// workflow-stores.test.ts runs them on s3rver with our conditional layer and dynalite. Skipped
// loudly when moto_server is not installed.
import { motoOrSkip } from '@durable/test-support';
import { runAwsWorkflowTests } from './fixtures/aws-workflow-tests.js';
import { startMotoEndpoints } from './fixtures/moto-endpoints.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

if (motoOrSkip('@durable/integration-tests', 'the workflow store and engine on S3 + DynamoDB')) {
  const tableName = 'durable-workflow-stores-moto';
  runAwsWorkflowTests('on moto', async () => {
    const { s3, dynamo, stop } = await startMotoEndpoints(
      'durable-workflow-stores-moto',
      tableName,
    );
    return { s3, dynamo, tableName, stop };
  });
}
