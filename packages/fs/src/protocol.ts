import { HEADER_BYTES, ValueKind, decodeValueFile } from './value-file.js';

/*
 * The commit protocol of one key, written as generators that yield one file-system call at a
 * time. Production runs them with node:fs (fs-driver.ts); the interleaving test runs the very same
 * steps against an in-memory file system in every order (test/interleavings.test.ts). The
 * invariants, and why each step keeps them, are in docs/architecture.md; in short:
 *
 * A key is a folder K holding epoch folders `e<B>`; an epoch holds slots `0, 1, 2, ...`, each a
 * value file linked in once and never removed or replaced while the epoch is at its path. Slot G
 * of epoch B has the version B + G. A writer that read slot G as the newest value of epoch B links
 * its fully written temp file to slot G + 1: link() refuses an existing name, slots fill in order,
 * and an epoch is never re-created at its path, so a link that succeeds IS the commit, whatever
 * pause came before or after it (no check after the fact, no clock).
 * An epoch grows to `sealAt` slots, then a commit seals it: mkdir of the next slot (a folder
 * where a value would go, so it races writers like any commit and ends the epoch), a prepared
 * folder holding a hard link of the last value is renamed into the seal (`<S>/n`), from there
 * to `e<B + S - 1>` (the last value keeps its version, as slot 0 of the next epoch), and only then
 * is the old epoch renamed to a trash name and deleted. A paused writer's late link into a
 * renamed epoch fails with ENOENT; into a sealed one with EEXIST.
 */

/** A folder the protocol did not write (another program, or an older version's layout): retrying cannot help. */
export class ForeignFolderError extends Error {
  override readonly name = 'ForeignFolderError';
}

/** One file-system call of the protocol. Paths use "/" separators. */
export type FsOp =
  | { readonly op: 'readdir'; readonly path: string }
  /** Reads a file from byte `from` (default 0) to its end. */
  | { readonly op: 'readFile'; readonly path: string; readonly from?: number }
  | {
      readonly op: 'writeFile';
      readonly path: string;
      readonly chunks: Uint8Array[];
      readonly sync: boolean;
    }
  | { readonly op: 'syncFile'; readonly path: string }
  | { readonly op: 'stat'; readonly path: string }
  /**
   * An identity of the file or folder at `path` (device, inode number, modification time) that
   * no other file ever at that path has, or undefined (ENOENT). Not through a symlink.
   */
  | { readonly op: 'ident'; readonly path: string }
  | { readonly op: 'link'; readonly from: string; readonly to: string }
  | { readonly op: 'mkdir'; readonly path: string }
  | { readonly op: 'rename'; readonly from: string; readonly to: string }
  | { readonly op: 'unlink'; readonly path: string }
  | { readonly op: 'removeTree'; readonly path: string }
  /**
   * Creates an empty file, refusing an existing name (EEXIST) or a missing folder (ENOENT). With
   * `like`, the path of an empty file on the same file system, the new name may be a hard link to
   * it: the same outcome without allocating an inode (what file creation costs most on some file
   * systems). Only for files whose content is never read or written (markers).
   */
  | { readonly op: 'createFile'; readonly path: string; readonly like?: string }
  /**
   * Appends `chunks` in one write to the file at `path` (O_APPEND; created when missing, never
   * through a symlink), fdatasynced when `sync`. Answers 'ok', or 'ENOENT' when the folder is
   * missing. As in the kernel, the path is resolved
   * (open) before the write: a folder renamed between the two gets the bytes at its new name.
   */
  | {
      readonly op: 'append';
      readonly path: string;
      readonly chunks: Uint8Array[];
      readonly sync: boolean;
    }
  /** Removes an empty folder; a folder that is not empty answers EEXIST. */
  | { readonly op: 'rmdir'; readonly path: string };

/** A folder entry as the protocol sees it (symlinks and other types are neither). */
export interface DirEntry {
  readonly name: string;
  readonly dir: boolean;
  readonly file: boolean;
}

/**
 * What each op answers: `readdir` entries or undefined (ENOENT), `readFile` bytes or undefined,
 * `stat` the modification time (ms) or undefined, `ident` a string or undefined, `writeFile` nothing, others an outcome
 * (`removeTree`: 'ok' once nothing is left at the path, 'EEXIST' while something still is, e.g.
 * an entry another process added while the tree was being emptied).
 */
