import { describe, expect, it } from 'vitest';
import { MemoryStorage } from '../../storage/memory.ts';
import { CorruptionError } from '../../storage/types.ts';
import { bytes, entries, readAll, snapshotOf, storageContract } from './contract.ts';

storageContract('MemoryStorage', {
  create: async () => new MemoryStorage(),
  // A simulated restart: the same object, as the simulator keeps it across a crash.
  reopen: async (storage) => {
    await storage.close();
    return storage;
  },
  cleanup: async () => {},
});

describe('MemoryStorage corruption hooks', () => {
  it('reports a flipped entry byte on load, naming the index', async () => {
    const storage = new MemoryStorage();
    await storage.write({ entries: entries(1, 5) });
    storage.flipEntryByte(3);
    const error = await storage.load().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CorruptionError);
    expect(String(error)).toMatch(/log entry 3: checksum mismatch/);
  });

  it('reports a flipped hard state byte on load', async () => {
    const storage = new MemoryStorage();
    await storage.write({ hardState: { term: 4, vote: 'a', commit: 1 } });
    storage.flipHardStateByte();
    await expect(storage.load()).rejects.toThrow(/hard state: checksum mismatch/);
  });

  it('reports flipped snapshot data at the end of the stream', async () => {
    const storage = new MemoryStorage();
    const data = bytes(64);
    await storage.saveSnapshot(snapshotOf(1, data), [data]);
    storage.flipSnapshotDataByte(10);
    await expect(readAll(storage)).rejects.toThrow(CorruptionError);
  });

  it('resolves writes without timers, in a microtask', async () => {
    const storage = new MemoryStorage();
    let done = false;
    void storage.write({ entries: entries(1, 1) }).then(() => (done = true));
    await Promise.resolve();
    await Promise.resolve();
    expect(done).toBe(true);
  });
});
