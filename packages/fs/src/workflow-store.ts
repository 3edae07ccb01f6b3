import type { FSWatcher } from 'node:fs';
import {
  closeSync,
  existsSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  realpathSync,
  watch,
} from 'node:fs';
import { join } from 'node:path';
import type {
  ClaimedWorkflow,
  Clock,
  NewWorkflow,
  StepMemo,
  SuspendOptions,
  WorkflowCounts,
  WorkflowListQuery,
  WorkflowOutcome,
  WorkflowPage,
  WorkflowRecord,
  WorkflowStore,
  WorkflowSummary,
} from '@durable/core';
import type { CheckedWorkflowListQuery } from '@durable/core/adapter';
import {
  DurableError,
  ErrorCode,
  WorkflowListOrder,
  WorkflowStatus,
  isDurableError,
  isFinishedStatus,
  systemClock,
} from '@durable/core';
import {
  assertClaimHeld,
  assertValidWorkflowId,
  checkOptions,
  checkStepPlacement,
  checkWorkflowListQuery,
  claimedStart,
  countWorkflows,
  isAfterWorkflowCursor,
  matchesWorkflowQuery,
  pageWorkflows,
  toWorkflowSummary,
  createClaimToken,
  isWorkflowDue,
  parseWorkflowRecord,
  toBackendError,
  workflowTransitions,
} from '@durable/core/adapter';
import type { CreatedGroup } from './created-index.js';
import { COMPLETE_FILE, addCreated, createdTime, walkCreated } from './created-index.js';
import type { DueBucket } from './due-index.js';
import {
  addMarker,
  announce,
  bucketDir,
  emptyFileOf,
  finestBucket,
  isWorkflowName,
  markerFile,
  parseMarker,
  walkDue,
  workflowName,
} from './due-index.js';
import { runSteps } from './fs-driver.js';
import { protocolOptions } from './key-store.js';
import type { Head, KeyFolder, Steps } from './protocol.js';
import { ForeignFolderError, commit, readHead } from './protocol.js';
import { ValueKind, encodeValueFile } from './value-file.js';
import {
  CorruptStepError,
  appendRecords,
  countSteps,
  createWorkflow,
  currentRun,
  moveRun,
  readLogFrom,
  readSteps,
  sweepPrepared,
} from './workflow-layout.js';
import type { RunHistory } from './workflow-layout.js';
import { encodeBarrier, encodeStepRecord } from './step-log.js';

/** Options for {@link FileWorkflowStore}. */
export interface FileWorkflowStoreOptions {
  /** Folder for the workflows (created when missing); may be shared by several processes. */
  root: string;
  /** fsync each change before it becomes visible (a power loss keeps the old or the new state). @default true */
  fsync?: boolean;
  /** Time source, for tests; every process sharing the folder must agree on it. @default Date.now */
  clock?: Clock;
}

const CONTEXT = 'fs workflow store';
const WORKFLOWS_DIR = '.workflows';
const DUE_DIR = '.workflow-due';
const CREATED_DIR = '.workflow-created';
// A marker whose workflow folder does not exist (an insert under way, or one that crashed between
// its two steps) and that this process has seen so for longer than this is skipped by it for a while.
const ORPHAN_AGE_MS = 10_000;
const ORPHAN_SKIP_MS = 60_000;
const MAX_ORPHANS = 10_000;
const GET_ATTEMPTS = 20;

/** The head: a record without its steps, plus the run folder of its current claim. */
interface HeadState {
  record: WorkflowRecord;
  run: number;
  version: number;
}

/** What this process knows of a claim it holds (tried first; the file system decides). */
interface Held {
  id: string;
  token: string;
  run: number;
  expiresAt: number;
  memos: StepMemo[];
  versions: number[];
  /** The run (claim) that recorded each position. */
  runs: number[];
  /** Bytes of the run folder's step log accounted for in memos (appends are read back from here). */
  size: number;
  /** The log holds this claim's barrier record (written before its first step, see step-log.ts). */
  barrier: boolean;
  /** The history is in per-step files of an older version: the first append imports it. */
  legacy: boolean;
  /** The marker the claim was found through, removed once the workflow is finished or re-anchored. */
  marker?: string;
}

/**
 * The embedded default {@link WorkflowStore}: workflows in a local folder, safe for several
 * processes at once and under any pause or crash. Each workflow is a folder whose head (the
 * record without its steps) is committed by the storage protocol's compare-and-swap, and whose
 * steps are records appended to one log per run folder (one write, and one fdatasync, per step:
 * no file created, whatever the history's length), counted only while the claim held when they
 * were durable: a stalled holder whose claim was taken over finds its folder gone. A due index (empty marker files in folders by due time) lets
 * a claim read only what is due: sleeping and finished workflows are never listed.
 */
