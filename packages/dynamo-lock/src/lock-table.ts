import {
  CreateTableCommand,
  DescribeTableCommand,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import { DurableError, ErrorCode } from '@durable/core';
import { sleep } from '@durable/core/adapter';
import type { DynamoConnectionOptions } from './connection.js';
import { resolveConnection } from './connection.js';
import { dynamoBackendError } from './dynamo-errors.js';

/** Options for {@link createLockTable}. */
export interface CreateLockTableOptions extends DynamoConnectionOptions {
  /**
   * Turn on DynamoDB TTL on `expireAt` so released and expired lock items are eventually
   * removed. Emulators without the UpdateTimeToLive API (dynalite) need `false`. @default true
   */
  timeToLive?: boolean;
  /** How long to wait for the table to become ACTIVE. @default 60000 */
  waitMs?: number;
}

/**
 * Creates the lock table if it does not exist (on-demand billing, string hash key `id`), waits
 * until it is ACTIVE and enables TTL on `expireAt`. For tests and first runs; production tables
 * come from infra/ (Terraform). Returns true when it created the table.
 */
export async function createLockTable(options: CreateLockTableOptions): Promise<boolean> {
  const context = 'dynamo lock: createLockTable';
  const { client, owned, tableName } = resolveConnection(options, context, [
    'timeToLive',
    'waitMs',
  ]);
  try {
    let created = false;
    try {
      await client.send(
        new CreateTableCommand({
          TableName: tableName,
          AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
          KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
          BillingMode: 'PAY_PER_REQUEST',
        }),
      );
      created = true;
    } catch (error) {
      if ((error as { name?: string }).name !== 'ResourceInUseException') {
        throw dynamoBackendError(error, `${context} failed for ${tableName}`);
      }
    }
    const deadline = Date.now() + (options.waitMs ?? 60_000);
    for (;;) {
      const { Table } = await client
        .send(new DescribeTableCommand({ TableName: tableName }))
        .catch((error: unknown) => {
          throw dynamoBackendError(error, `${context}: describe failed for ${tableName}`);
        });
      if (Table?.TableStatus === 'ACTIVE') break;
      if (Date.now() > deadline) {
        throw new DurableError(
          ErrorCode.BACKEND,
          `${context}: ${tableName} is not ACTIVE after waiting`,
          { retryable: true },
        );
      }
      await sleep(200);
    }
    if (options.timeToLive ?? true) {
      try {
        await client.send(
          new UpdateTimeToLiveCommand({
            TableName: tableName,
            TimeToLiveSpecification: { AttributeName: 'expireAt', Enabled: true },
          }),
        );
      } catch (error) {
        // Already enabled is fine; anything else is reported.
        if (!/already enabled/i.test((error as Error).message ?? '')) {
          throw dynamoBackendError(error, `${context}: enabling TTL failed for ${tableName}`);
        }
      }
    }
    return created;
  } finally {
    if (owned) client.destroy();
  }
}
