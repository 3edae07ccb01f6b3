import { createHash } from 'node:crypto';
import type { DirEntry, FsOp, Outcome, Steps } from './protocol.js';

/*
 * The due index of the fs workflow store: one empty marker file per (workflow, anchor) in a
 * bucket folder named by the due time it stands for, three levels deep:
 *
 *   <due>/<t / 2^30>/<t / 2^20>/<t / 2^10>/<name>.<k>
 *
 * (t in ms, integer division; buckets of ~12 days, ~17 min and ~1 s). A claim walks only the
 * buckets whose start is <= now, oldest first, so workflows sleeping or scheduled later are never
 * listed, however many there are. `name` is the workflow's folder name (workflow-layout.ts) and
 * `k` the version of the workflow's head that the marker was made for (see the invariants in
 * docs/architecture.md): a marker is an empty file, so it has no content a crash could tear, and
 * every name that does not parse is ignored.
 */

/** The shared empty file that markers are hard links of (see the `createFile` op), in the due folder. */
export const EMPTY_FILE = '.empty';

/** The path of the shared empty file of the index under `dueDir`. */
export function emptyFileOf(dueDir: string): string {
  return `${dueDir}/${EMPTY_FILE}`;
}

/** Bits of time (ms) each bucket level drops, coarsest first. */
export const BUCKET_SHIFTS = [30, 20, 10] as const;
const NUMBER = /^(0|[1-9][0-9]{0,15})$/;
const MARKER = /^((?:[0-9a-f]{2})+|#[0-9a-f]{64})\.(0|[1-9][0-9]{0,15})$/;
// Longest folder name kept readable; longer ids get a hashed name and keep the id in their head.
const MAX_NAME = 200;
const MAX_CREATE_ATTEMPTS = 100;

const WORKFLOW_NAME = /^(?:(?:[0-9a-f]{2})+|#[0-9a-f]{64})$/;

/** Whether `name` is one {@link workflowName} makes. */
export function isWorkflowName(name: string): boolean {
  return WORKFLOW_NAME.test(name);
}

/**
 * Announces to watchers of the due index (fs.watch on its folder) that work may have become
 * claimable: a file created and removed at once. Names start with "." so walks ignore them.
 */
export function* announce(dueDir: string, unique: string): Steps<void> {
  const path = `${dueDir}/.w-${unique}`;
  if ((yield { op: 'createFile', path, like: emptyFileOf(dueDir) }) === 'ok')
    yield { op: 'unlink', path };
}

/** The folder name of a workflow: hex of its id (apart on case-insensitive file systems), or `#` + SHA-256. */
export function workflowName(id: string): string {
  const hex = Buffer.from(id, 'utf8').toString('hex');
  return hex.length <= MAX_NAME ? hex : `#${createHash('sha256').update(id).digest('hex')}`;
}

/** The bucket of each level for a due time (clamped to 0 and to "never" for Infinity). */
export function bucketsOf(due: number): number[] {
  const t = Number.isFinite(due) ? Math.max(0, Math.floor(due)) : Number.MAX_SAFE_INTEGER;
  return BUCKET_SHIFTS.map((shift) => Math.floor(t / 2 ** shift));
}

/** The finest bucket of a due time: two due times in the same one are equally early for claims. */
export function finestBucket(due: number): number {
  return bucketsOf(due)[BUCKET_SHIFTS.length - 1] as number;
}

/** The folder of the finest bucket of `due` under `dueDir`. */
export function bucketDir(dueDir: string, due: number): string {
  return `${dueDir}/${bucketsOf(due).join('/')}`;
}

/** A marker's file name. */
export function markerFile(name: string, k: number): string {
  return `${name}.${k}`;
}

/** A parsed marker name, or undefined for a name the store did not write. */
export function parseMarker(file: string): { name: string; k: number } | undefined {
  const match = MARKER.exec(file);
  if (match === null) return undefined;
  return { name: match[1] as string, k: Number(match[2]) };
}

function* call(op: FsOp): Steps<Outcome> {
  return (yield op) as Outcome;
}

/**
 * Creates the marker `<name>.<k>` in the bucket of `due`, creating bucket folders as needed (a
 * claimer may remove an empty one at any time: then the create fails with ENOENT and is tried
 * again). Returns whether this call created it (false: it was there already).
 */
export function* addMarker(dueDir: string, due: number, name: string, k: number): Steps<boolean> {
  const buckets = bucketsOf(due);
  const path = `${dueDir}/${buckets.join('/')}/${markerFile(name, k)}`;
  for (let attempt = 0; attempt < MAX_CREATE_ATTEMPTS; attempt++) {
    const created = yield* call({ op: 'createFile', path, like: emptyFileOf(dueDir) });
    if (created !== 'ENOENT') return created === 'ok';
    let dir = dueDir;
    for (const bucket of buckets) {
      dir = `${dir}/${bucket}`;
      yield* call({ op: 'mkdir', path: dir });
    }
  }
  throw new Error(`could not create the due marker ${path}: its bucket folder kept disappearing`);
}

/** One finest bucket that is due, with its markers. */
export interface DueBucket {
  readonly dir: string;
  /** The finest bucket number (time / 2^10). */
  readonly bucket: number;
  readonly markers: readonly string[];
}

function numbered(entries: readonly DirEntry[] | undefined, upTo: number): number[] {
  if (entries === undefined) return [];
  const out: number[] = [];
  for (const entry of entries) {
    if (!entry.dir || !NUMBER.test(entry.name)) continue;
    const n = Number(entry.name);
    if (n <= upTo) out.push(n);
  }
  return out.sort((a, b) => a - b);
}

/**
 * Lists the due buckets (start <= now) oldest first, calling `visit` with each non-empty one;
 * stops when `visit` returns true. Empty buckets wholly in the past are removed on the way (rmdir
 * refuses a folder that is not empty, so a marker created meanwhile is never lost: its creator
 * sees ENOENT and creates the folder again).
 */
export function* walkDue(
  dueDir: string,
  now: number,
  visit: (bucket: DueBucket) => Steps<boolean>,
): Steps<boolean> {
  const limits = bucketsOf(now);
  const walk = function* (dir: string, level: number): Steps<{ stop: boolean; empty: boolean }> {
    const entries = (yield { op: 'readdir', path: dir }) as DirEntry[] | undefined;
    if (entries === undefined) return { stop: false, empty: false };
    const limit = limits[level] as number;
    let remaining = entries.length;
    for (const n of numbered(entries, limit)) {
      const child = `${dir}/${n}`;
      let empty: boolean;
      if (level === BUCKET_SHIFTS.length - 1) {
        const markers = (yield { op: 'readdir', path: child }) as DirEntry[] | undefined;
        if (markers === undefined) {
          remaining--;
          continue;
        }
        empty = markers.length === 0;
        if (
          !empty &&
          (yield* visit({ dir: child, bucket: n, markers: markers.map((m) => m.name) }))
        )
          return { stop: true, empty: false };
      } else {
        const inner = yield* walk(child, level + 1);
        if (inner.stop) return inner;
        empty = inner.empty;
      }
      // Only buckets wholly in the past: an insert or a move may be creating a marker in the current one.
      if (empty && n < limit && (yield* call({ op: 'rmdir', path: child })) !== 'EEXIST')
        remaining--;
    }
    return { stop: false, empty: remaining === 0 };
  };
  return (yield* walk(dueDir, 0)).stop;
}
