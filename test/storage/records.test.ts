import { crc32 as zlibCrc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { EntryType } from '../../machines/raft/types.ts';
import { crc32, crc32Portable } from '../../storage/crc32.ts';
import {
  decodeEntry,
  decodeHardState,
  decodeSnapshotRecord,
  encodeEntry,
  encodeHardState,
  encodeSnapshotRecord,
} from '../../storage/records.ts';
import { CorruptionError } from '../../storage/types.ts';
import { bytes, entry } from './contract.ts';

describe.each([
  ['crc32', crc32],
  ['crc32Portable', crc32Portable],
])('%s', (_name, crc) => {
  it('matches the IEEE check value and zlib', () => {
    expect(crc(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
    expect(crc(new Uint8Array(0))).toBe(0);
    const data = bytes(10_000);
    if (typeof zlibCrc32 === 'function') expect(crc(data)).toBe(zlibCrc32(data));
    expect(crc(data)).toBe(crc32Portable(data));
  });

  it('is incremental over chunks', () => {
    const data = bytes(4097);
    const whole = crc(data);
    for (const cut of [0, 1, 100, 4096, 4097]) {
      expect(crc(data.subarray(cut), crc(data.subarray(0, cut)))).toBe(whole);
    }
  });
});

describe('records', () => {
  it('round-trips entries, hard state and snapshot metadata', () => {
    const e = { index: 2 ** 50, term: 3, type: EntryType.Config, data: bytes(33) };
    expect(decodeEntry(encodeEntry(e), 2 ** 50)).toEqual(e);
    for (const hs of [
      { term: 0, vote: null, commit: 0 },
      { term: 7, vote: '', commit: 1 },
      { term: 7, vote: 'nœud-1', commit: 2 ** 52 },
    ]) {
      expect(decodeHardState(encodeHardState(hs))).toEqual(hs);
    }
    const meta = { index: 9, term: 2, config: { voters: ['a', 'b'] }, size: 10, checksum: 0xffffffff };
    expect(decodeSnapshotRecord(encodeSnapshotRecord({ meta, generation: 4 }))).toEqual({ meta, generation: 4 });
  });

  it('detects every single-byte flip in an entry record', () => {
    const record = encodeEntry(entry(5, 2, bytes(40)));
    for (let at = 0; at < record.length; at++) {
      const damaged = record.slice();
      damaged[at] ^= 0x10;
      expect(() => decodeEntry(damaged, 5), `flip at byte ${at}`).toThrow(CorruptionError);
    }
  });

  it('will not read one kind of record as another', () => {
    expect(() => decodeHardState(encodeEntry(entry(1)))).toThrow(/bad magic/);
    expect(() => decodeEntry(encodeHardState({ term: 1, vote: 'node-a', commit: 0 }), 1)).toThrow(/bad magic/);
  });

  it('rejects values it cannot store faithfully', () => {
    expect(() => encodeEntry(entry(2 ** 53))).toThrow(RangeError);
    expect(() => encodeHardState({ term: 1, vote: 'x'.repeat(70_000), commit: 0 })).toThrow(RangeError);
    expect(() =>
      encodeSnapshotRecord({ meta: { index: 1, term: 1, config: { voters: [1 as never] }, size: 0, checksum: 0 }, generation: 0 }),
    ).toThrow(RangeError);
  });
});
