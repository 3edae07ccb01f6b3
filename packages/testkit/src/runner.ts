import type { DurableError } from '@durable/core';
import { isDurableError } from '@durable/core';
import { sleep } from '@durable/core/adapter';

/** A test function as jest, vitest and mocha declare it. */
export type TestFn = (name: string, fn: () => Promise<void> | void, timeoutMs?: number) => void;
/** A hook (`beforeEach`, `afterAll`, ...) as jest, vitest and mocha declare it. */
export type HookFn = (fn: () => Promise<void> | void, timeoutMs?: number) => void;

/**
 * The runner functions a suite needs. Pass your runner's own (`{ describe, it, beforeEach,
 * afterEach }` from vitest, mocha's globals, ...); when omitted the suite uses the globals that
 * jest, vitest (with `globals: true`) and mocha define.
 */
export interface SuiteRunner {
  describe: (name: string, fn: () => void) => void;
  it: TestFn;
  beforeEach: HookFn;
  afterEach: HookFn;
}

/** The runner to use: the given one, or the globals. */
export function resolveRunner(runner?: SuiteRunner): SuiteRunner {
  if (runner !== undefined) return runner;
  const g = globalThis as unknown as Partial<SuiteRunner>;
  if (
    g.describe === undefined ||
    g.it === undefined ||
    g.beforeEach === undefined ||
    g.afterEach === undefined
  ) {
    throw new Error(
      '@durable/testkit: no test runner globals found; pass { runner: { describe, it, beforeEach, afterEach } }',
    );
  }
  return { describe: g.describe, it: g.it, beforeEach: g.beforeEach, afterEach: g.afterEach };
}

/** A short random key prefix, so that suites may share one backend namespace. */
export function uniquePrefix(label: string): string {
  return `${label}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

/** Resolves after `ms` (core's `sleep`). */
export const delay = (ms: number): Promise<void> => sleep(ms);

/**
 * Runs `fn` and asserts that it throws a DurableError (from any copy of @durable/core) with
 * `code`; fails when it succeeds or throws anything else.
 */
export async function expectDurableError(
  fn: () => Promise<unknown>,
  code: string,
): Promise<DurableError> {
  let outcome: unknown;
  try {
    outcome = await fn();
  } catch (error) {
    if (isDurableError(error, code)) return error;
    throw new Error(`expected a DurableError ${code}, got: ${describeError(error)}`, {
      cause: error,
    });
  }
  throw new Error(
    `expected a DurableError ${code}, but the operation succeeded with ${String(outcome)}`,
  );
}

function describeError(error: unknown): string {
  if (isDurableError(error)) return `DurableError ${error.code}: ${error.message}`;
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/** What a `CONFLICT` must say, the same on every backend (see core's `conflictError`). */
export interface ExpectedConflict {
  /** The key of the refused operation. */
  key: string;
  /** The refused operation. */
  operation: 'write' | 'delete';
  /** The `ifVersion` that was given (`null`: "only if absent"). */
  expected: string | null;
}

/**
 * Asserts that `fn` throws the one `CONFLICT` shape: not retryable, and `details` with the key,
 * the operation and the `ifVersion` given, plus `actual` (a version, or `null` for absent) when
 * present. A backend with its own shape would make callers handle each backend apart.
 */
export async function expectConflict(
  fn: () => Promise<unknown>,
  conflict: ExpectedConflict,
): Promise<DurableError> {
  const error = await expectDurableError(fn, 'CONFLICT');
  const where = `CONFLICT of ${conflict.operation} ${conflict.key}`;
  if (error.retryable)
    throw new Error(
      `${where}: retryable must be false (the same write would fail again), got true`,
    );
  const details = error.details ?? {};
  for (const field of ['key', 'operation', 'expected'] as const) {
    if (details[field] !== conflict[field]) {
      throw new Error(
        `${where}: details.${field} must be ${JSON.stringify(
          conflict[field],
        )}, got ${JSON.stringify(details[field])}`,
      );
    }
  }
  const actual = details['actual'];
  if ('actual' in details && actual !== null && typeof actual !== 'string') {
    throw new Error(
      `${where}: details.actual must be a version string or null, got ${JSON.stringify(actual)}`,
    );
  }
  return error;
}

/** A promise that fails with `error` as it is (a value caught earlier), for `expectDurableError`. */
export function failing(error: unknown): Promise<never> {
  return Promise.resolve().then(() => {
    throw error;
  });
}
