import type { Actor, AnyActorLogic, Snapshot } from 'xstate';
import type { Clock } from '../clock.js';
import { systemClock } from '../clock.js';
import { DurableError, ErrorCode, isDurableError, toBackendError } from '../errors.js';
import { assertValidKey } from '../keys.js';
import { createLockToken } from '../lease.js';
import type { Lease, LockManager } from '../lock.js';
import type { StorageManager } from '../storage.js';
import { checkActorOptions } from './actor-options.js';
import type { MachineRef } from './envelope.js';
import { decodeEnvelope, envelopeAround, serialiseSnapshot } from './envelope.js';
import type { LockingMode } from './locking.js';
import { LockingMode as Modes, acquireLease, leaseOptions, resolveLocking } from './locking.js';
import type { DurableLogger } from './logger.js';
import { consoleLogger, reportAfterCommit } from './logger.js';
import { logEvent } from '../telemetry.js';
import { writeRecognisingOwn } from './own-write.js';
import { assertAcceptedVersion, restoreActor } from './restore.js';
import type { PendingTimer } from './timers.js';
import { TimerBook } from './timers.js';

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
  /**
   * How long to wait for the lease before `LOCK_TIMEOUT`; the default outlasts the lease a
   * crashed holder leaves behind (the name `LockManager.acquire` uses). @default 1.5 × ttlMs (15000)
   */
  waitMs?: number;
  /** Lease duration; a held lease is extended every third of it (as `LockManager.acquire`). @default 10000 */
  ttlMs?: number;
  /** Version recorded for a new actor's machine. @default "1" */
  version?: string;
  /** Versions this code can load; any other stored version is `VERSION_UNKNOWN`. @default [version] */
  acceptVersions?: readonly string[];
  /** Machine id recorded in the envelope. @default the logic's `id` */
  machineId?: string;
  /** Builds the (unstarted) actor; `createActor(machine, { snapshot })` in most cases. */
  actorCreator: ActorCreator<TLogic>;
  /** Time source for `savedAt` and for the deadlines of pending timers. @default Date.now */
  clock?: Clock;
  /** Where failures after a commit go (a lease release that failed; the lease expires by itself). @default console */
  logger?: DurableLogger;
}

