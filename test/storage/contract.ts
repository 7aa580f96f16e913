/**
 * The RaftStorage contract, run against every implementation (memory.test.ts, lmdb.test.ts).
 * Not a test file itself: each implementation calls `storageContract` with its own harness.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EntryType, type LogEntry, type SnapshotMeta } from '../../machines/raft/types.ts';
import { crc32 } from '../../storage/crc32.ts';
import { CorruptionError, type RaftStorage } from '../../storage/types.ts';

export interface StorageHarness {
  /** A fresh, empty storage. */
  create(): Promise<RaftStorage>;
  /** Closes `storage` and returns one over the same data (same object for memory). */
  reopen(storage: RaftStorage): Promise<RaftStorage>;
  /** Releases everything created since the last cleanup. */
  cleanup(): Promise<void>;
}

export function entry(index: number, term = 1, data: string | Uint8Array = `cmd-${index}`): LogEntry {
  return {
    index,
    term,
    type: EntryType.Command,
    data: typeof data === 'string' ? new TextEncoder().encode(data) : data,
  };
}

export function entries(from: number, to: number, term = 1): LogEntry[] {
  const out: LogEntry[] = [];
  for (let i = from; i <= to; i++) out.push(entry(i, term));
  return out;
}

export function snapshotOf(index: number, data: Uint8Array, term = 1): SnapshotMeta {
  return { index, term, config: { voters: ['a', 'b', 'c'] }, size: data.length, checksum: crc32(data) };
}

/** Deterministic pseudo-random bytes, so failures reproduce. */
export function bytes(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

export function split(data: Uint8Array, chunkSize: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let at = 0; at < data.length; at += chunkSize) out.push(data.slice(at, at + chunkSize));
  return out;
}

async function* asyncChunks(chunks: Uint8Array[]): AsyncIterable<Uint8Array> {
  for (const chunk of chunks) {
    await Promise.resolve();
    yield chunk;
  }
}