export class FileWorkflowStore implements WorkflowStore {
  /** The resolved root folder. */
  readonly root: string;
  private readonly workflowsDir: string;
  private readonly dueDir: string;
  private readonly createdDir: string;
  private readonly fsync: boolean;
  private readonly clock: Clock;
  private readonly held = new Map<string, Held>();
  // Markers seen without their workflow, and until when this process skips them.
  private readonly orphans = new Map<string, number>();
  // Markers seen without their workflow, and when this process first saw each so.
  private readonly suspects = new Map<string, number>();

  constructor(options: FileWorkflowStoreOptions) {
    checkOptions(options, CONTEXT, {
      known: ['root', 'fsync', 'clock'],
      required: ['root'],
      renamed: { dir: 'root', path: 'root' },
    });
    if (
      options === null ||
      typeof options !== 'object' ||
      typeof options.root !== 'string' ||
      options.root === ''
    ) {
      throw new DurableError(
        ErrorCode.CONFIG,
        `${CONTEXT}: options with a "root" folder are required`,
      );
    }
    try {
      mkdirSync(options.root, { recursive: true });
      this.root = realpathSync(options.root);
    } catch (error) {
      throw new DurableError(
        ErrorCode.CONFIG,
        `${CONTEXT}: cannot use ${options.root} as the root folder (${(error as Error).message})`,
        { cause: error },
      );
    }
    if (existsSync(join(this.root, '.workflow-pending'))) {
      throw new DurableError(
        ErrorCode.CONFIG,
        `${CONTEXT}: ${this.root} holds workflows in the layout of an older @durable/fs (a .workflow-pending folder); ` +
          'finish them with the version that wrote them, or give this store another root',
      );
    }
    this.workflowsDir = join(this.root, WORKFLOWS_DIR);
    this.dueDir = join(this.root, DUE_DIR);
    this.createdDir = join(this.root, CREATED_DIR);
    const fresh = !existsSync(this.workflowsDir) || isEmptyOfWorkflows(this.workflowsDir);
    for (const dir of [this.workflowsDir, this.dueDir, this.createdDir])
      mkdirSync(dir, { recursive: true });
    this.checkFolders();
    // A folder with no workflow yet: the creation index covers it from the start (every insert
    // makes its marker). A folder of an earlier release is indexed by the first listing.
    if (fresh) markComplete(this.createdDir);
    // The file index markers are hard links of (made again by the driver if it goes missing).
    createIfMissing(emptyFileOf(this.dueDir));
    this.fsync = options.fsync ?? true;
    this.clock = options.clock ?? systemClock;
  }

  async insert(workflow: NewWorkflow): Promise<boolean> {
    const record = workflowTransitions.create(workflow, this.clock());
    const dir = this.dirOf(workflowName(record.id));
    return this.run(
      'insert',
      record.id,
      dir,
      function* (this: FileWorkflowStore) {
        return yield* this.insertSteps(record);
      },
      true,
    );
  }

  /**
   * Creates the workflow already claimed by the caller (see `WorkflowStore.insertClaimed`): the
   * insert's one folder rename, with a head that holds the claim at version 0 and the empty run
   * folder `r0` as the claim's, and the due marker at the lease's expiry. No claim's head
   * commit, run-folder rename or due-index walk.
   */
  async insertClaimed(
    workflow: NewWorkflow,
    options: { leaseMs: number },
  ): Promise<ClaimedWorkflow | undefined> {
    const { token, record } = claimedStart(workflow, options.leaseMs, this.clock());
    return this.run(
      'insertClaimed',
      record.id,
      this.dirOf(workflowName(record.id)),
      function* (this: FileWorkflowStore) {
        return yield* this.insertClaimedSteps(record, token);
      },
      true,
    );
  }

  /** The steps of {@link insertClaimed} (for the interleaving test): the insert, then the claim held. */
  protected *insertClaimedSteps(
    record: WorkflowRecord,
    token: string,
  ): Steps<ClaimedWorkflow | undefined> {
    if (!(yield* this.insertSteps(record))) return undefined;
    const name = workflowName(record.id);
    // The claim's run folder is r0, empty (the insert made it); its barrier goes with its first step.
    const held = this.heldOf(record.id, token, 0, record.claim?.expiresAt ?? 0, {
      memos: [],
      versions: [],
      runs: [],
      barriers: new Set(),
      size: 0,
      legacy: false,
    });
    held.marker = `${bucketDir(this.dueDir, dueOf(record))}/${markerFile(name, 0)}`;
    this.held.set(name, held);
    return { token, record: { ...record, steps: [] } };
  }