export type Outcome = 'ok' | 'EEXIST' | 'ENOENT';
/** A protocol routine: yields ops, receives their answers. */
export type Steps<T> = Generator<FsOp, T, unknown>;

/** Tunables of the protocol. */
export interface ProtocolOptions {
  /** Slots an epoch reaches before a commit seals it. */
  readonly sealAt: number;
  /** A fresh unique name part for temp, prepared and trash names. */
  readonly uniqueName: () => string;
  /**
   * The newest epoch this process saw per key folder, tried before listing the key folder. Safe
   * because an epoch path names one folder ever (invariant 3) and an epoch that is not the newest
   * is sealed, which sends the reader on: the hint saves a readdir, never decides anything.
   */
  readonly epochHints?: Map<string, number>;
  /**
   * The newest state this process read or committed per key folder (values up to
   * {@link MAX_KNOWN_BYTES}), tried before listing: it is still the newest when its slot has no
   * successor and is still at its path, checked in that order (see {@link readHead}). Like the
   * epoch hints, it saves calls and never decides anything: a failed check reads as usual.
   */
  readonly knownHeads?: Map<string, KnownHead>;
  /**
   * Whether a temp file or prepared folder last modified at `mtimeMs` was left by a crashed
   * process and may be swept. Only liveness depends on it: sweeping one that is still in use
   * makes its owner's next step fail harmlessly (ENOENT) and retry.
   */
  readonly isAbandoned: (mtimeMs: number) => boolean;
}

/** One key's folder: `dir` = `parent` + "/" + its name. */
export interface KeyFolder {
  readonly dir: string;
  readonly parent: string;
}

/** The key's newest committed state, as read. */
export interface Head {
  readonly epoch: number;
  readonly slot: number;
  /** epoch + slot: unique for this key forever. */
  readonly version: number;
  readonly path: string;
  /** undefined when the file failed its checksum (see `corrupt`). */
  readonly kind: ValueKind | undefined;
  readonly data: Uint8Array;
  readonly corrupt?: string;
}

/** A head this process read or committed, with the identity of its slot file then. */
export interface KnownHead extends Head {
  readonly ident: string;
}

/** What a caller wants committed over `head` (undefined head: the key folder does not exist yet). */
export interface Planned {
  readonly chunks: Uint8Array[];
  /** fsync the file before it is linked (values, per the store's option). */
  readonly sync: boolean;
  /**
   * fsync the file after a successful link instead (lock grants: only the winner pays, and on
   * journaling file systems the fsync then covers the new name too).
   */
  readonly syncAfterLink?: boolean;
}

/** Result of {@link commit}. */
export type CommitResult =
  | { readonly committed: true; readonly version: number; readonly head: Head | undefined }
  | { readonly committed: false; readonly head: Head | undefined };

// A listing that lacks every epoch can only be a readdir racing a compaction's renames (an epoch
// always exists at its path); a folder that keeps lacking one was not written by this protocol.
const RELIST_LIMIT = 1000;
// Attempts to delete a trash folder that keeps refilling (each late call can add at most one entry).
const TRASH_ATTEMPTS = 8;
const MAX_HINTS = 10_000;
const EPOCH = /^e(0|[1-9][0-9]{0,14})$/;
const SLOT = /^(0|[1-9][0-9]{0,14})$/;

function* readdir(path: string): Steps<DirEntry[] | undefined> {
  return (yield { op: 'readdir', path }) as DirEntry[] | undefined;
}
function* readFile(path: string): Steps<Uint8Array | undefined> {
  return (yield { op: 'readFile', path }) as Uint8Array | undefined;
}
function* call(op: FsOp): Steps<Outcome> {
  return (yield op) as Outcome;
}

/** The epoch numbers among `entries`, ascending (only folders named by the protocol). */
export function epochsOf(entries: readonly DirEntry[]): number[] {
  const out: number[] = [];
  for (const entry of entries)
    if (entry.dir && EPOCH.test(entry.name)) out.push(Number(entry.name.slice(1)));
  return out.sort((a, b) => a - b);
}

