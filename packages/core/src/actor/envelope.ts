import { DurableError, ErrorCode } from '../errors.js';
import { bytesToText } from '../storage.js';
import type { PendingTimer } from './timers.js';
import { parseTimers } from './timers.js';

/** Format version of {@link ActorEnvelope}; a later change can still read this shape. */
export const ACTOR_ENVELOPE_FORMAT = 1;

/** Which machine (and which version of it) a stored snapshot belongs to. */
export interface MachineRef {
  /** The machine's id (`createMachine({ id })`). */
  readonly id: string;
  /** The version the application gave this machine definition. */
  readonly version: string;
}

/** What is stored under an actor's key: the persisted snapshot plus the facts needed to load it. */
export interface ActorEnvelope {
  /** Always {@link ACTOR_ENVELOPE_FORMAT} for this release. */
  readonly format: typeof ACTOR_ENVELOPE_FORMAT;
  /** The machine the snapshot was taken from. */
  readonly machine: MachineRef;
  /** `actor.getPersistedSnapshot()`, as JSON. */
  readonly snapshot: unknown;
  /** Epoch milliseconds of the save. */
  readonly savedAt: number;
  /**
   * A random id of this save, so a writer that lost the reply of its write can tell its own
   * write from another writer's identical state (two saves in the same millisecond). Optional:
   * envelopes of earlier releases have none.
   */
  readonly writeId?: string;
  /**
   * Delayed events pending when it was saved (xstate's snapshot drops them), re-armed on load.
   * Optional: absent means none (and envelopes of earlier releases have none).
   */
  readonly timers?: readonly PendingTimer[];
  /** Extra persisted state owned by a wrapper (the orchestrator keeps its redelivery window here). */
  readonly extensions?: Record<string, unknown>;
}

/**
 * Serialises an envelope; `SERIALIZATION` when the snapshot is not JSON: a BigInt, a cycle, or a
 * `NaN`/`Infinity`, which `JSON.stringify` would silently save as `null`.
 */
export function encodeEnvelope(envelope: ActorEnvelope, key: string): string {
  return serialise(envelope, key);
}

/**
 * @internal An envelope around an already serialised snapshot (from {@link serialiseSnapshot}),
 * byte for byte what {@link encodeEnvelope} gives, without serialising the snapshot twice.
 */
export function envelopeAround(
  machine: MachineRef,
  snapshotJson: string,
  savedAt: number,
  writeId: string,
  timersJson?: string,
): string {
  const timers = timersJson === undefined || timersJson === '[]' ? '' : `,"timers":${timersJson}`;
  return `{"format":${ACTOR_ENVELOPE_FORMAT},"machine":${JSON.stringify(
    machine,
  )},"snapshot":${snapshotJson},"savedAt":${JSON.stringify(savedAt)},"writeId":${JSON.stringify(
    writeId,
  )}${timers}}`;
}

/** @internal A snapshot as JSON; `SERIALIZATION` as for {@link encodeEnvelope}. */
export function serialiseSnapshot(snapshot: unknown, key: string): string {
  return serialise(snapshot, key);
}

function serialise(value: unknown, key: string): string {
  try {
    return stringifyFinite(value);
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new DurableError(
      ErrorCode.SERIALIZATION,
      `actor: snapshot of ${key} cannot be saved as JSON: ${reason} (keep the context plain JSON)`,
      {
        cause,
        details: { key },
      },
    );
  }
}

/**
 * @internal `JSON.stringify` that throws on `NaN` and `±Infinity` instead of writing `null`. The
 * checking replacer is three times slower, so it only runs when the fast result holds a `null`
 * (where a non-finite number would show).
 */
export function stringifyFinite(value: unknown): string {
  const text = JSON.stringify(value);
  if (text !== undefined && text.includes('null')) JSON.stringify(value, refuseNonFinite);
  return text;
}

function refuseNonFinite(this: unknown, name: string, value: unknown): unknown {
  if (typeof value === 'number' && !Number.isFinite(value)) {
    throw new TypeError(
      `${String(value)} under ${JSON.stringify(
        name,
      )} is not a JSON number (it would be saved as null)`,
    );
  }
  return value;
}

/**
 * Parses stored bytes into an envelope. Anything else (bad UTF-8, bad JSON, a foreign shape, an
 * unknown format) is `INVALID_SNAPSHOT`: the caller must refuse it, never start fresh over it.
 */
export function decodeEnvelope(data: Uint8Array, key: string): ActorEnvelope {
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytesToText(data));
  } catch (cause) {
    throw invalid(key, 'the stored bytes are not JSON', cause);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw invalid(key, 'the stored value is not an actor envelope');
  }
  const record = parsed as Record<string, unknown>;
  if (record['format'] !== ACTOR_ENVELOPE_FORMAT) {
    throw invalid(key, `unknown envelope format ${JSON.stringify(record['format'])}`);
  }
  const machine = record['machine'] as Record<string, unknown> | undefined;
  if (
    typeof machine !== 'object' ||
    machine === null ||
    typeof machine['id'] !== 'string' ||
    typeof machine['version'] !== 'string'
  ) {
    throw invalid(key, 'the envelope names no machine id and version');
  }
  const snapshot = record['snapshot'];
  if (typeof snapshot !== 'object' || snapshot === null || Array.isArray(snapshot)) {
    throw invalid(key, 'the envelope holds no snapshot object');
  }
  const extensions = record['extensions'];
  if (
    extensions !== undefined &&
    (typeof extensions !== 'object' || extensions === null || Array.isArray(extensions))
  ) {
    throw invalid(key, 'the envelope extensions are not an object');
  }
  const timers = parseTimers(record['timers']);
  if (timers === undefined)
    throw invalid(key, 'the envelope timers are not a list of { id, deadline, event }');
  return {
    format: ACTOR_ENVELOPE_FORMAT,
    machine: { id: machine['id'], version: machine['version'] },
    snapshot,
    ...(timers.length === 0 ? {} : { timers }),
    savedAt: typeof record['savedAt'] === 'number' ? record['savedAt'] : 0,
    ...(typeof record['writeId'] === 'string' ? { writeId: record['writeId'] } : {}),
    ...(extensions === undefined ? {} : { extensions: extensions as Record<string, unknown> }),
  };
}

function invalid(key: string, reason: string, cause?: unknown): DurableError {
  return new DurableError(
    ErrorCode.INVALID_SNAPSHOT,
    `actor: stored snapshot of ${key} is unreadable: ${reason}`,
    {
      ...(cause === undefined ? {} : { cause }),
      details: { key },
    },
  );
}
