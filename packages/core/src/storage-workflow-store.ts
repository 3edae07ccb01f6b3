import type { ClaimTransition } from './claim-writes.js';
import { ClaimWrites } from './claim-writes.js';
import type { Clock } from './clock.js';
import { systemClock } from './clock.js';
import { DurableError, ErrorCode, isDurableError, toBackendError } from './errors.js';
import { assertValidPrefix } from './keys.js';
import { checkOptions } from './option-checks.js';
import type { Lease, LockManager } from './lock.js';
import type { StorageManager } from './storage.js';
import { bytesToText, listAll } from './storage.js';
import type {
  ClaimedWorkflow,
  NewWorkflow,
  WorkflowRecord,
  WorkflowStore,
} from './workflow-store.js';
import {
  assertClaimHeld,
  assertValidWorkflowId,
  createClaimToken,
  decodeWorkflowId,
  encodeWorkflowId,
  isFinishedStatus,
  isWorkflowDue,
  parseWorkflowRecord,
  workflowTransitions,
} from './workflow-store.js';

/**
 * Where a {@link StorageWorkflowStore} keeps one marker per unfinished workflow, so a claim
 * lists candidates without reading finished records. The default keeps markers as storage keys;
 * `@durable/fs` keeps them as files in one folder (a claim is then one readdir).
 */
export interface PendingIndex {
  /** Adds the marker of a new workflow (before its record is written). */
  add(id: string, createdAt: number): Promise<void>;
  /** Removes the marker of a finished or cancelled workflow; absent is fine. */
  remove(id: string): Promise<void>;
  /** The ids of every marker, in any order. */
  list(): Promise<string[]>;
  /** Removes the marker of `id`, whose record does not exist, once it is older than `maxAgeMs`. */
  removeOrphan(id: string, now: number, maxAgeMs: number): Promise<void>;
}

/** Options for {@link StorageWorkflowStore}. */
export interface StorageWorkflowStoreOptions {
  /** Where records live: any StorageManager (fs, S3, memory...). */
  storage: StorageManager;
  /**
   * A lock that serialises the changes of one workflow. Required when the storage cannot do
   * conditional writes (`capabilities.conditionalWrite: false`); otherwise compare-and-swap
   * alone keeps writes safe and the lock is used only when `lockWrites` is true.
   */
  lock?: LockManager;
  /** Also take the lock around each change on storage that has conditional writes. @default false */
  lockWrites?: boolean;
  /** Key prefix of every key the store writes (must end in "/"). @default "workflows/" */
  prefix?: string;
  /** Key prefix of the records (must end in "/"). @default `${prefix}records/` */
  recordsPrefix?: string;
  /** Where the pending markers live. @default markers as storage keys under `${prefix}pending/` */
  pending?: PendingIndex;
  /** What error messages call this store (a package building on it names itself). @default "storage workflow store" */
  name?: string;
  /** Time source, for tests. @default Date.now */
  clock?: Clock;
}

const DEFAULT_NAME = 'storage workflow store';
// A pending marker without its record (a crash between the two writes of insert) is dropped
// once it is this old.
const ORPHAN_MARKER_MS = 60_000;
const LOCK_TTL_MS = 30_000;
const LOCK_WAIT_MS = 10_000;

interface Held {
  token: string;
  version: string;
  record: WorkflowRecord;
}

/**
 * A {@link WorkflowStore} built only on the core storage (and, where needed, lock) contracts, so
 * workflows run on any backend pair, S3 + DynamoDB included. Each workflow is one JSON record
 * changed by compare-and-swap (or under the lock); a "pending" marker per unfinished workflow
 * lets claims find due work without reading finished ones.
 */
export class StorageWorkflowStore extends ClaimWrites implements WorkflowStore {
  private readonly storage: StorageManager;
  private readonly lock: LockManager | undefined;
  private readonly useLock: boolean;
  // No conditional writes: "only if absent" is checked apart from the write, so inserts lock too.
  private readonly insertLock: boolean;
  private readonly recordsPrefix: string;
  private readonly pending: PendingIndex;
  private readonly clock: Clock;
  // The record and version this instance last wrote under each claim: a write under the claim
  // tries that version first, so a step costs one conditional write (a conflict re-reads).
  private readonly held = new Map<string, Held>();
  private readonly lockPrefix: string;
  private readonly name: string;
  // Records seen not due before an instant (no wake-up events): claims skip them until then.
  private readonly notBefore = new Map<string, number>();

