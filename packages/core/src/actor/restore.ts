import type { Actor, AnyActorLogic, Snapshot } from 'xstate';
import { DurableError, ErrorCode, isDurableError } from '../errors.js';
import type { ActorEnvelope, MachineRef } from './envelope.js';
import type { ActorCreator } from './persisted-actor.js';

/** What restoring needs from the actor options. */
interface RestoreOptions<TLogic extends AnyActorLogic> {
  id: string;
  machineId?: string;
  actorCreator: ActorCreator<TLogic>;
}

/**
 * @internal Builds the actor from a stored envelope (or fresh) and, with `start`, starts it.
 * A snapshot of another machine id is `VERSION_UNKNOWN`; one the machine cannot restore (a state
 * it no longer has) is `INVALID_SNAPSHOT` naming the reason and pointing at versions.
 */
export function restoreActor<TLogic extends AnyActorLogic>(
  options: RestoreOptions<TLogic>,
  envelope: ActorEnvelope | undefined,
  version: string,
  how: { start: boolean },
): { actor: Actor<TLogic>; machine: MachineRef } {
  const snapshot = envelope?.snapshot as Snapshot<unknown> | undefined;
  let actor: Actor<TLogic>;
  try {
    actor = options.actorCreator(options.id, snapshot, envelope?.machine);
    // An error inside the machine must reach us, not become an unhandled error of the process.
    actor.subscribe({ error: () => undefined });
    if (how.start) actor.start();
  } catch (cause) {
    if (envelope === undefined || isDurableError(cause)) throw cause;
    assertSameMachine(options.id, envelope, probeMachineId(options));
    throw unrestorable(options.id, envelope, cause);
  }
  const machineId = options.machineId ?? logicId(actor) ?? 'actor';
  if (envelope !== undefined) {
    try {
      assertSameMachine(options.id, envelope, machineId);
    } catch (error) {
      actor.stop();
      throw error;
    }
  }
  const state = actor.getSnapshot() as { status?: string; error?: unknown };
  if (state.status === 'error') {
    actor.stop();
    if (envelope !== undefined) throw unrestorable(options.id, envelope, state.error);
    throw new DurableError(
      ErrorCode.CONFIG,
      `actor: ${options.id} failed to start: ${reasonOf(state.error)}`,
      {
        cause: state.error,
        details: { key: options.id },
      },
    );
  }
  return { actor, machine: envelope?.machine ?? { id: machineId, version } };
}

/** @internal `VERSION_UNKNOWN` unless the stored machine version is one this code accepts. */
export function assertAcceptedVersion(
  key: string,
  envelope: ActorEnvelope,
  accepted: ReadonlySet<string>,
): void {
  if (accepted.has(envelope.machine.version)) return;
  throw new DurableError(
    ErrorCode.VERSION_UNKNOWN,
    `actor: ${key} was saved by machine version ${
      envelope.machine.version
    }, which this code does not know (known: ${[...accepted].join(
      ', ',
    )}); add it to acceptVersions with an actorCreator that builds that version`,
    { details: { key, version: envelope.machine.version } },
  );
}

function unrestorable(key: string, envelope: ActorEnvelope, cause: unknown): DurableError {
  const { id, version } = envelope.machine;
  return new DurableError(
    ErrorCode.INVALID_SNAPSHOT,
    `actor: stored snapshot of ${key} (machine ${id} version ${version}) cannot be restored into the machine: ${reasonOf(
      cause,
    )}. ` +
      `If the machine changed since it was saved, bump the machine version and register the old one (acceptVersions, with an actorCreator that builds it for stored version ${version})`,
    { cause, details: { key, machineId: id, version } },
  );
}

function assertSameMachine(
  key: string,
  envelope: ActorEnvelope,
  machineId: string | undefined,
): void {
  if (machineId === undefined || envelope.machine.id === machineId) return;
  throw new DurableError(
    ErrorCode.VERSION_UNKNOWN,
    `actor: ${key} holds a snapshot of machine ${envelope.machine.id}, not of ${machineId}`,
    { details: { key, machineId: envelope.machine.id } },
  );
}

// Only on the error path: the snapshot did not restore, so learn which machine this code runs
// from an unstarted fresh actor, to tell "another machine" from "a corrupt snapshot".
function probeMachineId<TLogic extends AnyActorLogic>(
  options: RestoreOptions<TLogic>,
): string | undefined {
  if (options.machineId !== undefined) return options.machineId;
  try {
    return logicId(options.actorCreator(options.id, undefined, undefined));
  } catch {
    return undefined;
  }
}

function logicId(actor: Actor<AnyActorLogic>): string | undefined {
  const id = (actor.logic as { id?: unknown }).id;
  return typeof id === 'string' ? id : undefined;
}

function reasonOf(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}
