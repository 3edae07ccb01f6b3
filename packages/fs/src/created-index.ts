import type { DirEntry, FsOp, Outcome, Steps } from './protocol.js';

/*
 * The creation index of the fs workflow store, for paged listing: one empty marker file per
 * workflow, in a bucket folder named by its creation time,
 *
 *   <created>/<t / 2^20>/<t>.<name>
 *
 * (t = floor(createdAt) in ms; buckets of ~17 min). An insert creates it before the workflow's
 * folder, as it does its due marker, so a workflow that exists always has one; one that crashed
 * between the two leaves a marker without a workflow, which a listing passes over. A marker is
 * never removed (a workflow is never removed either) and is empty: a crash cannot tear it, and a
 * name that does not parse is ignored. Of two inserts of one id, both may leave a marker: the
 * listing keeps the one whose time is the workflow's. The file `<created>/.complete` says every
 * workflow of the folder has its marker (made at once on a new folder, after a backfill on a
 * folder of an earlier release).
 */

/** Bits of time (ms) a bucket drops. */
export const CREATED_SHIFT = 20;
/** The file whose presence says the index covers every workflow. */
export const COMPLETE_FILE = '.complete';
const NUMBER = /^(0|[1-9][0-9]{0,15})$/;
const MARKER = /^(0|[1-9][0-9]{0,15})\.((?:[0-9a-f]{2})+|#[0-9a-f]{64})$/;
const MAX_CREATE_ATTEMPTS = 100;

function* call(op: FsOp): Steps<Outcome> {
  return (yield op) as Outcome;
}

/** The marker time of a creation instant: whole ms, never below 0. */
export function createdTime(createdAt: number): number {
  return Math.max(0, Math.floor(createdAt));
}

/** The bucket of a marker time. */
export function createdBucket(time: number): number {
  return Math.floor(time / 2 ** CREATED_SHIFT);
}

/**
 * Creates the creation marker of workflow folder `name` (bucket folder made as needed), as a hard
 * link of the empty file `like` where the file system allows (see the `createFile` op).
 */
export function* addCreated(
  createdDir: string,
  createdAt: number,
  name: string,
  like?: string,
): Steps<void> {
  const time = createdTime(createdAt);
  const bucket = `${createdDir}/${createdBucket(time)}`;
  const path = `${bucket}/${time}.${name}`;
  for (let attempt = 0; attempt < MAX_CREATE_ATTEMPTS; attempt++) {
    const op: FsOp =
      like === undefined ? { op: 'createFile', path } : { op: 'createFile', path, like };
    if ((yield* call(op)) !== 'ENOENT') return;
    yield* call({ op: 'mkdir', path: bucket });
  }
  throw new Error(`could not create the creation marker ${path}`);
}

/** One group of markers with the same time: the workflow folder names created in that ms. */
export interface CreatedGroup {
  readonly time: number;
  readonly names: readonly string[];
}

/**
 * Visits the index's groups in time order (ascending, or descending with `desc`), from the group
 * of `from` on (inclusive; every group when undefined), until `visit` returns true.
 */
export function* walkCreated(
  createdDir: string,
  desc: boolean,
  from: number | undefined,
  visit: (group: CreatedGroup) => Steps<boolean>,
): Steps<void> {
  const sign = desc ? -1 : 1;
  const before = (a: number, b: number): boolean => sign * (a - b) < 0;
  const top = (yield { op: 'readdir', path: createdDir }) as DirEntry[] | undefined;
  const buckets = (top ?? [])
    .filter((entry) => entry.dir && NUMBER.test(entry.name))
    .map((entry) => Number(entry.name))
    .sort((a, b) => sign * (a - b));
  for (const bucket of buckets) {
    if (from !== undefined && before(bucket, createdBucket(from))) continue;
    const entries = (yield { op: 'readdir', path: `${createdDir}/${bucket}` }) as
      | DirEntry[]
      | undefined;
    const groups = new Map<number, Set<string>>();
    for (const entry of entries ?? []) {
      const match = entry.file ? MARKER.exec(entry.name) : null;
      if (match === null) continue;
      const time = Number(match[1]);
      if (createdBucket(time) !== bucket) continue; // a name the store never writes there
      if (from !== undefined && before(time, from)) continue;
      const names = groups.get(time) ?? new Set<string>();
      names.add(match[2] as string);
      groups.set(time, names);
    }
    for (const time of [...groups.keys()].sort((a, b) => sign * (a - b))) {
      if (yield* visit({ time, names: [...(groups.get(time) as Set<string>)].sort() })) return;
    }
  }
}
