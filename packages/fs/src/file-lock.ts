import { existsSync, watch } from 'node:fs';
import { join } from 'node:path';
import type {
  AcquireOptions,
  BackoffOptions,
  Clock,
  Lease,
  LockCapabilities,
  LockHolder,
  LockManager,
} from '@durable/core';
import { DurableError, ErrorCode, systemClock } from '@durable/core';
import {
  acquireWithRetry,
  assertValidKey,
  checkOptions,
  createLease,
  createLockToken,
  resolveBackoff,
  resolveTtl,
  toBackendError,
} from '@durable/core/adapter';
import { commitKey } from './key-store.js';
import { KeyPaths } from './paths.js';
import type { Head, KeyFolder } from './protocol.js';
import { ValueKind, encodeValueFile } from './value-file.js';

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
 * extension and release is a commit of the storage protocol (see protocol.ts), safe under any
 * pause: a killed holder leaves nothing to clean up, an expired lease is taken over at once, and
 * the fencing token (the version of the grant's commit, + 1) keeps increasing across restarts, so
 * a resource can refuse a paused holder whose lease was taken over.
 */
export class FileLockManager implements LockManager {
  readonly capabilities: LockCapabilities = { fencing: true, crossProcess: true };
  private readonly paths: KeyPaths;
  private readonly clock: Clock;
  private readonly defaultTtlMs: number;
  private readonly backoff: BackoffOptions;
  private readonly wakeOnChange: boolean;
  // When this process first saw each corrupt lock state (path@version), see stateOf.
  private readonly corruptSeen = new Map<string, number>();

  constructor(options: FileLockOptions) {
    checkOptions(options, CONTEXT, {
      known: ['root', 'defaultTtlMs', 'clock', 'backoff', 'wakeOnChange'],
      required: ['root'],
      renamed: {
        ttl: 'defaultTtlMs',
        timeToLiveDurationInSeconds: 'defaultTtlMs (milliseconds)',
        dir: 'root',
        path: 'root',
      },
    });
    if (
      options === null ||
      typeof options !== 'object' ||
      typeof options.root !== 'string' ||
      options.root === ''
    ) {
      throw new DurableError(
        ErrorCode.CONFIG,
        `${CONTEXT}: options with a "root" folder are required`,
      );
    }
    this.paths = new KeyPaths(join(options.root, '.locks'), CONTEXT);
    this.clock = options.clock ?? systemClock;
    this.defaultTtlMs = resolveTtl(options.defaultTtlMs, 30_000, CONTEXT);
    this.backoff = resolveBackoff(options.backoff, CONTEXT);
    this.wakeOnChange = options.wakeOnChange !== false;
  }

  acquire(key: string, options: AcquireOptions = {}): Promise<Lease> {
    // Worked out on first use, after acquireWithRetry has checked the key (a bad key rejects).
    let folder: KeyFolder | undefined;
    const keyFolder = (): KeyFolder => (folder ??= this.paths.keyFolder(key));
    const attempt = (ttlMs: number): Promise<Lease | undefined> =>
      this.tryAcquire(keyFolder(), key, ttlMs);
    // The folder exists once the first attempt failed (it creates it), which is when acquireWithRetry subscribes.
    const wakeUp = this.wakeOnChange
      ? (onChange: () => void) => watchFolder(keyFolder().dir, onChange)
      : undefined;
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
    const folder = this.paths.keyFolder(key);
    try {
      if (!this.paths.ensureInside(folder, key, false)) return false;
      const result = await this.change(folder, key, (state) =>
        state !== undefined && state.token === token && state.released !== true
          ? { ...state, released: true }
          : undefined,
      );
      return result !== undefined;
    } catch (error) {
      throw toBackendError(error, `${CONTEXT}: release failed for ${key}`, { details: { key } });
    }
  }

  async extend(key: string, token: string, ttlMs: number): Promise<number> {
    const folder = this.paths.keyFolder(key);
    const ttl = resolveTtl(ttlMs, this.defaultTtlMs, CONTEXT);
    let extended: LockState | undefined;
    try {
      if (this.paths.ensureInside(folder, key, false)) {
        extended = await this.change(folder, key, (state) => {
          const now = this.clock();
          if (
            state === undefined ||
            state.token !== token ||
            state.released === true ||
            state.expiresAt <= now
          )
            return undefined;
          return { ...state, expiresAt: now + ttl };
        });
      }
    } catch (error) {
      throw toBackendError(error, `${CONTEXT}: extend failed for ${key}`, { details: { key } });
    }
    if (extended !== undefined) return extended.expiresAt;
    throw new DurableError(
      ErrorCode.LOCK_LOST,
      `${CONTEXT}: extend failed for ${key}: the lease is no longer held`,
      {
        details: { key },
      },
    );
  }

  /** The live lease on `key` (fencing token and expiry, never the owner token), or `undefined` when free. */
  async holder(key: string): Promise<LockHolder | undefined> {
    assertValidKey(key, CONTEXT);
    const folder = this.paths.keyFolder(key);
    let seen: LockState | undefined;
    try {
      if (!this.paths.ensureInside(folder, key, false)) return undefined;
      // A plan that declines commits nothing: this only reads the newest state.
      await this.change(folder, key, (state) => {
        seen = state;
        return undefined;
      });
    } catch (error) {
      throw toBackendError(error, `${CONTEXT}: holder lookup failed for ${key}`, {
        details: { key },
      });
    }
    if (seen === undefined || seen.released === true || seen.expiresAt <= this.clock())
      return undefined;
    return { fencingToken: seen.fencing, expiresAt: seen.expiresAt };
  }

  private async tryAcquire(
    folder: KeyFolder,
    key: string,
    ttlMs: number,
  ): Promise<Lease | undefined> {
    try {
      this.paths.ensureInside(folder, key, true);
      const token = createLockToken();
      // The grant's fencing token is the commit's version + 1: versions only grow, each is
      // committed once, and they are positions, not parsed content, so a corrupt state cannot
      // make them go back.
      const grant = await this.change(
        folder,
        key,
        (state, version) => {
          const now = this.clock();
          if (state !== undefined && state.released !== true && state.expiresAt > now)
            return undefined;
          return { v: 1, token, fencing: version + 1, expiresAt: now + ttlMs };
        },
        true,
      );
      if (grant === undefined) return undefined;
      return createLease(this, {
        key,
        token,
        fencingToken: grant.fencing,
        expiresAt: grant.expiresAt,
        ttlMs,
      });
    } catch (error) {
      throw toBackendError(error, `${CONTEXT}: acquire failed for ${key}`, { details: { key } });
    }
  }

  /**
   * Commits `next(state, newVersion)` over the lock's newest state; undefined when `next` declines.
   * A state is linked from the page cache first; only a grant is then fsynced (through the temp
   * name, the same inode) before the lease is handed out: waiters racing for a released lock do
   * not each pay an fsync, and the fsync after the link covers the new name too on journaling
   * file systems (ext4, XFS), which keeps fencing tokens from going back after a power loss.
   */
  private async change(
    folder: KeyFolder,
    key: string,
    next: (state: LockState | undefined, newVersion: number) => LockState | undefined,
    durable = false,
  ): Promise<LockState | undefined> {
    let planned: LockState | undefined;
    const result = await commitKey(folder, (head) => {
      planned = next(this.stateOf(head, key), head === undefined ? 0 : head.version + 1);
      if (planned === undefined) return undefined;
      return {
        chunks: encodeValueFile(ValueKind.VALUE, Buffer.from(JSON.stringify(planned))),
        sync: false,
        syncAfterLink: durable,
      };
    });
    return result.committed ? planned : undefined;
  }

  // A lock state that fails its checksum or does not parse cannot come from a commit (they are
  // atomic); if the disk or another program damaged it, the lock is treated as held by an unknown
  // owner for one default TTL from the moment it was read, then taken over (the fencing token
  // still grows, being the commit's position). No human is needed.
  private stateOf(head: Head | undefined, key: string): LockState | undefined {
    if (head === undefined || head.kind === ValueKind.ABSENT) return undefined;
    const state = head.kind === ValueKind.VALUE ? parseState(head.data) : undefined;
    if (state !== undefined) return state;
    const seen = `${key}@${head.version}`;
    const firstSeen = this.corruptSeen.get(seen) ?? this.clock();
    if (this.corruptSeen.size > 1000) this.corruptSeen.clear();
    this.corruptSeen.set(seen, firstSeen);
    return { v: 1, token: '', fencing: 0, expiresAt: firstSeen + this.defaultTtlMs };
  }
}

// Calls onChange on every change in a lock's folder (each commit adds and removes a temp file);
// undefined where no watch can be set up (no inotify watches left, no such folder, a file system
// without notifications), and a watch that fails later is closed: waiters then use backoff alone.
function watchFolder(dir: string, onChange: () => void): (() => void) | undefined {
  try {
    // Only a new generation file is a commit; a writer's temp file coming and going is not.
    // Commits link into an epoch subfolder, which this watch does not see; but each commit's temp
    // file comes and goes in the key folder itself, its removal just after the link. Its creation
    // (the file is still there) announces nothing yet: waking every waiter for it would double
    // the thundering herd.
    const watcher = watch(dir, { persistent: false }, (_event, name) => {
      if (typeof name === 'string' && name.startsWith('.t-') && existsSync(join(dir, name))) return;
      onChange();
    });
    watcher.on('error', () => watcher.close());
    return () => watcher.close();
  } catch {
    return undefined;
  }
}

function parseState(bytes: Uint8Array): LockState | undefined {
  try {
    const state = JSON.parse(Buffer.from(bytes).toString('utf8')) as Partial<LockState> | null;
    if (
      state === null ||
      state.v !== 1 ||
      typeof state.token !== 'string' ||
      typeof state.fencing !== 'number' ||
      typeof state.expiresAt !== 'number'
    )
      return undefined;
    return state as LockState;
  } catch {
    return undefined;
  }
}
