import type { AnyStateMachine, InputFrom, StateValue } from 'xstate';
import { assertMethods } from '../actor/actor-options.js';
import type { LockingMode } from '../actor/locking.js';
import { leaseOptions, resolveLocking } from '../actor/locking.js';
import type { DurableLogger } from '../actor/logger.js';
import type { Clock } from '../clock.js';
import { systemClock } from '../clock.js';
import { DurableError, ErrorCode } from '../errors.js';
import { assertValidKey } from '../keys.js';
import { describeValue } from '../lock-options.js';
import type { LockManager } from '../lock.js';
import { checkOptions } from '../option-checks.js';
import type { StorageManager } from '../storage.js';
import type { CloudEventMiddleware, OrchestrationMiddleware } from './cloud-orchestration-actor.js';
import type { DurableCloudEvent } from './cloudevent.js';
import type { MachineContextOf, MachineSnapshotOf } from './machine-types.js';
import { resolveMiddlewareKeys, resolveStateKey, unknownStates } from './state-keys.js';

/** One registered version of the orchestration machine. */
export interface OrchestrationVersion<TLogic extends AnyStateMachine = AnyStateMachine> {
  /** Version label stored with every process that starts on it (for life). */
  version: string;
  /** The machine. */
  logic: TLogic;
}

/** A request to start a process; idempotent (create-if-absent). */
export interface OrchestrationStart<TLogic extends AnyStateMachine = AnyStateMachine> {
  /** The new process id; later events carry it as `subject`. */
  subject: string;
  /** The machine's input (`context: ({ input }) => ...`). */
  input?: InputFrom<TLogic>;
  /** Version to start on. @default the newest (last) of `versions` */
  version?: string;
}

/** Facts about one process after a batch. */
export interface ProcessState {
  /** The pinned machine version. */
  version: string;
  /** xstate state value. */
  value: StateValue;
  /** xstate status: `active`, `done`, ... */
  status: string;
  /** Transitions applied so far. */
  sequence: number;
}

/** Called after a process's snapshot was saved, with the machine's typed snapshot. */
export type OnSnapshot<TLogic extends AnyStateMachine = AnyStateMachine> = (
  subject: string,
  snapshot: MachineSnapshotOf<TLogic>,
  state: ProcessState,
) => void | Promise<void>;

/**
 * Options for {@link orchestrateCloudEvents}. `TLogic` is the machine, inferred from `versions`
 * (when versions are different machines, pass their union: `<typeof v1 | typeof v2>`): the
 * middleware sees its typed snapshot and may only return its events.
 */
export interface OrchestrateCloudEventsOptions<TLogic extends AnyStateMachine = AnyStateMachine> {
  /** Registered machine versions, oldest first: the last one serves new starts. */
  versions: readonly OrchestrationVersion<TLogic>[];
  /** Where processes live (one key per process). */
  storage: StorageManager;
  /** Serialises work on one process; required for `read-write`. */
  lock?: LockManager;
  /**
   * `read-write`: one lease per subject for the whole group. `write`: no lease; each save is
   * conditional on the version read and a conflict re-runs the group.
   * @default "read-write" when a lock is given, "write" otherwise
   */
  locking?: LockingMode;
  /** `source` of emitted and error events. @default "durable.orchestrator" */
  source?: string;
  /** Storage (and lock) key prefix of processes; their due timers are indexed under `<prefix>-timers/`. @default "orchestrations" */
  prefix?: string;
  /** Subjects processed at the same time. @default 4 */
  concurrency?: number;
  /** Wait for a subject's lease before reporting `LOCK_TIMEOUT` (as `LockManager.acquire`). @default 1.5 × ttlMs (15000) */
  waitMs?: number;
  /** Lease duration of a subject (as `LockManager.acquire`). @default 10000 */
  ttlMs?: number;
  /**
   * Applied inputs remembered per process (with the events each produced) for redelivery; older
   * ones are forgotten, so the stored process stays small. @default 200
   */
  redeliveryWindow?: number;
  /** Re-runs of a subject's group after a save `CONFLICT`. @default 5 */
  maxConflictRetries?: number;
  /** Time source for events whose trigger has no `time`. @default Date.now */
  clock?: Clock;
  /** CloudEvent type → transform into the machine event (the `cloudevent` middleware). */
  onCloudEvent?: NoInfer<Readonly<Record<string, CloudEventMiddleware<TLogic>>>>;
  /**
   * State → CloudEvents to emit on entry (the `orchestration` middleware). Keys are dotted paths
   * from the root or xstate `#id` references; every key must name a state of a registered version.
   */
  onOrchestrationState?: NoInfer<Readonly<Record<string, OrchestrationMiddleware<TLogic>>>>;
  /** Called after each process touched by the batch was saved; a failure goes to the logger. */
  onSnapshot?: NoInfer<OnSnapshot<TLogic>>;
  /**
   * Pino-shaped logger: events not accepted in their state, and failures after a commit (a lease
   * release, `onSnapshot`). @default console for failures after a commit; no log of events not accepted
   */
  logger?: DurableLogger;
}

