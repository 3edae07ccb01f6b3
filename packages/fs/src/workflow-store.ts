import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type {
  ClaimedWorkflow,
  Clock,
  NewWorkflow,
  StepMemo,
  SuspendOptions,
  WorkflowOutcome,
  WorkflowRecord,
  WorkflowStore,
} from '@durable/core';
import {
  DurableError,
  ErrorCode,
  assertClaimHeld,
  assertValidWorkflowId,
  bytesToText,
  createClaimToken,
  encodeWorkflowId,
  isDurableError,
  isFinishedStatus,
  isWorkflowDue,
  parseWorkflowRecord,
  systemClock,
  workflowTransitions,
} from '@durable/core';
import { LocalFileStorageManager } from './file-storage.js';

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
// A pending marker without its record (a crash between the two writes of insert) is dropped
// once it is this old.
const ORPHAN_MARKER_MS = 60_000;
const PENDING_DIR = '.workflow-pending';
// Longest marker name kept readable; longer ids get a hashed name and keep the id inside.
const MAX_MARKER_NAME = 200;

/**
 * The embedded default {@link WorkflowStore}: workflows in a local folder, safe for several
 * processes at once. Each workflow is one JSON record in a {@link LocalFileStorageManager}
 * (atomic, fsynced, compare-and-swap by hard-linked generation files, so a killed process leaves
 * nothing half-written and two claimers can never both win). Unfinished workflows also have an
 * empty marker file in one plain folder, so a claim costs one readdir plus a read of the
 * candidates, and finished workflows are never read again.
 */
export class FileWorkflowStore implements WorkflowStore {
  private readonly storage: LocalFileStorageManager;
  private readonly pendingDir: string;
  private readonly clock: Clock;
  // The record and version this instance last wrote under each claim: a write under the claim
  // tries that version first, so a step costs one conditional write (a conflict re-reads).
  private readonly held = new Map<string, Held>();
  // Records seen not due before an instant (and not waiting for an event): claims skip them.
  private readonly notBefore = new Map<string, number>();

  constructor(options: FileWorkflowStoreOptions) {
    if (options === null || typeof options !== 'object' || typeof options.root !== 'string' || options.root === '') {
      throw new DurableError(ErrorCode.CONFIG, `${CONTEXT}: options with a "root" folder are required`);
    }
    this.storage = new LocalFileStorageManager({ root: options.root, ...(options.fsync === undefined ? {} : { fsync: options.fsync }) });
    this.pendingDir = join(this.storage.root, PENDING_DIR);
    mkdirSync(this.pendingDir, { recursive: true });
    if (!statSync(this.pendingDir).isDirectory()) throw new DurableError(ErrorCode.CONFIG, `${CONTEXT}: ${this.pendingDir} is not a folder`);
    this.clock = options.clock ?? systemClock;
  }

  /** The resolved root folder. */
  get root(): string {
    return this.storage.root;
  }

  async insert(workflow: NewWorkflow): Promise<boolean> {
    const record = workflowTransitions.create(workflow, this.clock());
    try {
      // Marker first: a crash between the two writes leaves an orphan marker (dropped later),
      // never a record that no claim would find.
      writeFileSync(join(this.pendingDir, markerName(record.id)), record.id);
      await this.storage.write(recordKey(record.id), JSON.stringify(record), { ifVersion: null });
      return true;
    } catch (error) {
      if (isDurableError(error, ErrorCode.CONFLICT)) return false;
      throw wrap(error, 'insert', record.id);
    }
  }

  async get(id: string): Promise<WorkflowRecord | undefined> {
    assertValidWorkflowId(id, `${CONTEXT}: get`);
    return (await this.read(id))?.record;
  }