/** The newest contiguous slot (from 0) and whether it is a seal; names the protocol never writes are ignored. */
function topSlot(entries: readonly DirEntry[]): { slot: number; sealed: boolean } {
  const slots = new Map<number, boolean>();
  for (const entry of entries)
    if ((entry.dir || entry.file) && SLOT.test(entry.name))
      slots.set(Number(entry.name), entry.dir);
  let slot = -1;
  while (slots.has(slot + 1)) slot++;
  return { slot, sealed: slot >= 0 && slots.get(slot) === true };
}

/** Payloads larger than this are not kept in {@link ProtocolOptions.knownHeads}. */
export const MAX_KNOWN_BYTES = 64 * 1024;
/** The payload bytes one {@link ProtocolOptions.knownHeads} map holds at most (then it starts over). */
export const MAX_KNOWN_TOTAL_BYTES = 16 * 1024 * 1024;
// Payload bytes held per knownHeads map.
const knownBytes = new WeakMap<Map<string, KnownHead>, number>();

// Remembers `head` (a copy of it), whose slot file has identity `ident`, as the newest state of
// `key` this process knows (see ProtocolOptions.knownHeads).
function remember(key: KeyFolder, head: Head, ident: unknown, options: ProtocolOptions): void {
  const known = options.knownHeads;
  if (known === undefined) return;
  let bytes = (knownBytes.get(known) ?? 0) - (known.get(key.dir)?.data.length ?? 0);
  known.delete(key.dir);
  if (typeof ident === 'string' && head.kind !== undefined && head.data.length <= MAX_KNOWN_BYTES) {
    if (known.size >= MAX_HINTS || bytes + head.data.length > MAX_KNOWN_TOTAL_BYTES) {
      known.clear();
      bytes = 0;
    }
    known.set(key.dir, { ...head, data: Uint8Array.prototype.slice.call(head.data), ident });
    bytes += head.data.length;
  }
  knownBytes.set(known, bytes);
}

/**
 * The state this process last knew for `key`, if it is still the newest: its slot G has no
 * successor G+1 (checked first), and the same file is still at G's path (checked second). If
 * both hold, then at the first check the epoch was at its path (a path that is gone never names a
 * folder again, invariant 3, and G is there at the second check) with no slot after G: unsealed,
 * with G, a value, as its newest slot (slots fill in order, nothing follows a seal, and a newer
 * epoch only comes from a seal). So G was the newest state at the first check: the read takes
 * effect then. The identity (not only the name) guards against a folder deleted and made again
 * by hand, which the protocol never does.
 */
function* knownHead(key: KeyFolder, options: ProtocolOptions): Steps<Head | undefined> {
  const known = options.knownHeads?.get(key.dir);
  if (known === undefined) return undefined;
  if ((yield { op: 'stat', path: `${key.dir}/e${known.epoch}/${known.slot + 1}` }) !== undefined)
    return undefined;
  if ((yield { op: 'ident', path: known.path }) !== known.ident) return undefined;
  // A copy: the caller may hand the bytes on to code that changes them.
  const { ident: _, ...head } = known;
  return { ...head, data: Uint8Array.prototype.slice.call(known.data) };
}