  /** The steps of {@link insert} and {@link insertClaimed} (for the interleaving test). */
  protected *insertSteps(record: WorkflowRecord): Steps<boolean> {
    const name = workflowName(record.id);
    const dir = this.dirOf(name);
    if ((yield { op: 'stat', path: dir }) !== undefined) return false;
    // Marker first: a crash between the two leaves a marker without a workflow (removed later),
    // never a workflow that no claim would find. A losing insert leaves the marker: the winner's
    // may be that very file. A workflow inserted claimed is due when its lease expires.
    yield* addMarker(this.dueDir, dueOf(record), name, 0);
    // The creation marker too, before the folder: a workflow that exists is always listed.
    yield* addCreated(this.createdDir, record.createdAt, name, emptyFileOf(this.dueDir));
    if (
      !(yield* createWorkflow(
        this.workflowsDir,
        dir,
        encodeHead(record, 0),
        this.fsync,
        protocolOptions.uniqueName,
      ))
    )
      return false;
    if (record.claim === undefined && record.runAt <= this.clock()) yield* this.announceQuietly();
    return true;
  }

  // Committed already: a failed announcement only costs watchers their wake-up (they poll).
  private *announceQuietly(): Steps<void> {
    try {
      yield* announce(this.dueDir, protocolOptions.uniqueName());
    } catch {
      // see above
    }
  }

  async get(id: string): Promise<WorkflowRecord | undefined> {
    assertValidWorkflowId(id, `${CONTEXT}: get`);
    const name = workflowName(id);
    const dir = this.dirOf(name);
    return this.run('get', id, dir, function* (this: FileWorkflowStore): Steps<
      WorkflowRecord | undefined
    > {
      // Steps only grow and a head version names one head: a head read before and after the steps
      // with the same version means the steps belong to that head (a consistent snapshot).
      for (let attempt = 0; ; attempt++) {
        const before = yield* readHead(this.keyOf(dir), protocolOptions);
        if (before === undefined) return undefined;
        const state = this.parseHead(before, name);
        const run = yield* currentRun(dir);
        const steps = run === undefined ? undefined : yield* readSteps(`${dir}/r${run}`);
        if (steps === undefined) continue;
        // A completed head is final (no transition leaves it), and so are its steps: no second read.
        if (state.record.status === WorkflowStatus.COMPLETED)
          return { ...state.record, steps: steps.memos as StepMemo[] };
        const after = yield* readHead(this.keyOf(dir), protocolOptions);
        if (after?.version !== before.version && attempt < GET_ATTEMPTS) continue;
        return { ...state.record, steps: steps.memos as StepMemo[] };
      }
    });
  }

  async claim(options: { leaseMs: number }): Promise<ClaimedWorkflow | undefined> {
    const token = createClaimToken();
    const found = await this.run('claim', '*', undefined, function* (this: FileWorkflowStore) {
      return yield* this.claimSteps(token, options.leaseMs, this.clock());
    });
    if (found.claimed === undefined && found.unreadable !== undefined)
      throw this.wrap(found.unreadable, 'claim', '*');
    return found.claimed;
  }

  /** The steps of a claim (for the interleaving test): the due buckets oldest first, each marker tried. */
  protected *claimSteps(
    token: string,
    leaseMs: number,
    now: number,
  ): Steps<{ claimed?: ClaimedWorkflow; unreadable?: unknown }> {
    let claimed: ClaimedWorkflow | undefined;
    let unreadable: unknown;
    yield* walkDue(
      this.dueDir,
      now,
      function* (this: FileWorkflowStore, bucket: DueBucket): Steps<boolean> {
        // Start at a random place so concurrent claimers spread out instead of racing for one workflow.
        const offset = Math.floor(Math.random() * bucket.markers.length);
        for (let i = 0; i < bucket.markers.length; i++) {
          const file = bucket.markers[(offset + i) % bucket.markers.length] as string;
          const marker = parseMarker(file);
          if (marker === undefined) continue; // a name this store never writes
          const mine = this.held.get(marker.name);
          if (mine !== undefined && mine.expiresAt > this.clock()) continue;
          const path = `${bucket.dir}/${file}`;
          if ((this.orphans.get(path) ?? 0) > Date.now()) continue;
          try {
            claimed = yield* this.tryMarker(
              path,
              bucket.bucket,
              marker.name,
              marker.k,
              token,
              leaseMs,
            );
          } catch (error) {
            // One unreadable workflow must not stop every other: go on, report it if nothing is due.
            unreadable ??= error;
            continue;
          }
          if (claimed !== undefined) return true;
        }
        return false;
      }.bind(this),
    );
    return {
      ...(claimed === undefined ? {} : { claimed }),
      ...(unreadable === undefined ? {} : { unreadable }),
    };
  }

  async heartbeat(id: string, token: string, leaseMs: number): Promise<number> {
    const next = await this.underClaim(id, token, 'heartbeat', (r, now) =>
      workflowTransitions.heartbeat(r, token, leaseMs, now),
    );
    const held = this.held.get(workflowName(id));
    const expiresAt = next.claim?.expiresAt ?? 0;
    if (held !== undefined && held.token === token) held.expiresAt = expiresAt;
    return expiresAt;
  }

  async saveStep(id: string, token: string, index: number, memo: StepMemo): Promise<void> {
    assertValidWorkflowId(id, `${CONTEXT}: saveStep`);
    const name = workflowName(id);
    const dir = this.dirOf(name);
    await this.run('saveStep', id, dir, function* (this: FileWorkflowStore): Steps<void> {
      yield* this.recordMemo(id, name, token, index, memo, 'saveStep');
    });
  }