  constructor(options: StorageWorkflowStoreOptions) {
    super();
    checkOptions(options, options?.name ?? DEFAULT_NAME, {
      known: ['storage', 'lock', 'lockWrites', 'prefix', 'recordsPrefix', 'pending', 'name', 'clock'],
      required: ['storage'],
      renamed: { storageManager: 'storage', lockingManager: 'lock' },
    });
    if (typeof options.storage !== 'object' || options.storage === null || typeof options.storage.write !== 'function') {
      throw new DurableError(ErrorCode.CONFIG, `${options.name ?? DEFAULT_NAME}: "storage" must be a StorageManager`);
    }
    this.name = options.name ?? DEFAULT_NAME;
    this.storage = options.storage;
    this.lock = options.lock;
    this.insertLock = options.storage.capabilities?.conditionalWrite !== true;
    this.useLock = options.lockWrites === true || this.insertLock;
    if (this.useLock && this.lock === undefined) {
      throw new DurableError(ErrorCode.CONFIG, `${this.name}: this storage has no conditional writes, so a "lock" is required`);
    }
    const prefix = checkedPrefix(options.prefix ?? 'workflows/', 'prefix', this.name);
    this.recordsPrefix = checkedPrefix(options.recordsPrefix ?? `${prefix}records/`, 'recordsPrefix', this.name);
    this.pending = options.pending ?? new StoragePendingIndex(this.storage, `${prefix}pending/`);
    this.lockPrefix = `${prefix}locks/`;
    this.clock = options.clock ?? systemClock;
  }

  async insert(workflow: NewWorkflow): Promise<boolean> {
    const record = workflowTransitions.create(workflow, this.clock());
    const text = JSON.stringify(record);
    try {
      // Marker first: a crash between the two writes leaves an orphan marker (dropped later),
      // never a record that no claim would find.
      await this.pending.add(record.id, record.createdAt);
    } catch (error) {
      throw wrap(this.name, error, 'insert', record.id);
    }
    // Storage without conditional writes checks "only if absent" apart from the write: without
    // the lock, concurrent starts of one id could all win.
    return this.locked(record.id, LOCK_WAIT_MS, this.insertLock, async () => {
      try {
        await this.storage.write(this.recordKey(record.id), text, { ifVersion: null });
        return true;
      } catch (error) {
        if (isDurableError(error, ErrorCode.CONFLICT)) return false;
        if (!isDurableError(error, ErrorCode.UNKNOWN_OUTCOME)) throw wrap(this.name, error, 'insert', record.id);
        // Our write may have landed (a lost reply): it did if the record is ours to the byte.
        return (await this.readText(record.id)) === text;
      }
    });
  }

  async get(id: string): Promise<WorkflowRecord | undefined> {
    assertValidWorkflowId(id, `${this.name}: get`);
    return (await this.read(id))?.record;
  }

  async claim(options: { leaseMs: number }): Promise<ClaimedWorkflow | undefined> {
    let candidates: string[];
    try {
      candidates = await this.pending.list();
    } catch (error) {
      throw wrap(this.name, error, 'claim (list)', '*');
    }
    let unreadable: unknown;
    // Start at a random place so concurrent claimers spread out instead of racing for one record.
    const offset = Math.floor(Math.random() * candidates.length);
    for (let i = 0; i < candidates.length; i++) {
      const id = candidates[(offset + i) % candidates.length] as string;
      const skipUntil = this.notBefore.get(id);
      if (skipUntil !== undefined && skipUntil > this.clock()) continue;
      const token = createClaimToken();
      let claimed: WorkflowRecord | undefined;
      try {
        // Under the lock, look before locking: a claim must not hold up the running workflow's
        // own writes by taking its lock just to find it is not due.
        if (this.useLock && !(await this.looksDue(id))) continue;
        claimed = await this.change(id, (record) => {
          if (record === undefined) return undefined;
          const now = this.clock();
          if (!isWorkflowDue(record, now)) {
            this.remember(record);
            return undefined;
          }
          return workflowTransitions.claim(record, token, options.leaseMs, now);
        }, { claiming: true });
      } catch (error) {
        // One unreadable record must not stop every other workflow: go on, report it if idle.
        unreadable ??= error;
        continue;
      }
      if (claimed !== undefined) {
        this.notBefore.delete(id);
        return { token, record: claimed };
      }
    }
    if (unreadable !== undefined) throw unreadable;
    return undefined;
  }

