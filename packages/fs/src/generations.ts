import { randomBytes } from 'node:crypto';
import type { BigIntStats } from 'node:fs';
import { closeSync, constants, fstatSync, fsync, linkSync, openSync, read, readdirSync, readSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';

/*
 * One key's history is a folder of numbered "generation" files: 0, 1, 2, ... The highest number
 * is the current state. A new state is committed by hard-linking a fully written, fsynced temp
 * file to the next number: link() fails when the name exists, so of several writers that read
 * the same generation exactly one commits (compare-and-swap across processes, with no lock and
 * nothing to go stale when a writer is killed), and a reader always sees a complete file.
 *
 * Old generations are deleted in ascending order, and only once they are more than
 * KEEP_GENERATIONS behind the newest commit and were superseded at least KEEP_MS ago. Ascending
 * order makes the commit safe against a writer paused for a long time: its link to N + 1 can
 * only succeed if N + 1 was deleted, and N + 1 is only deleted after N was. So after linking,
 * the writer checks that the file N it based its write on is still the very same file (same
 * inode, mtime and birth time); if it is not, its new file is an orphan below newer history and
 * is undone. The lag keeps that check from mistaking a commit that others quickly built upon for
 * an orphan: that would take KEEP_GENERATIONS further commits and KEEP_MS between the writer's
 * link and its check, two consecutive system calls. (Deleting at once, as a first version did,
 * let one quick successor do it: a multi-process counter test then counted 2401 of 2400.)
 */

/** The identity of one generation file at one moment. */
export interface GenerationFile {
  readonly gen: number;
  readonly path: string;
  readonly ino: bigint;
  // Neither changes when the committing writer drops its temp name (ctime would), and a file
  // re-created under the same name and inode number gets new ones.
  readonly mtimeNs: bigint;
  readonly birthtimeNs: bigint;
  /** When the name was last linked (ages superseded generations; never compared for identity). */
  readonly ctimeNs: bigint;
  readonly size: number;
}

/** One pass over a generation folder: the newest generation and how many files there are. */
export interface Listing {
  /** The highest generation number, or -1 when there is none. */
  readonly top: number;
  /** Generation files present. */
  readonly count: number;
}

/** Generation numbers (ascending) and temp file names, for collection and sweeping. */
interface FullListing {
  readonly gens: number[];
  readonly temps: string[];
}

/** Generations kept below the newest commit before any is deleted. */
export const KEEP_GENERATIONS = 32;
/** How long a generation is kept after it was superseded, at least. */
export const KEEP_MS = 25;
const TEMP_PREFIX = '.tmp-';
const TEMP_MAX_AGE_MS = 60_000;
const READ_FLAGS = constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0);
const TEMP_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL;
/**
 * Values up to this size are read and written with synchronous calls, which for a few pages in
 * the page cache take microseconds, while each asynchronous call is a round trip through libuv's
 * thread pool. The fsync, the slow part, is always asynchronous. Larger values use the
 * asynchronous calls throughout, so that they never hold up the event loop.
 */
const SMALL_VALUE_BYTES = 64 * 1024;

