import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open, type Database, type RootDatabase } from 'lmdb';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CHUNKS_DB, HARD_STATE_KEY, LmdbStorage, LOG_DB, SNAPSHOT_KEY, STATE_DB } from '../../storage/lmdb.ts';
import { ENTRY_PAYLOAD_OFFSET } from '../../storage/records.ts';
import { CorruptionError, type RaftStorage } from '../../storage/types.ts';
import { bytes, entries, readAll, snapshotOf, split, storageContract } from './contract.ts';

const dirs: string[] = [];
const dirOf = new WeakMap<RaftStorage, string>();

async function freshDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tenure-storage-'));
  dirs.push(dir);
  return dir;
}

async function removeDirs(): Promise<void> {
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
}

async function openAt(dir: string): Promise<LmdbStorage> {
  const storage = await LmdbStorage.open(dir);
  dirOf.set(storage, dir);
  return storage;
}

storageContract('LmdbStorage', {
  create: async () => openAt(await freshDir()),
  reopen: async (storage) => {
    await storage.close();
    return openAt(dirOf.get(storage)!);
  },
  cleanup: removeDirs,
});

/** Opens the environment behind a closed LmdbStorage directly, as a disk editor would. */
async function withRawDb<T>(dir: string, name: string, edit: (db: Database<Uint8Array, any>, root: RootDatabase) => T): Promise<T> {
  const root = open({ path: dir, encoding: 'binary', maxDbs: 4 });
  try {
    return edit(root.openDB<Uint8Array, any>(name, { encoding: 'binary' }), root);
  } finally {
    await root.close();
  }
}

function flipByte(db: Database<Uint8Array, any>, key: unknown, offset: number): void {
  const stored = db.get(key as never);
  if (stored === undefined) throw new Error(`no record under ${String(key)}`);
  const copy = new Uint8Array(stored);
  copy[offset] ^= 0x01;
  db.putSync(key as never, copy);
}

async function loadError(dir: string): Promise<unknown> {
  const storage = await openAt(dir);
  try {
    return await storage.load().then(
      () => null,
      (e: unknown) => e,
    );
  } finally {
    await storage.close();
  }
}

describe('LmdbStorage corruption detection', () => {
  let dir: string;

  beforeEach(async () => {
    dir = await freshDir();
    const storage = await openAt(dir);
    await storage.write({ entries: entries(1, 5), hardState: { term: 2, vote: 'a', commit: 3 } });
    await storage.close();
  });
  afterEach(removeDirs);

  it('loads the untouched fixture', async () => {
    expect(await loadError(dir)).toBeNull();
  });

  it('rejects an entry with a flipped payload byte, naming its index', async () => {
    await withRawDb(dir, LOG_DB, (db) => flipByte(db, 3, ENTRY_PAYLOAD_OFFSET + 2));
    const error = await loadError(dir);
    expect(error).toBeInstanceOf(CorruptionError);
    expect((error as CorruptionError).where).toBe('log entry 3');
    expect(String(error)).toMatch(/log entry 3: checksum mismatch/);
  });

  it('rejects an entry whose length field was damaged', async () => {
    await withRawDb(dir, LOG_DB, (db) => flipByte(db, 4, 3));
    expect(String(await loadError(dir))).toMatch(/log entry 4: length field says/);
  });

  it('rejects a truncated entry record instead of using what is left', async () => {
    await withRawDb(dir, LOG_DB, (db) => db.putSync(2, db.get(2)!.subarray(0, 20)));
    expect(String(await loadError(dir))).toMatch(/log entry 2: record too short/);
  });

  it('rejects a valid record stored under the wrong index', async () => {
    await withRawDb(dir, LOG_DB, (db) => db.putSync(5, db.get(4)!));
    expect(String(await loadError(dir))).toMatch(/log entry 5: record holds index 4/);
  });

  it('rejects a gap in the log', async () => {
    await withRawDb(dir, LOG_DB, (db) => db.removeSync(3));
    const error = await loadError(dir);
    expect(error).toBeInstanceOf(CorruptionError);
    expect(String(error)).toMatch(/log entry 3: missing/);
  });

  it('rejects a flipped hard state byte', async () => {
    await withRawDb(dir, STATE_DB, (db) => flipByte(db, HARD_STATE_KEY, 10));
    const error = await loadError(dir);
    expect(error).toBeInstanceOf(CorruptionError);
    expect(String(error)).toMatch(/hard state: checksum mismatch/);
  });

  it('rejects flipped snapshot metadata on load and on write', async () => {
    const storage = await openAt(dir);
    const data = bytes(100);
    await storage.saveSnapshot(snapshotOf(2, data), [data]);
    await storage.close();
    await withRawDb(dir, STATE_DB, (db) => flipByte(db, SNAPSHOT_KEY, 7));
    expect(String(await loadError(dir))).toMatch(/snapshot metadata: checksum mismatch/);
    const reopened = await openAt(dir);
    await expect(reopened.write({ entries: [entries(6, 6)[0]] })).rejects.toThrow(CorruptionError);
    await reopened.close();
  });

  it('rejects flipped snapshot data when the stream ends', async () => {
    let storage = await openAt(dir);
    const data = bytes(600 * 1024);
    await storage.saveSnapshot(snapshotOf(2, data), split(data, 4096));
    await storage.close();
    await withRawDb(dir, CHUNKS_DB, (db) => {
      const [key] = [...db.getKeys()].slice(-1);
      flipByte(db, key, 5);
    });
    storage = await openAt(dir);
    const error = await readAll(storage).catch((e: unknown) => e);
    await storage.close();
    expect(error).toBeInstanceOf(CorruptionError);
    expect(String(error)).toMatch(/snapshot 2: data checksum/);
  });
});