  async suspend(id: string, token: string, options: SuspendOptions): Promise<void> {
    assertValidWorkflowId(id, `${CONTEXT}: suspend`);
    const { step, ...rest } = options;
    if (step !== undefined) {
      const name = workflowName(id);
      // The memo first, fenced like any step; then the head. A crash between leaves the workflow
      // running with the pending memo recorded: its lease expires and the next run finds it.
      await this.run(
        'suspend',
        id,
        this.dirOf(name),
        function* (this: FileWorkflowStore): Steps<void> {
          yield* this.recordMemo(id, name, token, step.index, step.memo, 'suspend');
        },
      );
    }
    await this.underClaim(id, token, 'suspend', (r, now) =>
      workflowTransitions.suspend(r, token, rest, now),
    );
  }

  async release(id: string, token: string): Promise<void> {
    await this.underClaim(id, token, 'release', (r, now) =>
      workflowTransitions.release(r, token, now),
    );
  }

  async finish(id: string, token: string, outcome: WorkflowOutcome): Promise<void> {
    await this.underClaim(id, token, 'finish', (r, now) =>
      workflowTransitions.finish(r, token, outcome, now),
    );
  }

  async signal(id: string, name: string, payload?: unknown): Promise<boolean> {
    assertValidWorkflowId(id, `${CONTEXT}: signal`);
    const next = await this.change(id, 'signal', (r, now) =>
      r === undefined ? undefined : workflowTransitions.signal(r, name, payload, now),
    );
    return next !== undefined;
  }

  async cancel(id: string): Promise<boolean> {
    assertValidWorkflowId(id, `${CONTEXT}: cancel`);
    const next = await this.change(id, 'cancel', (r, now) =>
      r === undefined ? undefined : workflowTransitions.cancel(r, now),
    );
    return next !== undefined;
  }

  /**
   * One page of workflows (see `WorkflowStore.list`), read from the creation index in the
   * listing order from the cursor on: the heads of the page, of the one workflow after it, and
   * of those the filters pass over on the way; not every head.
   */
  async list(query: WorkflowListQuery): Promise<WorkflowPage> {
    const checked = checkWorkflowListQuery(query, CONTEXT);
    try {
      await this.housekeep();
      const found = await runSteps(this.listSteps(checked));
      return pageWorkflows(found, checked);
    } catch (error) {
      throw this.wrap(error, 'list', '*');
    }
  }

  /** The steps of {@link list} (for the interleaving test): page + 1 matching summaries at least, in order. */
  protected *listSteps(query: CheckedWorkflowListQuery): Steps<WorkflowSummary[]> {
    const desc = query.order === WorkflowListOrder.DESC;
    let from = query.after === undefined ? undefined : createdTime(query.after.createdAt);
    const start = desc ? query.createdBefore : query.createdAfter;
    if (start !== undefined) {
      const bound = createdTime(start);
      from = from === undefined ? bound : desc ? Math.min(from, bound) : Math.max(from, bound);
    }
    const out: WorkflowSummary[] = [];
    yield* walkCreated(
      this.createdDir,
      desc,
      from,
      function* (this: FileWorkflowStore, group: CreatedGroup): Steps<boolean> {
        // Past the other end of the created range: nothing further can match.
        if (!desc && query.createdBefore !== undefined && group.time >= query.createdBefore)
          return true;
        if (desc && query.createdAfter !== undefined && group.time + 1 <= query.createdAfter)
          return true;
        for (const name of group.names) {
          if (!isWorkflowName(name)) continue;
          const summary = yield* this.summarySteps(this.dirOf(name), name, query);
          // A losing insert's marker names the winner's folder under another time: skipped.
          if (summary !== undefined && createdTime(summary.createdAt) === group.time)
            out.push(summary);
        }
        // Groups come in order, so once more than a page matched, later ones come after the page.
        return out.length > query.limit;
      }.bind(this),
    );
    return out;
  }

  /** How many workflows are in each status now (reads every head). */
  async counts(): Promise<WorkflowCounts> {
    try {
      await this.housekeep();
    } catch (error) {
      throw this.wrap(error, 'counts', '*');
    }
    return countWorkflows(await this.summaries(undefined));
  }

  // Before a listing or a count: sweeps what crashed inserts left, and indexes a folder written by
  // a release before the creation index (once: then the index covers it).
  private async housekeep(): Promise<void> {
    this.checkFolders(undefined, true);
    await runSteps(
      sweepPrepared(this.workflowsDir, protocolOptions.isAbandoned, protocolOptions.uniqueName),
    );
    if (existsSync(join(this.createdDir, COMPLETE_FILE))) return;
    for (const name of readdirSync(this.workflowsDir)) {
      if (name.startsWith('.') || !isWorkflowName(name)) continue;
      await runSteps(
        function* (this: FileWorkflowStore): Steps<void> {
          const head = yield* readHead(this.keyOf(this.dirOf(name)), protocolOptions);
          if (head === undefined) return;
          const { record } = this.parseHead(head, name);
          yield* addCreated(this.createdDir, record.createdAt, name, emptyFileOf(this.dueDir));
        }.call(this),
      );
    }
    markComplete(this.createdDir);
  }

