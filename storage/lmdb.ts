/**
 * RaftStorage on LMDB (the `lmdb` package): one environment per node, three named dbs.
 *
 *   log     key: entry index (number; ordered-binary keys sort numerically)  value: entry record
 *   state   key: 'hard' | 'snapshot'                                          value: hard state / snapshot record
 *   chunks  key: [generation, chunkNo]                                        value: raw snapshot data
 *
 * Records are checksummed (storage/records.ts). Snapshot data lives under a generation number
 * that the snapshot record points at, so a snapshot streams into a fresh generation (staging)
 * while the current one stays intact, and becomes current in one transaction.
 *
 * Durability: each write() is ONE lmdb-js write block (`batch`) and resolves only after `flushed`
 * (fsync), not just at commit. lmdb-js batches every write issued within one event-loop turn into
 * a single commit, so concurrent writers share an fsync, and a block is never split across
 * commits (it is handed to the write thread only once all of it is queued). A block needs no
 * callback on the main thread while the write transaction is open — the child transaction used
 * before did, so every Raft write waited for a busy event loop twice (measured: a follower's
 * write under 128 claiming clients took 2.1–2.5 ms at p50 that way, 1.4–1.5 ms as a block).
 * Everything that could throw (encoding, the shape check) runs before the block, and a
 * truncation removes the indexes the shape says exist — writes still in flight included, which
 * a read of the keys would not see. Snapshot installs are transactions (they read and delete).
 *
 * Beyond RaftStorage: `open` takes optional `options` (overlappingSync) so the benchmark can
 * compare commit modes; write()/saveSnapshot() reject with RangeError, before queueing anything,
 * a batch that would leave a gap in the log (storage/log-shape.ts), as MemoryStorage does.
 * load() reads committed state; it is meant for startup, not to observe writes still in flight.
 */
import { open, type Database, type RootDatabase } from 'lmdb';
import type { SnapshotMeta } from '../machines/raft/types.ts';
import { shapeAfterSnapshot, shapeAfterWrite, type LogShape } from './log-shape.ts';
import {
  decodeEntry,
  decodeHardState,
  decodeSnapshotRecord,
  encodeEntry,
  encodeHardState,
  encodeSnapshotRecord,
  type SnapshotRecord,
} from './records.ts';
import { receiveSnapshot, SnapshotDigest } from './snapshot-digest.ts';
import { CorruptionError, type LoadedState, type LogWrite, type RaftStorage, type UnmeasuredSnapshotMeta } from './types.ts';

export const LOG_DB = 'log';
export const STATE_DB = 'state';
export const CHUNKS_DB = 'chunks';
export const HARD_STATE_KEY = 'hard';
export const SNAPSHOT_KEY = 'snapshot';

/** Snapshot data is re-cut into pieces of about this size: few keys, bounded values. */
const PIECE_BYTES = 256 * 1024;
/** Staged bytes allowed in flight before waiting for their commit (memory bound on big snapshots). */
const MAX_INFLIGHT_BYTES = 2 * 1024 * 1024;

export interface LmdbStorageOptions {
  /**
   * lmdb-js's overlappingSync (its default on Linux/macOS): commit without holding the write
   * lock during fsync, and flush in parallel with the next commit. Safe here because every
   * promise waits for `flushed`. Default true.
   */
  overlappingSync?: boolean;
}

type ChunkKey = number[];

export class LmdbStorage implements RaftStorage {
  /** Shape of the log as of the last *issued* write (lazy: first read from disk on use). */
  private shape: LogShape | null = null;
  /** Generation of the installed snapshot's data, read together with `shape`. */
  private installedGeneration: number | null = null;
  private nextGeneration: number;
  /** Snapshot installs run one at a time so generations are installed and freed in order. */
  private snapshotQueue: Promise<unknown> = Promise.resolve();
  /** Set when a transaction failed: the shape mirror may be wrong, so refuse further use. */
  private failure: unknown = null;
  private closed = false;

