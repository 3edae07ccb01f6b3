/** What a storage write accepts: text (stored as UTF-8) or bytes. */
export type StorageValue = string | Uint8Array;

/** A stored value with the opaque version that conditional writes compare against. */
export interface StoredEntry {
  /** The bytes exactly as written (text is UTF-8). */
  readonly data: Uint8Array;
  /** Opaque version; changes on every write. */
  readonly version: string;
}

/** Condition for {@link StorageManager.write} and {@link StorageManager.delete}. */
export interface ConditionalOptions {
  /**
   * `null`: only if the key is absent. A version string: only if the stored version is still
   * this one. Omitted: unconditional. A failed condition throws `CONFLICT` and changes nothing.
   */
  ifVersion?: string | null;
}

/** Options for {@link StorageManager.list}. */
export interface ListOptions {
  /**
   * Largest page size: an integer from 1 to 1000 (S3's own page size). A page holds at most
   * `limit` keys, and every storage serves a full page of 1000 in one call; a larger `limit` is
   * refused with `CONFIG`. @default 1000
   */
  limit?: number;
  /** The `cursor` of the previous page. */
  cursor?: string;
}

/** One page of keys, in ascending lexicographic order. */
export interface ListPage {
  readonly keys: string[];
  /** Pass to the next call to get the next page; absent on the last page. */
  readonly cursor?: string;
}

/** Abilities an implementation declares (never probed at run time). */
export interface StorageCapabilities {
  /** `ifVersion` is enforced atomically by the backend. */
  readonly conditionalWrite: boolean;
  /**
   * {@link StorageManager.watch} is implemented: writes can be heard, by other processes too
   * where the backend can notify. Absent means false.
   */
  readonly watch?: boolean;
}

/**
 * The storage contract every backend implements. Keys follow the shared key rules (invalid keys
 * throw `INVALID_KEY` before any I/O); writes are atomic: a reader sees the old or the new
 * value, never a torn one.
 */
export interface StorageManager {
  /** What this implementation guarantees. */
  readonly capabilities: StorageCapabilities;
  /** The value and its version, or `undefined` when absent. */
  read(key: string): Promise<StoredEntry | undefined>;
  /** Writes `value` and returns its new version; `CONFLICT` when `ifVersion` does not hold. */
  write(key: string, value: StorageValue, options?: ConditionalOptions): Promise<string>;
  /** Deletes the key; returns false when it was absent. `CONFLICT` when `ifVersion` does not hold. */
  delete(key: string, options?: ConditionalOptions): Promise<boolean>;
  /** True when the key holds a value. */
  exists(key: string): Promise<boolean>;
  /** One page of keys that start with `prefix` (a plain string prefix). */
  list(prefix: string, options?: ListOptions): Promise<ListPage>;
  /**
   * Calls `listener` soon after a write of a key under `prefix` (a plain string prefix)
   * commits, made by this manager or, where the backend can notify, by another process; returns
   * the function that stops watching (idempotent). Present when `capabilities.watch` is true.
   * Advice only, never a source of truth: calls are coalesced (many writes may make one call),
   * may be spurious (a write elsewhere, an echo, a reconnection) and may be missed (a
   * notification channel down, a watch registered while the write was in flight), and deletes
   * need not be heard. A caller looks at the data itself when called and keeps polling as a
   * fallback, so nothing it does depends on a call arriving. A listener's throw is ignored.
   */
  watch?(prefix: string, listener: () => void): () => void;
  /** Releases resources the manager created itself (never an injected client). */
  close?(): Promise<void>;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** UTF-8 bytes of a value (a copy is not made for bytes). */
export function toBytes(value: StorageValue): Uint8Array {
  return typeof value === 'string' ? encoder.encode(value) : value;
}

/** Decodes stored bytes as UTF-8; throws on invalid UTF-8 instead of inventing characters. */
export function bytesToText(data: Uint8Array): string {
  return decoder.decode(data);
}

/** Every key under `prefix`, following pages. */
export async function* listAll(
  storage: StorageManager,
  prefix: string,
  pageSize?: number,
): AsyncGenerator<string> {
  let cursor: string | undefined;
  do {
    const page = await storage.list(prefix, {
      ...(pageSize === undefined ? {} : { limit: pageSize }),
      ...(cursor === undefined ? {} : { cursor }),
    });
    yield* page.keys;
    cursor = page.cursor;
  } while (cursor !== undefined);
}

/** Reads a key as UTF-8 text with its version. */
export async function readText(
  storage: StorageManager,
  key: string,
): Promise<{ text: string; version: string } | undefined> {
  const entry = await storage.read(key);
  return entry === undefined
    ? undefined
    : { text: bytesToText(entry.data), version: entry.version };
}