  /** Makes an aborted, cancelled or failed workflow ready at once, with no failures counted. */
  async resume(id: string): Promise<boolean> {
    assertValidWorkflowId(id, `${CONTEXT}: resume`);
    const next = await this.change(id, 'resume', (r, now) =>
      r === undefined ? undefined : workflowTransitions.resume(r, now),
    );
    return next !== undefined;
  }

  /**
   * Calls `listener` whenever work may have become claimable in this folder, from any process:
   * `fs.watch` (inotify on Linux) on the due index, where each change that makes a workflow due
   * now (an insert, a waking signal, a release, a resume, a suspend or failure already due, a
   * cancel) announces itself with a file created and removed. Calls may be spurious or coalesced.
   * Where the file system gives no notifications, no calls come: workers poll. Returns a function
   * that stops listening.
   */
  watch(listener: () => void): () => void {
    let watcher: FSWatcher | undefined;
    try {
      watcher = watch(this.dueDir, { persistent: false }, () => {
        try {
          listener();
        } catch {
          // The contract: what a listener throws is ignored.
        }
      });
      watcher.on('error', () => watcher?.close());
    } catch {
      return () => undefined;
    }
    return () => watcher?.close();
  }

  /** Nothing to release: the store holds no open files between calls (a watch is closed by its own function). */
  async close(): Promise<void> {}

  // Every workflow's summary (filtered by `query` when given), its step count filled in by the
  // caller for what it keeps. The positions (createdAt, id) never change, so paging by them is
  // stable under concurrent inserts and changes.
  private async summaries(query: CheckedWorkflowListQuery | undefined): Promise<WorkflowSummary[]> {
    try {
      this.checkFolders();
      const out: WorkflowSummary[] = [];
      for (const name of readdirSync(this.workflowsDir)) {
        if (name.startsWith('.') || !isWorkflowName(name)) continue;
        const dir = this.dirOf(name);
        const summary = await runSteps(this.summarySteps(dir, name, query));
        if (summary !== undefined) out.push(summary);
      }
      return out;
    } catch (error) {
      throw this.wrap(error, query === undefined ? 'counts' : 'list', '*');
    }
  }

  private *summarySteps(
    dir: string,
    name: string,
    query: CheckedWorkflowListQuery | undefined,
  ): Steps<WorkflowSummary | undefined> {
    const head = yield* readHead(this.keyOf(dir), protocolOptions);
    if (head === undefined) return undefined;
    const { record } = this.parseHead(head, name);
    if (
      query !== undefined &&
      (!matchesWorkflowQuery(record, query) || !isAfterWorkflowCursor(record, query))
    )
      return undefined;
    const summary = toWorkflowSummary(record);
    if (query !== undefined) {
      // Positions are counted from the run folder's names (no file is read).
      const run = yield* currentRun(dir);
      summary.steps = run === undefined ? 0 : yield* countSteps(`${dir}/r${run}`);
    }
    return summary;
  }

