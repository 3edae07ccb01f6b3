import type { Dirent } from 'node:fs';
import {
  closeSync,
  constants,
  fdatasync,
  fstatSync,
  fsync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  read,
  readdirSync,
  readSync,
  renameSync,
  rmdirSync,
  rmSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { open } from 'node:fs/promises';
import type { DirEntry, FsOp, Steps } from './protocol.js';

/*
 * Runs protocol steps (protocol.ts) with node:fs. Small files are read and written with
 * synchronous calls (a few pages in the page cache take microseconds, an asynchronous call is a
 * round trip through libuv's thread pool); fsync, the slow part, and large files are asynchronous,
 * so the event loop is never held up for long.
 */

const SMALL_FILE_BYTES = 64 * 1024;
// Below Buffer's pool threshold (4 KiB), so the first read allocates nothing new.
const FIRST_READ_BYTES = 4000;
const READ_FLAGS = constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0);
const APPEND_FLAGS =
  constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | (constants.O_NOFOLLOW ?? 0);
const CREATE_FLAGS =
  constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | (constants.O_NOFOLLOW ?? 0);

/**
 * A hook called before each file-system call of the protocol, for tests that pause a process at
 * a chosen call (see test/pause.test.ts). Not part of the public API.
 */
export type StepHook = (op: FsOp) => void | Promise<void>;
let stepHook: StepHook | undefined;

/** Installs (or, with undefined, removes) the process-wide {@link StepHook}. Tests only. */
export function setStepHook(hook: StepHook | undefined): void {
  stepHook = hook;
}

/** Runs protocol steps to completion with node:fs. */
export async function runSteps<T>(steps: Steps<T>): Promise<T> {
  let next = steps.next();
  while (!next.done) {
    const op = next.value;
    let answer: unknown;
    try {
      if (stepHook !== undefined) await stepHook(op);
      answer = perform(op);
      if (answer instanceof Promise) answer = await answer;
    } catch (error) {
      next = steps.throw(error);
      continue;
    }
    next = steps.next(answer);
  }
  return next.value;
}

function code(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException).code;
}

function outcome(
  action: () => void,
  exists: readonly string[] = ['EEXIST'],
): 'ok' | 'EEXIST' | 'ENOENT' {
  try {
    action();
    return 'ok';
  } catch (error) {
    const c = code(error);
    if (c === 'ENOENT') return 'ENOENT';
    if (c !== undefined && exists.includes(c)) return 'EEXIST';
    throw error;
  }
}

function perform(op: FsOp): unknown {
  switch (op.op) {
    case 'readdir':
      return listFolder(op.path);
    case 'readFile':
      return op.from === undefined || op.from === 0
        ? readWhole(op.path)
        : readFrom(op.path, op.from);
    case 'append':
      return appendTo(op.path, op.chunks, op.sync);
    case 'writeFile':
      return writeNew(op.path, op.chunks, op.sync);
    case 'syncFile':
      return syncPath(op.path);
    case 'stat':
      return modifiedAt(op.path);
    case 'ident':
      return identityOf(op.path);
    case 'link':
      return outcome(() => linkSync(op.from, op.to));
    case 'mkdir':
      return outcome(() => mkdirSync(op.path));
    case 'rename':
      // A folder renamed onto a non-empty folder fails with ENOTEMPTY (Linux, macOS) or EEXIST,
      // onto a file with ENOTDIR, and on Windows with EPERM: each means "the name is taken".
      return outcome(() => renameSync(op.from, op.to), ['EEXIST', 'ENOTEMPTY', 'ENOTDIR', 'EPERM']);
    case 'unlink':
      return outcome(() => unlinkSync(op.path));
    case 'removeTree':
      // ENOTEMPTY: another process added an entry while the tree was being emptied (see the
      // protocol's clearTrash); the caller deletes again.
      return outcome(
        () => rmSync(op.path, { recursive: true, force: true }),
        ['ENOTEMPTY', 'EEXIST'],
      ) === 'EEXIST'
        ? 'EEXIST'
        : 'ok';
    case 'createFile':
      return op.like === undefined ? createEmpty(op.path) : linkEmpty(op.like, op.path);
    case 'rmdir':
      // A folder that is not empty: ENOTEMPTY (Linux), EEXIST (some systems).
      return outcome(() => rmdirSync(op.path), ['EEXIST', 'ENOTEMPTY']);
  }
}

