import * as zlib from 'node:zlib';

// CRC-32 (the IEEE polynomial, as zlib and gzip use): node:zlib's own where the running Node has
// it (20.15 and later), else the same sum computed here, so that @durable/fs loads on every
// Node 20 (a named import of `crc32` fails to load on 20.0-20.14).
const native = (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;
let table: Uint32Array | undefined;

/**
 * The CRC-32 of `data` computed in JavaScript, continuing from `value` (the CRC-32 of the bytes
 * before, as zlib's second argument): exported for the test that compares it with zlib's.
 */
export function crc32Js(data: Uint8Array, value = 0): number {
  if (table === undefined) {
    table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
  }
  let crc = (value ^ 0xffffffff) >>> 0;
  for (let i = 0; i < data.length; i++)
    crc = (table[(crc ^ (data[i] as number)) & 0xff] as number) ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** The CRC-32 of `data` (continuing from `value`, the CRC-32 of the bytes before), unsigned. */
export function crc32(data: Uint8Array, value = 0): number {
  return native === undefined ? crc32Js(data, value) : native(data, value) >>> 0;
}
