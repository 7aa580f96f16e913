import * as zlib from 'node:zlib';

/**
 * CRC32 (IEEE 802.3, reflected polynomial 0xEDB88320), table-driven, one byte per step.
 * Same values as zlib's crc32, so `crc32(b) === zlib.crc32(b)` where Node has it.
 *
 * Incremental: `crc32(b, crc32(a)) === crc32(concat(a, b))`, so a stream of chunks can be
 * checked without buffering it.
 */

const TABLE: Uint32Array = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** The table-driven CRC32, for Node versions without `zlib.crc32` (before 20.15). */
export function crc32Portable(data: Uint8Array, seed = 0): number {
  // The stored CRC is the final XOR'd value, so undo it to resume the register.
  let crc = (seed ^ 0xffffffff) >>> 0;
  for (let i = 0; i < data.length; i++) crc = TABLE[(crc ^ data[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

const native = (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;

/**
 * CRC32 of `data`, continuing from `seed` (the CRC of the bytes before it; 0 to start). Native
 * zlib where Node has it (≈ 12× faster: snapshots are checksummed on capture and on storage).
 */
export const crc32: (data: Uint8Array, seed?: number) => number = native ? (data, seed = 0) => native(data, seed) >>> 0 : crc32Portable;