function createEmpty(path: string): 'ok' | 'EEXIST' | 'ENOENT' {
  return outcome(() => closeSync(openSync(path, CREATE_FLAGS, 0o600)));
}

let emptySerial = 0;

/**
 * An empty file at `path` as a hard link of the shared empty file `like`: a directory entry, no
 * new inode (creating an inode costs 0.1-1.5 ms of CPU on some ext4 volumes; a link ~40 us). The
 * outcome is the one of creating the file: EEXIST for a taken name, ENOENT for a missing folder.
 * `like` is checked to be a plain file at each use (link(2) would link a planted symlink itself,
 * making a marker that is not a file). Where hard links fail (a file system without them, too many
 * links to one file, `like` missing or not a plain file), the file is created instead, and `like`
 * is made afresh when it was the cause.
 */
function linkEmpty(like: string, path: string): 'ok' | 'EEXIST' | 'ENOENT' {
  let failure: string | undefined;
  if (isPlainFile(like)) {
    try {
      linkSync(like, path);
      return 'ok';
    } catch (error) {
      failure = code(error);
      if (failure === 'EEXIST') return 'EEXIST';
    }
  }
  const created = createEmpty(path);
  // The folder exists (the file was created): so ENOENT was `like` missing; EMLINK its link limit.
  if (created === 'ok' && (failure === undefined || failure === 'ENOENT' || failure === 'EMLINK'))
    renewEmpty(like);
  return created;
}

function isPlainFile(path: string): boolean {
  try {
    return lstatSync(path).isFile();
  } catch (error) {
    if (code(error) === 'ENOENT') return false;
    throw error;
  }
}

// A fresh empty file renamed onto `like` (replacing a full, missing or planted one); best effort.
function renewEmpty(like: string): void {
  const temp = `${like}-${process.pid}-${emptySerial++}-${Date.now().toString(36)}`;
  try {
    closeSync(openSync(temp, CREATE_FLAGS, 0o600));
    renameSync(temp, like);
  } catch {
    try {
      unlinkSync(temp);
    } catch {
      // never created, or renamed already
    }
  }
}

function listFolder(path: string): DirEntry[] | undefined {
  let entries: Dirent[];
  try {
    entries = readdirSync(path, { withFileTypes: true });
  } catch (error) {
    if (code(error) === 'ENOENT') return undefined;
    throw error;
  }
  return entries.map((entry) => ({
    name: entry.name,
    dir: entry.isDirectory(),
    file: entry.isFile(),
  }));
}

function readWhole(path: string): Uint8Array | undefined | Promise<Uint8Array> {
  let fd: number;
  try {
    fd = openSync(path, READ_FLAGS);
  } catch (error) {
    if (code(error) === 'ENOENT') return undefined;
    throw error;
  }
  let size: number;
  try {
    // Most files are a few hundred bytes: one read that comes back short is the whole file (a
    // regular file reads short only at its end, and committed files never change), which saves
    // the fstat a size lookup would cost.
    const first = Buffer.allocUnsafe(FIRST_READ_BYTES);
    const n = readSync(fd, first, 0, FIRST_READ_BYTES, 0);
    if (n < FIRST_READ_BYTES) {
      closeSync(fd);
      return first.subarray(0, n);
    }
    size = fstatSync(fd).size;
    if (size <= SMALL_FILE_BYTES) return readAllSync(fd, size);
  } catch (error) {
    closeSync(fd);
    throw error;
  }
  return readAllAsync(fd, size).finally(() => closeSync(fd));
}

function readAllSync(fd: number, size: number): Buffer {
  try {
    const bytes = Buffer.allocUnsafe(size);
    let offset = 0;
    while (offset < size) {
      const n = readSync(fd, bytes, offset, size - offset, offset);
      if (n === 0) break;
      offset += n;
    }
    return bytes.subarray(0, offset);
  } finally {
    closeSync(fd);
  }
}

async function readAllAsync(fd: number, size: number): Promise<Buffer> {
  const bytes = Buffer.allocUnsafe(size);
  let offset = 0;
  while (offset < size) {
    const n = await new Promise<number>((resolve, reject) =>
      read(fd, bytes, offset, size - offset, offset, (error, count) =>
        error ? reject(error) : resolve(count),
      ),
    );
    if (n === 0) break;
    offset += n;
  }
  return bytes.subarray(0, offset);
}

const fdatasyncAsync = (fd: number): Promise<void> =>
  new Promise((resolve, reject) => fdatasync(fd, (error) => (error ? reject(error) : resolve())));

