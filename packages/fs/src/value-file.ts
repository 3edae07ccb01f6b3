import { crc32 } from './crc32.js';

/*
 * The bytes of one committed value file (format 2):
 *   byte 0     format (2)
 *   byte 1     kind: 1 = a value, 0 = "no value" (a deletion, or a key's state before any write)
 *   bytes 2-5  CRC-32 (big-endian) of bytes 0-1 and the payload
 *   bytes 6-   the payload: the value's bytes, exactly as written
 * A file is written in full and fsynced under a temporary name before it is linked into place, so
 * a torn file never becomes visible through the protocol; the checksum catches what the protocol
 * cannot: a disk error, a truncation or an edit by another program.
 */

/** On-disk format version of value files. */
export const VALUE_FORMAT = 2;
/** Header bytes before the payload. */
export const HEADER_BYTES = 6;

/** What a value file holds. */
export const ValueKind = { ABSENT: 0, VALUE: 1 } as const;
/** One of {@link ValueKind}. */
export type ValueKind = (typeof ValueKind)[keyof typeof ValueKind];

/** The header and payload chunks of a value file. */
export function encodeValueFile(kind: ValueKind, payload: Uint8Array): Uint8Array[] {
  const header = Buffer.allocUnsafe(HEADER_BYTES);
  header[0] = VALUE_FORMAT;
  header[1] = kind;
  header.writeUInt32BE(checksum(header, payload), 2);
  return payload.length === 0 ? [header] : [header, payload];
}

/** A decoded value file, or why it could not be decoded. */
export type DecodedValue =
  | { ok: true; kind: ValueKind; data: Uint8Array }
  | { ok: false; reason: string };

/** Decodes and verifies a value file's bytes. */
export function decodeValueFile(bytes: Uint8Array): DecodedValue {
  if (bytes.length < HEADER_BYTES)
    return { ok: false, reason: `truncated to ${bytes.length} bytes` };
  if (bytes[0] !== VALUE_FORMAT) return { ok: false, reason: `unknown file format ${bytes[0]}` };
  const kind = bytes[1];
  if (kind !== ValueKind.ABSENT && kind !== ValueKind.VALUE)
    return { ok: false, reason: `unknown value kind ${kind}` };
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const data = view.subarray(HEADER_BYTES);
  const expected = view.readUInt32BE(2);
  if (checksum(view, data) !== expected) return { ok: false, reason: 'checksum mismatch' };
  return { ok: true, kind, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
}

// CRC-32 of the format and kind bytes, then the payload. An empty payload is left out: node's
// crc32 answers 0 for an empty Uint8Array whose buffer has no backing store (TextEncoder's '').
function checksum(header: Uint8Array, payload: Uint8Array): number {
  const head = crc32(header.subarray(0, 2));
  return (payload.length === 0 ? head : crc32(payload, head)) >>> 0;
}
