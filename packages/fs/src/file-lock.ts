import { watch } from 'node:fs';
import { join } from 'node:path';
import type { AcquireOptions, BackoffOptions, Clock, Lease, LockCapabilities, LockManager } from '@durable/core';
import {
  DurableError,
  ErrorCode,
  acquireWithRetry,
  createLease,
  createLockToken,
  resolveBackoff,
  resolveTtl,
  systemClock,
  toBackendError,
} from '@durable/core';
import type { GenerationFile, Listing } from './generations.js';
import { commitGeneration, readCurrentGeneration, syncGeneration, unlinkQuietly, writeTemp } from './generations.js';
import { KeyPaths } from './paths.js';

/** Options for {@link FileLockManager}. */
export interface FileLockOptions {
  /**
   * Folder for the lock files; locks live in its `.locks` subfolder, so it may be the same
   * folder as a {@link LocalFileStorageManager}'s root.
   */
  root: string;
  /** Lease duration when `acquire` names none. @default 30000 */
  defaultTtlMs?: number;
  /** Time source (epoch ms); every process sharing the folder must agree on it. @default Date.now */
  clock?: Clock;
  /** Backoff between attempts while waiting for a held lock. @default { baseMs: 5, maxMs: 250 } */
  backoff?: BackoffOptions;
  /**
   * Wake a waiting `acquire` as soon as the lock's folder changes (a release or any other commit,
   * by any process), through `fs.watch` (inotify on Linux), instead of sleeping out its backoff.
   * Where the file system gives no notifications (some network file systems), waiters fall back
   * to the backoff alone. @default true
   */
  wakeOnChange?: boolean;
}

/** One persisted lock state (format version 1). */
interface LockState {
  v: 1;
  token: string;
  fencing: number;
  expiresAt: number;
  released?: true;
}

const CONTEXT = 'fs lock';

/**
 * {@link LockManager} on a local folder, safe across processes on one machine. Each grant,
 * extension and release is a compare-and-swap commit of a numbered file (see generations.ts):
 * a killed holder leaves nothing to clean up, an expired lease is taken over at once, and the
 * fencing token (the commit number of the grant) keeps increasing across restarts.
 */
export class FileLockManager implements LockManager {
  readonly capabilities: LockCapabilities = { fencing: true, crossProcess: true };
  private readonly paths: KeyPaths;
  private readonly clock: Clock;
  private readonly defaultTtlMs: number;
  private readonly backoff: BackoffOptions;
  private readonly wakeOnChange: boolean;

  constructor(options: FileLockOptions) {
    if (options === null || typeof options !== 'object' || typeof options.root !== 'string' || options.root === '') {
      throw new DurableError(ErrorCode.CONFIG, `${CONTEXT}: options with a "root" folder are required`);
    }
    this.paths = new KeyPaths(join(options.root, '.locks'), CONTEXT);
    this.clock = options.clock ?? systemClock;
    this.defaultTtlMs = resolveTtl(options.defaultTtlMs, 30_000, CONTEXT);
    this.backoff = resolveBackoff(options.backoff, CONTEXT);
    this.wakeOnChange = options.wakeOnChange !== false;
  }

  acquire(key: string, options: AcquireOptions = {}): Promise<Lease> {
    // Worked out on first use, after acquireWithRetry has checked the key (a bad key rejects).
    let dir: string | undefined;
    const keyDir = (): string => (dir ??= this.paths.keyDir(key));
    const attempt = (ttlMs: number): Promise<Lease | undefined> => this.tryAcquire(keyDir(), key, ttlMs);
    // The folder exists once the first attempt failed (it creates it), which is when acquireWithRetry subscribes.
    const wakeUp = this.wakeOnChange ? (onChange: () => void) => watchFolder(keyDir(), onChange) : undefined;
    return acquireWithRetry({
      context: CONTEXT,
      key,
      options,
      defaultTtlMs: this.defaultTtlMs,
      backoff: this.backoff,
      attempt,
      ...(wakeUp === undefined ? {} : { watch: wakeUp }),
    });
  }

  async release(key: string, token: string): Promise<boolean> {
    const dir = this.paths.keyDir(key);
    try {
      if (!this.paths.ensureInside(dir, key, false)) return false;
      for (;;) {
        const current = this.current(dir, key);
        const state = current.state;
        if (state === undefined || state.token !== token || state.released === true) return false;
        const released: LockState = { ...state, released: true };
        if (await this.commit(dir, current, released, false)) return true;
      }
    } catch (error) {
      throw toBackendError(error, `${CONTEXT}: release failed for ${key}`, { details: { key } });
    }
  }

