import { createHash } from 'node:crypto';
import type { PendingTimer } from '../actor/timers.js';
import { ErrorCode, isDurableError, toBackendError } from '../errors.js';
import type { StorageManager } from '../storage.js';

/**
 * The due index of orchestration timers, through the storage contract only. Keys list in the
 * byte order of their UTF-8 on every backend, and numbers are zero-padded, so each listing below
 * comes soonest first:
 *   `<prefix>-timers/e/<minute>/<deadline: 15 digits>/<hash of id and deadline>/<subject>`
 *     one entry per pending timer, in the bucket of its minute (`deadline / 60 s`);
 *   `<prefix>-timers/m/<hour>/<minute>`  a marker per minute that may hold entries;
 *   `<prefix>-timers/h/<hour>`           a marker per hour that may hold minute markers.
 * A run lists the hour markers, the minute markers of hours that have begun, and the entries of
 * minutes that have begun, stopping at the first entry not yet due: its cost follows what is due
 * and the hours that hold timers, not how many timers are pending (a backend whose list reads
 * every key under a prefix, as files do, only reads those folders).
 * Writers add the entry first, then its minute marker, then its hour marker; a run removes a
 * marker whose bucket it found empty, lists the bucket again, and puts the marker back if an
 * entry appeared meanwhile: a marker can outlive its bucket, never go missing for an entry.
 * The process record stays the truth: an entry whose timer the record no longer holds (fired,
 * cancelled by leaving its state, process finished or deleted) does nothing and is removed.
 */
const DEADLINE_DIGITS = 15;
const BUCKET_DIGITS = 12;
/** @internal Width of an entry bucket and of a minute marker's hour. */
export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;

/** Format version of an index entry's value (its key says everything a run needs). */
export const TIMER_ENTRY_FORMAT = 1;

/** @internal A due-index entry, parsed from its key. */
export interface TimerEntry {
  key: string;
  subject: string;
  deadline: number;
  /** Names the timer: {@link timerHash} of its id and deadline. */
  hash: string;
}

/** @internal Where the due index of processes under `prefix` lives. */
export function timerIndexPrefix(prefix: string): string {
  return `${prefix}-timers/`;
}

/** @internal The part of an entry's key that names one timer (id and deadline). */
export function timerHash(timer: PendingTimer): string {
  return createHash('sha256')
    .update(`${timer.id}\u0000${timer.deadline}`)
    .digest('hex')
    .slice(0, 20);
}

const pad = (value: number, digits: number): string =>
  String(Math.max(0, Math.floor(value))).padStart(digits, '0');

/** @internal Keys of the index: entry buckets and the two marker levels. */
export const indexKeys = {
  entries: (prefix: string, minute: number): string =>
    `${timerIndexPrefix(prefix)}e/${pad(minute, BUCKET_DIGITS)}/`,
  minutes: (prefix: string, hour: number): string =>
    `${timerIndexPrefix(prefix)}m/${pad(hour, BUCKET_DIGITS)}/`,
  hours: (prefix: string): string => `${timerIndexPrefix(prefix)}h/`,
  minuteMarker: (prefix: string, minute: number): string =>
    `${indexKeys.minutes(prefix, Math.floor((minute * MINUTE_MS) / HOUR_MS))}${pad(
      minute,
      BUCKET_DIGITS,
    )}`,
  hourMarker: (prefix: string, hour: number): string =>
    `${indexKeys.hours(prefix)}${pad(hour, BUCKET_DIGITS)}`,
};

/** @internal The minute bucket of a deadline. */
export function minuteOf(deadline: number): number {
  return Math.floor(Math.max(0, deadline) / MINUTE_MS);
}

/** @internal The entry's key for `timer` of `subject`. */
export function timerEntryKey(prefix: string, subject: string, timer: PendingTimer): string {
  return `${indexKeys.entries(prefix, minuteOf(timer.deadline))}${pad(
    timer.deadline,
    DEADLINE_DIGITS,
  )}/${timerHash(timer)}/${subject}`;
}

/** @internal Parses an entry's key; `undefined` for a key the index did not write. */
export function parseTimerEntry(prefix: string, key: string): TimerEntry | undefined {
  const base = `${timerIndexPrefix(prefix)}e/`;
  if (!key.startsWith(base)) return undefined;
  const parts = key.slice(base.length).split('/');
  const [minute, digits, hash] = parts;
  if (
    parts.length < 4 ||
    minute?.length !== BUCKET_DIGITS ||
    digits?.length !== DEADLINE_DIGITS ||
    !/^\d+$/.test(digits) ||
    hash === undefined
  ) {
    return undefined;
  }
  return { key, deadline: Number(digits), hash, subject: parts.slice(3).join('/') };
}

/** @internal The bucket number at the end of a marker key, or `undefined`. */
export function parseBucket(key: string): number | undefined {
  const last = key.slice(key.lastIndexOf('/') + 1);
  return last.length === BUCKET_DIGITS && /^\d+$/.test(last) ? Number(last) : undefined;
}

/**
 * @internal Writes the entries of timers a save is about to record, before the save: a crash in
 * between leaves an entry without its timer (harmless, removed when due), never a timer that no
 * run can find. An entry already there (a re-run) is fine: its key says all.
 */
export async function indexTimers(
  storage: StorageManager,
  prefix: string,
  subject: string,
  timers: readonly PendingTimer[],
): Promise<void> {
  for (const timer of timers) {
    const key = timerEntryKey(prefix, subject, timer);
    const value = JSON.stringify({
      format: TIMER_ENTRY_FORMAT,
      subject,
      id: timer.id,
      deadline: timer.deadline,
    });
    const minute = minuteOf(timer.deadline);
    // Entry, then minute marker, then hour marker: see the protocol above.
    await putIfAbsent(storage, key, value);
    await putIfAbsent(storage, indexKeys.minuteMarker(prefix, minute), '1');
    await putIfAbsent(
      storage,
      indexKeys.hourMarker(prefix, Math.floor((minute * MINUTE_MS) / HOUR_MS)),
      '1',
    );
  }
}

/** @internal Writes `key` unless it exists (a re-run, another writer): its key says all. */
export async function putIfAbsent(
  storage: StorageManager,
  key: string,
  value: string,
): Promise<void> {
  try {
    await storage.write(key, value, { ifVersion: null });
  } catch (error) {
    if (isDurableError(error, ErrorCode.CONFLICT)) return;
    throw toBackendError(error, `orchestrator: writing the due-index key ${key} failed`);
  }
}

/** @internal Timers in `after` that are not in `before` (same id and deadline). */
export function newTimers(
  before: readonly PendingTimer[],
  after: readonly PendingTimer[],
): PendingTimer[] {
  const known = new Set(before.map(timerHash));
  return after.filter((timer) => !known.has(timerHash(timer)));
}

// In-process wake-ups: a timer worker sleeping in this process hears of an earlier deadline
// indexed here at once instead of at its next poll. Other processes are found by polling.
const listeners = new WeakMap<StorageManager, Set<(deadline: number) => void>>();

/** @internal Tells timer workers on `storage` in this process that a timer is due at `deadline`. */
export function notifyTimer(storage: StorageManager, deadline: number): void {
  for (const listener of listeners.get(storage) ?? []) listener(deadline);
}

/** @internal Registers a wake-up; returns its removal. */
export function onTimerIndexed(
  storage: StorageManager,
  listener: (deadline: number) => void,
): () => void {
  let set = listeners.get(storage);
  if (set === undefined) listeners.set(storage, (set = new Set()));
  set.add(listener);
  return () => set.delete(listener);
}
