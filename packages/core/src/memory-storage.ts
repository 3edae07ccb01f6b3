import { conflictError } from './errors.js';
import { settle } from './settle.js';
import { assertValidKey, assertValidPrefix } from './keys.js';
import type {
  ConditionalOptions,
  ListOptions,
  ListPage,
  StorageCapabilities,
  StorageManager,
  StoredEntry,
  StorageValue,
} from './storage.js';
import { toBytes } from './storage.js';
import { listLimit } from './paging.js';
import { PrefixWatchers } from './prefix-watchers.js';
import { SortedKeys } from './sorted-keys.js';
import { assertConditionalOptions, assertStorageValue } from './values.js';

/** In-process {@link StorageManager}: for tests, examples and single-process use. */
export class MemoryStorageManager implements StorageManager {
  readonly capabilities: StorageCapabilities = { conditionalWrite: true, watch: true };
  private readonly entries = new Map<string, { data: Uint8Array; version: string }>();
  // The keys in list order: a page costs the same with ten keys or a million, as on S3.
  private readonly keys = new SortedKeys();
  // Versions never repeat, also across delete and re-create of a key (no ABA).
  private nextVersion = 1;
  private readonly watchers = new PrefixWatchers();

  read(key: string): Promise<StoredEntry | undefined> {
    return settle(() => {
      assertValidKey(key, 'memory storage');
      const entry = this.entries.get(key);
      return entry === undefined ? undefined : { data: entry.data.slice(), version: entry.version };
    });
  }

  write(key: string, value: StorageValue, options: ConditionalOptions = {}): Promise<string> {
    return settle(() => {
      assertValidKey(key, 'memory storage');
      assertStorageValue(value, 'memory storage', key);
      assertConditionalOptions(options, 'memory storage', key);
      this.check(key, options, 'write');
      const version = String(this.nextVersion++);
      // Copy: later changes to the caller's buffer must not change what was stored.
      this.entries.set(key, { data: toBytes(value).slice(), version });
      this.keys.add(key);
      this.watchers.changed(key);
      return version;
    });
  }

  delete(key: string, options: ConditionalOptions = {}): Promise<boolean> {
    return settle(() => {
      assertValidKey(key, 'memory storage');
      assertConditionalOptions(options, 'memory storage', key);
      this.check(key, options, 'delete');
      this.keys.delete(key);
      return this.entries.delete(key);
    });
  }

  exists(key: string): Promise<boolean> {
    return settle(() => {
      assertValidKey(key, 'memory storage');
      return this.entries.has(key);
    });
  }

  list(prefix: string, options: ListOptions = {}): Promise<ListPage> {
    return settle(() => {
      assertValidPrefix(prefix, 'memory storage');
      const limit = listLimit(options, 'memory storage');
      const { keys, more } = this.keys.page(prefix, limit, options.cursor);
      const last = keys[keys.length - 1];
      return more && last !== undefined ? { keys, cursor: last } : { keys };
    });
  }

  /** Calls `listener` soon after a write under `prefix` (in this process: every write is heard). */
  watch(prefix: string, listener: () => void): () => void {
    assertValidPrefix(prefix, 'memory storage');
    return this.watchers.add(prefix, listener);
  }

  private check(key: string, options: ConditionalOptions, operation: 'write' | 'delete'): void {
    if (options.ifVersion === undefined) return;
    const current = this.entries.get(key)?.version ?? null;
    if (current !== options.ifVersion) {
      throw conflictError({
        context: 'memory storage',
        operation,
        key,
        expected: options.ifVersion,
        actual: current,
      });
    }
  }
}