  private constructor(
    private readonly root: RootDatabase<Uint8Array>,
    private readonly log: Database<Uint8Array, number>,
    private readonly state: Database<Uint8Array, string>,
    private readonly chunks: Database<Uint8Array, ChunkKey>,
    nextGeneration: number,
  ) {
    this.nextGeneration = nextGeneration;
  }

  static async open(dir: string, options: LmdbStorageOptions = {}): Promise<LmdbStorage> {
    const root = open<Uint8Array>({
      path: dir,
      encoding: 'binary',
      maxDbs: 4,
      // Spelled out because durability is the point: fsync on every commit.
      noSync: false,
      overlappingSync: options.overlappingSync ?? true,
      compression: false,
      // Address space reserved up front (not disk, not memory): lmdb-js otherwise starts with a 128 KiB
      // map and maps the file again each time it grows, and the pages resident in the old maps stay
      // counted in the node's RSS (measured: two maps of one data file, 43–45 MB resident against a
      // 25 MB file). lmdb-js still grows the map if a database ever outgrows this.
      mapSize: 16 * 1024 ** 3,
      // Always a directory: lmdb-js would otherwise take a path like `node-1.data` for a file.
      noSubdir: false,
    });
    const log = root.openDB<Uint8Array, number>(LOG_DB, { encoding: 'binary' });
    const state = root.openDB<Uint8Array, string>(STATE_DB, { encoding: 'binary' });
    const chunks = root.openDB<Uint8Array, ChunkKey>(CHUNKS_DB, { encoding: 'binary' });
    const nextGeneration = await dropOrphanChunks(root, state, chunks);
    return new LmdbStorage(root, log, state, chunks, nextGeneration);
  }

  async load(): Promise<LoadedState> {
    this.checkUsable();
    // One read transaction: hard state, snapshot and log from the same commit.
    const txn = this.root.useReadTransaction();
    try {
      const hardRaw = this.state.get(HARD_STATE_KEY, { transaction: txn });
      const hardState = hardRaw === undefined ? { term: 0, vote: null, commit: 0 } : decodeHardState(hardRaw);
      const snapRaw = this.state.get(SNAPSHOT_KEY, { transaction: txn });
      const snapshot = snapRaw === undefined ? null : decodeSnapshotRecord(snapRaw).meta;

      const entries = [];
      let expected = (snapshot?.index ?? 0) + 1;
      for (const { key, value } of this.log.getRange({ start: expected, transaction: txn })) {
        if (typeof key !== 'number' || key !== expected) {
          throw new CorruptionError(`log entry ${expected}`, `missing: the next stored key is ${String(key)} (log has a gap)`);
        }
        entries.push(decodeEntry(value, key));
        expected++;
      }
      return { hardState, snapshot, entries };
    } finally {
      txn.done();
    }
  }

  async write(batch: LogWrite): Promise<void> {
    this.checkUsable();
    // Encode and check everything first; the transaction body then only copies bytes in.
    // Captured now because the body runs later and the caller may reuse its arrays.
    const entries = batch.entries ?? [];
    const records = entries.map(encodeEntry);
    const indexes = entries.map((e) => e.index);
    const hardState = batch.hardState === undefined ? null : encodeHardState(batch.hardState);
    const truncateFrom = batch.truncateFrom;
    const before = this.currentShape();
    const next = shapeAfterWrite(before, batch);

    const committed = this.root.batch(() => {
      if (truncateFrom !== undefined) {
        for (let k = Math.max(truncateFrom, before.snapshotIndex + 1); k <= before.lastIndex; k++) this.log.remove(k);
      }
      for (let i = 0; i < records.length; i++) this.log.put(indexes[i], records[i]);
      if (hardState !== null) this.state.put(HARD_STATE_KEY, hardState);
    });
    this.shape = next;
    await this.durable(committed);
  }

