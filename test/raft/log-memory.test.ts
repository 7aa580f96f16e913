import { describe, expect, it } from 'vitest';
import { RaftLog, ownData } from '../../machines/raft/log.ts';
import { EntryType, type LogEntry } from '../../machines/raft/types.ts';

const snapshot = { index: 0, term: 0, config: { voters: ['n1', 'n2', 'n3'] }, size: 0, checksum: 0 };

/** Entries as a follower decodes them: views into one large receive buffer. */
function viewsIntoReceiveBuffer(count: number, bufferBytes: number): LogEntry[] {
  const receive = new Uint8Array(bufferBytes);
  return Array.from({ length: count }, (_, i) => {
    receive.fill(i + 1, i * 10, i * 10 + 10);
    return { index: i + 1, term: 1, type: EntryType.Command, data: receive.subarray(i * 10, i * 10 + 10) };
  });
}

describe('the in-memory Raft log does not pin receive buffers', () => {
  it('a follower append copies entries that are views into a larger buffer, keeping their bytes', () => {
    const log = new RaftLog(snapshot, [], 0);
    expect(log.tryAppend(0, 0, viewsIntoReceiveBuffer(5, 64 * 1024))).toBe(5);
    for (let i = 1; i <= 5; i++) {
      const e = log.entry(i)!;
      expect(Array.from(e.data)).toEqual(new Array(10).fill(i));
      // One buffer of exactly the entries' bytes, not the 64 KiB read buffer.
      expect(e.data.buffer.byteLength).toBe(50);
    }
  });

  it('entries that already own their bytes are kept as they are', () => {
    const own = [{ index: 1, term: 1, type: EntryType.Command, data: new Uint8Array([1, 2, 3]) }];
    expect(ownData(own)).toBe(own);
  });
});
