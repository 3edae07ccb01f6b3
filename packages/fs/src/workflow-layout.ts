import type { DirEntry, FsOp, Outcome, Steps } from './protocol.js';
import { ForeignFolderError } from './protocol.js';
import type { LogHistory } from './step-log.js';
import { LOG_NAME, historyOf, scanLog } from './step-log.js';
import { decodeValueFile } from './value-file.js';

/*
 * One workflow's folder W (`<root>/.workflows/<name>`), written as protocol steps like protocol.ts
 * so that the interleaving test and the pause tests run the very same code:
 *
 *   W/e<B>/<slot>     the head: the record without its steps, a key of the commit protocol
 *   W/r<n>/log        the run folder's step log: records appended by the claims (step-log.ts)
 *   W/r<n>/<i>.<j>    step memo i, version j, one file each: written by versions before the log
 *                     (read when the folder has no log; imported into the log by the next step)
 *
 * W is created whole (head slot 0 and an empty run folder r0) by renaming a prepared folder, so a
 * workflow exists completely or not at all, and only one of several inserts of an id wins.
 * Exactly one run folder exists at a time. It is only ever renamed, to `r<v>` where v is the
 * version of a head commit that took or ended a claim (a claim, suspend, release, finish,
 * cancel), and only to a larger number: so once renamed away from `r<m>`, nothing ever creates
 * `r<m>` again. The claim committed at head version m appends its steps to `r<m>/log`; an append
 * counts once the path still names the file written after the append was durable (the rename
 * that fences the claim came later, so the next holder reads it). A stalled holder whose claim
 * was taken over, or ended, can never make a record count afterwards, whatever the timing: its
 * append fails (ENOENT), or lands past what the next holder read, where that holder's barrier
 * record keeps it from counting.
 * The invariants are in docs/architecture.md.
 */

/** A run folder number in W's listing, or undefined. */
const RUN = /^r(0|[1-9][0-9]{0,15})$/;
const STEP = /^(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})$/;
const MAX_MOVE_ATTEMPTS = 1000;
const MAX_PREPARE_ATTEMPTS = 100;

/** A step file that fails its checksum or does not parse: never returned as data. */
export class CorruptStepError extends Error {
  override readonly name = 'CorruptStepError';
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`${path} is corrupt (${reason})`);
  }
}

function* call(op: FsOp): Steps<Outcome> {
  return (yield op) as Outcome;
}

/** The highest run folder number in W's entries. */
export function runOf(entries: readonly DirEntry[]): number | undefined {
  let run: number | undefined;
  for (const entry of entries) {
    if (!entry.dir) continue;
    const match = RUN.exec(entry.name);
    if (match !== null) run = Math.max(run ?? 0, Number(match[1]));
  }
  return run;
}

/** The current run folder number of W, or undefined when W does not exist. */
export function* currentRun(dir: string): Steps<number | undefined> {
  const entries = (yield { op: 'readdir', path: dir }) as DirEntry[] | undefined;
  if (entries === undefined || entries.length === 0) return undefined;
  const run = runOf(entries);
  if (run === undefined)
    throw new ForeignFolderError(
      `${dir} holds no run folder: it was not written by this version of @durable/fs`,
    );
  return run;
}

/**
 * Creates W whole: a prepared folder with the head's slot 0 and an empty run folder r0, renamed
 * into place (rename refuses an existing, non-empty W). False when W exists. A prepared folder
 * that {@link sweepPrepared} took away meanwhile (this insert paused past the abandon age) makes
 * a step fail with ENOENT: then a new one is prepared.
 */
export function* createWorkflow(
  parent: string,
  dir: string,
  head: Uint8Array[],
  sync: boolean,
  unique: () => string,
): Steps<boolean> {
  for (let attempt = 0; attempt < MAX_PREPARE_ATTEMPTS; attempt++) {
    const prep = `${parent}/.p-${unique()}`;
    let moved = false;
    try {
      if ((yield* call({ op: 'mkdir', path: prep })) !== 'ok') return false;
      if ((yield* call({ op: 'mkdir', path: `${prep}/e0` })) === 'ENOENT') continue;
      try {
        yield { op: 'writeFile', path: `${prep}/e0/0`, chunks: head, sync };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw error;
      }
      if ((yield* call({ op: 'mkdir', path: `${prep}/r0` })) === 'ENOENT') continue;
      const renamed = yield* call({ op: 'rename', from: prep, to: dir });
      if (renamed === 'ENOENT') continue;
      moved = renamed === 'ok';
      return moved;
    } finally {
      if (!moved) yield { op: 'removeTree', path: prep };
    }
  }
  throw new Error(`${dir}: its prepared folder kept being swept away`);
}

