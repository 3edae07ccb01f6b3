import type { Clock, WorkflowStore } from '@durable/core';
import { DurableError, ErrorCode, checkOptions, systemClock } from '@durable/core';
import type { WorkflowContext } from './context-api.js';

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
  /**
   * Let `start()` (and `ctx.start`/`ctx.child`) name handlers this client does not register: for a
   * client that starts workflows which other processes run. Otherwise a client with handlers
   * refuses an unknown name at once with `HANDLER_UNKNOWN`. @default false
   */
  allowUnknownHandlers?: boolean;
}

const KNOWN_OPTIONS = [
  'handlers',
  'store',
  'maxFailures',
  'timeoutIntervalMs',
  'pollIntervalMs',
  'retryIntervalMs',
  'retryBackoff',
  'concurrency',
  'clock',
  'onError',
  'allowUnknownHandlers',
] as const;

// Lidex's option names, and names users guess from other engines, with ours.
const RENAMED_OPTIONS: Readonly<Record<string, string>> = {
  persistence: 'store',
  storage: 'store (a WorkflowStore, e.g. createStorageWorkflowStore({ storage }))',
  workflows: 'handlers',
  timeoutInterval: 'timeoutIntervalMs',
  pollInterval: 'pollIntervalMs',
  retryInterval: 'retryIntervalMs',
  logger: 'onError',
};

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
  /** The user's onError, made safe: it never throws (a throwing one would kill the worker). */
  onError: (error: unknown, workflowId?: string) => void;
  /** Throws `HANDLER_UNKNOWN` for a name `start()` must refuse (see `allowUnknownHandlers`). */
  checkHandler: (name: string, context: string) => void;
}

/** Validates options at once (a typo'd option is a `CONFIG` error, not a surprise later). */
export function resolveOptions(options: WorkflowClientOptions): ResolvedOptions {
  checkOptions(options, 'workflow', { known: KNOWN_OPTIONS, required: ['handlers', 'store'], renamed: RENAMED_OPTIONS });
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
  if (options.clock !== undefined && typeof options.clock !== 'function') throw config('"clock" must be a function returning epoch ms');
  if (options.onError !== undefined && typeof options.onError !== 'function') throw config('"onError" must be a function');
  if (options.allowUnknownHandlers !== undefined && typeof options.allowUnknownHandlers !== 'boolean') throw config('"allowUnknownHandlers" must be a boolean');
  const names = Object.keys(handlers);
  const strict = names.length > 0 && options.allowUnknownHandlers !== true;
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
    onError: safeOnError(options.onError),
    checkHandler: (name, context) => {
      // A name that is no string at all is the store's CONFIG error.
      if (strict && typeof name === 'string' && name.length > 0 && !Object.hasOwn(handlers, name)) {
        throw new DurableError(
          ErrorCode.HANDLER_UNKNOWN,
          `${context}: no handler named ${JSON.stringify(name)} is registered with this client (it has ${names.slice(0, 10).map((n) => JSON.stringify(n)).join(', ')}${names.length > 10 ? ', ...' : ''}); ` +
            'pass allowUnknownHandlers: true to a client that starts workflows other processes run',
        );
      }
    },
  };
}

function safeOnError(onError: WorkflowClientOptions['onError']): (error: unknown, workflowId?: string) => void {
  const report = onError ?? ((error, id) => console.error(`@durable/workflow: ${id ?? 'worker'}:`, error));
  return (error, id) => {
    try {
      report(error, id);
    } catch (thrown) {
      // The worker must outlive its own error reporter; say so where someone will look.
      try {
        console.error('@durable/workflow: onError threw while reporting', error, thrown);
      } catch {
        // nothing left to report to
      }
    }
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
