import type { StateValue } from 'xstate';
import type { PendingTimer } from '../actor/timers.js';
import { DurableError, ErrorCode, toBackendError } from '../errors.js';
import { keyProblem } from '../keys.js';
import type { OrchestrateCloudEventsOptions, ProcessState } from './orchestrate-options.js';
import { decodeProcessRecord } from './process-record.js';
import { refuseKeyPrefix } from './list.js';

/** What {@link inspectOrchestration} returns about one process. */
export interface ProcessView extends ProcessState {
  /** The machine's context as stored. */
  context: unknown;
  /** Inputs remembered for redelivery (the start included). */
  remembered: number;
  /** Storage version of the stored process. */
  storageVersion: string;
  /** Delayed events pending at its last save, soonest first (`fireDueTimers` delivers them). */
  timers: readonly PendingTimer[];
}

/**
 * Reads one orchestration process for inspection: no lease, no write, no machine started.
 * `undefined` when no such process exists; `INVALID_SNAPSHOT` when the stored value is not one.
 * Takes the options of {@link orchestrateCloudEvents} (only `storage` and `prefix` are used).
 */
export async function inspectOrchestration(
  options: Pick<OrchestrateCloudEventsOptions, 'storage' | 'prefix'>,
  subject: string,
): Promise<ProcessView | undefined> {
  if (
    typeof options !== 'object' ||
    options === null ||
    typeof options.storage?.read !== 'function'
  ) {
    throw new DurableError(
      ErrorCode.CONFIG,
      'orchestrator: inspectOrchestration needs the options with a storage',
    );
  }
  refuseKeyPrefix(options, 'inspectOrchestration');
  const key = `${options.prefix ?? 'orchestrations'}/${subject}`;
  const problem = keyProblem(subject) ?? keyProblem(key);
  if (problem !== undefined) {
    throw new DurableError(
      ErrorCode.INVALID_KEY,
      `orchestrator: subject ${JSON.stringify(subject)} cannot name a process: ${problem}`,
    );
  }
  let entry: { data: Uint8Array; version: string } | undefined;
  try {
    entry = await options.storage.read(key);
  } catch (error) {
    throw toBackendError(error, `orchestrator: read failed for ${key}`);
  }
  if (entry === undefined) return undefined;
  const record = decodeProcessRecord(entry.data, key);
  const snapshot = record.snapshot as unknown as {
    value: StateValue;
    status: string;
    context?: unknown;
  };
  return {
    version: record.version,
    value: snapshot.value,
    status: snapshot.status,
    sequence: record.sequence,
    context: snapshot.context,
    remembered: record.applied.size,
    storageVersion: entry.version,
    timers: record.timers,
  };
}
