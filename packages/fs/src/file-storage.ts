import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type {
  ConditionalOptions,
  ListOptions,
  ListPage,
  StorageCapabilities,
  StorageManager,
  StoredEntry,
  StorageValue,
} from '@durable/core';
import { DurableError, ErrorCode } from '@durable/core';
import {
  assertConditionalOptions,
  conflictError,
  assertStorageValue,
  assertValidPrefix,
  checkOptions,
  pageKeys,
  toBackendError,
  toBytes,
} from '@durable/core/adapter';
import { commitKey, corruptError, readKey } from './key-store.js';
import { KEY_DIR_SUFFIX, KeyPaths, SEGMENT_FILE, decodeSegment, encodeSegment } from './paths.js';
import type { Head, KeyFolder, Planned } from './protocol.js';
import { FileWatches } from './storage-watch.js';
import { ValueKind, encodeValueFile } from './value-file.js';

/** Options for {@link LocalFileStorageManager}. */
export interface LocalFileStorageOptions {
  /** Folder that holds every key (created when missing). Keys can never leave it. */
  root: string;
  /**
   * fsync each value before it becomes visible, so a power loss leaves the old or the new value.
   * Turn off only for throwaway data. @default true
   */
  fsync?: boolean;
}

const CONTEXT = 'fs storage';
const ABSENT = encodeValueFile(ValueKind.ABSENT, new Uint8Array(0));

/**
 * {@link StorageManager} on a local folder: atomic, durable, conditional writes that are
 * linearizable across processes on one machine under any pause or crash, with no lock file and
 * nothing to clean after a crash (see the commit protocol in protocol.ts).
 */
export class LocalFileStorageManager implements StorageManager {
  readonly capabilities: StorageCapabilities = { conditionalWrite: true, watch: true };
  private readonly paths: KeyPaths;
  private readonly fsync: boolean;
  private readonly watches: FileWatches;

  constructor(options: LocalFileStorageOptions) {
    if (options === null || typeof options !== 'object') {
      throw new DurableError(
        ErrorCode.CONFIG,
        `${CONTEXT}: options with a "root" folder are required`,
      );
    }
    checkOptions(options, CONTEXT, { known: ['root', 'fsync'], required: ['root'] });
    this.paths = new KeyPaths(options.root, CONTEXT);
    this.fsync = options.fsync ?? true;
    this.watches = new FileWatches(this.paths.root, CONTEXT);
  }

  /** The resolved root folder. */
  get root(): string {
    return this.paths.root;
  }

  async read(key: string): Promise<StoredEntry | undefined> {
    const folder = this.paths.keyFolder(key);
    try {
      if (!this.paths.ensureInside(folder, key, false)) return undefined;
      const head = await readKey(folder);
      if (head === undefined) return undefined;
      if (head.kind === undefined) throw corruptError(CONTEXT, 'read', key, head);
      if (head.kind === ValueKind.ABSENT) return undefined;
      return { data: head.data, version: String(head.version) };
    } catch (error) {
      throw toBackendError(error, `${CONTEXT}: read failed for ${key}`, { details: { key } });
    }
  }

  async write(key: string, value: StorageValue, options?: ConditionalOptions): Promise<string> {
    assertStorageValue(value, CONTEXT, key);
    assertConditionalOptions(options, CONTEXT, key);
    const folder = this.paths.keyFolder(key);
    const ifVersion = options?.ifVersion;
    const planned: Planned = {
      chunks: encodeValueFile(ValueKind.VALUE, toBytes(value)),
      sync: this.fsync,
    };
    try {
      this.paths.ensureInside(folder, key, true);
      const result = await commitKey(folder, (head) =>
        holds(head, ifVersion, key) ? planned : undefined,
      );
      if (!result.committed) throw conflict(key, 'write', ifVersion ?? null, result.head);
      this.paths.nameHashedFolders(key, folder);
      this.watches.changed(key);
      return String(result.version);
    } catch (error) {
      throw toBackendError(error, `${CONTEXT}: write failed for ${key}`, { details: { key } });
    }
  }

