/**
 * Running size + CRC32 check of a snapshot's data against its metadata, used both when a
 * snapshot is received (saveSnapshot) and when it is read back (readSnapshot).
 */
import type { SnapshotMeta } from '../machines/raft/types.ts';
import { crc32 } from './crc32.ts';
import { CorruptionError } from './types.ts';

export class SnapshotDigest {
  private crc = 0;
  private size = 0;

  constructor(private readonly meta: SnapshotMeta) {}

  get where(): string {
    return `snapshot ${this.meta.index}`;
  }

  /** Adds a chunk; fails as soon as the data outgrows meta.size, so a runaway stream stops early. */
  update(chunk: Uint8Array): void {
    this.size += chunk.length;
    if (this.size > this.meta.size) {
      throw new CorruptionError(this.where, `data exceeds the ${this.meta.size} bytes its metadata declares`);
    }
    this.crc = crc32(chunk, this.crc);
  }

  /** Call after the last chunk. */
  verify(): void {
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