  // One marker of a due bucket: claim its workflow if due; otherwise move the marker to the bucket
  // of its due time (when it is early and was made for this head or an older one), or drop it.
  protected *tryMarker(
    path: string,
    bucket: number,
    name: string,
    k: number,
    token: string,
    leaseMs: number,
  ): Steps<ClaimedWorkflow | undefined> {
    const dir = this.dirOf(name);
    let seen: HeadState | undefined;
    let next: WorkflowRecord | undefined;
    const result = yield* commit(
      this.keyOf(dir),
      (head) => {
        seen = head === undefined ? undefined : this.parseHead(head, name);
        if (head === undefined || seen === undefined) return undefined;
        const now = this.clock();
        if (!isWorkflowDue(seen.record, now)) return undefined;
        next = workflowTransitions.claim(seen.record, token, leaseMs, now);
        return { chunks: encodeHead(next, head.version + 1), sync: this.fsync };
      },
      protocolOptions,
    );
    if (result.committed && next !== undefined) {
      // Fence the previous holder (if any) before reading the history it may still be adding to.
      if (!(yield* moveRun(dir, result.version, seen?.run))) return undefined;
      const runDir = `${dir}/r${result.version}`;
      // Read as anyone would (not as the holder: its barrier, written next, says what it read).
      const steps = yield* readSteps(runDir);
      if (steps === undefined) return undefined;
      const held = this.heldOf(next.id, token, result.version, next.claim?.expiresAt ?? 0, steps);
      held.marker = path;
      // A claim that read a non-empty log writes its barrier before it acts on what it read, so
      // that no record landing later (a stalled holder's, or an older claim's late barrier) can
      // change that history (step-log.ts).
      if (steps.size > 0 && !held.barrier) {
        if ((yield* this.appendHeld(dir, held, encodeBarrier(held.run, steps.size))) === 'FENCED')
          return undefined;
        held.barrier = true;
      }
      this.held.set(name, held);
      const memos = [...held.memos];
      return { token, record: { ...next, steps: memos } };
    }
    const state = seen;
    if (state === undefined) {
      // No workflow (yet): an insert under way, or one that crashed before creating its folder.
      // Never removed or moved (an insert stalled for any time may still complete, and then this is
      // its only marker); this process skips it for a while instead of reading it on every pass.
      // Only one it has seen so for a while: a new one is most likely an insert about to complete.
      // Real time, and only this process's own sightings: markers are hard links of one shared
      // file, so their file times say nothing of their own age.
      const now = Date.now();
      const since = this.suspects.get(path);
      if (since === undefined) {
        if (this.suspects.size >= MAX_ORPHANS) this.suspects.clear();
        this.suspects.set(path, now);
      } else if (now - since > ORPHAN_AGE_MS) {
        this.suspects.delete(path);
        if (this.orphans.size >= MAX_ORPHANS) this.orphans.clear();
        this.orphans.set(path, now + ORPHAN_SKIP_MS);
      }
      return undefined;
    }
    if (isFinishedStatus(state.record.status)) {
      yield { op: 'unlink', path };
      return undefined;
    }
    const due = dueOf(state.record);
    if (finestBucket(due) > bucket && k <= state.version) {
      yield* addMarker(this.dueDir, due, name, state.version);
      yield { op: 'unlink', path };
    }
    return undefined;
  }

  // Records a memo at `index` under the claim: validated against what this process knows of the
  // history (read from disk when it holds nothing), then linked into the claim's run folder.
  protected *recordMemo(
    id: string,
    name: string,
    token: string,
    index: number,
    memo: StepMemo,
    operation: string,
  ): Steps<void> {
    const dir = this.dirOf(name);
    for (let attempt = 0; ; attempt++) {
      const cached = this.held.get(name)?.token === token;
      const held = yield* this.loadHeld(id, name, token, operation);
      try {
        if (checkStepPlacement(id, held.memos, index, memo) === 'recorded') return; // this very memo is there already
      } catch (error) {
        // Judged on what this process knew: a lost claim comes first (LOCK_LOST), so look on disk.
        if (!cached) throw error;
        this.held.delete(name);
        continue;
      }
      const version = index < held.versions.length ? (held.versions[index] as number) + 1 : 0;
      const outcome = yield* this.appendHeld(
        dir,
        held,
        this.recordBytes(held, index, version, memo),
      );
      if (outcome === 'FENCED') {
        this.held.delete(name);
        throw lockLost(id, operation);
      }
      if (outcome === 'ok') {
        held.memos[index] = memo;
        held.versions[index] = version;
        held.runs[index] = held.run;
        return;
      }
      // Another append came between what this process knew and its own (the same claim in another
      // call): the log decides. The first record of a position and version counts.
      if (held.memos[index] !== undefined && held.versions[index] === version) {
        if (JSON.stringify(held.memos[index]) === JSON.stringify(memo)) return;
      }
      this.held.delete(name);
      if (attempt > 3) throw lockLost(id, operation);
    }
  }

  // The bytes of one step record, after this claim's barrier (and the imported history of an
  // older version's per-step files) when the log holds neither yet. Such a claim read no log (a
  // claim that read one wrote its barrier at once), so its barrier says it read nothing.
  private recordBytes(held: Held, index: number, version: number, memo: StepMemo): Uint8Array {
    const record = encodeStepRecord(held.run, index, version, memo);
    if (held.barrier) return record;
    const parts = [encodeBarrier(held.run, 0)];
    // Imported at version 0 each (held counts them so: see heldOf), as records of this claim.
    if (held.legacy)
      held.memos.forEach((old, at) => parts.push(encodeStepRecord(held.run, at, 0, old)));
    parts.push(record);
    return Buffer.concat(parts);
  }

  /**
   * Appends records of the held claim to its run folder's log, then reads the log back at its
   * path from what this process knew. The read is the fence check: the run folder is renamed away
   * from `r<run>` when the claim ends and never comes back, so a log found there after the append
   * was durable means that rename came later, and the next holder (which reads the log after it)
   * reads the records. 'ok' when only this append came after what held knew (held.size moves past
   * it); 'FENCED' when the folder had moved on (the records may or may not count: the claim is
   * lost either way); 'OTHER' when other appends came in between (held is then reloaded from the
   * whole log, which decides).
   */
  private *appendHeld(
    dir: string,
    held: Held,
    bytes: Uint8Array,
  ): Steps<'ok' | 'FENCED' | 'OTHER'> {
    const runDir = `${dir}/r${held.run}`;
    if ((yield* appendRecords(runDir, bytes, this.fsync)) === 'FENCED') return 'FENCED';
    const after = yield* readLogFrom(runDir, held.size);
    if (after === undefined) return 'FENCED';
    held.barrier = true;
    held.legacy = false;
    if (Buffer.compare(after, bytes) === 0) {
      held.size += bytes.length;
      return 'ok';
    }
    const steps = yield* readSteps(runDir, held.run);
    if (steps === undefined) return 'FENCED';
    Object.assign(held, this.heldOf(held.id, held.token, held.run, held.expiresAt, steps), {
      marker: held.marker,
    });
    return 'OTHER';
  }