  async saveSnapshot(
    meta: SnapshotMeta | UnmeasuredSnapshotMeta,
    chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    opts: { discardLog?: boolean } = {},
  ): Promise<SnapshotMeta> {
    this.checkUsable();
    const discardLog = opts.discardLog ?? false;
    const { pinned, digest } = receiveSnapshot(meta);
    shapeAfterSnapshot(this.currentShape(), pinned.index, discardLog); // fail before consuming the stream
    const run = this.snapshotQueue.then(() => this.installSnapshot(pinned, digest, chunks, discardLog));
    this.snapshotQueue = run.catch(() => {});
    await run;
    return pinned; // a private copy (receiveSnapshot); storage keeps only its encoded record
  }

  async readSnapshot(): Promise<{ meta: SnapshotMeta; chunks: AsyncIterable<Uint8Array> } | null> {
    this.checkUsable();
    const raw = this.state.get(SNAPSHOT_KEY);
    if (raw === undefined) return null;
    const { meta, generation } = decodeSnapshotRecord(raw);
    return { meta, chunks: this.streamChunks(meta, generation) };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Waits for queued commits; a snapshot still streaming fails on its next put, and its
    // staged data is dropped by the next open.
    await this.root.close();
  }

  private async installSnapshot(
    meta: SnapshotMeta,
    digest: SnapshotDigest,
    chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    discardLog: boolean,
  ): Promise<void> {
    this.checkUsable();
    const generation = this.nextGeneration++;
    let issued = false;
    try {
      await this.stage(digest, chunks, generation); // a measuring digest fills in meta's size and checksum
      // Writes may have been issued while the data streamed: check against the shape as it is now.
      const next = shapeAfterSnapshot(this.currentShape(), meta.index, discardLog);
      const record = encodeSnapshotRecord({ meta, generation });
      const previous = this.installedGeneration;
      const committed = this.root.childTransaction(() => {
        this.state.put(SNAPSHOT_KEY, record);
        if (previous !== null) for (const key of [...this.chunkKeys(previous)]) this.chunks.remove(key);
        const doomed = discardLog ? this.log.getKeys() : this.log.getKeys({ end: meta.index, inclusiveEnd: true });
        for (const key of [...doomed]) this.log.remove(key);
      });
      issued = true;
      this.shape = next;
      this.installedGeneration = generation;
      await this.durable(committed);
    } catch (err) {
      // Not installed: the staged generation is garbage. (Once issued it is the current snapshot.)
      if (!issued && !this.closed) await this.dropGeneration(generation).catch(() => {});
      throw err;
    }
  }

  /** Streams the data into `generation`, re-cut into PIECE_BYTES pieces, checking size and CRC. */
  private async stage(digest: SnapshotDigest, chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, generation: number): Promise<void> {
    let pending: Uint8Array[] = [];
    let pendingBytes = 0;
    let pieceNo = 0;
    let inflight: Promise<unknown>[] = [];
    let inflightBytes = 0;
    const putPiece = async (): Promise<void> => {
      // Concatenation also copies: lmdb-js keeps a reference to the value until it commits.
      const piece = new Uint8Array(pendingBytes);
      let at = 0;
      for (const part of pending) {
        piece.set(part, at);
        at += part.length;
      }
      pending = [];
      pendingBytes = 0;
      inflight.push(this.chunks.put([generation, pieceNo++], piece));
      inflightBytes += piece.length;
      if (inflightBytes >= MAX_INFLIGHT_BYTES) {
        await Promise.all(inflight);
        inflight = [];
        inflightBytes = 0;
      }
    };
    try {
      for await (const chunk of chunks) {
        digest.update(chunk);
        let rest = chunk;
        while (rest.length > 0) {
          const take = Math.min(rest.length, PIECE_BYTES - pendingBytes);
          pending.push(rest.subarray(0, take));
          pendingBytes += take;
          rest = rest.subarray(take);
          if (pendingBytes === PIECE_BYTES) await putPiece();
        }
      }
      if (pendingBytes > 0) await putPiece();
      digest.verify();
    } finally {
      // Never leave puts dangling, even on failure: the cleanup must run after them.
      await Promise.allSettled(inflight);
    }
    await Promise.all(inflight);
  }

