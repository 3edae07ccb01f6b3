import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
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
import { DurableError, ErrorCode, assertValidPrefix, pageKeys, toBackendError, toBytes } from '@durable/core';
import type { GenerationFile, Listing } from './generations.js';
import { commitGeneration, currentGeneration, readGeneration, scanGenerations, statGeneration, unlinkQuietly, writeTemp } from './generations.js';
import { KEY_DIR_SUFFIX, KeyPaths, decodeSegment, encodeSegment } from './paths.js';

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

// First byte of every value file: the on-disk format version. An empty file is a deletion.
const FORMAT_V1 = 0x01;
const HEADER = Uint8Array.of(FORMAT_V1);
const EMPTY: Uint8Array[] = [];
const CONTEXT = 'fs storage';

/**
 * {@link StorageManager} on a local folder: atomic, durable, conditional writes that are
 * correct across processes on one machine, with no lock file and nothing to clean after a crash.
 */
export class LocalFileStorageManager implements StorageManager {
  readonly capabilities: StorageCapabilities = { conditionalWrite: true };
  private readonly paths: KeyPaths;
  private readonly fsync: boolean;

  constructor(options: LocalFileStorageOptions) {
    if (options === null || typeof options !== 'object') {
      throw new DurableError(ErrorCode.CONFIG, `${CONTEXT}: options with a "root" folder are required`);
    }
    this.paths = new KeyPaths(options.root, CONTEXT);
    this.fsync = options.fsync ?? true;
  }

  /** The resolved root folder. */
  get root(): string {
    return this.paths.root;
  }

  async read(key: string): Promise<StoredEntry | undefined> {
    const dir = this.paths.keyDir(key);
    try {
      if (!this.paths.ensureInside(dir, key, false)) return undefined;
      for (;;) {
        const { top } = scanGenerations(dir);
        if (top < 0) return undefined;
        const bytes = await readGeneration(dir, top);
        if (bytes === undefined) continue; // superseded and deleted meanwhile: read the newer one
        if (bytes.length === 0) return undefined;
        if (bytes[0] !== FORMAT_V1) {
          throw new DurableError(ErrorCode.BACKEND, `${CONTEXT}: read failed for ${key}: unknown file format ${bytes[0]}`, {
            details: { key, path: join(dir, String(top)) },
          });
        }
        return { data: new Uint8Array(bytes.buffer, bytes.byteOffset + 1, bytes.length - 1), version: String(top) };
      }
    } catch (error) {
      throw toBackendError(error, `${CONTEXT}: read failed for ${key}`, { details: { key } });
    }
  }

  async write(key: string, value: StorageValue, options: ConditionalOptions = {}): Promise<string> {
    const dir = this.paths.keyDir(key);
    const data = toBytes(value);
    const ifVersion = checkedVersion(options.ifVersion, key);
    try {
      this.ensureKeyDir(dir, key);
      const temp = await writeTemp(dir, [HEADER, data], this.fsync);
      try {
        return String(this.commit(dir, key, temp, ifVersion, 'write').gen + 1);
      } finally {
        unlinkQuietly(temp);
      }
    } catch (error) {
      throw toBackendError(error, `${CONTEXT}: write failed for ${key}`, { details: { key } });
    }
  }

  async delete(key: string, options: ConditionalOptions = {}): Promise<boolean> {
    const dir = this.paths.keyDir(key);
    const ifVersion = checkedVersion(options.ifVersion, key);
    try {
      if (!this.paths.ensureInside(dir, key, false)) {
        if (typeof ifVersion === 'string') throw conflict(key, 'delete', ifVersion, null);
        return false;
      }
      const current = currentGeneration(dir);
      if (current.file.size === 0) {
        if (typeof ifVersion === 'string') throw conflict(key, 'delete', ifVersion, null);
        return false;
      }
      const temp = await writeTemp(dir, EMPTY, this.fsync);
      try {
        const base = this.commit(dir, key, temp, ifVersion, 'delete', current);
        return base.size > 0;
      } finally {
        unlinkQuietly(temp);
      }
    } catch (error) {
      throw toBackendError(error, `${CONTEXT}: delete failed for ${key}`, { details: { key } });
    }
  }

