import { encodeBarrier, encodeStepRecord, historyOf, scanLog } from '../src/step-log.js';

/*
 * The step log's frames and the rule for which records count (src/step-log.ts), on logs built by
 * hand in the orders that stalled processes can produce.
 */

const memo = (id: string): { id: string } => ({ id });

// Concatenates records, returning the log and the byte offset after each part.
function log(...parts: Buffer[]): { bytes: Buffer; ends: number[] } {
  const ends: number[] = [];
  let at = 0;
  for (const part of parts) ends.push((at += part.length));
  return { bytes: Buffer.concat(parts), ends };
}

const ids = (bytes: Uint8Array, holder?: number): string[] =>
  (historyOf(scanLog(bytes).records, holder).memos as { id: string }[]).map((m) => m.id);

test('a torn record (a crash mid-append) is skipped and the records appended after it are read', () => {
  const first = Buffer.concat([encodeBarrier(1, 0), encodeStepRecord(1, 0, 0, memo('a'))]);
  const torn = encodeStepRecord(1, 1, 0, memo('torn')).subarray(0, 20);
  const next = Buffer.concat([
    encodeBarrier(5, first.length),
    encodeStepRecord(5, 1, 0, memo('b')),
  ]);
  const bytes = Buffer.concat([first, torn, next]);
  const scanned = scanLog(bytes);
  expect(scanned.skipped).toBe(1);
  expect(ids(bytes)).toEqual(['a', 'b']);
});

test('a record whose bytes were changed fails its checksum and is never returned as data', () => {
  const bytes = Buffer.concat([encodeBarrier(1, 0), encodeStepRecord(1, 0, 0, memo('abc'))]);
  bytes[bytes.length - 4] = (bytes[bytes.length - 4] as number) ^ 0x01; // inside the JSON
  expect(scanLog(bytes).skipped).toBe(1);
  expect(ids(bytes)).toEqual([]);
});

test('a record of an older run that lands after a newer claim read the log does not count', () => {
  const { bytes, ends } = log(
    encodeBarrier(1, 0),
    encodeStepRecord(1, 0, 0, memo('s0')),
    // claim 4 read up to here
    encodeStepRecord(1, 1, 0, memo('late')),
  );
  const full = Buffer.concat([
    bytes,
    encodeBarrier(4, ends[1]!),
    encodeStepRecord(4, 1, 0, memo('fresh')),
  ]);
  expect(ids(full)).toEqual(['s0', 'fresh']);
  // Before claim 4's barrier is there, the late record still counts for anyone reading.
  expect(ids(bytes)).toEqual(['s0', 'late']);
});

test("a stalled claim's barrier that lands after a newer claim read the log changes nothing that claim read", () => {
  // Claim 4 read the log up to s0 and stalled before its barrier; a stale step of run 1 landed;
  // claim 9 read everything (the stale step counts for it) and wrote its barrier; then claim 4's
  // barrier lands. It must not take back the stale step claim 9 read.
  const { bytes, ends } = log(
    encodeBarrier(1, 0),
    encodeStepRecord(1, 0, 0, memo('s0')),
    encodeStepRecord(1, 1, 0, memo('stale')),
  );
  const seenBy4 = ends[1]!;
  const seenBy9 = ends[2]!;
  const full = Buffer.concat([
    bytes,
    encodeBarrier(9, seenBy9),
    encodeBarrier(4, seenBy4),
    encodeStepRecord(4, 2, 0, memo('by-4')),
    encodeStepRecord(9, 2, 0, memo('by-9')),
  ]);
  expect(ids(full)).toEqual(['s0', 'stale', 'by-9']);
});

test('a position and version names one memo: the first record counts, and a pending memo is replaced by the next version only', () => {
  const bytes = Buffer.concat([
    encodeBarrier(1, 0),
    encodeStepRecord(1, 0, 0, memo('first')),
    encodeStepRecord(1, 0, 0, memo('second')),
    encodeStepRecord(1, 1, 3, memo('gap')),
    encodeStepRecord(1, 0, 1, memo('replaced')),
    encodeStepRecord(1, 2, 0, memo('past a gap')),
  ]);
  const history = historyOf(scanLog(bytes).records);
  expect(history.memos).toEqual([memo('replaced')]);
  expect(history.versions).toEqual([1]);
});

test('a holder without a barrier read the log empty: records of older runs do not count for it', () => {
  const bytes = Buffer.concat([encodeBarrier(1, 0), encodeStepRecord(1, 0, 0, memo('late'))]);
  expect(ids(bytes, 3)).toEqual([]);
  expect(ids(bytes)).toEqual(['late']);
});
