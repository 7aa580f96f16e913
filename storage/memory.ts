/**
 * The in-memory "disk" for the deterministic Raft simulation.
 *
 * A simulated crash keeps this object and starts a new node over it, so it behaves like a
 * disk: it holds encoded, checksummed records (storage/records.ts, the same bytes LMDB stores),
 * copies every buffer on the way in and out, and survives close(). Each call applies its change
 * synchronously, in call order, and resolves through a promise: no timers, no I/O. A write is
 * therefore "durable" the moment it is issued, before its promise settles.
 *
 * Semantics match LmdbStorage: a batch is checked whole before anything changes, a snapshot is
 * staged until its size and checksum verify, and corruption surfaces as CorruptionError.
 *
 * Extra members beyond RaftStorage are test hooks (flip*Byte) for corruption scenarios.
 */
import type { SnapshotMeta } from '../machines/raft/types.ts';
import { shapeAfterSnapshot, shapeAfterWrite, type LogShape } from './log-shape.ts';
import {
  decodeEntry,
  decodeHardState,
  decodeSnapshotRecord,
  encodeEntry,
  encodeHardState,
  encodeSnapshotRecord,
  ENTRY_PAYLOAD_OFFSET,
} from './records.ts';
import { receiveSnapshot, SnapshotDigest } from './snapshot-digest.ts';
import type { LoadedState, LogWrite, RaftStorage, UnmeasuredSnapshotMeta } from './types.ts';

interface StoredSnapshot {
  record: Uint8Array;
  chunks: Uint8Array[];
}

export class MemoryStorage implements RaftStorage {
  private hardState: Uint8Array | null = null;
  private snapshot: StoredSnapshot | null = null;
  /** log[i] is the record of entry shape.snapshotIndex + 1 + i (the log is contiguous). */
  private log: Uint8Array[] = [];
  private shape: LogShape = { snapshotIndex: 0, lastIndex: 0 };

  async load(): Promise<LoadedState> {
    const hardState = this.hardState === null ? { term: 0, vote: null, commit: 0 } : decodeHardState(this.hardState);
    const snapshot = this.snapshot === null ? null : decodeSnapshotRecord(this.snapshot.record).meta;
    const base = this.shape.snapshotIndex + 1;
    const entries = this.log.map((record, i) => decodeEntry(record, base + i));
    return { hardState, snapshot, entries };
  }

  async write(batch: LogWrite): Promise<void> {
    // Encode and check everything before touching state, so a bad batch changes nothing.
    const entries = batch.entries ?? [];
    const records = entries.map(encodeEntry);
    const indexes = entries.map((e) => e.index);
    const hardState = batch.hardState === undefined ? null : encodeHardState(batch.hardState);
    const next = shapeAfterWrite(this.shape, batch);

    const base = this.shape.snapshotIndex + 1;
    if (batch.truncateFrom !== undefined) this.log.length = Math.min(this.log.length, Math.max(0, batch.truncateFrom - base));
    for (let i = 0; i < records.length; i++) this.log[indexes[i] - base] = records[i];
    if (hardState !== null) this.hardState = hardState;
    this.shape = next;
  }

  async saveSnapshot(
    meta: SnapshotMeta | UnmeasuredSnapshotMeta,
    chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    opts: { discardLog?: boolean } = {},
  ): Promise<SnapshotMeta> {
    const discardLog = opts.discardLog ?? false;
    const { pinned, digest } = receiveSnapshot(meta);
    shapeAfterSnapshot(this.shape, pinned.index, discardLog); // fail before consuming the stream

    const staged: Uint8Array[] = [];
    for await (const chunk of chunks) {
      digest.update(chunk);
      staged.push(new Uint8Array(chunk));
    }
    digest.verify(); // a measuring digest fills in pinned's size and checksum
    const record = encodeSnapshotRecord({ meta: pinned, generation: 0 });

    // Writes may have landed while the data streamed; check against the shape as it is now.
    const next = shapeAfterSnapshot(this.shape, pinned.index, discardLog);
    this.log = discardLog ? [] : this.log.slice(pinned.index - this.shape.snapshotIndex);
    this.snapshot = { record, chunks: staged };
    this.shape = next;
    return pinned; // a private copy (receiveSnapshot); storage keeps only its encoded record
  }

  async readSnapshot(): Promise<{ meta: SnapshotMeta; chunks: AsyncIterable<Uint8Array> } | null> {
    if (this.snapshot === null) return null;
    const { meta } = decodeSnapshotRecord(this.snapshot.record);
    // An install replaces the whole StoredSnapshot, so this array stays the one we started with.
    return { meta, chunks: streamChunks(meta, this.snapshot.chunks) };
  }

  /** A no-op: the simulator reuses this object after a node stops, like a disk. */
  async close(): Promise<void> {}

  /** Test hook: flips a byte of entry `index`'s stored record (default: first payload byte). */
  flipEntryByte(index: number, offset = ENTRY_PAYLOAD_OFFSET): void {
    const record = this.log[index - this.shape.snapshotIndex - 1];
    if (record === undefined) throw new RangeError(`no stored entry ${index}`);
    flip(record, offset);
  }

  /** Test hook: flips a byte of the stored hard state record (default: a byte of the term). */
  flipHardStateByte(offset = 8): void {
    if (this.hardState === null) throw new RangeError('no stored hard state');
    flip(this.hardState, offset);
  }

  /** Test hook: flips a byte of the current snapshot's data. */
  flipSnapshotDataByte(offset = 0): void {
    for (const chunk of this.snapshot?.chunks ?? []) {
      if (offset < chunk.length) return flip(chunk, offset);
      offset -= chunk.length;
    }
    throw new RangeError('offset beyond the stored snapshot data');
  }
}

async function* streamChunks(meta: SnapshotMeta, chunks: readonly Uint8Array[]): AsyncIterable<Uint8Array> {
  const digest = new SnapshotDigest(meta);
  for (const chunk of chunks) {
    digest.update(chunk);
    yield new Uint8Array(chunk);
  }
  digest.verify();
}

function flip(bytes: Uint8Array, offset: number): void {
  if (offset < 0 || offset >= bytes.length) throw new RangeError(`offset ${offset} outside record of ${bytes.length} bytes`);
  bytes[offset] ^= 0xff;
}