  async extend(key: string, token: string, ttlMs: number): Promise<number> {
    const dir = this.paths.keyDir(key);
    const ttl = resolveTtl(ttlMs, this.defaultTtlMs, CONTEXT);
    try {
      if (this.paths.ensureInside(dir, key, false)) {
        for (;;) {
          const current = this.current(dir, key);
          const state = current.state;
          const now = this.clock();
          if (state === undefined || state.token !== token || state.released === true || state.expiresAt <= now) break;
          const extended: LockState = { ...state, expiresAt: now + ttl };
          if (await this.commit(dir, current, extended, false)) return extended.expiresAt;
        }
      }
    } catch (error) {
      throw toBackendError(error, `${CONTEXT}: extend failed for ${key}`, { details: { key } });
    }
    throw new DurableError(ErrorCode.LOCK_LOST, `${CONTEXT}: extend failed for ${key}: the lease is no longer held`, {
      details: { key },
    });
  }

  private async tryAcquire(dir: string, key: string, ttlMs: number): Promise<Lease | undefined> {
    try {
      this.paths.ensureInside(dir, key, true);
      const current = this.current(dir, key);
      const state = current.state;
      const now = this.clock();
      if (state !== undefined && state.released !== true && state.expiresAt > now) return undefined;
      const grant: LockState = { v: 1, token: createLockToken(), fencing: current.file.gen + 1, expiresAt: now + ttlMs };
      // A grant is fsynced before the lease is returned: after a power loss the fencing counter
      // must not go back (see commit).
      if (!(await this.commit(dir, current, grant, true))) return undefined;
      return createLease(this, { key, token: grant.token, fencingToken: grant.fencing, expiresAt: grant.expiresAt, ttlMs });
    } catch (error) {
      throw toBackendError(error, `${CONTEXT}: acquire failed for ${key}`, { details: { key } });
    }
  }

  private current(dir: string, key: string): { file: GenerationFile; listing: Listing; state: LockState | undefined } {
    const { file, bytes, listing } = readCurrentGeneration(dir);
    return { file, listing, state: parseState(bytes, key) };
  }

  private async commit(
    dir: string,
    current: { file: GenerationFile; listing: Listing },
    state: LockState,
    durable: boolean,
  ): Promise<boolean> {
    // The fsync comes after the link, and only for the winner: when a release wakes several
    // waiters, each one that tries writes a few bytes to the page cache, not to the disk. Linking
    // first also makes the fsync cover the new name on journaling file systems such as ext4 and
    // XFS (the link changes the inode's link count, and the journal commits both together; the
    // fsync before the link, as before, never covered the name), which is what keeps the
    // fencing counter, the generation number, from going back after a power loss. A grant seen by
    // another process before it is durable is harmless: the lock only looks held sooner. If the
    // power fails before the fsync, the lease was never handed out, and the file reads as empty,
    // which is a lock never granted, while its number still counts.
    const temp = await writeTemp(dir, [Buffer.from(JSON.stringify(state))], false);
    let committed: boolean;
    try {
      committed = commitGeneration(dir, current.file, temp, current.listing);
    } finally {
      unlinkQuietly(temp);
    }
    if (committed && durable) await syncGeneration(dir, current.file.gen + 1);
    return committed;
  }
}

// Calls onChange on every change in a lock's folder (each commit links a new generation file);
// undefined where no watch can be set up (no inotify watches left, no such folder, a file system
// without notifications), and a watch that fails later is closed: waiters then use backoff alone.
function watchFolder(dir: string, onChange: () => void): (() => void) | undefined {
  try {
    // Only a new generation file is a commit; a writer's temp file coming and going is not.
    const watcher = watch(dir, { persistent: false }, (_event, name) => {
      if (typeof name !== 'string' || !name.startsWith('.tmp-')) onChange();
    });
    watcher.on('error', () => watcher.close());
    return () => watcher.close();
  } catch {
    return undefined;
  }
}

function parseState(bytes: Buffer, key: string): LockState | undefined {
  if (bytes.length === 0) return undefined; // never granted
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw new DurableError(ErrorCode.BACKEND, `${CONTEXT}: lock file for ${key} is corrupt`, { cause: error, details: { key } });
  }
  const state = parsed as Partial<LockState>;
  if (state.v !== 1 || typeof state.token !== 'string' || typeof state.fencing !== 'number' || typeof state.expiresAt !== 'number') {
    throw new DurableError(ErrorCode.BACKEND, `${CONTEXT}: lock file for ${key} has an unknown format`, { details: { key } });
  }
  return state as LockState;
}

/** Creates a {@link FileLockManager}. */
export function createFileLock(options: FileLockOptions): FileLockManager {
  return new FileLockManager(options);
}
