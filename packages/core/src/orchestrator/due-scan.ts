import { toBackendError } from '../errors.js';
import type { StorageManager } from '../storage.js';
import type { TimerEntry } from './due-index.js';
import {
  HOUR_MS,
  MINUTE_MS,
  indexKeys,
  parseBucket,
  parseTimerEntry,
  putIfAbsent,
} from './due-index.js';

const PAGE = 100;

/** @internal What a scan of the due index found. */
export interface DueScan {
  entries: TimerEntry[];
  /** A lower bound of the soonest deadline not yet due (exact when an entry was seen). */
  nextDeadline?: number;
  /** True when due entries were left (`limit` reached or out of time). */
  more: boolean;
}

/**
 * @internal Lists the due entries soonest first: hour markers, then the minute markers of hours
 * that have begun, then the entries of minutes that have begun, up to the first one not yet due.
 * Markers of buckets found empty are removed on the way (see the protocol in due-index.ts).
 */
export async function scanDue(
  storage: StorageManager,
  prefix: string,
  now: number,
  limit: number,
  outOfTime: () => boolean,
): Promise<DueScan> {
  const entries: TimerEntry[] = [];
  const nowMinute = Math.floor(now / MINUTE_MS);
  const nowHour = Math.floor(now / HOUR_MS);
  for (const hour of await buckets(storage, indexKeys.hours(prefix))) {
    if (hour > nowHour) return { entries, nextDeadline: hour * HOUR_MS, more: false };
    const minutes = await buckets(storage, indexKeys.minutes(prefix, hour));
    if (minutes.length === 0) {
      await tidyMarker(
        storage,
        indexKeys.hourMarker(prefix, hour),
        indexKeys.minutes(prefix, hour),
      );
      continue;
    }
    for (const minute of minutes) {
      if (minute > nowMinute) return { entries, nextDeadline: minute * MINUTE_MS, more: false };
      const bucket = indexKeys.entries(prefix, minute);
      let seen = 0;
      let cursor: string | undefined;
      do {
        const page = await list(storage, bucket, cursor);
        for (const key of page.keys) {
          const entry = parseTimerEntry(prefix, key);
          if (entry === undefined) continue;
          seen += 1;
          if (entry.deadline > now) return { entries, nextDeadline: entry.deadline, more: false };
          if (entries.length >= limit) return { entries, more: true };
          entries.push(entry);
        }
        cursor = page.cursor;
        if (outOfTime()) return { entries, more: true };
      } while (cursor !== undefined);
      if (seen === 0) await tidyMarker(storage, indexKeys.minuteMarker(prefix, minute), bucket);
    }
  }
  return { entries, more: false };
}

async function buckets(storage: StorageManager, prefix: string): Promise<number[]> {
  const found: number[] = [];
  let cursor: string | undefined;
  do {
    const page = await list(storage, prefix, cursor);
    for (const key of page.keys) {
      const bucket = key.slice(prefix.length).includes('/') ? undefined : parseBucket(key);
      if (bucket !== undefined) found.push(bucket);
    }
    cursor = page.cursor;
  } while (cursor !== undefined);
  return found;
}

async function list(
  storage: StorageManager,
  prefix: string,
  cursor: string | undefined,
): Promise<{ keys: string[]; cursor?: string }> {
  try {
    return await storage.list(prefix, { limit: PAGE, ...(cursor === undefined ? {} : { cursor }) });
  } catch (error) {
    throw toBackendError(error, `orchestrator: listing the due-index keys under ${prefix} failed`);
  }
}

// The bucket under `marker` looked empty: remove the marker, then look again, and put it back if
// a writer added an entry meanwhile (writers add the entry before the marker, so this catches it).
async function tidyMarker(storage: StorageManager, marker: string, bucket: string): Promise<void> {
  try {
    await storage.delete(marker);
  } catch (error) {
    throw toBackendError(error, `orchestrator: removing the due-index marker ${marker} failed`);
  }
  const again = await list(storage, bucket, undefined);
  if (again.keys.length > 0) await putIfAbsent(storage, marker, '1');
}
