import { createHash } from 'node:crypto';

// Why this file exists: the AWS SDK retries a request whose reply was lost (a reset connection,
// a timeout). When the lost attempt had been applied, the retry of a conditional PUT or DELETE
// meets our own write and S3 answers 412 (or 404): reporting that as CONFLICT would tell the
// caller "not applied" about a write that was applied. So every write carries two user-metadata
// fields, and an ambiguous failure is settled by reading them back (HeadObject).

/** User metadata (`x-amz-meta-durable-write`): a fresh id per write call, so a reader can tell whose write is there. */
export const WRITE_ID_META = 'durable-write';
/** User metadata (`x-amz-meta-durable-if`): the precondition the write consumed (see {@link conditionMark}). */
export const CONDITION_META = 'durable-if';
/**
 * User metadata (`x-amz-meta-durable-prev`): the write id of the version this write replaced, when
 * the writer had seen it. A writer whose reply was lost and whose write was then replaced finds
 * its own id here, and its own version in the replacer's `durable-if`.
 */
export const PREVIOUS_META = 'durable-prev';

const MAX_SEEN = 10_000;

/** The write id of the version of each key that this manager last read or wrote (bounded). */
export class SeenWrites {
  private readonly seen = new Map<string, { etag: string; writeId: string }>();

  /** Records that `key` was at `etag`, written by `writeId` (unknown: forgets the key). */
  note(key: string, etag: string, writeId: string | undefined): void {
    if (writeId === undefined) {
      this.seen.delete(key);
      return;
    }
    // Many keys read once must not grow the map forever; forgetting only costs a sharper answer.
    if (this.seen.size >= MAX_SEEN) this.seen.clear();
    this.seen.set(key, { etag, writeId });
  }

  /** The write id of `key` at version `etag`, when this manager saw that version. */
  writeIdOf(key: string, etag: string): string | undefined {
    const seen = this.seen.get(key);
    return seen?.etag === etag ? seen.writeId : undefined;
  }
}

/**
 * The precondition a write consumed, as stored with it: `absent` (a create), `any` (unconditional),
 * or the `ifVersion` it replaced (hashed when it is not plain printable ASCII, so it fits a header).
 */
export function conditionMark(ifVersion: string | null | undefined): string {
  if (ifVersion === undefined) return 'any';
  if (ifVersion === null) return 'absent';
  if (/^[\x21-\x7e]{1,200}$/.test(ifVersion)) return `v:${ifVersion}`;
  return `h:${createHash('sha256').update(ifVersion).digest('hex')}`;
}

/** What HeadObject showed of the object after an ambiguous failure (undefined: no object). */
export interface ObservedObject {
  etag: string;
  writeId: string | undefined;
  condition: string | undefined;
  previous: string | undefined;
}

/** The settled outcome of an ambiguous conditional write or delete. */
export type Outcome =
  | { kind: 'applied'; version: string }
  | { kind: 'conflict'; reason: string }
  | { kind: 'unknown'; reason: string };

/**
 * Settles a conditional write (`writeId` given) or delete (`writeId` undefined) expecting
 * `ifVersion`, from the object now stored. Sound because a precondition holds in one unbroken
 * stretch of time that exactly one write can end: if another write consumed the very precondition
 * we expected, ours cannot have been applied. Anything else could hide our write (overwritten or
 * deleted since), so it is `unknown`, never a conflict.
 */
export function settleOutcome(
  current: ObservedObject | undefined,
  writeId: string | undefined,
  ifVersion: string | null,
): Outcome {
  if (current === undefined) {
    return {
      kind: 'unknown',
      reason:
        'the object is gone: it may have been written or deleted by this call and changed again since',
    };
  }
  if (writeId !== undefined && current.writeId === writeId)
    return { kind: 'applied', version: current.etag };
  // Replaced by a writer that had read our write: ours was applied, at the version it replaced.
  if (
    writeId !== undefined &&
    current.previous === writeId &&
    current.condition?.startsWith('v:') === true
  ) {
    return { kind: 'applied', version: current.condition.slice(2) };
  }
  // "Absent" recurs after every delete, so a create by another writer does not prove ours failed.
  if (
    ifVersion !== null &&
    current.condition === conditionMark(ifVersion) &&
    current.etag !== ifVersion
  ) {
    return { kind: 'conflict', reason: `another write replaced version ${ifVersion} first` };
  }
  return {
    kind: 'unknown',
    reason: 'another write is there now, and this call may have been applied before it',
  };
}
