import type { Clock, WorkflowStore } from '@durable/core';
import { DurableError, ErrorCode, systemClock } from '@durable/core';
import type { WorkflowContext } from './context.js';

/**
 * A workflow: a plain async function of its context and its JSON input, whose JSON result is
 * stored. It runs again from the top after a crash or a sleep; finished steps return their
 * recorded results instead of running again, so it must reach them in the same order.
 */
export type WorkflowHandler = {
  // Method syntax keeps parameters bivariant, so `(ctx, input: Order) => ...` is assignable.
  bivariant(ctx: WorkflowContext, input: never): Promise<unknown> | unknown;
}['bivariant'];

/** Options for {@link WorkflowClient}. Every duration may be 0. */
export interface WorkflowClientOptions {
  /** Workflow functions by name (an object or, as in Lidex, a Map); `start(id, name, input)` refers to them. */
  handlers: Record<string, WorkflowHandler> | ReadonlyMap<string, WorkflowHandler>;
  /** Where workflows live (fs, storage + lock, memory, mongo...). */
  store: WorkflowStore;
  /**
   * Failures after which the workflow is aborted, as in Lidex: with 3 it runs at most 3 times.
   * 0 and 1 both mean "never retried". An expired lease counts as a failure. @default 3
   */
  maxFailures?: number;
  /**
   * A worker's lease on a running workflow: heartbeated every third of it; a workflow whose worker
   * stopped heartbeating this long is taken over by another worker. @default 60000
   */
  timeoutIntervalMs?: number;
  /** How long an idle worker waits before it looks for due workflows again. @default 1000 */
  pollIntervalMs?: number;
  /** Delay before the first retry of a failed run; doubles with every further failure. @default 1000 */
  retryIntervalMs?: number;
  /** Growth factor of the retry delay (1: a fixed delay). @default 2 */
  retryBackoff?: number;
  /** Workflows one worker runs at once (0: this client only starts workflows). @default 10 */
  concurrency?: number;
  /** Time source, for tests. @default Date.now */
  clock?: Clock;
  /** Told about failures the worker survives (a store outage, a heartbeat that failed). */
  onError?: (error: unknown, workflowId?: string) => void;
}

/** {@link WorkflowClientOptions} with every default applied. */
export interface ResolvedOptions {
  handlers: Record<string, WorkflowHandler>;
  store: WorkflowStore;
  maxFailures: number;
  timeoutIntervalMs: number;
  pollIntervalMs: number;
  retryIntervalMs: number;
  retryBackoff: number;
  concurrency: number;
  clock: Clock;
  onError: (error: unknown, workflowId?: string) => void;
}

/** Validates options at once (a typo'd option is a `CONFIG` error, not a surprise later). */
export function resolveOptions(options: WorkflowClientOptions): ResolvedOptions {
  if (options === null || typeof options !== 'object') throw config('options with "handlers" and "store" are required');
  if (options.handlers === null || typeof options.handlers !== 'object') throw config('"handlers" must be an object or a Map of functions');
  // A null-prototype copy: a workflow naming "constructor" or "__proto__" finds no handler.
  const handlers = Object.create(null) as Record<string, WorkflowHandler>;
  const entries = options.handlers instanceof Map ? [...options.handlers.entries()] : Object.entries(options.handlers);
  for (const [name, fn] of entries) {
    if (typeof fn !== 'function') throw config(`handler ${JSON.stringify(name)} must be a function`);
    handlers[name] = fn;
  }
  const store = options.store;
  if (store === null || typeof store !== 'object' || typeof store.claim !== 'function') throw config('"store" must be a WorkflowStore');
  return {
    handlers,
    store,
    maxFailures: count(options.maxFailures, 3, 'maxFailures'),
    timeoutIntervalMs: count(options.timeoutIntervalMs, 60_000, 'timeoutIntervalMs'),
    pollIntervalMs: count(options.pollIntervalMs, 1000, 'pollIntervalMs'),
    retryIntervalMs: count(options.retryIntervalMs, 1000, 'retryIntervalMs'),
    retryBackoff: positive(options.retryBackoff, 2, 'retryBackoff'),
    concurrency: count(options.concurrency, 10, 'concurrency'),
    clock: options.clock ?? systemClock,
    onError: options.onError ?? ((error, id) => console.error(`@durable/workflow: ${id ?? 'worker'}:`, error)),
  };
}

function count(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw config(`"${name}" must be a whole number >= 0, got ${String(value)}`);
  }
  return value;
}

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 1) throw config(`"${name}" must be a number >= 1, got ${String(value)}`);
  return value;
}

function config(message: string): DurableError {
  return new DurableError(ErrorCode.CONFIG, `workflow: ${message}`);
}
