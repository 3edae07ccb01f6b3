import { createLockToken } from './lease.js';
import type { StorageManager } from './storage.js';
import { bytesToText } from './storage.js';
import { decodeWorkflowId, encodeWorkflowId } from './workflow-store.js';

// Due times are written as 16 decimal digits (epoch ms up to 9999999999999999), so the storage
// contract's list order (UTF-8 bytes) is the order of due times.
const TIME_DIGITS = 16;
const MAX_TIME = 10 ** TIME_DIGITS - 1;

/** One entry of a {@link StorageDueIndex}: a workflow that may be due at `at`. */
export interface DueEntry {
  key: string;
  at: number;
  id: string;
  /** A start: the workflow's first state, whose record is created by the first write after it. */
  start?: true;
}

// Starts are kept under `<prefix>0/`: '/' sorts before every digit, so they come before every
// timed entry, and a reader of the layout before starts (which wants 16 digits) ignores them.
const STARTS = '0/';

/**
 * The due-time index of the storage-backed workflow store: one key per (workflow, due time),
 * `<prefix><16-digit due time>/<base64url id>.<random>`. Storage lists keys in UTF-8 byte order,
 * so the first page of the prefix holds the workflows due first, and a claim reads only that:
 * sleeping, scheduled and finished workflows are never listed before they are due. On S3 a claim
 * is one ListObjectsV2 request, however many workflows sleep.
 *
 * Starts have one key per id, `<prefix>0/<base64url id>`, listed before every timed entry (see
 * `startKeyFor`). The index is a hint; the workflow's record decides. Every key name is used once
 * (the random part; a start key is deleted only once its id has a record, which no later start
 * can replace), so a key can be deleted without racing a writer that reuses the name. The rules
 * that keep every unfinished workflow findable are in `StorageWorkflowStore` (an entry is written
 * before the record that relies on it, and removed only after the record no longer does).
 */
export class StorageDueIndex {
  constructor(
    private readonly storage: StorageManager,
    readonly prefix: string,
  ) {}

  /** A fresh key for workflow `id` due at `at` (not written yet). */
  keyFor(id: string, at: number): string {
    const time = Math.min(MAX_TIME, Math.max(0, Math.floor(Number.isFinite(at) ? at : MAX_TIME)));
    return `${this.prefix}${String(time).padStart(TIME_DIGITS, '0')}/${encodeWorkflowId(
      id,
    )}.${createLockToken().slice(0, 12)}`;
  }

  /**
   * The one key of workflow `id`'s start, `<prefix>0/<base64url id>`: a function of the id alone,
   * so "only if absent" on it lets exactly one of concurrent starts of the id win.
   */
  startKeyFor(id: string): string {
    return `${this.prefix}${STARTS}${encodeWorkflowId(id)}`;
  }

  /** The prefix of every start key. */
  get startsPrefix(): string {
    return `${this.prefix}${STARTS}`;
  }

  /** Writes entry `key`; its value is when it was written (for orphan entries, see `writtenAt`). */
  async add(key: string, now: number): Promise<void> {
    await this.storage.write(key, String(now));
  }

  /** Deletes entry `key`; absent is fine. */
  async remove(key: string): Promise<void> {
    await this.storage.delete(key);
  }

  /** When entry `key` was written, or `undefined` when it is gone. */
  async writtenAt(key: string): Promise<number | undefined> {
    const entry = await this.storage.read(key);
    return entry === undefined ? undefined : Number(bytesToText(entry.data));
  }

  /**
   * The entries due at `now` or earlier, earliest first, a page at a time: the caller stops
   * iterating once it has what it needs, and no page past the first not-yet-due key is read.
   */
  async *due(now: number, pageSize: number): AsyncGenerator<DueEntry[]> {
    let cursor: string | undefined;
    for (;;) {
      const page = await this.storage.list(this.prefix, {
        limit: pageSize,
        ...(cursor === undefined ? {} : { cursor }),
      });
      const entries: DueEntry[] = [];
      let ended = false;
      for (const key of page.keys) {
        const entry = this.parse(key);
        if (entry === undefined) continue; // not ours: ignored
        if (entry.at > now) {
          ended = true;
          break;
        }
        entries.push(entry);
      }
      if (entries.length > 0) yield entries;
      if (ended || page.cursor === undefined) return;
      cursor = page.cursor;
    }
  }

  /** The due time an entry key names, or `undefined` for a key of another shape. */
  timeOf(key: string | undefined): number | undefined {
    return key === undefined ? undefined : this.parse(key)?.at;
  }

  private parse(key: string): DueEntry | undefined {
    if (!key.startsWith(this.prefix)) return undefined;
    const rest = key.slice(this.prefix.length);
    if (rest.startsWith(STARTS)) {
      const segment = rest.slice(STARTS.length);
      if (!/^[A-Za-z0-9_-]+$/.test(segment)) return undefined;
      return { key, at: 0, id: decodeWorkflowId(segment), start: true };
    }
    const slash = rest.indexOf('/');
    const dot = rest.lastIndexOf('.');
    if (slash !== TIME_DIGITS || dot <= slash + 1) return undefined;
    const at = Number(rest.slice(0, slash));
    if (!Number.isSafeInteger(at)) return undefined;
    return { key, at, id: decodeWorkflowId(rest.slice(slash + 1, dot)) };
  }
}
