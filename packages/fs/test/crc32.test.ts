import { randomBytes } from 'node:crypto';
import * as zlib from 'node:zlib';
import { crc32, crc32Js } from '../src/crc32.js';

// The checksum of values and step records: node:zlib's where Node has it (20.15+), else the same
// sum in JavaScript, which must agree with it to the bit (files written by either are read by both).
describe('crc32', () => {
  it('the JavaScript sum equals zlib.crc32 on the check value and on random buffers', () => {
    expect(crc32Js(Buffer.from('123456789'))).toBe(0xcbf43926);
    expect(crc32Js(new Uint8Array(0))).toBe(0);
    const native = (zlib as { crc32?: (data: Uint8Array) => number }).crc32;
    for (let i = 0; i < 200; i++) {
      const data = randomBytes(i * 37);
      expect(crc32Js(data)).toBe(crc32(data));
      if (native !== undefined) expect(crc32Js(data)).toBe(native(data) >>> 0);
      // Continued from the sum of the bytes before: the same as the sum of both at once.
      const head = randomBytes(i % 7);
      expect(crc32Js(data, crc32Js(head))).toBe(crc32Js(Buffer.concat([head, data])));
      expect(crc32(data, crc32(head))).toBe(crc32Js(Buffer.concat([head, data])));
    }
  });
});
