import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Clock, PendingIndex } from '@durable/core';
import { DurableError, ErrorCode, StorageWorkflowStore } from '@durable/core';
import { LocalFileStorageManager } from './file-storage.js';
import { unlinkQuietly } from './generations.js';

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
    if (options === null || typeof options !== 'object' || typeof options.root !== 'string' || options.root === '') {
      throw new DurableError(ErrorCode.CONFIG, `${CONTEXT}: options with a "root" folder are required`);
    }
    const storage = new LocalFileStorageManager({ root: options.root, ...(options.fsync === undefined ? {} : { fsync: options.fsync }) });
    super({
      storage,
      name: CONTEXT,
      recordsPrefix: 'workflows/',
      pending: new FolderPendingIndex(join(storage.root, PENDING_DIR)),
      ...(options.clock === undefined ? {} : { clock: options.clock }),
    });
    this.root = storage.root;
  }
}

/** Pending markers as files in one folder: hex of the id, or a hash with the id inside. */
class FolderPendingIndex implements PendingIndex {
  constructor(private readonly dir: string) {
    try {
      mkdirSync(dir, { recursive: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw new DurableError(ErrorCode.CONFIG, `${CONTEXT}: ${dir} is not a folder`);
      throw error;
    }
  }

  async add(id: string): Promise<void> {
    writeFileSync(join(this.dir, markerName(id)), id);
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

  private markerId(name: string): string | undefined {
    if (!name.startsWith('#')) return Buffer.from(name, 'hex').toString('utf8');
    try {
      return readFileSync(join(this.dir, name), 'utf8');
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
