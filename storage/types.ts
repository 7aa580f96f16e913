import type { HardState, LogEntry, SnapshotMeta } from '../machines/raft/types.ts';

/** What a node finds on its disk at start. Entries are those after the snapshot, checksums verified. */
export interface LoadedState {
  hardState: HardState;
  snapshot: SnapshotMeta | null;
  entries: LogEntry[];
}

/**
 * One atomic write. Order inside the transaction: truncate (delete every entry with index >=
 * `truncateFrom`), then put `entries`, then `hardState`. The promise resolves only once the
 * transaction is durable (fsynced), so a caller may acknowledge after it.
 *
 * Writes land in call order: a caller may issue the next write before the last one is durable,
 * and each is checked against the log as the earlier ones leave it.
 */
export interface LogWrite {
  hardState?: HardState;
  entries?: LogEntry[];
  truncateFrom?: number;
}

export interface RaftStorage {
  load(): Promise<LoadedState>;
  write(batch: LogWrite): Promise<void>;
  /**
   * Installs a snapshot in one atomic, durable transaction: its metadata becomes current, older
   * snapshot data is dropped, and log entries with index <= meta.index are deleted (all entries
   * when `discardLog`, as when a follower installs a leader's snapshot that conflicts with its log).
   * `chunks` are written to a staging area first, so a crash mid-stream leaves the old snapshot intact.
   * Without `size` and `checksum` (a snapshot streamed from this node's own state machine while it
   * is captured, so it never sits whole in memory) they are measured from the stream; otherwise the
   * stream must match them (CorruptionError). Resolves with the metadata as installed.
   */
  saveSnapshot(meta: SnapshotMeta | UnmeasuredSnapshotMeta, chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, opts?: { discardLog?: boolean }): Promise<SnapshotMeta>;
  /** The current snapshot's data, streamed in chunks, checksum verified at the end (throws CorruptionError). */
  readSnapshot(): Promise<{ meta: SnapshotMeta; chunks: AsyncIterable<Uint8Array> } | null>;
  close(): Promise<void>;
}

/** A stored record failed its length or checksum check. Never silently truncated. */
export class CorruptionError extends Error {
  constructor(
    readonly where: string,
    message: string,
  ) {
    super(`storage corruption in ${where}: ${message}`);
    this.name = 'CorruptionError';
  }
}

/** A snapshot's metadata before its data has been produced: size and checksum come from the stream. */
export type UnmeasuredSnapshotMeta = Omit<SnapshotMeta, 'size' | 'checksum'> & { size?: undefined; checksum?: undefined };
