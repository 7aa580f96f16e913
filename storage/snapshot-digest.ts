/**
 * Running size + CRC32 check of a snapshot's data against its metadata, used both when a
 * snapshot is received (saveSnapshot) and when it is read back (readSnapshot). A measuring digest
 * (a snapshot streamed from this node's own state machine, whose size is known only at the end)
 * checks nothing and reports what it saw.
 */
import type { SnapshotMeta } from '../machines/raft/types.ts';
import { crc32 } from './crc32.ts';
import { decodeSnapshotRecord, encodeSnapshotRecord } from './records.ts';
import { CorruptionError, type UnmeasuredSnapshotMeta } from './types.ts';

/**
 * For saveSnapshot: a private copy of `meta` (validated by an encode/decode round trip, so the
 * caller may reuse its object while the data streams in) and the digest its data goes through —
 * a measuring one when `meta` has no size yet.
 */
export function receiveSnapshot(meta: SnapshotMeta | UnmeasuredSnapshotMeta): { pinned: SnapshotMeta; digest: SnapshotDigest } {
  const measuring = meta.size === undefined;
  const complete: SnapshotMeta = measuring ? { index: meta.index, term: meta.term, config: meta.config, size: 0, checksum: 0 } : (meta as SnapshotMeta);
  const pinned = decodeSnapshotRecord(encodeSnapshotRecord({ meta: complete, generation: 0 })).meta;
  return { pinned, digest: new SnapshotDigest(pinned, measuring) };
}

export class SnapshotDigest {
  private crc = 0;
  private size = 0;

  constructor(
    private readonly meta: SnapshotMeta,
    private readonly measuring = false,
  ) {}

  get where(): string {
    return `snapshot ${this.meta.index}`;
  }

  /** Adds a chunk; fails as soon as the data outgrows meta.size, so a runaway stream stops early. */
  update(chunk: Uint8Array): void {
    this.size += chunk.length;
    if (!this.measuring && this.size > this.meta.size) {
      throw new CorruptionError(this.where, `data exceeds the ${this.meta.size} bytes its metadata declares`);
    }
    this.crc = crc32(chunk, this.crc);
  }

  /** Call after the last chunk: throws if the data does not match; a measuring digest records what it saw. */
  verify(): void {
    if (this.measuring) {
      this.meta.size = this.size;
      this.meta.checksum = this.crc;
      return;
    }
    if (this.size !== this.meta.size) {
      throw new CorruptionError(this.where, `data is ${this.size} bytes, metadata declares ${this.meta.size}`);
    }
    if (this.crc !== this.meta.checksum) {
      throw new CorruptionError(
        this.where,
        `data checksum 0x${this.crc.toString(16).padStart(8, '0')} does not match metadata 0x${this.meta.checksum.toString(16).padStart(8, '0')}`,
      );
    }
  }
}