  async signal(id: string, name: string, payload?: unknown): Promise<boolean> {
    assertValidWorkflowId(id, `${this.name}: signal`);
    this.notBefore.delete(id);
    const next = await this.change(id, (r) => (r === undefined ? undefined : workflowTransitions.signal(r, name, payload, this.clock())));
    return next !== undefined;
  }

  async cancel(id: string): Promise<boolean> {
    assertValidWorkflowId(id, `${this.name}: cancel`);
    const next = await this.change(id, (r) => (r === undefined ? undefined : workflowTransitions.cancel(r, this.clock())));
    if (next === undefined) return false;
    await this.dropMarker(id);
    return true;
  }

  protected override async finished(id: string, record: WorkflowRecord): Promise<void> {
    if (isFinishedStatus(record.status)) await this.dropMarker(id);
  }

  protected async underClaim(id: string, token: string, operation: string, apply: ClaimTransition): Promise<WorkflowRecord> {
    assertValidWorkflowId(id, `${this.name}: ${operation}`);
    const next = await this.change(id, (record) => {
      assertClaimHeld(record, token, operation, id);
      return apply(record, this.clock());
    }, { token });
    // With a token, change() never gives up: a held lock is waited for, a lost race read again.
    return next as WorkflowRecord;
  }

  /**
   * Applies `apply` to the current record and writes the result conditionally on the version
   * read (under the lock when the storage needs one), retrying on a lost race. `undefined`
   * from `apply` means "no change". A claim (`claiming`) tries once, giving up on a lost race
   * or a held lock, and tidies the pending marker of a record that is gone or finished.
   */
  private async change(
    id: string,
    apply: (record: WorkflowRecord | undefined) => WorkflowRecord | undefined,
    options: { token?: string; claiming?: boolean } = {},
  ): Promise<WorkflowRecord | undefined> {
    const waitMs = options.claiming === true ? 0 : LOCK_WAIT_MS;
    const attempt = async (): Promise<WorkflowRecord | undefined> => {
      let cached = !this.useLock && options.token !== undefined ? this.held.get(id) : undefined;
      if (cached !== undefined && cached.token !== options.token) cached = undefined;
      for (;;) {
        const current = cached ?? (await this.read(id));
        cached = undefined;
        if (options.claiming === true) {
          if (current === undefined) await this.pending.removeOrphan(id, this.clock(), ORPHAN_MARKER_MS);
          else if (isFinishedStatus(current.record.status)) await this.dropMarker(id);
        }
        const next = apply(current?.record);
        if (next === undefined) return undefined;
        const text = JSON.stringify(next);
        let version: string | undefined;
        try {
          version = await this.storage.write(this.recordKey(id), text, { ifVersion: current?.version ?? null });
        } catch (error) {
          const unknown = isDurableError(error, ErrorCode.UNKNOWN_OUTCOME);
          if (!unknown && !isDurableError(error, ErrorCode.CONFLICT)) throw wrap(this.name, error, 'write', id);
          this.held.delete(id);
          // A lost reply retried by the storage's client comes back as a conflict with our own
          // write: under a claim (or a claim attempt, whose token is fresh) the record holding
          // exactly what we wrote can only be ours, so it is a success, not a lost race.
          if (unknown || options.token !== undefined || options.claiming === true) {
            const now = await this.read(id);
            if (now !== undefined && JSON.stringify(now.record) === text) version = now.version;
          }
          if (version === undefined && options.claiming === true) return undefined;
        }
        if (version === undefined) continue;
        // The cache serves compare-and-swap writes only (under the lock, every change reads).
        if (!this.useLock) {
          if (next.claim !== undefined) this.held.set(id, { token: next.claim.token, version, record: next });
          else this.held.delete(id);
        }
        return next;
      }
    };
    try {
      return await this.locked(id, waitMs, this.useLock, attempt);
    } catch (error) {
      if (options.claiming === true && isDurableError(error, ErrorCode.LOCK_TIMEOUT)) return undefined;
      throw error;
    }
  }