describe('LmdbStorage snapshot staging', () => {
  afterEach(removeDirs);

  it('drops staged data left by a crash mid-stream when reopened', async () => {
    const dir = await freshDir();
    let storage = await openAt(dir);
    const data = bytes(1000);
    await storage.saveSnapshot(snapshotOf(1, data), [data]);
    await storage.close();
    // What a crash during saveSnapshot leaves behind: pieces of a generation nothing points at.
    await withRawDb(dir, CHUNKS_DB, (db) => {
      db.putSync([99, 0], bytes(10));
      db.putSync([99, 1], bytes(10));
    });
    storage = await openAt(dir);
    expect((await readAll(storage))?.data).toEqual(data);
    // New generations must not collide with the dropped one either.
    const next = bytes(500, 5);
    await storage.saveSnapshot(snapshotOf(3, next), [next]);
    expect((await readAll(storage))?.data).toEqual(next);
    await storage.close();
    const generations = await withRawDb(dir, CHUNKS_DB, (db) => [...db.getKeys()].map((key) => (key as number[])[0]));
    expect(generations).toEqual([100]); // 99 dropped at open, 1 replaced by 100
  });

  it('removes its staging area and the old data after a rejected and an accepted install', async () => {
    const dir = await freshDir();
    const storage = await openAt(dir);
    const first = bytes(300 * 1024, 2);
    await storage.saveSnapshot(snapshotOf(1, first), split(first, 10_000));
    await expect(storage.saveSnapshot({ ...snapshotOf(2, first), size: 1 }, [first])).rejects.toThrow(CorruptionError);
    const second = bytes(10, 3);
    await storage.saveSnapshot(snapshotOf(2, second), [second]);
    await storage.close();
    const generations = await withRawDb(dir, CHUNKS_DB, (db) => [...db.getKeys()].map((key) => (key as number[])[0]));
    expect(new Set(generations).size).toBe(1);
  });

  it('keeps streaming a snapshot that is replaced mid-read', async () => {
    const dir = await freshDir();
    const storage = await openAt(dir);
    const first = bytes(600 * 1024, 2);
    await storage.saveSnapshot(snapshotOf(1, first), [first]);
    const reading = await storage.readSnapshot();
    const iterator = reading!.chunks[Symbol.asyncIterator]();
    const head = await iterator.next();
    const second = bytes(100, 3);
    await storage.saveSnapshot(snapshotOf(2, second), [second]);
    const parts = [head.value as Uint8Array];
    for (let r = await iterator.next(); !r.done; r = await iterator.next()) parts.push(r.value);
    expect(Buffer.concat(parts).equals(first)).toBe(true);
    expect((await readAll(storage))?.data).toEqual(second);
    await storage.close();
  });

  it('refuses a stream not started before a newer snapshot replaced it', async () => {
    const storage = await openAt(await freshDir());
    const first = bytes(100, 1);
    await storage.saveSnapshot(snapshotOf(1, first), [first]);
    const stale = await storage.readSnapshot();
    const second = bytes(100, 2);
    await storage.saveSnapshot(snapshotOf(2, second), [second]);
    const iterator = stale!.chunks[Symbol.asyncIterator]();
    await expect(iterator.next()).rejects.toThrow(/snapshot 1 was replaced/);
    await storage.close();
  });

  it('fails a stream resumed after close with a clear error', async () => {
    const storage = await openAt(await freshDir());
    const data = bytes(600 * 1024);
    await storage.saveSnapshot(snapshotOf(1, data), [data]);
    const iterator = (await storage.readSnapshot())!.chunks[Symbol.asyncIterator]();
    await iterator.next();
    await storage.close();
    await expect(iterator.next()).rejects.toThrow('LmdbStorage is closed');
  });
});