/** Reads the key's newest committed state; undefined when its folder does not exist (or is empty). */
export function* readHead(key: KeyFolder, options: ProtocolOptions): Steps<Head | undefined> {
  const still = yield* knownHead(key, options);
  if (still !== undefined) return still;
  const hints = options.epochHints;
  for (let attempt = 0; ; attempt++) {
    let epoch = attempt === 0 ? hints?.get(key.dir) : undefined;
    if (epoch === undefined) {
      const entries = yield* readdir(key.dir);
      if (entries === undefined || entries.length === 0) return undefined;
      const epochs = epochsOf(entries);
      epoch = epochs[epochs.length - 1];
      if (epoch === undefined) {
        if (attempt < RELIST_LIMIT) continue;
        throw new ForeignFolderError(
          `${key.dir} holds no epoch folder: it was not written by this version of @durable/fs (0.1 kept numbered files directly in the key folder)`,
        );
      }
    }
    const epochDir = `${key.dir}/e${epoch}`;
    const slots = yield* readdir(epochDir);
    if (slots === undefined) continue; // compacted meanwhile (or a stale hint): look again
    if (hints !== undefined) {
      if (hints.size >= MAX_HINTS) hints.clear();
      hints.set(key.dir, epoch);
    }
    const top = topSlot(slots);
    if (top.slot < 0) {
      if (attempt < RELIST_LIMIT) continue;
      throw new ForeignFolderError(
        `${epochDir} holds no slot 0: it was not written by this version of @durable/fs`,
      );
    }
    if (top.sealed) {
      yield* finishSeal(key, epoch, top.slot, options);
      continue;
    }
    const path = `${epochDir}/${top.slot}`;
    const bytes = yield* readFile(path);
    if (bytes === undefined) continue;
    const decoded = decodeValueFile(bytes);
    const base = { epoch, slot: top.slot, version: epoch + top.slot, path };
    if (!decoded.ok) {
      const corrupt = { ...base, kind: undefined, data: bytes, corrupt: decoded.reason };
      remember(key, corrupt, undefined, options); // forgets what was known of the key
      return corrupt;
    }
    const head = { ...base, kind: decoded.kind, data: decoded.data };
    // The file just read: its epoch is still at its path if it is found (invariant 3).
    if (options.knownHeads !== undefined) {
      let ident: unknown;
      try {
        ident = yield { op: 'ident', path };
      } catch {
        ident = undefined; // not remembered: the read itself succeeded
      }
      remember(key, head, ident, options);
    }
    return head;
  }
}

/**
 * Commits what `plan` asks for over the newest state, retrying lost races until `plan` declines
 * (returns undefined: a failed condition, reported with the head it saw) or a link succeeds.
 */
export function* commit(
  key: KeyFolder,
  plan: (head: Head | undefined) => Planned | undefined,
  options: ProtocolOptions,
): Steps<CommitResult> {
  let temp: string | undefined;
  let written: Uint8Array[] | undefined;
  try {
    for (;;) {
      const head = yield* readHead(key, options);
      const planned = plan(head);
      if (planned === undefined) return { committed: false, head };
      if (head === undefined) {
        if (yield* createKey(key, planned, options)) {
          yield* rememberCommitted(key, 0, 0, planned, options);
          return { committed: true, version: 0, head };
        }
        continue;
      }
      if (temp === undefined || written !== planned.chunks) {
        if (temp !== undefined) yield* call({ op: 'unlink', path: temp });
        temp = `${key.dir}/.t-${options.uniqueName()}`;
        yield { op: 'writeFile', path: temp, chunks: planned.chunks, sync: planned.sync };
        written = planned.chunks;
      }
      const slot = head.slot + 1;
      const linked = yield* call({
        op: 'link',
        from: temp,
        to: `${key.dir}/e${head.epoch}/${slot}`,
      });
      if (linked === 'ok') {
        // Through the temp name: the same inode, wherever a compaction has moved the slot since.
        if (
          planned.syncAfterLink === true &&
          (yield* call({ op: 'syncFile', path: temp })) === 'ENOENT'
        ) {
          // Swept as abandoned after a very long pause: sync the slot, if it is still there.
          yield* call({ op: 'syncFile', path: `${key.dir}/e${head.epoch}/${slot}` });
        }
        const linkedTemp = temp;
        temp = undefined;
        try {
          yield* call({ op: 'unlink', path: linkedTemp });
        } catch {
          // Committed: a temp name left behind is swept later, never a reason to report failure.
        }
        yield* rememberCommitted(key, head.epoch, slot, planned, options);
        if (slot + 1 >= options.sealAt) {
          try {
            yield* seal(key, head.epoch, slot, options);
          } catch {
            // Committed already: a failed compaction must not turn the commit into a failure.
            // The next commit on this key seals again, and readers help finish a seal.
          }
        }
        return { committed: true, version: head.version + 1, head };
      }
      // EEXIST: another commit (or a seal) took the slot. ENOENT: the epoch was compacted away, or
      // our temp file was swept as abandoned; write it again to be sure.
      if (linked === 'ENOENT') written = undefined;
    }
  } finally {
    if (temp !== undefined) yield* call({ op: 'unlink', path: temp });
  }
}

