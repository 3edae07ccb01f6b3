import { crc32 } from './crc32.js';

/*
 * The step log of a run folder (`W/r<n>/log`): every claim appends its records to the one file,
 * opened with O_APPEND, so the file gives all records one order. A record is a frame
 *   bytes 0-3    magic D7 1E 4C, then the format (1)
 *   bytes 4-7    payload length (little-endian)
 *   bytes 8-11   CRC-32 of the payload
 *   bytes 12-    payload: JSON, a step {t:'s', run, i, v, memo} or a barrier {t:'b', run, seen}
 * A frame that fails its checksum (a write torn by a crash, a disk error) is skipped, never
 * returned as data; the reader resynchronises at the next magic, so a torn record cannot hide
 * records appended after it. The magic holds the byte 0x1E, which JSON text never contains (it
 * escapes control characters; UTF-8 multibyte sequences use bytes >= 0x80), so a payload cannot
 * fake a frame start.
 *
 * Which records count (see docs/architecture.md, "the step log"): a claim `v` that read `seen`
 * bytes of the log after moving the run folder to `r<v>` appends a barrier {run: v, seen} before
 * its first step (at once when it read a non-empty log). A record of run r at offset o counts only
 * if o < seen of every counted barrier of a run above r: a stalled holder's append that landed
 * after a newer claim read the log (its open resolved the folder before the rename) never counts.
 * A barrier is itself a record of its run, judged the same way, runs from the highest down. Then
 * the counted steps fill positions in log order: position i version 0 when i is the next position,
 * version j + 1 over version j (a pending memo replaced); the first record of a (position,
 * version) wins, so a version names one memo forever.
 */

/** The step log's name inside a run folder. */
export const LOG_NAME = 'log';

const MAGIC = Buffer.from([0xd7, 0x1e, 0x4c, 0x01]);
const HEADER_BYTES = 12;
const MAX_PAYLOAD = 256 * 1024 * 1024;

/** One decoded record, with its byte offset in the log. */
export type LogRecord =
  | {
      readonly type: 'barrier';
      readonly run: number;
      readonly seen: number;
      readonly offset: number;
    }
  | {
      readonly type: 'step';
      readonly run: number;
      readonly index: number;
      readonly version: number;
      readonly memo: unknown;
      readonly offset: number;
    };

/** The history a log holds: per position the counted memo, its version and the run that wrote it. */
export interface LogHistory {
  memos: unknown[];
  versions: number[];
  runs: number[];
  /** The runs that have a barrier in the log. */
  barriers: Set<number>;
}

function frame(payload: object): Buffer {
  const body = Buffer.from(JSON.stringify(payload));
  const header = Buffer.allocUnsafe(HEADER_BYTES);
  MAGIC.copy(header, 0);
  header.writeUInt32LE(body.length, 4);
  header.writeUInt32LE(crc32(body) >>> 0, 8);
  return Buffer.concat([header, body]);
}

/** A barrier record: claim `run` read `seen` bytes of the log. */
export function encodeBarrier(run: number, seen: number): Buffer {
  return frame({ t: 'b', run, seen });
}

/** A step record: memo `memo` at position `index`, version `version`, by claim `run`. */
export function encodeStepRecord(
  run: number,
  index: number,
  version: number,
  memo: unknown,
): Buffer {
  return frame({ t: 's', run, i: index, v: version, memo });
}

const isCount = (value: unknown): value is number =>
  typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;

function decode(payload: Buffer, offset: number): LogRecord | undefined {
  let parsed: Record<string, unknown> | null;
  try {
    parsed = JSON.parse(payload.toString('utf8')) as Record<string, unknown> | null;
  } catch {
    return undefined;
  }
  if (parsed === null || typeof parsed !== 'object' || !isCount(parsed.run)) return undefined;
  if (parsed.t === 'b' && isCount(parsed.seen) && parsed.seen <= offset)
    return { type: 'barrier', run: parsed.run, seen: parsed.seen, offset };
  if (
    parsed.t === 's' &&
    isCount(parsed.i) &&
    isCount(parsed.v) &&
    typeof parsed.memo === 'object' &&
    parsed.memo !== null
  )
    return {
      type: 'step',
      run: parsed.run,
      index: parsed.i,
      version: parsed.v,
      memo: parsed.memo,
      offset,
    };
  return undefined;
}

/**
 * The records of log bytes that start at byte `base` of the log, in order, and how many damaged
 * stretches were skipped (torn or corrupt frames: never data).
 */
export function scanLog(bytes: Uint8Array, base = 0): { records: LogRecord[]; skipped: number } {
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const records: LogRecord[] = [];
  let skipped = 0;
  let at = 0;
  while (at < view.length) {
    let record: LogRecord | undefined;
    let length = 0;
    if (at + HEADER_BYTES <= view.length && view.compare(MAGIC, 0, 4, at, at + 4) === 0) {
      length = view.readUInt32LE(at + 4);
      const end = at + HEADER_BYTES + length;
      if (length <= MAX_PAYLOAD && end <= view.length) {
        const payload = view.subarray(at + HEADER_BYTES, end);
        if (crc32(payload) >>> 0 === view.readUInt32LE(at + 8)) record = decode(payload, base + at);
      }
    }
    if (record !== undefined) {
      records.push(record);
      at += HEADER_BYTES + length;
      continue;
    }
    skipped++;
    const next = view.indexOf(MAGIC, at + 1);
    at = next < 0 ? view.length : next;
  }
  return { records, skipped };
}

/**
 * The history the records hold (see the header). `holder`: the claim reading it for its own use;
 * a holder without a barrier in the log read it empty (a claim that read a non-empty log wrote its
 * barrier before it returned), so it counts as if its barrier said `seen: 0`.
 */
export function historyOf(records: readonly LogRecord[], holder?: number): LogHistory {
  const first = new Map<number, { seen: number; offset: number }>();
  for (const record of records)
    if (record.type === 'barrier' && !first.has(record.run))
      first.set(record.run, { seen: record.seen, offset: record.offset });
  const barriers = new Set(first.keys());
  if (holder !== undefined && !first.has(holder)) first.set(holder, { seen: 0, offset: -1 });
  // Counted barriers, highest run first: one counts when it precedes what every counted higher
  // barrier's claim read.
  const counted: { run: number; seen: number }[] = [];
  let cutoff = Number.POSITIVE_INFINITY;
  for (const run of [...first.keys()].sort((a, b) => b - a)) {
    const barrier = first.get(run) as { seen: number; offset: number };
    if (barrier.offset >= cutoff) continue;
    counted.push({ run, seen: barrier.seen });
    cutoff = Math.min(cutoff, barrier.seen);
  }
  const cutoffOf = (run: number): number => {
    let limit = Number.POSITIVE_INFINITY;
    for (const barrier of counted) if (barrier.run > run) limit = Math.min(limit, barrier.seen);
    return limit;
  };
  const memos: unknown[] = [];
  const versions: number[] = [];
  const runs: number[] = [];
  for (const record of records) {
    if (record.type !== 'step' || record.offset >= cutoffOf(record.run)) continue;
    const { index, version } = record;
    if (version === 0 ? index !== memos.length : versions[index] !== version - 1) continue;
    memos[index] = record.memo;
    versions[index] = version;
    runs[index] = record.run;
  }
  return { memos, versions, runs, barriers };
}