function readNames(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

// A generation's number, or -1 for any other name. Hot path: no regex, no allocation.
function generationOf(name: string): number {
  const first = name.charCodeAt(0);
  if (first < 48 || first > 57 || name.length > 15 || (first === 48 && name.length > 1)) return -1;
  for (let i = 1; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
  }
  return Number(name);
}

/** Scans a generation folder once; an absent folder has no generations. */
export function scanGenerations(dir: string): Listing {
  let top = -1;
  let count = 0;
  for (const name of readNames(dir)) {
    const gen = generationOf(name);
    if (gen >= 0) {
      count++;
      if (gen > top) top = gen;
    }
  }
  return { top, count };
}

/** Lists a generation folder in full; empty when the folder does not exist. */
function listGenerations(dir: string): FullListing {
  const gens: number[] = [];
  const temps: string[] = [];
  for (const name of readNames(dir)) {
    const gen = generationOf(name);
    if (gen >= 0) gens.push(gen);
    else if (name.startsWith(TEMP_PREFIX)) temps.push(name);
  }
  gens.sort((x, y) => x - y);
  return { gens, temps };
}

function identity(gen: number, path: string, stats: BigIntStats): GenerationFile {
  return { gen, path, ino: stats.ino, mtimeNs: stats.mtimeNs, birthtimeNs: stats.birthtimeNs, ctimeNs: stats.ctimeNs, size: Number(stats.size) };
}

/** The identity of generation `gen`, or `undefined` when it is gone. */
export function statGeneration(dir: string, gen: number): GenerationFile | undefined {
  const path = join(dir, String(gen));
  try {
    return identity(gen, path, statSync(path, { bigint: true }));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/**
 * The current generation's identity and bytes, read from one open file, with the listing;
 * creates the empty generation 0 in a folder that has none, and retries when the newest file
 * is deleted under it by a concurrent commit.
 */
export function readCurrentGeneration(dir: string): { file: GenerationFile; bytes: Buffer; listing: Listing } {
  for (;;) {
    const listing = scanGenerations(dir);
    if (listing.top < 0) {
      createGenerationZero(dir);
      continue;
    }
    const read = readGenerationSync(dir, listing.top);
    if (read !== undefined) return { ...read, listing };
  }
}

/**
 * The current generation with its identity, creating the empty generation 0 in a folder that
 * has none. Retries when the newest file is deleted under it by a concurrent commit.
 */
export function currentGeneration(dir: string): { file: GenerationFile; listing: Listing } {
  for (;;) {
    const listing = scanGenerations(dir);
    if (listing.top < 0) {
      createGenerationZero(dir);
      continue;
    }
    const file = statGeneration(dir, listing.top);
    if (file !== undefined) return { file, listing };
  }
}

function createGenerationZero(dir: string): void {
  try {
    closeSync(openSync(join(dir, '0'), constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o600));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
}

// Opens a generation file for reading (never through a symlink); undefined when it is gone.
function openGeneration(path: string): number | undefined {
  try {
    return openSync(path, READ_FLAGS);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** Reads a generation file's bytes and identity from one open file; `undefined` when gone. */
export function readGenerationSync(dir: string, gen: number): { file: GenerationFile; bytes: Buffer } | undefined {
  const path = join(dir, String(gen));
  const fd = openGeneration(path);
  if (fd === undefined) return undefined;
  try {
    const stats = fstatSync(fd, { bigint: true });
    return { file: identity(gen, path, stats), bytes: readAllSync(fd, Number(stats.size)) };
  } finally {
    closeSync(fd);
  }
}

/**
 * Reads a generation file's bytes (synchronously when it is small, see SMALL_VALUE_BYTES,
 * asynchronously from the same open file otherwise); `undefined` when gone.
 */
export async function readGeneration(dir: string, gen: number): Promise<Buffer | undefined> {
  const fd = openGeneration(join(dir, String(gen)));
  if (fd === undefined) return undefined;
  try {
    const size = fstatSync(fd).size;
    return size <= SMALL_VALUE_BYTES ? readAllSync(fd, size) : await readAllAsync(fd, size);
  } finally {
    closeSync(fd);
  }
}

function readAllSync(fd: number, size: number): Buffer {
  const bytes = Buffer.allocUnsafe(size);
  let offset = 0;
  while (offset < size) {
    const n = readSync(fd, bytes, offset, size - offset, offset);
    if (n === 0) break;
    offset += n;
  }
  return bytes.subarray(0, offset);
}

async function readAllAsync(fd: number, size: number): Promise<Buffer> {
  const bytes = Buffer.allocUnsafe(size);
  let offset = 0;
  while (offset < size) {
    const n = await new Promise<number>((resolve, reject) =>
      read(fd, bytes, offset, size - offset, offset, (error, count) => (error ? reject(error) : resolve(count))),
    );
    if (n === 0) break;
    offset += n;
  }
  return bytes.subarray(0, offset);
}

const fsyncAsync = (fd: number): Promise<void> =>
  new Promise((resolve, reject) => fsync(fd, (error) => (error ? reject(error) : resolve())));

/** Flushes a committed generation file (its data, and its inode with the new link) to disk. */
export async function syncGeneration(dir: string, gen: number): Promise<void> {
  const fd = openSync(join(dir, String(gen)), READ_FLAGS);
  try {
    await fsyncAsync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Writes `chunks` to a new temp file in `dir` (fsynced when `durable`) and returns its path. */
export async function writeTemp(dir: string, chunks: Uint8Array[], durable: boolean): Promise<string> {
  const path = join(dir, `${TEMP_PREFIX}${randomBytes(8).toString('hex')}`);
  const size = chunks.reduce((total, chunk) => total + chunk.length, 0);
  if (size > SMALL_VALUE_BYTES) return writeTempAsync(path, chunks, durable);
  const fd = openSync(path, TEMP_FLAGS, 0o600);
  try {
    for (const chunk of chunks) {
      for (let offset = 0; offset < chunk.length; ) offset += writeSync(fd, chunk, offset, chunk.length - offset);
    }
    if (durable) await fsyncAsync(fd);
  } catch (error) {
    closeSync(fd);
    unlinkQuietly(path);
    throw error;
  }
  closeSync(fd);
  return path;
}

async function writeTempAsync(path: string, chunks: Uint8Array[], durable: boolean): Promise<string> {
  const handle = await open(path, 'wx', 0o600);
  try {
    await handle.writev(chunks);
    if (durable) await handle.sync();
  } catch (error) {
    await handle.close();
    unlinkQuietly(path);
    throw error;
  }
  await handle.close();
  return path;
}

/**
 * Commits `tempPath` as generation `base.gen + 1` if `base` is still the current generation.
 * Returns false (changing nothing) when another writer got there first.
 */
export function commitGeneration(dir: string, base: GenerationFile, tempPath: string, listing: Listing): boolean {
  const next = base.gen + 1;
  const nextPath = join(dir, String(next));
  try {
    linkSync(tempPath, nextPath);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
  const still = statGeneration(dir, base.gen);
  if (still === undefined || !sameFile(still, base)) {
    unlinkQuietly(nextPath); // an orphan below newer history: undo it
    return false;
  }
  if (listing.count >= KEEP_GENERATIONS + 16) collectGarbage(dir, next);
  return true;
}

/** Deletes a path, ignoring a file that is already gone. */
export function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

function sameFile(a: GenerationFile, b: GenerationFile): boolean {
  return a.ino === b.ino && a.mtimeNs === b.mtimeNs && a.birthtimeNs === b.birthtimeNs;
}

// Deletes, in ascending order (part of the protocol: see the top of this file), the generations
// more than KEEP_GENERATIONS behind `newest` (in batches, so most commits pay nothing), and temp
// files that crashed writers left behind.
function collectGarbage(dir: string, newest: number): void {
  const { gens, temps } = listGenerations(dir);
  const now = Date.now();
  for (const gen of gens) {
    if (gen >= newest - KEEP_GENERATIONS) break;
    // The successor's ctime moved when it was linked: that is when `gen` was superseded.
    const successor = statGeneration(dir, gen + 1);
    if (successor === undefined || now - Number(successor.ctimeNs / 1_000_000n) < KEEP_MS) break;
    unlinkQuietly(join(dir, String(gen)));
  }
  for (const name of temps) {
    const path = join(dir, name);
    try {
      if (now - statSync(path).mtimeMs > TEMP_MAX_AGE_MS) unlinkQuietly(path);
    } catch {
      // gone already, or unreadable: the next collection tries again
    }
  }
}