// Remembers what this process just committed at slot `slot` of epoch `epoch` as the key's newest
// state. Committed already: nothing here may fail the commit.
function* rememberCommitted(
  key: KeyFolder,
  epoch: number,
  slot: number,
  planned: Planned,
  options: ProtocolOptions,
): Steps<void> {
  if (options.knownHeads === undefined) return;
  // Written by this process with encodeValueFile: a header, then the payload (no check needed).
  const bytes = Buffer.concat(planned.chunks);
  const kind = bytes[1];
  if (bytes.length < HEADER_BYTES || (kind !== ValueKind.VALUE && kind !== ValueKind.ABSENT))
    return;
  const path = `${key.dir}/e${epoch}/${slot}`;
  let ident: unknown;
  try {
    ident = yield { op: 'ident', path };
  } catch {
    ident = undefined;
  }
  remember(
    key,
    {
      epoch,
      slot,
      version: epoch + slot,
      path,
      kind,
      data: bytes.subarray(HEADER_BYTES),
    },
    ident,
    options,
  );
}

// A key's first state: a prepared folder holding e0/0 is renamed to the key folder; rename()
// refuses a non-empty target, so of several creators exactly one wins, and the key folder is never
// removed, so a late creator can never re-create it.
function* createKey(key: KeyFolder, planned: Planned, options: ProtocolOptions): Steps<boolean> {
  const prep = `${key.parent}/.p-${options.uniqueName()}`;
  let moved = false;
  try {
    if ((yield* call({ op: 'mkdir', path: prep })) !== 'ok') return false;
    yield* call({ op: 'mkdir', path: `${prep}/e0` });
    yield {
      op: 'writeFile',
      path: `${prep}/e0/0`,
      chunks: planned.chunks,
      sync: planned.sync || planned.syncAfterLink === true,
    };
    moved = (yield* call({ op: 'rename', from: prep, to: key.dir })) === 'ok';
    return moved;
  } finally {
    if (!moved) yield { op: 'removeTree', path: prep };
  }
}

/** Seals epoch `epoch` after its slot `slot` (mkdir competes with writers), then finishes the seal. */
export function* seal(
  key: KeyFolder,
  epoch: number,
  slot: number,
  options: ProtocolOptions,
): Steps<void> {
  if ((yield* call({ op: 'mkdir', path: `${key.dir}/e${epoch}/${slot + 1}` })) !== 'ok') return;
  yield* finishSeal(key, epoch, slot + 1, options);
}

/**
 * Completes the compaction of an epoch sealed at slot `sealSlot`, from wherever another process
 * left it: next epoch created, older epochs renamed away and deleted. Every step is idempotent and
 * safe to run late: each one fails harmlessly (ENOENT, EEXIST) once a later step has happened.
 */
export function* finishSeal(
  key: KeyFolder,
  epoch: number,
  sealSlot: number,
  options: ProtocolOptions,
): Steps<void> {
  if (sealSlot < 2)
    throw new ForeignFolderError(
      `${key.dir}/e${epoch}/${sealSlot} is a folder where a value belongs: not written by @durable/fs`,
    );
  const next = epoch + sealSlot - 1;
  const epochDir = `${key.dir}/e${epoch}`;
  let entries = yield* readdir(key.dir);
  if (entries === undefined) return;
  if (!epochsOf(entries).includes(next)) {
    const prep = `${key.dir}/.p-${options.uniqueName()}`;
    let moved = false;
    try {
      if ((yield* call({ op: 'mkdir', path: prep })) !== 'ok') return;
      // The last value keeps its version: it is slot 0 of the next epoch (the same inode).
      if (
        (yield* call({ op: 'link', from: `${epochDir}/${sealSlot - 1}`, to: `${prep}/0` })) === 'ok'
      ) {
        // Parked inside the seal first: it can only get there while this epoch is at its path,
        // and from there only become the next epoch, so a late helper never re-creates one.
        moved =
          (yield* call({ op: 'rename', from: prep, to: `${epochDir}/${sealSlot}/n` })) === 'ok';
      }
    } finally {
      if (!moved) yield { op: 'removeTree', path: prep };
    }
    // Ours or another helper's (which may be paused right here): whoever comes promotes it.
    yield* call({ op: 'rename', from: `${epochDir}/${sealSlot}/n`, to: `${key.dir}/e${next}` });
    entries = yield* readdir(key.dir);
    if (entries === undefined || !epochsOf(entries).includes(next)) return; // someone else finished
  }
  // Every epoch below `next` is sealed and its successor exists; rename them away oldest first, so
  // an epoch is never gone while an older one is still at its path, and empty the trash before
  // each rename: an epoch leaves its path only once every older one is deleted (see clearTrash).
  if (!(yield* clearTrash(key, options, entries))) return;
  for (const old of epochsOf(entries)) {
    if (old >= next) break;
    yield* call({
      op: 'rename',
      from: `${key.dir}/e${old}`,
      to: `${key.dir}/.x-${options.uniqueName()}`,
    });
    // Ours, or another helper's (ENOENT): the fresh listing shows it either way.
    if (!(yield* clearTrash(key, options))) return;
  }
  yield* sweep(key, entries, options);
}