const CONTEXT = 'actor';

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
  private readonly lease: { ttlMs: number; waitMs: number };
  private readonly version: string;
  private readonly accepted: ReadonlySet<string>;
  private readonly clock: Clock;
  private readonly logger: DurableLogger;
  private current: Actor<TLogic> | undefined;
  private timerBook: TimerBook | undefined;
  private machineRef: MachineRef | undefined;
  private storedVersion: string | null = null;
  // The snapshot as loaded, to tell "nothing changed" (no write) from a change.
  private loadedSnapshot: string | undefined;
  private held: Lease | undefined;
  private keepAlive: NodeJS.Timeout | undefined;
  private lost: DurableError | undefined;
  private closed = false;

  constructor(options: PersistedActorOptions<TLogic>) {
    checkActorOptions(options, CONTEXT);
    assertValidKey(options.id, CONTEXT);
    this.options = options;
    this.id = options.id;
    this.locking = resolveLocking(options.locking, options.lock !== undefined, CONTEXT, this.id);
    this.lease = leaseOptions(options, CONTEXT);
    this.version = options.version ?? '1';
    this.accepted = new Set(options.acceptVersions ?? [this.version]);
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? consoleLogger;
  }

  /** The running actor; `init()` must have resolved. */
  get actor(): Actor<TLogic> {
    if (this.current === undefined) {
      throw new DurableError(
        ErrorCode.CONFIG,
        `actor: ${this.id} is not initialised (call init() first)`,
      );
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
    if (this.locking === Modes.READ_WRITE) await this.takeLease();
    try {
      const entry = await this.read();
      const envelope = entry === undefined ? undefined : decodeEnvelope(entry.data, this.id);
      if (envelope !== undefined) assertAcceptedVersion(this.id, envelope, this.accepted);
      const { actor, machine } = restoreActor(this.options, envelope, this.version, {
        start: true,
      });
      this.machineRef = machine;
      this.storedVersion = entry?.version ?? null;
      this.current = actor;
      try {
        this.timerBook = new TimerBook(actor, CONTEXT);
        this.rearmTimers(envelope?.timers ?? [], entry !== undefined);
        // A delay is stamped with our clock right after the transition that scheduled it, so an
        // injected clock gives exact deadlines (xstate itself stamps the system time).
        this.observeTimers();
        actor.subscribe({ next: () => this.observeTimers(), error: () => undefined });
      } catch (error) {
        this.current = undefined;
        actor.stop();
        throw error;
      }
      return actor;
    } catch (error) {
      await this.releaseLease();
      throw error;
    }
  }

  /**
   * Stores the actor's persisted snapshot; `CONFLICT` when someone else saved since our read.
   * A stored actor whose snapshot did not change since it was loaded is not written again.
   */
  async save(): Promise<string> {
    const actor = this.actor;
    if (this.lost !== undefined) throw this.lost;
    this.timerBook?.assertOwnDelaysOnly(`actor: save of ${this.id}`);
    const snapshot = serialiseSnapshot(actor.getPersistedSnapshot(), this.id);
    const timers = serialiseSnapshot(this.pendingTimers(), this.id);
    if (this.storedVersion !== null && `${snapshot}\u0000${timers}` === this.loadedSnapshot)
      return this.storedVersion;
    const body = envelopeAround(
      this.machineRef as MachineRef,
      snapshot,
      this.clock(),
      createLockToken(),
      timers,
    );
    // read-write: the write is still conditional on the version read, so even a holder whose
    // lease silently expired cannot overwrite the newer state of the one that took over.
    if (this.locking === Modes.READ_WRITE || this.options.lock === undefined)
      return this.write(body);
    const lease = await acquireLease(this.options.lock, this.id, this.lease, CONTEXT);
    let version: string;
    try {
      version = await this.write(body);
    } catch (error) {
      await lease.release().catch(() => undefined); // the save's own error is the one to report
      throw error;
    }
    // Committed: a failed release cannot undo it, so it must not fail the call (commit first).
    await lease.release().catch((error: unknown) => this.reportRelease(error));
    return version;
  }

  /**
   * Stops the actor and releases the lease. Safe to call more than once. A failed release is
   * sent to the logger, never thrown: the lease expires by itself, and a save before it stands.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.current?.stop();
    await this.releaseLease();
  }

  /**
   * The actor's pending delayed events (`after`, delayed `raise`/`sendTo` itself) with their
   * deadlines on `clock`: what `save()` records beside the snapshot.
   */
  pendingTimers(): PendingTimer[] {
    const book = this.timerBook;
    if (book === undefined) return [];
    // xstate stamps a delay with the system time; translate its remaining time onto our clock.
    return book.pending(
      (scheduled) => this.clock() + scheduled.startedAt + scheduled.delay - Date.now(),
    );
  }

  // Stored timers run again with the time they have left. One already due fires now, before
  // init() returns, in deadline order; one that an earlier firing cancelled (its state was left)
  // does not fire.
  private rearmTimers(timers: readonly PendingTimer[], stored: boolean): void {
    const book = this.timerBook as TimerBook;
    const now = this.clock();
    book.rearm(timers, now);
    // As loaded, before anything fires: a firing is a change to save.
    this.loadedSnapshot = stored ? this.snapshotText(this.actor) : undefined;
    for (const timer of timers) {
      if (timer.deadline <= now && book.isPending(timer)) book.fire(timer);
    }
  }

  private observeTimers(): void {
    const now = this.clock();
    this.timerBook?.pending((scheduled) => now + scheduled.delay);
  }

  private snapshotText(actor: Actor<AnyActorLogic>): string | undefined {
    try {
      return `${JSON.stringify(actor.getPersistedSnapshot())}\u0000${JSON.stringify(
        this.pendingTimers(),
      )}`;
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
      this.storedVersion = await writeRecognisingOwn(
        this.options.storage,
        this.id,
        body,
        this.storedVersion,
      );
      this.loadedSnapshot = undefined;
      return this.storedVersion;
    } catch (error) {
      if (isDurableError(error, ErrorCode.CONFLICT)) {
        throw new DurableError(
          ErrorCode.CONFLICT,
          `actor: save conflict for ${this.id}: it was saved by someone else since it was read`,
          {
            cause: error,
            retryable: true,
            details: { key: this.id },
          },
        );
      }
      throw toBackendError(error, `actor: save failed for ${this.id}`);
    }
  }

  private async takeLease(): Promise<void> {
    const lock = this.options.lock as LockManager;
    const options = this.lease;
    const lease = await acquireLease(lock, this.id, options, CONTEXT);
    this.held = lease;
    logEvent(
      this.logger,
      'debug',
      { key: this.id, fencingToken: lease.fencingToken, expiresAt: lease.expiresAt },
      `actor: lease taken on ${this.id}`,
    );
    // Extending at a third of the TTL leaves two chances before the lease can be taken over.
    this.keepAlive = setInterval(
      () => {
        lease.extend(options.ttlMs).then(
          () =>
            logEvent(
              this.logger,
              'debug',
              { key: this.id, fencingToken: lease.fencingToken, expiresAt: lease.expiresAt },
              `actor: lease extended on ${this.id}`,
            ),
          (error: unknown) => {
            this.lost = isDurableError(error, ErrorCode.LOCK_LOST)
              ? error
              : new DurableError(
                  ErrorCode.LOCK_LOST,
                  `actor: lease on ${this.id} could not be extended`,
                  { cause: error },
                );
            // The save that follows fails with LOCK_LOST: info, not warn, so it is not reported twice.
            logEvent(
              this.logger,
              'info',
              { key: this.id, fencingToken: lease.fencingToken, err: error },
              `actor: lease lost on ${this.id}`,
            );
            this.stopKeepAlive();
          },
        );
      },
      Math.max(1, Math.floor(options.ttlMs / 3)),
    );
    this.keepAlive.unref();
  }

  private stopKeepAlive(): void {
    if (this.keepAlive !== undefined) clearInterval(this.keepAlive);
    this.keepAlive = undefined;
  }

  private async releaseLease(): Promise<void> {
    this.stopKeepAlive();
    const lease = this.held;
    this.held = undefined;
    if (lease !== undefined)
      await lease.release().catch((error: unknown) => this.reportRelease(error));
  }

  private reportRelease(error: unknown): void {
    reportAfterCommit(
      this.logger,
      `actor: releasing the lease on ${this.id} failed (it expires by itself)`,
      error,
      { key: this.id },
    );
  }
}
