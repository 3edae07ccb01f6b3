import { DurableError, ErrorCode, isDurableError } from './errors.js';
import type { StorageManager } from './storage.js';
import { bytesToText } from './storage.js';
import type { StepMemo, WorkflowRecord } from './workflow-store.js';
import { assertClaimHeld, encodeWorkflowId, isSameMemo } from './workflow-store.js';

const INDEX_DIGITS = 10;
const READ_BATCH = 64;

/**
 * The storage-backed store's history layout: each recorded (done) step is its own key,
 * `<prefix><base64url id>/<10-digit position>`, created once; the record keeps `stepCount`, the
 * number of positions committed, and at most one pending memo (a sleep or a wait not yet over,
 * always at position `stepCount`). A step is one small key write plus one compare-and-swap of
 * the record (raising `stepCount` under the claim's token): neither grows with the history.
 *
 * A step is committed by the record's write, which is fenced by the claim: a worker whose claim
 * was taken over can write a key at position `stepCount` (nobody reads it: it is past the count)
 * but never commit it, and the next holder overwrites it. Such an overwrite is conditional on
 * the key's version, after the holder has read that key and then checked that it still holds
 * the claim: a stale worker that reads the new holder's key afterwards finds the claim gone.
 * Records written before this layout keep their steps inline (`steps` in the record): positions
 * below `steps.length` are read from there.
 */
export interface StepLayout {
  /** Positions committed (inline ones included). */
  stepCount?: number;
  /** The pending memo at position `stepCount`, if any. */
  pendingStep?: { index: number; memo: StepMemo } | undefined;
}

/** Step keys of one store. */
export class StepKeys {
  constructor(
    private readonly storage: StorageManager,
    private readonly prefix: string,
    private readonly name: string,
  ) {}

  key(id: string, index: number): string {
    return `${this.prefix}${encodeWorkflowId(id)}/${String(index).padStart(INDEX_DIGITS, '0')}`;
  }

  /**
   * The full history of `record`: inline positions, keyed ones, then the pending memo. `known`
   * holds memos of committed positions read before (a committed position never changes: its key
   * is never written again once the record counts it), which are not read again.
   */
  async history(
    record: WorkflowRecord & StepLayout,
    known: readonly StepMemo[] = [],
  ): Promise<StepMemo[]> {
    const steps = record.steps.slice();
    const count = record.stepCount ?? steps.length;
    const from = Math.max(steps.length, Math.min(known.length, count));
    for (let i = steps.length; i < from; i++) steps[i] = known[i] as StepMemo;
    const positions: number[] = [];
    for (let i = from; i < count; i++) positions.push(i);
    for (let from = 0; from < positions.length; from += READ_BATCH) {
      const batch = positions.slice(from, from + READ_BATCH);
      const memos = await Promise.all(batch.map((i) => this.read(record.id, i)));
      memos.forEach((found, j) => {
        const at = batch[j] as number;
        if (found === undefined) {
          throw new DurableError(
            ErrorCode.BACKEND,
            `${this.name}: step ${at} of workflow ${record.id} is committed but its key is missing`,
            {
              details: { id: record.id, index: at },
            },
          );
        }
        steps[at] = found.memo;
      });
    }
    if (record.pendingStep !== undefined) steps[record.pendingStep.index] = record.pendingStep.memo;
    return steps;
  }

  /**
   * Writes `memo` at `index` (not yet committed: the caller commits with the record). A key
   * there already is our own write retried (the same memo: done) or a stale worker's, which is
   * overwritten once `stillHeld` confirms, after the key was read, that the claim is ours.
   */
  async write(
    id: string,
    index: number,
    memo: StepMemo,
    stillHeld: () => Promise<void>,
  ): Promise<void> {
    const key = this.key(id, index);
    const text = JSON.stringify(memo);
    let ifVersion: string | null = null;
    for (;;) {
      try {
        await this.storage.write(key, text, { ifVersion });
        return;
      } catch (error) {
        if (
          !isDurableError(error, ErrorCode.CONFLICT) &&
          !isDurableError(error, ErrorCode.UNKNOWN_OUTCOME)
        )
          throw error;
      }
      const found = await this.read(id, index);
      if (found !== undefined && isSameMemo(found.memo, memo)) return;
      await stillHeld();
      ifVersion = found?.version ?? null;
    }
  }

  private async read(
    id: string,
    index: number,
  ): Promise<{ memo: StepMemo; version: string } | undefined> {
    const entry = await this.storage.read(this.key(id, index));
    if (entry === undefined) return undefined;
    try {
      return { memo: JSON.parse(bytesToText(entry.data)) as StepMemo, version: entry.version };
    } catch (error) {
      throw new DurableError(
        ErrorCode.BACKEND,
        `${this.name}: step ${index} of workflow ${id} is not valid JSON`,
        { cause: error },
      );
    }
  }
}

/** A legacy record (steps inline, maybe ending with a pending memo) in the keyed layout's terms. */
export function normalizeSteps<R extends WorkflowRecord & StepLayout>(record: R): R {
  if (record.stepCount !== undefined) return record;
  const last = record.steps[record.steps.length - 1];
  if (last === undefined || last.done) return { ...record, stepCount: record.steps.length };
  const index = record.steps.length - 1;
  return {
    ...record,
    steps: record.steps.slice(0, index),
    stepCount: index,
    pendingStep: { index, memo: last },
  };
}

/** Throws `LOCK_LOST` unless `token` holds the claim of `record`. */
export function assertHeld(
  record: WorkflowRecord | undefined,
  token: string,
  operation: string,
  id: string,
): void {
  assertClaimHeld(record, token, operation, id);
}
