import { randomBytes } from 'node:crypto';
import { DurableError, ErrorCode } from '@durable/core';
import { runSteps } from './fs-driver.js';
import type { CommitResult, Head, KeyFolder, Planned, ProtocolOptions } from './protocol.js';
import { ForeignFolderError, commit, readHead } from './protocol.js';

/** Slots an epoch reaches before a commit compacts it (see protocol.ts). */
export const SEAL_AT = 64;
/** Age after which a temp file or prepared folder in a key folder counts as left by a crash. */
export const ABANDONED_AFTER_MS = 10 * 60_000;

const NAME_PREFIX = randomBytes(8).toString('hex');
let nameCounter = 0;

/** The protocol's options in production: {@link SEAL_AT} and random names. */
export const protocolOptions: ProtocolOptions = {
  sealAt: SEAL_AT,
  // Unique across processes (a random prefix drawn once) and within one (a counter): no
  // random bytes drawn per call, which cost system calls (getpid, getrandom) on every commit.
  uniqueName: () => `${NAME_PREFIX}${(nameCounter++).toString(36)}`,
  epochHints: new Map(),
  knownHeads: new Map(),
  isAbandoned: (mtimeMs) => Date.now() - mtimeMs > ABANDONED_AFTER_MS,
};

/** Reads a key folder's newest state with node:fs. */
export function readKey(
  folder: KeyFolder,
  options: ProtocolOptions = protocolOptions,
): Promise<Head | undefined> {
  return runSteps(readHead(folder, options)).catch(foreign);
}

/** Commits over a key folder's newest state with node:fs (see protocol.ts `commit`). */
export function commitKey(
  folder: KeyFolder,
  plan: (head: Head | undefined) => Planned | undefined,
  options: ProtocolOptions = protocolOptions,
): Promise<CommitResult> {
  return runSteps(commit(folder, plan, options)).catch(foreign);
}

// A folder the protocol did not write is a permanent condition: BACKEND, not retryable.
function foreign(error: unknown): never {
  if (error instanceof ForeignFolderError) {
    throw new DurableError(
      ErrorCode.BACKEND,
      `@durable/fs: ${error.message}; move it away or restore it from a backup`,
      { retryable: false, cause: error },
    );
  }
  throw error;
}

/** The typed error for a value file that failed its checksum or format check. */
export function corruptError(context: string, op: string, key: string, head: Head): DurableError {
  return new DurableError(
    ErrorCode.BACKEND,
    `${context}: ${op} failed for ${key}: its value file ${head.path} is corrupt (${
      head.corrupt ?? 'unreadable'
    }); ` + 'restore it from a backup, or overwrite the key with an unconditional write',
    {
      retryable: false,
      details: { key, path: head.path, version: String(head.version), corrupt: head.corrupt },
    },
  );
}
