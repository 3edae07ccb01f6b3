import { randomBytes } from 'node:crypto';
import type { BigIntStats } from 'node:fs';
import { closeSync, constants, fstatSync, linkSync, openSync, readdirSync, readSync, statSync, unlinkSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';

/*
 * One key's history is a folder of numbered "generation" files: 0, 1, 2, ... The highest number
 * is the current state. A new state is committed by hard-linking a fully written, fsynced temp
 * file to the next number: link() fails when the name exists, so of several writers that read
 * the same generation exactly one commits (compare-and-swap across processes, with no lock and
 * nothing to go stale when a writer is killed), and a reader always sees a complete file.
 *
 * Old generations are deleted by the writer that superseded them, in ascending order. That order
 * is what makes the commit safe against a writer paused for a long time: its link to N + 1 can
 * only succeed if N + 1 was deleted, and N + 1 is only deleted after N was. So after linking,
 * the writer checks that the file N it based its write on is still the very same file (same
 * inode, mtime and birth time); if it is not, its new file is an orphan below newer history, and is undone.
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
  readonly size: number;
}

/** Names in a generation folder: generation numbers (ascending) and leftover temp files. */
export interface Listing {
  readonly gens: number[];
  readonly temps: string[];
}

const GEN_NAME = /^(0|[1-9][0-9]{0,15})$/;
const TEMP_PREFIX = '.tmp-';
const READ_FLAGS = constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0);

/** Lists a generation folder; empty when the folder does not exist. */
export function listGenerations(dir: string): Listing {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { gens: [], temps: [] };
    throw error;
  }
  const gens: number[] = [];
  const temps: string[] = [];
  for (const name of names) {
    if (GEN_NAME.test(name)) gens.push(Number(name));
    else if (name.startsWith(TEMP_PREFIX)) temps.push(name);
  }
  gens.sort((a, b) => a - b);
  return { gens, temps };
}

function identity(gen: number, path: string, stats: BigIntStats): GenerationFile {
  return { gen, path, ino: stats.ino, mtimeNs: stats.mtimeNs, birthtimeNs: stats.birthtimeNs, size: Number(stats.size) };
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
 * The current generation with its identity, creating the empty generation 0 in a folder that
 * has none. Retries when the newest file is deleted under it by a concurrent commit.
 */
export function currentGeneration(dir: string): { file: GenerationFile; listing: Listing } {
  for (;;) {
    const listing = listGenerations(dir);
    const top = listing.gens[listing.gens.length - 1];
    if (top === undefined) {
      createGenerationZero(dir);
      continue;
    }
    const file = statGeneration(dir, top);
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

/** Reads a generation file's bytes and identity from one open file; `undefined` when gone. */
export function readGenerationSync(dir: string, gen: number): { file: GenerationFile; bytes: Buffer } | undefined {
  const path = join(dir, String(gen));
  let fd: number;
  try {
    fd = openSync(path, READ_FLAGS);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    const stats = fstatSync(fd, { bigint: true });
    const bytes = Buffer.allocUnsafe(Number(stats.size));
    let offset = 0;
    while (offset < bytes.length) {
      const n = readSync(fd, bytes, offset, bytes.length - offset, offset);
      if (n === 0) break;
      offset += n;
    }
    return { file: identity(gen, path, stats), bytes: bytes.subarray(0, offset) };
  } finally {
    closeSync(fd);
  }
}

/** Reads a generation file's bytes asynchronously (for values of any size); `undefined` when gone. */
export async function readGeneration(dir: string, gen: number): Promise<Buffer | undefined> {
  try {
    const handle = await open(join(dir, String(gen)), READ_FLAGS);
    try {
      return await handle.readFile();
    } finally {
      await handle.close();
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** Writes `chunks` to a new temp file in `dir` (fsynced when `durable`) and returns its path. */
export async function writeTemp(dir: string, chunks: Uint8Array[], durable: boolean): Promise<string> {
  const path = join(dir, `${TEMP_PREFIX}${randomBytes(8).toString('hex')}`);
  const handle = await open(path, 'wx', 0o600);
  try {
    if (chunks.length > 0) await handle.writev(chunks);
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
  // Ascending order is part of the protocol (see the top of this file).
  for (const gen of listing.gens) if (gen < next) unlinkQuietly(join(dir, String(gen)));
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

/** Deletes temp files left by crashed writers once they are older than `maxAgeMs`. */
export function sweepTemps(dir: string, temps: string[], maxAgeMs: number, now: number): void {
  for (const name of temps) {
    const path = join(dir, name);
    try {
      if (now - statSync(path).mtimeMs > maxAgeMs) unlinkQuietly(path);
    } catch {
      // gone already, or unreadable: the next sweep tries again
    }
  }
}

function sameFile(a: GenerationFile, b: GenerationFile): boolean {
  return a.ino === b.ino && a.mtimeNs === b.mtimeNs && a.birthtimeNs === b.birthtimeNs;
}