/*
 * Deletes the trash folders (old epochs renamed away) that a listing of the key folder shows, after
 * unlinking every temp file that listing shows. Why both, and in this order: link(2), mkdir(2) and
 * rename(2) resolve their paths first and then act on the folder they found, so a call that
 * resolved `e<B>` before it was renamed away can still act inside it afterwards, however long the
 * process stalls in between (a descheduled process, a paused VM). Inside the trash that is
 * harmless while every slot name is taken (a late link gets EEXIST), but deleting the trash frees
 * the names. So first the late links are disarmed: a late link's temp file existed before its call
 * began, hence before the rename, hence in any listing that shows the trash; once unlinked, the
 * kernel refuses to link it (a file with no name left: ENOENT). Writers whose temp files go this way
 * just write a new one. A late mkdir or rename can still add one entry to a trash folder being
 * deleted; deleting again removes it. And a late promotion (rename of a parked `<seal>/n` out of a
 * trash folder) could re-create the next epoch's path once that epoch is renamed away: which is
 * why an epoch is renamed away only after the trash of every older one is deleted.
 */
function* clearTrash(
  key: KeyFolder,
  options: ProtocolOptions,
  listing?: readonly DirEntry[],
): Steps<boolean> {
  const entries = listing ?? (yield* readdir(key.dir));
  if (entries === undefined) return true;
  const trash = entries.filter((entry) => entry.name.startsWith('.x-'));
  if (trash.length === 0) return true;
  for (const entry of entries) {
    if (entry.file && entry.name.startsWith('.t-'))
      yield* call({ op: 'unlink', path: `${key.dir}/${entry.name}` });
  }
  for (const entry of trash) {
    let gone = false;
    for (let attempt = 0; attempt < TRASH_ATTEMPTS && !gone; attempt++) {
      gone = (yield* call({ op: 'removeTree', path: `${key.dir}/${entry.name}` })) === 'ok';
    }
    if (!gone) return false;
  }
  return true;
}

// Deletes what crashed processes left in the key folder: temp files and prepared folders once
// `isAbandoned` (trash folders go through clearTrash). A prepared folder is renamed to a trash name
// before it is emptied: a paused helper could otherwise still move the half-emptied folder into
// place as an empty next epoch; what a late call adds to it is deleted with the trash.
function* sweep(
  key: KeyFolder,
  entries: readonly DirEntry[],
  options: ProtocolOptions,
): Steps<void> {
  for (const entry of entries) {
    const path = `${key.dir}/${entry.name}`;
    if (!entry.name.startsWith('.t-') && !entry.name.startsWith('.p-')) continue;
    const mtimeMs = (yield { op: 'stat', path }) as number | undefined;
    if (mtimeMs === undefined || !options.isAbandoned(mtimeMs)) continue;
    if (entry.file) {
      yield* call({ op: 'unlink', path });
      continue;
    }
    const trash = `${key.dir}/.x-${options.uniqueName()}`;
    if ((yield* call({ op: 'rename', from: path, to: trash })) === 'ok')
      yield { op: 'removeTree', path: trash };
  }
}
