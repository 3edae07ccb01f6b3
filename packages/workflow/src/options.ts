import type { Clock, DurableLogger, WorkflowStore } from '@durable/core';
import { DurableError, ErrorCode, systemClock } from '@durable/core';
import { checkOptions } from '@durable/core/adapter';
import { isWorkflowDefinition } from './definition.js';
import { pause } from './timers.js';

/**
 * A workflow function registered by name (the Lidex shape): a plain async function of its
 * context and its JSON input, whose JSON result is stored. It runs again from the top after a
 * crash or a sleep; finished steps return their recorded results instead of running again.
 */
export type WorkflowHandler = {
  // Method syntax keeps parameters bivariant, so `(ctx, input: Order) => ...` is assignable.
  bivariant(ctx: never, input: never): unknown;
}['bivariant'];

/** Options every client takes (the typed one and Lidex's). Every duration may be 0. */
export interface EngineOptions {
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
  /**
   * How a worker waits in process between a step's retries, for tests (with `clock`): resolve
   * early when `signal` aborts. @default a timer
   */
  pause?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Told about failures the worker survives (a store outage, a heartbeat that failed). */
  onError?: (error: unknown, workflowId?: string) => void;
  /**
   * A pino-shaped logger (`logger.info(details, message)`; pino, a winston adapter or `console`):
   * workflow started, claimed, woken, step done (debug), retried and failed, sleeping, completed,
   * failed, aborted, cancelled, with ids, attempts and durations. Step events are debug: sent
   * when `isLevelEnabled('debug')` (pino, winston) is true or, for a logger without it, when its
   * `level` is "debug" or "trace". @default none (only `onError`)
   */
  logger?: DurableLogger;
  /**
   * Let `start()` (and `ctx.start`/`ctx.child`) name workflows this client does not register: for
   * a client that starts workflows which other processes run. Otherwise a client with workflows
   * refuses an unknown name at once with `HANDLER_UNKNOWN`. @default false
   */
  allowUnknownHandlers?: boolean;
}

/** Which option names the workflow functions: the typed client's list or Lidex's map. */
export type HandlersOption = 'workflows' | 'handlers';

const KNOWN_OPTIONS = [
  'store',
  'maxFailures',
  'timeoutIntervalMs',
  'pollIntervalMs',
  'retryIntervalMs',
  'retryBackoff',
  'concurrency',
  'clock',
  'pause',
  'onError',
  'logger',
  'allowUnknownHandlers',
] as const;

// Lidex's option names, and names users guess from other engines, with ours.
const RENAMED_OPTIONS: Readonly<Record<string, string>> = {
  persistence: 'store',
  storage: 'store (a WorkflowStore, e.g. new StorageWorkflowStore({ storage }) from @durable/core)',
  timeoutInterval: 'timeoutIntervalMs',
  pollInterval: 'pollIntervalMs',
  retryInterval: 'retryIntervalMs',
};

/** {@link EngineOptions} with every default applied. */
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
  /** The user's logger, if any. */
  logger: DurableLogger | undefined;
  /** Throws `HANDLER_UNKNOWN` for a name `start()` must refuse (see `allowUnknownHandlers`). */
  checkHandler: (name: string, context: string) => void;
  /** Waits in process (a step's retry interval); resolves early when `signal` aborts. */
  pause: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Which client: the typed one passes definitions to ctx.start/ctx.child, Lidex's names. */
  flavour: HandlersOption;
}