  /** Runs `body` under the workflow's lock when `lock` is set (a busy lock waits `waitMs`). */
  private async locked<T>(id: string, waitMs: number, lock: boolean, body: () => Promise<T>): Promise<T> {
    if (!lock) return body();
    let lease: Lease;
    try {
      lease = await (this.lock as LockManager).acquire(`${this.lockPrefix}${encodeWorkflowId(id)}`, { ttlMs: LOCK_TTL_MS, waitMs });
    } catch (error) {
      if (isDurableError(error, ErrorCode.LOCK_TIMEOUT)) throw error;
      throw wrap(this.name, error, 'lock', id);
    }
    try {
      return await body();
    } finally {
      await lease.release().catch(() => false);
    }
  }

  private async readText(id: string): Promise<string | undefined> {
    try {
      const entry = await this.storage.read(this.recordKey(id));
      return entry === undefined ? undefined : bytesToText(entry.data);
    } catch (error) {
      throw wrap(this.name, error, 'read', id);
    }
  }

  private async read(id: string): Promise<{ record: WorkflowRecord; version: string } | undefined> {
    let entry;
    try {
      entry = await this.storage.read(this.recordKey(id));
    } catch (error) {
      throw wrap(this.name, error, 'read', id);
    }
    if (entry === undefined) return undefined;
    return { record: parseWorkflowRecord(bytesToText(entry.data), this.name), version: entry.version };
  }

  private async looksDue(id: string): Promise<boolean> {
    const current = await this.read(id);
    if (current === undefined || isWorkflowDue(current.record, this.clock())) return true;
    this.remember(current.record);
    return false;
  }

  private remember(record: WorkflowRecord): void {
    // Only a record no write but a signal can make due earlier: not a running one (its worker may
    // release it or sleep briefly), not one that waits for an event.
    if (record.status === 'running' || (record.wakeOn !== undefined && record.wakeOn.length > 0)) return;
    this.notBefore.set(record.id, record.runAt);
    if (this.notBefore.size > 100_000) this.notBefore.clear();
  }

  private async dropMarker(id: string): Promise<void> {
    this.held.delete(id);
    this.notBefore.delete(id);
    try {
      await this.pending.remove(id);
    } catch (error) {
      throw wrap(this.name, error, 'delete marker', id);
    }
  }

  private recordKey(id: string): string {
    return `${this.recordsPrefix}${encodeWorkflowId(id)}`;
  }
}

/** The default {@link PendingIndex}: one storage key per marker, holding the creation time. */
export class StoragePendingIndex implements PendingIndex {
  constructor(
    private readonly storage: StorageManager,
    private readonly prefix: string,
  ) {}

  async add(id: string, createdAt: number): Promise<void> {
    await this.storage.write(this.key(id), String(createdAt));
  }

  async remove(id: string): Promise<void> {
    await this.storage.delete(this.key(id));
  }

  async list(): Promise<string[]> {
    const ids: string[] = [];
    for await (const key of listAll(this.storage, this.prefix)) ids.push(decodeWorkflowId(key.slice(this.prefix.length)));
    return ids;
  }

  async removeOrphan(id: string, now: number, maxAgeMs: number): Promise<void> {
    const marker = await this.storage.read(this.key(id));
    if (marker === undefined) return;
    if (!(now - Number(bytesToText(marker.data)) > maxAgeMs)) return;
    await this.storage.delete(this.key(id), { ifVersion: marker.version }).catch(() => false);
  }

  private key(id: string): string {
    return `${this.prefix}${encodeWorkflowId(id)}`;
  }
}

function checkedPrefix(prefix: string, option: string, context: string): string {
  if (typeof prefix !== 'string' || !prefix.endsWith('/')) {
    throw new DurableError(ErrorCode.CONFIG, `${context}: ${option} must end with "/"`);
  }
  assertValidPrefix(prefix, context);
  return prefix;
}

function wrap(context: string, error: unknown, operation: string, id: string): DurableError {
  return toBackendError(error, `${context}: ${operation} failed for ${id}`, { details: { id } });
}

/** Creates a {@link StorageWorkflowStore}. */
export function createStorageWorkflowStore(options: StorageWorkflowStoreOptions): StorageWorkflowStore {
  return new StorageWorkflowStore(options);
}
