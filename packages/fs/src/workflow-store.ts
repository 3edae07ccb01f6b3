import { createHash } from 'node:crypto';
import { randomBytes } from 'node:crypto';
import { closeSync, constants, fsyncSync, linkSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Clock, PendingIndex } from '@durable/core';
import { DurableError, ErrorCode, StorageWorkflowStore, checkOptions } from '@durable/core';
import { LocalFileStorageManager } from './file-storage.js';
import { unlinkQuietly } from './files.js';

/** Options for {@link FileWorkflowStore}. */
export interface FileWorkflowStoreOptions {
  /** Folder for the workflows (created when missing); may be shared by several processes. */
  root: string;
  /** fsync each change before it becomes visible (a power loss keeps the old or the new state). @default true */
  fsync?: boolean;
  /** Time source, for tests; every process sharing the folder must agree on it. @default Date.now */
  clock?: Clock;
}

const CONTEXT = 'fs workflow store';
const PENDING_DIR = '.workflow-pending';
// Longest marker name kept readable; longer ids get a hashed name and keep the id inside.
const MAX_MARKER_NAME = 200;
const HEX_NAME = /^(?:[0-9a-f]{2})+$/;
const HASHED_NAME = /^#[0-9a-f]{64}$/;

/**
 * The embedded default {@link WorkflowStore}: workflows in a local folder, safe for several
 * processes at once. It is core's {@link StorageWorkflowStore} on a {@link LocalFileStorageManager}
 * (atomic, fsynced, compare-and-swap by hard-linked generation files, so a killed process leaves
 * nothing half-written and two claimers can never both win), with the pending markers of
 * unfinished workflows as files in one plain folder: a claim costs one readdir plus a read of
 * the candidates, and finished workflows are never read again.
 */
export class FileWorkflowStore extends StorageWorkflowStore {
  /** The resolved root folder. */
  readonly root: string;

  constructor(options: FileWorkflowStoreOptions) {
    checkOptions(options, CONTEXT, { known: ['root', 'fsync', 'clock'], required: ['root'], renamed: { dir: 'root', path: 'root' } });
    if (options === null || typeof options !== 'object' || typeof options.root !== 'string' || options.root === '') {
      throw new DurableError(ErrorCode.CONFIG, `${CONTEXT}: options with a "root" folder are required`);
    }
    const storage = new LocalFileStorageManager({ root: options.root, ...(options.fsync === undefined ? {} : { fsync: options.fsync }) });
    super({
      storage,
      name: CONTEXT,
      recordsPrefix: 'workflows/',
      pending: new FolderPendingIndex(join(storage.root, PENDING_DIR), options.fsync ?? true),
      ...(options.clock === undefined ? {} : { clock: options.clock }),
    });
    this.root = storage.root;
  }
}

/** Pending markers as files in one folder: hex of the id, or a hash with the id inside. */
class FolderPendingIndex implements PendingIndex {
  constructor(
    private readonly dir: string,
    private readonly fsync: boolean,
  ) {
    try {
      mkdirSync(dir, { recursive: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw new DurableError(ErrorCode.CONFIG, `${CONTEXT}: ${dir} is not a folder`);
      throw error;
    }
  }

  // A marker appears whole or not at all: its content (the id, which a hashed name needs) is
  // written and, like values, fsynced under a temp name, then linked to its name; an existing
  // marker is left as it is (never truncated and rewritten).
  async add(id: string): Promise<void> {
    const temp = join(this.dir, `.t-${randomBytes(8).toString('hex')}`);
    const fd = openSync(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
    try {
      writeSync(fd, id);
      if (this.fsync) fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    try {
      linkSync(temp, join(this.dir, markerName(id)));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    } finally {
      unlinkQuietly(temp);
    }
  }

  async remove(id: string): Promise<void> {
    unlinkQuietly(join(this.dir, markerName(id)));
  }

  async list(): Promise<string[]> {
    const ids: string[] = [];
    for (const name of readdirSync(this.dir)) {
      if (name.startsWith('.')) continue;
      const id = this.markerId(name);
      if (id !== undefined) ids.push(id);
    }
    return ids;
  }

  // Marker files carry their own (real) modification time, so age is measured on the real clock.
  async removeOrphan(id: string, _now: number, maxAgeMs: number): Promise<void> {
    const path = join(this.dir, markerName(id));
    let age: number;
    try {
      age = Date.now() - statSync(path).mtimeMs;
    } catch {
      return;
    }
    if (age > maxAgeMs) unlinkQuietly(path);
  }

  // Names this store did not write (not hex, not "#" + a SHA-256) are ignored.
  private markerId(name: string): string | undefined {
    if (!name.startsWith('#')) {
      if (!HEX_NAME.test(name)) return undefined;
      const id = Buffer.from(name, 'hex').toString('utf8');
      return markerName(id) === name ? id : undefined;
    }
    if (!HASHED_NAME.test(name)) return undefined;
    try {
      const id = readFileSync(join(this.dir, name), 'utf8');
      return markerName(id) === name ? id : undefined;
    } catch {
      return undefined; // removed meanwhile
    }
  }
}

// Hex keeps marker names apart on case-insensitive file systems (base64 would not).
function markerName(id: string): string {
  const hex = Buffer.from(id, 'utf8').toString('hex');
  return hex.length <= MAX_MARKER_NAME ? hex : `#${createHash('sha256').update(id).digest('hex')}`;
}

/** Creates a {@link FileWorkflowStore}. */
export function createFileWorkflowStore(options: FileWorkflowStoreOptions): FileWorkflowStore {
  return new FileWorkflowStore(options);
}
