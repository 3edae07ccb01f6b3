import type { Actor, AnyActorLogic, Snapshot } from 'xstate';
import type { Clock } from '../clock.js';
import { systemClock } from '../clock.js';
import { DurableError, ErrorCode, isDurableError, toBackendError } from '../errors.js';
import { assertValidKey } from '../keys.js';
import type { Lease, LockManager } from '../lock.js';
import type { StorageManager } from '../storage.js';
import type { ActorEnvelope, MachineRef } from './envelope.js';
import { ACTOR_ENVELOPE_FORMAT, decodeEnvelope, encodeEnvelope } from './envelope.js';

/** How a persisted actor keeps concurrent invocations apart. */
export const LockingMode = {
  /** Lease taken before the read and held (and extended) until `close()`. */
  READ_WRITE: 'read-write',
  /** No lease for reading; `save()` is conditional on the version read (`CONFLICT` otherwise). */
  WRITE: 'write',
} as const;

/** One of {@link LockingMode}. */
export type LockingMode = (typeof LockingMode)[keyof typeof LockingMode];

/** Creates the actor for a key, from its stored snapshot when there is one. Must not start it. */
export type ActorCreator<TLogic extends AnyActorLogic> = (
  id: string,
  snapshot: Snapshot<unknown> | undefined,
  stored: MachineRef | undefined,
) => Actor<TLogic>;

/** Options for {@link PersistedActor} and {@link withPersistedActor}. */
export interface PersistedActorOptions<TLogic extends AnyActorLogic> {
  /** Storage key of the actor (the shared key rules apply); also the lock key. */
  id: string;
  /** Where the snapshot envelope lives. */
  storage: StorageManager;
  /** Serialises invocations; required for `read-write`. */
  lock?: LockManager;
  /** @default "read-write" when a lock is given, "write" otherwise */
  locking?: LockingMode;
  /** How long to wait for the lease before `LOCK_TIMEOUT`. @default 10000 */
  acquireLockMaxTimeout?: number;
  /** Lease duration; a held lease is extended every third of it. @default 30000 */
  lockTtlMs?: number;
  /** Version recorded for a new actor's machine. @default "1" */
  version?: string;
  /** Versions this code can load; any other stored version is `VERSION_UNKNOWN`. @default [version] */
  acceptVersions?: readonly string[];
  /** Machine id recorded in the envelope. @default the logic's `id` */
  machineId?: string;
  /** Builds the (unstarted) actor; `createActor(machine, { snapshot })` in most cases. */
  actorCreator: ActorCreator<TLogic>;
  /** Time source for `savedAt`. @default Date.now */
  clock?: Clock;
}

const DEFAULT_WAIT_MS = 10_000;
const DEFAULT_TTL_MS = 30_000;

/**
 * @internal The locking mode of an actor or orchestrator: `read-write` when a lock is given,
 * else `write`; an unknown mode, or `read-write` without a lock, is `CONFIG`.
 */
export function resolveLocking(locking: LockingMode | undefined, hasLock: boolean, context: string, about?: string): LockingMode {
  const mode = locking ?? (hasLock ? LockingMode.READ_WRITE : LockingMode.WRITE);
  if (mode !== LockingMode.READ_WRITE && mode !== LockingMode.WRITE) {
    throw new DurableError(ErrorCode.CONFIG, `${context}: unknown locking mode ${JSON.stringify(mode)}${about === undefined ? '' : ` for ${about}`}`);
  }
  if (mode === LockingMode.READ_WRITE && !hasLock) {
    throw new DurableError(ErrorCode.CONFIG, `${context}: locking "read-write" needs a lock manager${about === undefined ? '' : ` (${about})`}`);
  }
  return mode;
}

/** @internal The lease of a `read-write` actor or orchestrator: its TTL and how long to wait for it. */
export function leaseOptions(options: { lockTtlMs?: number; acquireLockMaxTimeout?: number }): { ttlMs: number; waitMs: number } {
  return { ttlMs: options.lockTtlMs ?? DEFAULT_TTL_MS, waitMs: options.acquireLockMaxTimeout ?? DEFAULT_WAIT_MS };
}

/**
 * An xstate actor that lives in storage between invocations: `init()` loads it, `save()` stores
 * it (conditionally on the version read), `close()` stops it and releases the lease.
 */