export async function readAll(storage: RaftStorage): Promise<{ meta: SnapshotMeta; data: Uint8Array } | null> {
  const snap = await storage.readSnapshot();
  if (snap === null) return null;
  const parts: Uint8Array[] = [];
  for await (const chunk of snap.chunks) parts.push(chunk);
  return { meta: snap.meta, data: concat(parts) };
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function indexes(list: LogEntry[]): number[] {
  return list.map((e) => e.index);
}

export function storageContract(name: string, harness: StorageHarness): void {
  describe(`${name}: RaftStorage contract`, () => {
    let storage: RaftStorage;

    beforeEach(async () => {
      storage = await harness.create();
    });
    afterEach(async () => {
      await storage.close();
      await harness.cleanup();
    });

    it('starts empty with the default hard state', async () => {
      expect(await storage.load()).toEqual({ hardState: { term: 0, vote: null, commit: 0 }, snapshot: null, entries: [] });
      expect(await storage.readSnapshot()).toBeNull();
    });

    it('round-trips entries of every type and the hard state', async () => {
      const written: LogEntry[] = [
        { index: 1, term: 1, type: EntryType.Noop, data: new Uint8Array(0) },
        { index: 2, term: 1, type: EntryType.Config, data: new TextEncoder().encode('{"voters":["a"]}') },
        { index: 3, term: 2, type: EntryType.Command, data: bytes(1000) },
        { index: 4, term: 2 ** 40, type: EntryType.Command, data: new Uint8Array([0, 255, 1]) },
      ];
      await storage.write({ entries: written, hardState: { term: 2 ** 40, vote: 'node-ü', commit: 3 } });
      const loaded = await storage.load();
      expect(loaded.entries).toEqual(written);
      expect(loaded.entries.every((e) => Object.getPrototypeOf(e.data) === Uint8Array.prototype)).toBe(true);
      expect(loaded.hardState).toEqual({ term: 2 ** 40, vote: 'node-ü', commit: 3 });
      expect(loaded.snapshot).toBeNull();
    });

    it('never aliases caller buffers on write or read', async () => {
      const e = entry(1, 1, new Uint8Array([1, 2, 3]));
      const batch = [e];
      const pending = storage.write({ entries: batch });
      e.data[0] = 99; // mutate before and after the write settles
      batch.push(entry(7));
      await pending;
      const first = await storage.load();
      expect(first.entries).toEqual([entry(1, 1, new Uint8Array([1, 2, 3]))]);
      first.entries[0].data[1] = 42;
      expect((await storage.load()).entries[0].data).toEqual(new Uint8Array([1, 2, 3]));
    });

    it('overwrites the hard state, including a null vote', async () => {
      await storage.write({ hardState: { term: 1, vote: 'a', commit: 0 } });
      await storage.write({ hardState: { term: 2, vote: null, commit: 5 } });
      expect((await storage.load()).hardState).toEqual({ term: 2, vote: null, commit: 5 });
    });

    it('keeps entries untouched by a hard-state-only write', async () => {
      await storage.write({ entries: entries(1, 3) });
      await storage.write({ hardState: { term: 3, vote: 'b', commit: 2 } });
      expect(indexes((await storage.load()).entries)).toEqual([1, 2, 3]);
    });

    it('truncates every entry >= truncateFrom', async () => {
      await storage.write({ entries: entries(1, 5) });
      await storage.write({ truncateFrom: 3 });
      expect(indexes((await storage.load()).entries)).toEqual([1, 2]);
      await storage.write({ truncateFrom: 10 }); // past the end: nothing to do
      expect(indexes((await storage.load()).entries)).toEqual([1, 2]);
      await storage.write({ truncateFrom: 1 });
      expect((await storage.load()).entries).toEqual([]);
    });

    it('truncates before it puts, in one batch with the hard state', async () => {
      await storage.write({ entries: entries(1, 5, 1), hardState: { term: 1, vote: 'a', commit: 2 } });
      await storage.write({ truncateFrom: 3, entries: entries(3, 4, 2), hardState: { term: 2, vote: 'b', commit: 2 } });
      const loaded = await storage.load();
      expect(loaded.entries).toEqual([...entries(1, 2, 1), ...entries(3, 4, 2)]);
      expect(loaded.hardState).toEqual({ term: 2, vote: 'b', commit: 2 });
    });

    it('overwrites in place without truncateFrom and keeps later entries', async () => {
      await storage.write({ entries: entries(1, 5, 1) });
      await storage.write({ entries: [entry(2, 1, 'again')] });
      const loaded = await storage.load();
      expect(indexes(loaded.entries)).toEqual([1, 2, 3, 4, 5]);
      expect(loaded.entries[1]).toEqual(entry(2, 1, 'again'));
    });

    it('applies writes issued in the same turn in call order', async () => {
      const writes: Promise<void>[] = [];
      for (let i = 1; i <= 64; i++) writes.push(storage.write({ entries: [entry(i)], hardState: { term: 1, vote: null, commit: i } }));
      writes.push(storage.write({ truncateFrom: 60, entries: [entry(60, 2)] }));
      await Promise.all(writes);
      const loaded = await storage.load();
      expect(indexes(loaded.entries)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
      expect(loaded.entries[59]).toEqual(entry(60, 2));
      expect(loaded.hardState.commit).toBe(64);
    });

    it('rejects a batch that would leave a gap, changing nothing', async () => {
      await storage.write({ entries: entries(1, 3), hardState: { term: 1, vote: null, commit: 1 } });
      await expect(storage.write({ entries: [entry(5)], hardState: { term: 9, vote: 'x', commit: 9 } })).rejects.toThrow(RangeError);
      await expect(storage.write({ entries: [entry(4), entry(6)] })).rejects.toThrow(/consecutive/);
      await expect(storage.write({ truncateFrom: 2, entries: [entry(3)] })).rejects.toThrow(RangeError);
      await expect(storage.write({ entries: [entry(0)] })).rejects.toThrow(RangeError);
      const loaded = await storage.load();
      expect(indexes(loaded.entries)).toEqual([1, 2, 3]);
      expect(loaded.hardState).toEqual({ term: 1, vote: null, commit: 1 });
      await storage.write({ entries: [entry(4)] }); // and it is still usable
    });

    it('rejects malformed entries and hard state', async () => {
      await expect(storage.write({ entries: [{ ...entry(1), type: 7 as never }] })).rejects.toThrow(RangeError);
      await expect(storage.write({ entries: [entry(1, -1)] })).rejects.toThrow(RangeError);
      await expect(storage.write({ hardState: { term: 1.5, vote: null, commit: 0 } })).rejects.toThrow(RangeError);
      expect(await storage.load()).toEqual({ hardState: { term: 0, vote: null, commit: 0 }, snapshot: null, entries: [] });
    });

    it('saves and reads a snapshot, compacting entries <= its index', async () => {
      await storage.write({ entries: entries(1, 10) });
      const data = bytes(10_000);
      const meta = snapshotOf(6, data);
      await storage.saveSnapshot(meta, split(data, 1000));
      const loaded = await storage.load();
      expect(loaded.snapshot).toEqual(meta);
      expect(indexes(loaded.entries)).toEqual([7, 8, 9, 10]);
      const snap = await readAll(storage);
      expect(snap?.meta).toEqual(meta);
      expect(snap?.data).toEqual(data);
      // The log continues after the compacted prefix; nothing at or below the snapshot may be written.
      await storage.write({ entries: [entry(11)] });
      await expect(storage.write({ truncateFrom: 6, entries: [entry(6)] })).rejects.toThrow(RangeError);
      await storage.write({ truncateFrom: 7, entries: [entry(7, 2)] });
      expect((await storage.load()).entries).toEqual([entry(7, 2)]);
    });

    it('discards the whole log with discardLog', async () => {
      await storage.write({ entries: entries(1, 10) });
      const data = bytes(100);
      await storage.saveSnapshot(snapshotOf(6, data), [data], { discardLog: true });
      const loaded = await storage.load();
      expect(loaded.entries).toEqual([]);
      expect(loaded.snapshot?.index).toBe(6);
      await expect(storage.write({ entries: [entry(8)] })).rejects.toThrow(RangeError);
      await storage.write({ entries: [entry(7)] });
      expect(indexes((await storage.load()).entries)).toEqual([7]);
    });

    it('accepts a snapshot past the end of the log', async () => {
      await storage.write({ entries: entries(1, 3) });
      const data = bytes(10);
      await storage.saveSnapshot(snapshotOf(20, data), [data]);
      expect((await storage.load()).entries).toEqual([]);
      await storage.write({ entries: [entry(21)] });
      expect(indexes((await storage.load()).entries)).toEqual([21]);
    });

    it('replaces an older snapshot, from sync or async chunk sources of any size', async () => {
      await storage.write({ entries: entries(1, 10) });
      const first = bytes(5000, 7);
      await storage.saveSnapshot(snapshotOf(3, first), split(first, 1));
      const second = bytes(700 * 1024, 9); // larger than LMDB's storage piece size
      const meta = snapshotOf(8, second, 2);
      await storage.saveSnapshot(meta, asyncChunks([second.slice(0, 3), second.slice(3, 400_000), second.slice(400_000)]));
      const snap = await readAll(storage);
      expect(snap?.meta).toEqual(meta);
      // Buffer.equals: vitest's deep equality walks 700 KB element by element, slowly.
      expect(snap !== null && Buffer.from(snap.data).equals(second)).toBe(true);
      expect(indexes((await storage.load()).entries)).toEqual([9, 10]);
    });

    it('measures size and checksum of a snapshot saved without them, and reads it back verified', async () => {
      await storage.write({ entries: entries(1, 10) });
      const data = bytes(600 * 1024, 5); // spans several LMDB pieces
      const installed = await storage.saveSnapshot(
        { index: 7, term: 1, config: { voters: ['a', 'b', 'c'] } },
        asyncChunks([data.slice(0, 100), data.slice(100, 300_000), data.slice(300_000)]),
      );
      const expected = snapshotOf(7, data);
      expect(installed).toEqual(expected);
      expect((await storage.load()).snapshot).toEqual(expected);
      const snap = await readAll(storage);
      expect(snap?.meta).toEqual(expected);
      expect(snap !== null && Buffer.from(snap.data).equals(data)).toBe(true);
      expect(indexes((await storage.load()).entries)).toEqual([8, 9, 10]);
      // A stream that fails mid-way installs nothing, measured or not.
      async function* failing(): AsyncIterable<Uint8Array> {
        yield bytes(10);
        throw new Error('stream broke');
      }
      await expect(storage.saveSnapshot({ index: 9, term: 1, config: { voters: ['a'] } }, failing())).rejects.toThrow('stream broke');
      expect((await storage.load()).snapshot).toEqual(expected);
    });

    it('accepts an empty snapshot', async () => {
      const meta = snapshotOf(0, new Uint8Array(0));
      await storage.saveSnapshot(meta, []);
      expect((await readAll(storage))?.data).toEqual(new Uint8Array(0));
    });

    it('rejects an older snapshot unless it discards the log', async () => {
      await storage.write({ entries: entries(1, 10) });
      const data = bytes(10);
      await storage.saveSnapshot(snapshotOf(8, data), [data]);
      await expect(storage.saveSnapshot(snapshotOf(5, data), [data])).rejects.toThrow(RangeError);
      expect((await storage.load()).snapshot?.index).toBe(8);
      await storage.saveSnapshot(snapshotOf(5, data), [data], { discardLog: true });
      const loaded = await storage.load();
      expect(loaded.snapshot?.index).toBe(5);
      expect(loaded.entries).toEqual([]);
    });

    it('rejects snapshots whose checksum or size is wrong, keeping the old one current', async () => {
      await storage.write({ entries: entries(1, 10) });
      const good = bytes(3000, 3);
      const goodMeta = snapshotOf(4, good);
      await storage.saveSnapshot(goodMeta, split(good, 500));

      const bad = bytes(3000, 4);
      const attempts: [SnapshotMeta, Uint8Array[]][] = [
        [{ ...snapshotOf(8, bad), checksum: (crc32(bad) ^ 1) >>> 0 }, split(bad, 500)],
        [{ ...snapshotOf(8, bad), size: bad.length + 1 }, split(bad, 500)],
        [{ ...snapshotOf(8, bad), size: bad.length - 1 }, split(bad, 500)],
      ];
      for (const [meta, chunks] of attempts) {
        const error = await storage.saveSnapshot(meta, chunks).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(CorruptionError);
        expect(String(error)).toMatch(/snapshot 8/);
      }
      const loaded = await storage.load();
      expect(loaded.snapshot).toEqual(goodMeta);
      expect(indexes(loaded.entries)).toEqual([5, 6, 7, 8, 9, 10]);
      expect((await readAll(storage))?.data).toEqual(good);
    });

    it('keeps the old snapshot when the chunk stream fails', async () => {
      const good = bytes(100);
      await storage.saveSnapshot(snapshotOf(2, good), [good]);
      async function* failing(): AsyncIterable<Uint8Array> {
        yield bytes(10);
        throw new Error('stream broke');
      }
      await expect(storage.saveSnapshot(snapshotOf(5, bytes(20)), failing())).rejects.toThrow('stream broke');
      expect((await readAll(storage))?.data).toEqual(good);
    });

    it('lets writes proceed while a snapshot streams in', async () => {
      await storage.write({ entries: entries(1, 5) });
      const data = bytes(1000);
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      async function* slow(): AsyncIterable<Uint8Array> {
        yield data.slice(0, 500);
        await gate;
        yield data.slice(500);
      }
      const saving = storage.saveSnapshot(snapshotOf(4, data), slow());
      await storage.write({ entries: entries(6, 8) });
      release();
      await saving;
      expect(indexes((await storage.load()).entries)).toEqual([5, 6, 7, 8]);
    });

    it('keeps everything across close and reopen', async () => {
      await storage.write({ entries: entries(1, 10, 3), hardState: { term: 3, vote: 'c', commit: 7 } });
      const data = bytes(2000);
      const meta = snapshotOf(5, data, 3);
      await storage.saveSnapshot(meta, split(data, 300));
      const before = await storage.load();
      storage = await harness.reopen(storage);
      expect(await storage.load()).toEqual(before);
      expect((await readAll(storage))?.data).toEqual(data);
      await storage.write({ entries: [entry(11, 3)] }); // the reopened log knows where it ends
      await expect(storage.write({ entries: [entry(13, 3)] })).rejects.toThrow(RangeError);
    });
  });
}