// One write at the end of the file (O_APPEND: the kernel places it after every earlier append, so
// appends of several processes never interleave or overwrite), then fdatasync when asked.
function appendTo(
  path: string,
  chunks: Uint8Array[],
  sync: boolean,
): 'ok' | 'ENOENT' | Promise<'ok'> {
  let fd: number;
  try {
    fd = openSync(path, APPEND_FLAGS, 0o600);
  } catch (error) {
    if (code(error) === 'ENOENT') return 'ENOENT';
    throw error;
  }
  try {
    const size = chunks.reduce((total, chunk) => total + chunk.length, 0);
    const bytes = chunks.length === 1 ? (chunks[0] as Uint8Array) : Buffer.concat(chunks, size);
    const written = writeSync(fd, bytes, 0, bytes.length);
    // A short write (a full disk) leaves a torn frame that readers skip; the step is not recorded.
    if (written !== bytes.length)
      throw new Error(`${path}: short append (${written} of ${bytes.length} bytes)`);
  } catch (error) {
    closeSync(fd);
    throw error;
  }
  if (!sync) {
    closeSync(fd);
    return 'ok';
  }
  return fdatasyncAsync(fd)
    .then(() => 'ok' as const)
    .finally(() => closeSync(fd));
}

// The bytes of a file from `from` to its end; undefined when the file is missing.
function readFrom(path: string, from: number): Uint8Array | undefined {
  let fd: number;
  try {
    fd = openSync(path, READ_FLAGS);
  } catch (error) {
    if (code(error) === 'ENOENT') return undefined;
    throw error;
  }
  try {
    const chunks: Buffer[] = [];
    for (let offset = from; ; ) {
      const chunk = Buffer.allocUnsafe(FIRST_READ_BYTES);
      const n = readSync(fd, chunk, 0, FIRST_READ_BYTES, offset);
      if (n > 0) chunks.push(chunk.subarray(0, n));
      offset += n;
      if (n < FIRST_READ_BYTES) break; // a regular file reads short only at its end
    }
    return chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
  } finally {
    closeSync(fd);
  }
}

const fsyncAsync = (fd: number): Promise<void> =>
  new Promise((resolve, reject) => fsync(fd, (error) => (error ? reject(error) : resolve())));

// A new file (never an existing one, never through a symlink), written in full, fsynced when asked.
function writeNew(path: string, chunks: Uint8Array[], sync: boolean): Promise<void> | undefined {
  const size = chunks.reduce((total, chunk) => total + chunk.length, 0);
  if (size > SMALL_FILE_BYTES) return writeNewAsync(path, chunks, sync);
  const fd = openSync(path, CREATE_FLAGS, 0o600);
  try {
    // One write for a header and its payload: a system call saved on every commit.
    const bytes = chunks.length === 1 ? (chunks[0] as Uint8Array) : Buffer.concat(chunks, size);
    for (let offset = 0; offset < bytes.length; )
      offset += writeSync(fd, bytes, offset, bytes.length - offset);
  } catch (error) {
    closeSync(fd);
    throw error;
  }
  if (!sync) {
    closeSync(fd);
    return undefined;
  }
  return fsyncAsync(fd).finally(() => closeSync(fd));
}

async function writeNewAsync(path: string, chunks: Uint8Array[], sync: boolean): Promise<void> {
  const handle = await open(path, CREATE_FLAGS, 0o600);
  try {
    await handle.writev(chunks);
    if (sync) await handle.sync();
  } finally {
    await handle.close();
  }
}

async function syncPath(path: string): Promise<'ok' | 'ENOENT'> {
  let fd: number;
  try {
    fd = openSync(path, READ_FLAGS);
  } catch (error) {
    if (code(error) === 'ENOENT') return 'ENOENT';
    throw error;
  }
  try {
    await fsyncAsync(fd);
    return 'ok';
  } finally {
    closeSync(fd);
  }
}

// throwIfNoEntry: false answers a missing path without building an exception (the common answer
// of the checks that a remembered head is still the newest).
function identityOf(path: string): string | undefined {
  const stats = lstatSync(path, { bigint: true, throwIfNoEntry: false });
  return stats === undefined ? undefined : `${stats.dev}:${stats.ino}:${stats.mtimeNs}`;
}

function modifiedAt(path: string): number | undefined {
  return lstatSync(path, { throwIfNoEntry: false })?.mtimeMs;
}
