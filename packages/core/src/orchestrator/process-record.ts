import type { Snapshot } from 'xstate';
import type { ActorEnvelope } from '../actor/envelope.js';
import { ACTOR_ENVELOPE_FORMAT, decodeEnvelope, encodeEnvelope } from '../actor/envelope.js';
import type { PendingTimer } from '../actor/timers.js';
import { createLockToken } from '../lease.js';
import { DurableError, ErrorCode } from '../errors.js';
import type { DurableCloudEvent } from './cloudevent.js';

/** Dedup key of the start of a process in its redelivery window. */
export const START_KEY = 'start';

/** One orchestration process as stored: its pinned version, snapshot and redelivery window. */
export interface ProcessRecord {
  /** Machine id. */
  machineId: string;
  /** The machine version the process started with; it keeps it for life. */
  version: string;
  /** Persisted xstate snapshot. */
  snapshot: Snapshot<unknown>;
  /** Transitions applied so far; emitted ids derive from it. */
  sequence: number;
  /**
   * Inputs already applied (`source` NUL `id`, or {@link START_KEY}) with the events each produced,
   * oldest first, so a redelivered input returns the same events instead of being applied twice.
   */
  applied: Map<string, DurableCloudEvent[]>;
  /** Delayed events pending at the save, soonest first; each also has an entry in the due index. */
  timers: PendingTimer[];
}

interface StoredOrchestration {
  sequence: number;
  applied: Array<[string, DurableCloudEvent[]]>;
}

/** Serialises a record into the shared actor envelope (the window rides in `extensions`). */
export function encodeProcessRecord(record: ProcessRecord, key: string, savedAt: number): string {
  const orchestration: StoredOrchestration = {
    sequence: record.sequence,
    applied: [...record.applied],
  };
  const envelope: ActorEnvelope = {
    format: ACTOR_ENVELOPE_FORMAT,
    machine: { id: record.machineId, version: record.version },
    snapshot: record.snapshot,
    savedAt,
    writeId: createLockToken(),
    ...(record.timers.length === 0 ? {} : { timers: record.timers }),
    extensions: { orchestration },
  };
  return encodeEnvelope(envelope, key);
}

/** Parses a stored process; `INVALID_SNAPSHOT` (stored bytes untouched) when it is not one. */
export function decodeProcessRecord(data: Uint8Array, key: string): ProcessRecord {
  const envelope = decodeEnvelope(data, key);
  const orchestration = envelope.extensions?.['orchestration'] as
    | Partial<StoredOrchestration>
    | undefined;
  if (
    typeof orchestration !== 'object' ||
    orchestration === null ||
    typeof orchestration.sequence !== 'number' ||
    !Array.isArray(orchestration.applied) ||
    !orchestration.applied.every(
      (entry) => Array.isArray(entry) && typeof entry[0] === 'string' && Array.isArray(entry[1]),
    )
  ) {
    throw new DurableError(
      ErrorCode.INVALID_SNAPSHOT,
      `orchestrator: stored process ${key} has no readable orchestration state`,
      {
        details: { key },
      },
    );
  }
  return {
    machineId: envelope.machine.id,
    version: envelope.machine.version,
    snapshot: envelope.snapshot as Snapshot<unknown>,
    sequence: orchestration.sequence,
    applied: new Map(orchestration.applied),
    timers: [...(envelope.timers ?? [])],
  };
}

/**
 * Drops the oldest applied inputs beyond `size` (Map keeps insertion order). The start entry is
 * kept for the life of the process, so a redelivered start always returns its events.
 */
export function trimWindow(applied: Map<string, DurableCloudEvent[]>, size: number): void {
  const limit = size + (applied.has(START_KEY) ? 1 : 0);
  for (const key of applied.keys()) {
    if (applied.size <= limit) return;
    if (key !== START_KEY) applied.delete(key);
  }
}