  async exists(key: string): Promise<boolean> {
    const dir = this.paths.keyDir(key);
    try {
      return this.paths.ensureInside(dir, key, false) && this.holdsValue(dir);
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
      this.walk(dir, parts.length === 0 ? '' : `${parts.join('/')}/`, prefix, keys);
      return pageKeys(keys, options, CONTEXT);
    } catch (error) {
      throw toBackendError(error, `${CONTEXT}: list failed for prefix ${JSON.stringify(prefix)}`);
    }
  }

  private walk(dir: string, keyPrefix: string, prefix: string, out: string[]): void {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ENOTDIR') return;
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
        if (path.startsWith(prefix) && this.holdsValue(join(dir, entry.name))) out.push(path);
      } else if (path.startsWith(prefix) || prefix.startsWith(`${path}/`)) {
        this.walk(join(dir, entry.name), `${path}/`, prefix, out);
      }
    }
  }

  // Whether a key folder's current generation holds a value (reads only: creates nothing).
  private holdsValue(dir: string): boolean {
    for (;;) {
      const { top } = scanGenerations(dir);
      if (top < 0) return false;
      const file = statGeneration(dir, top);
      if (file !== undefined) return file.size > 0; // else superseded meanwhile: look again
    }
  }

  private ensureKeyDir(dir: string, key: string): void {
    this.paths.ensureInside(dir, key, true);
    // Hashed (very long) segments keep their text beside them, so list() can name the key.
    // Encoded names never contain "#", so a folder path without one has no hashed segment.
    if (!dir.includes('#', this.paths.root.length)) return;
    const segments = key.split('/');
    let current = this.paths.root;
    segments.forEach((segment, i) => {
      const name = encodeSegment(segment) + (i === segments.length - 1 ? KEY_DIR_SUFFIX : '');
      current = join(current, name);
      if (name.startsWith('#')) writeFileSync(join(current, '.segment'), segment);
    });
  }

  /** Commits `temp` over the current generation when the condition holds; returns the base. */
  private commit(
    dir: string,
    key: string,
    temp: string,
    ifVersion: string | null | undefined,
    op: string,
    first?: { file: GenerationFile; listing: Listing },
  ): GenerationFile {
    // `first`, read by the caller just before, saves a listing; if it is stale the link fails.
    for (let seen = first; ; seen = undefined) {
      const { file, listing } = seen ?? currentGeneration(dir);
      const present = file.size > 0;
      if (ifVersion === null && present) throw conflict(key, op, null, String(file.gen));
      if (typeof ifVersion === 'string' && (!present || String(file.gen) !== ifVersion)) {
        throw conflict(key, op, ifVersion, present ? String(file.gen) : null);
      }
      if (commitGeneration(dir, file, temp, listing)) return file;
      // Lost the race. A conditional write re-checks its condition (and fails), an
      // unconditional one goes again on the newer generation.
    }
  }
}

function readSegmentName(dir: string): string | undefined {
  try {
    return readFileSync(join(dir, '.segment'), 'utf8');
  } catch {
    return undefined;
  }
}

function checkedVersion(ifVersion: unknown, key: string): string | null | undefined {
  if (ifVersion === undefined || ifVersion === null || typeof ifVersion === 'string') return ifVersion;
  throw new DurableError(ErrorCode.CONFIG, `${CONTEXT}: ifVersion for ${key} must be a version string or null`);
}

function conflict(key: string, op: string, expected: string | null, actual: string | null): DurableError {
  return new DurableError(
    ErrorCode.CONFLICT,
    `${CONTEXT}: ${op} conflict for ${key}: expected ${expected === null ? 'no value' : `version ${expected}`}, found ${actual === null ? 'no value' : `version ${actual}`}`,
    { details: { key, expected, actual } },
  );
}

/** Creates a {@link LocalFileStorageManager}. */
export function createFileStorage(options: LocalFileStorageOptions): LocalFileStorageManager {
  return new LocalFileStorageManager(options);
}