  async delete(key: string, options?: ConditionalOptions): Promise<boolean> {
    assertConditionalOptions(options, CONTEXT, key);
    const folder = this.paths.keyFolder(key);
    const ifVersion = options?.ifVersion;
    const planned: Planned = { chunks: ABSENT, sync: this.fsync };
    try {
      if (!this.paths.ensureInside(folder, key, false)) {
        if (typeof ifVersion === 'string') throw conflict(key, 'delete', ifVersion, undefined);
        return false;
      }
      // Deleting what is not there changes nothing (no tombstone on a tombstone).
      const result = await commitKey(folder, (head) =>
        present(head) && holds(head, ifVersion, key) ? planned : undefined,
      );
      if (result.committed) return true;
      if (typeof ifVersion === 'string' || (ifVersion === null && present(result.head)))
        throw conflict(key, 'delete', ifVersion, result.head);
      return false;
    } catch (error) {
      throw toBackendError(error, `${CONTEXT}: delete failed for ${key}`, { details: { key } });
    }
  }

  /**
   * Calls `listener` soon after a write under `prefix` by any process on this root (through a
   * watch of `<root>/.watch`; see storage-watch.ts). Advice only: a call may be spurious or
   * missed, and deletes are not heard.
   */
  watch(prefix: string, listener: () => void): () => void {
    return this.watches.watch(prefix, listener);
  }

  async exists(key: string): Promise<boolean> {
    const folder = this.paths.keyFolder(key);
    try {
      return this.paths.ensureInside(folder, key, false) && (await this.holdsValue(folder));
    } catch (error) {
      throw toBackendError(error, `${CONTEXT}: exists failed for ${key}`, { details: { key } });
    }
  }

  async list(prefix: string, options: ListOptions = {}): Promise<ListPage> {
    assertValidPrefix(prefix, CONTEXT);
    try {
      // Walk only below the segments the prefix names in full.
      const parts = prefix.split('/');
      parts.pop();
      let dir = this.paths.root;
      for (const part of parts) dir = join(dir, encodeSegment(part));
      const keys: string[] = [];
      await this.walk(dir, parts.length === 0 ? '' : `${parts.join('/')}/`, prefix, keys);
      return pageKeys(keys, options, CONTEXT);
    } catch (error) {
      throw toBackendError(error, `${CONTEXT}: list failed for prefix ${JSON.stringify(prefix)}`);
    }
  }

  private async walk(dir: string, keyPrefix: string, prefix: string, out: string[]): Promise<void> {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch (error) {
      if (
        (error as NodeJS.ErrnoException).code === 'ENOENT' ||
        (error as NodeJS.ErrnoException).code === 'ENOTDIR'
      )
        return;
      throw error;
    }
    for (const entry of entries) {
      if (!entry.isDirectory() || entry.name.startsWith('.')) continue; // symlinks are never followed
      const isKeyDir = entry.name.endsWith(KEY_DIR_SUFFIX);
      const encoded = isKeyDir ? entry.name.slice(0, -KEY_DIR_SUFFIX.length) : entry.name;
      const segment = decodeSegment(encoded) ?? readSegmentName(join(dir, entry.name));
      if (segment === undefined) continue;
      const path = keyPrefix + segment;
      if (isKeyDir) {
        const folder = { dir: join(dir, entry.name), parent: dir };
        if (path.startsWith(prefix) && (await this.holdsValue(folder))) out.push(path);
      } else if (path.startsWith(prefix) || prefix.startsWith(`${path}/`)) {
        await this.walk(join(dir, entry.name), `${path}/`, prefix, out);
      }
    }
  }

  // Whether a key folder's newest state holds a value; a corrupt one counts as a value (a read
  // reports it) rather than hiding the key.
  private async holdsValue(folder: KeyFolder): Promise<boolean> {
    const head = await readKey(folder);
    return head !== undefined && head.kind !== ValueKind.ABSENT;
  }
}

function present(head: Head | undefined): head is Head {
  return head !== undefined && head.kind !== ValueKind.ABSENT;
}

// Whether the condition holds over `head`. A corrupt newest value can be overwritten by an
// unconditional write (the way to repair it) but never matches a condition.
function holds(head: Head | undefined, ifVersion: string | null | undefined, key: string): boolean {
  if (ifVersion === undefined) return true;
  if (head !== undefined && head.kind === undefined)
    throw corruptError(CONTEXT, 'conditional write', key, head);
  if (ifVersion === null) return !present(head);
  return present(head) && String(head.version) === ifVersion;
}

function readSegmentName(dir: string): string | undefined {
  try {
    return readFileSync(join(dir, SEGMENT_FILE), 'utf8');
  } catch {
    return undefined;
  }
}

function conflict(
  key: string,
  operation: 'write' | 'delete',
  expected: string | null,
  head: Head | undefined,
): DurableError {
  return conflictError({
    context: CONTEXT,
    operation,
    key,
    expected,
    actual: present(head) ? String(head.version) : null,
  });
}