/**
 * Deletes what crashed inserts left in the workflows folder `parent`: each prepared folder
 * (`.p-*`) once `isAbandoned(its mtime)`, renamed first to a trash name (`.x-*`) so that a paused
 * insert can never move it into place half emptied (its rename then fails with ENOENT and it
 * prepares again), then the trash folders (a late call of that insert may still add an entry to
 * one while it is being deleted: it stays for the next sweep). Returns how many it deleted.
 */
export function* sweepPrepared(
  parent: string,
  isAbandoned: (mtimeMs: number) => boolean,
  unique: () => string,
): Steps<number> {
  const entries = (yield { op: 'readdir', path: parent }) as DirEntry[] | undefined;
  let deleted = 0;
  for (const entry of entries ?? []) {
    if (!entry.dir) continue;
    let trash: string;
    if (entry.name.startsWith('.x-')) {
      trash = `${parent}/${entry.name}`;
    } else if (entry.name.startsWith('.p-')) {
      const path = `${parent}/${entry.name}`;
      const mtimeMs = (yield { op: 'stat', path }) as number | undefined;
      if (mtimeMs === undefined || !isAbandoned(mtimeMs)) continue;
      trash = `${parent}/.x-${unique()}`;
      if ((yield* call({ op: 'rename', from: path, to: trash })) !== 'ok') continue;
    } else {
      continue;
    }
    if ((yield* call({ op: 'removeTree', path: trash })) === 'ok') deleted++;
  }
  return deleted;
}

/**
 * Moves the run folder to `r<target>` (the head commit `target` took or ended a claim). Returns
 * false when a later commit has moved it further already (this claim is no longer current).
 * `from`: the run folder the replaced head named, tried first without listing W: if `r<from>`
 * exists at the rename, it is the one run folder and `target` (a later head's version) is past
 * it, so the move is forward; if it does not (moved meanwhile), W is listed as usual.
 */
export function* moveRun(dir: string, target: number, from?: number): Steps<boolean> {
  if (
    from !== undefined &&
    from < target &&
    (yield* call({ op: 'rename', from: `${dir}/r${from}`, to: `${dir}/r${target}` })) === 'ok'
  )
    return true;
  for (let attempt = 0; attempt < MAX_MOVE_ATTEMPTS; attempt++) {
    const run = yield* currentRun(dir);
    if (run === undefined)
      throw new ForeignFolderError(
        `${dir} disappeared: it was not written by this version of @durable/fs`,
      );
    if (run === target) return true;
    if (run > target) return false;
    // ENOENT: moved meanwhile; look again. The target never exists before this rename.
    if ((yield* call({ op: 'rename', from: `${dir}/r${run}`, to: `${dir}/r${target}` })) === 'ok')
      return true;
  }
  throw new Error(`${dir}: the run folder kept moving`);
}

/** Reads one step file of an older version (see {@link readLegacySteps}): its memo and the run that recorded it; undefined when it is gone. */
export function* readStep(path: string): Steps<{ memo: unknown; run: number } | undefined> {
  const bytes = (yield { op: 'readFile', path }) as Uint8Array | undefined;
  if (bytes === undefined) return undefined;
  const decoded = decodeValueFile(bytes);
  if (!decoded.ok) throw new CorruptStepError(path, decoded.reason);
  let parsed: { memo?: unknown; run?: unknown } | null;
  try {
    parsed = JSON.parse(Buffer.from(decoded.data).toString('utf8')) as {
      memo?: unknown;
      run?: unknown;
    } | null;
  } catch (error) {
    throw new CorruptStepError(path, `not JSON: ${(error as Error).message}`);
  }
  if (
    parsed === null ||
    typeof parsed !== 'object' ||
    typeof parsed.run !== 'number' ||
    typeof parsed.memo !== 'object'
  ) {
    throw new CorruptStepError(path, 'not a step record');
  }
  return { memo: parsed.memo, run: parsed.run };
}

