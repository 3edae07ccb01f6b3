import { isDurableError } from '@durable/core';
import { dynamoBackendError, isConditionFailure } from '../src/dynamo-errors.js';

// The mapping itself, on error objects of the SDK's shape (name + $metadata), for the failures
// dynalite cannot produce (throttling, 5xx). Missing tables and network failures are covered
// against real servers in dynamo-behaviour.test.ts.
function sdkError(name: string, status: number | undefined): Error {
  return Object.assign(new Error(`${name} happened`), {
    name,
    $metadata: status === undefined ? {} : { httpStatusCode: status },
  });
}

describe('dynamo error mapping', () => {
  it.each([
    ['ProvisionedThroughputExceededException', 400, true],
    ['ThrottlingException', 400, true],
    ['RequestLimitExceeded', 400, true],
    ['InternalServerError', 500, true],
    ['ServiceUnavailable', 503, true],
    ['TimeoutError', undefined, true],
    ['ResourceNotFoundException', 400, false],
    ['AccessDeniedException', 400, false],
    ['ValidationException', 400, false],
  ] as const)(
    '%s (HTTP %s) is BACKEND, retryable %s, with the cause kept',
    (name, status, retryable) => {
      const cause = sdkError(name, status);
      const error = dynamoBackendError(cause, 'dynamo lock: acquire failed for k', 'k');
      expect(isDurableError(error, 'BACKEND')).toBe(true);
      expect(error.retryable).toBe(retryable);
      expect(error.cause).toBe(cause);
      expect(error.message).toContain('dynamo lock: acquire failed for k');
      expect(error.details).toMatchObject({ key: 'k', name });
      expect(isConditionFailure(cause)).toBe(false);
    },
  );

  it('only ConditionalCheckFailedException is a condition failure', () => {
    expect(isConditionFailure(sdkError('ConditionalCheckFailedException', 400))).toBe(true);
    expect(isConditionFailure(sdkError('TransactionCanceledException', 400))).toBe(false);
    expect(isConditionFailure(undefined)).toBe(false);
    expect(isConditionFailure('ConditionalCheckFailedException')).toBe(false);
  });
});