  private heldOf(
    id: string,
    token: string,
    run: number,
    expiresAt: number,
    steps: RunHistory,
  ): Held {
    return {
      id,
      token,
      run,
      expiresAt,
      memos: steps.memos as StepMemo[],
      // An older version's per-step files are imported at version 0 (see recordBytes).
      versions: steps.legacy ? steps.versions.map(() => 0) : steps.versions,
      runs: steps.runs,
      size: steps.size,
      barrier: steps.barriers.has(run),
      legacy: steps.legacy,
    };
  }

  private *loadHeld(id: string, name: string, token: string, operation: string): Steps<Held> {
    const cached = this.held.get(name);
    if (cached !== undefined && cached.token === token) return cached;
    const dir = this.dirOf(name);
    const head = yield* readHead(this.keyOf(dir), protocolOptions);
    const state = head === undefined ? undefined : this.parseHead(head, name);
    assertClaimHeld(state?.record, token, operation, id);
    const steps = yield* readSteps(`${dir}/r${state.run}`, state.run);
    if (steps === undefined) throw lockLost(id, operation);
    const held = this.heldOf(id, token, state.run, state.record.claim?.expiresAt ?? 0, steps);
    this.held.set(name, held);
    return held;
  }

  private async underClaim(
    id: string,
    token: string,
    operation: string,
    apply: (record: WorkflowRecord, now: number) => WorkflowRecord,
  ): Promise<WorkflowRecord> {
    assertValidWorkflowId(id, `${CONTEXT}: ${operation}`);
    const next = await this.change(id, operation, (record, now) => {
      assertClaimHeld(record, token, operation, id);
      return apply(record, now);
    });
    return next as WorkflowRecord;
  }

  /**
   * Commits `apply(head)` by compare-and-swap on the head. A change that makes the workflow due
   * earlier than the bucket its markers may be in first adds a marker for the new due time (made
   * for the new head's version, so no claimer removes it before that head exists). A change that
   * ends or takes a claim then moves the run folder on (fencing the old holder), and a finished
   * workflow's known marker is removed.
   */
  private async change(
    id: string,
    operation: string,
    apply: (record: WorkflowRecord | undefined, now: number) => WorkflowRecord | undefined,
  ): Promise<WorkflowRecord | undefined> {
    return this.run(
      operation,
      id,
      this.dirOf(workflowName(id)),
      function* (this: FileWorkflowStore) {
        return yield* this.changeSteps(id, apply);
      },
    );
  }

  /** The steps of {@link change} (for the interleaving test). */
  protected *changeSteps(
    id: string,
    apply: (record: WorkflowRecord | undefined, now: number) => WorkflowRecord | undefined,
  ): Steps<WorkflowRecord | undefined> {
    const name = workflowName(id);
    const dir = this.dirOf(name);
    {
      let anchoredFor = -1;
      for (;;) {
        let need: { due: number; version: number } | undefined;
        let before: WorkflowRecord | undefined;
        let runBefore: number | undefined;
        let next: WorkflowRecord | undefined;
        const result = yield* commit(
          this.keyOf(dir),
          (head) => {
            const state = head === undefined ? undefined : this.parseHead(head, name);
            before = state?.record;
            runBefore = state?.run;
            next = apply(before === undefined ? undefined : { ...before }, this.clock());
            if (head === undefined || state === undefined || next === undefined) return undefined;
            if (
              finestBucket(dueOf(next)) < finestBucket(dueOf(state.record)) &&
              anchoredFor !== head.version
            ) {
              need = { due: dueOf(next), version: head.version };
              return undefined;
            }
            return { chunks: encodeHead(next, state.run), sync: this.fsync };
          },
          protocolOptions,
        );
        if (need !== undefined) {
          yield* addMarker(this.dueDir, need.due, name, need.version + 1);
          anchoredFor = need.version;
          continue;
        }
        if (!result.committed || next === undefined || before === undefined) return undefined;
        const committed: WorkflowRecord = next;
        const held = this.held.get(name);
        const ended: WorkflowRecord = before;
        if (ended.claim !== undefined && committed.claim?.token !== ended.claim.token) {
          // The claim ended (or was revoked): fence its holder; nothing after the commit may fail it.
          try {
            yield* moveRun(dir, result.version, runBefore);
            if (
              held?.marker !== undefined &&
              (isFinishedStatus(committed.status) || anchoredFor >= 0)
            )
              yield { op: 'unlink', path: held.marker };
          } catch {
            // Committed already: the next claim moves the run folder, a claimer drops the marker.
          }
          this.held.delete(name);
        }
        if (
          committed.status !== 'running' &&
          (isWorkflowDue(committed, this.clock()) || committed.status === 'cancelled')
        )
          yield* this.announceQuietly();
        return committed;
      }
    }
  }