/** The memos of a run folder written by @durable/fs before the step log (one file per step). */
export function* readLegacySteps(
  runDir: string,
): Steps<{ memos: unknown[]; versions: number[]; runs: number[]; log: boolean } | undefined> {
  const entries = (yield { op: 'readdir', path: runDir }) as DirEntry[] | undefined;
  if (entries === undefined) return undefined;
  const latest = new Map<number, Set<number>>();
  let log = false;
  for (const entry of entries) {
    if (entry.name === LOG_NAME) log = true;
    const match = entry.file ? STEP.exec(entry.name) : null;
    if (match === null) continue; // temp files, and names the store never writes
    const index = Number(match[1]);
    const versions = latest.get(index) ?? new Set<number>();
    versions.add(Number(match[2]));
    latest.set(index, versions);
  }
  const memos: unknown[] = [];
  const versions: number[] = [];
  const runs: number[] = [];
  // Positions count from 0 with no gap, versions of a position too: a planted name past a gap is ignored.
  for (let index = 0; latest.has(index); index++) {
    const present = latest.get(index) as Set<number>;
    if (!present.has(0)) break;
    let version = 0;
    while (present.has(version + 1)) version++;
    const step = yield* readStep(`${runDir}/${index}.${version}`);
    if (step === undefined) return undefined; // the folder moved on meanwhile
    memos.push(step.memo);
    versions.push(version);
    runs.push(step.run);
  }
  return { memos, versions, runs, log };
}

/** A run folder's history, with what a claim needs to append to its log. */
export interface RunHistory extends LogHistory {
  /** Bytes of the log read (0: no log). */
  size: number;
  /** The history is in per-step files of an older version, not (yet) in the log. */
  legacy: boolean;
}

/**
 * The history of run folder `runDir` (see step-log.ts for which records count; `holder`: the
 * claim reading it for its own use); undefined when the folder is gone. A folder without a log
 * may hold per-step files of an older version: they are read as the history.
 */
export function* readSteps(runDir: string, holder?: number): Steps<RunHistory | undefined> {
  for (let attempt = 0; attempt < MAX_MOVE_ATTEMPTS; attempt++) {
    const bytes = (yield { op: 'readFile', path: `${runDir}/${LOG_NAME}` }) as
      | Uint8Array
      | undefined;
    if (bytes !== undefined) {
      const { records } = scanLog(bytes);
      return { ...historyOf(records, holder), size: bytes.length, legacy: false };
    }
    const legacy = yield* readLegacySteps(runDir);
    if (legacy === undefined) return undefined;
    if (legacy.log) continue; // created meanwhile: read it
    return {
      memos: legacy.memos,
      versions: legacy.versions,
      runs: legacy.runs,
      barriers: new Set(),
      size: 0,
      legacy: legacy.memos.length > 0,
    };
  }
  throw new Error(`${runDir}: its step log kept appearing and disappearing`);
}

/** How many positions a run folder records; 0 when it is gone. */
export function* countSteps(runDir: string): Steps<number> {
  return (yield* readSteps(runDir))?.memos.length ?? 0;
}

/**
 * Appends `bytes` (whole records) to the step log of run folder `runDir` in one write (and
 * fdatasync when `sync`). 'FENCED' when the folder is gone (the claim's run folder moved on). The
 * open resolves the folder before the write, so a rename in between puts the bytes in the moved
 * folder's log: whether they count is decided by reading the log back at its path afterwards
 * (see the store's `appendHeld`).
 */
export function* appendRecords(
  runDir: string,
  bytes: Uint8Array,
  sync: boolean,
): Steps<'ok' | 'FENCED'> {
  const path = `${runDir}/${LOG_NAME}`;
  return (yield { op: 'append', path, chunks: [bytes], sync }) === 'ENOENT' ? 'FENCED' : 'ok';
}

/** The step log's bytes from byte `from` on; undefined when it is gone. */
export function* readLogFrom(runDir: string, from: number): Steps<Uint8Array | undefined> {
  return (yield { op: 'readFile', path: `${runDir}/${LOG_NAME}`, from }) as Uint8Array | undefined;
}
