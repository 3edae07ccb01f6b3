import { compareKeys } from './paging.js';

const CHUNK = 512;

/**
 * A set of keys kept in the storage contract's list order (UTF-8 byte order, {@link compareKeys})
 * as sorted chunks of at most 512 keys: adding or removing a key costs O(log n + 512), and a page
 * of a prefix costs O(log n + page), however many keys there are. The memory storage lists
 * through it, as S3 does through its index, so a store built on storage keys (the due index of
 * the storage-backed workflow store) is measured the way it runs on S3.
 */
export class SortedKeys {
  private chunks: string[][] = [];

  /** Adds `key` (no-op when present). */
  add(key: string): void {
    if (this.chunks.length === 0) {
      this.chunks.push([key]);
      return;
    }
    const c = this.chunkFor(key);
    const chunk = this.chunks[c] as string[];
    const i = lowerBound(chunk, key);
    if (chunk[i] === key) return;
    chunk.splice(i, 0, key);
    if (chunk.length > CHUNK)
      this.chunks.splice(c, 1, chunk.slice(0, chunk.length >> 1), chunk.slice(chunk.length >> 1));
  }

  /** Removes `key` (no-op when absent). */
  delete(key: string): void {
    if (this.chunks.length === 0) return;
    const c = this.chunkFor(key);
    const chunk = this.chunks[c] as string[];
    const i = lowerBound(chunk, key);
    if (chunk[i] !== key) return;
    chunk.splice(i, 1);
    if (chunk.length === 0) this.chunks.splice(c, 1);
  }

  /**
   * Up to `limit` keys starting with `prefix`, in order, after `after` (exclusive) when given;
   * `more` says whether another such key follows the page.
   */
  page(prefix: string, limit: number, after?: string): { keys: string[]; more: boolean } {
    const from = after !== undefined && compareKeys(after, prefix) >= 0 ? after : prefix;
    const keys: string[] = [];
    let c = this.chunks.length === 0 ? 0 : this.chunkFor(from);
    let i = c < this.chunks.length ? lowerBound(this.chunks[c] as string[], from) : 0;
    for (; c < this.chunks.length; c++, i = 0) {
      const chunk = this.chunks[c] as string[];
      for (; i < chunk.length; i++) {
        const key = chunk[i] as string;
        if (after !== undefined && key === after) continue;
        if (!key.startsWith(prefix)) {
          if (compareKeys(key, prefix) > 0) return { keys, more: false };
          continue;
        }
        if (keys.length === limit) return { keys, more: true };
        keys.push(key);
      }
    }
    return { keys, more: false };
  }

  // The chunk whose range holds `key`: the last chunk whose first key is <= key (or the first).
  private chunkFor(key: string): number {
    let lo = 0;
    let hi = this.chunks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (compareKeys((this.chunks[mid] as string[])[0] as string, key) <= 0) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
}

function lowerBound(chunk: readonly string[], key: string): number {
  let lo = 0;
  let hi = chunk.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (compareKeys(chunk[mid] as string, key) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
