import { toBackendError } from '../errors.js';
import { assertValidKey } from '../keys.js';
import type { LockHolder, LockManager } from '../lock.js';
import type { StorageManager } from '../storage.js';
import type { MachineRef } from './envelope.js';
import { decodeEnvelope } from './envelope.js';

/** What {@link readStoredActor} tells about a stored actor, without its machine. */
export interface StoredActorView {
  /** The actor's key (its storage key and lease key). */
  key: string;
  /** The machine id and version the actor was saved with. */
  machine: MachineRef;
  /** The state value as persisted (a string, or an object for nested and parallel states). */
  value: unknown;
  /** The machine context as persisted. */
  context: unknown;
  /** xstate's snapshot status (`active`, `done`, `error`, `stopped`). */
  status: unknown;
  /** Epoch milliseconds of its last save. */
  savedAt: number;
  /** Storage version of the stored envelope. */
  storageVersion: string;
  /**
   * The live lease on the key (fencing token and expiry) when a lock that can tell
   * (`LockManager.holder`) was given and someone holds it; absent otherwise.
   */
  holder?: LockHolder;
  /** Whether the lock could be asked (false without a lock or without `holder`). */
  holderKnown: boolean;
}

/** Where {@link readStoredActor} reads: the storage (and lock) the actor was given. */
export interface ReadStoredActorOptions {
  storage: StorageManager;
  /** The actor's lock, to report its lease holder (needs `LockManager.holder`). */
  lock?: LockManager;
}

/**
 * Reads a stored actor for an operator (the CLI, the console): machine, state value, context,
 * save time and lease holder, without the machine definition, without a lease, and without
 * writing anything. `undefined` when nothing is stored; `INVALID_SNAPSHOT` when the value is not
 * an actor envelope. Use `inspectPersistedActor` to restore a typed snapshot with the machine.
 */
export async function readStoredActor(
  options: ReadStoredActorOptions,
  key: string,
): Promise<StoredActorView | undefined> {
  assertValidKey(key, 'actor: read');
  let entry: { data: Uint8Array; version: string } | undefined;
  try {
    entry = await options.storage.read(key);
  } catch (error) {
    throw toBackendError(error, `actor: read failed for ${key}`);
  }
  if (entry === undefined) return undefined;
  const envelope = decodeEnvelope(entry.data, key);
  const snapshot = envelope.snapshot as { value?: unknown; context?: unknown; status?: unknown };
  const view: StoredActorView = {
    key,
    machine: envelope.machine,
    value: snapshot.value,
    context: snapshot.context,
    status: snapshot.status,
    savedAt: envelope.savedAt,
    storageVersion: entry.version,
    holderKnown: typeof options.lock?.holder === 'function',
  };
  if (options.lock?.holder !== undefined) {
    let holder: LockHolder | undefined;
    try {
      holder = await options.lock.holder(key);
    } catch (error) {
      throw toBackendError(error, `actor: asking the lock who holds ${key} failed`);
    }
    if (holder !== undefined) view.holder = holder;
  }
  return view;
}
