import type { Actor, AnyActorLogic, SnapshotFrom } from 'xstate';
import { toBackendError } from '../errors.js';
import { assertValidKey } from '../keys.js';
import { checkActorOptions } from './actor-options.js';
import type { MachineRef } from './envelope.js';
import { decodeEnvelope } from './envelope.js';
import type { PersistedActorOptions } from './persisted-actor.js';
import { PersistedActor } from './persisted-actor.js';
import { assertAcceptedVersion, restoreActor } from './restore.js';
import type { PendingTimer } from './timers.js';
import { loadTelemetry, startSpan } from '../telemetry.js';

/**
 * Loads the actor, runs `fn`, saves, and always closes (the lease is released also when `init`,
 * `fn` or `save` throw). Returns what `fn` returned. Once the save committed, the call resolves:
 * a failure to release the lease afterwards goes to the `logger` (the lease expires by itself),
 * so a caller never retries an update that landed.
 */
export async function withPersistedActor<TLogic extends AnyActorLogic, T>(
  options: PersistedActorOptions<TLogic>,
  fn: (actor: Actor<TLogic>, persisted: PersistedActor<TLogic>) => T | Promise<T>,
): Promise<T> {
  const persisted = new PersistedActor(options);
  await loadTelemetry();
  // One span per cycle (load, the callback, save); spans the callback starts are its children.
  const span = startSpan('durable.actor.cycle', { 'durable.actor.key': String(options.id) });
  let outcome = 'failed';
  let failure: unknown;
  try {
    return await span.run(async () => {
      const actor = await persisted.init();
      const result = await fn(actor, persisted);
      await persisted.save();
      outcome = 'saved';
      return result;
    });
  } catch (error) {
    failure = error;
    throw error;
  } finally {
    await persisted.close(); // never throws: release failures go to the logger
    span.end(outcome, failure);
  }
}

/** What {@link inspectPersistedActor} returns about a stored actor. */
export interface PersistedActorView<TLogic extends AnyActorLogic> {
  /** The restored snapshot (state value, context, status), from an actor that was never started. */
  snapshot: SnapshotFrom<TLogic>;
  /** Machine id and version it was saved with. */
  machine: MachineRef;
  /** Storage version of the stored envelope. */
  storageVersion: string;
  /** Epoch milliseconds of its last save. */
  savedAt: number;
  /** Delayed events that were pending at its last save, soonest first. */
  timers: readonly PendingTimer[];
}

/**
 * Reads a stored actor for inspection: no lease, no write, and the actor is never started (no
 * entry action or invoked promise runs). `undefined` when nothing is stored; the same version and
 * snapshot checks as `init()` (`VERSION_UNKNOWN`, `INVALID_SNAPSHOT`). The lock options are ignored.
 */
export async function inspectPersistedActor<TLogic extends AnyActorLogic>(
  options: PersistedActorOptions<TLogic>,
): Promise<PersistedActorView<TLogic> | undefined> {
  checkActorOptions(options, 'actor');
  assertValidKey(options.id, 'actor');
  let entry: { data: Uint8Array; version: string } | undefined;
  try {
    entry = await options.storage.read(options.id);
  } catch (error) {
    throw toBackendError(error, `actor: read failed for ${options.id}`);
  }
  if (entry === undefined) return undefined;
  const envelope = decodeEnvelope(entry.data, options.id);
  const version = options.version ?? '1';
  assertAcceptedVersion(options.id, envelope, new Set(options.acceptVersions ?? [version]));
  const { actor, machine } = restoreActor(options, envelope, version, { start: false });
  return {
    snapshot: actor.getSnapshot() as SnapshotFrom<TLogic>,
    machine,
    storageVersion: entry.version,
    savedAt: envelope.savedAt,
    timers: envelope.timers ?? [],
  };
}