  private parseHead(head: Head, name: string): HeadState {
    if (head.kind !== ValueKind.VALUE) {
      throw new DurableError(
        ErrorCode.BACKEND,
        `${CONTEXT}: the head of workflow folder ${name} (${head.path}) is corrupt (${
          head.corrupt ?? 'no value'
        }); restore it from a backup`,
        {
          retryable: false,
          details: { path: head.path },
        },
      );
    }
    const record = parseWorkflowRecord(
      Buffer.from(head.data).toString('utf8'),
      CONTEXT,
    ) as WorkflowRecord & { run?: unknown };
    const run = record.run;
    delete record.run;
    if (typeof run !== 'number' || workflowName(String(record.id)) !== name) {
      throw new DurableError(
        ErrorCode.BACKEND,
        `${CONTEXT}: ${head.path} is not the head of workflow folder ${name}: not written by this store`,
        {
          retryable: false,
          details: { path: head.path },
        },
      );
    }
    record.steps = [];
    return { record, run, version: head.version };
  }

  private async run<T>(
    operation: string,
    id: string,
    dir: string | undefined,
    steps: (this: FileWorkflowStore) => Steps<T>,
    created = false,
  ): Promise<T> {
    try {
      this.checkFolders(dir, created);
      return await runSteps(steps.call(this));
    } catch (error) {
      throw this.wrap(error, operation, id);
    }
  }

  private wrap(error: unknown, operation: string, id: string): DurableError {
    if (isDurableError(error)) return error;
    if (error instanceof ForeignFolderError || error instanceof CorruptStepError) {
      return new DurableError(
        ErrorCode.BACKEND,
        `${CONTEXT}: ${operation} failed for ${id}: ${error.message}; move it away or restore it from a backup`,
        {
          retryable: false,
          cause: error,
          details: { id },
        },
      );
    }
    return toBackendError(error, `${CONTEXT}: ${operation} failed for ${id}`, { details: { id } });
  }

  // Every use checks that the store's folders (and the workflow's) are plain folders, not symlinks
  // planted to lead the store outside its root; the creation index's folder where it is used (an
  // insert, a listing), so the other calls make no lstat more for it.
  private checkFolders(dir?: string, created = false): void {
    const paths = [this.workflowsDir, this.dueDir];
    if (created) paths.push(this.createdDir);
    if (dir !== undefined) paths.push(dir);
    for (const path of paths) {
      let stats;
      try {
        stats = lstatSync(path);
      } catch (error) {
        if (path === dir && (error as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw error;
      }
      if (stats.isSymbolicLink() || !stats.isDirectory()) {
        throw new DurableError(
          ErrorCode.PATH_ESCAPE,
          `${CONTEXT}: refused ${path}: not a plain folder inside the root (a planted symlink?)`,
          { details: { path } },
        );
      }
    }
  }

  private dirOf(name: string): string {
    return `${this.workflowsDir}/${name}`;
  }

  private keyOf(dir: string): KeyFolder {
    return { dir, parent: this.workflowsDir };
  }
}

/** When a workflow is next claimable: its runAt, a running one's lease expiry, never once finished. */
function dueOf(record: WorkflowRecord): number {
  if (isFinishedStatus(record.status)) return Number.POSITIVE_INFINITY;
  if (record.status === 'running') return record.claim?.expiresAt ?? 0;
  return record.runAt;
}

function encodeHead(record: WorkflowRecord, run: number): Uint8Array[] {
  // The steps live in the run folder, not in the head.
  const head: Omit<WorkflowRecord, 'steps'> & { steps?: unknown; run: number } = { ...record, run };
  delete head.steps;
  return encodeValueFile(ValueKind.VALUE, Buffer.from(JSON.stringify(head)));
}

function lockLost(id: string, operation: string): DurableError {
  return new DurableError(
    ErrorCode.LOCK_LOST,
    `${CONTEXT}: ${operation} refused for ${id}: the claim is no longer held (taken over, cancelled or finished)`,
    {
      details: { id },
    },
  );
}

// Whether a workflows folder holds no workflow folder (only names the store never lists).
function isEmptyOfWorkflows(dir: string): boolean {
  return readdirSync(dir).every((name) => name.startsWith('.') || !isWorkflowName(name));
}

// Says the creation index covers every workflow (an empty file; made once, kept forever).
function markComplete(createdDir: string): void {
  createIfMissing(join(createdDir, COMPLETE_FILE));
}

// An empty file at `path` unless something is there already.
function createIfMissing(path: string): void {
  try {
    closeSync(openSync(path, 'wx'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
}