  private async *streamChunks(meta: SnapshotMeta, generation: number): AsyncGenerator<Uint8Array> {
    // Opened on first pull (not in readSnapshot) so an unread stream holds nothing. The read
    // transaction pins this generation even if a newer snapshot is installed mid-stream.
    const txn = this.root.useReadTransaction();
    try {
      const raw = this.state.get(SNAPSHOT_KEY, { transaction: txn });
      if (raw === undefined || decodeSnapshotRecord(raw).generation !== generation) {
        throw new Error(`snapshot ${meta.index} was replaced before its data was read`);
      }
      const digest = new SnapshotDigest(meta);
      // Point reads, not a cursor: a cursor held across yields would span arbitrary async work.
      for (let pieceNo = 0; ; pieceNo++) {
        this.checkUsable(); // the consumer may resume after close(); fail clearly, not inside lmdb
        const piece = this.chunks.get([generation, pieceNo], { transaction: txn });
        if (piece === undefined) break;
        digest.update(piece);
        yield new Uint8Array(piece);
      }
      digest.verify();
    } finally {
      if (!this.closed) txn.done(); // close() already released it with the environment
    }
  }

  private chunkKeys(generation: number): Iterable<ChunkKey> {
    return this.chunks.getKeys({ start: [generation], end: [generation + 1] });
  }

  private async dropGeneration(generation: number): Promise<void> {
    await this.root.transaction(() => {
      for (const key of [...this.chunkKeys(generation)]) this.chunks.remove(key);
    });
  }

  /** Shape as of the last issued write; read from disk the first time (throws if corrupt). */
  private currentShape(): LogShape {
    if (this.shape === null) {
      const raw = this.state.get(SNAPSHOT_KEY);
      const record: SnapshotRecord | null = raw === undefined ? null : decodeSnapshotRecord(raw);
      const snapshotIndex = record?.meta.index ?? 0;
      let lastIndex = snapshotIndex;
      for (const key of this.log.getKeys({ reverse: true, limit: 1 })) lastIndex = Math.max(lastIndex, key);
      this.shape = { snapshotIndex, lastIndex };
      this.installedGeneration = record?.generation ?? null;
    }
    return this.shape;
  }

  /** Resolves once `committed` has committed and been fsynced; a failure poisons the storage. */
  private async durable(committed: Promise<unknown>): Promise<void> {
    // Taken synchronously, right after queueing, so it is this commit's flush we wait for.
    const flushed = new Promise<unknown>((resolve, reject) => this.root.flushed.then(resolve, reject));
    try {
      await Promise.all([committed, flushed]);
    } catch (err) {
      this.failure ??= err;
      throw err;
    }
  }

  private checkUsable(): void {
    if (this.closed) throw new Error('LmdbStorage is closed');
    if (this.failure !== null) throw new Error('LmdbStorage failed earlier; reopen it', { cause: this.failure });
  }
}

/**
 * Deletes snapshot data no snapshot record points at (staging left by a crash mid-stream) and
 * returns the next free generation. Skipped when the snapshot record is unreadable: load()
 * reports that, and deleting data without knowing what is current could destroy it.
 */
async function dropOrphanChunks(
  root: RootDatabase<Uint8Array>,
  state: Database<Uint8Array, string>,
  chunks: Database<Uint8Array, ChunkKey>,
): Promise<number> {
  let highest = 0;
  for (const key of chunks.getKeys({ reverse: true, limit: 1 })) highest = key[0];
  let current: number | null = null;
  const raw = state.get(SNAPSHOT_KEY);
  if (raw !== undefined) {
    try {
      current = decodeSnapshotRecord(raw).generation;
    } catch (err) {
      if (err instanceof CorruptionError) return highest + 1;
      throw err;
    }
  }
  const orphans = [...chunks.getKeys()].filter((key) => key[0] !== current);
  if (orphans.length > 0) {
    await root.transaction(() => {
      for (const key of orphans) chunks.remove(key);
    });
  }
  return Math.max(highest, current ?? 0) + 1;
}