export class PersistedActor<TLogic extends AnyActorLogic> {
  /** Storage and lock key. */
  readonly id: string;
  /** The locking mode in force. */
  readonly locking: LockingMode;
  private readonly options: PersistedActorOptions<TLogic>;
  private readonly version: string;
  private readonly accepted: ReadonlySet<string>;
  private readonly clock: Clock;
  private current: Actor<TLogic> | undefined;
  private machineRef: MachineRef | undefined;
  private storedVersion: string | null = null;
  private lease: Lease | undefined;
  private keepAlive: NodeJS.Timeout | undefined;
  private lost: DurableError | undefined;
  private closed = false;

  constructor(options: PersistedActorOptions<TLogic>) {
    assertValidKey(options.id, 'actor');
    this.options = options;
    this.id = options.id;
    this.locking = resolveLocking(options.locking, options.lock !== undefined, 'actor', this.id);
    this.version = options.version ?? '1';
    this.accepted = new Set(options.acceptVersions ?? [this.version]);
    this.clock = options.clock ?? systemClock;
  }

  /** The running actor; `init()` must have resolved. */
  get actor(): Actor<TLogic> {
    if (this.current === undefined) {
      throw new DurableError(ErrorCode.CONFIG, `actor: ${this.id} is not initialised (call init() first)`);
    }
    return this.current;
  }

  /** Machine id and version of the loaded (or new) actor; pinned for every later save. */
  get machine(): MachineRef | undefined {
    return this.machineRef;
  }

  /** Storage version of the last read or save; `null` while the actor was never saved. */
  get storageVersion(): string | null {
    return this.storedVersion;
  }

  /** True when no snapshot was stored and the actor started fresh. */
  get isNew(): boolean {
    return this.storedVersion === null;
  }

  /** Takes the lease (`read-write`), reads the snapshot and starts the actor from it. */
  async init(): Promise<Actor<TLogic>> {
    if (this.current !== undefined) return this.current;
    if (this.closed) throw new DurableError(ErrorCode.CONFIG, `actor: ${this.id} is closed`);
    if (this.locking === LockingMode.READ_WRITE) await this.takeLease();
    try {
      const entry = await this.read();
      const envelope = entry === undefined ? undefined : decodeEnvelope(entry.data, this.id);
      if (envelope !== undefined && !this.accepted.has(envelope.machine.version)) {
        throw new DurableError(
          ErrorCode.VERSION_UNKNOWN,
          `actor: ${this.id} was saved by machine version ${envelope.machine.version}, which this code does not know (known: ${[...this.accepted].join(', ')})`,
          { details: { key: this.id, version: envelope.machine.version } },
        );
      }
      const actor = this.create(envelope);
      this.storedVersion = entry?.version ?? null;
      this.current = actor;
      return actor;
    } catch (error) {
      await this.releaseLease();
      throw error;
    }
  }

  /** Stores the actor's persisted snapshot; `CONFLICT` when someone else saved since our read. */
  async save(): Promise<string> {
    const actor = this.actor;
    if (this.lost !== undefined) throw this.lost;
    const machine = this.machineRef as MachineRef;
    const envelope: ActorEnvelope = {
      format: ACTOR_ENVELOPE_FORMAT,
      machine,
      snapshot: actor.getPersistedSnapshot(),
      savedAt: this.clock(),
    };
    const body = encodeEnvelope(envelope, this.id);
    // read-write: the write is still conditional on the version read, so even a holder whose
    // lease silently expired cannot overwrite the newer state of the one that took over.
    if (this.locking === LockingMode.READ_WRITE) return this.write(body);
    if (this.options.lock === undefined) return this.write(body);
    const lease = await this.options.lock.acquire(this.id, this.acquireOptions());
    try {
      return await this.write(body);
    } finally {
      await lease.release();
    }
  }