/** An event the process's current state did not accept: not applied, not recorded as applied. */
export interface NotAcceptedEvent {
  /** The process. */
  subject: string;
  /** The event's `id`, `source` and `type`. */
  id: string;
  source: string;
  type: string;
  /** The process's active leaf states when the event arrived. */
  states: string[];
  /** xstate status of the process (`done` accepts nothing). */
  status: string;
}

/** What {@link orchestrateCloudEvents} returns. */
export interface OrchestrationResult<TLogic extends AnyStateMachine = AnyStateMachine> {
  /** `cmd.*` and `notif.*` CloudEvents to publish, in input order per subject. */
  eventsToEmit: DurableCloudEvent[];
  /** One {@link ORCHESTRATION_ERROR_TYPE} CloudEvent per input (event or start) that failed. */
  errors: DurableCloudEvent[];
  /** Events their process's state did not accept (a redelivery is evaluated again). */
  notAccepted: NotAcceptedEvent[];
  /** Context of every process the batch touched, by subject. */
  processIdContext: Record<string, MachineContextOf<TLogic>>;
  /** Version, state value and status of every process the batch touched, by subject. */
  processes: Record<string, ProcessState>;
}

/** @internal The checked options with their defaults. */
export interface OrchestrationConfig {
  readonly options: OrchestrateCloudEventsOptions;
  /** Version → machine and its middleware keyed by state path. */
  readonly versions: ReadonlyMap<
    string,
    { logic: AnyStateMachine; orchestration?: Readonly<Record<string, OrchestrationMiddleware>> }
  >;
  readonly newest: string;
  readonly locking: LockingMode;
  readonly lease: { ttlMs: number; waitMs: number };
  readonly source: string;
  readonly prefix: string;
  readonly clock: Clock;
  readonly concurrency: number;
  readonly redeliveryWindow: number;
  readonly maxConflictRetries: number;
}

const CONTEXT = 'orchestrator';
const KNOWN = [
  'versions',
  'storage',
  'lock',
  'locking',
  'source',
  'prefix',
  'concurrency',
  'waitMs',
  'ttlMs',
  'redeliveryWindow',
  'maxConflictRetries',
  'clock',
  'onCloudEvent',
  'onOrchestrationState',
  'onSnapshot',
  'logger',
] as const;
const RENAMED = {
  statemachine: 'versions ([{ version, logic }], oldest first)',
  storageManager: 'storage (a StorageManager; pass the lock as lock)',
  lockingManager: 'lock',
  lockManager: 'lock',
  persistence: 'storage (and lock)',
  lockTtlMs: 'ttlMs (the lease duration, as LockManager.acquire names it)',
  acquireLockMaxTimeout: 'waitMs (how long to wait for a lease, as LockManager.acquire names it)',
  keyPrefix: 'prefix (the key prefix of processes, as every storage names it)',
} as const;