/** Validates options at once (a typo'd option is a `CONFIG` error, not a surprise later). */
export function resolveOptions(options: EngineOptions, flavour: HandlersOption): ResolvedOptions {
  const other: HandlersOption = flavour === 'workflows' ? 'handlers' : 'workflows';
  checkOptions(options, 'workflow', {
    known: [flavour, ...KNOWN_OPTIONS],
    required: [flavour, 'store'],
    renamed: {
      ...RENAMED_OPTIONS,
      [other]:
        flavour === 'workflows'
          ? "workflows (a list of defineWorkflow(...) definitions; functions by name are the Lidex client's, in @durable/workflow/lidex)"
          : 'handlers (functions by name; the typed client of @durable/workflow takes workflows)',
    },
  });
  const handlers =
    flavour === 'workflows'
      ? workflowsByName((options as { workflows?: unknown }).workflows)
      : handlersByName((options as { handlers?: unknown }).handlers);
  const store = options.store;
  if (store === null || typeof store !== 'object' || typeof store.claim !== 'function')
    throw config('"store" must be a WorkflowStore');
  if (options.clock !== undefined && typeof options.clock !== 'function')
    throw config('"clock" must be a function returning epoch ms');
  if (options.onError !== undefined && typeof options.onError !== 'function')
    throw config('"onError" must be a function');
  if (
    options.logger !== undefined &&
    (options.logger === null ||
      typeof options.logger !== 'object' ||
      typeof options.logger.warn !== 'function')
  ) {
    throw config(
      '"logger" must be a pino-shaped logger: an object with info/warn/error(details, message) methods (pino, console)',
    );
  }
  if (
    options.allowUnknownHandlers !== undefined &&
    typeof options.allowUnknownHandlers !== 'boolean'
  )
    throw config('"allowUnknownHandlers" must be a boolean');
  if (options.pause !== undefined && typeof options.pause !== 'function')
    throw config('"pause" must be a function (ms, signal) => Promise');
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
    logger: options.logger,
    pause: options.pause ?? pause,
    flavour,
    checkHandler: (name, context) => {
      // A name that is no string at all is the store's CONFIG error.
      if (strict && typeof name === 'string' && name.length > 0 && !Object.hasOwn(handlers, name)) {
        throw new DurableError(
          ErrorCode.HANDLER_UNKNOWN,
          `${context}: no handler named ${JSON.stringify(
            name,
          )} is registered with this client (it has ${names
            .slice(0, 10)
            .map((n) => JSON.stringify(n))
            .join(', ')}${names.length > 10 ? ', ...' : ''}); ` +
            'pass allowUnknownHandlers: true to a client that starts workflows other processes run',
        );
      }
    },
  };
}

function handlersByName(value: unknown): Record<string, WorkflowHandler> {
  if (value === null || typeof value !== 'object')
    throw config('"handlers" must be an object or a Map of functions');
  // A null-prototype copy: a workflow naming "constructor" or "__proto__" finds no handler.
  const handlers = Object.create(null) as Record<string, WorkflowHandler>;
  const entries: Array<[unknown, unknown]> =
    value instanceof Map ? [...(value as Map<unknown, unknown>).entries()] : Object.entries(value);
  for (const [name, fn] of entries) {
    if (typeof name !== 'string' || name.length === 0)
      throw config(`handler names must be non-empty strings, got ${String(name)}`);
    if (typeof fn !== 'function')
      throw config(`handler ${JSON.stringify(name)} must be a function`);
    handlers[name] = fn as WorkflowHandler;
  }
  return handlers;
}

function workflowsByName(value: unknown): Record<string, WorkflowHandler> {
  if (!Array.isArray(value))
    throw config('"workflows" must be an array of defineWorkflow(...) definitions');
  const handlers = Object.create(null) as Record<string, WorkflowHandler>;
  for (const [i, workflow] of value.entries()) {
    if (!isWorkflowDefinition(workflow))
      throw config(`workflows[${i}] is not a defineWorkflow(...) definition`);
    if (Object.hasOwn(handlers, workflow.name))
      throw config(
        `two workflows are named ${JSON.stringify(
          workflow.name,
        )}: names must be unique (they are stored with each run)`,
      );
    const definition = workflow;
    handlers[workflow.name] = (ctx: never, input: never) => definition.run(ctx, input);
  }
  return handlers;
}

function safeOnError(
  onError: EngineOptions['onError'],
): (error: unknown, workflowId?: string) => void {
  const report =
    onError ?? ((error, id) => console.error(`@durable/workflow: ${id ?? 'worker'}:`, error));
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
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 1)
    throw config(`"${name}" must be a number >= 1, got ${String(value)}`);
  return value;
}

function config(message: string): DurableError {
  return new DurableError(ErrorCode.CONFIG, `workflow: ${message}`);
}