  async claim(options: { leaseMs: number }): Promise<ClaimedWorkflow | undefined> {
    let names: string[];
    try {
      names = readdirSync(this.pendingDir).filter((name) => !name.startsWith('.'));
    } catch (error) {
      throw wrap(error, 'claim (list)', '*');
    }
    let unreadable: unknown;
    // Start at a random place so concurrent claimers spread out instead of racing for one record.
    const offset = Math.floor(Math.random() * names.length);
    for (let i = 0; i < names.length; i++) {
      const name = names[(offset + i) % names.length] as string;
      const id = this.markerId(name);
      if (id === undefined) continue;
      const skipUntil = this.notBefore.get(id);
      if (skipUntil !== undefined && skipUntil > this.clock()) continue;
      const token = createClaimToken();
      let claimed: WorkflowRecord | undefined;
      try {
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
          { tryOnce: true, marker: name },
        );
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

  async heartbeat(id: string, token: string, leaseMs: number): Promise<number> {
    const next = await this.underClaim(id, token, 'heartbeat', (r, now) => workflowTransitions.heartbeat(r, token, leaseMs, now));
    return next.claim?.expiresAt ?? 0;
  }

  async saveStep(id: string, token: string, index: number, memo: StepMemo): Promise<void> {
    await this.underClaim(id, token, 'saveStep', (r, now) => workflowTransitions.saveStep(r, token, index, memo, now));
  }

  async suspend(id: string, token: string, options: SuspendOptions): Promise<void> {
    await this.underClaim(id, token, 'suspend', (r, now) => workflowTransitions.suspend(r, token, options, now));
  }

  async release(id: string, token: string): Promise<void> {
    await this.underClaim(id, token, 'release', (r, now) => workflowTransitions.release(r, token, now));
  }

  async finish(id: string, token: string, outcome: WorkflowOutcome): Promise<void> {
    const next = await this.underClaim(id, token, 'finish', (r, now) => workflowTransitions.finish(r, token, outcome, now));
    if (isFinishedStatus(next.status)) this.dropMarker(id);
  }

  async signal(id: string, name: string, payload?: unknown): Promise<boolean> {
    assertValidWorkflowId(id, `${CONTEXT}: signal`);
    this.notBefore.delete(id);
    const next = await this.change(id, (r) => (r === undefined ? undefined : workflowTransitions.signal(r, name, payload, this.clock())));
    return next !== undefined;
  }

  async cancel(id: string): Promise<boolean> {
    assertValidWorkflowId(id, `${CONTEXT}: cancel`);
    const next = await this.change(id, (r) => (r === undefined ? undefined : workflowTransitions.cancel(r, this.clock())));
    if (next === undefined) return false;
    this.dropMarker(id);
    return true;
  }

  private async underClaim(
    id: string,
    token: string,
    operation: string,
    apply: (record: WorkflowRecord, now: number) => WorkflowRecord,
  ): Promise<WorkflowRecord> {
    assertValidWorkflowId(id, `${CONTEXT}: ${operation}`);
    const next = await this.change(
      id,
      (record) => {
        assertClaimHeld(record, token, operation, id);
        return apply(record, this.clock());
      },
      { token },
    );
    if (next === undefined) throw new DurableError(ErrorCode.LOCK_LOST, `${CONTEXT}: ${operation} refused for ${id}`);
    return next;
  }

  /**
   * Applies `apply` to the current record and commits the result conditionally on the version
   * read, retrying on a lost race (`tryOnce`: giving up). `undefined` from `apply`: no change.
   */
  private async change(
    id: string,
    apply: (record: WorkflowRecord | undefined) => WorkflowRecord | undefined,
    options: { token?: string; tryOnce?: boolean; marker?: string } = {},
  ): Promise<WorkflowRecord | undefined> {
    let cached = options.token === undefined ? undefined : this.held.get(id);
    if (cached !== undefined && cached.token !== options.token) cached = undefined;
    for (;;) {
      const current = cached ?? (await this.read(id));
      cached = undefined;
      if (options.marker !== undefined) {
        if (current === undefined) this.dropOrphan(options.marker);
        else if (isFinishedStatus(current.record.status)) this.dropMarker(id);
      }
      const next = apply(current?.record);
      if (next === undefined) return undefined;
      try {
        const version = await this.storage.write(recordKey(id), JSON.stringify(next), { ifVersion: current?.version ?? null });
        if (next.claim !== undefined) this.held.set(id, { token: next.claim.token, version, record: next });
        else this.held.delete(id);
        return next;
      } catch (error) {
        if (!isDurableError(error, ErrorCode.CONFLICT)) throw wrap(error, 'write', id);
        this.held.delete(id);
        if (options.tryOnce === true) return undefined;
      }
    }
  }

  private async read(id: string): Promise<{ record: WorkflowRecord; version: string } | undefined> {
    let entry;
    try {
      entry = await this.storage.read(recordKey(id));
    } catch (error) {
      throw wrap(error, 'read', id);
    }
    if (entry === undefined) return undefined;
    return { record: parseWorkflowRecord(bytesToText(entry.data), CONTEXT), version: entry.version };
  }

  private remember(record: WorkflowRecord): void {
    // Only a record no write but a signal can make due earlier: not a running one (its worker may
    // release it or sleep briefly), not one that waits for an event.
    if (record.status === 'running' || (record.wakeOn !== undefined && record.wakeOn.length > 0)) return;
    this.notBefore.set(record.id, record.runAt);
    if (this.notBefore.size > 100_000) this.notBefore.clear();
  }

  private markerId(name: string): string | undefined {
    if (!name.startsWith('#')) return Buffer.from(name, 'hex').toString('utf8');
    try {
      return readFileSync(join(this.pendingDir, name), 'utf8');
    } catch {
      return undefined; // removed meanwhile
    }
  }

  private dropMarker(id: string): void {
    this.held.delete(id);
    this.notBefore.delete(id);
    unlinkMissingOk(join(this.pendingDir, markerName(id)), id);
  }

  private dropOrphan(name: string): void {
    const path = join(this.pendingDir, name);
    let age: number;
    try {
      age = Date.now() - statSync(path).mtimeMs;
    } catch {
      return;
    }
    if (age > ORPHAN_MARKER_MS) unlinkMissingOk(path, name);
  }
}

interface Held {
  token: string;
  version: string;
  record: WorkflowRecord;
}

function recordKey(id: string): string {
  return `workflows/${encodeWorkflowId(id)}`;
}

// Hex keeps marker names apart on case-insensitive file systems (base64 would not).
function markerName(id: string): string {
  const hex = Buffer.from(id, 'utf8').toString('hex');
  return hex.length <= MAX_MARKER_NAME ? hex : `#${createHash('sha256').update(id).digest('hex')}`;
}

function unlinkMissingOk(path: string, id: string): void {
  try {
    unlinkSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw wrap(error, 'remove marker', id);
  }
}

function wrap(error: unknown, operation: string, id: string): DurableError {
  if (isDurableError(error)) return error;
  return new DurableError(ErrorCode.BACKEND, `${CONTEXT}: ${operation} failed for ${id}: ${error instanceof Error ? error.message : String(error)}`, {
    cause: error,
    retryable: true,
    details: { id },
  });
}

/** Creates a {@link FileWorkflowStore}. */
export function createFileWorkflowStore(options: FileWorkflowStoreOptions): FileWorkflowStore {
  return new FileWorkflowStore(options);
}