/** @internal Checks the options before any I/O (`CONFIG` naming the option) and applies defaults. */
export function resolveOrchestration(options: OrchestrateCloudEventsOptions): OrchestrationConfig {
  checkOptions(options, CONTEXT, {
    known: KNOWN,
    required: ['versions', 'storage'],
    renamed: RENAMED,
  });
  assertMethods(options.storage, ['read', 'write'], 'storage', 'a StorageManager', CONTEXT);
  if (options.lock !== undefined)
    assertMethods(options.lock, ['acquire'], 'lock', 'a LockManager', CONTEXT);
  if (options.logger !== undefined)
    assertMethods(options.logger, ['warn'], 'logger', 'a pino-shaped logger', CONTEXT);
  for (const name of ['onSnapshot', 'clock'] as const) {
    if (options[name] !== undefined && typeof options[name] !== 'function') {
      throw new DurableError(
        ErrorCode.CONFIG,
        `${CONTEXT}: ${name} must be a function, got ${describeValue(options[name])}`,
        { details: { option: name } },
      );
    }
  }
  const versions = resolveVersions(options);
  const locking = resolveLocking(options.locking, options.lock !== undefined, CONTEXT);
  const prefix = options.prefix ?? 'orchestrations';
  assertValidKey(prefix, CONTEXT);
  return {
    options,
    versions,
    newest: (options.versions[options.versions.length - 1] as OrchestrationVersion).version,
    locking,
    lease: leaseOptions(options, CONTEXT),
    source: options.source ?? 'durable.orchestrator',
    prefix,
    clock: options.clock ?? systemClock,
    concurrency: positiveInteger(options.concurrency, 4, 'concurrency'),
    redeliveryWindow: positiveInteger(options.redeliveryWindow, 200, 'redeliveryWindow'),
    maxConflictRetries: positiveInteger(options.maxConflictRetries, 5, 'maxConflictRetries', 0),
  };
}

function resolveVersions(options: OrchestrateCloudEventsOptions): OrchestrationConfig['versions'] {
  if (!Array.isArray(options.versions) || options.versions.length === 0) {
    throw new DurableError(
      ErrorCode.CONFIG,
      `${CONTEXT}: at least one machine version is needed (versions: [{ version, logic }])`,
      { details: { option: 'versions' } },
    );
  }
  const versions = new Map<
    string,
    { logic: AnyStateMachine; orchestration?: Readonly<Record<string, OrchestrationMiddleware>> }
  >();
  const middleware = options.onOrchestrationState;
  for (const entry of options.versions as readonly unknown[]) {
    checkOptions(entry, `${CONTEXT}: versions[${versions.size}]`, {
      known: ['version', 'logic'],
      required: ['version', 'logic'],
      renamed: { orchestrationMachine: 'logic', machine: 'logic' },
    });
    const { version, logic } = entry as OrchestrationVersion;
    if (typeof version !== 'string' || version.length === 0 || versions.has(version)) {
      throw new DurableError(
        ErrorCode.CONFIG,
        `${CONTEXT}: machine versions must be distinct non-empty strings (${String(version)})`,
        { details: { option: 'versions' } },
      );
    }
    if (
      typeof logic !== 'object' ||
      logic === null ||
      typeof (logic as { root?: unknown }).root !== 'object'
    ) {
      throw new DurableError(
        ErrorCode.CONFIG,
        `${CONTEXT}: versions[].logic of ${version} must be an xstate machine (createMachine / setup().createMachine)`,
        { details: { option: 'versions' } },
      );
    }
    versions.set(version, {
      logic,
      // Lenient per version: a key may name a state that only another registered version has.
      ...(middleware === undefined
        ? {}
        : { orchestration: resolveMiddlewareKeys(logic, middleware, CONTEXT, true) }),
    });
  }
  if (middleware !== undefined) {
    const machines = [...versions.values()].map((entry) => entry.logic);
    const unknown = Object.keys(middleware).filter((key) =>
      machines.every((logic) => resolveStateKey(logic, key) === undefined),
    );
    if (unknown.length > 0)
      throw unknownStates(machines[machines.length - 1] as AnyStateMachine, unknown, CONTEXT);
  }
  return versions;
}

function positiveInteger(
  value: number | undefined,
  fallback: number,
  name: string,
  min = 1,
): number {
  const resolved = value ?? fallback;
  if (!Number.isInteger(resolved) || resolved < min) {
    throw new DurableError(
      ErrorCode.CONFIG,
      `${CONTEXT}: ${name} must be an integer >= ${min}, got ${describeValue(value)}`,
      { details: { option: name } },
    );
  }
  return resolved;
}
