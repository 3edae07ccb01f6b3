import type { ClaimTransition } from './claim-writes.js';
import { ClaimWrites } from './claim-writes.js';
import type { Clock } from './clock.js';
import { systemClock } from './clock.js';
import { DurableError, ErrorCode, isDurableError, toBackendError } from './errors.js';
import { assertValidPrefix } from './keys.js';
import { StorageDueIndex } from './storage-due-index.js';
import type {
  WorkflowCounts,
  WorkflowListQuery,
  WorkflowPage,
  WorkflowSummary,
} from './workflow-listing.js';
import {
  checkWorkflowListQuery,
  countWorkflows,
  pageWorkflows,
  toWorkflowSummary,
} from './workflow-listing.js';
import type { StepLayout } from './storage-workflow-steps.js';
import { StepKeys, normalizeSteps } from './storage-workflow-steps.js';
import type { DueEntry } from './storage-due-index.js';
import { checkOptions } from './option-checks.js';
import type { Lease, LockManager } from './lock.js';
import type { StorageManager } from './storage.js';
import { bytesToText, listAll } from './storage.js';
import { WakeListeners } from './wake-listeners.js';
import type {
  ClaimedWorkflow,
  NewWorkflow,
  StepMemo,
  SuspendOptions,
  WorkflowRecord,
  WorkflowStore,
} from './workflow-store.js';
import {
  WorkflowStatus,
  assertClaimHeld,
  assertValidWorkflowId,
  checkStepPlacement,
  cloneJson,
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
  /**
   * How claims find unfinished workflows. By default, a due-time index of storage keys under
   * `${prefix}due/` (a claim lists only what is due, see {@link StorageDueIndex}). A
   * {@link PendingIndex} instead keeps one marker per unfinished workflow, and a claim lists
   * every marker (`@durable/fs` keeps them as files in one folder).
   */
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
// Due entries read per list request; more pages are read only while every entry is skipped.
const DUE_PAGE = 100;
const MAX_SKIPS = 100_000;
// Committed step memos kept in memory per store instance (get and re-claims read only newer ones).
const MAX_CACHED_MEMOS = 20_000;

/**
 * A record as stored: the workflow's record plus the store's own bookkeeping, which `get` and
 * `claim` strip. `dueKey` names the due-index entry the record relies on to be found (an entry
 * due no later than the record); `rev` grows with every write, so no two writes of a record
 * are the same bytes (S3's version, the ETag, is a hash of the bytes: without it a write could
 * bring back an earlier version and a stale compare-and-swap would pass).
 */
type StoredRecord = WorkflowRecord &
  StepLayout & { dueKey?: string; rev?: number; startToken?: string };

interface Held {
  token: string;
  version: string;
  record: StoredRecord;
  /** The full history, when this instance holds it (keyed steps). */
  steps?: StepMemo[];
}

/**
 * A {@link WorkflowStore} built only on the core storage (and, where needed, lock) contracts, so
 * workflows run on any backend pair, S3 + DynamoDB included. Each workflow is one JSON record
 * changed by compare-and-swap (or under the lock). Claims find due work through a due-time index
 * of keys (or a custom {@link PendingIndex}), so they never read sleeping or finished workflows.
 *
 * The due index's invariant: every unfinished record names (`dueKey`) an entry due no later than
 * itself. A change that needs a new entry writes it before the record (a crash leaves a stray
 * entry, never a record nobody finds) and deletes the old one after. A claimer that meets an
 * entry its record does not name first rewrites the record (`rev` + 1): a writer about to make
 * the record name that entry was conditional on the earlier version and now fails, so the stray
 * can be deleted. An entry whose record is absent (an insert of the layout before starts in
 * flight, or one that crashed between its two writes) is deleted only once older than a minute.
 *
 * A start is one write (with the due index and compare-and-swap): the new workflow's record is
 * written, only if absent, to its id's start key `due/0/<id>`, listed before every timed entry;
 * the first change after it creates the record from it (naming the start key as its entry). The
 * start key is deleted only once the record exists and records are never deleted: a start that
 * wins the key later finds the record when it reads it after its write, and is a duplicate
 * (`startToken` tells the record made from a start's own write from another). See insertStart.
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
  // The due index (undefined when a custom PendingIndex is used instead).
  private readonly index: StorageDueIndex | undefined;
  // Due entries seen pointing at a record not due before an instant. A record that becomes due
  // earlier gets a new entry (a new key), so skipping by key never hides due work.
  private readonly skipEntry = new Map<string, number>();
  // Markers of the layout before the due index, still to be moved into it (checked once).
  private legacyPending: StoragePendingIndex | undefined;
  // Steps as their own keys (with the due index and compare-and-swap; otherwise inline).
  private readonly stepKeys: StepKeys | undefined;
  // Committed memos read per workflow (oldest workflow first), up to MAX_CACHED_MEMOS in all.
  private readonly committed = new Map<string, StepMemo[]>();
  private committedMemos = 0;

  constructor(options: StorageWorkflowStoreOptions) {
    super();
    checkOptions(options, options?.name ?? DEFAULT_NAME, {
      known: [
        'storage',
        'lock',
        'lockWrites',
        'prefix',
        'recordsPrefix',
        'pending',
        'name',
        'clock',
      ],
      required: ['storage'],
      renamed: { storageManager: 'storage', lockingManager: 'lock' },
    });
    if (
      typeof options.storage !== 'object' ||
      options.storage === null ||
      typeof options.storage.write !== 'function'
    ) {
      throw new DurableError(
        ErrorCode.CONFIG,
        `${options.name ?? DEFAULT_NAME}: "storage" must be a StorageManager`,
      );
    }
    this.name = options.name ?? DEFAULT_NAME;
    this.storage = options.storage;
    this.lock = options.lock;
    this.insertLock = options.storage.capabilities?.conditionalWrite !== true;
    this.useLock = options.lockWrites === true || this.insertLock;
    if (this.useLock && this.lock === undefined) {
      throw new DurableError(
        ErrorCode.CONFIG,
        `${this.name}: this storage has no conditional writes, so a "lock" is required`,
      );
    }
    const prefix = checkedPrefix(options.prefix ?? 'workflows/', 'prefix', this.name);
    this.recordsPrefix = checkedPrefix(
      options.recordsPrefix ?? `${prefix}records/`,
      'recordsPrefix',
      this.name,
    );
    this.pending = options.pending ?? new StoragePendingIndex(this.storage, `${prefix}pending/`);
    if (options.pending === undefined) {
      this.index = new StorageDueIndex(this.storage, `${prefix}due/`);
      if (
        this.index.prefix.startsWith(this.recordsPrefix) ||
        this.recordsPrefix.startsWith(this.index.prefix)
      ) {
        throw new DurableError(
          ErrorCode.CONFIG,
          `${this.name}: recordsPrefix ${this.recordsPrefix} and the due index ${this.index.prefix} must not contain each other: pick another prefix`,
        );
      }
      this.legacyPending = this.pending as StoragePendingIndex;
    }
    this.stepKeys =
      this.index !== undefined && !this.useLock
        ? new StepKeys(this.storage, `${prefix}steps/`, this.name)
        : undefined;
    this.lockPrefix = `${prefix}locks/`;
    this.clock = options.clock ?? systemClock;
    const storage = this.storage;
    const index = this.index;
    if (
      index !== undefined &&
      storage.capabilities?.watch === true &&
      storage.watch !== undefined
    ) {
      const watchStorage = storage.watch.bind(storage);
      this.watch = (listener) => {
        const stopStorage = watchStorage(index.prefix, listener);
        const stopLocal = this.wakes.add(listener);
        return () => {
          stopStorage();
          stopLocal();
        };
      };
    }
  }

  /**
   * Wake-ups (see `WorkflowStore.watch`), present when the storage declares `capabilities.watch`
   * (memory and fs storage, others that declare it, and a `LockableStorageManager` around one).
   * It watches the due index: every change that makes work claimable writes an entry there (a
   * start, a signal, a release, a resume, a suspend or failure, a child's finish waking its
   * parent), heard by other processes too where the storage can tell them. A cancel only deletes
   * its entry, and a storage's watch need not report deletes: a cancel made through this store
   * also calls the listeners itself (a cancel by another process is found by polling). Some calls
   * are spurious (a finish deletes its entry): a worker woken only looks.
   */
  readonly watch?: (listener: () => void) => () => void;
  // Listeners woken by this store's own cancels (see watch).
  private readonly wakes = new WakeListeners();

  async insert(workflow: NewWorkflow): Promise<boolean> {
    const now = this.clock();
    const record: StoredRecord = workflowTransitions.create(workflow, now);
    if (this.stepKeys !== undefined) return this.insertStart(this.index as StorageDueIndex, record);
    if (this.index !== undefined) {
      record.dueKey = this.index.keyFor(record.id, record.runAt);
      record.rev = 1;
    }
    if (this.stepKeys !== undefined) record.stepCount = 0;
    const text = JSON.stringify(record);
    try {
      // Entry (or marker) first: a crash between the two writes leaves an orphan entry (dropped
      // later), never a record that no claim would find.
      if (this.index !== undefined) await this.index.add(record.dueKey as string, now);
      else await this.pending.add(record.id, record.createdAt);
    } catch (error) {
      throw wrap(this.name, error, 'insert', record.id);
    }
    // Storage without conditional writes checks "only if absent" apart from the write: without
    // the lock, concurrent starts of one id could all win.
    const created = await this.locked(record.id, LOCK_WAIT_MS, this.insertLock, async () => {
      try {
        await this.storage.write(this.recordKey(record.id), text, { ifVersion: null });
        return true;
      } catch (error) {
        if (isDurableError(error, ErrorCode.CONFLICT)) return false;
        if (!isDurableError(error, ErrorCode.UNKNOWN_OUTCOME))
          throw wrap(this.name, error, 'insert', record.id);
        // Our write may have landed (a lost reply): it did if the record is ours to the byte.
        return (await this.readText(record.id)) === text;
      }
    });
    // The id existed: our entry is a stray no record will ever name (its key is new).
    if (!created && this.index !== undefined)
      await this.index.remove(record.dueKey as string).catch(() => undefined);
    return created;
  }

  /**
   * A start as one conditional write: the workflow's first state, written "only if absent" to
   * the start key of its id in the due index (claims list starts first). Its record is created by
   * the first change after it (a claim, a signal, a cancel), naming the start key as its due
   * entry. The start key is deleted only once the record exists, and records are never deleted,
   * so a start that wins the key while the id already has a record finds that record when it
   * reads it after the write: it is a duplicate (false). A start that finds no record, or the
   * record made from its own write (its `startToken`), is the one that won (see the README).
   */
  private async insertStart(index: StorageDueIndex, record: StoredRecord): Promise<boolean> {
    const key = index.startKeyFor(record.id);
    const token = createClaimToken();
    record.dueKey = key;
    record.rev = 0;
    record.stepCount = 0;
    record.startToken = token;
    const text = JSON.stringify(record);
    let version: string | undefined;
    for (let attempt = 0; version === undefined; attempt++) {
      try {
        version = await this.storage.write(key, text, { ifVersion: null });
        break;
      } catch (error) {
        const unknown = isDurableError(error, ErrorCode.UNKNOWN_OUTCOME);
        if ((!unknown && !isDurableError(error, ErrorCode.CONFLICT)) || attempt >= 3)
          throw wrap(this.name, error, 'insert', record.id);
      }
      // A conflict, or an outcome left unknown (a lost reply; its retry is answered "conflict"
      // when our own write landed): the start key or the record says whose start it is.
      let entry;
      try {
        entry = await this.storage.read(key);
      } catch (error) {
        throw wrap(this.name, error, 'insert', record.id);
      }
      if (entry !== undefined) {
        if (bytesToText(entry.data) !== text) return false;
        version = entry.version;
        break;
      }
      const current = await this.read(record.id);
      if (current !== undefined) return current.record.startToken === token;
      // Neither: the write did not land (a start key goes only after its record exists). Again.
    }
    const current = await this.read(record.id);
    if (current === undefined || current.record.startToken === token) {
      // A start due later is filed under its due time at once, so that claims, which list every
      // start key, never page through sleeping workflows (see fileStart).
      if (current === undefined && record.runAt > record.createdAt)
        await this.fileStart(record.id, token);
      return true;
    }
    // The id had a record already: our start key is a duplicate that no record names.
    await this.storage.delete(key, { ifVersion: version }).catch(() => undefined);
    return false;
  }

  /**
   * Makes the start of `id` (its start key, written by the start whose token is `token`, or any
   * start when `token` is undefined) into its record while it is not due yet: the change writes
   * the entry at its due time, creates the record (only if absent) and deletes the start key. A
   * record that exists and names its start key is running (a claim keeps its entry): left alone.
   * Best effort after a start has won: a failure leaves the start key, which a claim files the
   * same way when it meets it (claimEntry).
   */
  private async fileStart(id: string, token: string | undefined): Promise<void> {
    const startKey = (this.index as StorageDueIndex).startKeyFor(id);
    await this.change(
      id,
      (record) =>
        record !== undefined &&
        record.status === WorkflowStatus.READY &&
        record.dueKey === startKey &&
        (token === undefined || record.startToken === token) &&
        !isWorkflowDue(record, this.clock())
          ? { ...record }
          : undefined,
      { claiming: true },
    ).catch(() => undefined);
  }

  /**
   * One page of workflows (see `WorkflowStore.list`). Each page reads every record under the
   * records prefix: listing is for operators, not for the hot path.
   */
  async list(query: WorkflowListQuery): Promise<WorkflowPage> {
    const checked = checkWorkflowListQuery(query, this.name);
    return pageWorkflows(await this.allRecords(), checked);
  }

  /** How many workflows are in each status (see `WorkflowStore.counts`); reads every record. */
  async counts(): Promise<WorkflowCounts> {
    return countWorkflows(await this.allRecords());
  }

  /** Makes an aborted, cancelled or failed workflow ready again (see `WorkflowStore.resume`). */
  async resume(id: string): Promise<boolean> {
    assertValidWorkflowId(id, `${this.name}: resume`);
    this.notBefore.delete(id);
    const resumable = (r: StoredRecord | undefined): StoredRecord | undefined =>
      r === undefined ? undefined : workflowTransitions.resume(r, this.clock());
    if (this.index !== undefined) return (await this.change(id, resumable)) !== undefined;
    // A custom pending index dropped the marker when the workflow finished: the resumed workflow
    // needs one again for claims to find it. Added before the change (a crash after the change
    // still leaves it), and again after it: a claim that read the record still finished, before
    // the change, may have dropped the first one meanwhile.
    const before = await this.read(id);
    if (before === undefined || resumable(before.record) === undefined) return false;
    await this.addMarker(id, before.record.createdAt);
    const next = await this.change(id, resumable);
    if (next === undefined) return false;
    await this.addMarker(id, next.createdAt);
    return true;
  }

  private async addMarker(id: string, createdAt: number): Promise<void> {
    try {
      await this.pending.add(id, createdAt);
    } catch (error) {
      throw wrap(this.name, error, 'write marker', id);
    }
  }

  async get(id: string): Promise<WorkflowRecord | undefined> {
    assertValidWorkflowId(id, `${this.name}: get`);
    const current = await this.readOrStart(id);
    if (current === undefined) return undefined;
    // A start not yet turned into a record has no history to read.
    return current.version === undefined ? visible(current.record) : this.full(current.record);
  }

  /**
   * The record of `id`, or else the start it is to be made from (`version` undefined): read
   * record, start, record, since a start key goes only once its record exists.
   */
  private async readOrStart(
    id: string,
  ): Promise<{ record: StoredRecord; version: string | undefined } | undefined> {
    const current = await this.read(id);
    if (current !== undefined || this.stepKeys === undefined) return current;
    const started = await this.readStart(id);
    return started ?? (await this.read(id));
  }

  /** The workflow `id` as its start key holds it (its record not yet created), if any. */
  private async readStart(
    id: string,
  ): Promise<{ record: StoredRecord; version: undefined } | undefined> {
    let entry;
    try {
      entry = await this.storage.read((this.index as StorageDueIndex).startKeyFor(id));
    } catch (error) {
      throw wrap(this.name, error, 'read start', id);
    }
    if (entry === undefined) return undefined;
    const record: StoredRecord = parseWorkflowRecord(bytesToText(entry.data), this.name);
    return { record: normalizeSteps(record), version: undefined };
  }

  // Every record (without its keyed history), for listing and counts.
  private async allRecords(): Promise<WorkflowSummary[]> {
    const keys: string[] = [];
    // Starts are listed before records: a start listed here and turned into a record after the
    // records were listed is still read (from its key, or else its record).
    const starts: string[] = [];
    try {
      const index = this.stepKeys === undefined ? undefined : this.index;
      if (index !== undefined)
        for await (const key of listAll(this.storage, index.startsPrefix)) starts.push(key);
      for await (const key of listAll(this.storage, this.recordsPrefix)) keys.push(key);
    } catch (error) {
      throw wrap(this.name, error, 'list', '*');
    }
    const listed = new Set(keys.map((key) => key.slice(this.recordsPrefix.length)));
    const startsPrefix = this.index?.startsPrefix ?? '';
    const unmade = starts
      .map((key) => key.slice(startsPrefix.length))
      .filter((segment) => !listed.has(segment));
    const records: WorkflowSummary[] = [];
    for (let from = 0; from < keys.length; from += 64) {
      const batch = await Promise.all(
        keys
          .slice(from, from + 64)
          .map((key) => this.read(decodeWorkflowId(key.slice(this.recordsPrefix.length)))),
      );
      for (const found of batch) {
        if (found === undefined) continue;
        records.push(
          toWorkflowSummary(
            this.stepKeys === undefined ? visible(found.record) : withHistoryLength(found.record),
          ),
        );
      }
    }
    for (let from = 0; from < unmade.length; from += 64) {
      const batch = await Promise.all(
        unmade.slice(from, from + 64).map(async (segment) => {
          const id = decodeWorkflowId(segment);
          return (await this.readStart(id)) ?? (await this.read(id));
        }),
      );
      for (const found of batch)
        if (found !== undefined) records.push(toWorkflowSummary(withHistoryLength(found.record)));
    }
    return records;
  }

  /** The record as callers see it, with its whole history. */
  private async full(record: StoredRecord, steps?: StepMemo[]): Promise<WorkflowRecord> {
    if (this.stepKeys === undefined) return visible(record);
    let history = steps;
    if (history === undefined) {
      try {
        history = await this.history(record);
      } catch (error) {
        throw wrap(this.name, error, 'read steps', record.id);
      }
    }
    return visible({ ...record, steps: history.slice() });
  }

  /**
   * The history of `record` (keyed steps): committed positions this instance read before come
   * from its cache (they never change), only newer ones are read; every memo handed out is a
   * copy, so a caller that changes one cannot change the cache.
   */
  private async history(record: StoredRecord): Promise<StepMemo[]> {
    const known = this.committed.get(record.id);
    const steps = await (this.stepKeys as StepKeys).history(record, known);
    const count = Math.min(record.stepCount ?? record.steps.length, steps.length);
    if (known === undefined || count > known.length) {
      const prefix = steps.slice(0, count);
      this.committedMemos += prefix.length - (known?.length ?? 0);
      this.committed.delete(record.id);
      this.committed.set(record.id, prefix);
      for (const [id, memos] of this.committed) {
        if (this.committedMemos <= MAX_CACHED_MEMOS || id === record.id) break;
        this.committed.delete(id);
        this.committedMemos -= memos.length;
      }
    }
    return steps.map((memo) => cloneJson(memo));
  }

  /** The history of a workflow `token` holds: from this instance's cache, else read (and checked). */
  private async heldSteps(id: string, token: string, operation: string): Promise<StepMemo[]> {
    const cached = this.held.get(id);
    if (cached !== undefined && cached.token === token && cached.steps !== undefined)
      return cached.steps;
    const current = await this.read(id);
    assertClaimHeld(current?.record, token, operation, id);
    const steps = await this.history(current.record);
    this.held.set(id, { token, version: current.version, record: current.record, steps });
    return steps;
  }

  /** Records a step: its own key, then the record's step count under the claim (see StepKeys). */
  override async saveStep(id: string, token: string, index: number, memo: StepMemo): Promise<void> {
    if (this.stepKeys === undefined) return super.saveStep(id, token, index, memo);
    assertValidWorkflowId(id, `${this.name}: saveStep`);
    const steps = await this.heldSteps(id, token, 'saveStep');
    if (checkStepPlacement(id, steps, index, memo) === 'recorded') return;
    const layout = await this.placeKeyed(id, token, 'saveStep', steps, index, memo);
    await this.underClaim(id, token, 'saveStep', (record, now) => ({
      ...record,
      updatedAt: now,
      ...layout(record),
    }));
    steps[index] = cloneJson(memo);
  }

  override async suspend(id: string, token: string, options: SuspendOptions): Promise<void> {
    if (this.stepKeys === undefined || options.step === undefined)
      return super.suspend(id, token, options);
    assertValidWorkflowId(id, `${this.name}: suspend`);
    const { index, memo } = options.step;
    const steps = await this.heldSteps(id, token, 'suspend');
    const placed = checkStepPlacement(id, steps, index, memo) === 'place';
    const layout = placed
      ? await this.placeKeyed(id, token, 'suspend', steps, index, memo)
      : () => ({});
    const { step: _step, ...rest } = options;
    await this.underClaim(id, token, 'suspend', (record, now) => ({
      ...workflowTransitions.suspend(record, token, rest, now),
      ...layout(record),
    }));
    if (placed) steps[index] = cloneJson(memo);
  }

  /**
   * Makes a memo placed at `index` durable the keyed way: a done memo is written to its key (not
   * yet committed), a pending one goes into the record. Returns the record fields that commit it.
   */
  private async placeKeyed(
    id: string,
    token: string,
    operation: string,
    steps: readonly StepMemo[],
    index: number,
    memo: StepMemo,
  ): Promise<(record: StoredRecord) => StepLayout> {
    const pending = steps[steps.length - 1]?.done === false ? steps.length - 1 : undefined;
    if (pending !== undefined && index > pending) {
      throw new DurableError(
        ErrorCode.NON_DETERMINISTIC,
        `workflow ${id}: cannot record ${memo.kind} ${JSON.stringify(
          memo.id,
        )} at position ${index} while position ${pending} still waits (resolve it first)`,
      );
    }
    const copy = cloneJson(memo);
    if (!memo.done) return () => ({ pendingStep: { index, memo: copy } });
    try {
      await (this.stepKeys as StepKeys).write(id, index, copy, async () => {
        const current = await this.read(id);
        assertClaimHeld(current?.record, token, operation, id);
      });
    } catch (error) {
      if (isDurableError(error, ErrorCode.LOCK_LOST)) {
        // The cached history is of a claim we no longer hold: a later write must read and find
        // the claim gone (LOCK_LOST), not judge positions by that history.
        if (this.held.get(id)?.token === token) this.held.delete(id);
        throw error;
      }
      throw wrap(this.name, error, `${operation} (step key)`, id);
    }
    return (record) => ({
      stepCount: Math.max(record.stepCount ?? 0, index + 1),
      pendingStep: record.pendingStep?.index === index ? undefined : record.pendingStep,
    });
  }

  async claim(options: { leaseMs: number }): Promise<ClaimedWorkflow | undefined> {
    if (this.index !== undefined) return this.claimFromIndex(this.index, options.leaseMs);
    let candidates: string[];
    try {
      candidates = await this.pending.list();
    } catch (error) {
      throw wrap(this.name, error, 'claim (list)', '*');
    }
    let unreadable: { error: unknown } | undefined;
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
        claimed = await this.change(
          id,
          (record) => {
            if (record === undefined) return undefined;
            const now = this.clock();
            if (!isWorkflowDue(record, now)) {
              this.remember(record);
              return undefined;
            }
            return workflowTransitions.claim(record, token, options.leaseMs, now);
          },
          { claiming: true },
        );
      } catch (error) {
        // One unreadable record must not stop every other workflow: go on, report it if idle.
        unreadable ??= { error };
        continue;
      }
      if (claimed !== undefined) {
        this.notBefore.delete(id);
        return { token, record: visible(claimed) };
      }
    }
    if (unreadable !== undefined) throw unreadable.error;
    return undefined;
  }

  /**
   * Claims the earliest due workflow of the due index: reads the entries due now, a page at a
   * time, and the records they name, never a sleeping or finished one. Tidies what it meets: an
   * entry its record no longer names is deleted (after the record is rewritten, see the class
   * comment), an entry seen naming a record not due is skipped until the record is due.
   */
  private async claimFromIndex(
    index: StorageDueIndex,
    leaseMs: number,
  ): Promise<ClaimedWorkflow | undefined> {
    await this.moveLegacyMarkers();
    let unreadable: { error: unknown } | undefined;
    try {
      for await (const entries of index.due(this.clock(), DUE_PAGE)) {
        // Start at a random place so concurrent claimers spread out instead of racing for one record.
        const offset = Math.floor(Math.random() * entries.length);
        for (let i = 0; i < entries.length; i++) {
          const entry = entries[(offset + i) % entries.length] as DueEntry;
          const skipUntil = this.skipEntry.get(entry.key);
          if (skipUntil !== undefined && skipUntil > this.clock()) continue;
          try {
            const claimed = await this.claimEntry(index, entry, leaseMs);
            if (claimed !== undefined) return claimed;
          } catch (error) {
            // One unreadable record must not stop every other workflow: go on, report it if idle.
            unreadable ??= { error };
          }
        }
      }
    } catch (error) {
      throw wrap(this.name, error, 'claim (list)', '*');
    }
    if (unreadable !== undefined) throw unreadable.error;
    return undefined;
  }

  private async claimEntry(
    index: StorageDueIndex,
    entry: DueEntry,
    leaseMs: number,
  ): Promise<ClaimedWorkflow | undefined> {
    const token = createClaimToken();
    let seen: StoredRecord | undefined;
    let absent = false;
    const claimed = await this.change(
      entry.id,
      (record) => {
        if (record === undefined) {
          absent = true;
          return undefined;
        }
        seen = record;
        const now = this.clock();
        if (!isWorkflowDue(record, now)) return undefined;
        return workflowTransitions.claim(record, token, leaseMs, now);
      },
      { claiming: true },
    );
    if (claimed !== undefined) {
      this.skipEntry.delete(entry.key);
      // The claim rewrote the record, so a stray entry can go now (see the class comment).
      if (claimed.dueKey !== entry.key) await index.remove(entry.key).catch(() => undefined);
      const record = await this.full(
        claimed,
        this.stepKeys === undefined ? undefined : await this.claimedSteps(entry.id, token, claimed),
      );
      return { token, record };
    }
    if (absent) {
      // A start key with neither record nor start was just made into a record (or dropped).
      if (entry.start !== true) await this.dropOrphanEntry(index, entry);
      return undefined;
    }
    const record = seen;
    if (record === undefined) return undefined; // a lost race: another claimer took it
    if (record.dueKey === entry.key) {
      // A start not due yet whose start left it in the starts (it crashed, or failed, before
      // filing it): filed now, so later claims do not list it again.
      if (entry.start === true && record.status === WorkflowStatus.READY)
        await this.fileStart(entry.id, undefined);
      else this.remember(entry.key, dueTime(record));
      return undefined;
    }
    if (entry.start === true) {
      // The record exists and does not name its start key, and no write will ever make it do so
      // (only the creation of a record names one): a stray or a duplicate start, deleted at once.
      await index.remove(entry.key).catch(() => undefined);
      return undefined;
    }
    // A stray: rewrite the record (only if it still does not name the entry), then delete it.
    const touched = await this.change(
      entry.id,
      (current) =>
        current === undefined || current.dueKey === entry.key ? undefined : { ...current },
      { claiming: true },
    );
    if (touched !== undefined) await index.remove(entry.key).catch(() => undefined);
    return undefined;
  }

  // The history of a workflow just claimed, kept for the steps this instance will record.
  private async claimedSteps(id: string, token: string, record: StoredRecord): Promise<StepMemo[]> {
    let steps: StepMemo[];
    try {
      steps = await this.history(record);
    } catch (error) {
      throw wrap(this.name, error, 'read steps', id);
    }
    const held = this.held.get(id);
    if (held !== undefined && held.token === token) held.steps = steps;
    return steps;
  }

  private async dropOrphanEntry(index: StorageDueIndex, entry: DueEntry): Promise<void> {
    const now = this.clock();
    const writtenAt = await index.writtenAt(entry.key).catch(() => undefined);
    if (writtenAt === undefined) return;
    if (!(now - writtenAt > ORPHAN_MARKER_MS)) {
      this.remember(entry.key, writtenAt + ORPHAN_MARKER_MS + 1);
      return;
    }
    // Still no record: its insert crashed between its two writes (or stalled for a minute).
    if ((await this.read(entry.id)) === undefined)
      await index.remove(entry.key).catch(() => undefined);
  }

  // Workflows of the layout before the due index had a marker under `${prefix}pending/`: give
  // each unfinished one a due entry (a rewrite of its record), then drop the marker. Once none
  // is left, never looked at again by this instance.
  private async moveLegacyMarkers(): Promise<void> {
    const legacy = this.legacyPending;
    if (legacy === undefined) return;
    let ids: string[];
    try {
      ids = await legacy.list();
    } catch (error) {
      throw wrap(this.name, error, 'claim (list old markers)', '*');
    }
    let left = false;
    for (const id of ids) {
      let absent = false;
      await this.change(id, (record) => {
        absent = record === undefined;
        return record === undefined ||
          isFinishedStatus(record.status) ||
          record.dueKey !== undefined
          ? undefined
          : { ...record };
      });
      // A marker without its record: an insert of the old layout in flight, or one that crashed.
      if (absent) {
        await legacy.removeOrphan(id, this.clock(), ORPHAN_MARKER_MS);
        left = true;
      } else await legacy.remove(id);
    }
    if (!left) this.legacyPending = undefined;
  }

  async signal(id: string, name: string, payload?: unknown): Promise<boolean> {
    assertValidWorkflowId(id, `${this.name}: signal`);
    this.notBefore.delete(id);
    const next = await this.change(id, (r) =>
      r === undefined ? undefined : workflowTransitions.signal(r, name, payload, this.clock()),
    );
    return next !== undefined;
  }

  async cancel(id: string): Promise<boolean> {
    assertValidWorkflowId(id, `${this.name}: cancel`);
    const next = await this.change(id, (r) =>
      r === undefined ? undefined : workflowTransitions.cancel(r, this.clock()),
    );
    if (next === undefined) return false;
    if (this.index === undefined) await this.dropMarker(id);
    else this.held.delete(id);
    this.wakes.notify();
    return true;
  }

  protected override async finished(id: string, record: WorkflowRecord): Promise<void> {
    if (!isFinishedStatus(record.status)) return;
    if (this.index === undefined) await this.dropMarker(id);
    else this.held.delete(id);
  }

  protected async underClaim(
    id: string,
    token: string,
    operation: string,
    apply: ClaimTransition,
  ): Promise<WorkflowRecord> {
    assertValidWorkflowId(id, `${this.name}: ${operation}`);
    const next = await this.change(
      id,
      (record) => {
        assertClaimHeld(record, token, operation, id);
        return apply(record, this.clock());
      },
      { token },
    );
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
    apply: (record: StoredRecord | undefined) => StoredRecord | undefined,
    options: { token?: string; claiming?: boolean } = {},
  ): Promise<StoredRecord | undefined> {
    const waitMs = options.claiming === true ? 0 : LOCK_WAIT_MS;
    const attempt = async (): Promise<StoredRecord | undefined> => {
      let cached = !this.useLock && options.token !== undefined ? this.held.get(id) : undefined;
      if (cached !== undefined && cached.token !== options.token) cached = undefined;
      for (;;) {
        let current: { record: StoredRecord; version: string } | undefined =
          cached ?? (await this.read(id));
        cached = undefined;
        // No record yet: a start is made into one by this write (if absent), from its start key.
        let started: StoredRecord | undefined;
        if (current === undefined && this.stepKeys !== undefined) {
          // A start key goes only once its record exists: without one, read the record again.
          const found = (await this.readStart(id)) ?? (await this.read(id));
          if (found?.version === undefined) started = found?.record;
          else current = { record: found.record, version: found.version };
        }
        if (options.claiming === true && this.index === undefined) {
          if (current === undefined)
            await this.pending.removeOrphan(id, this.clock(), ORPHAN_MARKER_MS);
          else if (isFinishedStatus(current.record.status)) await this.dropMarker(id);
        }
        const next = apply(current?.record ?? started);
        if (next === undefined) return undefined;
        const due =
          this.index === undefined
            ? {}
            : this.planDue(this.index, current?.record ?? started, next);
        if (this.index !== undefined) next.rev = (current?.record.rev ?? 0) + 1;
        if (due.add !== undefined) {
          try {
            await (this.index as StorageDueIndex).add(due.add, this.clock());
          } catch (error) {
            throw wrap(this.name, error, 'write due entry', id);
          }
        }
        const text = JSON.stringify(next);
        let version: string | undefined;
        try {
          version = await this.storage.write(this.recordKey(id), text, {
            ifVersion: current?.version ?? null,
          });
        } catch (error) {
          const unknown = isDurableError(error, ErrorCode.UNKNOWN_OUTCOME);
          if (!unknown && !isDurableError(error, ErrorCode.CONFLICT))
            throw wrap(this.name, error, 'write', id);
          this.held.delete(id);
          // A lost reply retried by the storage's client comes back as a conflict with our own
          // write: under a claim (or a claim attempt, whose token is fresh) the record holding
          // exactly what we wrote can only be ours, so it is a success, not a lost race.
          if (unknown || options.token !== undefined || options.claiming === true) {
            const now = await this.read(id);
            if (now !== undefined && JSON.stringify(now.record) === text) version = now.version;
          }
          if (version === undefined) {
            // Lost: the entry we wrote for this attempt is named by no record (its key is new).
            if (due.add !== undefined)
              await (this.index as StorageDueIndex).remove(due.add).catch(() => undefined);
            if (options.claiming === true) return undefined;
          }
        }
        if (version === undefined) continue;
        // Committed: the entry the record no longer names goes (a failure leaves a stray, which a
        // claimer tidies; the change stands).
        if (due.drop !== undefined)
          await (this.index as StorageDueIndex).remove(due.drop).catch(() => undefined);
        // The cache serves compare-and-swap writes only (under the lock, every change reads).
        if (!this.useLock) {
          const before = this.held.get(id);
          if (next.claim !== undefined) {
            const steps = before?.token === next.claim.token ? before.steps : undefined;
            this.held.set(id, {
              token: next.claim.token,
              version,
              record: next,
              ...(steps === undefined ? {} : { steps }),
            });
          } else this.held.delete(id);
        }
        return next;
      }
    };
    try {
      return await this.locked(id, waitMs, this.useLock, attempt);
    } catch (error) {
      if (options.claiming === true && isDurableError(error, ErrorCode.LOCK_TIMEOUT))
        return undefined;
      throw error;
    }
  }

  /**
   * Which due entry `next` relies on, given the one `current` named: a finished workflow needs
   * none (the old one is dropped after the write); a running one keeps its entry (due no later
   * than its lease's end); otherwise a new entry at `runAt`, unless the current one is at that
   * time already and the workflow was not running (an entry seen naming a running record is
   * skipped by claimers until the lease ends, so leaving "running" always takes a new key).
   */
  private planDue(
    index: StorageDueIndex,
    current: StoredRecord | undefined,
    next: StoredRecord,
  ): { add?: string; drop?: string } {
    const had = current?.dueKey;
    if (isFinishedStatus(next.status)) {
      delete next.dueKey;
      return had === undefined ? {} : { drop: had };
    }
    if (next.status === WorkflowStatus.RUNNING) {
      if (had !== undefined) {
        next.dueKey = had;
        return {};
      }
      next.dueKey = index.keyFor(next.id, next.claim?.expiresAt ?? 0);
      return { add: next.dueKey };
    }
    if (
      had !== undefined &&
      current?.status !== WorkflowStatus.RUNNING &&
      index.timeOf(had) === Math.max(0, Math.floor(next.runAt))
    ) {
      next.dueKey = had;
      return {};
    }
    next.dueKey = index.keyFor(next.id, next.runAt);
    return had === undefined ? { add: next.dueKey } : { add: next.dueKey, drop: had };
  }

  /** Runs `body` under the workflow's lock when `lock` is set (a busy lock waits `waitMs`). */
  private async locked<T>(
    id: string,
    waitMs: number,
    lock: boolean,
    body: () => Promise<T>,
  ): Promise<T> {
    if (!lock) return body();
    let lease: Lease;
    try {
      lease = await (this.lock as LockManager).acquire(
        `${this.lockPrefix}${encodeWorkflowId(id)}`,
        { ttlMs: LOCK_TTL_MS, waitMs },
      );
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

  private async read(id: string): Promise<{ record: StoredRecord; version: string } | undefined> {
    let entry;
    try {
      entry = await this.storage.read(this.recordKey(id));
    } catch (error) {
      throw wrap(this.name, error, 'read', id);
    }
    if (entry === undefined) return undefined;
    const record: StoredRecord = parseWorkflowRecord(bytesToText(entry.data), this.name);
    return {
      record: this.stepKeys === undefined ? record : normalizeSteps(record),
      version: entry.version,
    };
  }

  private async looksDue(id: string): Promise<boolean> {
    const current = await this.read(id);
    if (current === undefined || isWorkflowDue(current.record, this.clock())) return true;
    this.remember(current.record);
    return false;
  }

  private remember(entry: string, until: number): void;
  private remember(record: WorkflowRecord): void;
  private remember(recordOrEntry: WorkflowRecord | string, until?: number): void {
    if (typeof recordOrEntry === 'string') {
      this.skipEntry.set(recordOrEntry, until ?? 0);
      if (this.skipEntry.size > MAX_SKIPS) this.skipEntry.clear();
      return;
    }
    const record = recordOrEntry;
    // Only a record no write but a signal can make due earlier: not a running one (its worker may
    // release it or sleep briefly), not one that waits for an event.
    if (record.status === 'running' || (record.wakeOn !== undefined && record.wakeOn.length > 0))
      return;
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
    for await (const key of listAll(this.storage, this.prefix))
      ids.push(decodeWorkflowId(key.slice(this.prefix.length)));
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

/** The record as callers see it: without the store's bookkeeping. */
function visible(record: StoredRecord): WorkflowRecord {
  const {
    dueKey: _dueKey,
    rev: _rev,
    stepCount: _count,
    pendingStep: _pending,
    startToken: _startToken,
    ...rest
  } = record;
  return rest;
}

/** A record whose keyed history is not read, summarised: only its length counts. */
function withHistoryLength(record: StoredRecord): WorkflowRecord {
  const length =
    (record.stepCount ?? record.steps.length) + (record.pendingStep === undefined ? 0 : 1);
  return { ...visible(record), steps: new Array<StepMemo>(length) };
}

/** When a record not due now becomes claimable: its lease's end when running, else runAt. */
function dueTime(record: WorkflowRecord): number {
  return record.status === WorkflowStatus.RUNNING ? (record.claim?.expiresAt ?? 0) : record.runAt;
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
