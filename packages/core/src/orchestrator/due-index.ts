import { createHash } from 'node:crypto';
import type { PendingTimer } from '../actor/timers.js';
import { ErrorCode, isDurableError, toBackendError } from '../errors.js';
import type { StorageManager } from '../storage.js';

/**
 * The due index of orchestration timers: one key per pending timer,
 * `<keyPrefix>-timers/<deadline: 15 digits>/<hash of id and deadline>/<subject>`. The storage
 * contract lists keys in the byte order of their UTF-8, so the index lists soonest first and a
 * timer run stops at the first key not yet due: it reads what is due (and one key more), never
 * every process. The process record stays the truth: an entry whose timer the record no longer
 * holds (fired, cancelled by leaving its state, process finished or deleted) does nothing and is
 * removed by the run that finds it.
 */
const DEADLINE_DIGITS = 15;

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
  return createHash('sha256').update(`${timer.id}\u0000${timer.deadline}`).digest('hex').slice(0, 20);
}

/** @internal The entry's key for `timer` of `subject`. */
export function timerEntryKey(prefix: string, subject: string, timer: PendingTimer): string {
  const deadline = String(Math.max(0, Math.floor(timer.deadline))).padStart(DEADLINE_DIGITS, '0');
  return `${timerIndexPrefix(prefix)}${deadline}/${timerHash(timer)}/${subject}`;
}

/** @internal Parses an entry's key; `undefined` for a key the index did not write. */
export function parseTimerEntry(prefix: string, key: string): TimerEntry | undefined {
  const base = timerIndexPrefix(prefix);
  if (!key.startsWith(base)) return undefined;
  const rest = key.slice(base.length);
  const first = rest.indexOf('/');
  const second = rest.indexOf('/', first + 1);
  if (first !== DEADLINE_DIGITS || second === -1 || second === rest.length - 1) return undefined;
  const digits = rest.slice(0, first);
  if (!/^\d+$/.test(digits)) return undefined;
  return { key, deadline: Number(digits), hash: rest.slice(first + 1, second), subject: rest.slice(second + 1) };
}

/**
 * @internal Writes the entries of timers a save is about to record, before the save: a crash in
 * between leaves an entry without its timer (harmless, removed when due), never a timer that no
 * run can find. An entry already there (a re-run) is fine: its key says all.
 */
export async function indexTimers(storage: StorageManager, prefix: string, subject: string, timers: readonly PendingTimer[]): Promise<void> {
  for (const timer of timers) {
    const key = timerEntryKey(prefix, subject, timer);
    const value = JSON.stringify({ format: TIMER_ENTRY_FORMAT, subject, id: timer.id, deadline: timer.deadline });
    try {
      await storage.write(key, value, { ifVersion: null });
    } catch (error) {
      if (isDurableError(error, ErrorCode.CONFLICT)) continue;
      throw toBackendError(error, `orchestrator: writing the due-index entry ${key} failed`);
    }
  }
}

/** @internal Timers in `after` that are not in `before` (same id and deadline). */
export function newTimers(before: readonly PendingTimer[], after: readonly PendingTimer[]): PendingTimer[] {
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
export function onTimerIndexed(storage: StorageManager, listener: (deadline: number) => void): () => void {
  let set = listeners.get(storage);
  if (set === undefined) listeners.set(storage, (set = new Set()));
  set.add(listener);
  return () => set.delete(listener);
}