  /** Stops the actor and releases the lease. Safe to call more than once. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.current?.stop();
    await this.releaseLease();
  }

  private create(envelope: ActorEnvelope | undefined): Actor<TLogic> {
    const snapshot = envelope?.snapshot as Snapshot<unknown> | undefined;
    let actor: Actor<TLogic>;
    try {
      actor = this.options.actorCreator(this.id, snapshot, envelope?.machine);
      // An error inside the machine must reach us, not become an unhandled error of the process.
      actor.subscribe({ error: () => undefined });
      actor.start();
    } catch (cause) {
      if (envelope === undefined || isDurableError(cause)) throw cause;
      this.assertSameMachine(envelope, this.probeMachineId());
      throw new DurableError(ErrorCode.INVALID_SNAPSHOT, `actor: stored snapshot of ${this.id} cannot be restored into the machine`, {
        cause,
        details: { key: this.id },
      });
    }
    const machineId = this.options.machineId ?? logicId(actor) ?? 'actor';
    if (envelope !== undefined) {
      try {
        this.assertSameMachine(envelope, machineId);
      } catch (error) {
        actor.stop();
        throw error;
      }
    }
    const status = (actor.getSnapshot() as { status?: string }).status;
    if (status === 'error') {
      actor.stop();
      throw new DurableError(
        envelope === undefined ? ErrorCode.CONFIG : ErrorCode.INVALID_SNAPSHOT,
        `actor: ${this.id} failed to start`,
        { cause: (actor.getSnapshot() as { error?: unknown }).error, details: { key: this.id } },
      );
    }
    this.machineRef = envelope?.machine ?? { id: machineId, version: this.version };
    return actor;
  }

  private assertSameMachine(envelope: ActorEnvelope, machineId: string | undefined): void {
    if (machineId === undefined || envelope.machine.id === machineId) return;
    throw new DurableError(
      ErrorCode.VERSION_UNKNOWN,
      `actor: ${this.id} holds a snapshot of machine ${envelope.machine.id}, not of ${machineId}`,
      { details: { key: this.id, machineId: envelope.machine.id } },
    );
  }

  // Only on the error path: the snapshot did not restore, so learn which machine this code runs
  // from an unstarted fresh actor, to tell "another machine" from "a corrupt snapshot".
  private probeMachineId(): string | undefined {
    if (this.options.machineId !== undefined) return this.options.machineId;
    try {
      return logicId(this.options.actorCreator(this.id, undefined, undefined));
    } catch {
      return undefined;
    }
  }

  private async read(): Promise<{ data: Uint8Array; version: string } | undefined> {
    try {
      return await this.options.storage.read(this.id);
    } catch (error) {
      throw toBackendError(error, `actor: read failed for ${this.id}`);
    }
  }

  private async write(body: string): Promise<string> {
    try {
      this.storedVersion = await this.options.storage.write(this.id, body, { ifVersion: this.storedVersion });
      return this.storedVersion;
    } catch (error) {
      if (isDurableError(error, ErrorCode.CONFLICT)) {
        throw new DurableError(ErrorCode.CONFLICT, `actor: save conflict for ${this.id}: it was saved by someone else since it was read`, {
          cause: error,
          retryable: true,
          details: { key: this.id },
        });
      }
      throw toBackendError(error, `actor: save failed for ${this.id}`);
    }
  }

  private acquireOptions(): { ttlMs: number; waitMs: number } {
    return leaseOptions(this.options);
  }

  private async takeLease(): Promise<void> {
    const lock = this.options.lock as LockManager;
    const options = this.acquireOptions();
    this.lease = await lock.acquire(this.id, options);
    const lease = this.lease;
    // Extending at a third of the TTL leaves two chances before the lease can be taken over.
    this.keepAlive = setInterval(() => {
      lease.extend(options.ttlMs).catch((error: unknown) => {
        this.lost = isDurableError(error, ErrorCode.LOCK_LOST)
          ? error
          : new DurableError(ErrorCode.LOCK_LOST, `actor: lease on ${this.id} could not be extended`, { cause: error });
        this.stopKeepAlive();
      });
    }, Math.max(1, Math.floor(options.ttlMs / 3)));
    this.keepAlive.unref();
  }

  private stopKeepAlive(): void {
    if (this.keepAlive !== undefined) clearInterval(this.keepAlive);
    this.keepAlive = undefined;
  }

  private async releaseLease(): Promise<void> {
    this.stopKeepAlive();
    const lease = this.lease;
    this.lease = undefined;
    if (lease !== undefined) await lease.release();
  }
}

/**
 * Loads the actor, runs `fn`, saves, and always closes (the lease is released also when `init`,
 * `fn` or `save` throw). Returns what `fn` returned.
 */
export async function withPersistedActor<TLogic extends AnyActorLogic, T>(
  options: PersistedActorOptions<TLogic>,
  fn: (actor: Actor<TLogic>, persisted: PersistedActor<TLogic>) => T | Promise<T>,
): Promise<T> {
  const persisted = new PersistedActor(options);
  let failed = false;
  try {
    const actor = await persisted.init();
    const result = await fn(actor, persisted);
    await persisted.save();
    return result;
  } catch (error) {
    failed = true;
    throw error;
  } finally {
    // A failing release must not hide the error that got us here; on the happy path it surfaces.
    await persisted.close().catch((error: unknown) => {
      if (!failed) throw error;
    });
  }
}

function logicId(actor: Actor<AnyActorLogic>): string | undefined {
  const id = (actor.logic as { id?: unknown }).id;
  return typeof id === 'string' ? id : undefined;
}
